"""The alarm system as the service runs it: evaluator, states, annunciation and journal together.

``step`` is called with each store snapshot and the sources' new events; ``act`` with each
operator action. Both journal what they changed before returning, so whatever a window is told
is already on disk. Opening the system on an existing journal restores every alarm as it was,
so a restart loses neither an unacknowledged alarm nor a shelf.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.alarms.annunciation import Annunciation
from factoryfloor.backend.service.alarms.evaluator import ConditionChange, Evaluator
from factoryfloor.backend.service.alarms.health import SourceHealth
from factoryfloor.backend.service.alarms.journal import FILE_NAME, AlarmJournal
from factoryfloor.backend.service.alarms.states import (
    ANNUNCIATED,
    Action,
    ActionRefused,
    Alarm,
    AlarmState,
    Transition,
    act,
    condition,
    expire,
    suppress,
)
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.telemetry.sink import SourceEvent
from factoryfloor.backend.telemetry.store import Snapshot

PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}


class AlarmSystem:
    def __init__(self, design: Design, data_folder: Path) -> None:
        self.journal = AlarmJournal(data_folder / FILE_NAME)
        self.alarms: dict[str, Alarm] = self.journal.restore()
        active = (alarm_id for alarm_id, alarm in self.alarms.items() if alarm.active)
        self.evaluator = Evaluator(design, active=active)
        self.health = SourceHealth()
        self.annunciation = Annunciation()

    def close(self) -> None:
        self.journal.close()

    def step(
        self, snapshot: Snapshot, events: Iterable[SourceEvent], time_s: float
    ) -> list[Transition]:
        """Evaluate the rules at ``time_s``; the transitions made, journaled."""
        self.health.observe(events)
        changes = self.evaluator.evaluate(snapshot, time_s, self.health)
        transitions = [t for change in changes if (t := self._apply(change)) is not None]
        transitions += self._suppress(time_s)
        for alarm_id, alarm in list(self.alarms.items()):
            self.alarms[alarm_id], expired = expire(alarm, time_s)
            if expired is not None:
                transitions.append(expired)
        self.journal.append(transitions)
        self.annunciation.observe(time_s, (
            t.alarm_id for t in transitions
            if t.new_state is AlarmState.UNACKNOWLEDGED and t.event == "active"
        ))  # fmt: skip
        return transitions

    def condition_from_outside(self, change: ConditionChange) -> Transition | None:
        """A condition no rule evaluates but the service itself knows (a command the equipment
        never confirmed): the same states, journal and flood counting as a rule's."""
        transition = self._apply(change)
        if transition is not None:
            self.journal.append([transition])
            if transition.event == "active":
                self.annunciation.observe(change.time_s, [transition.alarm_id])
        return transition

    def _apply(self, change: ConditionChange) -> Transition | None:
        alarm = self.alarms.get(change.alarm_id) or Alarm(
            change.alarm_id, change.rule_id, change.entity, change.priority
        )
        self.alarms[change.alarm_id], transition = condition(
            alarm, change.active, change.time_s, change.message, change.value
        )
        return transition

    def _suppress(self, time_s: float) -> list[Transition]:
        """Alarms at racks isolated on purpose are suppressed by design, all but the discrete
        states (a leak at an isolated rack still matters)."""
        isolated = self.evaluator.isolated
        states = self.evaluator.state_rule_ids
        transitions = []
        for alarm_id, alarm in list(self.alarms.items()):
            if alarm.rule_id in states:
                continue
            self.alarms[alarm_id], t = suppress(alarm, alarm.entity in isolated, time_s)
            if t is not None:
                transitions.append(t)
        return transitions

    def act(
        self,
        alarm_id: str,
        action: Action,
        user: str,
        role: Role,
        time_s: float,
        note: str = "",
        shelve_until_s: float | None = None,
    ) -> Transition:
        """``user`` acts on an alarm; journaled before it returns. ActionRefused (nothing
        changed, nothing journaled) for an unknown alarm, a role that may not, or a state that
        does not allow it."""
        alarm = self.alarms.get(alarm_id)
        if alarm is None:
            raise ActionRefused(f"{alarm_id}: no such alarm")
        new, transition = act(alarm, action, user, role, time_s, note, shelve_until_s)
        self.journal.append([transition])
        self.alarms[alarm_id] = new
        return transition

    def shown(self) -> list[Alarm]:
        return shown_alarms(self.alarms.values())


def shown_alarms(alarms: Iterable[Alarm]) -> list[Alarm]:
    """What the alarm list shows: annunciated alarms, highest priority then newest first."""
    return sorted(
        (a for a in alarms if a.state in ANNUNCIATED),
        key=lambda a: (PRIORITY_ORDER[a.priority], -a.changed_s),
    )
