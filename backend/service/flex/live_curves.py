"""Each rack's power curve where it stands now: the model's curve (or a measured one, where the
tuner measured the rack) passed through the rack's present GPU power, tokens/s and limit.

A plan built on the curve alone would shed from a load the rack may not carry: a rack at half
traffic draws half, and capping it at the curve's knee saves nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.control.scope import rack_gpus
from factoryfloor.backend.service.power.curves import PowerCurve
from factoryfloor.backend.telemetry.series import entity_key, gpu_key
from factoryfloor.backend.telemetry.store import Snapshot


class LiveCurves:
    """Curves of a design's racks matched to a snapshot (``of``), for the racks asked."""

    def __init__(self, design: Design, curves: Sequence[PowerCurve]) -> None:
        self.design = design
        self.curves = {c.group: c for c in curves}
        self.measured: dict[str, PowerCurve] = {}
        """Curves the tuner measured, by rack: preferred over the model's."""
        self._gpu_keys = {r.id: [gpu_key(g.node, g.index, "power_w") for g in rack_gpus(r)]
                          for r in design.racks}  # fmt: skip
        self._column: dict[str, int] = {}
        self._keys_seen = 0

    def _columns(self, snapshot: Snapshot) -> dict[str, int]:
        if len(snapshot.keys) != self._keys_seen:
            self._column = {str(k): i for i, k in enumerate(snapshot.keys.tolist())}
            self._keys_seen = len(snapshot.keys)
        return self._column

    def rack_state(self, snapshot: Snapshot, rack_id: str) -> tuple[float, float, float] | None:
        """(GPU power W, tokens/s, per-GPU limit W) of a rack now; None without readings."""
        column = self._columns(snapshot)
        keys = self._gpu_keys.get(rack_id, [])
        power = [column[k] for k in keys if k in column]
        limit = [column[k.removesuffix("power_w") + "power_limit_w"] for k in keys
                 if k.removesuffix("power_w") + "power_limit_w" in column]  # fmt: skip
        tokens = column.get(entity_key("rack", rack_id, "tokens_per_s"))
        if not power or tokens is None:
            return None
        values = snapshot.values
        power_w = float(np.nansum(values[power]))
        limits = values[limit] if limit else np.empty(0)
        limit_w = (
            float(np.nanmedian(limits)) if len(limits) and np.isfinite(limits).any() else math.nan
        )
        return power_w, float(values[tokens]), limit_w

    def rack_power_w(self, snapshot: Snapshot, rack_id: str) -> float | None:
        """A rack's whole power now: its BMS reading where it has one, else its GPUs' sum (as
        the window's live figures count it); None without either."""
        column = self._columns(snapshot).get(entity_key("rack", rack_id, "power_kw"))
        if column is not None and np.isfinite(snapshot.values[column]):
            return float(snapshot.values[column]) * 1000.0
        state = self.rack_state(snapshot, rack_id)
        return None if state is None else state[0]

    def of(self, snapshot: Snapshot, rack_ids: Sequence[str]) -> Mapping[str, PowerCurve]:
        """The racks' curves through what they measure now; racks with neither a curve nor
        readings are left out (nothing is known to plan with)."""
        found: dict[str, PowerCurve] = {}
        for rack_id in rack_ids:
            curve = self.measured.get(rack_id) or self.curves.get(rack_id)
            state = self.rack_state(snapshot, rack_id)
            if curve is None or state is None:
                continue
            power_w, tokens_per_s, limit_w = state
            at_w = limit_w if np.isfinite(limit_w) else float(curve.limit_w[-1])
            found[rack_id] = curve.matched(at_w, power_w, tokens_per_s)
        return found
