"""What a check sees: one store snapshot at one time, indexed, and what a check answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from factoryfloor.backend.service.alarms.health import SourceHealth
from factoryfloor.backend.service.alarms.series_index import SeriesIndex
from factoryfloor.backend.telemetry.sink import GOOD
from factoryfloor.backend.telemetry.store import Snapshot


@dataclass(frozen=True, slots=True)
class SnapshotView:
    snapshot: Snapshot
    index: SeriesIndex
    time_s: float
    health: SourceHealth
    valid: np.ndarray
    """Per column: a finite value of good quality that is not stale, the only readings a
    threshold, state, limit or balance is judged on."""

    @classmethod
    def of(
        cls, snapshot: Snapshot, index: SeriesIndex, time_s: float, health: SourceHealth
    ) -> SnapshotView:
        valid = np.isfinite(snapshot.values) & (snapshot.qualities == GOOD) & ~snapshot.stale
        return cls(snapshot, index, time_s, health, valid)

    def gather(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(values as float64, valid) at ``columns``; -1 (no such series) is never valid."""
        present = columns >= 0
        if not len(self.snapshot.values):  # no series yet: nothing to index, nothing valid
            return np.full(len(columns), np.nan), np.zeros(len(columns), bool)
        safe = np.where(present, columns, 0)
        values = self.snapshot.values[safe].astype(np.float64)
        return values, present & self.valid[safe]


@dataclass(frozen=True, slots=True)
class Verdicts:
    """A check's answer for each of its subjects: condition met (``raise_``), clearly not met
    (``clear``), or neither (no valid reading, inside a deadband). ``describe`` words subject
    ``i``'s value and limit; it is called only for subjects whose alarm changes."""

    subjects: list[str]
    entities: list[str]
    raise_: np.ndarray
    clear: np.ndarray
    values: np.ndarray
    describe: Callable[[int], str]


def unit_of(quantity: str) -> str:
    """The unit a quantity's name ends in, as shown: ``supply_temp_c`` -> ``°C``."""
    for suffix, unit in UNITS:
        if quantity.endswith(suffix):
            return unit
    return ""


UNITS = (("_c", " °C"), ("_kw", " kW"), ("_lpm", " L/min"), ("_pct", " %"), ("_kpa", " kPa"),
         ("_w", " W"), ("_rpm", " RPM"), ("_mhz", " MHz"))  # fmt: skip
