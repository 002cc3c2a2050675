"""The main window: assembles the plan editor, figures, problems and properties around one open
design document, with the parts that act on it, and shows each document they hand it.

The parts each do one job: file commands (``file_commands``), autosave and recovery
(``autosave``), Design and Run (``mode_switch``), menus and tool bars (``menus``,
``tool_bars``). Domain work lives in backend/ and drawing in widgets/; this module only wires
them, and keeps the views in step with the open document.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QUndoGroup
from PySide6.QtWidgets import QDockWidget, QLabel, QVBoxLayout, QWidget

from factoryfloor.app.autosave import AUTOSAVE_INTERVAL_S, Autosave, RecoveryOffer
from factoryfloor.app.background import BackgroundTasks
from factoryfloor.app.document import DesignDocument
from factoryfloor.app.document_window import DocumentWindow
from factoryfloor.app.editor_controller import EditorController
from factoryfloor.app.file_commands import FileCommands
from factoryfloor.app.menus import Menus
from factoryfloor.app.mode_switch import ModeSwitch
from factoryfloor.app.run_view import RunView
from factoryfloor.app.service_commands import ServiceCommands
from factoryfloor.app.settings import recovery_store
from factoryfloor.app.settings_commands import SettingsCommands
from factoryfloor.app.tool_bars import EditorToolBar, ModeToolBar
from factoryfloor.backend.design.leftovers import remove_leftovers_at_start
from factoryfloor.backend.design.report import fmt
from factoryfloor.widgets.colour_scale import ColourScaleBar
from factoryfloor.widgets.figures_panel import FiguresPanel
from factoryfloor.widgets.floor_plan import FloorPlanScene, PlanLegend
from factoryfloor.widgets.plan_editor import PlanEditorView
from factoryfloor.widgets.problems_panel import ProblemsPanel
from factoryfloor.widgets.properties_panel import FieldEdit, PropertiesPanel

if TYPE_CHECKING:
    from factoryfloor.app.control_room import ControlRoomWindow, WallLayout


class MainWindow(DocumentWindow):
    design_shown = Signal(str)
    """Emitted with the file path (or "") once a design is on screen."""

    def __init__(self, autosave_interval_s: float = AUTOSAVE_INTERVAL_S) -> None:
        super().__init__()
        self.tasks = BackgroundTasks(self)
        self.undo_group = QUndoGroup(self)
        self.recovery = recovery_store()
        self.scene = FloorPlanScene(self)
        self.plan_view = PlanEditorView(self.scene)
        self.controller = EditorController(self.plan_view, self)
        self.figures_panel = FiguresPanel()
        self.problems_panel = ProblemsPanel()
        self.properties_panel = PropertiesPanel()
        self.scale_bar = ColourScaleBar()
        self.scale_bar.hide()
        self._build_central()
        self.run_view = RunView(self, self.plan_view, self.scale_bar, self._dock)
        self.centralWidget().layout().insertWidget(0, self.run_view.backend_banner)
        self.figures_dock = self._dock("Figures", self.figures_panel,
                                       Qt.DockWidgetArea.RightDockWidgetArea)  # fmt: skip
        self.properties_dock = self._dock("Properties", self.properties_panel,
                                          Qt.DockWidgetArea.RightDockWidgetArea)  # fmt: skip
        self.tabifyDockWidget(self.properties_dock, self.figures_dock)
        self.problems_dock = self._dock("Problems", self.problems_panel,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)  # fmt: skip
        self.tabifyDockWidget(self.figures_dock, self.run_view.live_dock)
        self.tabifyDockWidget(self.run_view.alarm_dock, self.run_view.command_dock)
        self.tabifyDockWidget(self.run_view.command_dock, self.run_view.grid_dock)
        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.status_label)

        self.files = FileCommands(self, self.scene, self.tasks, self.recovery)
        self.autosave = Autosave(self, self.tasks, self.recovery, autosave_interval_s)
        self.recovery_offer = RecoveryOffer(self, self.tasks, self.recovery, self.files)
        self.mode_bar = ModeToolBar(self.run_view.quantity_box)
        self.modes = ModeSwitch(self, self.run_view, self.plan_view, self.mode_bar,
                                [self.properties_dock, self.problems_dock], self.tasks)  # fmt: skip
        self.services = ServiceCommands(self, self.modes)
        self.settings = SettingsCommands(self, self.tasks)
        self.menus = Menus(self, self.files, self.controller, self.plan_view, self.undo_group,
                           [self.properties_dock, self.figures_dock, self.problems_dock],
                           self.modes, self.services, self.settings)  # fmt: skip
        self.tools = EditorToolBar(self.plan_view)
        for bar in (self.menus.file_tool_bar(), self.tools, self.mode_bar):  # left to right
            self.addToolBar(bar)
        self.addToolBarBreak()
        self.addToolBar(self.run_view.time_bar)  # its own row, the window's width

        self.files.document_ready.connect(self.show_document)
        self.services.document_ready.connect(self.show_document)
        self.services.attached_changed.connect(self._update_title)
        self.recovery_offer.document_ready.connect(self.show_document)
        self.modes.editing_enabled.connect(self._set_editing_enabled)
        self.figures_panel.entity_activated.connect(self.select_entity)
        self.problems_panel.entity_activated.connect(self.select_entity)
        self.properties_panel.field_edit_requested.connect(self._edit_field)
        self.scene.selectionChanged.connect(self._show_selection)
        self.controller.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.plan_view.pending_changed.connect(lambda text: self.statusBar().showMessage(text))
        self.resize(1440, 900)
        self.resizeDocks([self.figures_dock], [620], Qt.Orientation.Horizontal)
        self.resizeDocks([self.problems_dock], [150], Qt.Orientation.Vertical)
        self._restore_layout()
        self._update_title()
        folder = self.recovery.folder
        self.tasks.submit(lambda: remove_leftovers_at_start(folder), self._report_leftovers,
                          lambda _: None)  # fmt: skip  # nothing to say if a folder is unreadable

    def _report_leftovers(self, removed: list[Path]) -> None:
        if removed:
            self.statusBar().showMessage(
                f"Removed {len(removed)} temporary file(s) of unsaved work left by FactoryFloor "
                "windows that did not close normally", 8000)  # fmt: skip

    # What the command line and scripts drive ----------------------------------------------------

    def start(self, path: Path) -> None:
        """Offer a crashed session's unsaved work first; otherwise open ``path``."""
        self.recovery_offer.offer_or_open(path)

    def open_file(self, path: Path) -> None:
        self.files.open_file(path)

    def enter_run(self) -> None:
        self.modes.enter_run()

    def enter_design(self) -> None:
        self.modes.enter_design()

    def show_control_room(self, layout: WallLayout | None = None) -> None:
        self.modes.show_control_room(layout)

    @property
    def control_room(self) -> ControlRoomWindow | None:
        return self.modes.control_room

    @property
    def run_action(self) -> QAction:
        return self.mode_bar.run_action

    @property
    def design_action(self) -> QAction:
        return self.mode_bar.design_action

    # Layout -----------------------------------------------------------------------------------

    def _build_central(self) -> None:
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.plan_view, 1)
        layout.addWidget(PlanLegend())
        layout.addWidget(self.scale_bar)
        self.setCentralWidget(centre)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower()}Dock")
        dock.setWidget(widget)
        restored = self.restoreDockWidget(dock)  # a dock built later goes where it was last time
        if not restored:
            self.addDockWidget(area, dock)
        dock.setProperty("restored", restored)
        return dock

    def _restore_layout(self) -> None:
        settings = QSettings()
        geometry = settings.value("mainWindow/geometry")
        state = settings.value("mainWindow/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def _set_editing_enabled(self, enabled: bool) -> None:
        self.tools.set_editing_enabled(enabled)
        for action in self.menus.edit_menu.actions() + self.menus.design_menu.actions():
            action.setEnabled(enabled)
        self.undo_group.setActiveStack(
            self.document.undo_stack if enabled and self.document else None
        )
        self.properties_panel.setEnabled(enabled)

    # Document ----------------------------------------------------------------------------------

    def show_document(self, document: DesignDocument) -> None:
        """Put ``document`` on screen in place of the open one (leaving Run mode first)."""
        if self.run_view.running:
            self.modes.enter_design()
        if self.document is not None:
            self.undo_group.removeStack(self.document.undo_stack)
            self.document.deleteLater()
        self.document = document
        self.controller.document = document
        document.changed.connect(self._on_document_changed)
        document.clean_changed.connect(self._update_title)
        document.path_changed.connect(self._update_title)
        self.undo_group.addStack(document.undo_stack)
        self.undo_group.setActiveStack(document.undo_stack)
        self.tools.fill_gpu_models(document.design)
        self.scene.show_design(document.design, document.figures)
        self._show_figures()
        self.plan_view.fit_hall()
        self._update_title()
        self._show_selection()
        self.design_shown.emit(str(document.path or ""))

    def _on_document_changed(self, touched: frozenset[str] | None) -> None:
        assert self.document is not None
        if touched is None:
            self.scene.show_design(self.document.design, self.document.figures)
        else:
            self.scene.refresh(self.document.design, self.document.figures, touched)
        self._show_figures()
        self._show_selection()
        self._update_title()  # the hall's name is in it

    def _show_figures(self) -> None:
        assert self.document is not None
        design, figures = self.document.design, self.document.figures
        self.figures_panel.show_figures(design, figures)
        self.problems_panel.show_problems(figures.problems)
        facility = figures.facility
        over = len(figures.over_capacity)
        verdict = f"{over} over capacity" if over else "within capacity"
        self.status_label.setText(
            f"{facility.rack_count} racks · {fmt(facility.it_power_kw)} kW IT · {verdict}"
        )

    def _update_title(self, *_: object) -> None:
        if self.document is None:
            self.setWindowTitle("FactoryFloor")
            return
        path = self.document.path
        name = "built-in demo" if self.document.built_in else path.name if path else "Untitled"
        if self.services.attached and path is None:
            name = self.services.describe()
        self.setWindowTitle(f"{self.document.design.name} — {name}[*] — FactoryFloor")
        self.setWindowModified(self.document.is_modified)

    def _show_selection(self) -> None:
        if self.document is None:
            return
        design = self.document.design
        selected = set(self.scene.selected_ids())
        entities = [e for section in (design.racks, design.cdus, design.loops, design.feeds)
                    for e in section if e.id in selected]  # fmt: skip
        choices = {
            "gpu_model": [m.id for m in design.gpu_models],
            "loop_id": [lp.id for lp in design.loops],
            "feed_id": [f.id for f in design.feeds],
            "cdu_id": [c.id for c in design.cdus],
        }
        self.properties_panel.show_selection(entities, choices)

    def _edit_field(self, field_edit: FieldEdit) -> None:
        problems = self.controller.set_field(field_edit)
        if problems:
            self.properties_panel.show_problems(problems)

    def select_entity(self, entity_id: str) -> None:
        if self.scene.select_entity(entity_id):
            self.plan_view.centerOn(self.scene.items_by_id[entity_id])

    # Closing -----------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.may_close():
            event.ignore()
            return
        settings = QSettings()
        settings.setValue("mainWindow/geometry", self.saveGeometry())
        settings.setValue("mainWindow/state", self.saveState())
        self.autosave.stop()
        self.services.disconnect()
        self.modes.shut_down()
        self.recovery.clear()
        self.tasks.shutdown()
        super().closeEvent(event)
