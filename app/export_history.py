"""File > Export > History: a time range of chosen series, as CSV or Parquet, from the service.

The service that records the history writes the export and sends the file back (a window keeps
no history of its own to export from); the window saves it where the user chose, atomically,
off the Qt thread. The same export is ``factoryfloor export`` on the service's machine.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QLineEdit,
    QMessageBox,
    QWidget,
)

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.app.document_window import DocumentWindow
from factoryfloor.backend.design.design_file import atomic_write_bytes, describe_file_error
from factoryfloor.backend.service.client import ServiceClient
from factoryfloor.backend.service.messages import ExportHistory, HistoryExported
from factoryfloor.backend.telemetry.protocol import Refused, Reply
from factoryfloor.widgets.form_dialog import lay_out_form

FILTERS = {"csv": "CSV table (*.csv)", "parquet": "Parquet table (*.parquet)"}
DEFAULT_PATTERNS = "facility/*, loop/*, cdu/*"


class ExportHistoryDialog(QDialog):
    """Which series, from when to when, at what step, in which format."""

    def __init__(self, parent: QWidget | None = None, now_s: float | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export History")
        now = QDateTime.fromSecsSinceEpoch(round(time.time() if now_s is None else now_s))
        self.patterns_edit = QLineEdit(DEFAULT_PATTERNS)
        self.patterns_edit.setToolTip("Series keys, patterns such as gpu/*/power_w, or an "
                                      "entity such as rack/A01, separated by commas")  # fmt: skip
        self.from_edit = QDateTimeEdit(now.addSecs(-3600))
        self.to_edit = QDateTimeEdit(now)
        for edit in (self.from_edit, self.to_edit):
            edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
            edit.setCalendarPopup(True)
        self.step_box = QDoubleSpinBox()
        self.step_box.setRange(1.0, 86_400.0)
        self.step_box.setDecimals(0)
        self.step_box.setSuffix(" s")
        self.step_box.setValue(1.0)
        self.format_box = QComboBox()
        self.format_box.addItem("CSV", "csv")
        self.format_box.addItem("Parquet", "parquet")
        rows = [
            ("Series:", self.patterns_edit),
            ("From:", self.from_edit),
            ("To:", self.to_edit),
            ("Step:", self.step_box),
            ("Format:", self.format_box),
        ]
        self.error_label = lay_out_form(self, rows, "Export…")
        self.chosen: ExportHistory | None = None

    def accept(self) -> None:
        patterns = tuple(p.strip() for p in self.patterns_edit.text().split(",") if p.strip())
        start_s = float(self.from_edit.dateTime().toSecsSinceEpoch())
        end_s = float(self.to_edit.dateTime().toSecsSinceEpoch())
        if not patterns:
            self.error_label.setText("Series: name at least one series or pattern.")
            return
        if end_s <= start_s:
            self.error_label.setText("To: must be after From.")
            return
        self.chosen = ExportHistory(patterns, start_s, end_s, self.step_box.value(),
                                    self.format_box.currentData())  # fmt: skip
        super().accept()


def export_history(window: DocumentWindow, link: ServiceClient | None,
                   tasks: BackgroundTasks) -> None:  # fmt: skip
    """Ask what to export, where to save it, then have the service make it."""
    if link is None:
        QMessageBox.information(window, "Export History",
                                "Exporting history needs a service: start Run, or connect to a "
                                "service with File > Connect to Service.")  # fmt: skip
        return
    dialog = ExportHistoryDialog(window)

    def chosen() -> None:
        request = dialog.chosen
        path, _ = QFileDialog.getSaveFileName(window, "Export history to",
                                              f"history.{request.format}",
                                              FILTERS[request.format])  # fmt: skip
        if path:
            save_export(window, link, tasks, request, path)

    dialog.accepted.connect(chosen)
    dialog.open()


def save_export(window: DocumentWindow, link: ServiceClient, tasks: BackgroundTasks,
                request: ExportHistory, path: str) -> None:  # fmt: skip
    """Send ``request``; save the file the service makes to ``path``, or say why not."""
    target = Path(path)
    window.statusBar().showMessage(f"Exporting history to {target}…")

    def answered(reply: Reply, parts: list[bytes]) -> None:
        if isinstance(reply, Refused) or not isinstance(reply, HistoryExported) or not parts:
            reason = getattr(reply, "reason", "the service sent no file")
            window.statusBar().clearMessage()
            QMessageBox.warning(window, "Export History", f"Nothing was exported: {reason}")
            return
        data = parts[0]
        tasks.submit(lambda: atomic_write_bytes(target, data),
                     lambda _: window.statusBar().showMessage(
                         f"Exported {reply.series:,} series x {reply.rows:,} rows to {target}",
                         10_000),
                     lambda error: QMessageBox.warning(window, "Export History",
                                                       describe_file_error(target, error,
                                                                           "write")))  # fmt: skip

    link.send(request, answered)
