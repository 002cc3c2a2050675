"""How fast readings get from a loopback Mosquitto into a sink through MqttSource, against bare
clients that only parse JSON, all on one broker in one run.

Targets: MqttSource at least 0.9x a bare aiomqtt ``async for`` loop on single readings (QoS 0),
and at least 500,000 readings/s end to end with 100 readings per message. A QoS 1 run checks by
sequence numbers that nothing is lost. Design notes section 9 has the baselines of a 2-core
machine (aiomqtt 22,700 msg/s, paho 44,000 msg/s, batched 388,000 readings/s).

Method. The publisher is a separate process that pre-encodes every message and, for QoS 0,
writes raw MQTT PUBLISH packets to its socket in 1 MiB chunks, so it takes as little of the
shared CPU as possible and the subscriber is what is measured (QoS 1 uses paho, which handles
the acknowledgements). The clock starts when the publisher is told to go and stops when the
subscriber has counted every reading; the broker holds what the subscriber has not read yet
(``max_queued_messages 0``: nothing dropped). The variants take turns, run after run, so that
other load on the machine hits them alike; each figure is the median run. The CPU columns are
microseconds of CPU per message in the subscriber (this process) and in the broker: unlike
rates, they hardly move when other processes compete for the CPU. The sink only counts; the
real store costs extra per batch.

Run: python bench/mqtt_ingest.py [--messages 100000] [--batches 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import paho.mqtt
import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.broker
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.telemetry.sink import SourceEvent
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.backend.telemetry.store import TelemetryStore
from tests.broker import Mosquitto

TOPIC = "factoryfloor/v1/node/bench-1/readings"
READINGS_PER_BATCH = 100
TIMEOUT_S = 300.0
SINGLE_TARGET_RATIO = 0.9
BATCHED_TARGET_PER_S = 500_000
PROTOCOLS = {"3.1.1": aiomqtt.ProtocolVersion.V311, "5": aiomqtt.ProtocolVersion.V5}


# -- publisher process ---------------------------------------------------------------------------


def payloads(kind: str, count: int) -> list[bytes]:
    """Single readings (value = sequence number) or batches of READINGS_PER_BATCH readings."""
    documents: list[dict[str, object]]
    if kind == "single":
        key = "gpu/bench-1/0/power_w"
        documents = [
            {"key": key, "value": float(i), "ts": 1.7e9 + i, "seq": i} for i in range(count)
        ]
    else:
        keys = [f"gpu/bench-1/{j}/power_w" for j in range(READINGS_PER_BATCH)]
        readings = [{"key": key, "value": 40.0 + j} for j, key in enumerate(keys)]
        documents = [{"ts": 1.7e9 + i, "seq": i, "readings": readings} for i in range(count)]
    return [json.dumps(document).encode() for document in documents]


def _packet(command: int, body: bytes) -> bytes:
    """An MQTT control packet: type byte, variable-length remaining length, body."""
    length, remaining = bytearray(), len(body)
    while True:
        remaining, digit = divmod(remaining, 128)
        length.append(digit | (128 if remaining else 0))
        if not remaining:
            return bytes([command]) + bytes(length) + body


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def publish_raw_qos0(
    host: str, port: int, messages: Sequence[bytes], go: Callable[[], None]
) -> None:
    """MQTT 3.1.1 CONNECT, then every PUBLISH pre-encoded, written in 1 MiB chunks."""
    with socket.create_connection((host, port)) as sock:
        connect = _string("MQTT") + bytes([4, 2]) + struct.pack("!H", 60) + _string("bench-raw")
        sock.sendall(_packet(0x10, connect))
        if sock.recv(4)[:2] != b"\x20\x02":
            raise RuntimeError("broker refused the benchmark publisher")
        topic, chunks, chunk = _string(TOPIC), [], bytearray()
        for message in messages:
            chunk += _packet(0x30, topic + message)
            if len(chunk) >= 1 << 20:
                chunks.append(bytes(chunk))
                chunk = bytearray()
        chunks.append(bytes(chunk) + b"\xe0\x00")  # and DISCONNECT
        go()
        for data in chunks:
            sock.sendall(data)


def publish_paho(
    host: str, port: int, messages: Sequence[bytes], qos: int, go: Callable[[], None]
) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    go()
    for info in [client.publish(TOPIC, message, qos=qos) for message in messages]:
        info.wait_for_publish(timeout=TIMEOUT_S)
    client.disconnect()
    client.loop_stop()


def publisher_main(host: str, port: int, kind: str, count: int, qos: int) -> None:
    """Prepare, say 'ready', wait for 'go' on stdin, publish, then print the seconds it took."""
    messages = payloads(kind, count)
    started: list[float] = []

    def go() -> None:
        print("ready", flush=True)
        sys.stdin.readline()
        started.append(time.perf_counter())

    if qos == 0:
        publish_raw_qos0(host, port, messages, go)
    else:
        publish_paho(host, port, messages, qos, go)
    print(f"{time.perf_counter() - started[0]:.3f}", flush=True)


class Publisher:
    """The publisher process, seen from the subscriber."""

    def __init__(self, broker: Mosquitto, kind: str, count: int, qos: int = 0) -> None:
        arguments = [broker.host, str(broker.port), kind, str(count), str(qos)]
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--publish", *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def go(self) -> float:
        """Wait until it is ready, start it, and return the start time."""
        assert self._process.stdin is not None and self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise RuntimeError("publisher failed to start")
        started = time.perf_counter()
        self._process.stdin.write("go\n")
        self._process.stdin.flush()
        return started

    def finish(self) -> float:
        """Seconds the publisher took to send everything."""
        assert self._process.stdout is not None
        seconds = float(self._process.stdout.readline())
        self._process.wait(timeout=TIMEOUT_S)
        return seconds


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Run:
    messages: int
    readings: int
    seconds: float
    publish_s: float
    subscriber_cpu_s: float
    broker_cpu_s: float

    @property
    def per_s(self) -> float:
        return self.readings / self.seconds


class Measurement:
    """One run: started when the publisher is told to go, finished when all is counted."""

    def __init__(self, broker: Mosquitto, kind: str, count: int, qos: int = 0) -> None:
        self.messages = count
        self.expected = count * (READINGS_PER_BATCH if kind == "batch" else 1)
        self._broker_stat = Path(f"/proc/{broker.pid}/stat")
        self._publisher = Publisher(broker, kind, count, qos)
        self._started = self._publisher.go()
        self._cpu = (time.process_time(), self._broker_cpu_s())

    def _broker_cpu_s(self) -> float:
        if not self._broker_stat.exists():  # not Linux
            return float("nan")
        fields = self._broker_stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def finish(self, readings: int) -> Run:
        seconds = time.perf_counter() - self._started
        subscriber_cpu_s = time.process_time() - self._cpu[0]
        broker_cpu_s = self._broker_cpu_s() - self._cpu[1]
        return Run(
            self.messages,
            readings,
            seconds,
            self._publisher.finish(),
            subscriber_cpu_s,
            broker_cpu_s,
        )


def readings_in(payload: bytes) -> int:
    document = json.loads(payload)
    return len(document["readings"]) if "readings" in document else 1


# -- subscribers ---------------------------------------------------------------------------------


async def bare_aiomqtt(broker: Mosquitto, kind: str, count: int, protocol: str = "3.1.1") -> Run:
    """(a) aiomqtt's documented loop, parsing JSON and nothing else."""
    client = aiomqtt.Client(broker.host, broker.port, protocol=PROTOCOLS[protocol])
    async with client:
        await client.subscribe(TOPIC)
        run, readings = Measurement(broker, kind, count), 0
        async for message in client.messages:
            readings += readings_in(message.payload)  # type: ignore[arg-type]
            if readings >= run.expected:
                break
        return run.finish(readings)


class PahoSubscriber:
    """(b) paho's own network loop (``loop_forever``), parsing JSON and nothing else."""

    def __init__(self, broker: Mosquitto, kind: str, count: int) -> None:
        self._start = lambda: Measurement(broker, kind, count)
        self._run: Measurement | None = None
        self._readings = 0
        self.result: Run | None = None
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self._client.on_connect = lambda client, *_: client.subscribe(TOPIC)
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)

    def _on_subscribe(self, *_: object) -> None:
        self._run = self._start()

    def _on_message(self, client: mqtt.Client, _: object, message: mqtt.MQTTMessage) -> None:
        assert self._run is not None
        self._readings += readings_in(message.payload)
        if self._readings >= self._run.expected:
            self.result = self._run.finish(self._readings)
            client.disconnect()

    def measure(self) -> Run:
        self._client.loop_forever()
        assert self.result is not None
        return self.result


def bare_paho(broker: Mosquitto, kind: str, count: int) -> Run:
    return PahoSubscriber(broker, kind, count).measure()


class CountingSink(TelemetryStore):
    """The real store, which also keeps the values written (for the loss check by sequence)
    and says when the expected number is in: ingest is measured as far as the store."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[float] = []
        self.events: list[SourceEvent] = []
        self.expected = 0
        self.done = asyncio.Event()

    def write(self, keys, times_s, values, quality=None) -> None:  # type: ignore[no-untyped-def]
        super().write(keys, times_s, values, quality)
        self.values.extend(values)
        if len(self.values) >= self.expected > 0:
            self.done.set()

    def event(self, event: SourceEvent) -> None:
        super().event(event)
        self.events.append(event)


async def through_source(
    broker: Mosquitto, kind: str, count: int, protocol: str = "3.1.1", qos: int = 0
) -> tuple[Run, CountingSink, MqttSource]:
    """(c) MqttSource end to end: received, decoded, mapped, written to the store."""
    sink = CountingSink()
    config = MqttConfig(
        host=broker.host,
        port=broker.port,
        client_id="bench-source",
        protocol=protocol,  # type: ignore[arg-type]
        session_expiry_s=0,
        qos=qos,
        max_queued_messages=0,
    )
    source = MqttSource(config, sink)
    task = asyncio.create_task(source.run())
    try:
        while source.stats.connections == 0:
            await asyncio.sleep(0.01)
        run = Measurement(broker, kind, count, qos)
        sink.expected = run.expected
        await asyncio.wait_for(sink.done.wait(), TIMEOUT_S)
        return run.finish(len(sink.values)), sink, source
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# -- report --------------------------------------------------------------------------------------


def take_turns(variants: dict[str, Callable[[], Run]], repeat: int) -> dict[str, Run]:
    """Run every variant once per round, ``repeat`` rounds; the median run of each."""
    runs: dict[str, list[Run]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, measure in variants.items():
            runs[name].append(measure())
    medians = {}
    for name, results in runs.items():
        median = statistics.median_low(run.per_s for run in results)
        medians[name] = run = next(r for r in results if r.per_s == median)
        spread = ", ".join(f"{r.per_s:,.0f}" for r in results)
        print(
            f"  {name:<40} {run.per_s:>9,.0f} readings/s   CPU/msg: subscriber"
            f" {1e6 * run.subscriber_cpu_s / run.messages:5.1f} us, broker"
            f" {1e6 * run.broker_cpu_s / run.messages:5.1f} us   (runs {spread};"
            f" publisher done in {run.publish_s:.2f} s)"
        )
    return medians


def bench_single(broker: Mosquitto, count: int, repeat: int) -> None:
    print(f"\nSingle readings, QoS 0, {count:,} messages of about 85 bytes:")
    medians = take_turns(
        {
            "(a) bare aiomqtt async-for + json": lambda: asyncio.run(
                bare_aiomqtt(broker, "single", count)
            ),
            "(b) bare paho loop_forever + json": lambda: bare_paho(broker, "single", count),
            "(c) MqttSource -> store": lambda: asyncio.run(through_source(broker, "single", count))[
                0
            ],
            "(a5) bare aiomqtt, MQTT 5": lambda: asyncio.run(
                bare_aiomqtt(broker, "single", count, "5")
            ),
            "(c5) MqttSource, MQTT 5": lambda: asyncio.run(
                through_source(broker, "single", count, "5")
            )[0],
        },
        repeat,
    )
    rate = {name[: name.index(")") + 1]: run.per_s for name, run in medians.items()}
    ratio = rate["(c)"] / rate["(a)"]
    verdict = "meets" if ratio >= SINGLE_TARGET_RATIO else "MISSES"
    print(
        f"  MqttSource/aiomqtt {ratio:.2f}x ({verdict} the {SINGLE_TARGET_RATIO}x target);"
        f" MqttSource/paho {rate['(c)'] / rate['(b)']:.2f}x;"
        f" paho/aiomqtt {rate['(b)'] / rate['(a)']:.2f}x;"
        f" with MQTT 5: MqttSource/aiomqtt {rate['(c5)'] / rate['(a5)']:.2f}x,"
        f" MqttSource 5/3.1.1 {rate['(c5)'] / rate['(c)']:.2f}x"
    )


def bench_batched(broker: Mosquitto, count: int, repeat: int) -> None:
    print(f"\nBatches of {READINGS_PER_BATCH} readings, QoS 0, {count:,} messages of about 4.4 kB:")
    medians = take_turns(
        {
            "(a) bare aiomqtt async-for + json": lambda: asyncio.run(
                bare_aiomqtt(broker, "batch", count)
            ),
            "(c) MqttSource -> store": lambda: asyncio.run(through_source(broker, "batch", count))[
                0
            ],
        },
        repeat,
    )
    bare, source = (run.per_s for run in medians.values())  # in the order given
    verdict = "meets" if source >= BATCHED_TARGET_PER_S else "MISSES"
    print(
        f"  MqttSource {verdict} the {BATCHED_TARGET_PER_S:,} readings/s target;"
        f" MqttSource/aiomqtt {source / bare:.2f}x"
    )


def bench_qos1(broker: Mosquitto, count: int) -> None:
    print(f"\nSingle readings, QoS 1 (paho publisher), {count:,} messages, loss check by sequence:")
    results: list[tuple[Run, CountingSink, MqttSource]] = []

    def measure() -> Run:
        results.append(asyncio.run(through_source(broker, "single", count, qos=1)))
        return results[-1][0]

    take_turns({"(c) MqttSource -> store": measure}, 1)
    _, sink, source = results[0]
    missing = set(range(count)) - {int(value) for value in sink.values}
    gaps = sum(source.stats.dropped.values())
    verdict = "no loss" if not missing and not gaps else "LOSS"
    print(
        f"  {verdict}: {len(sink.values):,} readings, {len(missing)} sequence numbers missing,"
        f" {gaps} counted as dropped, {len(sink.values) - count + len(missing)} duplicates"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="single-reading messages")
    parser.add_argument("--batches", type=int, default=10_000, help="100-reading messages")
    parser.add_argument("--qos1-messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--publish", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        host, port, kind, count, qos = args.publish
        publisher_main(host, int(port), kind, int(count), int(qos))
        return
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, aiomqtt {aiomqtt.__version__},"
        f" paho-mqtt {paho.mqtt.__version__}, load average {os.getloadavg()[0]:.1f} at start"
    )
    with tempfile.TemporaryDirectory() as folder:
        broker = Mosquitto(Path(folder))
        broker.start()
        try:
            bench_single(broker, args.messages, args.repeat)
            bench_batched(broker, args.batches, args.repeat)
            bench_qos1(broker, args.qos1_messages)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
