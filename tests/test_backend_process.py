"""The window's own service in its own process: frames over its encrypted link, the local user
trusted as an engineer, clean exit, and a death that is noticed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from vllm_page import VllmPage

from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint, TelemetrySettings
from factoryfloor.backend.service.client import Credentials, ServiceAddress, ServiceClient
from factoryfloor.backend.service.embedded import BackendClient, BackendConfig

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher

pytest_plugins = ["broker"]

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "resources" / "demo_hall.json")
DEMO_SERIES = 1312 * 9 + 52 + 4 + 16 + 3 + 3 + 52 + 4
"""1,312 GPUs x 9 + 26 racks x 2 + 4 loops + 4 CDUs x 4 + 3 facility series + tokens/s of each
of the 3 workloads (2 reference ones, and two H100 racks' decode-heavy chat), and the simulated
plant's 26 racks x 2 isolation states + 4 CDU supply setpoints."""


def wait_for(predicate, timeout_s: float = 30.0, poll=None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if poll is not None:
            poll()
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_frames_arrive_from_the_simulated_hall_and_stop_cleans_up() -> None:
    client = BackendClient(BackendConfig(DEMO, simulator_hz=20.0))
    events = []
    try:

        def ready() -> bool:
            frame = client.frame()
            running = any(e.source == "simulator" and e.detail.startswith("running")
                          for e in events)  # fmt: skip
            return running and frame is not None and (frame.value("facility/it_power_kw") or 0) > 0

        assert wait_for(ready, poll=lambda: events.extend(client.poll()))
        frame = client.frame()
        assert len(frame.keys) == DEMO_SERIES
        assert 0 < frame.value("facility/it_power_kw") < 2316.0  # never above design IT power
        assert not frame.stale[frame.keys.index("facility/it_power_kw")]
        assert client.link.welcome.role == "engineer"  # the local user, with no sign-in
        assert client.link.welcome.user.startswith("local:")
    finally:
        client.stop()
    assert not client.alive
    assert client.process.exitcode == 0  # stopped on request, not terminated


def test_a_killed_backend_is_reported_once_with_its_signal() -> None:
    client = BackendClient(BackendConfig(DEMO, simulator_hz=20.0))
    try:
        assert wait_for(lambda: client.frame() is not None, poll=client.poll)
        os.kill(client.process.pid, signal.SIGKILL)
        assert wait_for(lambda: client.lost is not None, timeout_s=10, poll=client.poll)
        assert client.lost.reason == "killed by SIGKILL"
        assert client.frame() is None  # never the dead backend's last frame as current
        lost = client.lost
        client.poll()
        assert client.lost is lost
    finally:
        client.stop()


def test_a_backend_that_fails_says_its_exit_code(tmp_path: Path) -> None:
    missing = tmp_path / "gone.json"  # the backend cannot load it and exits with an error
    client = BackendClient(BackendConfig(str(missing)))
    try:
        assert wait_for(lambda: client.lost is not None, timeout_s=30, poll=client.poll)
        assert client.lost.reason.startswith("exited with code 1: [Errno 2] No such file")
        assert str(missing) in client.lost.reason
    finally:
        client.stop()


PARENT = """
import sys, time
from factoryfloor.backend.service.embedded import BackendClient, BackendConfig
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint, TelemetrySettings
client = BackendClient(BackendConfig(sys.argv[1], simulator_hz=20.0))
while client.frame() is None:
    client.poll(); time.sleep(0.01)
print(client.process.pid, flush=True)
time.sleep(600)
"""


def test_backend_exits_when_the_gui_dies() -> None:
    gui = subprocess.Popen([sys.executable, "-c", PARENT, DEMO], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        backend_pid = gui.stdout.readline().strip()
        gui.send_signal(signal.SIGKILL)
        gui.wait(timeout=10)

        def backend_gone() -> bool:
            try:
                os.kill(int(backend_pid), 0)
            except ProcessLookupError:
                return True
            # A zombie (not yet reaped by init) has exited too.
            stat = Path(f"/proc/{backend_pid}/stat")
            return stat.exists() and stat.read_text().split()[2] == "Z"

        assert wait_for(backend_gone, timeout_s=20), "backend outlived its GUI"
    finally:
        if gui.poll() is None:
            gui.kill()
        gui.stdout.close()


NODE = "factoryfloor/v1/node"
NODE_GPU_QUANTITIES = ("util_pct", "power_w", "temp_c", "mem_util_pct")


def node_comes_online(publisher: Publisher, node: str) -> None:
    """A node agent's first GPU batch: 8 GPUs x 4 quantities, 32 new series."""
    gpus = [{"index": i, "util_pct": 50, "power_w": 500.0, "temp_c": 60, "mem_util_pct": 20}
            for i in range(8)]  # fmt: skip
    publisher.publish(f"{NODE}/{node}/gpus", {"ts": time.time(), "seq": 1, "gpus": gpus})


def mqtt_backend(broker: Mosquitto, **settings: object) -> BackendClient:
    """A backend on the demo hall whose only source is node agents on ``broker``, subscribed.
    ``settings``: more telemetry settings."""
    mqtt = MqttConfig(host=broker.host, port=broker.port, client_id="factoryfloor-grow",
                      bms_prefix=None, node_prefix=NODE)  # fmt: skip
    telemetry = TelemetrySettings.model_validate({"simulate": False, "mqtt": mqtt, **settings})
    client = BackendClient(BackendConfig(DEMO, telemetry))
    events = []
    connected = lambda: any(e.detail.startswith("connected") for e in events)  # noqa: E731
    assert wait_for(connected, poll=lambda: events.extend(client.poll()))
    return client


def test_a_flood_of_new_nodes_stops_at_the_series_limit_and_the_operator_is_told(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    """Nodes keep coming online past the design's ``max_series``: the backend keeps that many
    series, says why it refuses the rest, and the series it has keep updating."""
    client = mqtt_backend(mosquitto, max_series=640)  # 20 nodes of 32 series
    events = []
    try:
        for n in range(40):
            node_comes_online(publisher, f"n{n:04d}")
        told = lambda: any("series limit reached" in e.detail for e in events)  # noqa: E731
        assert wait_for(told, poll=lambda: events.extend(client.poll()))
        gpus = [{"index": 0, "power_w": 612.5}]
        publisher.publish(f"{NODE}/n0000/gpus", {"ts": time.time(), "seq": 2, "gpus": gpus})
        updated = lambda: client.frame().value("gpu/n0000/0/power_w") == 612.5  # noqa: E731
        assert wait_for(updated, poll=client.poll)
        frame = client.frame()
        assert len(frame.keys) == 640 and frame.keys[-1] == "gpu/n0019/7/mem_util_pct"
        [refusal, *_] = [e for e in events if "series limit reached" in e.detail]
        assert (refusal.source, refusal.kind) == ("store", "rejected")
        assert refusal.subject.startswith("gpu/n0020/")
        assert "640 series (telemetry.max_series in the design)" in refusal.detail
    finally:
        client.stop()


class AdvancingVllm(VllmPage):
    """A vLLM /metrics page whose generation counter grows by 1,000 tokens per request."""

    requests = 0

    @classmethod
    def generation_tokens(cls) -> float:
        return 1000.0 * cls.requests


def test_token_counters_scraped_in_the_backend_reach_the_frames() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), AdvancingVllm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    endpoint = MetricsEndpoint(url=url, server_kind="vllm", rack_id="A01")
    settings = TelemetrySettings(simulate=False, metrics=[endpoint])
    client = BackendClient(BackendConfig(DEMO, telemetry=settings))
    try:
        key = f"tokens/127.0.0.1:{server.server_address[1]}/demo-70b/tokens_per_s"

        def rate_seen() -> bool:
            frame = client.frame()
            return frame is not None and (frame.value(key) or 0) > 0

        assert wait_for(rate_seen, poll=client.poll)
        # 1,000 tokens per scrape at about one scrape a second: a rate near 1,000 tok/s.
        assert 200 < client.frame().value(key) < 5000
        assert (client.frame().value("rack/A01/tokens_per_s") or 0) > 0
    finally:
        client.stop()
        server.shutdown()


def test_stopping_twice_from_two_threads_is_safe() -> None:
    """The window stops a backend in the background when leaving Run, and again at exit."""
    client = BackendClient(BackendConfig(DEMO, simulator_hz=20.0))
    assert wait_for(lambda: client.frame() is not None, poll=client.poll)
    errors: list[BaseException] = []

    def stop() -> None:
        try:
            client.stop()
        except BaseException as error:  # any error here is the bug
            errors.append(error)

    threads = [threading.Thread(target=stop) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert not client.alive


def test_only_the_window_that_started_it_is_taken_for_the_local_user() -> None:
    """The embedded service listens on loopback: another local program that finds its port and
    even its key, but not the window's token, is refused as the local user."""
    client = BackendClient(BackendConfig(DEMO, simulator_hz=20.0))
    try:
        assert wait_for(lambda: client.frame() is not None, poll=client.poll)
        address = ServiceAddress("127.0.0.1", client.link.address.port, client._keys.public)
        intruder = ServiceClient(address, Credentials(local_token="guessed"))
        try:
            assert wait_for(lambda: intruder.refused, poll=intruder.poll)
            assert "did not start the service" in intruder.refused
            assert intruder.welcome is None
        finally:
            intruder.close()
    finally:
        client.stop()
