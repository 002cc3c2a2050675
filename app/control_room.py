"""Control-room mode: the Run view full screen on a chosen monitor, for a wall display.

Large type, a dark theme (a bright wall dazzles a dim control room, and dark backgrounds make
the colour scales stand out), and a chosen set of panels shown tiled or rotating. The wall is
one more view of the running session: it shares the plan's scene (so rack colours and the
selection are the same items) and the session's one LiveHistory, and holds no data of its own,
so leaving it running for days costs no more memory than the desk view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QRectF, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QPainter,
    QResizeEvent,
    QScreen,
    QShowEvent,
)
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
from factoryfloor.widgets.alarm_strip import AlarmStrip
from factoryfloor.widgets.alert_banner import AlertBanner
from factoryfloor.widgets.colour_scale import ColourScaleBar
from factoryfloor.widgets.floor_plan import FloorPlanView
from factoryfloor.widgets.live_panel import LivePanel
from factoryfloor.widgets.plan_items import cosmetic_pen

PANELS = {"plan": "Floor plan", "kpis": "KPI tiles", "heatmap": "Fleet heatmap",
          "plots": "Plots", "alarms": "Alarms"}  # fmt: skip
"""Panels a wall can show: key -> title. The keys are remembered in the settings
(``controlRoom/panels``), so they stay as they are."""

LABEL_PX = 26
"""Type on the wall: at least 24 px, readable from 5 m on a 1080p display."""
FIGURE_PX = 56
"""The KPI tiles' figures: at least 48 px, the wall's headline."""
TILED_HEIGHTS = {"plan": 3, "heatmap": 2, "plots": 2, "alarms": 1}
"""Tiled: each panel's share of its column's height (the plots need room: five stacked)."""
KPI_COLUMNS = 4
"""KPI tiles in two rows: a seventh of 1,920 px is too narrow for "1,619.7 kW" at 48 px."""

DARK_STYLE = """
QWidget#controlRoom, QWidget#controlRoom QWidget { background: #0f1317; color: #e3e7eb; }
QWidget#controlRoom QFrame#figureTile { border: 1px solid #2b353f; border-radius: 6px; }
QWidget#controlRoom QLabel#panelTitle { color: #8fa1b3; font-weight: bold; }
QWidget#controlRoom QLabel#trend { color: #b7c3ce; }
QWidget#controlRoom QHeaderView::section { background: #1c242c; color: #b7c3ce;
    border: none; padding: 4px; }
QWidget#controlRoom QTableWidget { gridline-color: #2b353f; }
QWidget#controlRoom QFrame#alarmStrip QLabel { font-weight: bold; }
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


class WallPlanView(FloorPlanView):
    """The plan on the wall: dark around the hall, always the whole hall (refitted whenever
    its panel changes size), and no scale bar, whose small print no one reads across a room."""

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_hall()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.fit_hall()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, WALL_OUTSIDE)
        floor = self.scene().floor_rect
        painter.fillRect(floor, WALL_FLOOR)
        painter.setPen(cosmetic_pen("#3a4653", 2))
        painter.drawRect(floor)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        pass


WALL_OUTSIDE = QColor("#0f1317")
WALL_FLOOR = QColor("#1c242c")


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
        font.setPointSizeF(self._points(LABEL_PX))  # in points: the plots scale their text by it
        self.setFont(font)

        self.plan_view = WallPlanView(run_view.scene)
        self.scale_bar = ColourScaleBar()
        self.kpis = LivePanel(columns=KPI_COLUMNS)
        self.heatmap = FleetHeatmap()
        self.plots = HistoryPlots()
        self.plots.set_dark(True)
        self.plots.controls.hide()  # a wall is read, not clicked: it follows the desk's choices
        self.heatmap.set_dark(True)
        self.heatmap.title.setMinimumWidth(1)  # shrinks (clipped) before the wall outgrows a screen
        self.heatmap.rows_note.hide()  # small print about pixels and the mouse wheel
        self.plots.window_changed.connect(self.heatmap.set_window)
        self.plots.paused_changed.connect(self.heatmap.set_paused)
        self.heatmap.gpu_clicked.connect(run_view.select_gpu)
        plan_panel = QWidget()
        plan_layout = QVBoxLayout(plan_panel)
        plan_layout.setContentsMargins(0, 0, 0, 0)
        plan_layout.addWidget(self.plan_view, 1)
        plan_layout.addWidget(self.scale_bar)
        self.alarms = AlarmPanel(actions=False)
        self.alarms.table.setWordWrap(True)  # the alarm in full: a wall has no tooltips
        self.alarms.table.setColumnHidden(1, True)  # each message starts with its entity
        self.panels: dict[str, QWidget] = {
            "plan": plan_panel, "kpis": self.kpis, "heatmap": self.heatmap, "plots": self.plots,
            "alarms": self.alarms,
        }  # fmt: skip

        outer = QVBoxLayout(self)
        self.alert = AlertBanner("")
        outer.addWidget(self.alert)
        self.alarm_strip = AlarmStrip()
        """Always on top, whatever the panels: what waits, and the most urgent in words."""
        outer.addWidget(self.alarm_strip)
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
        self.show_alarms(run_view.alarms_shown)
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
        # Widths from the layout's stretch alone: no panel's text may squeeze the others.
        box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
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
                if key in shown:
                    column.addWidget(self._titled(key), TILED_HEIGHTS[key])
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
            value_font.setPointSizeF(self._points(FIGURE_PX))
            value_font.setBold(True)
            tile.value.setFont(value_font)
            tile.value.setMinimumHeight(QFontMetrics(value_font).height())
            tile.caption.setFont(self.font())
            tile.caption.setStyleSheet("color: #9fb0c0;")
            for label in (tile.value, tile.caption, self.kpis.trends[key]):
                # Never wider than the screen: a smaller wall clips a label, not the window.
                label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def _points(self, px: float) -> float:
        """The point size that is ``px`` pixels high on this wall's screen."""
        return px * 72.0 / self.logicalDpiY()

    def next_panel(self) -> None:
        if self.stack.count() > 1:
            self.stack.setCurrentIndex((self.stack.currentIndex() + 1) % self.stack.count())
            self._show_header()

    def _show_header(self) -> None:
        design = self.run_view.design
        name = design.name if design is not None else ""
        keys = "Esc leaves · Space: next panel" if self.stack.count() > 1 else "Esc leaves"
        self.header.setText(f"{name} · {keys}")

    def show_on_screen(self, fallback: QScreen) -> None:
        screen = self.wall_layout.target_screen(fallback)
        self.setScreen(screen)
        self.setGeometry(screen.geometry())
        self.showFullScreen()

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

    def show_alarms(self, shown: AlarmsChanged | None) -> None:
        self.alarm_strip.show_alarms(shown)
        if shown is not None:
            self.alarms.show_alarms(shown)
            self.alarms.table.resizeRowsToContents()

    def select_gpu(self, rack_id: str, gpu_index: int | None) -> None:
        self.heatmap.select_gpu(rack_id, gpu_index)
        self.plots.select_rack(rack_id)

    def set_quantity(self, rack_scale: QuantityScale, gpu_scale: GpuQuantityScale) -> None:
        self.scale_bar.set_scale(*rack_scale)
        self.heatmap.set_quantity(*gpu_scale)

    def show_alert(self, text: str) -> None:
        if text:  # no button: a wall is read, not clicked (the desk offers "Restart now")
            self.alert.show_message(text, with_action=False)
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
