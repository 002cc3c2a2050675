"""Live per-rack and facility figures from a frame of latest readings, for the Run view.

Maps series keys to columns once per key list (a frame's keys only change when series are
added), then each frame is a few numpy gathers and ``bincount``s, so colouring a 16,000-GPU
hall costs well under a millisecond per frame.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.telemetry.placement import GpuPlacement
from factoryfloor.backend.telemetry.series import EntitySeries, FacilitySeries, GpuSeries, parse

RACK_QUANTITIES: dict[str, tuple[str, str]] = {
    "util_pct": ("GPU utilisation", "%"),
    "power_kw": ("Rack power", "kW"),
    "temp_c": ("GPU temperature", "°C"),
    "tokens_per_s": ("Tokens/s", "tok/s"),
    "tokens_per_j": ("Tokens per joule", "tok/J"),
}
"""What the Run view can colour racks by: quantity -> (label, unit)."""

FACILITY_KEYS = ("it_power_kw", "tokens_per_s", "tokens_per_j")


@dataclass(frozen=True, slots=True)
class LiveFigures:
    rack_values: dict[str, float]
    """Rack id -> value of the chosen quantity (racks with no reading are left out)."""
    facility: dict[str, float]
    """Facility figures by quantity (it_power_kw, tokens_per_s, tokens_per_j, gpus_busy);
    figures with no reading are left out."""
    loop_heat_kw: dict[str, float]
    """Measured heat load of each loop (loops with no reading are left out)."""


class LiveAggregator:
    BUSY_UTIL_PCT = 50.0
    """A GPU counts as busy above this utilisation."""

    def __init__(self, design: Design):
        self.rack_ids = [rack.id for rack in design.racks]
        self._rack_index = {rack_id: i for i, rack_id in enumerate(self.rack_ids)}
        self._placement = GpuPlacement(design)
        self._keys: list[str] | None = None
        self._columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._loop_columns: dict[str, int] = {}

    def _map_keys(self, keys: list[str]) -> None:
        """Column and rack index of every series each quantity is computed from."""
        columns: dict[str, tuple[list[int], list[int]]] = {}
        self._loop_columns = {}
        for column, key in enumerate(keys):
            match parse(key):
                case GpuSeries(node, index, quantity):
                    spot = self._placement.place(node, index)
                    rack = None if spot is None else self._rack_index[spot.rack_id]
                    name = f"gpu:{quantity}"
                case EntitySeries("rack", rack_id, quantity):
                    rack = self._rack_index.get(rack_id)
                    name = f"rack:{quantity}"
                case FacilitySeries(quantity, None):
                    rack, name = 0, f"facility:{quantity}"
                case EntitySeries("loop", loop_id, "heat_kw"):
                    self._loop_columns[loop_id] = column
                    continue
                case _:
                    continue
            if rack is not None:
                cols, racks = columns.setdefault(name, ([], []))
                cols.append(column)
                racks.append(rack)
        self._columns = {n: (np.array(c), np.array(r)) for n, (c, r) in columns.items()}
        self._keys = keys

    def _per_rack_mean(self, values: np.ndarray, name: str) -> np.ndarray | None:
        if name not in self._columns:
            return None
        cols, racks = self._columns[name]
        picked = values[cols].astype(np.float64)
        valid = np.isfinite(picked)
        sums = np.bincount(racks[valid], picked[valid], len(self.rack_ids))
        counts = np.bincount(racks[valid], minlength=len(self.rack_ids))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / counts, np.nan)

    def update(self, keys: list[str], values: np.ndarray, quantity: str) -> LiveFigures:
        if keys is not self._keys and keys != self._keys:
            self._map_keys(keys)
        if quantity in ("util_pct", "temp_c"):
            per_rack = self._per_rack_mean(values, f"gpu:{quantity}")
        elif quantity == "tokens_per_j":
            tokens = self._per_rack_mean(values, "rack:tokens_per_s")
            power = self._per_rack_mean(values, "rack:power_kw")
            per_rack = None if tokens is None or power is None else tokens / (power * 1000.0)
        else:
            per_rack = self._per_rack_mean(values, f"rack:{quantity}")
        rack_values = {} if per_rack is None else {
            rack_id: float(v) for rack_id, v in zip(self.rack_ids, per_rack, strict=True)
            if np.isfinite(v)
        }  # fmt: skip
        facility = {}
        for name in FACILITY_KEYS:
            cols = self._columns.get(f"facility:{name}")
            if cols is not None and np.isfinite(values[cols[0][0]]):  # NaN: no reading
                facility[name] = float(values[cols[0][0]])
        util = self._columns.get("gpu:util_pct")
        if util is not None and np.isfinite(values[util[0]]).any():
            facility["gpus_busy"] = float(np.sum(values[util[0]] > self.BUSY_UTIL_PCT))
            facility["gpus"] = float(len(util[0]))
        loops = {loop_id: float(values[c]) for loop_id, c in self._loop_columns.items()
                 if np.isfinite(values[c])}  # fmt: skip
        return LiveFigures(rack_values, facility, loops)


def loops_nearest_capacity(
    heat_kw: dict[str, float],
    capacity_kw: dict[str, float],
    count: int,
    shown: Collection[str] = (),
    margin: float = 0.02,
) -> list[str]:
    """The ``count`` loops carrying the largest fraction of their CDU's capacity, in
    ``capacity_kw`` order: what a hall too large to plot every loop should show, the headroom
    that is running out. A loop already ``shown`` keeps its place unless another is ahead of it
    by ``margin`` (a fraction of capacity), so near-ties do not swap curves on every frame.
    Loops with no reading rank last."""

    def load(loop_id: str) -> float:
        fraction = heat_kw.get(loop_id, math.nan) / capacity_kw[loop_id]
        if not math.isfinite(fraction):
            return -math.inf
        return fraction + (margin if loop_id in shown else 0.0)

    chosen = set(sorted(capacity_kw, key=load, reverse=True)[:count])
    return [loop_id for loop_id in capacity_kw if loop_id in chosen]
