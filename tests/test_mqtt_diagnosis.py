"""What the MQTT source says about its link to a broker, against real sockets and brokers.

Each far end is real: a closed port, a listener that hangs up at once, Python's HTTP server, a
Mosquitto that speaks only TLS, and one whose certificate is for another host. Each must be
named for what it is, and soon: aiomqtt alone reports all but the first as "Operation timed
out", after 10 s. And plaintext off loopback is refused before a byte is sent, unless the
design allows it; a connected source says whether its link is encrypted.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from factoryfloor.backend.design.design_file import load_design, save_design
from factoryfloor.backend.design.mqtt_settings import MqttConfig, plaintext_refusal
from factoryfloor.backend.telemetry.sink import RecordingSink
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.resources import demo_path

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


async def first_status(config: MqttConfig, starting: str) -> str:
    """The source's first status detail that starts with ``starting``."""
    sink = RecordingSink()
    task = asyncio.create_task(MqttSource(config, sink).run())
    try:
        deadline_s = time.monotonic() + WAIT_S
        while True:
            found = [e.detail for e in sink.events if e.detail.startswith(starting)]
            if found:
                return found[0]
            if time.monotonic() > deadline_s:
                pytest.fail(f"no status {starting!r} within {WAIT_S} s: {sink.events}")
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def first_failure(config: MqttConfig) -> tuple[str, float]:
    """The source's first reason for a failed connection, and how long it took to say it."""
    started_s = time.monotonic()
    failure = await first_status(config, "reconnecting")
    return failure.split(": ", 1)[1], time.monotonic() - started_s


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


# -- plaintext off loopback ---------------------------------------------------------------------


def this_machines_address() -> str | None:
    """An address of this machine other than loopback (the one its default route uses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only a route is chosen
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if ipaddress.ip_address(address).is_loopback else address


@contextlib.asynccontextmanager
async def counting_listener() -> AsyncIterator[tuple[str, int, list[int]]]:
    """A listener on this machine's own non-loopback address that counts connections."""
    address = this_machines_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    accepted: list[int] = []

    def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(count, address, 0)
    async with server:
        yield address, server.sockets[0].getsockname()[1], accepted


def test_old_designs_load_unchanged_and_plaintext_is_not_allowed_unless_said() -> None:
    old = {"host": "bms-broker", "port": 8883, "tls": True, "ca_file": "site-ca.pem"}
    config = MqttConfig.model_validate(old)
    assert config.allow_plaintext is False
    assert MqttConfig.model_validate(config.model_dump()) == config
    assert plaintext_refusal(config) is None
    assert plaintext_refusal(MqttConfig(host="localhost")) is None
    assert plaintext_refusal(MqttConfig(host="::1")) is None
    assert plaintext_refusal(MqttConfig(host="10.0.0.5", allow_plaintext=True)) is None
    assert plaintext_refusal(MqttConfig(host="bms-broker")) == (
        "plaintext to bms-broker is refused off loopback: set telemetry.mqtt.tls true"
        " (or telemetry.mqtt.allow_plaintext true to accept unencrypted telemetry)"
    )
    with pytest.raises(ValidationError, match="allow_plaintext"):
        MqttConfig.model_validate({"allow_plaintext": "sometimes"})


@pytest.mark.asyncio
async def test_plaintext_off_loopback_is_refused_before_connecting() -> None:
    async with counting_listener() as (address, port, accepted):
        reason, _ = await first_failure(config_for(port, host=address))
        assert reason == (
            f"plaintext to {address} is refused off loopback: set telemetry.mqtt.tls true"
            " (or telemetry.mqtt.allow_plaintext true to accept unencrypted telemetry)"
        )
        assert accepted == []

        allowed = config_for(port, host=address, allow_plaintext=True)
        reason, _ = await first_failure(allowed)
        assert reason == f"{address}:{port} closed the connection at once"
        assert accepted


@pytest.mark.asyncio
async def test_connected_status_says_whether_the_link_is_encrypted(
    mosquitto: Mosquitto, tls_mosquitto: Mosquitto, tls_files: TlsFiles
) -> None:
    plain = await first_status(config_for(mosquitto.port), "connected")
    assert plain == "connected (plaintext, not encrypted)"
    tls = config_for(tls_mosquitto.port, tls=True, ca_file=str(tls_files.ca_cert))
    assert await first_status(tls, "connected") == "connected (TLS)"


def test_the_run_view_shows_a_plaintext_link_for_as_long_as_it_holds(
    qtbot, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    from demo_window import close

    from factoryfloor.app.gui import create_application
    from factoryfloor.app.main_window import MainWindow

    demo = load_design(demo_path())
    mqtt = config_for(mosquitto.port, bms_prefix=None)
    telemetry = demo.telemetry.model_copy(update={"simulate": False, "mqtt": mqtt})
    path = tmp_path / "hall.json"
    save_design(demo.model_copy(update={"telemetry": telemetry}), path)
    create_application()
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    try:
        with qtbot.waitSignal(window.design_shown, timeout=10_000):
            window.open_file(path)
        link = window.modes.broker_link
        assert not link.isVisible()
        window.run_action.trigger()
        qtbot.waitUntil(link.isVisible, timeout=30_000)
        assert link.text() == f"MQTT {HOST}:{mosquitto.port}: plaintext, not encrypted"
        window.enter_design()
        assert not link.isVisible()
    finally:
        close(window)
