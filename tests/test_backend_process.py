"""The backend in its own process: frames through shared memory, requests answered, clean
exit, no leaks."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from vllm_page import VllmPage

from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint, TelemetrySettings
from factoryfloor.backend.telemetry.process import (
    HEADER_BYTES,
    BackendClient,
    BackendConfig,
    FrameTable,
    backend_main,
)
from factoryfloor.backend.telemetry.protocol import (
    PROTOCOL_VERSION,
    Accepted,
    FrameTableOpened,
    KeysAdded,
    Message,
    Refused,
    Reply,
    Stop,
    decode,
    encode,
)

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher

pytest_plugins = ["broker"]

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "resources" / "demo_hall.json")
DEMO_SERIES = 1312 * 4 + 52 + 4 + 16 + 3
"""1,312 GPUs x 4 + 26 racks x 2 + 4 loops + 4 CDUs x 4 + 3 facility series."""


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
        assert len(frame.keys) == DEMO_SERIES
        assert 0 < frame.value("facility/it_power_kw") < 2316.0  # never above design IT power
        assert not frame.stale[frame.keys.index("facility/it_power_kw")]
        assert any(e.source == "simulator" and e.detail.startswith("running") for e in events)
        segment = Path("/dev/shm") / client.segment_name
        assert segment.exists()
    finally:
        client.stop()
    assert not client.alive
    assert not segment.exists()


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs POSIX shared memory")
def test_a_killed_backend_is_reported_once_with_its_signal_and_its_memory_unlinked() -> None:
    client = BackendClient(BackendConfig(DEMO, simulator_hz=20.0))
    try:
        assert wait_for(lambda: client.frame() is not None, poll=client.poll)
        segment = Path("/dev/shm") / client.segment_name
        os.kill(client.process.pid, signal.SIGKILL)
        assert wait_for(lambda: client.lost is not None, timeout_s=10, poll=client.poll)
        assert client.lost.reason == "killed by SIGKILL"
        assert not segment.exists()
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


NODE = "factoryfloor/v1/node"
NODE_GPU_QUANTITIES = ("util_pct", "power_w", "temp_c", "mem_util_pct")


def node_comes_online(publisher: Publisher, node: str) -> None:
    """A node agent's first GPU batch: 8 GPUs x 4 quantities, 32 new series."""
    gpus = [{"index": i, "util_pct": 50, "power_w": 500.0, "temp_c": 60, "mem_util_pct": 20}
            for i in range(8)]  # fmt: skip
    publisher.publish(f"{NODE}/{node}/gpus", {"ts": time.time(), "seq": 1, "gpus": gpus})


def mapped_table_capacity(pid: int) -> int:
    """The capacity of the largest frame table process ``pid`` has mapped right now (0: none),
    read from its memory map, so that a test can wait for the backend to grow its table
    without reading the pipe that announces it."""
    capacity = 0
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        if "/dev/shm/" not in line or line.endswith("(deleted)"):
            continue
        try:
            size = (Path("/dev/shm") / line.split("/dev/shm/", 1)[1]).stat().st_size
        except FileNotFoundError:
            continue  # unlinked since the map was read
        capacity = max(capacity, (size - HEADER_BYTES) // (8 + 4 + 1 + 1))
    return capacity


def mqtt_backend(broker: Mosquitto, **settings: object) -> BackendClient:
    """A backend on the demo hall whose only source is node agents on ``broker``, subscribed
    (the client has read up to that point, so it reads from the first, 1,024-series table).
    ``settings``: more telemetry settings."""
    mqtt = MqttConfig(host=broker.host, port=broker.port, client_id="factoryfloor-grow",
                      bms_prefix=None, node_prefix=NODE)  # fmt: skip
    telemetry = TelemetrySettings.model_validate({"simulate": False, "mqtt": mqtt, **settings})
    client = BackendClient(BackendConfig(DEMO, telemetry))
    events = []
    connected = lambda: any(e.detail.startswith("connected") for e in events)  # noqa: E731
    assert wait_for(connected, poll=lambda: events.extend(client.poll()))
    assert client.segment_name and client.frame() is not None
    return client


def grow_unread(client: BackendClient, publisher: Publisher, batches: int = 4) -> int:
    """Bring node agents online in batches of 35 (1,120 new series each) without reading the
    client, waiting after each until the backend has made room for them: from 1,024 series
    to 2,048, 4,096 and 8,192, each table unlinked once the next is announced. The number of
    series."""
    series = 0
    for batch in range(batches):
        for n in range(35):
            node_comes_online(publisher, f"n{batch:02d}{n:02d}")
        series += 35 * 8 * len(NODE_GPU_QUANTITIES)
        grown = lambda: mapped_table_capacity(client.process.pid) >= series  # noqa: B023, E731
        assert wait_for(grown), f"the backend never made room for {series} series"
    return series


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps")
def test_a_table_replaced_several_times_between_reads_is_followed_to_the_newest(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    """Node agents come online faster than the GUI reads: it must end up on the newest table,
    with every series, and still stop cleanly."""
    client = mqtt_backend(mosquitto)
    segments = [Path("/dev/shm") / client.segment_name]
    try:
        series = grow_unread(client, publisher)
        assert not segments[0].exists()  # replaced, and unlinked, before this read

        def every_series_read() -> bool:
            frame = client.frame()
            return frame is not None and len(frame.keys) == series

        assert wait_for(every_series_read, poll=client.poll)
        segments.append(Path("/dev/shm") / client.segment_name)
        assert segments[-1] != segments[0]
        frame = client.frame()
        assert frame.value("gpu/n0334/7/mem_util_pct") == 20.0  # the last batch's last GPU
        assert frame.value("gpu/n0000/0/power_w") == 500.0
    finally:
        client.stop()
    assert not client.alive
    assert not any(segment.exists() for segment in segments)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps")
def test_a_backend_that_grew_and_exited_before_a_read_leaves_the_client_usable(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    """Every table announced since the last read is gone, the newest too (the backend unlinked
    it on its way out): the client keeps the table it has, and reading and stopping still
    work."""
    client = mqtt_backend(mosquitto)
    try:
        grow_unread(client, publisher, batches=2)
        replies: list[Reply] = []
        client.send(Stop(), replies.append)
        assert wait_for(lambda: not client.alive, timeout_s=15)
        client.poll()
        assert [type(r) for r in replies] == [Accepted]
        assert client.frame() is not None
        client.poll()  # a closed pipe is no error, however often it is read
        assert client.frame() is not None
    finally:
        client.stop()
    assert client.frame() is None
    assert client.process.exitcode == 0


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


def test_a_stop_request_is_accepted_and_the_backend_exits_on_its_own() -> None:
    client = BackendClient(BackendConfig(DEMO, simulator_hz=20.0))
    try:
        assert wait_for(lambda: client.segment_name != "", poll=client.poll)
        segment = Path("/dev/shm") / client.segment_name
        stop = Stop()
        replies: list[Reply] = []
        client.send(stop, replies.append)
        assert wait_for(lambda: replies, poll=client.poll)
        assert wait_for(lambda: not client.alive, timeout_s=15)
        client.poll()  # nothing more is answered, and a closed pipe is no error
        assert [type(r) for r in replies] == [Accepted]
        assert replies[0].in_reply_to == stop.msg_id
        assert client.process.exitcode == 0
        assert not segment.exists()  # freed by the backend itself, before any terminate
    finally:
        client.stop()


class RawBackend:
    """A backend process spoken to over a bare pipe, byte for byte, as no client would."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        config = BackendConfig(DEMO, simulator_hz=20.0)
        self.process = context.Process(target=backend_main, args=(child_conn, config), daemon=True)
        self.process.start()
        child_conn.close()
        self.table: FrameTableOpened | None = None
        self.series = 0
        """How many series keys have been announced."""

    def next_reply(self, timeout_s: float = 30.0) -> Reply:
        """The next reply (blocks on the pipe)."""
        deadline = time.monotonic() + timeout_s
        while self.conn.poll(max(0.0, deadline - time.monotonic())):
            reply = self._take(decode(self.conn.recv_bytes()))
            if reply is not None:
                return reply
        raise AssertionError("no reply from the backend")

    def drain(self) -> None:
        """Read what has arrived, as a GUI does each frame: a pipe left full blocks the
        backend's next send."""
        while self.conn.poll():
            assert self._take(decode(self.conn.recv_bytes())) is None, "a reply to nothing"

    def _take(self, message: Message) -> Reply | None:
        if isinstance(message, FrameTableOpened):
            self.table = message
        elif isinstance(message, KeysAdded):
            self.series = message.start + len(message.keys)
        return message if isinstance(message, Reply) else None

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(10)
        self.conn.close()


def altered(message: Message, version: int = PROTOCOL_VERSION, **content) -> bytes:
    """``message`` on the wire with another version, or content fields added or changed."""
    wire = json.loads(encode(message))
    wire["header"]["version"] = version
    wire["content"].update(content)
    return json.dumps(wire).encode()


def test_the_backend_refuses_what_it_cannot_take_and_keeps_serving() -> None:
    backend = RawBackend()
    try:
        future_stop, forced_stop = Stop(), Stop()
        unknown = {"header": {"version": PROTOCOL_VERSION, "msg_type": "acknowledge_alarm",
                              "msg_id": "ack-1"}, "content": {"alarm_id": 7}}  # fmt: skip
        notification = KeysAdded(0, ("gpu/x/0/util_pct",))
        backend.conn.send_bytes(b"\xff not JSON")
        backend.conn.send(("stop",))  # the bare tuple of old: not a message, not a stop
        backend.conn.send_bytes(altered(future_stop, version=PROTOCOL_VERSION + 1))
        backend.conn.send_bytes(altered(forced_stop, force=True))
        backend.conn.send_bytes(json.dumps(unknown).encode())
        backend.conn.send_bytes(encode(notification))
        refusals = [backend.next_reply() for _ in range(6)]
        assert all(isinstance(r, Refused) for r in refusals), refusals
        assert [(r.in_reply_to, r.reason) for r in refusals] == [
            (None, "not a protocol message: not JSON"),
            (None, "not a protocol message: not JSON"),
            (future_stop.msg_id, f"protocol version {PROTOCOL_VERSION + 1} is not spoken here: "
                                 f"this end speaks version {PROTOCOL_VERSION}"),
            (forced_stop.msg_id, "malformed stop message: force: Unexpected keyword argument"),
            ("ack-1", "unknown message type 'acknowledge_alarm'"),
            (notification.msg_id, "the backend takes no keys_added messages"),
        ]  # fmt: skip

        # Still serving: nothing above stopped it, and frames keep being written (to the table
        # that holds every series, which is not replaced again).
        assert backend.process.is_alive()
        assert wait_for(lambda: backend.series == DEMO_SERIES, poll=backend.drain)
        assert backend.table is not None and backend.table.capacity >= DEMO_SERIES
        table = FrameTable.attach(backend.table.segment_name, backend.table.capacity)
        try:
            written = int(table.header[0])
            assert wait_for(lambda: int(table.header[0]) > written + 2, poll=backend.drain)
        finally:
            table.release()

        stop = Stop()
        backend.conn.send_bytes(encode(stop))
        reply = backend.next_reply()
        assert isinstance(reply, Accepted) and reply.in_reply_to == stop.msg_id
        backend.process.join(15)
        assert backend.process.exitcode == 0
        assert not (Path("/dev/shm") / backend.table.segment_name).exists()
    finally:
        backend.close()
