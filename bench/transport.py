"""Which transport carries live frames from one service to many windows: measured, not guessed.

A service process publishes the Run view's frame table to 3 window processes on loopback, for
each candidate link, and every window sends the service a small command every 50 ms and waits
for its reply. Candidates:

- ``tcp``: the baseline, length-prefixed frames written to each window's socket with asyncio
  streams, no encryption, no commands: what any link costs at the least.
- ``zmq`` and ``zmq-curve``: ZeroMQ PUB/SUB for frames and DEALER -> ROUTER for commands, the
  Jupyter kernel's pattern, plain and with CURVE encryption (one key pair for the service, one
  per window).
- ``ws`` and ``wss``: WebSockets (``websockets``, asyncio), one connection per window carrying
  frames one way and commands both ways, plain and over TLS with a CA and server certificate
  made with the openssl CLI. Frames go out with ``broadcast`` (no per-window wait).
- ``mqtt`` and ``mqtts``: MQTT 5 through a local Mosquitto (aiomqtt), frames on one topic and
  commands as MQTT 5 request/response (response topic and correlation data), plain and over TLS.

The frame is what the frame table holds today per series: value float32, DSX quality uint8 and a
stale flag uint8 (6 bytes a series), after a 17-byte header (kind, ``time.time_ns`` at send,
sequence number). Two loads: 16,384 GPUs x 6 quantities (98,304 series, 590 kB a frame) at
4 Hz, and 2,048 GPUs x 6 (12,288 series, 74 kB) at 30 Hz.

Measured per candidate and load: frame latency from the service's stamp to the window having
the arrays in hand (numpy views of the payload; p50, p99, max over all 3 windows; the same
clock, one machine), frames lost (sent but never received) and late (over 100 ms, the p99
target for frames), the CPU of the service process (all its threads, ``time.process_time``; with
MQTT the broker's too, through psutil) and of a window, in % of one core, and the command round
trip (p50, p99). Ratios are to the ``tcp`` baseline of the same load in the same run (the CPU
ratio counts the broker with the service: both are what the service side costs).

A second table per load freezes the first window's loop for ``--stall-s`` (a hung GUI thread,
1 s into the frames): what the other windows see meanwhile, how many frames the frozen one loses
or gets late once it thaws (queued frames are stale frames), how much the service's memory
grows holding frames for it, and how far the service falls behind its frame schedule (a link
that waits for the frozen window holds back every window's frames).

Each run first publishes warm-up frames until every window has one (so that connection set-up
and a subscriber joining late are not counted), then ``--seconds`` of measured frames. The
machine has 2 cores shared with other work: figures move from run to run; the CPU columns
move least.

Run: python bench/transport.py [--seconds 4] [--only zmq,wss] [--repeat 1] [--stall-s 8]
[--zmq-hwm 8]
(needs the ``bench`` extra: ``pip install -e '.[test,bench]'``)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import queue
import ssl
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Protocol

import aiomqtt
import numpy as np
import psutil
import websockets
import zmq
import zmq.asyncio
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import broadcast as ws_broadcast
from websockets.asyncio.server import serve as ws_serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.broker
from tests.broker import Mosquitto, TlsFiles, free_port, make_tls_files

HOST = "127.0.0.1"
WINDOWS = 3
QUANTITIES = 6
HEADER = struct.Struct("<BqQ")  # kind, time.time_ns() at send, sequence number
WARMUP, MEASURED, END = 0, 1, 2
LATE_MS = 100.0
COMMAND_EVERY_S = 0.05
READY_TIMEOUT_S = 30.0
END_REPEATS = 3
FRAME_TOPIC = "factoryfloor/frames"
COMMAND_TOPIC = "factoryfloor/commands"
CANDIDATES = ("tcp", "zmq", "zmq-curve", "ws", "wss", "mqtt", "mqtts")


@dataclass(frozen=True)
class Load:
    """A fleet size and frame rate of the Run view."""

    gpus: int
    hz: float

    @property
    def series(self) -> int:
        return self.gpus * QUANTITIES

    @property
    def frame_bytes(self) -> int:
        return HEADER.size + self.series * 6

    def __str__(self) -> str:
        return (
            f"{self.gpus:,} GPUs x {QUANTITIES} at {self.hz:g} Hz ({self.frame_bytes / 1e3:.0f} kB)"
        )


LOADS = (Load(16_384, 4.0), Load(2_048, 30.0))


@dataclass(frozen=True)
class Plan:
    """One run: the load, for how long, and whether the first window freezes part way."""

    load: Load
    seconds: float
    stall_s: float = 0.0
    """The first window's loop blocks this long, 1 s into the measured frames (a hung GUI)."""


@dataclass(frozen=True)
class CurveKeys:
    """ZeroMQ CURVE key pairs (Z85): the service's, and one each window presents."""

    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes

    @classmethod
    def new(cls) -> CurveKeys:
        server_public, server_secret = zmq.curve_keypair()
        client_public, client_secret = zmq.curve_keypair()
        return cls(server_public, server_secret, client_public, client_secret)


@dataclass(frozen=True)
class Link:
    """Where and how one candidate connects: everything a process needs to open its end."""

    candidate: str
    port: int
    command_port: int
    tls: TlsFiles | None = None
    curve: CurveKeys | None = None
    broker_pid: int | None = None
    frame_hwm: int = 8
    """ZeroMQ: frames queued at each end per window before PUB drops: live, not backlog."""


@dataclass(frozen=True)
class Signals:
    """What the processes of one run share: the service listens, windows have a frame, results."""

    listening: Event
    ready: Synchronized
    results: mp.Queue


@dataclass
class ServiceReport:
    sent: int
    wall_s: float
    cpu_s: float
    broker_cpu_s: float | None
    rss_growth_mb: float
    """The service's largest resident memory over the measured frames, less that at their start."""
    behind_ms: float
    """How far the service fell behind its frame schedule at worst: a link that makes it wait for
    one window holds every window's frames back (their stamps are taken when a frame is made, so
    this is where such a wait shows)."""


@dataclass
class WindowReport:
    latencies_ms: list[float] = field(default_factory=list)
    round_trips_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    stalled: bool = False


# -- the ends of each link -----------------------------------------------------------------------


class ServiceEnd(Protocol):
    """The service's side: publish a frame to every window; answer commands on its own."""

    async def open(self) -> None: ...
    async def publish(self, frame: bytes) -> None: ...
    async def close(self) -> None: ...


class WindowEnd(Protocol):
    """A window's side: the next frame, and a command's reply (None: the link has no commands)."""

    async def open(self, link: Link) -> None: ...
    async def next_frame(self) -> bytes: ...
    async def request(self, command: bytes) -> bytes | None: ...
    async def close(self) -> None: ...


def answer(command: bytes) -> bytes:
    """The service's reply to a command: an acknowledgement naming it, as a real one would."""
    return json.dumps({"ack": json.loads(command)["id"], "ok": True}).encode()


def command_bytes(number: int) -> bytes:
    return json.dumps({"id": number, "op": "acknowledge", "alarm": "rack-12/cdu-2/supply"}).encode()


def server_tls(tls: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.server_cert, tls.server_key)
    return context


def client_tls(tls: TlsFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=tls.ca_cert)


class TcpService:
    def __init__(self, link: Link) -> None:
        self._link = link
        self._writers: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)

        self._server = await asyncio.start_server(accept, HOST, self._link.port)

    async def publish(self, frame: bytes) -> None:
        prefix = len(frame).to_bytes(4, "little")
        for writer in self._writers:
            writer.write(prefix + frame)
        await asyncio.gather(*(writer.drain() for writer in self._writers))

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        self._server.close()


class TcpWindow:
    async def open(self, link: Link) -> None:
        self._reader, self._writer = await asyncio.open_connection(HOST, link.port)

    async def next_frame(self) -> bytes:
        size = int.from_bytes(await self._reader.readexactly(4), "little")
        return await self._reader.readexactly(size)

    async def request(self, command: bytes) -> bytes | None:
        return None

    async def close(self) -> None:
        self._writer.close()


class ZmqService:
    def __init__(self, link: Link) -> None:
        self._context = zmq.asyncio.Context()
        self._frames = self._context.socket(zmq.PUB)
        self._commands = self._context.socket(zmq.ROUTER)
        self._frames.sndhwm = link.frame_hwm
        for socket in (self._frames, self._commands):
            if link.curve is not None:
                socket.curve_secretkey = link.curve.server_secret
                socket.curve_publickey = link.curve.server_public
                socket.curve_server = True
        self._frames.bind(f"tcp://{HOST}:{link.port}")
        self._commands.bind(f"tcp://{HOST}:{link.command_port}")

    async def open(self) -> None:
        self._answering = asyncio.create_task(self._answer())

    async def _answer(self) -> None:
        while True:
            identity, command = await self._commands.recv_multipart()
            await self._commands.send_multipart([identity, answer(command)])

    async def publish(self, frame: bytes) -> None:
        await self._frames.send(frame, copy=False)

    async def close(self) -> None:
        self._answering.cancel()
        self._context.destroy(linger=0)


class ZmqWindow:
    async def open(self, link: Link) -> None:
        self._context = zmq.asyncio.Context()
        self._frames = self._context.socket(zmq.SUB)
        self._commands = self._context.socket(zmq.DEALER)
        self._frames.rcvhwm = link.frame_hwm
        for socket in (self._frames, self._commands):
            if link.curve is not None:
                socket.curve_serverkey = link.curve.server_public
                socket.curve_publickey = link.curve.client_public
                socket.curve_secretkey = link.curve.client_secret
        self._frames.subscribe(b"")
        self._frames.connect(f"tcp://{HOST}:{link.port}")
        self._commands.connect(f"tcp://{HOST}:{link.command_port}")

    async def next_frame(self) -> bytes:
        return await self._frames.recv()

    async def request(self, command: bytes) -> bytes | None:
        await self._commands.send(command)
        return await self._commands.recv()

    async def close(self) -> None:
        self._context.destroy(linger=0)


class WsService:
    def __init__(self, link: Link) -> None:
        self._link = link
        self._connections: set[websockets.asyncio.server.ServerConnection] = set()

    async def open(self) -> None:
        async def handle(connection: websockets.asyncio.server.ServerConnection) -> None:
            self._connections.add(connection)
            try:
                async for command in connection:
                    await connection.send(answer(command.encode()).decode())
            finally:
                self._connections.discard(connection)

        context = server_tls(self._link.tls) if self._link.tls else None
        self._server = await ws_serve(
            handle, HOST, self._link.port, ssl=context, compression=None, max_size=None
        )

    async def publish(self, frame: bytes) -> None:
        ws_broadcast(self._connections, frame)

    async def close(self) -> None:
        self._server.close()


class WsWindow:
    """Frames (binary) and replies (text) share the connection: a reader sorts them."""

    async def open(self, link: Link) -> None:
        scheme, context = ("wss", client_tls(link.tls)) if link.tls else ("ws", None)
        self._connection = await ws_connect(
            f"{scheme}://{HOST}:{link.port}", ssl=context, compression=None, max_size=None
        )
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._replies: asyncio.Queue[str] = asyncio.Queue()
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._connection:
            if isinstance(message, bytes):
                self._frames.put_nowait(message)
            else:
                self._replies.put_nowait(message)

    async def next_frame(self) -> bytes:
        return await self._frames.get()

    async def request(self, command: bytes) -> bytes | None:
        await self._connection.send(command.decode())
        return (await self._replies.get()).encode()

    async def close(self) -> None:
        self._reading.cancel()
        await self._connection.close()


def _mqtt_client(link: Link) -> aiomqtt.Client:
    return aiomqtt.Client(
        HOST,
        link.port,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=client_tls(link.tls) if link.tls else None,
        max_queued_outgoing_messages=0,
    )


class MqttService:
    def __init__(self, link: Link) -> None:
        self._client = _mqtt_client(link)

    async def open(self) -> None:
        await self._client.__aenter__()
        await self._client.subscribe(COMMAND_TOPIC)
        self._answering = asyncio.create_task(self._answer())

    async def _answer(self) -> None:
        async for message in self._client.messages:
            request = message.properties
            reply = Properties(PacketTypes.PUBLISH)
            reply.CorrelationData = request.CorrelationData
            await self._client.publish(
                request.ResponseTopic, answer(bytes(message.payload)), properties=reply
            )

    async def publish(self, frame: bytes) -> None:
        await self._client.publish(FRAME_TOPIC, frame)

    async def close(self) -> None:
        self._answering.cancel()
        await self._client.__aexit__(None, None, None)


class MqttWindow:
    async def open(self, link: Link) -> None:
        self._client = _mqtt_client(link)
        await self._client.__aenter__()
        self._reply_topic = f"factoryfloor/replies/{self._client.identifier}"
        await self._client.subscribe(FRAME_TOPIC)
        await self._client.subscribe(self._reply_topic)
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._replies: asyncio.Queue[bytes] = asyncio.Queue()
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._client.messages:
            queue = self._frames if message.topic.matches(FRAME_TOPIC) else self._replies
            queue.put_nowait(bytes(message.payload))

    async def next_frame(self) -> bytes:
        return await self._frames.get()

    async def request(self, command: bytes) -> bytes | None:
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = self._reply_topic
        properties.CorrelationData = command[:16]
        await self._client.publish(COMMAND_TOPIC, command, properties=properties)
        return await self._replies.get()

    async def close(self) -> None:
        self._reading.cancel()
        await self._client.__aexit__(None, None, None)


SERVICES: dict[str, Callable[[Link], ServiceEnd]] = {
    "tcp": TcpService,
    "zmq": ZmqService,
    "ws": WsService,
    "mqtt": MqttService,
}
WINDOWS_OF: dict[str, Callable[[], WindowEnd]] = {
    "tcp": TcpWindow,
    "zmq": ZmqWindow,
    "ws": WsWindow,
    "mqtt": MqttWindow,
}


def family(candidate: str) -> str:
    """``zmq-curve`` -> ``zmq``, ``wss`` -> ``ws``, ``mqtts`` -> ``mqtt``."""
    return {"zmq-curve": "zmq", "wss": "ws", "mqtts": "mqtt"}.get(candidate, candidate)


# -- the service process -------------------------------------------------------------------------


class FrameTable:
    """The frame table's columns for a load, changing a little from frame to frame."""

    def __init__(self, load: Load) -> None:
        rng = np.random.default_rng(1)
        self.values = rng.uniform(30.0, 700.0, load.series).astype(np.float32)
        self.quality = np.full(load.series, 192, np.uint8)  # DSX "good"
        self.stale = np.zeros(load.series, np.uint8)
        self._rng = rng

    def frame(self, kind: int, sequence: int) -> bytes:
        self.values[self._rng.integers(0, self.values.size, 64)] += 0.5
        header = HEADER.pack(kind, time.time_ns(), sequence)
        return b"".join(
            (header, self.values.tobytes(), self.quality.tobytes(), self.stale.tobytes())
        )


async def serve(link: Link, plan: Plan, signals: Signals) -> ServiceReport:
    load = plan.load
    service = SERVICES[family(link.candidate)](link)
    await service.open()
    signals.listening.set()
    ready = signals.ready
    table = FrameTable(load)
    period = 1.0 / load.hz
    deadline = time.monotonic() + READY_TIMEOUT_S
    while ready.value < WINDOWS:  # warm-up frames until every window has one
        if time.monotonic() > deadline:
            raise TimeoutError(f"{link.candidate}: {ready.value} of {WINDOWS} windows attached")
        await service.publish(table.frame(WARMUP, 0))
        await asyncio.sleep(period)
    broker = psutil.Process(link.broker_pid) if link.broker_pid else None
    broker_cpu = sum(broker.cpu_times()[:2]) if broker else 0.0
    memory = psutil.Process()
    rss_start = rss_peak = memory.memory_info().rss
    cpu, started = time.process_time(), time.monotonic()
    frames = round(plan.seconds * load.hz)
    behind = 0.0
    for sequence in range(frames):
        due = started + sequence * period
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        behind = max(behind, time.monotonic() - due)
        await service.publish(table.frame(MEASURED, sequence))
        rss_peak = max(rss_peak, memory.memory_info().rss)
    await asyncio.sleep(max(0.0, started + frames * period - time.monotonic()))
    wall, cpu = time.monotonic() - started, time.process_time() - cpu
    broker_cpu_s = sum(broker.cpu_times()[:2]) - broker_cpu if broker else None
    for _ in range(END_REPEATS):  # repeated, for links that may drop a frame
        with contextlib.suppress(ConnectionError):  # a window that had it has gone
            await service.publish(table.frame(END, frames))
        await asyncio.sleep(0.05)
    await service.close()
    return ServiceReport(
        frames, wall, cpu, broker_cpu_s, (rss_peak - rss_start) / 1e6, behind * 1e3
    )


def service_process(link: Link, plan: Plan, signals: Signals) -> None:
    signals.results.put(("service", asyncio.run(serve(link, plan, signals))))


# -- a window process ----------------------------------------------------------------------------


async def attend(link: Link, plan: Plan, ready: Synchronized, stalls: bool) -> WindowReport:
    load = plan.load
    window = WINDOWS_OF[family(link.candidate)]()
    await window.open(link)
    report = WindowReport(stalled=stalls)
    counted_ready = False
    measuring = asyncio.Event()

    async def commands() -> None:
        await measuring.wait()
        number = 0
        while True:
            sent = time.perf_counter_ns()
            if await window.request(command_bytes(number)) is None:
                return
            report.round_trips_ms.append((time.perf_counter_ns() - sent) / 1e6)
            number += 1
            await asyncio.sleep(COMMAND_EVERY_S)

    commanding = asyncio.create_task(commands())
    cpu = started = 0.0
    give_up = time.monotonic() + READY_TIMEOUT_S + plan.seconds + 10.0
    while time.monotonic() < give_up:
        try:
            frame = await asyncio.wait_for(window.next_frame(), timeout=1.0)
        except TimeoutError:
            continue
        received = time.time_ns()
        kind, sent_ns, _sequence = HEADER.unpack_from(frame)
        # The arrays the Run view reads: views of the payload, no copy.
        np.frombuffer(frame, np.float32, load.series, HEADER.size)
        np.frombuffer(frame, np.uint8, load.series, HEADER.size + 4 * load.series)
        np.frombuffer(frame, np.uint8, load.series, HEADER.size + 5 * load.series)
        if kind == WARMUP and not counted_ready:
            counted_ready = True
            with ready.get_lock():
                ready.value += 1
        elif kind == MEASURED:
            if not measuring.is_set():
                measuring.set()
                cpu, started = time.process_time(), time.monotonic()
            report.latencies_ms.append((received - sent_ns) / 1e6)
            if stalls and time.monotonic() > started + 1.0:
                time.sleep(plan.stall_s)  # blocks the whole loop, as a hung GUI thread would
                stalls = False
        elif kind == END:
            break
    report.cpu_s, report.wall_s = time.process_time() - cpu, time.monotonic() - started
    commanding.cancel()
    await window.close()
    return report


def window_process(link: Link, plan: Plan, signals: Signals, stalls: bool) -> None:
    report = asyncio.run(attend(link, plan, signals.ready, stalls))
    signals.results.put(("window", report))


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Row:
    """One candidate's run: what the service and each window reported."""

    candidate: str
    service: ServiceReport
    windows: list[WindowReport]

    @property
    def latencies(self) -> list[float]:
        return [value for window in self.windows for value in window.latencies_ms]

    @property
    def round_trips(self) -> list[float]:
        return [value for window in self.windows for value in window.round_trips_ms]

    @property
    def lost(self) -> int:
        return self.service.sent * WINDOWS - len(self.latencies)

    @property
    def late(self) -> int:
        return sum(value > LATE_MS for value in self.latencies)

    @property
    def service_cpu(self) -> float:
        return 100.0 * self.service.cpu_s / self.service.wall_s

    @property
    def window_cpu(self) -> float:
        shares = [w.cpu_s / w.wall_s for w in self.windows if w.wall_s > 0]
        return 100.0 * statistics.fmean(shares) if shares else float("nan")

    @property
    def broker_cpu(self) -> float | None:
        if self.service.broker_cpu_s is None:
            return None
        return 100.0 * self.service.broker_cpu_s / self.service.wall_s


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share)) if values else float("nan")


def run_one(link: Link, plan: Plan) -> Row:
    load, seconds, stall = plan.load, plan.seconds, plan.stall_s > 0
    context = mp.get_context("spawn")
    signals = Signals(context.Event(), context.Value("i", 0), context.Queue())
    processes = [context.Process(target=service_process, args=(link, plan, signals))]
    processes[0].start()
    if not signals.listening.wait(READY_TIMEOUT_S):
        processes[0].kill()
        raise RuntimeError(f"{link.candidate}: the service did not start listening")
    processes += [
        context.Process(target=window_process, args=(link, plan, signals, index == 0 and stall))
        for index in range(WINDOWS)
    ]
    for process in processes[1:]:
        process.start()
    collected = []
    give_up = time.monotonic() + READY_TIMEOUT_S + seconds + 30.0
    while len(collected) < len(processes):
        failed = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
        if failed or time.monotonic() > give_up:
            for process in processes:
                process.kill()
            raise RuntimeError(f"{link.candidate}, {load}: a process failed or hung ({failed})")
        with contextlib.suppress(queue.Empty):
            collected.append(signals.results.get(timeout=1.0))
    for process in processes:
        process.join(timeout=10.0)
    service = next(report for role, report in collected if role == "service")
    windows = [report for role, report in collected if role == "window"]
    return Row(link.candidate, service, windows)


def make_link(candidate: str, folder: Path, broker: Mosquitto | None, frame_hwm: int) -> Link:
    if broker is not None:
        return Link(candidate, broker.port, 0, tls=broker.tls, broker_pid=broker.pid)
    tls = make_tls_files(folder / "tls") if candidate == "wss" else None
    curve = CurveKeys.new() if candidate == "zmq-curve" else None
    return Link(candidate, free_port(), free_port(), tls=tls, curve=curve, frame_hwm=frame_hwm)


def measure(candidate: str, plan: Plan, folder: Path, frame_hwm: int) -> Row:
    broker = None
    if family(candidate) == "mqtt":
        tls = make_tls_files(folder / "broker-tls") if candidate == "mqtts" else None
        broker = Mosquitto(folder, tls=tls)
        broker.start()
    try:
        return run_one(make_link(candidate, folder, broker, frame_hwm), plan)
    finally:
        if broker is not None:
            broker.stop()


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:5.1f}x" if baseline > 0 else "   - "


def print_table(load: Load, rows: list[Row]) -> None:
    print(f"\n{load}, {WINDOWS} windows")
    print(
        f"{'candidate':<10} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'lost':>5} {'late':>5}"
        f" {'service %':>9} {'window %':>8} {'broker %':>8} {'cmd p50':>8} {'cmd p99':>8}"
        f"   {'p99/tcp':>7} {'cpu/tcp':>7}"
    )
    baseline = next((row for row in rows if row.candidate == "tcp"), None)
    for row in rows:
        latencies, trips = row.latencies, row.round_trips
        broker = f"{row.broker_cpu:8.1f}" if row.broker_cpu is not None else f"{'-':>8}"
        commands = (
            f"{percentile(trips, 50):8.2f} {percentile(trips, 99):8.2f}"
            if trips
            else f"{'-':>8} {'-':>8}"
        )
        service_cpu = row.service_cpu + (row.broker_cpu or 0.0)
        ratios = (
            f"{ratio(percentile(latencies, 99), percentile(baseline.latencies, 99)):>7}"
            f" {ratio(service_cpu, baseline.service_cpu):>7}"
            if baseline
            else ""
        )
        print(
            f"{row.candidate:<10} {percentile(latencies, 50):7.2f} {percentile(latencies, 99):7.2f}"
            f" {max(latencies, default=float('nan')):7.2f} {row.lost:5d} {row.late:5d}"
            f" {row.service_cpu:9.1f} {row.window_cpu:8.1f} {broker} {commands}   {ratios}"
        )


def print_stall_table(plan: Plan, rows: list[Row]) -> None:
    """What a frozen window costs the others and the service."""
    print(f"\n{plan.load}, {WINDOWS} windows, the first frozen {plan.stall_s:g} s")
    print(
        f"{'candidate':<10} {'others p99':>10} {'others max':>10} {'others late':>11}"
        f" {'frozen lost':>11} {'frozen late':>11} {'frozen max ms':>13} {'service RSS +MB':>15}"
        f" {'service behind ms':>17}"
    )
    for row in rows:
        others = [v for w in row.windows if not w.stalled for v in w.latencies_ms]
        frozen = [w for w in row.windows if w.stalled]
        frozen_lost = row.service.sent * len(frozen) - sum(len(w.latencies_ms) for w in frozen)
        frozen_latencies = [v for w in frozen for v in w.latencies_ms]
        frozen_late = sum(v > LATE_MS for v in frozen_latencies)
        print(
            f"{row.candidate:<10} {percentile(others, 99):10.2f} {max(others):10.2f}"
            f" {sum(v > LATE_MS for v in others):11d} {frozen_lost:11d} {frozen_late:11d}"
            f" {max(frozen_latencies, default=float('nan')):13.1f}"
            f" {row.service.rss_growth_mb:15.1f} {row.service.behind_ms:17.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument("--only", default=",".join(CANDIDATES), help="candidates, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every candidate and load")
    parser.add_argument(
        "--stall-s", type=float, default=8.0, help="a frozen window's time (0: no such run)"
    )
    parser.add_argument(
        "--zmq-hwm", type=int, default=8, help="ZeroMQ frames queued at each end per window"
    )
    args = parser.parse_args()
    candidates = [name for name in args.only.split(",") if name]
    unknown = set(candidates) - set(CANDIDATES)
    if unknown:
        parser.error(f"unknown candidates {sorted(unknown)}; known: {', '.join(CANDIDATES)}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.seconds:g} s a run")
    print("latency: service stamp -> window has the arrays; CPU: % of one core; cmd: round trip ms")
    with tempfile.TemporaryDirectory(prefix="transport-bench-") as temp:
        runs = [Plan(load, args.seconds) for load in LOADS for _ in range(args.repeat)]
        if args.stall_s > 0:
            seconds = max(args.seconds, args.stall_s + 3.0)  # the freeze and its thaw fit in
            runs += [Plan(load, seconds, args.stall_s) for load in LOADS]
        for number, plan in enumerate(runs):
            rows = []
            for candidate in candidates:
                folder = Path(temp) / f"{candidate}-{number}"
                folder.mkdir()
                rows.append(measure(candidate, plan, folder, args.zmq_hwm))
            if plan.stall_s:
                print_stall_table(plan, rows)
            else:
                print_table(plan.load, rows)


if __name__ == "__main__":
    main()
