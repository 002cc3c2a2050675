"""The wall's alarm strip: one line across the top, always there, whatever panels are shown.

A wall rotates or tiles panels, and the alarm table may be off screen or not chosen at all; the
one thing an operator across the room must never miss is that an alarm is waiting. The strip
shows how many alarms wait at each priority and the most urgent one in words ("L-B2: 315 kW, over
CDU-B2's 300 kW"), on its priority's colour; with nothing waiting it says so in calm grey, so a
blank strip never reads as "all clear" when the list is simply unknown.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QWidget

from factoryfloor.backend.design.alarm_rules import PRIORITIES
from factoryfloor.backend.service.messages import AlarmsChanged
from factoryfloor.widgets.alarm_panel import PRIORITY_COLOURS
from factoryfloor.widgets.alarm_rows import UNACKNOWLEDGED_STATES

CALM = "#1c242c"
UNKNOWN_TEXT = "Alarms: not known (no service)"
CLEAR_TEXT = "No alarms waiting"


class AlarmStrip(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alarmStrip")
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 12, 6)
        self.counts = QLabel()
        self.counts.setObjectName("alarmCounts")
        self.message = QLabel()
        self.message.setObjectName("alarmMessage")
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row.addWidget(self.counts)
        row.addWidget(self.message, 1)
        self.show_alarms(None)

    def show_alarms(self, shown: AlarmsChanged | None) -> None:
        """The service's list (None: not known)."""
        if shown is None:
            self._paint(CALM, "#e3e7eb", "", UNKNOWN_TEXT)
            return
        waiting = [a for a in shown.alarms if a.state in UNACKNOWLEDGED_STATES]
        if not waiting:
            self._paint(CALM, "#9fb0c0", "", CLEAR_TEXT)
            return
        counts = " · ".join(
            f"{n} {p}" for p in PRIORITIES if (n := sum(a.priority == p for a in waiting))
        )
        first = waiting[0]  # the service's order: highest priority, then newest
        ink = "black" if first.priority == "low" else "white"
        words = f"{first.priority.capitalize()}: {first.message or first.alarm_id}"
        self._paint(PRIORITY_COLOURS[first.priority].name(), ink, f"{counts} waiting", words)

    def _paint(self, background: str, ink: str, counts: str, message: str) -> None:
        self.setStyleSheet(f"QFrame#alarmStrip {{ background: {background}; }} "
                           f"QFrame#alarmStrip QLabel {{ color: {ink}; background: transparent;"
                           " font-weight: bold; }")  # fmt: skip
        self.counts.setText(counts)
        self.counts.setVisible(bool(counts))
        self.message.setText(message)
