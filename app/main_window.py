"""The main window: assembles the plan editor, figures, problems and properties around one
open design document, and owns the file commands (new, open, save, recent, export, recovery).

Domain work lives in backend/ (edits, figures, files) and drawing in widgets/; this module only
wires them. File reads and writes run off the Qt thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.app.document import DesignDocument
from factoryfloor.app.editor_controller import EditorController
from factoryfloor.app.run_view import RunView
from factoryfloor.app.settings import recovery_store
from factoryfloor.backend.design.catalog import builtin_catalog
from factoryfloor.backend.design.design_file import (
    atomic_write_text,
    describe_file_error,
    design_to_json,
    load_design,
)
from factoryfloor.backend.design.figures_csv import figures_csv
from factoryfloor.backend.design.model import Design, Floor
from factoryfloor.backend.design.recovery import RecoveryFile
from factoryfloor.backend.design.report import fmt
from factoryfloor.resources import demo_path
from factoryfloor.widgets.colour_scale import ColourScaleBar
from factoryfloor.widgets.figures_panel import FiguresPanel
from factoryfloor.widgets.floor_plan import FloorPlanScene, PlanLegend
from factoryfloor.widgets.plan_editor import SELECT, PlanEditorView, Tool
from factoryfloor.widgets.plan_export import export_png, export_svg
from factoryfloor.widgets.problems_panel import ProblemsPanel
from factoryfloor.widgets.properties_panel import PropertiesPanel
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QUndoGroup
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

MAX_RECENT_FILES = 8
AUTOSAVE_INTERVAL_S = 30


@dataclass(frozen=True, slots=True)
class LoadedDesign:
    path: Path
    design: Design
    load_s: float


def load_timed(path: Path) -> LoadedDesign:
    """Runs on a worker thread: read and validate, timing the whole."""
    started = time.perf_counter()
    design = load_design(path)
    return LoadedDesign(path, design, time.perf_counter() - started)


class MainWindow(QMainWindow):
    design_shown = Signal(str)
    """Emitted with the file path (or "") once a design is on screen."""
    open_failed = Signal(str)
    """Emitted with the error text when a file could not be opened (the old design stays)."""
    saved = Signal(str)
    recovery_offered = Signal(object)
    """Emitted with the RecoveryFile offered at start, while the question is on screen."""

    def __init__(self) -> None:
        super().__init__()
        self.document: DesignDocument | None = None
        self.tasks = BackgroundTasks(self)
        self.undo_group = QUndoGroup(self)
        self.recovery = recovery_store()
        self._autosaved_index = -1
        self._close_after_save = False
        self.scene = FloorPlanScene(self)
        self.plan = PlanEditorView(self.scene)
        self.controller = EditorController(self.plan, self)
        self.figures_panel = FiguresPanel()
        self.problems_panel = ProblemsPanel()
        self.properties_panel = PropertiesPanel()
        self.scale_bar = ColourScaleBar()
        self.scale_bar.hide()
        self._stopping: list = []
        """Backends being stopped in the background (leaving Run mode)."""
        self._build_central()
        self.run_view = RunView(self, self.plan, self.scale_bar, self._dock)
        self.run_mode = self.run_view.run_mode
        self.control_room = None
        self._design_docks_shown: list[QDockWidget] = []
        self.run_mode.event.connect(
            lambda e: self.statusBar().showMessage(f"{e.source}: {e.subject}: {e.detail}", 8000)
        )
        self.figures_dock = self._dock("Figures", self.figures_panel,
                                       Qt.DockWidgetArea.RightDockWidgetArea)  # fmt: skip
        self.properties_dock = self._dock("Properties", self.properties_panel,
                                          Qt.DockWidgetArea.RightDockWidgetArea)  # fmt: skip
        self.tabifyDockWidget(self.properties_dock, self.figures_dock)
        self.problems_dock = self._dock("Problems", self.problems_panel,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)  # fmt: skip
        self.tabifyDockWidget(self.figures_dock, self.run_view.live_dock)
        self.figures_panel.entity_activated.connect(self.select_entity)
        self.problems_panel.entity_activated.connect(self.select_entity)
        self.properties_panel.field_edit_requested.connect(self._edit_field)
        self.scene.selectionChanged.connect(self._show_selection)
        self.controller.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.plan.pending_changed.connect(lambda text: self.statusBar().showMessage(text))
        self.status_label = QLabel()
        self.statusBar().addPermanentWidget(self.status_label)
        self._build_actions()
        self.resize(1440, 900)
        self.resizeDocks([self.figures_dock], [620], Qt.Orientation.Horizontal)
        self.resizeDocks([self.problems_dock], [150], Qt.Orientation.Vertical)
        self._restore_layout()
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_INTERVAL_S * 1000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self._update_title()

    # Layout -----------------------------------------------------------------------------------

    def _build_central(self) -> None:
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.plan, 1)
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

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        keys = QKeySequence.StandardKey
        c = self.controller
        self.new_action = self._action("&New", self.new_design, keys.New)
        self.open_action = self._action("&Open…", self.choose_file, keys.Open)
        self.save_action = self._action("&Save", self.save, keys.Save)
        self.save_as_action = self._action("Save &As…", self.save_as, keys.SaveAs)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.new_action, self.open_action])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(
            self._action("Open &Demo Facility", lambda: self.open_file(demo_path()))
        )
        file_menu.addSeparator()
        file_menu.addActions([self.save_action, self.save_as_action])
        export_menu = file_menu.addMenu("&Export")
        export_menu.addAction(self._action("Plan as &PNG…", lambda: self.export("png")))
        export_menu.addAction(self._action("Plan as &SVG…", lambda: self.export("svg")))
        export_menu.addAction(self._action("Figures as &CSV…", lambda: self.export("csv")))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.close, keys.Quit))

        self.edit_menu = self.menuBar().addMenu("&Edit")
        # The group's actions follow the open document's stack, with its labels ("Undo Move C05").
        self.undo_action = self.undo_group.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(keys.Undo)
        self.redo_action = self.undo_group.createRedoAction(self, "&Redo")
        self.redo_action.setShortcut(keys.Redo)
        self.undo_action.setIconText("Undo")  # the tool bar stays put; the menu names the edit
        self.redo_action.setIconText("Redo")
        self.edit_menu.addActions([self.undo_action, self.redo_action])
        self.edit_menu.addSeparator()
        edit_actions = [
            self._action("&Delete", c.delete_selection, keys.Delete),
            self._action("D&uplicate", c.duplicate_selection, "Ctrl+D"),
            self._action("R&otate 90°", c.rotate_selection, "Ctrl+R"),
            self._action("Select &All", self._select_all, keys.SelectAll),
        ]
        self.edit_menu.addActions(edit_actions)
        align_menu = self.edit_menu.addMenu("A&lign")
        for label, edge in (("Left", "left"), ("Right", "right"), ("Top", "top"),
                            ("Bottom", "bottom"), ("Centres horizontally", "v-centre"),
                            ("Centres vertically", "h-centre")):  # fmt: skip
            align_menu.addAction(self._action(label, lambda _=False, e=edge: c.align_selection(e)))
        distribute_menu = self.edit_menu.addMenu("Dis&tribute")
        distribute_menu.addAction(self._action("Horizontally", lambda: c.distribute_selection("x")))
        distribute_menu.addAction(self._action("Vertically", lambda: c.distribute_selection("y")))
        for action in edit_actions:
            self.plan.addAction(action)
        self.plan.addActions([self.undo_action, self.redo_action])

        view_menu = self.menuBar().addMenu("&View")
        fit = self._action("&Fit Hall", self.plan.fit_hall, "Ctrl+0")
        zoom_in = self._action("Zoom &In", lambda: self.plan.zoom_by(1.25), keys.ZoomIn)
        zoom_out = self._action("Zoom &Out", lambda: self.plan.zoom_by(0.8), keys.ZoomOut)
        view_menu.addActions([fit, zoom_in, zoom_out])
        view_menu.addSeparator()
        for dock in (self.properties_dock, self.figures_dock, self.problems_dock):
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        view_menu.addAction(self._action("&Control-Room Mode…", self.choose_control_room, "F11"))
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&About FactoryFloor", self._about))

        file_bar = self.addToolBar("File")
        file_bar.setObjectName("fileToolBar")
        file_bar.addActions([self.new_action, self.open_action, self.save_action])
        file_bar.addSeparator()
        file_bar.addActions([self.undo_action, self.redo_action])
        file_bar.addSeparator()
        file_bar.addActions([fit, zoom_in, zoom_out])
        self._build_tool_bar()
        self._build_mode_bar()

    def _build_tool_bar(self) -> None:
        bar = self.addToolBar("Tools")
        bar.setObjectName("toolsToolBar")
        group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        self.gpu_model_box = QComboBox()
        self.gpu_model_box.setToolTip("GPU model of the racks you place")
        self.gpu_model_box.setMinimumContentsLength(14)
        for key, label, shortcut in (
            ("select", "Select", "V"),
            ("rack", "Rack", "R"),
            ("cdu", "CDU", "C"),
            ("feed", "Feed", "F"),
            ("loop", "Draw Loop", "L"),
            ("assign", "Assign Feed", "A"),
        ):
            action = QAction(label, self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(f"{label} ({shortcut})")
            action.triggered.connect(lambda _=False, k=key: self._choose_tool(k))
            group.addAction(action)
            bar.addAction(action)
            self.plan.addAction(action)
            self.tool_actions[key] = action
            if key == "rack":
                bar.addWidget(self.gpu_model_box)
        self.tool_actions["select"].setChecked(True)
        self.gpu_model_box.currentIndexChanged.connect(lambda _: self._reselect_rack_tool())
        self.plan.tool_changed.connect(self._show_tool)
        bar.addSeparator()
        bar.addWidget(QLabel(" Grid "))
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
        bar.addWidget(self.grid_box)

    def _build_mode_bar(self) -> None:
        bar = self.addToolBar("Mode")
        bar.setObjectName("modeToolBar")
        group = QActionGroup(self)
        self.design_action = QAction("Design", self, checkable=True, checked=True)
        self.run_action = QAction("Run", self, checkable=True)
        self.run_action.setToolTip("Run: the plan coloured by live telemetry (F5)")
        self.run_action.setShortcut(QKeySequence("F5"))
        self.design_action.triggered.connect(self.enter_design)
        self.run_action.triggered.connect(self.enter_run)
        for action in (self.design_action, self.run_action):
            group.addAction(action)
            bar.addAction(action)
        self.quantity_box = self.run_view.quantity_box
        self.quantity_label = QLabel(" Show ")
        self.quantity_actions = [bar.addWidget(self.quantity_label),
                                 bar.addWidget(self.quantity_box)]  # fmt: skip
        for action in self.quantity_actions:
            action.setVisible(False)

    def enter_run(self) -> None:
        """Colour the plan by live telemetry; editing is off until back in Design."""
        if self.document is None or self.run_mode.running:
            return
        self.plan.set_tool(SELECT)
        self.plan.read_only = True
        self._set_editing_enabled(False)
        for action in self.quantity_actions:
            action.setVisible(True)
        # Properties and problems are about editing: their room goes to the live views.
        self._design_docks_shown = [d for d in (self.properties_dock, self.problems_dock)
                                    if d.isVisible()]  # fmt: skip
        for dock in self._design_docks_shown:
            dock.hide()
        document = self.document
        self.run_view.start(document.design, document.figures, document.path,
                            document.is_modified)  # fmt: skip
        self.statusBar().showMessage("Run: starting the telemetry backend…", 5000)

    def enter_design(self) -> None:
        if self.control_room is not None:
            self.control_room.close()
        client = self.run_view.stop()
        if client is not None:
            self._stopping.append(client)
            self.tasks.submit(client.stop, lambda _: self._stopping.remove(client),
                              lambda _: None)  # fmt: skip
        self.plan.read_only = False
        self._set_editing_enabled(True)
        for action in self.quantity_actions:
            action.setVisible(False)
        for dock in self._design_docks_shown:
            dock.show()
        self._design_docks_shown = []
        self.design_action.setChecked(True)

    def _set_editing_enabled(self, enabled: bool) -> None:
        for action in (*self.tool_actions.values(), *self.edit_menu.actions()):
            action.setEnabled(enabled)
        self.undo_group.setActiveStack(
            self.document.undo_stack if enabled and self.document else None
        )
        self.gpu_model_box.setEnabled(enabled)
        self.grid_box.setEnabled(enabled)
        self.properties_panel.setEnabled(enabled)

    def _choose_tool(self, key: str) -> None:
        if key == "select":
            tool = SELECT
        elif key in ("rack", "cdu", "feed"):
            tool = Tool(
                "place", key, self.gpu_model_box.currentData() or "" if key == "rack" else ""
            )
        else:
            tool = Tool("loop" if key == "loop" else "feed")
        self.plan.set_tool(tool)

    def _reselect_rack_tool(self) -> None:
        if self.plan.tool.what == "rack":
            self._choose_tool("rack")

    def _show_tool(self, tool: Tool) -> None:
        key = tool.what if tool.kind == "place" else {"feed": "assign"}.get(tool.kind, tool.kind)
        self.tool_actions[key].setChecked(True)

    def _set_grid(self, grid_m: float) -> None:
        self.plan.grid_m = grid_m
        self.scene.grid_m = grid_m
        self.scene.update()
        QSettings().setValue("editor/grid_m", grid_m)

    # Document ----------------------------------------------------------------------------------

    def set_document(self, document: DesignDocument) -> None:
        if self.run_mode.running:
            self.enter_design()
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
        self._fill_gpu_models(document.design)
        self.scene.show_design(document.design, document.figures)
        self._show_figures()
        self.plan.fit_hall()
        self._update_title()
        self._show_selection()

    def _fill_gpu_models(self, design: Design) -> None:
        self.gpu_model_box.blockSignals(True)
        self.gpu_model_box.clear()
        for model in design.gpu_models:
            self.gpu_model_box.addItem(model.id, model.id)
            self.gpu_model_box.setItemData(self.gpu_model_box.count() - 1, model.name,
                                           Qt.ItemDataRole.ToolTipRole)  # fmt: skip
        self.gpu_model_box.blockSignals(False)

    def _on_document_changed(self, touched: frozenset[str] | None) -> None:
        assert self.document is not None
        if touched is None:
            self.scene.show_design(self.document.design, self.document.figures)
        else:
            self.scene.refresh(self.document.design, self.document.figures, touched)
        self._show_figures()
        self._show_selection()

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
        name = self.document.path.name if self.document.path else "Untitled"
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

    def _edit_field(self, ids: list[str], field: str, value: object) -> None:
        problems = self.controller.set_field(ids, field, value)
        if problems:
            self.properties_panel.show_problems(problems)

    def _select_all(self) -> None:
        for item in self.scene.items_by_id.values():
            item.setSelected(True)

    def select_entity(self, entity_id: str) -> None:
        if self.scene.select_entity(entity_id):
            self.plan.centerOn(self.scene.items_by_id[entity_id])

    # Files -------------------------------------------------------------------------------------

    def new_design(self) -> None:
        if not self._may_discard_changes():
            return
        design = Design(name="Untitled hall", floor=Floor(width_m=30.0, depth_m=20.0),
                        gpu_models=builtin_catalog())  # fmt: skip
        self.set_document(DesignDocument(design, None, self))
        self.design_shown.emit("")

    def choose_file(self) -> None:
        if not self._may_discard_changes():
            return
        start = str(self.document.path.parent) if self.document and self.document.path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open design", start,
                                              "FactoryFloor design (*.json)")  # fmt: skip
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> None:
        """Load ``path`` in the background; the current design stays until the new one is good."""
        self.statusBar().showMessage(f"Opening {path}…")
        self.tasks.submit(lambda: load_timed(path), self._show_loaded,
                          lambda error: self._open_failed(path, error))  # fmt: skip

    def _show_loaded(self, loaded: LoadedDesign) -> None:
        self.set_document(DesignDocument(loaded.design, loaded.path, self))
        self._remember_recent(loaded.path)
        self.statusBar().showMessage(f"Opened {loaded.path} in {loaded.load_s * 1000:.0f} ms", 5000)
        self.design_shown.emit(str(loaded.path))

    def _open_failed(self, path: Path, error: BaseException) -> None:
        text = describe_file_error(path, error)
        still = (f"Still showing {self.document.path.name}."
                 if self.document and self.document.path else "")  # fmt: skip
        self.statusBar().showMessage(f"Could not open {path.name}. {still}", 8000)
        self._warn("Could not open design", f"{path.name} could not be opened. {still}", text)
        self.open_failed.emit(text)

    def _warn(self, title: str, text: str, details: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        box.setDetailedText(details)
        box.open()

    def save(self) -> None:
        if self.document is None:
            return
        if self.document.path is None:
            self.save_as()
        else:
            self.save_to(self.document.path)

    def save_as(self) -> None:
        if self.document is None:
            return
        start = str(self.document.path or Path.home() / "hall.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save design as", start,
                                              "FactoryFloor design (*.json)")  # fmt: skip
        if path:
            self.save_to(Path(path) if path.endswith(".json") else Path(path + ".json"))
        else:
            self._close_after_save = False

    def save_to(self, path: Path) -> None:
        """Serialise now (the design may change while the file is written), write in the
        background, and mark the document saved only if nothing changed meanwhile."""
        assert self.document is not None
        document = self.document
        text = design_to_json(document.design)
        index = document.undo_stack.index()
        self.statusBar().showMessage(f"Saving {path}…")

        def done(_: object) -> None:
            if document.undo_stack.index() == index:
                document.mark_saved(path)
            self.recovery.clear()
            self._remember_recent(path)
            self.statusBar().showMessage(f"Saved {path}", 5000)
            self.saved.emit(str(path))
            if self._close_after_save:
                self.close()

        def failed(error: BaseException) -> None:
            self._close_after_save = False
            self._warn("Could not save design", f"{path.name} was not saved; the file on disk "
                       "is unchanged.", describe_file_error(path, error, "write"))  # fmt: skip

        self.tasks.submit(lambda: atomic_write_text(path, text), done, failed)

    def export(self, kind: str) -> None:
        if self.document is None:
            return
        stem = self.document.path.stem if self.document.path else "hall"
        filters = {"png": "PNG image (*.png)", "svg": "SVG drawing (*.svg)",
                   "csv": "CSV figures (*.csv)"}  # fmt: skip
        path_text, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}",
                                                   f"{stem}.{kind}", filters[kind])  # fmt: skip
        if path_text:
            self.export_to(kind, Path(path_text))

    def export_to(self, kind: str, path: Path) -> None:
        """PNG and SVG render the scene (Qt thread, like any paint); CSV is written in the
        background."""
        assert self.document is not None

        def exported(_: object = None) -> None:
            self.statusBar().showMessage(f"Exported {path}", 5000)

        def failed(error: BaseException) -> None:
            self._warn(
                "Export failed",
                f"{path.name} was not written.",
                describe_file_error(path, error, "write"),
            )

        if kind == "csv":
            text = figures_csv(self.document.figures)
            self.tasks.submit(lambda: atomic_write_text(path, text), exported, failed)
            return
        try:
            if kind == "png":
                export_png(self.scene, path)
            else:
                export_svg(self.scene, path, self.document.design.name)
        except OSError as error:
            failed(error)
            return
        exported()

    def _remember_recent(self, path: Path) -> None:
        settings = QSettings()
        recent = [p for p in settings.value("recentFiles", [], list) if p != str(path)]
        settings.setValue("recentFiles", [str(path), *recent][:MAX_RECENT_FILES])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = QSettings().value("recentFiles", [], list)
        for path_text in recent:
            action = self.recent_menu.addAction(path_text)
            action.triggered.connect(lambda _=False, p=path_text: self._open_recent(Path(p)))
        self.recent_menu.setEnabled(bool(recent))

    def _open_recent(self, path: Path) -> None:
        if self._may_discard_changes():
            self.open_file(path)

    def _may_discard_changes(self) -> bool:
        """Ask before unsaved changes would be lost; True if the caller may go on."""
        if self.document is None or not self.document.is_modified:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"{self.document.design.name} has unsaved changes. Discard them?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )  # fmt: skip
        return answer == QMessageBox.StandardButton.Discard

    # Autosave and recovery ---------------------------------------------------------------------

    def autosave(self) -> None:
        """Write unsaved changes to this window's recovery file (in the background)."""
        if self.document is None or not self.document.is_modified:
            return
        index = self.document.undo_stack.index()
        if index == self._autosaved_index:
            return
        self._autosaved_index = index
        snapshot = self.document.design.model_copy(deep=True)  # edits go on while it is written
        original = self.document.path

        def failed(error: BaseException) -> None:
            self.statusBar().showMessage(f"Autosave failed: {error}", 8000)

        self.tasks.submit(lambda: self.recovery.write(snapshot, original), lambda _: None, failed)

    def start(self, path: Path) -> None:
        """At start: offer the newest autosave left by a FactoryFloor that did not close
        normally; open ``path`` if there is none or the user discards it."""
        abandoned = self.recovery.abandoned()
        if not abandoned:
            self.open_file(path)
            return
        recovery = abandoned[0]
        name = recovery.original_path.name if recovery.original_path else "an unsaved design"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recovery.saved_at))
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved changes",
                          f"FactoryFloor did not close normally. Unsaved changes to {name} "
                          f"were saved automatically at {when}.", parent=self)  # fmt: skip
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setObjectName("recoveryQuestion")
        box.finished.connect(
            lambda _: self._answer_recovery(recovery, box.clickedButton() is recover, path)
        )
        box.open()
        self.recovery_offered.emit(recovery)

    def _answer_recovery(self, recovery: RecoveryFile, accepted: bool, path: Path) -> None:
        if not accepted:
            self.recovery.discard(recovery)
            self.open_file(path)
            return

        def recovered(design: Design) -> None:
            document = DesignDocument(design, recovery.original_path, self)
            self.set_document(document)
            document.undo_stack.resetClean()  # recovered work is unsaved until saved
            self._update_title()
            self.recovery.discard(recovery)
            self.design_shown.emit(str(recovery.original_path or ""))

        self.tasks.submit(lambda: self.recovery.load(recovery), recovered,
                          lambda e: self._warn("Could not recover", "The autosave is damaged.",
                                               describe_file_error(recovery.path, e)))  # fmt: skip

    # Control room ------------------------------------------------------------------------------

    def choose_control_room(self) -> None:
        """Ask which monitor, panels and arrangement, then put the Run view on the wall."""
        from factoryfloor.app.control_room import ControlRoomDialog, WallLayout

        dialog = ControlRoomDialog(WallLayout.load(), self)
        dialog.accepted.connect(lambda: self.show_control_room(dialog.chosen()))
        dialog.open()

    def show_control_room(self, layout=None) -> None:
        """Full screen on the wall with ``layout`` (default: the one remembered); starts Run
        mode if needed. The layout is remembered for the next time."""
        from factoryfloor.app.control_room import ControlRoomWindow, WallLayout

        if self.document is None:
            return
        layout = layout or WallLayout.load()
        layout.save()
        self.enter_run()
        self.run_action.setChecked(True)
        if self.control_room is not None:
            self.control_room.close()
        self.control_room = ControlRoomWindow(self.run_view, layout)
        self.control_room.closed.connect(self._control_room_closed)
        self.control_room.show_on_screen(self.screen())
        self._cover_desk()
        if self.windowHandle() is not None:  # moved to the wall's screen, or away from it
            self.windowHandle().screenChanged.connect(self._cover_desk)

    def _cover_desk(self) -> None:
        """Whether the wall covers this window: full screen on the same screen."""
        wall = self.control_room
        covered = wall is not None and wall.screen().name() == self.screen().name()
        self.run_view.set_desk_covered(covered)

    def _control_room_closed(self) -> None:
        self.control_room = None
        if self.windowHandle() is not None:
            self.windowHandle().screenChanged.disconnect(self._cover_desk)
        self.run_view.set_desk_covered(False)

    # Window ------------------------------------------------------------------------------------

    def _about(self) -> None:
        QMessageBox.about(self, "About FactoryFloor",
                          "<b>FactoryFloor</b><br>Design and run AI factories: floor plan, "
                          "cooling, power and tokens per watt.")  # fmt: skip

    def _restore_layout(self) -> None:
        settings = QSettings()
        geometry = settings.value("mainWindow/geometry")
        state = settings.value("mainWindow/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.document is not None and self.document.is_modified:
            answer = QMessageBox.question(
                self, "Unsaved changes",
                f"Save changes to {self.document.design.name} before closing?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
            )  # fmt: skip
            if answer == QMessageBox.StandardButton.Cancel:
                event.ignore()
                return
            if answer == QMessageBox.StandardButton.Save:
                event.ignore()
                self._close_after_save = True
                self.save()
                return
        settings = QSettings()
        settings.setValue("mainWindow/geometry", self.saveGeometry())
        settings.setValue("mainWindow/state", self.saveState())
        self.autosave_timer.stop()
        self.enter_design()
        for client in self._stopping:  # at exit no backend may outlive the window
            client.stop()
        self.recovery.clear()
        self.tasks.shutdown()
        super().closeEvent(event)
