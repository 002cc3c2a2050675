"""The editor's tool bar (tools, the GPU model of placed racks, the snap grid) and the mode bar
(Design or Run, and the quantity Run colours the plan by).

The tool buttons and the plan view's current tool stay in step both ways: a button sets the
tool, and a tool set on the view (Esc back to Select, Run mode) checks its button.
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QToolBar, QWidget

from factoryfloor.backend.design.model import Design
from factoryfloor.widgets.plan_editor import PlanEditorView
from factoryfloor.widgets.plan_tools import Tool, ToolKind


class ToolButton(NamedTuple):
    kind: ToolKind
    label: str
    shortcut: str


TOOL_BUTTONS = (
    ToolButton(ToolKind.SELECT, "Select", "V"),
    ToolButton(ToolKind.PLACE_RACK, "Rack", "R"),
    ToolButton(ToolKind.PLACE_CDU, "CDU", "C"),
    ToolButton(ToolKind.PLACE_FEED, "Feed", "F"),
    ToolButton(ToolKind.DRAW_LOOP, "Draw Loop", "L"),
    ToolButton(ToolKind.ASSIGN_FEED, "Assign Feed", "A"),
)


class EditorToolBar(QToolBar):
    """One checkable button per tool (their shortcuts also work on the plan), the GPU model of
    the racks the Rack tool places, and the snap grid."""

    def __init__(self, plan_view: PlanEditorView, parent: QWidget | None = None):
        super().__init__("Tools", parent)
        self.setObjectName("toolsToolBar")
        self.plan_view = plan_view
        group = QActionGroup(self)
        self.tool_actions: dict[ToolKind, QAction] = {}
        self.gpu_model_box = QComboBox()
        self.gpu_model_box.setToolTip("GPU model of the racks you place")
        self.gpu_model_box.setMinimumContentsLength(14)
        for button in TOOL_BUTTONS:
            action = QAction(button.label, self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(button.shortcut))
            action.setToolTip(f"{button.label} ({button.shortcut})")
            action.triggered.connect(lambda _=False, kind=button.kind: self.choose_tool(kind))
            group.addAction(action)
            self.addAction(action)
            plan_view.addAction(action)  # the shortcuts work while the plan has focus
            self.tool_actions[button.kind] = action
            if button.kind is ToolKind.PLACE_RACK:
                self.addWidget(self.gpu_model_box)
        self.tool_actions[ToolKind.SELECT].setChecked(True)
        self.gpu_model_box.currentIndexChanged.connect(lambda _: self._reselect_rack_tool())
        plan_view.tool_changed.connect(self._show_tool)
        self.addSeparator()
        self.addWidget(QLabel(" Grid "))
        self.grid_box = QDoubleSpinBox()
        self.grid_box.setRange(0.0, 10.0)
        self.grid_box.setDecimals(2)
        self.grid_box.setSingleStep(0.1)
        self.grid_box.setSuffix(" m")
        self.grid_box.setSpecialValueText("off")
        self.grid_box.setToolTip("Snap positions to this grid (0 = off)")
        self.grid_box.setValue(float(QSettings().value("editor/grid_m", 0.6)))
        self.grid_box.valueChanged.connect(self._set_grid)
        self._set_grid(self.grid_box.value())
        self.addWidget(self.grid_box)

    def choose_tool(self, kind: ToolKind) -> None:
        gpu_model = self.gpu_model_box.currentData() or "" if kind is ToolKind.PLACE_RACK else ""
        self.plan_view.set_tool(Tool(kind, gpu_model))

    def fill_gpu_models(self, design: Design) -> None:
        """Offer the design's GPU models (a design carries its own catalog), quietly: filling
        the box must not re-arm the rack tool."""
        box = self.gpu_model_box
        box.blockSignals(True)
        box.clear()
        for model in design.gpu_models:
            box.addItem(model.id, model.id)
            box.setItemData(box.count() - 1, model.name, Qt.ItemDataRole.ToolTipRole)
        box.blockSignals(False)

    def set_editing_enabled(self, enabled: bool) -> None:
        for action in self.tool_actions.values():
            action.setEnabled(enabled)
        self.gpu_model_box.setEnabled(enabled)
        self.grid_box.setEnabled(enabled)

    def _reselect_rack_tool(self) -> None:
        if self.plan_view.tool.kind is ToolKind.PLACE_RACK:
            self.choose_tool(ToolKind.PLACE_RACK)

    def _show_tool(self, tool: Tool) -> None:
        self.tool_actions[tool.kind].setChecked(True)

    def _set_grid(self, grid_m: float) -> None:
        """Snap to ``grid_m`` and draw the fine grid at it; remembered for the next start."""
        scene = self.plan_view.scene()
        self.plan_view.grid_m = grid_m
        scene.grid_m = grid_m
        scene.update()
        QSettings().setValue("editor/grid_m", grid_m)


class ModeToolBar(QToolBar):
    """Design or Run; in Run, also the quantity the plan is coloured by."""

    def __init__(self, quantity_box: QComboBox, parent: QWidget | None = None):
        super().__init__("Mode", parent)
        self.setObjectName("modeToolBar")
        group = QActionGroup(self)
        self.design_action = QAction("Design", self, checkable=True, checked=True)
        self.run_action = QAction("Run", self, checkable=True)
        self.run_action.setToolTip("Run: the plan coloured by live telemetry (F5)")
        self.run_action.setShortcut(QKeySequence("F5"))
        for action in (self.design_action, self.run_action):
            group.addAction(action)
            self.addAction(action)
        self._quantity_actions = [self.addWidget(QLabel(" Show ")), self.addWidget(quantity_box)]
        self.show_quantity(False)

    def show_quantity(self, shown: bool) -> None:
        for action in self._quantity_actions:
            action.setVisible(shown)
