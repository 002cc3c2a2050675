"""The backend in its own process: frames through shared memory, clean exit, no leaks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint, TelemetrySettings
from factoryfloor.backend.telemetry.process import BackendClient, BackendConfig

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "resources" / "demo_hall.json")


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
            return frame is not None and (frame.value("facility/it_power_kw") or 0) > 0

        assert wait_for(ready, poll=lambda: events.extend(client.poll()))
        frame = client.frame()
        # 1,312 GPUs x 4 + 26 racks x 2 + 4 loops + 4 CDUs x 4 + 3 facility series.
        assert len(frame.keys) == 1312 * 4 + 52 + 4 + 16 + 3
        assert 0 < frame.value("facility/it_power_kw") < 2316.0  # never above design IT power
        assert not frame.stale[frame.keys.index("facility/it_power_kw")]
        assert any(e.source == "simulator" and e.detail.startswith("running") for e in events)
        segment = Path("/dev/shm") / client.segment_name
        assert segment.exists()
    finally:
        client.stop()
    assert not client.alive
    assert not segment.exists()


PARENT = """
import sys, time
from factoryfloor.backend.telemetry.process import BackendClient, BackendConfig
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint, TelemetrySettings
client = BackendClient(BackendConfig(sys.argv[1], simulator_hz=20.0))
while not client.segment_name:
    client.poll(); time.sleep(0.01)
print(client.process.pid, client.segment_name, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs POSIX shared memory")
def test_backend_exits_and_frees_its_memory_when_the_gui_dies() -> None:
    gui = subprocess.Popen([sys.executable, "-c", PARENT, DEMO], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        backend_pid, segment = gui.stdout.readline().split()
        assert (Path("/dev/shm") / segment).exists()
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
        assert wait_for(lambda: not (Path("/dev/shm") / segment).exists(), timeout_s=20)
    finally:
        if gui.poll() is None:
            gui.kill()
        gui.stdout.close()


class AdvancingVllm(BaseHTTPRequestHandler):
    """A vLLM /metrics page whose generation counter grows by 1,000 tokens per request."""

    requests = 0

    def do_GET(self) -> None:
        AdvancingVllm.requests += 1
        body = (
            "# TYPE vllm:generation_tokens_total counter\n"
            'vllm:generation_tokens_total{model_name="demo-70b"} '
            f"{1000.0 * AdvancingVllm.requests}\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


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
    assert wait_for(lambda: client.segment_name != "", poll=client.poll)
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
