"""Design > Hall Settings and Design > Telemetry Sources: the dialogs, and the one undoable edit
each applies to the open document.

In this window the local user is the design's engineer, so both are open to them; the edits go
on the document's undo stack like any plan edit, so they mark it modified, are undone with
Ctrl+Z, and travel with the design wherever it is applied or saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QDialog

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.app.document_window import DocumentWindow
from factoryfloor.backend.design import edits
from factoryfloor.backend.design.design_file import FieldProblem
from factoryfloor.backend.design.edits import Edit, EditError, HallSettings
from factoryfloor.backend.design.model import Design
from factoryfloor.widgets.hall_settings_dialog import HallSettingsDialog
from factoryfloor.widgets.telemetry_sources_dialog import TelemetrySourcesDialog


class SettingsCommands:
    def __init__(self, window: DocumentWindow, tasks: BackgroundTasks) -> None:
        self.window = window
        self.tasks = tasks
        self.dialog: QDialog | None = None
        """The settings dialog open now, if any."""

    def _push(self, build: Callable[[Design], Edit]) -> list[FieldProblem]:
        """Build the edit from the open design and push it; the problems that refused it."""
        document = self.window.document
        if document is None:
            return []
        try:
            edit = build(document.design)
        except EditError as error:
            return list(error.problems)
        document.push(edit)
        return []

    def edit_hall(self) -> None:
        document = self.window.document
        if document is None:
            return

        def apply(hall: HallSettings) -> list[FieldProblem]:
            return self._push(lambda design: edits.set_hall(design, hall))

        self._open(HallSettingsDialog(document.design, apply, self.window))

    def edit_telemetry(self) -> None:
        document = self.window.document
        if document is None:
            return

        def apply(telemetry: dict[str, Any]) -> list[FieldProblem]:
            return self._push(lambda design: edits.set_telemetry(design, telemetry))

        dialog = TelemetrySourcesDialog(document.design, apply, self.tasks.submit, self.window)
        self._open(dialog)

    def _open(self, dialog: QDialog) -> None:
        """Window-modal, without a nested event loop: the window keeps drawing meanwhile."""
        self.dialog = dialog
        dialog.finished.connect(lambda _result: self._closed(dialog))
        dialog.open()

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()
