"""Turns the plan editor's intents into backend edits on the open document's undo stack.

One drag (of equipment or of a pipe bend) is many edits, one per mouse move, merged into a
single undo step. Impossible requests (a backend ``EditError``) are reported with ``message``
(the window shows it on the status bar) and change nothing; a properties-panel edit returns
its problems instead, for the panel to show under the field.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from factoryfloor.app.document import DesignDocument
from factoryfloor.backend.design import edits
from factoryfloor.backend.design.design_file import FieldProblem
from factoryfloor.backend.design.edits import Edit, EditError
from factoryfloor.backend.design.model import Design
from factoryfloor.widgets.plan_editor import PlanEditorView
from factoryfloor.widgets.plan_items import EquipmentKind
from factoryfloor.widgets.plan_tools import (
    Bend,
    Connection,
    DragOffset,
    FloorPoint,
    NewBend,
    Nudge,
    Placement,
)
from factoryfloor.widgets.properties_panel import FieldEdit


class EditorController(QObject):
    message = Signal(str)
    """A short status-bar line: what just happened, or why a request was refused."""

    def __init__(self, plan_view: PlanEditorView, parent: QObject | None = None):
        super().__init__(parent)
        self.plan_view = plan_view
        self.scene = plan_view.scene()
        self.document: DesignDocument | None = None
        self._drag_ids: list[str] = []
        self._drag_start = FloorPoint(0.0, 0.0)
        self._bend: Bend | None = None
        self._merge_key: object | None = None
        plan_view.place_requested.connect(self.place)
        plan_view.drag_started.connect(self.begin_drag)
        plan_view.drag_moved.connect(self.drag_to)
        plan_view.drag_finished.connect(self.end_drag)
        plan_view.nudge_requested.connect(self.nudge)
        plan_view.connect_requested.connect(self.connect_racks)
        plan_view.bend_drag_started.connect(self.begin_bend_drag)
        plan_view.bend_moved.connect(self.move_bend)
        plan_view.bend_inserted.connect(self.insert_bend)
        plan_view.bend_removed.connect(self.remove_bend)

    @property
    def grid_m(self) -> float:
        return self.plan_view.grid_m

    def run(self, build: Callable[[Design], Edit], merge_key: object | None = None) -> Edit | None:
        """Build an edit from the current design and push it; None (and a message) if refused."""
        if self.document is None:
            return None
        try:
            edit = build(self.document.design)
        except EditError as error:
            self.message.emit("; ".join(str(p) for p in error.problems))
            return None
        self.document.push(edit, merge_key)
        return edit

    def selected_ids(self) -> list[str]:
        return self.scene.selected_ids()

    def select(self, ids: list[str]) -> None:
        self.scene.clearSelection()
        for entity_id in ids:
            item = self.scene.items_by_id.get(entity_id)
            if item is not None:
                item.setSelected(True)

    # Placing and connecting ----------------------------------------------------------------------

    def place(self, placement: Placement) -> None:
        """Add the equipment where the user clicked, snapped to the grid, and select it."""
        if self.document is None:
            return
        x_m, y_m = (
            edits.snap_m(placement.x_m, self.grid_m),
            edits.snap_m(placement.y_m, self.grid_m),
        )
        design = self.document.design
        try:
            if placement.kind is EquipmentKind.RACK:
                edit, new_id = edits.new_rack(design, placement.gpu_model, x_m, y_m)
            elif placement.kind is EquipmentKind.CDU:
                edit, new_id = edits.new_cdu(design, x_m, y_m)
            else:
                edit, new_id = edits.new_feed(design, x_m, y_m)
        except EditError as error:
            self.message.emit("; ".join(str(p) for p in error.problems))
            return
        self.document.push(edit)
        self.select([new_id])
        self.message.emit(edit.label)

    def connect_racks(self, connection: Connection) -> None:
        """Feed the racks from a feed; or plumb them to a CDU's loop, a new one if it has none."""
        if self.document is None:
            return
        source_id, rack_ids = connection.source_id, connection.rack_ids
        if connection.source is EquipmentKind.FEED:
            self.run(lambda d: edits.assign_feed(d, rack_ids, source_id))
            return
        existing = next(
            (lp.id for lp in self.document.design.loops if lp.cdu_id == source_id), None
        )
        if existing is None:
            self.run(lambda d: edits.new_loop(d, source_id, rack_ids))
        else:
            self.run(lambda d: edits.plumb(d, rack_ids, existing))

    # Moving ----------------------------------------------------------------------------------

    def _position(self, entity_id: str) -> FloorPoint:
        assert self.document is not None
        design = self.document.design
        for section in (design.racks, design.cdus, design.feeds):
            for entity in section:
                if entity.id == entity_id:
                    return FloorPoint(entity.x_m, entity.y_m)
        raise KeyError(entity_id)

    def begin_drag(self, ids: list[str]) -> None:
        if self.document is None or not ids:
            return
        self._drag_ids = ids
        self._drag_start = self._position(ids[0])
        self._merge_key = object()

    def drag_to(self, offset: DragOffset) -> None:
        """Move the dragged items so the first lands, snapped, at its start plus the drag."""
        if not self._drag_ids or self.document is None:
            return
        now = self._position(self._drag_ids[0])
        dx_m = self._drag_start.x_m + offset.total_dx_m - now.x_m
        dy_m = self._drag_start.y_m + offset.total_dy_m - now.y_m
        ids = self._drag_ids
        self.run(lambda d: edits.move(d, ids, dx_m, dy_m, self.grid_m), self._merge_key)

    def end_drag(self) -> None:
        self._drag_ids = []
        self._bend = None
        self._merge_key = None

    def nudge(self, nudge: Nudge) -> None:
        self.run(lambda d: edits.move(d, nudge.ids, nudge.dx_m, nudge.dy_m, self.grid_m))

    # Bends of a loop's pipe --------------------------------------------------------------------

    def begin_bend_drag(self, bend: Bend) -> None:
        self._bend = bend
        self._merge_key = object()

    def move_bend(self, point: FloorPoint) -> None:
        bend = self._bend
        if bend is None:
            return
        self.run(
            lambda d: edits.move_route_point(
                d, bend.loop_id, bend.index, point.x_m, point.y_m, self.grid_m
            ),
            self._merge_key,
        )

    def insert_bend(self, bend: NewBend) -> None:
        self.run(
            lambda d: edits.insert_route_point(d, bend.loop_id, bend.segment, bend.x_m, bend.y_m)
        )

    def remove_bend(self, bend: Bend) -> None:
        self.run(lambda d: edits.remove_route_point(d, bend.loop_id, bend.index))

    # Menu commands -----------------------------------------------------------------------------

    def delete_selection(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.run(lambda d: edits.delete(d, ids))

    def duplicate_selection(self) -> None:
        ids = self.selected_ids()
        if not ids or self.document is None:
            return
        before = {e.id for s in (self.document.design.racks, self.document.design.cdus,
                                 self.document.design.feeds) for e in s}  # fmt: skip
        edit = self.run(lambda d: edits.duplicate(d, ids, self.grid_m or 0.6, 0.0))
        if edit is not None:
            self.select(sorted(edit.touched_ids - before))

    def rotate_selection(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.run(lambda d: edits.rotate(d, ids, 90.0))

    def align_selection(self, edge: edits.AlignEdge) -> None:
        ids = self.selected_ids()
        self.run(lambda d: edits.align(d, ids, edge))

    def distribute_selection(self, axis: edits.Axis) -> None:
        ids = self.selected_ids()
        self.run(lambda d: edits.distribute(d, ids, axis))

    def set_field(self, field_edit: FieldEdit) -> list[FieldProblem]:
        """Apply a properties-panel edit; the problems that refused it, if any."""
        if self.document is None:
            return []
        try:
            edit = edits.set_field(
                self.document.design, field_edit.ids, field_edit.field, field_edit.value
            )
        except EditError as error:
            return list(error.problems)
        self.document.push(edit)
        return []
