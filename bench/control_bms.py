"""A CDU setpoint from command to confirmed read-back, through a real Mosquitto and the
simulated DSX BMS answering at once, against the bare MQTT hop measured in the same run.

Command to confirmed: ``MqttFacilityControl.request`` from its call until it returns the BMS's
own setpoint point reading the value asked for: the metadata check, the QoS 1 publish over the
MQTT source's connection, the BMS's answer, the source's ingest (with its default 5 ms batch
window) and the feedback wake-up. Bare hop: the same connection publishing at QoS 1 until a plain
subscriber in the same process has the message. A confirmation needs two hops (request out,
feedback back), so about 2x the bare hop plus the batch window is the floor.

Both run twice: on Mosquitto as installed, and with ``set_tcp_nodelay true``. By default the
broker keeps Nagle's algorithm, and its answer to FactoryFloor waits for the delayed ACK of the
packet it sent just before, some 40 ms per confirmation.

    python bench/control_bms.py [--requests 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.broker

from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.service.control.bms_control import MqttFacilityControl
from factoryfloor.backend.service.control.commands import SetCduSupplyTemp
from factoryfloor.backend.telemetry.feedback import FeedbackSink
from factoryfloor.backend.telemetry.sink import RecordingSink
from factoryfloor.backend.telemetry.sources.bms_mapping import PointMetadata, auto_map
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.backend.telemetry.sources.sim_bms import SimulatedBms
from tests.broker import Mosquitto

CDU = "CDU-1"
HOP_TOPIC = "bench/hop"
WAIT_S = 10.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} after {WAIT_S} s")
        await asyncio.sleep(0.01)


async def confirmations(control: MqttFacilityControl, requests: int) -> list[float]:
    """Seconds from command to confirmed read-back, for setpoints alternating 25 and 26 °C."""
    times_s = []
    for i in range(requests):
        command = SetCduSupplyTemp(cdu_id=CDU, temp_c=25.0 + i % 2)
        start_s = time.perf_counter()
        await control.request(command, timeout_s=WAIT_S)
        times_s.append(time.perf_counter() - start_s)
    return times_s


async def bare_hops(broker: Mosquitto, source: MqttSource, count: int) -> list[float]:
    """Seconds from a QoS 1 publish on the source's connection to a subscriber having it."""
    times_s = []
    async with aiomqtt.Client(broker.host, broker.port, identifier="bench-hop") as subscriber:
        await subscriber.subscribe(HOP_TOPIC, qos=1)
        messages = aiomqtt_messages(subscriber)
        for i in range(count):
            start_s = time.perf_counter()
            await source.publish(HOP_TOPIC, str(i).encode(), qos=1)
            await anext(messages)
            times_s.append(time.perf_counter() - start_s)
    return times_s


async def aiomqtt_messages(client: aiomqtt.Client) -> AsyncIterator[aiomqtt.Message]:
    async for message in client.messages:
        yield message


async def measure(broker: Mosquitto, requests: int) -> tuple[list[float], list[float]]:
    bms = SimulatedBms(broker.host, broker.port, {CDU: 30.0}, [], delay_s=0.0, ramp_c_per_s=None)
    metadata = [PointMetadata(*pid.split("/", 2), fields) for pid, fields in bms.metadata.items()]
    points = auto_map([], [CDU], metadata, integration="factoryfloor").proposed
    config = MqttConfig(host=broker.host, port=broker.port, client_id="bench", points=points)
    sink = RecordingSink()
    feedback = FeedbackSink(sink)
    source = MqttSource(config, feedback)
    control = MqttFacilityControl(source, feedback)
    tasks = [asyncio.create_task(bms.run())]
    try:
        await bms.published.wait()
        tasks.append(asyncio.create_task(source.run()))
        await until(lambda: control.current(SetCduSupplyTemp(cdu_id=CDU)) == 30.0, "setpoint")
        await confirmations(control, 5)  # warm up
        confirmed = await confirmations(control, requests)
        hops = await bare_hops(broker, source, requests)
        return confirmed, hops
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def report(title: str, confirmed: list[float], hops: list[float]) -> None:
    print(title)
    for name, times_s in (("command to confirmed", confirmed), ("bare MQTT hop (QoS 1)", hops)):
        p50, p99 = percentile(times_s, 0.5) * 1e3, percentile(times_s, 0.99) * 1e3
        mean = statistics.mean(times_s) * 1e3
        print(f"  {name:<24} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   mean {mean:6.2f} ms")
    ratio50 = percentile(confirmed, 0.5) / percentile(hops, 0.5)
    ratio99 = percentile(confirmed, 0.99) / percentile(hops, 0.99)
    print(f"  confirmed / bare hop: {ratio50:.1f}x at p50, {ratio99:.1f}x at p99")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    print(f"CDU setpoint through Mosquitto, {args.requests} requests, simulated BMS at once")
    for nodelay in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            broker = Mosquitto(Path(folder), tcp_nodelay=nodelay)
            broker.start()
            try:
                confirmed, hops = asyncio.run(measure(broker, args.requests))
            finally:
                broker.stop()
        setting = "set_tcp_nodelay true" if nodelay else "Mosquitto defaults (Nagle on)"
        report(f"{setting}:", confirmed, hops)


if __name__ == "__main__":
    main()
