"""Reconnecting after broker restarts, against a real Mosquitto stopped and started again on the
same port, with the default reconnect settings a site gets."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.telemetry.sink import RecordingSink
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource

if TYPE_CHECKING:
    from broker import Mosquitto

pytest_plugins = ["broker"]

TOPIC = "factoryfloor/v1/node/gateway-1/readings"
KEY = "gpu/gateway-1/0/power_w"
DOWN_S = 3.0
"""How long each outage lasts: long enough for an unbounded backoff to grow past the target."""
TARGET_S = 2.0
SLACK_S = 1.0
"""For a busy machine: the reading must still come well before a grown backoff would allow."""
WAIT_S = 15.0


async def until(check: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> float:
    """Poll ``check`` until true; the time it became true (monotonic)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.monotonic()


def values(sink: RecordingSink) -> set[float]:
    return {value for key, _, value, _ in sink.readings if key == KEY}


def publish_retained(broker: Mosquitto, value: float) -> None:
    publisher = broker.publisher()
    publisher.publish(TOPIC, {"key": KEY, "value": value, "ts": time.time()}, retain=True)
    publisher.close()


@pytest.mark.asyncio
async def test_first_reading_within_two_seconds_of_each_restart_of_a_flapping_broker(
    mosquitto: Mosquitto,
) -> None:
    """Up only a moment each time (far under 10 s), down for DOWN_S: every return is met fast,
    so neither the outage nor the flapping lets the backoff grow."""
    sink = RecordingSink()
    config = MqttConfig(host=mosquitto.host, port=mosquitto.port, client_id="ff-flap")
    task = asyncio.create_task(MqttSource(config, sink).run())
    try:
        publish_retained(mosquitto, 0.0)
        await until(lambda: 0.0 in values(sink), "the first reading")
        delays_s = []
        for restart in range(1, 4):
            mosquitto.stop()
            await asyncio.sleep(DOWN_S)  # the outage itself, part of the scenario
            mosquitto.start()
            accepting_s = time.monotonic()
            publish_retained(mosquitto, float(restart))
            arrived_s = await until(lambda n=restart: n in values(sink), f"reading {restart}")
            delays_s.append(arrived_s - accepting_s)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert max(delays_s) < TARGET_S + SLACK_S, delays_s
    refused = [e.detail for e in sink.events if "refused by" in e.detail]
    assert refused and f"{mosquitto.host}:{mosquitto.port}: nothing listens there" in refused[0]
    assert len(refused) <= 2 * 3, "the outage is reported once, not at every attempt"
