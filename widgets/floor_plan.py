"""The floor plan: a to-scale drawing of the hall (scene units are metres) and its view.

The scene mirrors a :class:`~factoryfloor.backend.design.model.Design` and its figures; it
never changes the model.
The view zooms around the cursor, pans by dragging, fits the hall, and draws a grid and a scale
bar in metres.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QWidget

from factoryfloor.backend.design.figures import DesignFigures
from factoryfloor.backend.design.model import Cdu, CoolingLoop, Design, PowerFeed, Rack
from factoryfloor.backend.design.report import fmt, fmt_pct
from factoryfloor.backend.telemetry.against_design import AgainstDesign
from factoryfloor.widgets.plan_items import (
    LABEL_FONT,
    EquipmentItem,
    EquipmentKind,
    LoopItem,
    PlanNote,
    RackItem,
    cosmetic_pen,
)
from factoryfloor.widgets.status_colours import NEAR, OK, OVER, utilisation_colour

LIQUID_RACK_FILL = QColor("#9ec5e8")
AIR_RACK_FILL = QColor("#d5d9de")
CDU_FILL = QColor("#7fcdbb")
FEED_FILL = QColor("#ffd54f")
FLOOR_FILL = QColor("#ffffff")
OUTSIDE_FILL = QColor("#e9ecef")
FEED_WIDTH_M = 0.6
FEED_DEPTH_M = 1.2
NO_READING_FILL = QColor("#eceff1")
FEED_NOTE_ROOM_M = 4.0
"""Feeds stand apart at the hall's edge: a note under one may be as wide as 4 m of plan."""
NO_READING_LOOP = QColor("#b0bec5")
"""Run mode: a loop with no live heat reading (its design colour would read as live)."""


class LegendEntry(NamedTuple):
    label: str
    colour: QColor
    is_line: bool
    """Drawn as a stroke of pipe (loops) rather than a filled swatch (equipment)."""


LEGEND = [
    LegendEntry("Liquid-cooled rack", LIQUID_RACK_FILL, False),
    LegendEntry("Air-cooled rack", AIR_RACK_FILL, False),
    LegendEntry("CDU", CDU_FILL, False),
    LegendEntry("Power feed", FEED_FILL, False),
    LegendEntry("Loop: OK", OK, True),
    LegendEntry("near capacity", NEAR, True),
    LegendEntry("over capacity", OVER, True),
]


class Styling(NamedTuple):
    """What the scene's items were last styled with, so a refresh restyles only changes."""

    status_by_id: dict[str, str]
    figures: DesignFigures


def rack_lines(rack: Rack) -> list[str]:
    """A rack's label in Design: its id and design IT power."""
    return [rack.id, f"{rack.it_power_kw:.0f} kW"]


class EntityIndex:
    """The design's entities by id, built once per refresh, and the item each one is drawn as."""

    def __init__(self, design: Design):
        self.entities: dict[str, Rack | Cdu | PowerFeed | CoolingLoop] = {}
        self.racks_on_loop: dict[str, dict[str, tuple[float, float]]] = {}
        for loop in design.loops:  # loops first: drawn under the equipment
            self.entities[loop.id] = loop
            self.racks_on_loop[loop.id] = {}
        for section in (design.cdus, design.racks, design.feeds):
            for entity in section:
                self.entities[entity.id] = entity
        for rack in design.racks:
            if rack.loop_id in self.racks_on_loop:
                self.racks_on_loop[rack.loop_id][rack.id] = (rack.x_m, rack.y_m)

    def make_item(self, entity_id: str) -> EquipmentItem | LoopItem | None:
        entity = self.entities.get(entity_id)
        if isinstance(entity, Rack):
            fill = LIQUID_RACK_FILL if entity.liquid_fraction > 0 else AIR_RACK_FILL
            return RackItem(
                EquipmentKind.RACK, entity.id, entity.x_m, entity.y_m, entity.width_m,
                entity.depth_m, entity.rotation_deg, fill, rack_lines(entity),
            )  # fmt: skip
        if isinstance(entity, CoolingLoop):
            return LoopItem(entity.id, entity.route, self.racks_on_loop[entity.id], OK)
        if isinstance(entity, Cdu):
            item = EquipmentItem(
                EquipmentKind.CDU, entity.id, entity.x_m, entity.y_m, entity.width_m,
                entity.depth_m, entity.rotation_deg, CDU_FILL, [entity.id],
            )  # fmt: skip
        elif isinstance(entity, PowerFeed):
            item = EquipmentItem(
                EquipmentKind.FEED, entity.id, entity.x_m, entity.y_m, FEED_WIDTH_M,
                FEED_DEPTH_M, 0.0, FEED_FILL, [entity.id],
            )  # fmt: skip
        else:
            return None
        item.vertical_labels = True  # narrow cabinets: label along their depth
        return item


BLINK_MS = 500


@dataclass(frozen=True, slots=True)
class AlarmMark:
    """How the plan marks an item with alarms: the highest priority's colour, and whether any
    of them waits for an acknowledgement (then it blinks)."""

    colour: QColor
    unacknowledged: bool


class FloorPlanScene(QGraphicsScene):
    """Scene items for every rack, CDU, loop and feed, looked up by entity id.

    ``show_design`` builds everything; ``refresh`` rebuilds only the items an edit touched (and
    the loops whose stubs reach them), then restyles statuses and utilisation labels, so a drag
    in a 1,000-rack hall does not rebuild 1,000 items per mouse move.
    """

    entity_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.floor_rect = QRectF()
        self.items_by_id: dict[str, EquipmentItem | LoopItem] = {}
        self.design: Design | None = None
        self.figures: DesignFigures | None = None
        self.live = False
        """Run view: items show live state only (no design outlines; design figures on hover
        only, after the live ones, as "design: ...")."""
        self.live_values: Mapping[str, list[str]] = {}
        """Run view: the live lines of each item, shown on hover before the design's figures."""
        self.notes: dict[str, PlanNote] = {}
        """Run view: measured against designed, beside each loop and feed."""
        self.grid_m = 1.0
        """Spacing of the fine grid lines: the editor's snap grid, so items visibly snap to it."""
        self._styled: Styling | None = None
        self._alarm_marks: dict[str, AlarmMark] = {}
        self._blink_on = True
        self._blink = QTimer(self)
        self._blink.setInterval(BLINK_MS)
        self._blink.timeout.connect(self._toggle_blink)
        self.selectionChanged.connect(self._on_selection_changed)

    def show_design(self, design: Design, figures: DesignFigures) -> None:
        self.clear()
        self.items_by_id.clear()
        self._styled = None
        self.design, self.figures = design, figures
        self.floor_rect = QRectF(0, 0, design.floor.width_m, design.floor.depth_m)
        margin = max(design.floor.width_m, design.floor.depth_m) * 0.05
        self.setSceneRect(self.floor_rect.adjusted(-margin, -margin, margin, margin))
        index = EntityIndex(design)
        for entity_id in index.entities:
            self._rebuild(entity_id, index)
        self._restyle()

    def refresh(self, design: Design, figures: DesignFigures, touched: frozenset[str]) -> None:
        """Bring the plan up to date after an edit that changed the entities ``touched``."""
        self.design, self.figures = design, figures
        racks = {rack.id: rack for rack in design.racks}
        loops_by_cdu = {loop.cdu_id: loop.id for loop in design.loops}
        rebuild = set(touched)
        for entity_id in touched:
            rack = racks.get(entity_id)
            if rack is not None and rack.loop_id is not None:
                rebuild.add(rack.loop_id)
            if entity_id in loops_by_cdu:
                rebuild.add(loops_by_cdu[entity_id])
        # A rack unplumbed or deleted leaves a stub on its old loop: loops that drew it rebuild.
        for entity_id, item in self.items_by_id.items():
            if isinstance(item, LoopItem) and not item.rack_ids.isdisjoint(touched):
                rebuild.add(entity_id)
        selected = {item.entity_id for item in self.selectedItems()}
        self.blockSignals(True)
        index = EntityIndex(design)
        for entity_id in rebuild:
            self._rebuild(entity_id, index)
        for entity_id in selected & rebuild:
            if entity_id in self.items_by_id:
                self.items_by_id[entity_id].setSelected(True)
        self.blockSignals(False)
        self._restyle(rebuild)

    def _rebuild(self, entity_id: str, index: EntityIndex) -> None:
        old = self.items_by_id.pop(entity_id, None)
        if old is not None:
            self.removeItem(old)
        item = index.make_item(entity_id)
        if item is not None:
            self.addItem(item)
            self.items_by_id[entity_id] = item

    def _restyle(self, rebuilt: set[str] | None = None) -> None:
        """Statuses, loop colours and utilisation labels from the current figures, for the items
        rebuilt (None: all) and those whose status or loop/feed figures changed."""
        design, figures = self.design, self.figures
        assert design is not None and figures is not None
        near = design.assumptions.near_capacity_fraction
        status = _worst_status_by_entity(figures)
        previous = self._styled
        ids = set(self.items_by_id) if rebuilt is None or previous is None else set(rebuilt)
        if previous is not None and rebuilt is not None:
            old_status, old_figures = previous.status_by_id, previous.figures
            ids |= {i for i in status.keys() | old_status.keys()
                    if status.get(i) != old_status.get(i)}  # fmt: skip
            for lf in figures.loops.values():
                if lf != old_figures.loops.get(lf.loop_id):
                    ids |= {lf.loop_id, lf.cdu_id}
            ids |= {f for f, ff in figures.feeds.items() if ff != old_figures.feeds.get(f)}
        self._styled = Styling(status, figures)
        loop_by_cdu = {lf.cdu_id: lf for lf in figures.loops.values()}
        for entity_id in ids:
            item = self.items_by_id.get(entity_id)
            if item is None:
                continue
            if isinstance(item, LoopItem):
                item.set_colour(utilisation_colour(figures.loops[entity_id].utilisation, near))
                continue
            if entity_id in loop_by_cdu:
                lf = loop_by_cdu[entity_id]
                item.set_lines([entity_id, fmt_pct(lf.heat_utilisation)])
                entity_status = status.get(lf.loop_id)
            elif entity_id in figures.feeds:
                item.set_lines([entity_id, fmt_pct(figures.feeds[entity_id].utilisation)])
                entity_status = status.get(entity_id)
            else:
                entity_status = status.get(entity_id)
            if item.status != entity_status:
                item.set_status(entity_status)

    def show_live(
        self,
        rack_colours: dict[str, QColor],
        loop_colours: dict[str, QColor],
        values: Mapping[str, list[str]],
    ) -> None:
        """Run view: racks and loops coloured by live values (grey where there is no reading);
        ``values`` are shown on hover. The design's problem outlines go: in Run an outline is
        an alarm's (``show_alarms``)."""
        if not self.live:
            self.live = True
            for item in self.items_by_id.values():
                if isinstance(item, EquipmentItem):
                    item.set_status(None)
        self.live_values = values
        for entity_id, item in self.items_by_id.items():
            if isinstance(item, RackItem):
                item.set_fill(rack_colours.get(entity_id, NO_READING_FILL))
            elif isinstance(item, LoopItem):
                item.set_colour(loop_colours.get(entity_id, NO_READING_LOOP))

    def show_against_design(self, comparisons: dict[str, AgainstDesign]) -> None:
        """Run view: beside each loop and feed its measured figure against the designed one,
        flagged where it is off design; an entity without a reading loses its note."""
        for entity_id in self.notes.keys() - comparisons.keys():
            self.removeItem(self.notes.pop(entity_id))
        for entity_id, comparison in comparisons.items():
            note = self.notes.get(entity_id)
            if note is None:
                note = self._make_note(entity_id)
                if note is None:
                    continue
                self.addItem(note)
                self.notes[entity_id] = note
            note.set_text(comparison.line(), comparison.off_design)

    def _make_note(self, entity_id: str) -> PlanNote | None:
        """A note under a feed; beside a loop's longest pipe run, on the side away from its
        racks (so it covers pipe and aisle, not the racks it serves), with room for the run
        and half a rack's depth either side."""
        item = self.items_by_id.get(entity_id)
        if isinstance(item, EquipmentItem):
            at = item.mapToScene(0.0, item.rect().bottom())
            return PlanNote(entity_id, at, below=True, room_m=FEED_NOTE_ROOM_M)
        if not isinstance(item, LoopItem) or len(item.route) < 2:
            return None
        (ax, ay), (bx, by) = max(itertools.pairwise(item.route),
                                 key=lambda seg: math.dist(*seg))  # fmt: skip
        middle = QPointF((ax + bx) / 2, (ay + by) / 2)
        racks = [self.items_by_id[r].pos().y() for r in item.rack_ids if r in self.items_by_id]
        below = not racks or sum(racks) / len(racks) <= middle.y()
        return PlanNote(entity_id, middle, below, room_m=math.dist((ax, ay), (bx, by)) + 1.2)

    def show_live_lines(self, lines: dict[str, list[str]]) -> None:
        """Run view: live label lines (a rack's measured power, a CDU's or feed's live share of
        its capacity) in place of the design's; ``clear_live`` brings the design's back."""
        for entity_id, text in lines.items():
            item = self.items_by_id.get(entity_id)
            if isinstance(item, EquipmentItem):
                item.set_lines(text)

    def show_alarms(self, marks: dict[str, AlarmMark]) -> None:
        """Run view: each alarmed item ringed in its highest alarm's priority colour, blinking
        (twice a second) while any of its alarms is unacknowledged."""
        self._alarm_marks = marks
        self._blink_on = True
        self._paint_alarms()
        if any(mark.unacknowledged for mark in marks.values()):
            self._blink.start()
        else:
            self._blink.stop()

    def _toggle_blink(self) -> None:
        self._blink_on = not self._blink_on
        self._paint_alarms()

    def _paint_alarms(self) -> None:
        for entity_id, item in self.items_by_id.items():
            if not isinstance(item, EquipmentItem):
                continue
            mark = self._alarm_marks.get(entity_id)
            shown = mark is not None and (self._blink_on or not mark.unacknowledged)
            item.set_alarm(mark.colour if shown else None)

    def clear_live(self) -> None:
        """Back to the design view's colours, labels and outlines."""
        self.live = False
        self.live_values = {}
        self.show_against_design({})
        self.show_alarms({})
        for rack in self.design.racks if self.design is not None else ():
            item = self.items_by_id.get(rack.id)
            if isinstance(item, RackItem):
                item.set_fill(None)
                item.set_lines(rack_lines(rack))
        self._styled = None
        self._restyle()

    def tooltip_for(self, entity_id: str) -> str:
        """Figures of ``entity_id`` as rich text, built when hovered (figures change per edit).
        In Run the live lines come first, under what the item is, then the design's figures,
        each "design: ..."."""
        header, design_lines = self._design_tooltip(entity_id)
        if not self.live:
            return "<br>".join([header, *design_lines]) if header else ""
        live = self.live_values.get(entity_id, ["no live reading"])
        lines = [header or f"<b>{entity_id}</b>", *live]
        return "<br>".join(lines + [f"design: {line}" for line in design_lines])

    def _design_tooltip(self, entity_id: str) -> tuple[str, list[str]]:
        """The design's figures of ``entity_id``: a header and lines ("" and none if unknown)."""
        design, figures = self.design, self.figures
        if design is None or figures is None:
            return "", []
        if entity_id in figures.loops:
            lf = figures.loops[entity_id]
            return f"<b>Loop {entity_id}</b> on {lf.cdu_id} ({lf.fluid})", [
                f"heat {fmt(lf.heat_kw)} of {fmt(lf.cdu_capacity_kw)} kW "
                f"({fmt_pct(lf.heat_utilisation)})",
                f"flow {fmt(lf.flow_lpm)} of {fmt(lf.cdu_rated_flow_lpm)} L/min "
                f"({fmt_pct(lf.flow_utilisation)})",
                f"supply {fmt(lf.supply_temp_c)} C, return {fmt(lf.return_temp_c)} C",
            ]
        if entity_id in figures.racks:
            rf = figures.racks[entity_id]
            rack = next(r for r in design.racks if r.id == entity_id)
            return f"<b>{entity_id}</b>: {rf.gpu_count} x {rf.gpu_model}", [
                f"IT {fmt(rf.it_power_kw)} kW: liquid {fmt(rf.heat_to_liquid_kw)} kW, "
                f"air {fmt(rf.heat_to_air_kw)} kW",
                f"loop {rack.loop_id or '-'}, feed {rack.feed_id or '-'}",
                f"{fmt(rf.tokens_per_s, 0)} tokens/s ({rf.workload})",
            ]
        if entity_id in figures.feeds:
            ff = figures.feeds[entity_id]
            return f"<b>{entity_id}</b>: power feed", [
                f"load {fmt(ff.load_kw)} of {fmt(ff.capacity_kw)} kW "
                f"({fmt_pct(ff.utilisation)}), {len(ff.rack_ids)} racks"
            ]
        cdu = next((c for c in design.cdus if c.id == entity_id), None)
        if cdu is None:
            return "", []
        return f"<b>{cdu.id}</b>: CDU", [
            f"{fmt(cdu.capacity_kw)} kW, {fmt(cdu.rated_flow_lpm)} L/min rated, "
            f"supply {fmt(cdu.supply_temp_c)} C, {cdu.fluid}"
        ]

    def select_entity(self, entity_id: str) -> bool:
        """Select the item of ``entity_id`` alone; False if the plan has no such item."""
        item = self.items_by_id.get(entity_id)
        if item is None:
            return False
        self.clearSelection()
        item.setSelected(True)
        return True

    def select_all(self) -> None:
        for item in self.items_by_id.values():
            item.setSelected(True)

    def selected_ids(self) -> list[str]:
        return [item.entity_id for item in self.selectedItems()]

    def _on_selection_changed(self) -> None:
        selected = self.selectedItems()
        if len(selected) == 1:
            self.entity_selected.emit(selected[0].entity_id)

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, OUTSIDE_FILL)
        floor = self.floor_rect
        if floor.isEmpty():
            return
        painter.fillRect(floor, FLOOR_FILL)
        visible = rect.intersected(floor)
        scale = painter.worldTransform().m11()
        fine_m = self.grid_m if self.grid_m > 0 else 1.0
        for step_m, colour in ((fine_m, "#eef1f4"), (5.0, "#d3d9df")):
            if step_m * scale < 6:
                continue
            painter.setPen(cosmetic_pen(colour))
            x = math.ceil(visible.left() / step_m) * step_m
            while x <= visible.right():
                painter.drawLine(QPointF(x, visible.top()), QPointF(x, visible.bottom()))
                x += step_m
            y = math.ceil(visible.top() / step_m) * step_m
            while y <= visible.bottom():
                painter.drawLine(QPointF(visible.left(), y), QPointF(visible.right(), y))
                y += step_m
        painter.setPen(cosmetic_pen("#5f6b76", 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(floor)


def _worst_status_by_entity(figures: DesignFigures) -> dict[str, str]:
    worst: dict[str, str] = {}
    for problem in figures.problems:
        if problem.severity == "over" or (
            problem.severity == "near" and problem.entity_id not in worst
        ):
            worst[problem.entity_id] = problem.severity
    return worst


class FloorPlanView(QGraphicsView):
    """Zoom with the wheel around the cursor, pan by dragging, fit the hall with ``fit_hall``."""

    MIN_SCALE_PX_PER_M = 2.0
    MAX_SCALE_PX_PER_M = 2000.0

    def __init__(self, scene: FloorPlanScene, parent: QWidget | None = None):
        super().__init__(scene, parent)
        self._scene = scene
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)

    def scene(self) -> FloorPlanScene:
        """Qt's accessor, typed: a plan view shows the one scene it was built with."""
        return self._scene

    @property
    def px_per_m(self) -> float:
        return self.transform().m11()

    def fit_hall(self) -> None:
        if not self._scene.floor_rect.isEmpty():
            self.fitInView(self._scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def zoom_by(self, factor: float) -> None:
        target = min(max(self.px_per_m * factor, self.MIN_SCALE_PX_PER_M), self.MAX_SCALE_PX_PER_M)
        self.scale(target / self.px_per_m, target / self.px_per_m)

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.zoom_by(1.0015 ** event.angleDelta().y())

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """A scale bar in metres, bottom left, in screen pixels whatever the zoom."""
        painter.save()
        painter.resetTransform()
        self._draw_scale_bar(painter)
        painter.restore()

    def _draw_scale_bar(self, painter: QPainter) -> None:
        px_per_m = self.px_per_m
        if px_per_m <= 0:
            return
        length_m = _nice_length(120 / px_per_m)
        length_px = length_m * px_per_m
        x0, y0 = 16.0, self.viewport().height() - 18.0
        painter.setPen(cosmetic_pen("#263238", 2))
        painter.drawLine(QPointF(x0, y0), QPointF(x0 + length_px, y0))
        for x in (x0, x0 + length_px):
            painter.drawLine(QPointF(x, y0 - 5), QPointF(x, y0 + 2))
        painter.setFont(LABEL_FONT)
        painter.drawText(QPointF(x0, y0 - 8), f"{length_m:g} m")


def _nice_length(approx_m: float) -> float:
    """1, 2 or 5 times a power of ten, the largest not above ``approx_m``."""
    power = 10 ** math.floor(math.log10(approx_m))
    return max(step * power for step in (1, 2, 5) if step * power <= approx_m)


class PlanLegend(QWidget):
    """A one-line key to the plan's colours, under the plan so it never hides part of it."""

    SWATCH_GAP_PX = 18

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedHeight(26)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(LABEL_FONT)
        metrics = QFontMetricsF(LABEL_FONT)
        x, y = 10.0, self.height() / 2
        for label, colour, is_line in LEGEND:
            if is_line:
                painter.setPen(cosmetic_pen(colour, 4))
                painter.drawLine(QPointF(x, y), QPointF(x + 20, y))
            else:
                painter.setPen(cosmetic_pen(QColor(colour).darker(170)))
                painter.setBrush(QColor(colour))
                painter.drawRect(QRectF(x + 2, y - 6, 16, 12))
            painter.setPen(self.palette().windowText().color())
            painter.drawText(QPointF(x + 26, y + 4), label)
            x += 26 + metrics.horizontalAdvance(label) + self.SWATCH_GAP_PX
