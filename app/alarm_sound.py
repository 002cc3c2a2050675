"""An optional sound for new high-priority alarms, so an operator looking away hears one.

Off unless the operator turns it on (View menu), and remembered per user: a desk in an open office
may not want it, a control room does. It sounds once for each high-priority alarm that arrives
unacknowledged, never for one already heard (a list sent again, a window attaching), and not
for medium or low ones, which ISA-18.2 expects to be many. The sound is the platform's alert
sound (``QApplication.beep``): PySide6's essentials carry no audio module, and the system's
own alert is what the desktop's volume and accessibility settings already govern.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QApplication

from factoryfloor.backend.service.messages import AlarmsChanged

SETTING = "alarms/sound"


class AlarmSound(QObject):
    sounded = Signal(list)
    """The ids of the new high-priority alarms a sound was made for."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._heard: set[str] = set()

    @property
    def enabled(self) -> bool:
        return QSettings().value(SETTING, False, bool)

    def set_enabled(self, enabled: bool) -> None:
        QSettings().setValue(SETTING, enabled)

    def follow(self, shown: AlarmsChanged) -> None:
        """The service's list changed: sound once if a high-priority alarm is new and waiting."""
        new = [a.alarm_id for a in shown.alarms if a.priority == "high"
               and a.state == "unacknowledged" and a.alarm_id not in self._heard]  # fmt: skip
        self._heard = {a.alarm_id for a in shown.alarms}  # one cleared and back is new again
        if new and self.enabled:
            QApplication.beep()
            self.sounded.emit(new)
