"""Rack power from a DSX Exchange BMS, through a real Mosquitto into the MQTT source and a real
store, read as the Run view reads it: with no GPU telemetry and no facility meter, the racks' BMS
readings are the IT power (it used to read "n/a") and each feed's load, measured against the
design's."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest
from alarm_plans import small_hall
from test_alarm_bms import BMS, dsx

from factoryfloor.backend.design.figures import compute_figures
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.telemetry.against_design import against_design
from factoryfloor.backend.telemetry.live_figures import LiveAggregator
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.backend.telemetry.store import TelemetryStore

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher

pytest_plugins = ["broker"]

WAIT_S = 10.0


@pytest.mark.asyncio
async def test_bms_rack_power_is_the_it_power_and_feed_load(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    hall = small_hall()  # two racks of 108 kW on feed F-1
    points = [
        {
            "object_type": "Rack",
            "point_type": "RackPower",
            "tag_path": f"Hall1/Row1/{r}",
            "kind": "rack",
            "entity_id": r,
            "quantity": "power_kw",
        }
        for r in ("R1", "R2")
    ]
    mqtt = MqttConfig.model_validate(
        {
            "host": mosquitto.host,
            "port": mosquitto.port,
            "client_id": "factoryfloor-live",
            "points": points,
        }
    )
    store = TelemetryStore()
    aggregator = LiveAggregator(hall)
    task = asyncio.create_task(MqttSource(mqtt, store).run())
    try:
        deadline = time.monotonic() + WAIT_S
        while True:  # retained-less: publish until the source is subscribed and has both
            publisher.publish(f"{BMS}/Value/Rack/RackPower/Hall1/Row1/R1", dsx(90.0))
            publisher.publish(f"{BMS}/Value/Rack/RackPower/Hall1/Row1/R2", dsx(130.0))
            snapshot = store.snapshot("", time.time())
            live = aggregator.update(list(snapshot.keys), snapshot.values, "power_kw")
            if len(live.rack_values) == 2 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert live.rack_values == {"R1": 90.0, "R2": 130.0}
    assert live.facility["it_power_kw"] == 220.0
    assert live.facility["it_power_racks"] == live.facility["racks"] == 2
    assert live.feed_load_kw == {"F-1": 220.0}
    designed = {f: ff.load_kw for f, ff in compute_figures(hall).feeds.items()}
    feed = against_design(live.feed_load_kw, designed)["F-1"]
    assert feed.sentence() == "F-1: designed 216 kW, measured 220 kW, +2 %"
    assert not feed.off_design
