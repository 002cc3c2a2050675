"""A DSX Exchange BMS stream through a real Mosquitto, into the MQTT source and a real store,
evaluated by the alarm system with the design's default rules: a rack's leak detector reporting
Leak ends in the high-priority alarm at that rack, a reading of bad quality in its own alarm,
the heartbeat falling silent in the heartbeat alarm, and the broker going away in a source
offline alarm that clears when it is back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from alarm_plans import small_hall

from factoryfloor.backend.design.alarm_rules import default_rules
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.service.alarms.journal import FILE_NAME, AlarmJournal
from factoryfloor.backend.service.alarms.states import AlarmState, Transition
from factoryfloor.backend.service.alarms.system import AlarmSystem
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.backend.telemetry.store import TelemetryStore

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher

pytest_plugins = ["broker"]

BMS = "BMS/v1/PUB"
WAIT_S = 10.0
HEARTBEAT = f"{BMS}/Value/System/HeartbeatTimestampBms/bms1"


def mapped_hall(broker: Mosquitto) -> Design:
    """The small hall with its racks' leak detectors and power meters mapped, as a site maps
    them: DSX tag paths ``Hall1/Row1/R1`` ..."""
    rules = [
        rule.model_copy(update={"on_delay_s": 0.0}) if rule.id == "source-offline" else rule
        for rule in default_rules()
    ]
    hall = small_hall(rules)
    points = [
        {"object_type": "Rack", "point_type": point_type, "tag_path": f"Hall1/Row1/{rack}",
         "kind": "rack", "entity_id": rack, "quantity": quantity}
        for rack in ("R1", "R2")
        for point_type, quantity in (("RackLeakDetect", "leak"), ("RackPower", "power_kw"))
    ]  # fmt: skip
    mqtt = MqttConfig.model_validate({
        "host": broker.host, "port": broker.port, "client_id": "factoryfloor-alarms",
        "reconnect_min_s": 0.05, "reconnect_max_s": 0.2, "bms_heartbeat_timeout_s": 0.5,
        "points": points,
    })  # fmt: skip
    telemetry = hall.telemetry.model_copy(update={"mqtt": mqtt})
    return hall.model_copy(update={"telemetry": telemetry})


def dsx(value: float, quality: int = 1) -> dict[str, object]:
    return {"value": value, "timestamp": int(time.time() * 1000), "quality": quality}


class Service:
    """The alarm system stepped on the store as the service will: snapshot, new events."""

    def __init__(self, design: Design, store: TelemetryStore, folder: Path) -> None:
        self.store = store
        self.system = AlarmSystem(design, folder)
        self.events_from = 0
        self.transitions: list[Transition] = []

    def step(self) -> None:
        kept = self.store.events_since(self.events_from)
        self.events_from = kept.next_index
        now = time.time()
        self.transitions += self.system.step(self.store.snapshot("", now), kept.events, now)

    async def until(self, check: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while True:
            self.step()
            if check():
                return
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {WAIT_S} s waiting for {what}")
            await asyncio.sleep(0.02)

    def state(self, alarm_id: str) -> AlarmState | None:
        alarm = self.system.alarms.get(alarm_id)
        return None if alarm is None else alarm.state


@pytest.mark.asyncio
async def test_a_leak_bad_quality_and_a_lost_heartbeat_raise_their_alarms(
    mosquitto: Mosquitto, publisher: Publisher, tmp_path: Path
) -> None:
    design = mapped_hall(mosquitto)
    assert design.telemetry.mqtt is not None
    store = TelemetryStore()
    service = Service(design, store, tmp_path)
    task = asyncio.create_task(MqttSource(design.telemetry.mqtt, store).run())
    try:
        publisher.publish(HEARTBEAT, dsx(time.time()))
        for rack in ("R1", "R2"):
            publisher.publish(f"{BMS}/Value/Rack/RackLeakDetect/Hall1/Row1/{rack}", dsx(0))
            publisher.publish(f"{BMS}/Value/Rack/RackPower/Hall1/Row1/{rack}", dsx(90.0))
        await service.until(lambda: "rack/R2/leak" in store.snapshot("", 0).keys, "the readings")
        assert service.system.shown() == []

        publisher.publish(f"{BMS}/Value/Rack/RackLeakDetect/Hall1/Row1/R2", dsx(1))
        await service.until(lambda: service.state("rack-leak@R2"), "the leak alarm")
        alarm = service.system.shown()[0]
        assert (alarm.alarm_id, alarm.priority, alarm.entity, alarm.message) == (
            "rack-leak@R2", "high", "R2", "R2: leak detected")  # fmt: skip
        assert alarm.state is AlarmState.UNACKNOWLEDGED
        assert service.state("rack-leak@R1") is None

        publisher.publish(f"{BMS}/Value/Rack/RackPower/Hall1/Row1/R1", dsx(91.0, quality=0))
        await service.until(lambda: service.state("rack-quality@R1 power_kw"), "bad quality")
        assert service.system.alarms["rack-quality@R1 power_kw"].priority == "low"

        # the heartbeat stops (every 10 s normally; 0.5 s of silence is lost in this test)
        await service.until(lambda: service.state("bms-heartbeat@BMS"), "the heartbeat alarm")
        heartbeat = service.system.alarms["bms-heartbeat@BMS"]
        assert heartbeat.priority == "high" and "BMS heartbeat lost" in heartbeat.message
        publisher.publish(HEARTBEAT, dsx(time.time()))
        await service.until(lambda: not service.system.alarms["bms-heartbeat@BMS"].active,
                            "the heartbeat back")  # fmt: skip
        assert service.state("bms-heartbeat@BMS") is AlarmState.RTN_UNACKNOWLEDGED

        broker = f"mqtt: {mosquitto.host}:{mosquitto.port}"
        mosquitto.stop()
        await service.until(lambda: service.state(f"source-offline@{broker}"), "broker lost")
        assert "reconnecting" in service.system.alarms[f"source-offline@{broker}"].message
        mosquitto.start()
        await service.until(lambda: not service.system.alarms[f"source-offline@{broker}"].active,
                            "the broker back")  # fmt: skip
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        service.system.close()
    journal = AlarmJournal(tmp_path / FILE_NAME, read_only=True)
    journaled = [(t.alarm_id, t.event) for t in journal.search()]
    journal.close()
    assert journaled == [(t.alarm_id, t.event) for t in service.transitions]
    assert ("rack-leak@R2", "active") in journaled
