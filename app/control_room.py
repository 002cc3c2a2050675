"""Control-room mode: the Run view full screen on a chosen monitor, for a wall display.

Large type, a dark theme (a bright wall dazzles a dim control room, and dark backgrounds make
the colour scales stand out), and a chosen set of panels shown tiled or rotating. The wall is
one more view of the running session: it shares the plan's scene (so rack colours and the
selection are the same items) and the session's one LiveHistory, and holds no data of its own,
so leaving it running for days costs no more memory than the desk view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QFont, QGuiApplication, QKeyEvent, QResizeEvent, QScreen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.app.run_view import GpuQuantityScale, QuantityScale, RunView, follow_moment
from factoryfloor.backend.service.messages import AlarmsChanged
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.widgets.alarm_panel import AlarmPanel
from factoryfloor.widgets.alert_banner import AlertBanner
from factoryfloor.widgets.colour_scale import ColourScaleBar
from factoryfloor.widgets.floor_plan import FloorPlanView
from factoryfloor.widgets.live_panel import TILES, LivePanel

PANELS = {"plan": "Floor plan", "kpis": "KPI tiles", "heatmap": "Fleet heatmap",
          "plots": "Plots", "alarms": "Alarms"}  # fmt: skip
"""Panels a wall can show: key -> title. The keys are remembered in the settings
(``controlRoom/panels``), so they stay as they are."""

FONT_SCALE = 1.6
"""Type on the wall, relative to the desk: readable from a few metres."""

DARK_STYLE = """
QWidget#controlRoom, QWidget#controlRoom QWidget { background: #0f1317; color: #e3e7eb; }
QWidget#controlRoom QFrame#figureTile { border: 1px solid #2b353f; border-radius: 6px; }
QWidget#controlRoom QLabel#panelTitle { color: #8fa1b3; font-weight: bold; }
QWidget#controlRoom QLabel#trend { color: #b7c3ce; }
QWidget#controlRoom QHeaderView::section { background: #1c242c; color: #b7c3ce;
    border: none; padding: 4px; }
QWidget#controlRoom QTableWidget { gridline-color: #2b353f; }
QWidget#controlRoom QComboBox, QWidget#controlRoom QPushButton {
    background: #1c242c; border: 1px solid #3a4653; padding: 2px 8px; }
"""


@dataclass
class WallLayout:
    """What the wall shows and where; remembered between runs (QSettings ``controlRoom/``)."""

    screen: str = ""
    """QScreen name; empty or unknown: the screen the main window is on."""
    panels: list[str] = field(default_factory=lambda: list(PANELS))
    rotating: bool = False
    rotate_s: int = 20

    @classmethod
    def load(cls) -> WallLayout:
        settings = QSettings()
        panels = settings.value("controlRoom/panels", list(PANELS), list)
        return cls(
            screen=str(settings.value("controlRoom/screen", "")),
            panels=[p for p in panels if p in PANELS] or list(PANELS),
            rotating=settings.value("controlRoom/rotating", False, bool),
            rotate_s=int(settings.value("controlRoom/rotate_s", 20)),
        )

    def save(self) -> None:
        settings = QSettings()
        settings.setValue("controlRoom/screen", self.screen)
        settings.setValue("controlRoom/panels", self.panels)
        settings.setValue("controlRoom/rotating", self.rotating)
        settings.setValue("controlRoom/rotate_s", self.rotate_s)

    def target_screen(self, fallback: QScreen) -> QScreen:
        return next((s for s in QGuiApplication.screens() if s.name() == self.screen), fallback)


class ControlRoomDialog(QDialog):
    """Choose the monitor, the panels and tiled or rotating, before going full screen."""

    def __init__(self, layout: WallLayout, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Control-room mode")
        form = QFormLayout(self)
        self.screen_box = QComboBox()
        for screen in QGuiApplication.screens():
            size = screen.geometry()
            self.screen_box.addItem(f"{screen.name()} ({size.width()} x {size.height()})",
                                    screen.name())  # fmt: skip
        index = self.screen_box.findData(layout.screen)
        self.screen_box.setCurrentIndex(max(index, 0))
        form.addRow("Monitor", self.screen_box)
        self.panel_boxes: dict[str, QCheckBox] = {}
        panels = QHBoxLayout()
        for key, title in PANELS.items():
            box = QCheckBox(title)
            box.setChecked(key in layout.panels)
            self.panel_boxes[key] = box
            panels.addWidget(box)
        form.addRow("Panels", panels)
        self.mode_box = QComboBox()
        self.mode_box.addItem("Tiled: all at once", False)
        self.mode_box.addItem("Rotating: one at a time", True)
        self.mode_box.setCurrentIndex(int(layout.rotating))
        form.addRow("Show", self.mode_box)
        self.rotate_box = QSpinBox()
        self.rotate_box.setRange(5, 600)
        self.rotate_box.setSuffix(" s")
        self.rotate_box.setValue(layout.rotate_s)
        form.addRow("Each panel for", self.rotate_box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)  # fmt: skip
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def chosen(self) -> WallLayout:
        return WallLayout(
            screen=self.screen_box.currentData(),
            panels=[k for k, box in self.panel_boxes.items() if box.isChecked()] or list(PANELS),
            rotating=bool(self.mode_box.currentData()),
            rotate_s=self.rotate_box.value(),
        )


class ControlRoomWindow(QWidget):
    """The wall: full screen, dark, large type; Esc leaves, Space shows the next panel."""

    closed = Signal()

    def __init__(self, run_view: RunView, layout: WallLayout):
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint)
        from factoryfloor.widgets.fleet_heatmap import (
            FleetHeatmap,  # pyqtgraph: Run has imported it already
        )
        from factoryfloor.widgets.history_plots import HistoryPlots

        self.run_view = run_view
        self.wall_layout = layout
        self.setObjectName("controlRoom")
        self.setWindowTitle("FactoryFloor: control room")
        self.setStyleSheet(DARK_STYLE)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * FONT_SCALE)
        self.setFont(font)

        self.plan_view = FloorPlanView(run_view.scene)
        self.scale_bar = ColourScaleBar()
        self.kpis = LivePanel(columns=len(TILES))
        self.heatmap = FleetHeatmap()
        self.plots = HistoryPlots()
        self.plots.set_dark(True)
        self.heatmap.set_dark(True)
        self.heatmap.title.setMinimumWidth(1)  # shrinks (clipped) before the wall outgrows a screen
        self.plots.window_changed.connect(self.heatmap.set_window)
        self.plots.paused_changed.connect(self.heatmap.set_paused)
        self.heatmap.gpu_clicked.connect(run_view.select_gpu)
        plan_panel = QWidget()
        plan_layout = QVBoxLayout(plan_panel)
        plan_layout.setContentsMargins(0, 0, 0, 0)
        plan_layout.addWidget(self.plan_view, 1)
        plan_layout.addWidget(self.scale_bar)
        self.alarms = AlarmPanel(actions=False)
        self.panels: dict[str, QWidget] = {
            "plan": plan_panel, "kpis": self.kpis, "heatmap": self.heatmap, "plots": self.plots,
            "alarms": self.alarms,
        }  # fmt: skip

        outer = QVBoxLayout(self)
        self.alert = AlertBanner("Restart now")
        self.alert.action_clicked.connect(run_view.run_mode.restart_now)
        outer.addWidget(self.alert)
        self.header = QLabel()
        self.header.setObjectName("panelTitle")
        outer.addWidget(self.header)
        self.stack = QStackedWidget()
        # The wall takes its screen's size whatever the panels would like: they squeeze.
        self.stack.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.rotation = QTimer(self)
        self.rotation.timeout.connect(self.next_panel)
        self._arrange(layout)
        outer.addWidget(self.stack, 1)
        self._enlarge_type()

        history = run_view.history
        self._loop_capacity = run_view.loop_capacity
        self.plots.set_history(history, run_view.loop_capacity, run_view.gpu_rows)
        self.heatmap.set_history(history, run_view.gpu_rows)
        self.set_quantity(run_view.quantity_scale(), run_view.gpu_quantity_scale())
        self.show_alert(run_view.backend_banner.label.text())
        if run_view.alarms_shown is not None:
            self.alarms.show_alarms(run_view.alarms_shown)
        run_view.extra_views.append(self)

    # --- Layout --------------------------------------------------------------------------------

    def _titled(self, key: str) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(4, 4, 4, 4)
        title = QLabel(PANELS[key])
        title.setObjectName("panelTitle")
        column.addWidget(title)
        column.addWidget(self.panels[key], 1)
        return box

    def _arrange(self, layout: WallLayout) -> None:
        """Rotating: one page per panel. Tiled: KPI tiles in a strip across the top, the plots
        over the alarms down the right (plots need height: five stacked plots), the plan over
        the heatmap on the left."""
        shown = [key for key in PANELS if key in layout.panels]
        for key in PANELS:
            if key not in shown:  # kept (the wall's views stay whole) but owned and hidden
                self.panels[key].setParent(self)
                self.panels[key].hide()
        if layout.rotating:
            for key in shown:
                self.stack.addWidget(self._titled(key))
            self.rotation.start(layout.rotate_s * 1000)
            self._show_header()
            return
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        top = 0
        if "kpis" in shown:
            grid.addWidget(self._titled("kpis"), 0, 0, 1, 2)
            top = 1
        columns = QHBoxLayout()
        grid.addLayout(columns, top, 0, 1, 2)
        grid.setRowStretch(top, 1)
        for keys, stretch in ((("plan", "heatmap"), 3), (("plots", "alarms"), 2)):
            column = QVBoxLayout()
            for key in keys:
                if key in shown:  # the plots take twice the alarms' height
                    column.addWidget(self._titled(key), 2 if key != "alarms" else 1)
            if column.count():
                columns.addLayout(column, stretch)
        self.stack.addWidget(page)
        self._show_header()

    def _enlarge_type(self) -> None:
        """Type readable across the room. Set on every widget: the dark style sheet stops a
        font set on the window from reaching its children. The plots and heatmap follow
        their widget's font in their own text; KPI figures are larger still."""
        for widget in self.findChildren(QWidget):
            widget.setFont(self.font())
        for key, tile in self.kpis.tiles.items():
            value_font = QFont(self.font())
            value_font.setPointSizeF(self.font().pointSizeF() * 1.8)
            value_font.setBold(True)
            tile.value.setFont(value_font)
            tile.caption.setFont(self.font())
            tile.caption.setStyleSheet("color: #9fb0c0;")
            for label in (tile.value, tile.caption, self.kpis.trends[key]):
                # Never wider than the screen: a smaller wall clips a label, not the window.
                label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def next_panel(self) -> None:
        if self.stack.count() > 1:
            self.stack.setCurrentIndex((self.stack.currentIndex() + 1) % self.stack.count())
            self._show_header()

    def _show_header(self) -> None:
        design = self.run_view.design
        name = design.name if design is not None else ""
        mode = "rotating" if self.wall_layout.rotating else "tiled"
        self.header.setText(f"{name} · {mode} · Esc leaves · Space: next panel")

    def show_on_screen(self, fallback: QScreen) -> None:
        screen = self.wall_layout.target_screen(fallback)
        self.setScreen(screen)
        self.setGeometry(screen.geometry())
        self.showFullScreen()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        QTimer.singleShot(0, self.plan_view, self.plan_view.fit_hall)  # once the layout sized it

    # --- One more view of the run (RunView.extra_views) ---------------------------------------

    def refresh(self) -> None:
        self.plots.refresh()
        self.heatmap.refresh()

    def show_moment(self, time_s: float | None) -> None:
        follow_moment(self.plots, self.heatmap, self.kpis, time_s)

    def show_seeded(self, history: LiveHistory) -> None:
        self.plots.set_history(history, self._loop_capacity, self.run_view.gpu_rows)
        self.heatmap.set_history(history, self.run_view.gpu_rows)

    def show_figures(
        self, facility: dict[str, float], time_s: float, alarms: list[str] | None
    ) -> None:
        self.kpis.show_figures(facility, time_s, alarms)

    def show_alarms(self, shown: AlarmsChanged) -> None:
        self.alarms.show_alarms(shown)

    def select_gpu(self, rack_id: str, gpu_index: int | None) -> None:
        self.heatmap.select_gpu(rack_id, gpu_index)
        self.plots.select_rack(rack_id)

    def set_quantity(self, rack_scale: QuantityScale, gpu_scale: GpuQuantityScale) -> None:
        self.scale_bar.set_scale(*rack_scale)
        self.heatmap.set_quantity(*gpu_scale)

    def show_alert(self, text: str) -> None:
        if text:  # no "Restart now" for a service the window attached to: not its to restart
            self.alert.show_message(text, with_action=self.run_view.run_mode.attached is None)
        else:
            self.alert.clear()

    # --- Leaving -------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()
        elif event.key() == Qt.Key.Key_Space:
            self.next_panel()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.rotation.stop()
        if self in self.run_view.extra_views:
            self.run_view.extra_views.remove(self)
        self.closed.emit()
        super().closeEvent(event)
