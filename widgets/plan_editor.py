"""The plan as an editor: tools that turn mouse and keys into editing intents.

The view changes nothing itself. It emits what the user asked for (place a rack here, the
selection was dragged by so much, plumb these racks to that CDU), as the typed intents of
:mod:`~factoryfloor.widgets.plan_tools`, and the application turns each intent into a backend
edit on the undo stack; the scene then redraws from the model. That keeps every change
undoable and validated in one place.

Tools (:class:`~factoryfloor.widgets.plan_tools.ToolKind`): select (click, shift-click, rubber
band, drag to move, arrows nudge), place a rack, CDU or feed, draw a loop (click a CDU, then
racks; Enter finishes), assign a feed (click a feed, then racks). A selected loop shows handles
on its bends: drag to move, double-click a segment to add a bend, right-click a bend to remove
it. Middle button or Space + drag pans in every tool.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView, QWidget

from factoryfloor.widgets.floor_plan import FloorPlanScene, FloorPlanView
from factoryfloor.widgets.plan_items import (
    EquipmentItem,
    EquipmentKind,
    LoopItem,
    RackItem,
    cosmetic_pen,
)
from factoryfloor.widgets.plan_tools import (
    SELECT,
    Bend,
    Connection,
    DragOffset,
    FloorPoint,
    NewBend,
    Nudge,
    Placement,
    Tool,
    ToolKind,
)

HANDLE_RADIUS_PX = 5.0


class PlanEditorView(FloorPlanView):
    place_requested = Signal(Placement)
    drag_started = Signal(list)
    """The ids (``list[str]``) of the selected equipment a drag has started to move."""
    drag_moved = Signal(DragOffset)
    drag_finished = Signal()
    """The drag of the selection, or of a bend, is over (one undo step)."""
    nudge_requested = Signal(Nudge)
    connect_requested = Signal(Connection)
    bend_drag_started = Signal(Bend)
    bend_moved = Signal(FloorPoint)
    """Where the bend being dragged is now."""
    bend_inserted = Signal(NewBend)
    bend_removed = Signal(Bend)
    tool_changed = Signal(Tool)
    pending_changed = Signal(str)
    """A line for the status bar describing what the current tool is waiting for."""

    def __init__(self, scene: FloorPlanScene, parent: QWidget | None = None):
        super().__init__(scene, parent)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.tool = SELECT
        self.grid_m = 0.6
        """The snap grid (0: off). The application snaps edits to it; arrow keys nudge by one
        step of it, or by 0.1 m with the grid off."""
        self._drag_origin: QPointF | None = None
        self._dragging_ids: list[str] = []
        self._bend: Bend | None = None
        self._pan_origin: QPointF | None = None
        self._space_down = False
        self._source_id = ""
        self._pending_racks: list[str] = []
        self.read_only = False
        """Run view: selecting, hovering and panning only; no moves."""

    # Tools ------------------------------------------------------------------------------------

    def set_tool(self, tool: Tool) -> None:
        self.finish_connection()
        self.tool = tool
        rubber_band = tool.kind is ToolKind.SELECT
        self.setDragMode(
            QGraphicsView.DragMode.RubberBandDrag if rubber_band else QGraphicsView.DragMode.NoDrag
        )
        self._restore_cursor()
        self.tool_changed.emit(tool)
        self.pending_changed.emit(self._pending_text())

    def _restore_cursor(self) -> None:
        select = self.tool.kind is ToolKind.SELECT
        cursor = Qt.CursorShape.ArrowCursor if select else Qt.CursorShape.CrossCursor
        self.viewport().setCursor(cursor)

    def cancel_connection(self) -> None:
        self._pending_racks = []
        self.finish_connection()

    def finish_connection(self) -> None:
        """Commit the loop or feed being drawn, if any racks were picked."""
        source = self.tool.kind.connection_source
        if source is not None and self._source_id and self._pending_racks:
            self.connect_requested.emit(
                Connection(source, self._source_id, tuple(self._pending_racks))
            )
        self._source_id = ""
        self._pending_racks = []
        self.viewport().update()
        self.pending_changed.emit(self._pending_text())

    def _pending_text(self) -> str:
        placed = self.tool.kind.placed
        if placed is not None:
            return (
                f"Click on the floor to place a {self.tool.gpu_model or placed.value}; Esc stops."
            )
        source = self.tool.kind.connection_source
        if source is not None:
            if not self._source_id:
                return f"Click a {'CDU' if source is EquipmentKind.CDU else 'power feed'} to start."
            picked = ", ".join(self._pending_racks) or "none yet"
            return f"{self._source_id}: click racks to connect (picked: {picked}); Enter finishes."
        return ""

    # Mouse -------------------------------------------------------------------------------------

    def _item_at(self, event: QMouseEvent) -> QGraphicsItem | None:
        for item in self.items(event.position().toPoint()):
            if isinstance(item, (EquipmentItem, LoopItem)):
                return item
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            self._space_down and event.button() == Qt.MouseButton.LeftButton
        )
        if pan:
            self._pan_origin = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        scene_pos = self.mapToScene(event.position().toPoint())
        if event.button() == Qt.MouseButton.RightButton:
            bend = None if self.read_only else self._bend_at(event.position())
            if bend is not None:
                self.bend_removed.emit(bend)
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        placed = self.tool.kind.placed
        if placed is not None:
            self.place_requested.emit(
                Placement(placed, self.tool.gpu_model, scene_pos.x(), scene_pos.y())
            )
            return
        item = self._item_at(event)
        if self.tool.kind.connection_source is not None:
            self._pick_for_connection(item)
            return
        bend = None if self.read_only else self._bend_at(event.position())
        if bend is not None:
            self._bend = bend
            self.bend_drag_started.emit(bend)
            return
        if isinstance(item, EquipmentItem) and self.read_only:
            self.scene().clearSelection()
            item.setSelected(True)
            return
        if isinstance(item, EquipmentItem):
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            if shift:
                item.setSelected(not item.isSelected())
                return
            if not item.isSelected():
                self.scene().clearSelection()
                item.setSelected(True)
            self._drag_origin = scene_pos
            self._dragging_ids = []
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_origin is not None:
            delta = event.position() - self._pan_origin
            self._pan_origin = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            return
        scene_pos = self.mapToScene(event.position().toPoint())
        if self._bend is not None:
            self.bend_moved.emit(FloorPoint(scene_pos.x(), scene_pos.y()))
            return
        if self._drag_origin is not None:
            if not self._dragging_ids:
                self._dragging_ids = self._selected_equipment_ids()
                self.drag_started.emit(self._dragging_ids)
            delta = scene_pos - self._drag_origin
            self.drag_moved.emit(DragOffset(delta.x(), delta.y()))
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_origin is not None:
            self._pan_origin = None
            self._restore_cursor()
            return
        if self._bend is not None:
            self._bend = None
            self.drag_finished.emit()
            return
        if self._drag_origin is not None:
            if self._dragging_ids:
                self.drag_finished.emit()
            self._drag_origin = None
            self._dragging_ids = []
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.tool.kind.connection_source is not None:
            self.finish_connection()
            return
        item = self._item_at(event)
        if isinstance(item, LoopItem) and item.isSelected() and item.route and not self.read_only:
            scene_pos = self.mapToScene(event.position().toPoint())
            segment = item.nearest_segment((scene_pos.x(), scene_pos.y()))
            self.bend_inserted.emit(NewBend(item.entity_id, segment, scene_pos.x(), scene_pos.y()))
            return
        super().mouseDoubleClickEvent(event)

    def _pick_for_connection(self, item: QGraphicsItem | None) -> None:
        if isinstance(item, EquipmentItem) and item.kind is self.tool.kind.connection_source:
            self.finish_connection()
            self._source_id = item.entity_id
        elif isinstance(item, RackItem) and self._source_id:
            if item.entity_id in self._pending_racks:
                self._pending_racks.remove(item.entity_id)
            else:
                self._pending_racks.append(item.entity_id)
        self.viewport().update()
        self.pending_changed.emit(self._pending_text())

    # Bends of the selected loop ----------------------------------------------------------------

    def _selected_equipment_ids(self) -> list[str]:
        return [i.entity_id for i in self.scene().selectedItems() if isinstance(i, EquipmentItem)]

    def _selected_loop(self) -> LoopItem | None:
        selected = self.scene().selectedItems()
        if len(selected) == 1 and isinstance(selected[0], LoopItem):
            return selected[0]
        return None

    def _bend_at(self, view_pos: QPointF) -> Bend | None:
        loop = self._selected_loop()
        if loop is None:
            return None
        for index, (x_m, y_m) in enumerate(loop.route):
            handle = self.mapFromScene(QPointF(x_m, y_m))
            if (QPointF(handle) - view_pos).manhattanLength() <= HANDLE_RADIUS_PX * 2:
                return Bend(loop.entity_id, index)
        return None

    # Keys ----------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            return
        if key == Qt.Key.Key_Escape:
            self.cancel_connection()
            self.set_tool(SELECT)
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish_connection()
            return
        step = {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
        }.get(Qt.Key(key))
        if step is not None and not self.read_only:
            ids = self._selected_equipment_ids()
            if ids:
                size_m = self.grid_m if self.grid_m > 0 else 0.1
                if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                    size_m *= 10
                self.nudge_requested.emit(Nudge(tuple(ids), step[0] * size_m, step[1] * size_m))
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            return
        super().keyReleaseEvent(event)

    # Drawing -----------------------------------------------------------------------------------

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawForeground(painter, rect)
        painter.save()
        painter.resetTransform()
        loop = self._selected_loop()
        if loop is not None:
            painter.setPen(cosmetic_pen("#1565c0", 1.5))
            painter.setBrush(QColor("white"))
            for x_m, y_m in loop.route:
                painter.drawEllipse(QPointF(self.mapFromScene(QPointF(x_m, y_m))),
                                    HANDLE_RADIUS_PX, HANDLE_RADIUS_PX)  # fmt: skip
        pending = [self._source_id, *self._pending_racks] if self._source_id else []
        painter.setPen(cosmetic_pen("#6a1b9a", 2.5, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for entity_id in pending:
            item = self.scene().items_by_id.get(entity_id)
            if item is not None:
                box = self.mapFromScene(item.sceneBoundingRect()).boundingRect()
                painter.drawRect(box.adjusted(-3, -3, 3, 3))
        painter.restore()
