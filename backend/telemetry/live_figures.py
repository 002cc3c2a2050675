"""Live per-rack and facility figures from a frame of latest readings, for the Run view.

Maps series keys to columns once per key list (a frame's keys only change when series are
added), then each frame is a few numpy gathers and ``bincount``s, so colouring a 16,000-GPU
hall costs well under a millisecond per frame.

A rack's measured power follows one rule: its BMS ``RackPower`` reading where it has one,
because that meters the whole rack (GPUs, hosts, network, fans), which is what the design's
rack IT power counts; else the sum of its GPUs' own power (NVML), which leaves the rest of the
rack out and so reads low. Rack colours, feed loads, tokens per joule and, where no source
publishes a facility figure, IT power all use it; the rack tooltip shows both readings.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from factoryfloor.backend.design.figures import compute_figures
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.telemetry.placement import GpuPlacement
from factoryfloor.backend.telemetry.series import (
    EntitySeries,
    FacilitySeries,
    GpuSeries,
    facility_model_key,
    new_keys_start,
    parse,
)

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
class RackPower:
    """Both measurements of every rack's power, in ``LiveAggregator.rack_ids`` order (NaN:
    no reading), and the one the figures use (see the module's rule)."""

    bms_kw: np.ndarray
    """The BMS ``RackPower`` reading (``rack/{id}/power_kw``)."""
    gpus_kw: np.ndarray
    """The sum of the rack's GPUs' own power readings."""

    @property
    def measured_kw(self) -> np.ndarray:
        return np.where(np.isfinite(self.bms_kw), self.bms_kw, self.gpus_kw)


@dataclass(frozen=True, slots=True)
class LiveFigures:
    rack_values: dict[str, float]
    """Rack id -> value of the chosen quantity (racks with no reading are left out)."""
    facility: dict[str, float]
    """Facility figures by quantity (it_power_kw, tokens_per_s, tokens_per_j, gpus_busy,
    and it_power_racks with racks where IT power is summed from the racks), and per model
    under its series key (``facility/model/{model}/tokens_per_s`` and ``.../tokens_per_j``):
    figures of different models are never added. Figures with no reading are left out."""
    loop_heat_kw: dict[str, float]
    """Measured heat load of each loop (loops with no reading are left out)."""
    feed_load_kw: dict[str, float]
    """Measured load of each feed, the sum of its racks' measured power (feeds with a rack
    that has no reading are left out: a partial sum would read as a lightly loaded feed)."""
    rack_power: RackPower


class LiveAggregator:
    BUSY_UTIL_PCT = 50.0
    """A GPU counts as busy above this utilisation."""

    def __init__(self, design: Design):
        self.rack_ids = [rack.id for rack in design.racks]
        self._rack_index = {rack_id: i for i, rack_id in enumerate(self.rack_ids)}
        self._placement = GpuPlacement(design)
        self._keys: list[str] | None = None
        self._columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._column_lists: dict[str, tuple[list[int], list[int]]] = {}
        """``_columns`` as they grow, key by key."""
        self._loop_columns: dict[str, int] = {}
        self._model_columns: dict[str, int] = {}
        self.feed_ids = [feed.id for feed in design.feeds]
        feed_index = {feed_id: i for i, feed_id in enumerate(self.feed_ids)}
        self._rack_feed = np.array([feed_index.get(r.feed_id or "", -1) for r in design.racks],
                                   dtype=np.intp)  # fmt: skip
        self._on_feed = self._rack_feed >= 0
        self._feed_racks = np.bincount(self._rack_feed[self._on_feed], minlength=len(self.feed_ids))
        workloads: dict[str, list[int]] = {}
        for i, rack in enumerate(compute_figures(design).racks.values()):
            workloads.setdefault(rack.workload, []).append(i)
        self._workload_racks = {name: np.array(racks) for name, racks in workloads.items()}
        """Racks serving each workload, by the name a model's token series carries."""

    def _map_keys(self, keys: list[str]) -> None:
        """Column and rack index of every series each quantity is computed from; only the keys
        new since the last mapping are read (``new_keys_start``)."""
        start = new_keys_start(self._keys, keys)
        if start == 0:
            self._column_lists.clear()
            self._loop_columns, self._model_columns = {}, {}
        columns = self._column_lists
        for column, key in enumerate(keys[start:], start):
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
                case FacilitySeries("tokens_per_s", model) if model is not None:
                    self._model_columns[model] = column
                    continue
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

    def _per_rack(self, values: np.ndarray, name: str, mean: bool = True) -> np.ndarray | None:
        """The mean (or sum) per rack of the series ``name``; NaN for a rack with no reading."""
        if name not in self._columns:
            return None
        cols, racks = self._columns[name]
        picked = values[cols].astype(np.float64)
        valid = np.isfinite(picked)
        sums = np.bincount(racks[valid], picked[valid], len(self.rack_ids))
        counts = np.bincount(racks[valid], minlength=len(self.rack_ids))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / counts if mean else sums, np.nan)

    def _rack_power(self, values: np.ndarray) -> RackPower:
        none = np.full(len(self.rack_ids), np.nan)
        bms = self._per_rack(values, "rack:power_kw")
        gpus_w = self._per_rack(values, "gpu:power_w", mean=False)
        return RackPower(none if bms is None else bms,
                         none if gpus_w is None else gpus_w / 1000.0)  # fmt: skip

    def _feed_loads(self, measured_kw: np.ndarray) -> dict[str, float]:
        on_feed = self._on_feed
        power, feeds = measured_kw[on_feed], self._rack_feed[on_feed]
        read = np.isfinite(power)
        n = len(self.feed_ids)
        loads = np.bincount(feeds[read], power[read], n)
        reporting = np.bincount(feeds[read], minlength=n)
        whole = (reporting == self._feed_racks) & (self._feed_racks > 0)
        return {self.feed_ids[i]: float(loads[i]) for i in np.flatnonzero(whole)}

    def _model_figures(self, values: np.ndarray, measured_kw: np.ndarray) -> dict[str, float]:
        """Tokens/s of each model and, where every rack serving it has a power reading,
        tokens per joule over those racks."""
        figures = {}
        for model, column in self._model_columns.items():
            tokens = float(values[column])
            if not math.isfinite(tokens):
                continue
            figures[facility_model_key(model, "tokens_per_s")] = tokens
            racks = self._workload_racks.get(model)
            power_kw = None if racks is None else measured_kw[racks]
            if power_kw is not None and np.isfinite(power_kw).all() and power_kw.sum() > 0:
                figures[facility_model_key(model, "tokens_per_j")] = tokens / (
                    float(power_kw.sum()) * 1000.0
                )
        return figures

    def update(self, keys: list[str], values: np.ndarray, quantity: str) -> LiveFigures:
        if keys is not self._keys and keys != self._keys:
            self._map_keys(keys)
        rack_power = self._rack_power(values)
        measured_kw = rack_power.measured_kw
        if quantity in ("util_pct", "temp_c"):
            per_rack = self._per_rack(values, f"gpu:{quantity}")
        elif quantity == "power_kw":
            per_rack = measured_kw
        elif quantity == "tokens_per_j":
            tokens = self._per_rack(values, "rack:tokens_per_s")
            with np.errstate(divide="ignore", invalid="ignore"):  # no power: no figure
                per_rack = None if tokens is None else tokens / (measured_kw * 1000.0)
        else:
            per_rack = self._per_rack(values, f"rack:{quantity}")
        rack_values = {} if per_rack is None else {
            rack_id: float(v) for rack_id, v in zip(self.rack_ids, per_rack, strict=True)
            if np.isfinite(v)
        }  # fmt: skip
        facility = {}
        for name in FACILITY_KEYS:
            cols = self._columns.get(f"facility:{name}")
            if cols is not None and np.isfinite(values[cols[0][0]]):  # NaN: no reading
                facility[name] = float(values[cols[0][0]])
        metered = np.isfinite(measured_kw)
        if "it_power_kw" not in facility and metered.any():  # no facility meter: the racks
            facility["it_power_kw"] = float(measured_kw[metered].sum())
            facility["it_power_racks"] = float(metered.sum())
            facility["racks"] = float(len(self.rack_ids))
        facility.update(self._model_figures(values, measured_kw))
        util = self._columns.get("gpu:util_pct")
        if util is not None and np.isfinite(values[util[0]]).any():
            facility["gpus_busy"] = float(np.sum(values[util[0]] > self.BUSY_UTIL_PCT))
            facility["gpus"] = float(len(util[0]))
        loops = {loop_id: float(values[c]) for loop_id, c in self._loop_columns.items()
                 if np.isfinite(values[c])}  # fmt: skip
        return LiveFigures(rack_values, facility, loops, self._feed_loads(measured_kw), rack_power)


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
