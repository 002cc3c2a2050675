"""Connection checks of telemetry sources, against real far ends: Mosquitto (plain, TLS, with a
certificate for another host, with a password file), a port nobody listens on, Python's HTTP
server serving a vLLM page, an HTML page and a 404, and this machine's NVML.

Each check must say in words what it found or what failed, by its deadline.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pynvml
import pytest
from vllm_page import QuietPage, VllmPage

from factoryfloor.backend.design.mqtt_settings import PASSWORD_ENV, MqttConfig
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint
from factoryfloor.backend.telemetry.sources.connection_check import (
    CHECK_TIMEOUT_S,
    check_metrics,
    check_mqtt,
    check_nvml,
    read_bms_metadata,
)

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher, TlsFiles

pytest_plugins = ["broker"]

HOST = "127.0.0.1"
BMS = "BMS/v1/PUB"
ANSWERED_WITHIN_S = CHECK_TIMEOUT_S
"""Every check answers by its own deadline, whatever the far end does."""


def config_for(broker: Mosquitto, **overrides: object) -> MqttConfig:
    return MqttConfig.model_validate(
        {"host": broker.host, "port": broker.port, "client_id": "ff-check-test"} | overrides
    )


def timed(check, *args, **kwargs):  # type: ignore[no-untyped-def]
    started_s = time.monotonic()
    result = check(*args, **kwargs)
    assert time.monotonic() - started_s < ANSWERED_WITHIN_S + 1.0
    return result


# -- MQTT ----------------------------------------------------------------------------------------


def test_a_broker_with_retained_bms_metadata_is_ok_and_the_points_are_counted(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    for rack in ("A07", "A08", "A09"):
        topic = f"{BMS}/Metadata/Rack/RackPower/site/{rack}"
        publisher.publish(topic, {"rackLocationName": rack, "engUnit": "kW"}, retain=True)
    publisher.publish(f"{BMS}/Metadata/Rack/RackPower/site/bad", b"not json", retain=True)
    result = timed(check_mqtt, config_for(mosquitto))
    assert result.ok
    assert result.summary == (
        f"connected to {HOST}:{mosquitto.port} (plaintext, not encrypted); 3 BMS points with"
        f" retained metadata under {BMS}; 1 malformed metadata message(s) left out"
    )
    metadata = read_bms_metadata(config_for(mosquitto))
    assert [p.point_id for p in metadata.points] == [
        "Rack/RackPower/site/A07",
        "Rack/RackPower/site/A08",
        "Rack/RackPower/site/A09",
    ]
    assert metadata.points[0].fields == {"rackLocationName": "A07", "engUnit": "kW"}
    assert metadata.complete


def test_the_check_does_not_displace_the_services_own_connection(
    mosquitto: Mosquitto,
) -> None:
    """The service is connected under the design's client id; a check connects under its own,
    so the broker does not drop the service to admit it."""
    import paho.mqtt.client as mqtt

    dropped = threading.Event()
    service = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ff-check-test")
    service.on_disconnect = lambda *args: dropped.set()
    service.connect(HOST, mosquitto.port)
    service.loop_start()
    try:
        assert check_mqtt(config_for(mosquitto)).ok
        assert service.is_connected() and not dropped.is_set()
    finally:
        service.disconnect()
        service.loop_stop()


def test_nothing_listening_is_said_as_refused() -> None:
    from broker import free_port

    port = free_port()
    result = timed(check_mqtt, MqttConfig(host=HOST, port=port))
    assert not result.ok
    assert result.summary == f"refused by {HOST}:{port}: nothing listens there"


def test_an_http_server_is_not_a_broker(http_page: int) -> None:
    result = timed(check_mqtt, MqttConfig(host=HOST, port=http_page))
    assert not result.ok
    assert result.summary.startswith(f"{HOST}:{http_page} is not an MQTT broker")


def test_plaintext_to_a_tls_broker_says_it_wants_tls(tls_mosquitto: Mosquitto) -> None:
    result = timed(check_mqtt, config_for(tls_mosquitto))
    assert not result.ok
    assert result.summary.startswith(f"the broker at {HOST}:{tls_mosquitto.port} wants TLS")


def test_tls_with_the_right_ca_is_ok_and_says_tls(
    tls_mosquitto: Mosquitto, tls_files: TlsFiles
) -> None:
    config = config_for(tls_mosquitto, tls=True, ca_file=str(tls_files.ca_cert))
    result = timed(check_mqtt, config)
    assert result.ok, result.summary
    assert result.summary == (
        f"connected to {HOST}:{tls_mosquitto.port} (TLS); 0 BMS points with retained metadata"
        f" under {BMS}: is a BMS publishing there, and may this user read its topics?"
    )


def test_a_certificate_for_another_host_names_that_host(tmp_path: Path) -> None:
    from broker import Mosquitto, make_tls_files

    files = make_tls_files(tmp_path / "tls", "DNS:bms-broker.example")
    broker = Mosquitto(tmp_path, tls=files)
    broker.start()
    try:
        result = timed(check_mqtt, config_for(broker, tls=True, ca_file=str(files.ca_cert)))
    finally:
        broker.stop()
    assert not result.ok
    assert result.summary == (
        f"TLS: the broker's certificate names another host (bms-broker.example), not {HOST}"
    )


def test_a_missing_ca_file_is_named(tls_mosquitto: Mosquitto, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    result = timed(check_mqtt, config_for(tls_mosquitto, tls=True, ca_file=str(missing)))
    assert not result.ok
    assert result.summary.startswith(f"TLS: cannot load {missing}")


def test_bad_credentials_are_said_as_a_refused_login(
    password_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    from broker import TEST_PASSWORD, TEST_USER

    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    config = config_for(password_mosquitto, username=TEST_USER)
    wrong = timed(check_mqtt, config, "wrong password")
    assert not wrong.ok
    assert wrong.summary.startswith("the broker refused the login (")
    assert "check the user name and password" in wrong.summary
    assert check_mqtt(config, TEST_PASSWORD).ok
    monkeypatch.setenv(PASSWORD_ENV, TEST_PASSWORD)
    assert check_mqtt(config).ok, "with no password typed, the environment's is used"


# -- Prometheus ----------------------------------------------------------------------------------


class TokenPage(VllmPage):
    @classmethod
    def generation_tokens(cls) -> float:
        return 1234.0


class HtmlPage(QuietPage):
    def do_GET(self) -> None:
        if self.path != "/metrics":
            self.send_error(404, "Not Found")
            return
        self.send_page(b"<html><body>Grafana login</body></html>", "text/html")


class PlainTextPage(HtmlPage):
    def do_GET(self) -> None:
        self.send_page(b"hello, this is not a metrics page\n", "text/plain")


def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def vllm_page() -> Iterator[int]:
    yield from serve(TokenPage)


@pytest.fixture
def http_page() -> Iterator[int]:
    yield from serve(HtmlPage)


@pytest.fixture
def plain_text_page() -> Iterator[int]:
    yield from serve(PlainTextPage)


def endpoint(port: int, path: str = "/metrics", **fields: object) -> MetricsEndpoint:
    return MetricsEndpoint.model_validate({"url": f"http://{HOST}:{port}{path}"} | fields)


def test_a_vllm_page_is_ok_with_its_samples_and_token_counters(vllm_page: int) -> None:
    result = timed(check_metrics, endpoint(vllm_page))
    assert result.ok
    assert result.summary == (
        f"http://{HOST}:{vllm_page}/metrics: Prometheus text, 1 sample;"
        " vLLM token counters: 1 series (model demo-70b)"
    )


PAGES = Path(__file__).parent / "data" / "metrics"


@pytest.mark.parametrize(
    ("page", "server"),
    [("vllm", "vLLM"), ("sglang", "SGLang"), ("dynamo", "NVIDIA Dynamo"), ("tgi", "HF TGI"),
     ("triton", "Triton")],
)  # fmt: skip
def test_each_servers_page_is_named_with_its_samples(page: str, server: str) -> None:
    text = (PAGES / f"{page}.txt").read_text()
    sample_lines = [line for line in text.splitlines() if line.strip() and line[0] != "#"]

    class Page(QuietPage):
        def do_GET(self) -> None:
            self.send_page(text.encode())

    for port in serve(Page):
        result = check_metrics(endpoint(port))
        assert result.ok, result.summary
        assert f": Prometheus text, {len(sample_lines)} samples; {server} token counters: " in (
            result.summary
        )


def test_a_page_of_another_server_kind_says_its_counters_are_missing(vllm_page: int) -> None:
    result = check_metrics(endpoint(vllm_page, server_kind="sglang"))
    assert result.ok
    assert result.summary.endswith(
        "Prometheus text, 1 sample; no SGLang token counters on the page"
    )


def test_an_html_page_is_not_a_prometheus_page(http_page: int) -> None:
    result = timed(check_metrics, endpoint(http_page))
    assert not result.ok
    assert result.summary == (
        f"http://{HOST}:{http_page}/metrics: not a Prometheus text page:"
        " not a metrics page: content type text/html"
    )


def test_a_text_page_that_is_not_prometheus_text_is_said_so(plain_text_page: int) -> None:
    result = timed(check_metrics, endpoint(plain_text_page))
    assert not result.ok
    assert result.summary.startswith(
        f"http://{HOST}:{plain_text_page}/metrics: not a Prometheus text page ("
    )


def test_an_http_error_status_is_named(http_page: int) -> None:
    result = timed(check_metrics, endpoint(http_page, "/nothing-here"))
    assert not result.ok
    assert result.summary == f"http://{HOST}:{http_page}/nothing-here: HTTP 404 Not Found"


def test_a_port_with_nothing_listening_is_down() -> None:
    from broker import free_port

    port = free_port()
    result = timed(check_metrics, endpoint(port))
    assert not result.ok
    assert result.summary == f"http://{HOST}:{port}/metrics: down: connection refused"


# -- NVML ----------------------------------------------------------------------------------------


def nvml_loads() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def test_nvml_says_what_this_machine_has() -> None:
    result = timed(check_nvml)
    if nvml_loads():
        count = pynvml_count()
        assert result.ok
        assert result.summary.startswith(f"{count} GPU{'' if count == 1 else 's'} found (driver ")
    else:
        assert not result.ok
        assert result.summary in (
            "NVML library not found: no NVIDIA driver on this machine",
            "the NVIDIA driver is installed but not loaded",
        )


def pynvml_count() -> int:
    pynvml.nvmlInit()
    try:
        return int(pynvml.nvmlDeviceGetCount())
    finally:
        pynvml.nvmlShutdown()
