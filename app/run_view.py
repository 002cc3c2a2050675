"""The Run view: the live plan, KPI tiles, the service's alarms, time plots, fleet heatmap and rack
detail, wired to one RunMode and to each other.

Every view reads the same LiveHistory after each frame, and asks the service for the GPU rows
it draws (``gpu_rows``: the window keeps no GPU's history). Selection is one thing: a rack
clicked on the plan, a cell clicked on the heatmap or a rack chosen in the plots selects that
rack (and GPU) in all of them. The plot and heatmap docks import pyqtgraph, so they are built
the first time Run mode starts rather than at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np
from PySide6.QtCore import QObject, QPoint, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QDockWidget, QMainWindow, QMenu, QToolBar, QWidget

from factoryfloor.app.alarm_sound import AlarmSound
from factoryfloor.app.control_commands import ControlCommands
from factoryfloor.app.grid_commands import GridCommands
from factoryfloor.app.live_plan import LivePlan, LoopCapacity
from factoryfloor.app.run_mode import RunMode, gpu_scale_range, scale_range
from factoryfloor.app.tuning_commands import TuningCommands
from factoryfloor.backend.design.figures import DesignFigures, estimated_pue
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.alarms.evaluator import subject_of
from factoryfloor.backend.service.alarms.series_index import parse_gpu_subject
from factoryfloor.backend.service.client import ServiceClient
from factoryfloor.backend.service.embedded import BackendClient
from factoryfloor.backend.service.flex.messages import GridChanged
from factoryfloor.backend.service.messages import ActOnAlarm, AlarmsChanged, AlarmShown
from factoryfloor.backend.telemetry.gpu_rows import GpuRowsSource
from factoryfloor.backend.telemetry.history import GPU_QUANTITIES, LiveHistory
from factoryfloor.backend.telemetry.live_figures import RACK_QUANTITIES, LiveFigures
from factoryfloor.backend.telemetry.placement import GpuPlacement
from factoryfloor.widgets.alarm_panel import AlarmPanel, plan_marks
from factoryfloor.widgets.alert_banner import AlertBanner
from factoryfloor.widgets.colour_scale import ColourScaleBar, scale_colours
from factoryfloor.widgets.floor_plan import FloorPlanScene, FloorPlanView
from factoryfloor.widgets.live_panel import LivePanel
from factoryfloor.widgets.plan_alarm_menu import add_alarm_actions, entity_at
from factoryfloor.widgets.time_control import TimeControl

if TYPE_CHECKING:  # pyqtgraph views, imported when Run first starts
    from factoryfloor.widgets.fleet_heatmap import FleetHeatmap
    from factoryfloor.widgets.history_plots import HistoryPlots
    from factoryfloor.widgets.rack_detail import RackDetailPanel

PLAN_TO_GPU_QUANTITY = {"util_pct": "util_pct", "power_kw": "power_w", "temp_c": "temp_c"}
"""The heatmap follows the plan's quantity where there is a per-GPU one to show."""

DockFactory = Callable[[str, QWidget, Qt.DockWidgetArea], QDockWidget]
"""Makes a dock of a title, a widget and the area it goes to the first time."""


@dataclass(frozen=True, slots=True)
class Selection:
    rack_id: str
    gpu_index: int | None = None


class QuantityScale(NamedTuple):
    """The per-rack quantity the plan shows and its fixed colour scale."""

    label: str
    unit: str
    low: float
    high: float


class GpuQuantityScale(NamedTuple):
    """The per-GPU quantity the heatmap shows and its fixed colour scale."""

    quantity: str
    label: str
    unit: str
    low: float
    high: float


class ExtraRunView(Protocol):
    """A further view of the same run (the control-room wall): what the Run view tells it."""

    def refresh(self) -> None: ...

    def show_figures(
        self, facility: dict[str, float], time_s: float, alarms: list[str] | None
    ) -> None:
        """``alarms`` None: not known (no backend)."""

    def select_gpu(self, rack_id: str, gpu_index: int | None) -> None: ...

    def set_quantity(self, rack_scale: QuantityScale, gpu_scale: GpuQuantityScale) -> None: ...

    def show_alert(self, text: str) -> None:
        """Say that what is shown is not live (empty: it is again)."""

    def show_seeded(self, history: LiveHistory) -> None:
        """``history`` was just seeded with the service's past: read it again whole."""

    def show_moment(self, time_s: float | None) -> None:
        """Show the moment ``time_s`` (the time control), or live again (None)."""

    def show_alarms(self, shown: AlarmsChanged | None) -> None:
        """The service's alarm list, each time it changes (None: not known, no backend)."""


def follow_moment(plots: HistoryPlots, heatmap: FleetHeatmap, panel: LivePanel,
                  time_s: float | None) -> None:  # fmt: skip
    """One set of Run views showing the time control's moment, or live (None)."""
    if time_s is None:
        plots.set_paused(False)
        heatmap.set_paused(False)
        panel.set_moment(None)
        return
    plots.pause_at(time_s)
    heatmap.pause_at(time_s)
    panel.set_moment(time.strftime("%H:%M:%S", time.localtime(time_s)))


class RunView(QObject):
    def __init__(self, window: QMainWindow, plan_view: FloorPlanView, scale_bar: ColourScaleBar,
                 dock: DockFactory):  # fmt: skip
        super().__init__(window)
        self.window = window
        self.plan_view = plan_view
        self.scene: FloorPlanScene = plan_view.scene()
        self.scale_bar = scale_bar
        self._dock = dock
        self.run_mode = RunMode(self)
        self.design: Design | None = None
        self._figures: DesignFigures | None = None
        """The design's figures at start: where rate quantities' scales end."""
        self.live_panel = LivePanel()
        self.live_dock = dock("Live", self.live_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.live_dock.hide()
        self.alarm_panel = AlarmPanel()
        self.alarm_dock = dock("Alarms", self.alarm_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.alarm_dock.hide()
        self.alarms_shown: AlarmsChanged | None = None
        """The service's alarm list as last told; None: not known (no backend)."""
        self.plan_menu: QMenu | None = None
        """The plan's menu last opened (a right-click on equipment in Run)."""
        self.control = ControlCommands(self.run_mode.ask, window)
        self.command_dock = dock("Commands", self.control.panel,
                                 Qt.DockWidgetArea.BottomDockWidgetArea)  # fmt: skip
        self.command_dock.hide()
        self.control.sent = lambda: (self.command_dock.show(), self.command_dock.raise_())
        self.run_mode.commands.connect(self.control.show_commands)
        self.tuning = TuningCommands(self.run_mode.ask, window)
        self.grid = GridCommands(self.run_mode.ask, window)
        self.grid_dock = dock("Grid", self.grid.panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.grid_dock.hide()
        self.run_mode.grid.connect(self._show_grid)
        self.run_mode.tuning.connect(self.tuning.show_tuning)
        self.alarm_panel.isolate_asked.connect(self.control.isolate)
        self.alarm_sound = AlarmSound(self)
        self.run_mode.alarms.connect(self._show_alarms)
        self.alarm_panel.action_asked.connect(
            lambda request: self.run_mode.act_on_alarm(request, self.alarm_panel.show_answer)
        )
        self.alarm_panel.alarm_chosen.connect(self.find_alarm)
        plan_view.customContextMenuRequested.connect(self._plan_menu)
        self.quantity_box = QComboBox()
        for quantity, (label, _) in RACK_QUANTITIES.items():
            self.quantity_box.addItem(label, quantity)
        self.quantity_box.currentIndexChanged.connect(self._choose_quantity)
        self.plots: HistoryPlots | None = None
        self.heatmap: FleetHeatmap | None = None
        self.rack_detail: RackDetailPanel | None = None
        self.run_docks: list[QDockWidget] = [self.live_dock, self.alarm_dock, self.command_dock,
                                             self.grid_dock]  # fmt: skip
        self.selection: Selection | None = None
        self.loop_capacity: dict[str, LoopCapacity] = {}
        """By loop id; fixed while running (editing is off in Run)."""
        self.live_plan: LivePlan | None = None
        self.run_mode.live.connect(self._show_live)
        self.run_mode.history.connect(self._show_history)
        self.scene.entity_selected.connect(self._on_entity_selected)
        self.extra_views: list[ExtraRunView] = []
        """Further views of the same run (the control-room wall) that want each frame."""
        self.desk_covered = False
        """The control-room wall is full screen over this window: its views are not redrawn."""
        self.backend_banner = AlertBanner("Restart now")
        """Across the plan while the backend is down; the window places it."""
        self.backend_banner.action_clicked.connect(self.run_mode.restart_now)
        self.run_mode.backend_lost.connect(lambda lost: self._show_alert(lost.message()))
        self.run_mode.backend_restarted.connect(lambda lost: self._show_alert(lost.message(True)))
        self.run_mode.backend_back.connect(lambda: self._show_alert(""))
        self.run_mode.link_down.connect(self._show_alert)
        self.run_mode.history_seeded.connect(self._show_seeded)
        self.time_control = TimeControl()
        self.time_bar = QToolBar("Time")
        """The time control, the window's full width while running; the window places it."""
        self.time_bar.setObjectName("timeToolBar")
        self.time_bar.setMovable(False)
        self.time_bar.addWidget(self.time_control)
        self.time_bar.hide()
        self.time_control.moment_chosen.connect(self.show_moment)
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self.time_control.tick)

    @property
    def running(self) -> bool:
        return self.run_mode.running

    @property
    def history(self) -> LiveHistory | None:
        return self.run_mode.recorded

    @property
    def gpu_rows(self) -> GpuRowsSource:
        """Where views ask for the GPU rows they draw (the window keeps no GPU's history)."""
        return self.run_mode.gpu_rows

    # --- Starting and stopping --------------------------------------------------------------

    def start(self, design: Design, figures: DesignFigures, saved_path: Path | None,
              modified: bool, service: ServiceClient | None = None) -> None:  # fmt: skip
        """Show ``design`` running: on a service of the window's own, or on ``service``, a
        running one the window is attached to."""
        self._build_docks()
        self.design = design
        self.control.design = design
        self.tuning.design = design
        self.live_plan = LivePlan(design, figures)
        self.loop_capacity = self.live_plan.loop_capacity
        self._figures = figures
        if service is None:
            self.run_mode.start(design, saved_path, modified)
        else:
            self.run_mode.attach(design, service)
        history = self.run_mode.recorded
        self.plots.set_history(history, self.loop_capacity, self.gpu_rows)
        self.heatmap.set_history(history, self.gpu_rows)
        self._choose_quantity()
        self.time_control.choose(None)
        self.time_bar.show()
        self._clock.start()
        self.scale_bar.show()
        for dock in self.run_docks:
            dock.show()
        self.live_dock.raise_()
        self.plan_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def show_moment(self, time_s: float | None) -> None:
        """Show the facility at ``time_s`` in every view (the time control), or live (None)."""
        self.run_mode.show_moment(time_s)
        if self.plots is not None and self.heatmap is not None:
            follow_moment(self.plots, self.heatmap, self.live_panel, time_s)
        for view in self.extra_views:
            view.show_moment(time_s)

    def _show_seeded(self, history: LiveHistory) -> None:
        """The service's past has arrived: every view reads its whole window again."""
        if self.plots is not None and self.heatmap is not None:
            self.plots.set_history(history, self.loop_capacity, self.gpu_rows)
            self.heatmap.set_history(history, self.gpu_rows)
        for view in self.extra_views:
            view.show_seeded(history)

    def stop(self) -> BackendClient | None:
        """Leave Run mode; returns the backend client for the caller to stop off the Qt thread."""
        if not self.running:  # a window closing before any design ran
            return None
        client = self.run_mode.stop()
        self._show_alert("")
        self._clock.stop()
        self.time_bar.hide()
        self.scale_bar.hide()
        for dock in self.run_docks:
            dock.hide()
        self.scene.clear_live()
        self.plan_view.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        self.selection = None
        return client

    def _build_docks(self) -> None:
        if self.plots is not None:
            return
        # pyqtgraph is imported here, the first time Run starts, to keep start-up quick.
        from factoryfloor.widgets.fleet_heatmap import FleetHeatmap
        from factoryfloor.widgets.history_plots import HistoryPlots
        from factoryfloor.widgets.rack_detail import RackDetailPanel

        self.plots, self.heatmap = HistoryPlots(), FleetHeatmap()
        self.rack_detail = RackDetailPanel()
        right = Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        plots_dock = self._dock("Plots", self.plots, right)
        heatmap_dock = self._dock("Fleet heatmap", self.heatmap, bottom)
        detail_dock = self._dock("Rack detail", self.rack_detail, right)
        self.run_docks += [plots_dock, heatmap_dock, detail_dock]
        if not any(dock.property("restored") for dock in self.run_docks):  # first time
            self.window.tabifyDockWidget(self.live_dock, detail_dock)
            self.window.tabifyDockWidget(detail_dock, plots_dock)
            self.window.resizeDocks([heatmap_dock], [320], Qt.Orientation.Vertical)
        self.heatmap.set_window(self.plots.window_s)
        self.plots.window_changed.connect(self.heatmap.set_window)
        self.plots.paused_changed.connect(self.heatmap.set_paused)
        self.heatmap.gpu_clicked.connect(self.select_gpu)

    # --- The backend stopping ---------------------------------------------------------------

    def _show_alert(self, text: str) -> None:
        if text:
            self.backend_banner.show_message(text, with_action=self.run_mode.attached is None)
        else:
            self.backend_banner.clear()
        for view in self.extra_views:
            view.show_alert(text)

    # --- Selection ---------------------------------------------------------------------------

    def select_gpu(self, rack_id: str, gpu_index: int | None = None) -> None:
        """Select a rack (and one of its GPUs) in every view."""
        self.selection = Selection(rack_id, gpu_index)
        if self.scene.select_entity(rack_id):  # the scene reports back: _on_entity_selected
            self.plan_view.centerOn(self.scene.items_by_id[rack_id])
        self._show_selection()

    def _on_entity_selected(self, entity_id: str) -> None:
        if not self.running or self.design is None:
            return
        if not any(r.id == entity_id for r in self.design.racks):
            return
        if self.selection is None or self.selection.rack_id != entity_id:
            self.selection = Selection(entity_id)
            self._show_selection()

    def _show_selection(self) -> None:
        selection = self.selection
        if selection is None or self.plots is None:
            return
        self.heatmap.select_gpu(selection.rack_id, selection.gpu_index)
        self.plots.select_rack(selection.rack_id)
        for view in self.extra_views:
            view.select_gpu(selection.rack_id, selection.gpu_index)
        if self.history is not None:
            self.rack_detail.show_rack(self.history, selection.rack_id, selection.gpu_index,
                                       self.gpu_rows)  # fmt: skip
        detail = self.rack_detail.parentWidget()
        if isinstance(detail, QDockWidget):
            detail.show()
            detail.raise_()

    def find_alarm(self, alarm: AlarmShown) -> None:
        """Find what an alarm is about in every view: a GPU in its rack, a rack selected in the
        plan, heatmap, plots and rack detail, a loop, CDU or feed on the plan."""
        gpu = parse_gpu_subject(subject_of(alarm.alarm_id))
        spot = None if gpu is None or self.design is None else GpuPlacement(self.design).place(*gpu)
        if spot is not None:
            self.select_gpu(spot.rack_id, spot.gpu)
        elif self.design is not None and any(r.id == alarm.entity for r in self.design.racks):
            self.select_gpu(alarm.entity)
        elif self.scene.select_entity(alarm.entity):
            self.plan_view.centerOn(self.scene.items_by_id[alarm.entity])

    # --- Alarms --------------------------------------------------------------------------------

    def _plan_menu(self, pos: QPoint) -> None:
        """Right-click on the running plan: act on the alarms of the equipment there, or send
        it a command."""
        entity_id = entity_at(self.plan_view, pos)
        if entity_id is None or not self.running:
            return
        menu = QMenu(self.plan_view)
        if self.alarms_shown is not None:
            add_alarm_actions(menu, entity_id, self.alarms_shown.alarms, self._ask_from_plan,
                              self._show_in_table)  # fmt: skip
        self.control.add_actions(menu, entity_id)
        self.tuning.add_action(menu, entity_id)
        if menu.actions():
            self.plan_menu = menu
            menu.popup(self.plan_view.viewport().mapToGlobal(pos))

    def _ask_from_plan(self, request: ActOnAlarm) -> None:
        self.run_mode.act_on_alarm(request, self.alarm_panel.show_answer)

    def _show_in_table(self, alarm: AlarmShown) -> None:
        self.alarm_dock.show()
        self.alarm_dock.raise_()
        self.alarm_panel.select_alarm(alarm.alarm_id)

    def _show_alarms(self, shown: AlarmsChanged | None) -> None:
        """The service's alarm list changed (None: no backend, so not known)."""
        self.alarms_shown = shown
        if shown is not None:
            self.alarm_sound.follow(shown)
            self.alarm_panel.show_alarms(shown)
            self.scene.show_alarms(plan_marks(shown))
        for view in self.extra_views:
            view.show_alarms(shown)

    # --- Quantity ----------------------------------------------------------------------------

    def quantity_scale(self) -> QuantityScale:
        quantity = self.quantity_box.currentData()
        label, unit = RACK_QUANTITIES[quantity]
        low, high = scale_range(quantity, self.design, self._figures)
        return QuantityScale(label, unit, low, high)

    def gpu_quantity_scale(self) -> GpuQuantityScale:
        quantity = PLAN_TO_GPU_QUANTITY.get(self.quantity_box.currentData(), "util_pct")
        label, unit = GPU_QUANTITIES[quantity]
        return GpuQuantityScale(quantity, label, unit, *gpu_scale_range(quantity, self.design))

    def _choose_quantity(self) -> None:
        self.run_mode.quantity = self.quantity_box.currentData()
        if self.run_mode.moment_s is not None:  # the moment shown, by the new quantity
            self.run_mode.show_moment(self.run_mode.moment_s)
        if self.design is None:
            return
        self.scale_bar.set_scale(*self.quantity_scale())
        if self.heatmap is not None:
            self.heatmap.set_quantity(*self.gpu_quantity_scale())
        for view in self.extra_views:
            view.set_quantity(self.quantity_scale(), self.gpu_quantity_scale())

    # --- Each frame ----------------------------------------------------------------------------

    def _show_grid(self, grid: GridChanged | None) -> None:
        """The service's grid load targets: the Grid dock, and each feed's label on the plan."""
        self.grid.show_grid(grid)
        if self.live_plan is not None:
            self.live_plan.grid_feeds = {} if grid is None else {f.feed_id: f for f in grid.feeds}

    def _show_live(self, live: LiveFigures) -> None:
        if self.design is None or not self.running:
            return
        label, unit, low, high = self.quantity_scale()
        colours = scale_colours(np.fromiter(live.rack_values.values(), np.float32), low, high)
        rack_colours = dict(zip(live.rack_values, colours, strict=True))
        assert self.live_plan is not None  # set with the design
        self.live_plan.show(self.scene, live, rack_colours, label, unit)
        facility = self.facility_figures(live)
        shown = None if self.run_mode.backend_down else self.alarms_shown
        alarms = shown.active() if shown is not None else None  # None: unknown, not "0"
        now_s = time.time()
        self.live_panel.show_figures(facility, now_s, alarms)
        for view in self.extra_views:
            view.show_figures(facility, now_s, alarms)

    def facility_figures(self, live: LiveFigures) -> dict[str, float]:
        """The KPI tiles' figures: the frame's facility figures, heat to liquid and PUE (not
        from IT power summed over only some of the racks: it would read far too high)."""
        facility = dict(live.facility)
        partial = facility.get("it_power_racks", 0.0) < facility.get("racks", 0.0)
        if "it_power_kw" in facility and live.loop_heat_kw and not partial:
            liquid_kw = sum(live.loop_heat_kw.values())
            facility["heat_to_liquid_kw"] = liquid_kw
            pue = estimated_pue(facility["it_power_kw"], liquid_kw, self.design.assumptions)
            if pue is not None:
                facility["pue"] = pue
        return facility

    def set_desk_covered(self, covered: bool) -> None:
        """The wall went full screen on this window's screen (True) or left it (False).

        Nobody sees the desk views under a full-screen wall, yet a shared plan scene and
        per-frame data would have Qt repaint them all: at 16,384 GPUs as much work as the wall
        itself. So the window stops painting while covered, and its views catch up once when
        it is uncovered."""
        if covered == self.desk_covered:
            return
        self.desk_covered = covered
        self.window.setUpdatesEnabled(not covered)
        if not covered and self.running and self.history is not None:
            self._refresh_desk(self.history)

    def _show_history(self, history: LiveHistory) -> None:
        if self.plots is None:
            return
        if not self.desk_covered:
            self._refresh_desk(history)
        for view in self.extra_views:
            view.refresh()

    def _refresh_desk(self, history: LiveHistory) -> None:
        self.plots.refresh()  # nothing but a note while its tab is hidden
        self.heatmap.refresh()
        if self.selection is not None and not self.rack_detail.visibleRegion().isEmpty():
            self.rack_detail.show_rack(history, self.selection.rack_id,
                                       self.selection.gpu_index, self.gpu_rows)  # fmt: skip
