"""The alarm list as the service shows it: highest priority then newest first, with what an
operator does to an alarm (acknowledge with an optional note, shelve for a while).

The list is the service's, whole, every time it changes (``AlarmsChanged``): the window never
works out an alarm's state itself, so every attached window shows the same. Actions go to the
service, which checks the role: a viewer's acknowledge is refused there, and the reason is shown
here. A click on an alarm finds what it is about in every view. The control-room wall shows the same
list without the actions (``actions=False``): a wall is read across a room, not clicked.
During a flood the table groups alarms by rule (``alarm_rows``); a click on a group lists its
alarms under it, and acknowledging or shelving a group acts on each of its alarms, each checked
and journaled by the service as if done one by one.
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

from factoryfloor.backend.design.alarm_rules import LEAK_RULE
from factoryfloor.backend.service.alarms.evaluator import rule_of
from factoryfloor.backend.service.alarms.states import Action
from factoryfloor.backend.service.messages import ActOnAlarm, AlarmsChanged, AlarmShown
from factoryfloor.widgets.alarm_rows import UNACKNOWLEDGED_STATES, AlarmRow, alarm_rows
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
    alarm_chosen = Signal(object)
    """An alarm's row was clicked (its AlarmShown): find what it is about."""
    isolate_asked = Signal(str)
    """A leak's alarm chosen and "Isolate rack…" pressed: the rack's id (the window opens the
    isolation's confirmation)."""

    def __init__(self, parent: QWidget | None = None, actions: bool = True) -> None:
        super().__init__(parent)
        self._actions = actions
        self.alarms: tuple[AlarmShown, ...] = ()
        self.flood = False
        self.rows: list[AlarmRow] = []
        self.opened: set[str] = set()
        """The rules whose flood group lists its alarms."""
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
        self.table.cellClicked.connect(self._clicked)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note (optional)")
        self.acknowledge_button = QPushButton("Acknowledge")
        self.acknowledge_button.clicked.connect(self._acknowledge)
        self.shelve_for = QComboBox()
        for label, seconds in SHELVE_CHOICES_S:
            self.shelve_for.addItem(label, seconds)
        self.shelve_button = QPushButton("Shelve for")
        self.shelve_button.clicked.connect(self._shelve)
        self.isolate_button = QPushButton("Isolate rack…")
        self.isolate_button.setToolTip("A leak: isolate the rack's liquid circuit (you confirm "
                                       "what is sent)")  # fmt: skip
        self.isolate_button.clicked.connect(self._isolate)
        self.answer = QLabel("")
        """The service's refusal, in its words; empty once an action went through."""
        self.answer.setWordWrap(True)
        self.answer.setStyleSheet("color: #c62828;")
        row = QHBoxLayout()
        row.addWidget(self.note, 1)
        row.addWidget(self.acknowledge_button)
        row.addWidget(self.shelve_button)
        row.addWidget(self.shelve_for)
        row.addWidget(self.isolate_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.flood_banner)
        layout.addWidget(self.table, 1)
        if actions:
            layout.addLayout(row)
            layout.addWidget(self.answer)
        else:  # owned, never shown
            for widget in (self.note, self.acknowledge_button, self.shelve_button,
                           self.shelve_for, self.isolate_button, self.answer):  # fmt: skip
                widget.setParent(self)
                widget.hide()
        self.table.itemSelectionChanged.connect(self._enable)
        self._enable()

    def show_alarms(self, notice: AlarmsChanged) -> None:
        """The service's list, replacing the one shown; the row selected stays selected."""
        self.alarms, self.flood = notice.alarms, notice.flood
        if notice.flood:
            self.flood_banner.show_message(FLOOD_TEXT, with_action=False)
        else:
            self.flood_banner.clear()
            self.opened.clear()
        self._fill()

    def _fill(self) -> None:
        chosen = self.chosen()
        self.rows = alarm_rows(self.alarms, self.flood, self.opened)
        table = self.table
        header = table.horizontalHeader()
        fitted = [c for c in range(len(COLUMNS)) if header.sectionResizeMode(c)
                  == QHeaderView.ResizeMode.ResizeToContents]  # fmt: skip
        for column in fitted:  # fitted to every row once, not again after every cell
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        table.setUpdatesEnabled(False)
        table.setRowCount(len(self.rows))
        for row, shown in enumerate(self.rows):
            for column, text in enumerate(self._cells(shown)):
                item = QTableWidgetItem(text)
                if shown.waiting:  # still needs someone: bold
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                table.setItem(row, column, item)
            priority = shown.first.priority
            cell = table.item(row, 0)
            cell.setBackground(QBrush(PRIORITY_COLOURS[priority]))
            cell.setForeground(QBrush(QColor("black" if priority == "low" else "white")))
            if chosen is not None and _same_row(shown, chosen):
                table.selectRow(row)
        for column in fitted:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        table.setUpdatesEnabled(True)
        self._enable()

    @staticmethod
    def _cells(row: AlarmRow) -> tuple[str, ...]:
        alarm = row.first
        if row.group is None:
            state = STATE_WORDS.get(alarm.state, alarm.state)
            if alarm.chattering:
                state += " (chattering)"
        else:
            waiting = len(row.waiting)
            state = f"{waiting} of {len(row.alarms)} unacknowledged" if waiting else "Acknowledged"
            chattering = sum(a.chattering for a in row.alarms)
            if chattering:
                state += f" ({chattering} chattering)"
        newest_s = max(a.changed_s for a in row.alarms)
        since = time.strftime("%H:%M:%S", time.localtime(newest_s))
        return (alarm.priority.capitalize(), row.entity_text(), row.message_text(), state, since)

    def chosen(self) -> AlarmRow | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.rows):
            return None
        return self.rows[rows[0].row()]

    def select_alarm(self, alarm_id: str) -> None:
        """Select ``alarm_id``'s row, listing its flood group's alarms if it is in one."""
        for row in self.rows:
            if row.group is not None and any(a.alarm_id == alarm_id for a in row.alarms):
                self.opened.add(row.group)
                self._fill()
                break
        for i, row in enumerate(self.rows):
            if row.group is None and row.first.alarm_id == alarm_id:
                self.table.selectRow(i)
                self.table.scrollToItem(self.table.item(i, 0))
                return

    def show_answer(self, refusal: str) -> None:
        """What the service answered an action: its reason for refusing (the note stays, to
        try again), or "" (done)."""
        self.answer.setText(refusal)
        if not refusal:
            self.note.clear()

    def _enable(self) -> None:
        chosen = self.chosen()
        waiting = () if chosen is None else chosen.waiting
        self.acknowledge_button.setEnabled(bool(waiting))
        grouped = chosen is not None and chosen.group is not None
        self.acknowledge_button.setText(f"Acknowledge {len(waiting)}" if grouped and waiting
                                        else "Acknowledge")  # fmt: skip
        self.shelve_button.setEnabled(chosen is not None)
        self.isolate_button.setVisible(self._actions and self._leak(chosen) is not None)

    @staticmethod
    def _leak(row: AlarmRow | None) -> str | None:
        """The rack of a leak's alarm row, which isolating answers; None for any other row."""
        if row is None or row.group is not None or rule_of(row.first.alarm_id) != LEAK_RULE:
            return None
        return row.first.entity

    def _isolate(self) -> None:
        rack_id = self._leak(self.chosen())
        if rack_id is not None:
            self.isolate_asked.emit(rack_id)

    def _acknowledge(self) -> None:
        chosen = self.chosen()
        if chosen is not None:
            self._ask(chosen.waiting, Action.ACKNOWLEDGE, None)

    def _shelve(self) -> None:
        chosen = self.chosen()
        if chosen is not None:
            self._ask(chosen.alarms, Action.SHELVE, time.time() + self.shelve_for.currentData())

    def _ask(self, alarms: tuple[AlarmShown, ...], action: Action,
             shelve_until_s: float | None) -> None:  # fmt: skip
        self.answer.clear()
        note = self.note.text().strip()
        for alarm in alarms:
            self.action_asked.emit(ActOnAlarm(alarm.alarm_id, action.value, note, shelve_until_s))

    def _clicked(self, row: int, _column: int) -> None:
        if row >= len(self.rows):
            return
        clicked = self.rows[row]
        if clicked.group is None:
            self.alarm_chosen.emit(clicked.first)
            return
        self.opened ^= {clicked.group}
        self._fill()


def _same_row(row: AlarmRow, other: AlarmRow) -> bool:
    """The same alarm's row, or the same rule's group, across two lists."""
    if row.group is not None or other.group is not None:
        return row.group == other.group
    return row.first.alarm_id == other.first.alarm_id and row.in_group == other.in_group
