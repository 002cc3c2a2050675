"""Acting on alarms from the plan: a right-click on alarmed equipment in Run mode.

An operator who sees a rack blink on the plan should not have to hunt for it in the alarm table
to acknowledge it. The menu offers what the table offers for that entity's alarms: acknowledge
those still waiting, shelve them all, or show them in the table. Every action still goes to the
service, which checks the role and journals it, exactly as from the table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView, QMenu

from factoryfloor.backend.service.alarms.states import Action
from factoryfloor.backend.service.messages import ActOnAlarm, AlarmShown
from factoryfloor.widgets.alarm_panel import SHELVE_CHOICES_S
from factoryfloor.widgets.alarm_rows import UNACKNOWLEDGED_STATES


def entity_at(view: QGraphicsView, pos: QPoint) -> str | None:
    """The plan entity under ``pos`` (view coordinates): its item or the item a label is on."""
    item: QGraphicsItem | None = view.itemAt(pos)
    while item is not None and not hasattr(item, "entity_id"):
        item = item.parentItem()
    return None if item is None else item.entity_id  # type: ignore[attr-defined]


def add_alarm_actions(
    menu: QMenu,
    entity_id: str,
    alarms: Sequence[AlarmShown],
    ask: Callable[[ActOnAlarm], None],
    show_in_table: Callable[[AlarmShown], None],
) -> None:
    """Add the actions on ``entity_id``'s alarms to ``menu`` (none if it has none). ``ask``
    gets one request per alarm, as the table sends them."""
    here = [a for a in alarms if a.entity == entity_id]
    if not here:
        return
    menu.addSection(f"Alarms at {entity_id}")
    waiting = [a for a in here if a.state in UNACKNOWLEDGED_STATES]
    acknowledge = menu.addAction(f"Acknowledge {_count(waiting)} at {entity_id}")
    acknowledge.setEnabled(bool(waiting))
    acknowledge.triggered.connect(
        lambda: [ask(ActOnAlarm(a.alarm_id, Action.ACKNOWLEDGE.value, "", None)) for a in waiting]
    )
    shelve = menu.addMenu(f"Shelve {_count(here)} at {entity_id} for")
    for label, seconds in SHELVE_CHOICES_S:
        action = shelve.addAction(label)
        action.triggered.connect(lambda _=False, s=seconds: [
            ask(ActOnAlarm(a.alarm_id, Action.SHELVE.value, "", time.time() + s)) for a in here
        ])  # fmt: skip
    menu.addAction("Show in the alarm list").triggered.connect(lambda: show_in_table(here[0]))


def _count(alarms: Sequence[AlarmShown]) -> str:
    return "1 alarm" if len(alarms) == 1 else f"{len(alarms)} alarms"
