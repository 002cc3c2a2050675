"""What the MQTT source says when it cannot reach a broker, against real sockets and brokers.

Each far end is real: a closed port, a listener that hangs up at once, Python's HTTP server, a
Mosquitto that speaks only TLS, and one whose certificate is for another host. Each must be
named for what it is, and soon: aiomqtt alone reports all but the first as "Operation timed
out", after 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.telemetry.sink import RecordingSink
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource

if TYPE_CHECKING:
    from broker import Mosquitto, TlsFiles

pytest_plugins = ["broker"]

HOST = "127.0.0.1"
DIAGNOSED_WITHIN_S = 5.0
"""The diagnoses take 0.05 to 1.1 s here; the slack is for a busy machine. Before, 10 s."""
WAIT_S = 15.0


def config_for(port: int, **overrides: object) -> MqttConfig:
    settings: dict[str, object] = {
        "host": HOST,
        "port": port,
        "client_id": "factoryfloor-diagnosis-test",
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
    } | overrides
    return MqttConfig.model_validate(settings)


async def first_failure(config: MqttConfig) -> tuple[str, float]:
    """The source's first reason for a failed connection, and how long it took to say it."""
    sink = RecordingSink()
    started_s = time.monotonic()
    task = asyncio.create_task(MqttSource(config, sink).run())
    try:
        deadline_s = started_s + WAIT_S
        while True:
            failures = [e.detail for e in sink.events if e.detail.startswith("reconnecting")]
            if failures:
                return failures[0].split(": ", 1)[1], time.monotonic() - started_s
            if time.monotonic() > deadline_s:
                pytest.fail(f"no failed connection reported within {WAIT_S} s: {sink.events}")
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def hanging_up_listener() -> AsyncIterator[int]:
    """A port that accepts connections and closes each at once."""

    def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, HOST, 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.fixture
def http_server() -> Iterator[int]:
    """Python's own HTTP server, on a port where a broker was expected."""
    server = http.server.ThreadingHTTPServer((HOST, 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def other_host_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA and a server certificate it signed for another host, not 127.0.0.1."""
    from broker import make_tls_files

    return make_tls_files(
        tmp_path_factory.mktemp("other-host-tls"), "DNS:bms-broker.example,IP:10.20.30.40"
    )


@pytest.fixture
def other_host_mosquitto(tmp_path: Path, other_host_tls_files: TlsFiles) -> Iterator[Mosquitto]:
    from broker import Mosquitto

    broker = Mosquitto(tmp_path, tls=other_host_tls_files)
    broker.start()
    yield broker
    broker.stop()


def closed_port() -> int:
    from broker import free_port

    return free_port()


@pytest.mark.asyncio
async def test_a_closed_port_is_refused_and_says_nothing_listens() -> None:
    port = closed_port()
    reason, took_s = await first_failure(config_for(port))
    assert reason == f"refused by {HOST}:{port}: nothing listens there"
    assert took_s < DIAGNOSED_WITHIN_S


@pytest.mark.asyncio
async def test_a_port_that_hangs_up_at_once_is_named_so_not_a_timeout() -> None:
    async with hanging_up_listener() as port:
        reason, took_s = await first_failure(config_for(port))
    assert reason == f"{HOST}:{port} closed the connection at once"
    assert took_s < DIAGNOSED_WITHIN_S


@pytest.mark.asyncio
async def test_an_http_server_on_the_mqtt_port_is_not_a_broker(http_server: int) -> None:
    reason, took_s = await first_failure(config_for(http_server))
    assert reason.startswith(f"{HOST}:{http_server} is not an MQTT broker: it answered like HTTP")
    assert took_s < DIAGNOSED_WITHIN_S


@pytest.mark.asyncio
async def test_plaintext_against_a_tls_broker_says_it_wants_tls(
    tls_mosquitto: Mosquitto,
) -> None:
    reason, took_s = await first_failure(config_for(tls_mosquitto.port))
    assert reason.startswith(f"the broker at {HOST}:{tls_mosquitto.port} wants TLS: set tls true")
    assert took_s < DIAGNOSED_WITHIN_S


@pytest.mark.asyncio
async def test_a_certificate_for_another_host_names_that_host_not_the_ca(
    other_host_mosquitto: Mosquitto, other_host_tls_files: TlsFiles
) -> None:
    config = config_for(
        other_host_mosquitto.port, tls=True, ca_file=str(other_host_tls_files.ca_cert)
    )
    reason, took_s = await first_failure(config)
    assert reason == (
        "TLS: the broker's certificate names another host (bms-broker.example, 10.20.30.40),"
        f" not {HOST}"
    )
    assert "ca_file" not in reason
    assert took_s < DIAGNOSED_WITHIN_S


@pytest.mark.asyncio
async def test_a_tls_client_against_a_plaintext_broker_says_so(mosquitto: Mosquitto) -> None:
    reason, took_s = await first_failure(config_for(mosquitto.port, tls=True))
    assert reason.startswith(f"TLS handshake with {HOST}:{mosquitto.port} failed")
    assert reason.endswith("is it a plaintext listener?")
    assert took_s < DIAGNOSED_WITHIN_S
