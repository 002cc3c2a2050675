"""The main window: assembles the plan, the figures and the problems list around one design.

It owns no domain logic: it loads a design in the background, computes its figures (backend),
and hands both to the widgets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from app.background import BackgroundTasks
from app.cli import demo_path
from backend.design_file import DesignFileError, load_design
from backend.figures import DesignFigures, compute_figures
from backend.model import Design
from backend.report import fmt
from widgets.figures_panel import FiguresPanel
from widgets.floor_plan import FloorPlanScene, FloorPlanView, PlanLegend
from widgets.problems_panel import ProblemsPanel


@dataclass(frozen=True, slots=True)
class LoadedDesign:
    path: Path
    design: Design
    figures: DesignFigures
    load_s: float


def load_and_compute(path: Path) -> LoadedDesign:
    """Runs on a worker thread: read, validate and compute, timing the whole."""
    started = time.perf_counter()
    design = load_design(path)
    figures = compute_figures(design)
    return LoadedDesign(path, design, figures, time.perf_counter() - started)


class MainWindow(QMainWindow):
    design_shown = Signal(str)
    """Emitted with the file path once a design is on screen."""
    open_failed = Signal(str)
    """Emitted with the error text when a file could not be opened (the old design stays)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: LoadedDesign | None = None
        self.tasks = BackgroundTasks(self)
        self.scene = FloorPlanScene(self)
        self.plan = FloorPlanView(self.scene)
        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(0)
        centre_layout.addWidget(self.plan, 1)
        centre_layout.addWidget(PlanLegend())
        self.setCentralWidget(centre)
        self.figures_panel = FiguresPanel()
        self.problems_panel = ProblemsPanel()
        self.figures_dock = self._dock(
            "Figures", self.figures_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.problems_dock = self._dock(
            "Problems", self.problems_panel, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.figures_panel.entity_activated.connect(self.select_entity)
        self.problems_panel.entity_activated.connect(self.select_entity)
        self.status_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)
        self._build_actions()
        self.setWindowTitle("FactoryFloor")
        self.resize(1440, 900)
        self.resizeDocks([self.figures_dock], [620], Qt.Orientation.Horizontal)
        self.resizeDocks([self.problems_dock], [160], Qt.Orientation.Vertical)
        self._restore_layout()

    def _dock(self, title: str, widget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower()}Dock")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, shortcut: QKeySequence | str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        open_action = self._action("&Open…", self.choose_file, QKeySequence.StandardKey.Open)
        demo_action = self._action("Open &Demo Facility", lambda: self.open_file(demo_path()))
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        fit_action = self._action("&Fit Hall", self.plan.fit_hall, "Ctrl+0")
        zoom_in = self._action(
            "Zoom &In", lambda: self.plan.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn
        )
        zoom_out = self._action(
            "Zoom &Out", lambda: self.plan.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut
        )

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([open_action, demo_action])
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addActions([fit_action, zoom_in, zoom_out])
        view_menu.addSeparator()
        view_menu.addActions(
            [self.figures_dock.toggleViewAction(), self.problems_dock.toggleViewAction()]
        )
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&About FactoryFloor", self._about))

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.setMovable(False)
        toolbar.addActions([open_action, fit_action, zoom_in, zoom_out])

    def choose_file(self) -> None:
        start = str(self.loaded.path.parent) if self.loaded else ""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open design", start, "FactoryFloor design (*.json)"
        )
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> None:
        """Load ``path`` in the background; the current design stays until the new one is good."""
        self.status_label.setText(f"Opening {path}…")
        self.tasks.submit(lambda: load_and_compute(path), self._show_loaded,
                          lambda error: self._open_failed(path, error))  # fmt: skip

    def _show_loaded(self, loaded: LoadedDesign) -> None:
        first = self.loaded is None
        self.loaded = loaded
        self.scene.show_design(loaded.design, loaded.figures)
        self.figures_panel.show_figures(loaded.design, loaded.figures)
        self.problems_panel.show_problems(loaded.figures.problems)
        if first or not self.isVisible():
            self.plan.fit_hall()
        self.setWindowTitle(f"{loaded.design.name} — {loaded.path.name} — FactoryFloor")
        facility = loaded.figures.facility
        over = len(loaded.figures.over_capacity)
        verdict = f"{over} over capacity" if over else "within capacity"
        self.status_label.setText(
            f"{loaded.path}  ·  {facility.rack_count} racks, {fmt(facility.it_power_kw)} kW IT, "
            f"{verdict}  ·  opened in {loaded.load_s * 1000:.0f} ms"
        )
        self.design_shown.emit(str(loaded.path))

    def _open_failed(self, path: Path, error: BaseException) -> None:
        if isinstance(error, DesignFileError):
            text = str(error)
        elif isinstance(error, OSError):
            text = f"{path}: cannot read: {error.strerror or error}"
        else:
            text = f"{path}: unexpected error: {error!r}"
        still = f"Still showing {self.loaded.path.name}." if self.loaded else ""
        self.status_label.setText(f"Could not open {path.name}. {still}")
        box = QMessageBox(QMessageBox.Icon.Warning, "Could not open design",
                          f"{path.name} could not be opened. {still}", parent=self)  # fmt: skip
        box.setDetailedText(text)
        box.setModal(True)
        box.open()
        self.open_failed.emit(text)

    def select_entity(self, entity_id: str) -> None:
        if self.scene.select_entity(entity_id):
            self.plan.centerOn(self.scene.items_by_id[entity_id])

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
        settings = QSettings()
        settings.setValue("mainWindow/geometry", self.saveGeometry())
        settings.setValue("mainWindow/state", self.saveState())
        self.tasks.shutdown()
        super().closeEvent(event)
