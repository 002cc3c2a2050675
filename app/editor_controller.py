"""Turns the plan editor's intents into backend edits on the open document's undo stack.

One drag (of equipment or of a pipe bend) is many edits, one per mouse move, merged into a
single undo step. Impossible requests (a backend ``EditError``) are reported on the status bar
and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from factoryfloor.app.document import DesignDocument
from factoryfloor.backend.design import edits
from factoryfloor.backend.design.design_file import FieldProblem
from factoryfloor.backend.design.edits import Edit, EditError
from factoryfloor.backend.design.model import Design
from factoryfloor.widgets.plan_editor import PlanEditorView
from PySide6.QtCore import QObject, Signal


class EditorController(QObject):
    message = Signal(str)
    """A short status-bar line: what just happened, or why a request was refused."""

    def __init__(self, view: PlanEditorView, parent: QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.document: DesignDocument | None = None
        self._drag_ids: list[str] = []
        self._drag_start: tuple[float, float] = (0.0, 0.0)
        self._bend: tuple[str, int] | None = None
        self._merge_key: object | None = None
        view.place_requested.connect(self.place)
        view.drag_started.connect(self.begin_drag)
        view.drag_moved.connect(self.drag_to)
        view.drag_finished.connect(self.end_drag)
        view.nudge_requested.connect(self.nudge)
        view.connect_requested.connect(self.connect_racks)
        view.bend_drag_started.connect(self.begin_bend_drag)
        view.bend_moved.connect(self.move_bend)
        view.bend_inserted.connect(
            lambda loop, segment, x, y: self.run(
                lambda d: edits.insert_route_point(d, loop, segment, x, y)
            )
        )
        view.bend_removed.connect(
            lambda loop, index: self.run(lambda d: edits.remove_route_point(d, loop, index))
        )

    @property
    def grid_m(self) -> float:
        return self.view.grid_m

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
        return self.view.plan.selected_ids()

    def select(self, ids: list[str]) -> None:
        self.view.plan.clearSelection()
        for entity_id in ids:
            item = self.view.plan.items_by_id.get(entity_id)
            if item is not None:
                item.setSelected(True)

    # Placing and connecting ----------------------------------------------------------------------

    def place(self, what: str, gpu_model: str, x_m: float, y_m: float) -> None:
        if self.document is None:
            return
        x_m, y_m = edits.snap_m(x_m, self.grid_m), edits.snap_m(y_m, self.grid_m)
        design = self.document.design
        try:
            if what == "rack":
                edit, new_id = edits.new_rack(design, gpu_model, x_m, y_m)
            elif what == "cdu":
                edit, new_id = edits.new_cdu(design, x_m, y_m)
            else:
                edit, new_id = edits.new_feed(design, x_m, y_m)
        except EditError as error:
            self.message.emit("; ".join(str(p) for p in error.problems))
            return
        self.document.push(edit)
        self.select([new_id])
        self.message.emit(edit.label)

    def connect_racks(self, kind: str, source_id: str, rack_ids: list[str]) -> None:
        if self.document is None:
            return
        if kind == "feed":
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

    def _position(self, entity_id: str) -> tuple[float, float]:
        assert self.document is not None
        design = self.document.design
        for section in (design.racks, design.cdus, design.feeds):
            for entity in section:
                if entity.id == entity_id:
                    return entity.x_m, entity.y_m
        raise KeyError(entity_id)

    def begin_drag(self, ids: list[str]) -> None:
        if self.document is None or not ids:
            return
        self._drag_ids = ids
        self._drag_start = self._position(ids[0])
        self._merge_key = object()

    def drag_to(self, total_dx_m: float, total_dy_m: float) -> None:
        """Move the dragged items so the first lands, snapped, at its start plus the drag."""
        if not self._drag_ids or self.document is None:
            return
        x_m, y_m = self._position(self._drag_ids[0])
        dx_m = self._drag_start[0] + total_dx_m - x_m
        dy_m = self._drag_start[1] + total_dy_m - y_m
        ids = self._drag_ids
        self.run(lambda d: edits.move(d, ids, dx_m, dy_m, self.grid_m), self._merge_key)

    def end_drag(self) -> None:
        self._drag_ids = []
        self._bend = None
        self._merge_key = None

    def nudge(self, ids: list[str], dx_m: float, dy_m: float) -> None:
        self.run(lambda d: edits.move(d, ids, dx_m, dy_m, self.grid_m))

    def begin_bend_drag(self, loop_id: str, index: int) -> None:
        self._bend = (loop_id, index)
        self._merge_key = object()

    def move_bend(self, x_m: float, y_m: float) -> None:
        if self._bend is None:
            return
        loop_id, index = self._bend
        self.run(
            lambda d: edits.move_route_point(d, loop_id, index, x_m, y_m, self.grid_m),
            self._merge_key,
        )

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

    def set_field(self, ids: list[str], field: str, value: object) -> list[FieldProblem]:
        """Apply a properties-panel edit; the problems that refused it, if any."""
        if self.document is None:
            return []
        try:
            edit = edits.set_field(self.document.design, ids, field, value)
        except EditError as error:
            return list(error.problems)
        self.document.push(edit)
        return []
