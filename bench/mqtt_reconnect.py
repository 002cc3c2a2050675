"""How soon readings flow again after a broker restart: time from a loopback Mosquitto accepting
connections again to the first reading ingested by MqttSource, over 20 restarts.

Each restart stops the broker, keeps it down for ``--down-s`` (the source keeps trying meanwhile),
starts it on the same port and publishes one retained reading; the source gets it on the
subscription it makes once reconnected. The source runs with the default reconnect settings.
Prints min, median and max; the target is under 2 s every time.

    python bench/mqtt_reconnect.py [--restarts 20] [--down-s 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.broker

from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.telemetry.sink import RecordingSink
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from tests.broker import Mosquitto

TOPIC = "factoryfloor/v1/node/bench/readings"
KEY = "gpu/bench/0/power_w"
WAIT_S = 30.0


async def reading_arrives(sink: RecordingSink, value: float) -> float:
    """The monotonic time at which ``value`` reached the sink."""
    deadline = time.monotonic() + WAIT_S
    while not any(v == value for _, _, v, _ in sink.readings):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no reading {value} after {WAIT_S} s")
        await asyncio.sleep(0.002)
    return time.monotonic()


def publish_retained(broker: Mosquitto, value: float) -> None:
    publisher = broker.publisher()
    publisher.publish(TOPIC, {"key": KEY, "value": value, "ts": time.time()}, retain=True)
    publisher.close()


async def measure(broker: Mosquitto, restarts: int, down_s: float) -> list[float]:
    sink = RecordingSink()
    config = MqttConfig(host=broker.host, port=broker.port, client_id="factoryfloor-bench")
    task = asyncio.create_task(MqttSource(config, sink).run())
    try:
        publish_retained(broker, 0.0)
        await reading_arrives(sink, 0.0)
        delays_s = []
        for restart in range(1, restarts + 1):
            broker.stop()
            await asyncio.sleep(down_s)
            broker.start()  # returns once the port accepts connections
            accepting_s = time.monotonic()
            publish_retained(broker, float(restart))
            delays_s.append(await reading_arrives(sink, float(restart)) - accepting_s)
        return delays_s
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=20)
    parser.add_argument("--down-s", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        broker = Mosquitto(Path(folder))
        broker.start()
        try:
            delays_s = asyncio.run(measure(broker, args.restarts, args.down_s))
        finally:
            broker.stop()
    print(f"broker restarts: {len(delays_s)}, down {args.down_s:.1f} s each")
    print(
        "accepting -> first reading ingested: "
        f"min {min(delays_s):.3f} s, median {statistics.median(delays_s):.3f} s, "
        f"max {max(delays_s):.3f} s"
    )


if __name__ == "__main__":
    main()
