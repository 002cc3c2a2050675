"""What a fleet joining at once costs the backend: 512 nodes of 32 GPUs coming online within a
second, through a real Mosquitto, into MqttSource and the store.

Each node agent sends one message a second with 12 quantities for each of its 32 GPUs (384
readings, about 12 kB), so the first round registers 196,608 series (16,384 GPUs x 12) and the
rounds after it only update them: those later rounds are the baseline the join is compared
with, in the same run. Alongside ingest, a frame loop reads ``snapshot("")`` 30 times a second
as the backend process's does, so the cost of a growing key set to readers is counted too.

Measured:
- the ingest stall: the longest the asyncio loop was blocked (a probe asks to wake every 5 ms
  and records how late it is), and the longest single ``store.write`` (wall clock, and the CPU
  it took: on a shared machine the two differ by what other processes took), with the size of
  the largest write, while the fleet joins and while it runs steady; and the longest pass of
  the garbage collector, a stall of its own that lands inside whatever runs when it triggers;
- memory: process RSS before the fleet, after it joined, and after the steady rounds, and the
  store's bytes (``store.nbytes``), per series too.

The publisher is a separate process (paho) that pre-encodes every message and paces each round
over one second. Printed, not asserted.

Run: python bench/fleet_join.py [--nodes 512] [--gpus 32] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.broker
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.backend.telemetry.sources.payloads import GPU_QUANTITIES
from factoryfloor.backend.telemetry.store import TelemetryStore
from tests.broker import Mosquitto

NODE_PREFIX = "factoryfloor/v1/node"
QUANTITIES = tuple(sorted(GPU_QUANTITIES))[:12]
"""A dozen of the GPU quantities a node agent may send."""
ROUND_S = 1.0
PROBE_S = 0.005
FRAME_HZ = 30.0
TIMEOUT_S = 120.0


# -- publisher process ---------------------------------------------------------------------------


def node_message(node: int, gpus: int, seq: int) -> bytes:
    gpu_list = [
        {"index": i} | {q: float(40 + (i + seq + j) % 50) for j, q in enumerate(QUANTITIES)}
        for i in range(gpus)
    ]
    return json.dumps({"ts": time.time(), "seq": seq, "gpus": gpu_list}).encode()


def publisher_main(host: str, port: int, nodes: int, gpus: int, rounds: int) -> None:
    """Pre-encode, say 'ready', wait for 'go', then send one round a second, each spread over
    the second; print when each round started (perf_counter is per process, so as offsets)."""
    messages = [[node_message(n, gpus, r) for n in range(nodes)] for r in range(rounds)]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-fleet")
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    infos = []
    for round_index, round_messages in enumerate(messages):
        round_start = started + round_index * ROUND_S
        for n, payload in enumerate(round_messages):
            due = round_start + n * ROUND_S / nodes
            while (wait_s := due - time.perf_counter()) > 0:
                time.sleep(wait_s)  # pacing the publisher, not synchronising a test
            infos.append(client.publish(f"{NODE_PREFIX}/node-{n:04d}/gpus", payload))
    for info in infos:
        info.wait_for_publish(timeout=TIMEOUT_S)
    client.disconnect()
    client.loop_stop()
    print("done", flush=True)


# -- subscriber ------------------------------------------------------------------------------------


@dataclass
class Phase:
    """Writes and loop lateness of one phase (joining, or steady)."""

    write_s: list[float] = field(default_factory=list)
    write_cpu_s: list[float] = field(default_factory=list)
    late_s: list[float] = field(default_factory=list)
    readings: int = 0
    largest: int = 0
    """Readings in the largest write."""

    def line(self, name: str) -> str:
        writes = sorted(self.write_s) or [0.0]
        late = sorted(self.late_s) or [0.0]
        return (
            f"  {name:<8} {len(self.write_s):>5} writes, {self.readings:>9,} readings"
            f" (largest {self.largest:,});"
            f" longest write {1e3 * writes[-1]:6.1f} ms (p99 {1e3 * p99(writes):5.1f},"
            f" most CPU {1e3 * max(self.write_cpu_s, default=0.0):5.1f});"
            f" loop stall max {1e3 * late[-1]:6.1f} ms (p99 {1e3 * p99(late):5.1f})"
        )


def p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


class TimedStore(TelemetryStore):
    """The real store, timing every write and filing it under joining (new series registered)
    or steady (none)."""

    def __init__(self) -> None:
        super().__init__()
        self.joining, self.steady = Phase(), Phase()
        self.phase: Phase | None = None
        """That of the last write; None before the first."""
        self.total = 0

    def write(self, keys, times_s, values, quality=None) -> None:  # type: ignore[no-untyped-def]
        before = self.generation
        started, started_cpu = time.perf_counter(), time.thread_time()
        super().write(keys, times_s, values, quality)
        elapsed_s, cpu_s = time.perf_counter() - started, time.thread_time() - started_cpu
        self.phase = self.joining if self.generation != before else self.steady
        self.phase.write_s.append(elapsed_s)
        self.phase.write_cpu_s.append(cpu_s)
        self.phase.readings += len(keys)
        self.phase.largest = max(self.phase.largest, len(keys))
        self.total += len(keys)


def rss_mb() -> float:
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * resource.getpagesize() / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


async def probe(store: TimedStore, stop: asyncio.Event) -> None:
    """Wake every PROBE_S; how late each wake is, filed under the phase of the last write."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + PROBE_S
        await asyncio.sleep(PROBE_S)
        if store.phase is not None:
            store.phase.late_s.append(max(0.0, loop.time() - due))


async def frames(store: TelemetryStore, stop: asyncio.Event) -> None:
    """What the backend's frame loop asks of the store, 30 times a second."""
    while not stop.is_set():
        store.snapshot("", time.time())
        await asyncio.sleep(1.0 / FRAME_HZ)


class GcPauses:
    """How long the garbage collector's passes took, by generation: a full pass walks every
    container object, so it is a stall of its own that grows with what the process holds."""

    def __init__(self) -> None:
        self.longest_s = [0.0, 0.0, 0.0]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            generation = info["generation"]
            elapsed_s = time.perf_counter() - self._started
            self.longest_s[generation] = max(self.longest_s[generation], elapsed_s)

    def close(self) -> str:
        gc.callbacks.remove(self._on_gc)
        return ", ".join(f"gen {g} {1e3 * s:.1f} ms" for g, s in enumerate(self.longest_s))


async def measure(broker: Mosquitto, nodes: int, gpus: int, rounds: int) -> None:
    store = TimedStore()
    pauses = GcPauses()
    config = MqttConfig(
        host=broker.host,
        port=broker.port,
        client_id="bench-fleet-source",
        session_expiry_s=0,
        max_queued_messages=0,
    )
    source = MqttSource(config, store)
    stop = asyncio.Event()
    rss_before = rss_mb()
    tasks = [
        asyncio.create_task(work)
        for work in (source.run(), probe(store, stop), frames(store, stop))
    ]
    publisher = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--publish",
            broker.host,
            str(broker.port),
            str(nodes),
            str(gpus),
            str(rounds),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert publisher.stdin is not None and publisher.stdout is not None
    try:
        while source.stats.connections == 0:
            await asyncio.sleep(0.01)
        if publisher.stdout.readline().strip() != "ready":
            raise RuntimeError("publisher failed to start")
        expected = nodes * gpus * len(QUANTITIES)
        started = time.perf_counter()
        publisher.stdin.write("go\n")
        publisher.stdin.flush()
        deadline = started + TIMEOUT_S
        while store.total < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        joined_s = time.perf_counter() - started
        rss_joined = rss_mb()
        while store.total < expected * rounds and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        steady_s = time.perf_counter() - started
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        publisher.wait(timeout=TIMEOUT_S)
    series = len(store.keys())
    print(
        f"{nodes} nodes x {gpus} GPUs x {len(QUANTITIES)} quantities = {expected:,} series"
        f" expected, {series:,} in the store; {store.total:,} readings ingested"
        f" ({store.total / (expected * rounds):.0%}), rejected {dict(source.stats.rejected)}"
    )
    print(
        f"  first round all in after {joined_s:.2f} s; all {rounds} rounds after {steady_s:.2f} s"
    )
    print(store.joining.line("joining"))
    print(store.steady.line("steady"))
    join_max = max(store.joining.late_s or [0.0])
    steady_max = max(store.steady.late_s or [0.0])
    print(f"  loop stall joining/steady: {join_max / max(steady_max, 1e-6):.1f}x")
    print(
        f"  RSS {rss_before:,.0f} MB before, {rss_joined:,.0f} MB joined"
        f" (+{rss_joined - rss_before:,.0f} MB, {1e6 * (rss_joined - rss_before) / series:,.0f}"
        f" B/series), {rss_mb():,.0f} MB after the steady rounds"
    )
    print(f"  longest garbage collector passes: {pauses.close()}")
    print(f"  store arrays {store.nbytes / 1e6:,.1f} MB ({store.nbytes / series:,.0f} B/series)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=512)
    parser.add_argument("--gpus", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4, help="the first is the join")
    parser.add_argument("--publish", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        host, port, nodes, gpus, rounds = args.publish
        publisher_main(host, int(port), int(nodes), int(gpus), int(rounds))
        return
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.1f} at start"
    )
    with tempfile.TemporaryDirectory() as folder:
        broker = Mosquitto(Path(folder))
        broker.start()
        try:
            asyncio.run(measure(broker, args.nodes, args.gpus, args.rounds))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
