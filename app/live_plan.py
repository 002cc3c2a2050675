"""The plan in Run mode: one frame's live colours, labels and hover lines, and each loop and
feed measured against its designed figure.

In Run the plan shows live state only: racks and loops coloured by readings, CDUs and feeds
labelled with their live share of capacity, outlines only from alarms. The design is still
there, on hover ("design: ...") and as the yardstick each loop and feed is measured against.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from PySide6.QtGui import QColor

from factoryfloor.backend.design.figures import DesignFigures
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.flex.messages import FeedGridView
from factoryfloor.backend.telemetry.against_design import AgainstDesign, against_design
from factoryfloor.backend.telemetry.live_figures import LiveFigures
from factoryfloor.widgets.floor_plan import FloorPlanScene
from factoryfloor.widgets.status_colours import utilisation_colour


class LoopCapacity(NamedTuple):
    cdu_id: str
    capacity_kw: float


def rack_power_line(bms_kw: float, gpus_kw: float) -> str | None:
    """What a rack's tooltip says of its power: both readings where both exist, so a BMS meter
    and the GPUs' own figures can be checked against each other (the rack also powers hosts,
    network and fans, so its meter reads above its GPUs)."""
    parts = []
    if math.isfinite(bms_kw):
        parts.append(f"rack power (BMS) {bms_kw:,.1f} kW")
    if math.isfinite(gpus_kw):
        parts.append(f"GPUs {gpus_kw:,.1f} kW")
    return ", ".join(parts) or None


class LiveLines(Mapping[str, list[str]]):
    """Each item's live hover lines for one frame. A rack's are built when it is hovered, not
    per frame: a 2,000-rack hall would otherwise format 2,000 tooltips a frame for none."""

    def __init__(self, live: LiveFigures, rack_index: dict[str, int], label: str, unit: str,
                 others: dict[str, list[str]]):  # fmt: skip
        self._live, self._rack_index = live, rack_index
        self._label, self._unit = label, unit
        self._others = others

    def __getitem__(self, entity_id: str) -> list[str]:
        if entity_id in self._others:
            return self._others[entity_id]
        index = self._rack_index[entity_id]  # KeyError: neither a rack nor a live entity
        lines = []
        value = self._live.rack_values.get(entity_id)
        if value is not None:
            lines.append(f"{self._label} {value:,.3g} {self._unit}")
        power = self._live.rack_power
        power_line = rack_power_line(float(power.bms_kw[index]), float(power.gpus_kw[index]))
        if power_line is not None:
            lines.append(power_line)
        return lines or ["no live reading"]

    def __iter__(self) -> Iterator[str]:
        yield from self._others
        yield from (r for r in self._rack_index if r not in self._others)

    def __len__(self) -> int:
        return len(self._others.keys() | self._rack_index.keys())


class LivePlan:
    """What the plan shows of each frame, for one running design."""

    def __init__(self, design: Design, figures: DesignFigures):
        cdus = {c.id: c for c in design.cdus}
        self.loop_capacity = {lp.id: LoopCapacity(lp.cdu_id, cdus[lp.cdu_id].capacity_kw)
                              for lp in design.loops}  # fmt: skip
        """By loop id; fixed while running (editing is off in Run)."""
        self.feed_capacity_kw = {feed.id: feed.capacity_kw for feed in design.feeds}
        self.near = design.assumptions.near_capacity_fraction
        self.designed_loop_kw = {loop_id: lf.heat_kw for loop_id, lf in figures.loops.items()}
        self.designed_feed_kw = {feed_id: ff.load_kw for feed_id, ff in figures.feeds.items()}
        self.rack_index = {rack.id: i for i, rack in enumerate(design.racks)}
        self.grid_feeds: dict[str, FeedGridView] = {}
        """Each feed's grid load target as the service last told (DSX Flex)."""

    def comparisons(self, live: LiveFigures) -> dict[str, AgainstDesign]:
        """Each loop's heat and each feed's load with a reading, against the design's."""
        return {**against_design(live.loop_heat_kw, self.designed_loop_kw),
                **against_design(live.feed_load_kw, self.designed_feed_kw)}  # fmt: skip

    def show(self, scene: FloorPlanScene, live: LiveFigures, rack_colours: dict[str, QColor],
             label: str, unit: str) -> None:  # fmt: skip
        """One frame on the plan; ``label`` and ``unit`` name the quantity racks are coloured
        by, for their tooltips."""
        capacity = self.loop_capacity
        loop_colours = {
            loop_id: utilisation_colour(heat_kw / capacity[loop_id].capacity_kw, self.near)
            for loop_id, heat_kw in live.loop_heat_kw.items() if loop_id in capacity
        }  # fmt: skip
        comparisons = self.comparisons(live)
        others: dict[str, list[str]] = {}
        power_kw = live.rack_power.measured_kw.tolist()
        labels = {rack_id: [rack_id, "n/a" if math.isnan(kw) else f"{kw:.0f} kW"]
                  for rack_id, kw in zip(self.rack_index, power_kw, strict=True)}  # fmt: skip
        for loop_id, (cdu_id, capacity_kw) in capacity.items():
            heat_kw = live.loop_heat_kw.get(loop_id)
            labels[cdu_id] = [cdu_id, share(heat_kw, capacity_kw)]
            if heat_kw is None:
                continue
            heat = f"live heat {heat_kw:,.1f} kW of {capacity_kw:,.0f} kW"
            others[cdu_id] = [heat]
            others[loop_id] = [heat, *_sentence(comparisons, loop_id)]
        for feed_id, capacity_kw in self.feed_capacity_kw.items():
            load_kw = live.feed_load_kw.get(feed_id)
            labels[feed_id] = [feed_id, share(load_kw, capacity_kw)]
            if load_kw is None:
                others[feed_id] = ["no live load: not every rack on it reports power"]
            else:
                others[feed_id] = [f"live load {load_kw:,.1f} kW of {capacity_kw:,.0f} kW"]
                others[feed_id] += _sentence(comparisons, feed_id)
            grid = self.grid_feeds.get(feed_id)
            if grid is not None and grid.target_w is not None:
                labels[feed_id].append(grid_label(grid))
                others[feed_id].append(grid_sentence(grid))
        scene.show_live(rack_colours, loop_colours,
                        LiveLines(live, self.rack_index, label, unit, others))  # fmt: skip
        scene.show_live_lines(labels)
        scene.show_against_design(comparisons)


def grid_label(feed: FeedGridView) -> str:
    """A feed's grid target on the plan: "grid ≤ 1,200 kW ✓" within it, "✗" over it."""
    mark = "" if feed.compliant is None else (" ✓" if feed.compliant else " ✗ over")
    return f"grid ≤ {feed.target_w / 1000:,.0f} kW{mark}"


def grid_sentence(feed: FeedGridView) -> str:
    until = ("until replaced" if feed.end_s is None
             else time.strftime("until %H:%M", time.localtime(feed.end_s)))  # fmt: skip
    text = f"grid load target {feed.target_w / 1000:,.0f} kW {until}"
    if feed.applied:
        return text + f"; capped by {feed.applied_by}"
    if feed.tokens_lost_per_s is not None:
        text += (f"; meeting it costs {feed.tokens_lost_per_s:,.0f} tok/s "
                 f"(uniform caps: {feed.uniform_tokens_lost_per_s or 0:,.0f})")  # fmt: skip
    return text


def share(value: float | None, capacity: float) -> str:
    """A live figure as a share of capacity for a label: "78%", or "n/a" with no reading."""
    return "n/a" if value is None else f"{value / capacity:.0%}"


def _sentence(comparisons: dict[str, AgainstDesign], entity_id: str) -> list[str]:
    comparison = comparisons.get(entity_id)
    if comparison is None:
        return []
    flag = " (off design)" if comparison.off_design else ""
    return [comparison.sentence() + flag]
