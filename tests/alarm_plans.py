"""A small hall for alarm tests, and a store to feed it readings through.

One CDU (300 kW, 600 L/min rated, water at 30 C) serving loop L-1 at a design delta-T of 10 K,
one 250 kW feed F-1, and racks R1, R2, ... plumbed to both: small enough to reason about every
figure by hand, real enough that every rule kind has its entity.
"""

from __future__ import annotations

from collections.abc import Sequence

from factoryfloor.backend.design.alarm_rules import AlarmRule
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.alarms.evaluator import ConditionChange, Evaluator
from factoryfloor.backend.service.alarms.health import SourceHealth
from factoryfloor.backend.telemetry.sink import SourceEvent
from factoryfloor.backend.telemetry.store import Snapshot, TelemetryStore


def small_hall(rules: Sequence[AlarmRule] | None = None, racks: int = 2) -> Design:
    tree: dict[str, object] = {
        "name": "Alarm test hall",
        "floor": {"width_m": 20.0, "depth_m": 10.0},
        "gpu_models": [{"id": "GPU", "name": "A GPU", "gpu_power_w": 1000.0,
                        "system_power_per_gpu_w": 1500.0, "liquid_cooled": True}],
        "cdus": [{"id": "CDU-1", "x_m": 1.0, "y_m": 1.0, "capacity_kw": 300.0,
                  "rated_flow_lpm": 600.0, "supply_temp_c": 30.0}],
        "loops": [{"id": "L-1", "cdu_id": "CDU-1", "design_delta_t_k": 10.0}],
        "feeds": [{"id": "F-1", "x_m": 0.5, "y_m": 0.5, "capacity_kw": 250.0}],
        "racks": [{"id": f"R{i}", "x_m": 2.0 + i, "y_m": 2.0, "gpu_model": "GPU",
                   "gpu_count": 72, "it_power_kw": 108.0, "liquid_fraction": 0.85,
                   "loop_id": "L-1", "feed_id": "F-1"} for i in range(1, racks + 1)],
    }  # fmt: skip
    if rules is not None:
        tree["alarm_rules"] = [rule.model_dump() for rule in rules]
    return Design.model_validate(tree)


class Feed:
    """A real TelemetryStore written reading by reading, as a source would, and its snapshot."""

    def __init__(self) -> None:
        self.store = TelemetryStore()

    def write(self, time_s: float, readings: dict[str, float], quality: int = 1) -> None:
        keys = list(readings)
        self.store.write(keys, [time_s] * len(keys), list(readings.values()),
                         [quality] * len(keys))  # fmt: skip

    def snapshot(self, time_s: float) -> Snapshot:
        return self.store.snapshot("", time_s)


class Run:
    """An evaluator over a store, stepped through time."""

    def __init__(self, *rules: AlarmRule, racks: int = 2) -> None:
        self.feed = Feed()
        self.health = SourceHealth()
        self.evaluator = Evaluator(small_hall(list(rules), racks=racks))

    def at(
        self,
        time_s: float,
        readings: dict[str, float] | None = None,
        quality: int = 1,
        events: Sequence[SourceEvent] = (),
    ) -> list[ConditionChange]:
        if readings:
            self.feed.write(time_s, readings, quality)
        self.health.observe(events)
        return self.evaluator.evaluate(self.feed.snapshot(time_s), time_s, self.health)


def raised(changes: list[ConditionChange]) -> dict[str, str]:
    return {c.alarm_id: c.message for c in changes if c.active}


def cleared(changes: list[ConditionChange]) -> set[str]:
    return {c.alarm_id for c in changes if not c.active}
