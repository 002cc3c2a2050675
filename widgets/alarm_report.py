"""The alarm performance report as the service worked it out (``AlarmReportSent``): how many new
alarms per operator-hour, floods, the ten most frequent, chattering and stale alarms, and the
priority split beside ISA-18.2's guide of about 5 % high, 15 % medium and 80 % low.

The figures are the service's; this view only words and lays them out, and marks what is off
the guide: a share more than half again its guide, or a rate over what one operator can handle.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.service.messages import AlarmReportSent

MANAGEABLE_PER_HOUR = 12.0
"""ISA-18.2's "maximum manageable" rate for one operator: about 300 alarms a day."""
ACCEPTABLE_PER_HOUR = 6.0
"""ISA-18.2's "very likely acceptable" rate: about 150 a day."""
OFF_GUIDE = QColor("#c62828")


def when(time_s: float) -> str:
    """Local time, to the second, as every table in the journal window shows it."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time_s))


def read_only_table(columns: Sequence[str], stretch: int | None = None) -> QTableWidget:
    """A table of rows to read and select (never to edit), sized to its contents."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    if stretch is not None:
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return table


def fill(table: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for row, cells in enumerate(rows):
        for column, text in enumerate(cells):
            table.setItem(row, column, QTableWidgetItem(text))


class AlarmReportView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.period = QLabel("No report yet")
        self.rate = QLabel("")
        font = self.rate.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.rate.setFont(font)
        self.rate_guide = QLabel(f"ISA-18.2: about {ACCEPTABLE_PER_HOUR:g} per operator-hour "
                                 f"is acceptable, {MANAGEABLE_PER_HOUR:g} at most")  # fmt: skip
        self.floods = QLabel("")
        self.chattering = QLabel("")
        for label in (self.period, self.floods, self.chattering):
            label.setWordWrap(True)
        self.priority_table = read_only_table(("Priority", "Share", "ISA-18.2 guide"))
        self.frequent_table = read_only_table(("Alarm", "New alarms"), stretch=0)
        self.stale_table = read_only_table(("Alarm", "Priority", "Active since"), stretch=0)
        grid = QGridLayout()
        for column, (title, table) in enumerate((
            ("Priority split", self.priority_table),
            ("Ten most frequent", self.frequent_table),
            ("Stale (active over 24 h)", self.stale_table),
        )):  # fmt: skip
            grid.addWidget(QLabel(f"<b>{title}</b>"), 0, column)
            grid.addWidget(table, 1, column)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.period)
        layout.addWidget(self.rate)
        layout.addWidget(self.rate_guide)
        layout.addWidget(self.floods)
        layout.addWidget(self.chattering)
        layout.addLayout(grid, 1)

    def show_report(self, report: AlarmReportSent) -> None:
        hours = (report.end_s - report.start_s) / 3600.0
        self.period.setText(f"From {when(report.start_s)} to {when(report.end_s)} "
                            f"({hours:,.1f} h)")  # fmt: skip
        plural = "" if report.new_alarms == 1 else "s"
        self.rate.setText(f"{report.new_alarms:,} new alarm{plural}, "
                          f"{report.per_operator_hour:,.2f} per operator-hour")  # fmt: skip
        over = report.per_operator_hour > MANAGEABLE_PER_HOUR
        self.rate.setStyleSheet(f"color: {OFF_GUIDE.name()}" if over else "")
        floods = ", ".join(
            f"{when(f.start_s)} to {when(f.end_s) if f.end_s is not None else 'now'} "
            f"({f.alarms} alarms)" for f in report.floods
        )  # fmt: skip
        self.floods.setText(f"Floods (more than 10 new alarms in 10 min): {len(report.floods)}"
                            + (f": {floods}" if floods else ""))  # fmt: skip
        self.chattering.setText("Chattering (3 or more in a minute): "
                                + (", ".join(report.chattering) or "none"))  # fmt: skip
        fill(self.priority_table, [(p.priority.capitalize(), f"{p.share:.0%}", f"{p.guide:.0%}")
                                   for p in report.priority_split])  # fmt: skip
        for row, share in enumerate(report.priority_split):
            if report.new_alarms and share.share > share.guide * 1.5:
                self.priority_table.item(row, 1).setForeground(QBrush(OFF_GUIDE))
        fill(self.frequent_table, [(c.alarm_id, f"{c.count:,}") for c in report.most_frequent])
        fill(self.stale_table, [(a.message or a.alarm_id, a.priority.capitalize(),
                                 when(a.active_since_s)) for a in report.stale])  # fmt: skip
