"""Autosave and recovery: unsaved work survives a crash.

While the window runs, :class:`Autosave` writes unsaved changes to this process's recovery file
every ``interval_s`` (in the background). At the next start, :class:`RecoveryOffer` offers the
newest recovery file a FactoryFloor that did not close normally left behind, before anything
else opens. A save, or a normal exit, removes the file (the window's close does that).
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.app.document import DesignDocument
from factoryfloor.app.document_window import DocumentWindow
from factoryfloor.app.file_commands import FileCommands
from factoryfloor.backend.design.design_file import describe_file_error
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.recovery import RecoveryFile, RecoveryStore

AUTOSAVE_INTERVAL_S = 30


class Autosave(QObject):
    """Writes unsaved changes on a timer, skipping a write while the same document's undo stack
    stands where it stood at the last one."""

    def __init__(self, window: DocumentWindow, tasks: BackgroundTasks, recovery: RecoveryStore,
                 interval_s: float = AUTOSAVE_INTERVAL_S):  # fmt: skip
        super().__init__(window)
        self.window = window
        self.tasks = tasks
        self.recovery = recovery
        self._written: tuple[DesignDocument, int] | None = None
        """The document and its undo-stack index at the last write."""
        self._timer = QTimer(self)
        self._timer.setInterval(round(interval_s * 1000))
        self._timer.timeout.connect(self.write)
        self._timer.start()

    def write(self) -> None:
        """Write unsaved changes to this window's recovery file (in the background)."""
        document = self.window.document
        if document is None or not document.is_modified:
            return
        written = (document, document.undo_stack.index())  # a document equals only itself
        if written == self._written:
            return
        self._written = written
        snapshot = document.design.model_copy(deep=True)  # edits go on while it is written
        original = document.path

        def failed(error: BaseException) -> None:
            self.window.statusBar().showMessage(f"Autosave failed: {error}", 8000)

        self.tasks.submit(lambda: self.recovery.write(snapshot, original), lambda _: None, failed)

    def stop(self) -> None:
        self._timer.stop()


class RecoveryOffer(QObject):
    """The question asked at start when a crashed session left unsaved work."""

    recovery_offered = Signal(RecoveryFile)
    """Emitted with the RecoveryFile offered at start, while the question is on screen."""
    document_ready = Signal(DesignDocument)
    """The recovered design, unsaved, for the window to show."""

    def __init__(self, window: DocumentWindow, tasks: BackgroundTasks, recovery: RecoveryStore,
                 files: FileCommands):  # fmt: skip
        super().__init__(window)
        self.window = window
        self.tasks = tasks
        self.recovery = recovery
        self.files = files

    def offer_or_open(self, path: Path) -> None:
        """At start: offer the newest autosave left by a FactoryFloor that did not close
        normally; open ``path`` if there is none or the user discards it."""
        abandoned = self.recovery.abandoned()
        if not abandoned:
            self.files.open_file(path)
            return
        recovery = abandoned[0]
        name = recovery.original_path.name if recovery.original_path else "an unsaved design"
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recovery.saved_at))
        box = QMessageBox(QMessageBox.Icon.Question, "Recover unsaved changes",
                          f"FactoryFloor did not close normally. Unsaved changes to {name} "
                          f"were saved automatically at {when}.", parent=self.window)  # fmt: skip
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setObjectName("recoveryQuestion")
        box.finished.connect(lambda _: self._answer(recovery, box.clickedButton() is recover, path))
        box.open()
        self.recovery_offered.emit(recovery)

    def _answer(self, recovery: RecoveryFile, accepted: bool, path: Path) -> None:
        if not accepted:
            self.recovery.discard(recovery)
            self.files.open_file(path)
            return

        def recovered(design: Design) -> None:
            document = DesignDocument(design, recovery.original_path, self.window)
            document.undo_stack.resetClean()  # recovered work is unsaved until saved
            self.recovery.discard(recovery)
            self.document_ready.emit(document)

        def failed(error: BaseException) -> None:
            self.window.warn("Could not recover", "The autosave is damaged.",
                             describe_file_error(recovery.path, error))  # fmt: skip

        self.tasks.submit(lambda: self.recovery.load(recovery), recovered, failed)
