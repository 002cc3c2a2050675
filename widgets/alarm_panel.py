"""The alarm list as the service shows it: highest priority then newest first, with what an
operator does to an alarm (acknowledge with an optional note, shelve for a while).

The list is the service's, whole, every time it changes (``AlarmsChanged``): the window never
works out an alarm's state itself, so every attached window shows the same. Actions go to the
service, which checks the role: a viewer's acknowledge is refused there, and the reason is shown
here. A double-click finds the alarm's entity on the plan. The control-room wall shows the same
list without the actions (``actions=False``): a wall is read across a room, not clicked.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.service.alarms.states import Action
from factoryfloor.backend.service.messages import ActOnAlarm, AlarmsChanged, AlarmShown
from factoryfloor.widgets.alert_banner import AlertBanner
from factoryfloor.widgets.floor_plan import AlarmMark

PRIORITY_COLOURS = {"high": QColor("#c62828"), "medium": QColor("#ef8c00"),
                    "low": QColor("#f9d648")}  # fmt: skip
"""ISA-18.2 practice: red, orange, yellow; the word is always in the cell too."""
STATE_WORDS = {"unacknowledged": "Unacknowledged", "acknowledged": "Acknowledged",
               "rtn_unacknowledged": "Cleared, unacknowledged"}  # fmt: skip
SHELVE_CHOICES_S = (("15 min", 900.0), ("1 h", 3600.0), ("4 h", 4 * 3600.0),
                    ("8 h", 8 * 3600.0), ("24 h", 24 * 3600.0))  # fmt: skip
COLUMNS = ("Priority", "Entity", "Alarm", "State", "Since")
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}
UNACKNOWLEDGED_STATES = frozenset({"unacknowledged", "rtn_unacknowledged"})


def plan_marks(shown: AlarmsChanged) -> dict[str, AlarmMark]:
    """How the plan marks each entity with alarms: its highest priority's colour, blinking
    while any of them is unacknowledged."""
    marks: dict[str, AlarmMark] = {}
    for alarm in sorted(shown.alarms, key=lambda a: PRIORITY_RANK.get(a.priority, 3)):
        first = marks.get(alarm.entity)
        waiting = alarm.state in UNACKNOWLEDGED_STATES
        if first is None:
            marks[alarm.entity] = AlarmMark(PRIORITY_COLOURS[alarm.priority], waiting)
        elif waiting and not first.unacknowledged:
            marks[alarm.entity] = AlarmMark(first.colour, True)
    return marks


FLOOD_TEXT = ("Alarm flood: more than 10 new alarms in the last 10 minutes. Work the high "
              "priorities first.")  # fmt: skip


class AlarmPanel(QWidget):
    action_asked = Signal(object)
    """An ActOnAlarm for the service."""
    entity_chosen = Signal(str)
    """An alarm was double-clicked: find its entity."""

    def __init__(self, parent: QWidget | None = None, actions: bool = True) -> None:
        super().__init__(parent)
        self.alarms: tuple[AlarmShown, ...] = ()
        self.flood_banner = AlertBanner("")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.cellDoubleClicked.connect(self._find)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note (optional)")
        self.acknowledge_button = QPushButton("Acknowledge")
        self.acknowledge_button.clicked.connect(self._acknowledge)
        self.shelve_for = QComboBox()
        for label, seconds in SHELVE_CHOICES_S:
            self.shelve_for.addItem(label, seconds)
        self.shelve_button = QPushButton("Shelve for")
        self.shelve_button.clicked.connect(self._shelve)
        self.answer = QLabel("")
        """The service's refusal, in its words; empty once an action went through."""
        self.answer.setWordWrap(True)
        self.answer.setStyleSheet("color: #c62828;")
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.acknowledge_button)
        row.addWidget(self.shelve_button)
        row.addWidget(self.shelve_for)
        layout = QVBoxLayout(self)
        layout.addWidget(self.flood_banner)
        layout.addWidget(self.table, 1)
        if actions:
            layout.addLayout(row)
            layout.addWidget(self.answer)
        else:  # owned, never shown
            for widget in (self.note, self.acknowledge_button, self.shelve_button,
                           self.shelve_for, self.answer):  # fmt: skip
                widget.setParent(self)
                widget.hide()
        self.table.itemSelectionChanged.connect(self._enable)
        self._enable()

    def show_alarms(self, notice: AlarmsChanged) -> None:
        """The service's list, replacing the one shown; the alarm selected stays selected."""
        chosen = self.chosen()
        self.alarms = notice.alarms
        if notice.flood:
            self.flood_banner.show_message(FLOOD_TEXT, with_action=False)
        else:
            self.flood_banner.clear()
        table = self.table
        table.setRowCount(len(notice.alarms))
        for row, alarm in enumerate(notice.alarms):
            for column, text in enumerate(self._cells(alarm)):
                item = QTableWidgetItem(text)
                if alarm.state != "acknowledged":  # still needs someone: bold
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
            priority = table.item(row, 0)
            priority.setBackground(QBrush(PRIORITY_COLOURS[alarm.priority]))
            priority.setForeground(QBrush(QColor("black" if alarm.priority == "low" else "white")))
            if chosen is not None and alarm.alarm_id == chosen.alarm_id:
                table.selectRow(row)
        self._enable()

    @staticmethod
    def _cells(alarm: AlarmShown) -> tuple[str, ...]:
        state = STATE_WORDS.get(alarm.state, alarm.state)
        if alarm.chattering:
            state += " (chattering)"
        since = time.strftime("%H:%M:%S", time.localtime(alarm.changed_s))
        return (alarm.priority.capitalize(), alarm.entity, alarm.message or alarm.alarm_id,
                state, since)  # fmt: skip

    def chosen(self) -> AlarmShown | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.alarms):
            return None
        return self.alarms[rows[0].row()]

    def show_answer(self, refusal: str) -> None:
        """What the service answered an action: its reason for refusing (the note stays, to
        try again), or "" (done)."""
        self.answer.setText(refusal)
        if not refusal:
            self.note.clear()

    def _enable(self) -> None:
        chosen = self.chosen()
        self.acknowledge_button.setEnabled(chosen is not None and chosen.state != "acknowledged")
        self.shelve_button.setEnabled(chosen is not None)

    def _acknowledge(self) -> None:
        self._ask(Action.ACKNOWLEDGE, None)

    def _shelve(self) -> None:
        self._ask(Action.SHELVE, time.time() + self.shelve_for.currentData())

    def _ask(self, action: Action, shelve_until_s: float | None) -> None:
        chosen = self.chosen()
        if chosen is None:
            return
        self.answer.clear()
        self.action_asked.emit(
            ActOnAlarm(chosen.alarm_id, action.value, self.note.text().strip(), shelve_until_s)
        )

    def _find(self, row: int, _column: int) -> None:
        if row < len(self.alarms):
            self.entity_chosen.emit(self.alarms[row].entity)
