"""The alarm journal, searched: every transition and operator action the service journaled (who,
when, what, old and new state, note), filtered by time, entity, priority and the state moved to,
newest first, with the performance report over the same time range on a tab of its own.

The view asks (``search_asked``, ``export_asked``: a ``JournalQuery``) and shows what the service
answers; it never reads the journal itself, which may be on another machine.
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
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.design.alarm_rules import PRIORITIES
from factoryfloor.backend.service.alarms.journal import JournalQuery
from factoryfloor.backend.service.alarms.states import AlarmState
from factoryfloor.backend.service.messages import AlarmReportSent, JournalEntry, JournalSent
from factoryfloor.widgets.alarm_panel import PRIORITY_COLOURS, STATE_WORDS
from factoryfloor.widgets.alarm_report import AlarmReportView, fill, read_only_table, when
from factoryfloor.widgets.form_dialog import ERROR_STYLE
from factoryfloor.widgets.time_range import TimeRange

COLUMNS = ("Time", "Priority", "Entity", "Alarm", "Event", "State", "User", "Note")


def state_word(state: str) -> str:
    return STATE_WORDS.get(state) or state.replace("_", " ").capitalize()


def entry_cells(entry: JournalEntry) -> tuple[str, ...]:
    return (when(entry.time_s), entry.priority.capitalize(), entry.entity,
            entry.message or entry.alarm_id, entry.event.replace("_", " "),
            f"{state_word(entry.old_state)} → {state_word(entry.new_state)}",
            entry.user or "system", entry.note)  # fmt: skip


class AlarmJournalView(QWidget):
    search_asked = Signal(object)
    """A JournalQuery: list what it matches, and report over its time range."""
    export_asked = Signal(object)
    """A JournalQuery: every entry it matches, as CSV."""

    def __init__(self, parent: QWidget | None = None, now_s: float | None = None) -> None:
        super().__init__(parent)
        self.time_range = TimeRange(time.time() if now_s is None else now_s)
        self.entity_edit = QLineEdit()
        self.entity_edit.setPlaceholderText("any entity (rack, CDU, loop, feed, host)")
        self.priority_box = QComboBox()
        self.priority_box.addItem("Any priority", None)
        for priority in PRIORITIES:
            self.priority_box.addItem(priority.capitalize(), priority)
        self.state_box = QComboBox()
        self.state_box.addItem("Any state", None)
        for state in AlarmState:
            self.state_box.addItem(f"To {state_word(state.value).lower()}", state.value)
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(lambda: self.search_asked.emit(self.query()))
        self.entity_edit.returnPressed.connect(self.search_button.click)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(lambda: self.export_asked.emit(self.query()))
        filters = QHBoxLayout()
        self.time_range.add_to(filters)
        filters.addWidget(self.entity_edit, 1)
        for widget in (self.priority_box, self.state_box, self.search_button, self.export_button):
            filters.addWidget(widget)

        self.table = read_only_table(COLUMNS, stretch=3)
        self.count = QLabel("")
        """How many entries are listed, and how many more matched."""
        entries = QWidget()
        entries_layout = QVBoxLayout(entries)
        entries_layout.setContentsMargins(0, 0, 0, 0)
        entries_layout.addWidget(self.table, 1)
        entries_layout.addWidget(self.count)
        self.report = AlarmReportView()
        self.tabs = QTabWidget()
        self.tabs.addTab(entries, "Entries")
        self.tabs.addTab(self.report, "Report")
        self.message = QLabel("")
        """The last problem (a refusal, a file that could not be written) or what was done."""
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.message)

    def query(self) -> JournalQuery:
        """The search the filters describe, newest entries first."""
        since_s, until_s = self.time_range.range_s()
        return JournalQuery(
            since_s=since_s,
            until_s=until_s,
            entity=self.entity_edit.text().strip() or None,
            priority=self.priority_box.currentData(),
            state=self.state_box.currentData(),
            newest_first=True,
        )

    def show_entries(self, sent: JournalSent) -> None:
        fill(self.table, [entry_cells(e) for e in sent.entries])
        for row, entry in enumerate(sent.entries):
            item = self.table.item(row, 1)
            item.setBackground(QBrush(PRIORITY_COLOURS[entry.priority]))
            item.setForeground(QBrush(QColor("black" if entry.priority == "low" else "white")))
        listed = f"{len(sent.entries):,} entries, newest first"
        self.count.setText(f"{listed}; {sent.more:,} older ones also match: narrow the search "
                           "or export them" if sent.more else listed)  # fmt: skip

    def show_report(self, report: AlarmReportSent) -> None:
        self.report.show_report(report)

    def say(self, text: str, problem: bool = False) -> None:
        """Under the tabs: what went wrong (in red), or what was done."""
        self.message.setStyleSheet(ERROR_STYLE if problem else "")
        self.message.setText(text)
