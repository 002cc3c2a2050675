"""The Commands dock: every command sent to the facility, as the service tells each window.

Newest first, each with who sent it, what it asked in words, and how its targets ended: a power
limit on 1,024 GPUs reads "1,020 confirmed · 4 failed" at a glance, and choosing it lists every
target with its value before, the value asked, what the equipment reads back and, where it did
not take, why. Every window attached to the service shows the same list, since it is the
service's (``CommandUpdated``), not this window's memory of what it sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.service.control.commands import CommandProgress, TargetResult

STATE_COLOURS = {"sent": QColor("#1565c0"), "confirmed": QColor("#2e7d32"),
                 "failed": QColor("#c62828"), "unconfirmed": QColor("#ef8c00"),
                 "refused": QColor("#6d4c41")}  # fmt: skip
STATE_WORDS = {"sent": "Sent", "confirmed": "Confirmed", "failed": "Failed",
               "unconfirmed": "Unconfirmed", "refused": "Refused"}  # fmt: skip
COMMAND_COLUMNS = ("Started", "By", "Command", "State", "Targets")
TARGET_COLUMNS = ("Target", "Was", "Asked", "Reads back", "State", "Why")
SHOWN_TARGETS = 2_000
"""Targets listed for the chosen command: a whole hall's GPUs are counted above it anyway."""


def target_counts(results: Iterable[TargetResult]) -> str:
    """``1,020 confirmed · 4 failed``: each state's count, in the states' order."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.state] = counts.get(result.state, 0) + 1
    return " · ".join(f"{counts[s]:,} {s}" for s in STATE_WORDS if s in counts)


class CommandPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.commands: list[CommandProgress] = []
        self.list = row_table(COMMAND_COLUMNS, stretch=2)
        self.list.itemSelectionChanged.connect(self._show_targets)
        self.targets = row_table(TARGET_COLUMNS, stretch=5)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #8a5a00;")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.list)
        splitter.addWidget(self.targets)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.notes)

    def show_commands(self, commands: Iterable[CommandProgress]) -> None:
        """The service's commands (any order); the one chosen stays chosen."""
        chosen = self.chosen()
        self.commands = sorted(commands, key=lambda c: c.started_s, reverse=True)
        self.list.setRowCount(len(self.commands))
        for row, command in enumerate(self.commands):
            started = time.strftime("%H:%M:%S", time.localtime(command.started_s))
            cells = (started, command.user, command.description, STATE_WORDS[command.state],
                     target_counts(command.results))  # fmt: skip
            for column, text in enumerate(cells):
                self.list.setItem(row, column, QTableWidgetItem(text))
            _colour(self.list.item(row, 3), command.state)
            if chosen is not None and command.command_id == chosen.command_id:
                self.list.selectRow(row)
        if chosen is not None:
            self._show_targets()

    def chosen(self) -> CommandProgress | None:
        rows = self.list.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.commands):
            return None
        return self.commands[rows[0].row()]

    def _show_targets(self) -> None:
        command = self.chosen()
        results = () if command is None else command.results[:SHOWN_TARGETS]
        self.targets.setRowCount(len(results))
        for row, r in enumerate(results):
            values = (number_text(v) for v in (r.old_value, r.new_value, r.read_back))
            cells = (r.target, *values, STATE_WORDS[r.state], r.reason)
            for column, text in enumerate(cells):
                self.targets.setItem(row, column, QTableWidgetItem(text))
            _colour(self.targets.item(row, 4), r.state)
        self.notes.setText("" if command is None else "\n".join(command.notes))


def row_table(columns: tuple[str, ...], stretch: int) -> QTableWidget:
    """A read-only table chosen a row at a time, columns fitted, column ``stretch`` filling."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(min(stretch, len(columns) - 1), QHeaderView.ResizeMode.Stretch)
    return table


def _colour(item: QTableWidgetItem, state: str) -> None:
    item.setForeground(QBrush(STATE_COLOURS[state]))
    font = item.font()
    font.setBold(True)
    item.setFont(font)


def number_text(value: float | None) -> str:
    """A value as the control views show it; "-" where there is none."""
    return "-" if value is None else f"{value:,.6g}"
