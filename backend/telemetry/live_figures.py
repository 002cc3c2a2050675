"""Live per-rack and facility figures from a frame of latest readings, for the Run view.

Maps series keys to columns once per key list (a frame's keys only change when series are
added), then each frame is a few numpy gathers and ``bincount``s, so colouring a 16,000-GPU
hall costs well under a millisecond per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    """Facility figures by quantity (it_power_kw, tokens_per_s, tokens_per_j, gpus_busy)."""
    loop_heat_kw: dict[str, float]
    """Measured heat load of each loop."""


class LiveAggregator:
    BUSY_UTIL_PCT = 50.0
    """A GPU counts as busy above this utilisation."""

    def __init__(self, rack_ids: list[str]):
        self.rack_ids = rack_ids
        self._rack_index = {rack_id: i for i, rack_id in enumerate(rack_ids)}
        self._keys: list[str] | None = None
        self._columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._loop_columns: dict[str, int] = {}

    def _map_keys(self, keys: list[str]) -> None:
        """Column and rack index of every series each quantity is computed from."""
        columns: dict[str, tuple[list[int], list[int]]] = {}
        self._loop_columns = {}
        for column, key in enumerate(keys):
            parts = key.split("/")
            if parts[0] == "gpu" and len(parts) == 4:
                rack = self._rack_index.get(parts[1])
                name = f"gpu:{parts[3]}"
            elif parts[0] == "rack" and len(parts) == 3:
                rack = self._rack_index.get(parts[1])
                name = f"rack:{parts[2]}"
            elif parts[0] == "facility" and len(parts) == 2:
                rack, name = 0, f"facility:{parts[1]}"
            elif parts[0] == "loop" and len(parts) == 3 and parts[2] == "heat_kw":
                self._loop_columns[parts[1]] = column
                continue
            else:
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
            if cols is not None:
                facility[name] = float(values[cols[0][0]])
        util = self._columns.get("gpu:util_pct")
        if util is not None:
            facility["gpus_busy"] = float(np.sum(values[util[0]] > self.BUSY_UTIL_PCT))
            facility["gpus"] = float(len(util[0]))
        loops = {loop_id: float(values[c]) for loop_id, c in self._loop_columns.items()}
        return LiveFigures(rack_values, facility, loops)


GPU_DETAIL_QUANTITIES = ("util_pct", "power_w", "temp_c")


class RackHistory:
    """Recent per-GPU readings of one rack, kept from frames, for the rack detail's curves.

    Frames carry only the latest value of each series; the detail view needs a minute of
    history for the one rack on screen, so it keeps its own small ring (``capacity`` frames)
    rather than asking the backend for windows of every GPU.
    """

    def __init__(self, rack_id: str, capacity: int = 240):
        self.rack_id = rack_id
        self.capacity = capacity
        self._keys: list[str] | None = None
        self._columns: dict[str, np.ndarray] = {}
        self._times_s = np.full(capacity, np.nan)
        self._values: dict[str, np.ndarray] = {}
        self._written = 0

    def _map_keys(self, keys: list[str]) -> None:
        prefix = f"gpu/{self.rack_id}/"
        found: dict[str, dict[int, int]] = {q: {} for q in GPU_DETAIL_QUANTITIES}
        for column, key in enumerate(keys):
            if key.startswith(prefix):
                _, _, index, quantity = key.split("/")
                if quantity in found and index.isdigit():
                    found[quantity][int(index)] = column
        gpus = max((len(by_index) for by_index in found.values()), default=0)
        self._columns = {
            q: np.array([by_index.get(i, -1) for i in range(gpus)], dtype=np.int64)
            for q, by_index in found.items()
        }
        self._values = {q: np.full((self.capacity, gpus), np.nan, np.float32) for q in found}
        self._written = 0  # new series appeared: the columns moved, so history starts over
        self._keys = keys

    def add(self, keys: list[str], time_s: float, values: np.ndarray) -> None:
        if keys is not self._keys and keys != self._keys:
            self._map_keys(keys)
        slot = self._written % self.capacity
        self._times_s[slot] = time_s
        for quantity, columns in self._columns.items():
            row = values[np.maximum(columns, 0)].astype(np.float32)
            row[columns < 0] = np.nan
            self._values[quantity][slot] = row
        self._written += 1

    @property
    def gpu_count(self) -> int:
        return len(self._columns.get("util_pct", ()))

    def series(self, quantity: str) -> tuple[np.ndarray, np.ndarray]:
        """(times in seconds before the newest frame, values per frame and GPU), oldest first."""
        count = min(self._written, self.capacity)
        order = (np.arange(count) + self._written - count) % self.capacity
        times = self._times_s[order]
        ago = times - times[-1] if count else times
        return ago, self._values.get(quantity, np.empty((0, 0), np.float32))[order]
