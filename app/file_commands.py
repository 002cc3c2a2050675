"""The File menu's commands: new, open, open recent, save, save as, export, and the questions
asked before unsaved changes would be lost.

Reads and writes run off the Qt thread (``BackgroundTasks``); the open design stays on screen
until a newly opened one has loaded and validated. A design read or created here is handed to
the window with ``document_ready``.

A design opened from FactoryFloor's own files (the built-in demo, inside the installed package)
is saved as an untitled one is: Save asks for a file name, and no save writes into that folder.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.app.document import DesignDocument
from factoryfloor.app.document_window import DocumentWindow
from factoryfloor.backend.design.catalog import builtin_catalog
from factoryfloor.backend.design.design_file import (
    atomic_write_text,
    describe_file_error,
    design_to_json,
    load_design,
)
from factoryfloor.backend.design.figures_csv import figures_csv
from factoryfloor.backend.design.leftovers import remove_stale_save_temps
from factoryfloor.backend.design.model import Design, Floor
from factoryfloor.backend.design.recovery import RecoveryStore
from factoryfloor.resources import bundled_folder, is_bundled
from factoryfloor.widgets.floor_plan import FloorPlanScene
from factoryfloor.widgets.plan_export import export_png, export_svg

MAX_RECENT_FILES = 8
DESIGN_FILTER = "FactoryFloor design (*.json)"


class ExportFormat(enum.Enum):
    """What File > Export writes; the value is the file suffix."""

    PNG = "png"
    SVG = "svg"
    CSV = "csv"

    @property
    def file_filter(self) -> str:
        return _FILE_FILTERS[self]


_FILE_FILTERS = {
    ExportFormat.PNG: "PNG image (*.png)",
    ExportFormat.SVG: "SVG drawing (*.svg)",
    ExportFormat.CSV: "CSV figures (*.csv)",
}


@dataclass(frozen=True, slots=True)
class LoadedDesign:
    path: Path
    design: Design
    load_s: float
    leftovers_removed: int = 0
    """Temporary files of interrupted saves removed beside it."""


def load_timed(path: Path) -> LoadedDesign:
    """Runs on a worker thread: read and validate, timing the whole; then remove what saves
    of this design killed midway left beside it."""
    started = time.perf_counter()
    design = load_design(path)
    load_s = time.perf_counter() - started
    return LoadedDesign(path, design, load_s, len(remove_stale_save_temps(path.parent, path.name)))


class FileCommands(QObject):
    """What the File menu and tool bar do, and what the command line opens."""

    document_ready = Signal(DesignDocument)
    """A new, or newly opened and valid, document for the window to show."""
    open_failed = Signal(str)
    """Emitted with the error text when a file could not be opened (the old design stays)."""
    saved = Signal(str)
    """Emitted with the path once a save has reached the disk."""

    def __init__(self, window: DocumentWindow, scene: FloorPlanScene, tasks: BackgroundTasks,
                 recovery: RecoveryStore):  # fmt: skip
        super().__init__(window)
        self.window = window
        self.scene = scene
        """What PNG and SVG exports draw."""
        self.tasks = tasks
        self.recovery = recovery
        self._close_after_save = False

    # Opening -----------------------------------------------------------------------------------

    def new_design(self) -> None:
        if not self._may_discard_changes():
            return
        design = Design(name="Untitled hall", floor=Floor(width_m=30.0, depth_m=20.0),
                        gpu_models=builtin_catalog())  # fmt: skip
        self.document_ready.emit(DesignDocument(design, None, self.window))

    def choose_file(self) -> None:
        if not self._may_discard_changes():
            return
        document = self.window.document
        start = str(document.path.parent) if document and document.path else ""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open design", start, DESIGN_FILTER)
        if path:
            self.open_file(Path(path))

    def open_file(self, path: Path) -> None:
        """Load ``path`` in the background; the current design stays until the new one is good."""
        self.window.statusBar().showMessage(f"Opening {path}…")
        self.tasks.submit(lambda: load_timed(path), self._show_loaded,
                          lambda error: self._open_failed(path, error))  # fmt: skip

    def _show_loaded(self, loaded: LoadedDesign) -> None:
        self._remember_recent(loaded.path)
        removed = loaded.leftovers_removed
        self.window.statusBar().showMessage(
            f"Opened {loaded.path} in {loaded.load_s * 1000:.0f} ms"
            + (f"; removed {removed} temporary file(s) left by interrupted saves" if removed
               else ""), 8000 if removed else 5000)  # fmt: skip
        self.document_ready.emit(DesignDocument(loaded.design, loaded.path, self.window))

    def _open_failed(self, path: Path, error: BaseException) -> None:
        text = describe_file_error(path, error)
        document = self.window.document
        still = f"Still showing {document.path.name}." if document and document.path else ""
        self.window.statusBar().showMessage(f"Could not open {path.name}. {still}", 8000)
        self.window.warn("Could not open design", f"{path.name} could not be opened. {still}",
                         text)  # fmt: skip
        self.open_failed.emit(text)

    def fill_recent_menu(self, menu: QMenu) -> None:
        """Fill File > Open Recent as it opens: the files last opened or saved, newest first."""
        menu.clear()
        recent = QSettings().value("recentFiles", [], list)
        for path_text in recent:
            action = menu.addAction(path_text)
            action.triggered.connect(lambda _=False, p=path_text: self._open_recent(Path(p)))
        menu.setEnabled(bool(recent))

    def _open_recent(self, path: Path) -> None:
        if self._may_discard_changes():
            self.open_file(path)

    def _remember_recent(self, path: Path) -> None:
        settings = QSettings()
        recent = [p for p in settings.value("recentFiles", [], list) if p != str(path)]
        settings.setValue("recentFiles", [str(path), *recent][:MAX_RECENT_FILES])

    # Saving ------------------------------------------------------------------------------------

    def save(self) -> None:
        document = self.window.document
        if document is None:
            return
        if document.path is None or document.built_in:
            self.save_as()
        else:
            self.save_to(document.path)

    def save_as(self) -> None:
        """Ask for a file name (without blocking: the dialog is ``saveAsDialog``) and save there;
        cancelling also cancels a close that was waiting for the save."""
        document = self.window.document
        if document is None:
            return
        if document.path is None:
            start = str(Path.home() / "hall.json")
        elif document.built_in:
            start = str(Path.home() / document.path.name)
        else:
            start = str(document.path)
        dialog = QFileDialog(self.window, "Save design as", start, DESIGN_FILTER)
        dialog.setObjectName("saveAsDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.selectFile(start)
        dialog.fileSelected.connect(self._save_as_chosen)
        dialog.rejected.connect(self._cancel_close)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _save_as_chosen(self, path: str) -> None:
        self.save_to(Path(path) if path.endswith(".json") else Path(path + ".json"))

    def _cancel_close(self) -> None:
        self._close_after_save = False

    def save_to(self, path: Path) -> None:
        """Serialise now (the design may change while the file is written), write in the
        background, and mark the document saved only if nothing changed meanwhile."""
        document = self.window.document
        assert document is not None
        if is_bundled(path):
            self._cancel_close()
            self.window.warn(
                "Could not save design",
                f"{path.name} was not saved: FactoryFloor's own files are never overwritten. "
                "Save the design under another name, outside the installed package.",
                f"{path} is inside {bundled_folder()}, the folder FactoryFloor is installed with.",
            )
            return
        text = design_to_json(document.design)
        index = document.undo_stack.index()
        self.window.statusBar().showMessage(f"Saving {path}…")

        def done(_: object) -> None:
            if document.undo_stack.index() == index:
                document.mark_saved(path)
            self.recovery.clear()
            self._remember_recent(path)
            self.window.statusBar().showMessage(f"Saved {path}", 5000)
            self.saved.emit(str(path))
            if self._close_after_save:
                self.window.close()

        def failed(error: BaseException) -> None:
            self._cancel_close()
            self.window.warn(
                "Could not save design",
                f"{path.name} was not saved; the file on disk is unchanged.",
                describe_file_error(path, error, "write"),
            )

        self.tasks.submit(lambda: atomic_write_text(path, text), done, failed)

    # Exporting ---------------------------------------------------------------------------------

    def export(self, export_format: ExportFormat) -> None:
        document = self.window.document
        if document is None:
            return
        stem = document.path.stem if document.path else "hall"
        suffix = export_format.value
        path_text, _ = QFileDialog.getSaveFileName(self.window, f"Export {suffix.upper()}",
                                                   f"{stem}.{suffix}",
                                                   export_format.file_filter)  # fmt: skip
        if path_text:
            self.export_to(export_format, Path(path_text))

    def export_to(self, export_format: ExportFormat, path: Path) -> None:
        """PNG and SVG render the scene (Qt thread, like any paint); CSV is written in the
        background."""
        document = self.window.document
        assert document is not None

        def exported(_: object = None) -> None:
            self.window.statusBar().showMessage(f"Exported {path}", 5000)

        def failed(error: BaseException) -> None:
            self.window.warn("Export failed", f"{path.name} was not written.",
                             describe_file_error(path, error, "write"))  # fmt: skip

        if export_format is ExportFormat.CSV:
            text = figures_csv(document.figures)
            self.tasks.submit(lambda: atomic_write_text(path, text), exported, failed)
            return
        try:
            if export_format is ExportFormat.PNG:
                export_png(self.scene, path)
            else:
                export_svg(self.scene, path, document.design.name)
        except OSError as error:
            failed(error)
            return
        exported()

    # Unsaved changes ---------------------------------------------------------------------------

    def may_close(self) -> bool:
        """Before the window closes: ask to save unsaved changes. True if it may close now;
        False if the user cancelled, or chose Save (the window closes once it is saved)."""
        document = self.window.document
        if document is None or not document.is_modified:
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes",
            f"Save changes to {document.design.name} before closing?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Save:
            self._close_after_save = True
            self.save()
            return False
        return answer != QMessageBox.StandardButton.Cancel

    def _may_discard_changes(self) -> bool:
        """Ask before unsaved changes would be lost; True if the caller may go on."""
        document = self.window.document
        if document is None or not document.is_modified:
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes",
            f"{document.design.name} has unsaved changes. Discard them?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )  # fmt: skip
        return answer == QMessageBox.StandardButton.Discard
