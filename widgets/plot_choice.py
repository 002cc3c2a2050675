"""What the Run view's time plots show: which curves, under which title, read from which series.

A plot stays readable and quick to redraw only up to a few dozen curves, and a hall has up to
thousands of racks and hundreds of loops, so the curves are chosen: the GPU plot shows at most
``MAX_CURVES`` racks, rows or halls (or ``MAX_GPU_CURVES`` GPUs of the selected rack), and the
loop, coolant and flow plots at most ``MAX_LOOP_CURVES`` loops and their CDUs, the ones nearest
their CDU's capacity. Each title says what is left out.

Kept apart from the drawing, and free of Qt (an import-linter contract keeps it so), so what is
plotted can be reasoned about and tested without a display.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from factoryfloor.backend.telemetry.history import GPU_QUANTITIES, LiveHistory
from factoryfloor.backend.telemetry.live_figures import loops_nearest_capacity
from factoryfloor.backend.telemetry.series import entity_key, facility_key, mean_key

MAX_CURVES = 64
"""Most curves one plot draws per group kind (racks, rows, halls)."""
MAX_GPU_CURVES = 72
"""Most per-GPU curves: one GB200 NVL72 rack in full (72 curves draw as fast as 64)."""
MAX_LOOP_CURVES = 16
"""Most loops plotted (with their CDUs' coolant and flow): past this many, the loops nearest
their CDU's capacity, which is the headroom an operator watches."""
LOOP_CHOICE_HOLD_S = 10.0
"""The loops plotted are chosen again at most this often (curves that change owner every
frame cannot be read), except that a loop over its CDU's capacity is plotted at once."""

PER_CHOICES = (("Hall", "hall"), ("Row", "row"), ("Rack", "rack"), ("GPU", "gpu"))
"""The "per" combo: label -> how GPU readings are grouped ("gpu": the selected rack's GPUs)."""
GROUP_NOUNS = {"rack": "racks", "row": "rows", "hall": "halls", "gpu": "GPUs"}

FACILITY_TOKENS_KEY = facility_key("tokens_per_s")
FACILITY_TOKENS_PER_J_KEY = facility_key("tokens_per_j")


def window_label(span_s: float) -> str:
    """The window combo's wording for a span: "1 min", "15 min", "1 h", "24 h"."""
    if span_s < 3600:
        return f"{span_s / 60:g} min"
    return f"{span_s / 3600:g} h"


def format_value(value: float, unit: str) -> str:
    """A reading for the crosshair readout: precision that suits the magnitude, with its unit
    (``n/a`` for a missing reading)."""
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}"


@dataclass(frozen=True, slots=True)
class Curves:
    """A plot's curves: the readout name of each, and the series key it is read from (same
    order)."""

    names: tuple[str, ...]
    keys: tuple[str, ...]


EFFICIENCY_CURVES = Curves(("facility",), (FACILITY_TOKENS_PER_J_KEY,))


def token_curves(rack_id: str | None) -> Curves:
    """The facility's tokens/s, and the selected rack's when one is selected."""
    if not rack_id:
        return Curves(("facility",), (FACILITY_TOKENS_KEY,))
    return Curves(("facility", f"rack {rack_id}"),
                  (FACILITY_TOKENS_KEY, entity_key("rack", rack_id, "tokens_per_s")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class GpuCurves:
    """The GPU plot's curves for a quantity, a grouping ("per") and the selected rack."""

    names: tuple[str, ...]
    keys: tuple[str, ...]
    """Series key of each curve's group mean; empty per GPU (those read ``gpu_rows``)."""
    gpu_rows: tuple[int, ...] | None
    """History rows of the selected rack's GPUs per GPU; None when grouped."""
    pinned: int
    """The selected rack's curve (per rack), drawn on top and listed first; -1 for none."""
    title: str
    unit: str


def choose_gpu_curves(history: LiveHistory | None, quantity: str, per: str,
                      rack_id: str | None) -> GpuCurves:  # fmt: skip
    """The GPU plot's curves: per "gpu" the selected rack's GPUs (the first
    ``MAX_GPU_CURVES``); per "rack", "row" or "hall" the first ``MAX_CURVES`` groups' means,
    with the selected rack always among them (last, when it is beyond the first ones)."""
    label, unit = GPU_QUANTITIES[quantity]
    if per == "gpu":
        rows = list(history.rows_of_rack.get(rack_id or "", ())) if history else []
        rows_shown = rows[:MAX_GPU_CURVES]
        if rack_id is None:
            title = f"{label} per GPU: select a rack on the plan"
        else:
            title = f"{label} per GPU of rack {rack_id}"
        if len(rows_shown) < len(rows):
            title += f" · {len(rows_shown)} of {len(rows)} GPUs"
        names = tuple(f"GPU {i}" for i in range(len(rows_shown)))
        return GpuCurves(names, (), tuple(rows_shown), -1, title, unit)
    groups = history.group_names(per) if history is not None else []
    shown = groups[:MAX_CURVES]
    if rack_id in groups and rack_id not in shown:
        shown[-1] = rack_id
    pinned = shown.index(rack_id) if per == "rack" and rack_id in shown else -1
    title = f"{label}, hall mean" if per == "hall" else f"{label}, mean per {per}"
    if len(shown) < len(groups):
        title += f" · {len(shown)} of {len(groups)} {GROUP_NOUNS[per]} (Row or Hall: all)"
    keys = tuple(mean_key(per, name, quantity) for name in shown)
    return GpuCurves(tuple(shown), keys, None, pinned, title, unit)


class CduOfLoop(NamedTuple):
    """The CDU a loop rejects its heat through, and how much that CDU can reject."""

    cdu_id: str
    capacity_kw: float


class LoopChoice:
    """The loops the heat, coolant and flow plots show, and their CDUs.

    Up to ``most`` loops, every loop, in design order. Past it, the ``most`` loops nearest their
    CDU's capacity (``loops_nearest_capacity``; the first ``most`` until ``follow`` has had
    readings), chosen again at most every ``hold_s`` of history time, except that a loop over
    capacity that is not plotted is brought in at once: curves that change owner every frame
    cannot be read, but an overload must show.
    """

    def __init__(self, loop_capacities: Mapping[str, tuple[str, float]],
                 most: int = MAX_LOOP_CURVES, hold_s: float = LOOP_CHOICE_HOLD_S):  # fmt: skip
        """``loop_capacities``: loop id -> (CDU id, CDU capacity in kW), in design order."""
        self.capacities = {loop: CduOfLoop(*cdu) for loop, cdu in loop_capacities.items()}
        self.most = most
        self.hold_s = hold_s
        self.heat_keys = [entity_key("loop", loop, "heat_kw") for loop in self.capacities]
        """Every loop's heat series, in design order: the readings ``follow`` chooses by."""
        self._capacity_kw = {loop: cdu.capacity_kw for loop, cdu in self.capacities.items()}
        self.plotted: list[str] = list(self.capacities)[:most]
        """The loops plotted, in design order."""
        self._chosen_s = -math.inf

    @property
    def chooses(self) -> bool:
        """More loops than are plotted: ``follow`` has a choice to make."""
        return len(self.capacities) > self.most

    def follow(self, heat_kw: Mapping[str, float], now_s: float) -> bool:
        """Choose the loops again by the newest ``heat_kw`` readings (loop id -> kW) at history
        time ``now_s``, if the hold is over or a loop not plotted is over capacity. A plotted
        loop keeps its place through near-ties. True when the loops plotted changed."""
        if not self.chooses:
            return False
        hidden = (loop for loop in self.capacities if loop not in self.plotted)
        over = any(heat_kw.get(loop, math.nan) > self._capacity_kw[loop] for loop in hidden)
        if not over and now_s - self._chosen_s < self.hold_s:
            return False
        self._chosen_s = now_s
        chosen = loops_nearest_capacity(heat_kw, self._capacity_kw, self.most, self.plotted)
        if chosen == self.plotted:
            return False
        self.plotted = chosen
        return True

    @property
    def cdus(self) -> list[str]:
        """The plotted loops' CDUs, each once, in the loops' order."""
        return list(dict.fromkeys(self.capacities[loop].cdu_id for loop in self.plotted))

    @property
    def note(self) -> str:
        """What the loop plots' titles add when loops are left out."""
        if len(self.plotted) == len(self.capacities):
            return ""
        return f" · {len(self.plotted)} of {len(self.capacities)} loops, nearest capacity"

    def curves(self) -> dict[str, Curves]:
        """The heat plot's curves (a loop each), the coolant plot's (a CDU's supply and return
        each) and the flow plot's (a CDU each)."""
        ends = [(cdu, end) for cdu in self.cdus for end in ("supply", "return")]
        return {
            "heat": Curves(tuple(self.plotted),
                           tuple(entity_key("loop", lp, "heat_kw") for lp in self.plotted)),
            "coolant": Curves(tuple(f"{cdu} {end}" for cdu, end in ends),
                              tuple(entity_key("cdu", cdu, f"{end}_temp_c") for cdu, end in ends)),
            "flow": Curves(tuple(self.cdus),
                           tuple(entity_key("cdu", cdu, "flow_lpm") for cdu in self.cdus)),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """The series keys a redraw reads, in one ``series_window`` call, and which of the columns
    read go to which plot."""

    keys: tuple[str, ...]
    columns: dict[str, slice]
    """Plot key -> its curves' columns among ``keys``."""

    @classmethod
    def of(cls, keys_per_plot: Mapping[str, Sequence[str]]) -> SeriesPlan:
        keys: list[str] = []
        columns: dict[str, slice] = {}
        for plot_key, plot_keys in keys_per_plot.items():
            columns[plot_key] = slice(len(keys), len(keys) + len(plot_keys))
            keys.extend(plot_keys)
        return cls(tuple(keys), columns)


def plan_series(gpu: GpuCurves, loops: LoopChoice, rack_id: str | None) -> SeriesPlan:
    """Every series a redraw reads from the history's series: the GPU plot's group means
    (per GPU its curves are read from the per-GPU history instead), the loops' and CDUs', the
    tokens' and the efficiency's."""
    keys_per_plot: dict[str, Sequence[str]] = {}
    if gpu.gpu_rows is None:
        keys_per_plot["gpu"] = gpu.keys
    keys_per_plot.update({key: curves.keys for key, curves in loops.curves().items()})
    keys_per_plot["tokens"] = token_curves(rack_id).keys
    keys_per_plot["efficiency"] = EFFICIENCY_CURVES.keys
    return SeriesPlan.of(keys_per_plot)
