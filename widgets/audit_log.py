"""The audit log, searched: who did what to what, when, from which value to which, and with
what result (refused attempts included), filtered by time, user, action and result, newest
first; and whether the log is as it was written (its hash chain), at the press of Verify.

The view asks (``search_asked``, ``export_asked``: an ``AuditQuery``; ``verify_asked``) and shows
what the service answers; it never reads the log itself, which may be on another machine.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.service.audit import AuditEntry
from factoryfloor.backend.service.audit_chain import ChainCheck
from factoryfloor.backend.service.audit_query import AuditQuery
from factoryfloor.backend.service.messages import AuditSent
from factoryfloor.widgets.alarm_report import fill, read_only_table, when
from factoryfloor.widgets.form_dialog import ERROR_STYLE
from factoryfloor.widgets.time_range import TimeRange

COLUMNS = ("Time", "User", "Action", "Scope", "Result", "Old value", "New value", "Reason")
RESULTS = ("ok", "refused", "sent", "confirmed", "failed", "unconfirmed")
"""Offered in the result filter; another can be typed (the log takes any word)."""
RESULT_COLOURS = {"refused": "#b00020", "failed": "#b00020", "unconfirmed": "#c77700"}
"""Results that need a second look stand out; the rest are plain."""
INTACT_STYLE = "color: #1b7f3b"


def entry_cells(entry: AuditEntry) -> tuple[str, ...]:
    return (when(entry.time_s), entry.actor, entry.action, entry.subject, entry.outcome,
            entry.old_value, entry.new_value, entry.detail)  # fmt: skip


class AuditLogView(QWidget):
    search_asked = Signal(object)
    """An AuditQuery: list what it matches."""
    export_asked = Signal(object)
    """An AuditQuery: every entry it matches, as CSV."""
    verify_asked = Signal()
    """Check the log's hash chain."""

    def __init__(self, parent: QWidget | None = None, now_s: float | None = None) -> None:
        super().__init__(parent)
        self.time_range = TimeRange(time.time() if now_s is None else now_s)
        self.user_edit = QLineEdit()
        self.user_edit.setPlaceholderText("any user")
        self.action_edit = QLineEdit()
        self.action_edit.setPlaceholderText("any action (alarm, control, user.add…)")
        self.result_box = QComboBox()
        self.result_box.setEditable(True)
        self.result_box.addItem("")
        self.result_box.addItems(RESULTS)
        self.result_box.lineEdit().setPlaceholderText("any result")
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(lambda: self.search_asked.emit(self.query()))
        for edit in (self.user_edit, self.action_edit):
            edit.returnPressed.connect(self.search_button.click)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(lambda: self.export_asked.emit(self.query()))
        self.verify_button = QPushButton("Verify")
        self.verify_button.setToolTip("Check that no entry was deleted, edited or moved since it "
                                      "was written")  # fmt: skip
        self.verify_button.clicked.connect(self.verify_asked)
        filters = QHBoxLayout()
        self.time_range.add_to(filters)
        filters.addWidget(self.user_edit, 1)
        filters.addWidget(self.action_edit, 2)
        for widget in (self.result_box, self.search_button, self.export_button,
                       self.verify_button):  # fmt: skip
            filters.addWidget(widget)

        self.chain = QLabel("Not verified yet: Verify checks the whole log.")
        """Whether the log is intact, once verified."""
        self.chain.setWordWrap(True)
        self.table = read_only_table(COLUMNS, stretch=7)
        self.count = QLabel("")
        """How many entries are listed, and how many more matched."""
        self.message = QLabel("")
        """The last problem (a refusal, a file that could not be written) or what was done."""
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.chain)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count)
        layout.addWidget(self.message)

    def query(self) -> AuditQuery:
        """The search the filters describe, newest entries first."""
        since_s, until_s = self.time_range.range_s()
        return AuditQuery(
            since_s=since_s,
            until_s=until_s,
            user=self.user_edit.text().strip() or None,
            action=self.action_edit.text().strip() or None,
            result=self.result_box.currentText().strip() or None,
            newest_first=True,
        )

    def show_entries(self, sent: AuditSent) -> None:
        fill(self.table, [entry_cells(e) for e in sent.entries])
        for row, entry in enumerate(sent.entries):
            colour = RESULT_COLOURS.get(entry.outcome)
            if colour is not None:
                item = self.table.item(row, COLUMNS.index("Result"))
                item.setBackground(QBrush(QColor(colour)))
                item.setForeground(QBrush(QColor("white")))
        listed = f"{len(sent.entries):,} entries, newest first"
        self.count.setText(f"{listed}; {sent.more:,} older ones also match: narrow the search "
                           "or export them" if sent.more else listed)  # fmt: skip

    def show_check(self, check: ChainCheck) -> None:
        self.chain.setStyleSheet(INTACT_STYLE if check.intact else ERROR_STYLE)
        self.chain.setText(check.describe(when))

    def say(self, text: str, problem: bool = False) -> None:
        """Under the table: what went wrong (in red), or what was done."""
        self.message.setStyleSheet(ERROR_STYLE if problem else "")
        self.message.setText(text)
