"""The main window as the parts around its document see it.

The file commands, autosave and mode switch act on "the open document", show lines on the
window's status bar and parent their dialogs to it. They are given this type rather than the
main window itself: the main window's module assembles them, so they must not import it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMainWindow, QMessageBox

from factoryfloor.app.document import DesignDocument


class DocumentWindow(QMainWindow):
    """A main window holding at most one open design document."""

    def __init__(self) -> None:
        super().__init__()
        self.document: DesignDocument | None = None
        """Replaced only by the main window, which re-points its views at the new one."""

    def warn(self, title: str, text: str, details: str) -> None:
        """A warning that does not block: ``details`` (the full error) under a button."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        box.setDetailedText(details)
        box.open()
