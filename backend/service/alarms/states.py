"""The ISA-18.2 (IEC 62682) state of one alarm, and what moves it.

An alarm is a rule at one entity (``loop-heat-over-cdu@L-B2``). Its state is one of:

- ``normal``: condition clear, nothing to acknowledge;
- ``unacknowledged``: condition active, not yet acknowledged;
- ``acknowledged``: condition active, acknowledged;
- ``rtn_unacknowledged``: returned to normal before anyone acknowledged it: it stays on the list
  until someone does, so an alarm that came and went is never lost unseen;
- ``shelved``: hidden by an operator until an expiry the operator chose (always time-limited);
- ``suppressed``: suppressed by design (the plant state makes it meaningless, e.g. a rack
  isolated on purpose);
- ``out_of_service``: taken out of service by an engineer (a sensor being replaced).

Everything here is pure: functions take an :class:`Alarm` and the time and return the new
:class:`Alarm` with the :class:`Transition` to journal. The condition (``active``) is tracked in
every state, so leaving shelved, suppressed or out of service lands in the state the condition
calls for: an alarm whose condition is still active comes back unacknowledged.

Operator actions are checked against the user's role by :func:`authorize` (acknowledge and
shelve need an operator, out of service an engineer; viewers may do none), the one function the
service calls before acting.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from factoryfloor.backend.design.alarm_rules import Priority
from factoryfloor.backend.service.roles import Role, permits


class AlarmState(enum.Enum):
    NORMAL = "normal"
    UNACKNOWLEDGED = "unacknowledged"
    ACKNOWLEDGED = "acknowledged"
    RTN_UNACKNOWLEDGED = "rtn_unacknowledged"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out_of_service"


ANNUNCIATED = frozenset(
    (AlarmState.UNACKNOWLEDGED, AlarmState.ACKNOWLEDGED, AlarmState.RTN_UNACKNOWLEDGED)
)
"""States an operator sees on the alarm list."""
HIDDEN = frozenset((AlarmState.SHELVED, AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE))
"""States that hide an alarm whatever its condition."""


class Action(enum.Enum):
    """What a user may do to an alarm, with the least role that may."""

    ACKNOWLEDGE = "acknowledge"
    SHELVE = "shelve"
    UNSHELVE = "unshelve"
    REMOVE_FROM_SERVICE = "remove_from_service"
    RETURN_TO_SERVICE = "return_to_service"

    @property
    def minimum_role(self) -> Role:
        if self in (Action.REMOVE_FROM_SERVICE, Action.RETURN_TO_SERVICE):
            return Role.ENGINEER
        return Role.OPERATOR


MAX_SHELVE_S = 24 * 3600.0
"""Longest an operator may shelve an alarm: shelving is always time-limited (ISA-18.2)."""


class ActionRefused(Exception):
    """An operator action that cannot be taken: the message says why, naming the alarm."""


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm's current state. ``message`` says the value and the limit in words; ``value``
    is the number behind it (NaN where there is none, e.g. a lost heartbeat)."""

    alarm_id: str
    rule_id: str
    entity: str
    priority: Priority
    state: AlarmState = AlarmState.NORMAL
    active: bool = False
    """The condition, whatever the state."""
    message: str = ""
    value: float = float("nan")
    changed_s: float = 0.0
    """When the state last changed."""
    active_since_s: float | None = None
    """When the condition last became active; None while it is clear."""
    shelved_until_s: float | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """One line of the journal: a change of state, or an operator's action (which may leave the
    state as it was, e.g. a note). ``user`` is empty for changes the condition made."""

    time_s: float
    alarm_id: str
    rule_id: str
    entity: str
    priority: Priority
    event: str
    """``active``, ``clear``, ``expired``, ``suppressed``, ``unsuppressed``, or an action."""
    old_state: AlarmState
    new_state: AlarmState
    active: bool
    message: str
    value: float
    user: str = ""
    note: str = ""
    shelved_until_s: float | None = None


def _moved(
    alarm: Alarm,
    time_s: float,
    event: str,
    state: AlarmState,
    user: str = "",
    note: str = "",
    **changes: object,
) -> tuple[Alarm, Transition]:
    changed_s = time_s if state is not alarm.state else alarm.changed_s
    new = replace(alarm, state=state, changed_s=changed_s, **changes)  # type: ignore[arg-type]
    return new, Transition(
        time_s, alarm.alarm_id, alarm.rule_id, alarm.entity, alarm.priority, event,
        alarm.state, state, new.active, new.message, new.value, user, note, new.shelved_until_s,
    )  # fmt: skip


def _resumed(active: bool) -> AlarmState:
    """Where an alarm lands when it stops being hidden: unacknowledged if its condition is
    active (it was never seen), else normal."""
    return AlarmState.UNACKNOWLEDGED if active else AlarmState.NORMAL


def condition(
    alarm: Alarm, active: bool, time_s: float, message: str, value: float
) -> tuple[Alarm, Transition | None]:
    """The rule's condition became ``active`` (or cleared). None when nothing changed."""
    if active == alarm.active:
        return replace(alarm, message=message, value=value), None
    since = time_s if active else None
    state = alarm.state
    if state in HIDDEN:
        new_state = state
    elif active:
        new_state = AlarmState.UNACKNOWLEDGED
    elif state is AlarmState.ACKNOWLEDGED:
        new_state = AlarmState.NORMAL
    elif state is AlarmState.UNACKNOWLEDGED:
        new_state = AlarmState.RTN_UNACKNOWLEDGED
    else:
        new_state = state
    return _moved(
        alarm, time_s, "active" if active else "clear", new_state,
        active=active, message=message, value=value, active_since_s=since,
    )  # fmt: skip


def authorize(role: Role, action: Action, alarm_id: str) -> None:
    """ActionRefused unless a user of ``role`` may take ``action``."""
    minimum = action.minimum_role
    if not permits(role, minimum):
        raise ActionRefused(
            f"{alarm_id}: a {role.value} may not {action.value.replace('_', ' ')} alarms "
            f"(needs {minimum.value} or above)"
        )


def act(
    alarm: Alarm,
    action: Action,
    user: str,
    role: Role,
    time_s: float,
    note: str = "",
    shelve_until_s: float | None = None,
) -> tuple[Alarm, Transition]:
    """``user`` takes ``action`` on ``alarm``; ActionRefused (nothing changed) if the role may
    not, or the alarm is in no state for it."""
    authorize(role, action, alarm.alarm_id)
    state = alarm.state
    if action is Action.ACKNOWLEDGE:
        if state is AlarmState.UNACKNOWLEDGED:
            return _moved(alarm, time_s, action.value, AlarmState.ACKNOWLEDGED, user, note)
        if state is AlarmState.RTN_UNACKNOWLEDGED:
            return _moved(alarm, time_s, action.value, AlarmState.NORMAL, user, note)
        raise ActionRefused(f"{alarm.alarm_id}: nothing to acknowledge ({state.value})")
    if action is Action.SHELVE:
        if state is AlarmState.OUT_OF_SERVICE:
            raise ActionRefused(f"{alarm.alarm_id}: out of service, cannot be shelved")
        if shelve_until_s is None or not time_s < shelve_until_s <= time_s + MAX_SHELVE_S:
            raise ActionRefused(
                f"{alarm.alarm_id}: shelve until a time after now and at most "
                f"{MAX_SHELVE_S / 3600:g} h ahead"
            )
        return _moved(alarm, time_s, action.value, AlarmState.SHELVED, user, note,
                      shelved_until_s=shelve_until_s)  # fmt: skip
    if action is Action.UNSHELVE:
        if state is not AlarmState.SHELVED:
            raise ActionRefused(f"{alarm.alarm_id}: not shelved ({state.value})")
        return _moved(alarm, time_s, action.value, _resumed(alarm.active), user, note,
                      shelved_until_s=None)  # fmt: skip
    if action is Action.REMOVE_FROM_SERVICE:
        if state is AlarmState.OUT_OF_SERVICE:
            raise ActionRefused(f"{alarm.alarm_id}: already out of service")
        return _moved(alarm, time_s, action.value, AlarmState.OUT_OF_SERVICE, user, note,
                      shelved_until_s=None)  # fmt: skip
    # Action.RETURN_TO_SERVICE
    if state is not AlarmState.OUT_OF_SERVICE:
        raise ActionRefused(f"{alarm.alarm_id}: not out of service ({state.value})")
    return _moved(alarm, time_s, action.value, _resumed(alarm.active), user, note)


def expire(alarm: Alarm, time_s: float) -> tuple[Alarm, Transition | None]:
    """A shelved alarm whose expiry has come returns, unacknowledged if still active."""
    if alarm.state is not AlarmState.SHELVED or alarm.shelved_until_s is None:
        return alarm, None
    if time_s < alarm.shelved_until_s:
        return alarm, None
    return _moved(alarm, time_s, "expired", _resumed(alarm.active), shelved_until_s=None)


def suppress(alarm: Alarm, suppressed: bool, time_s: float) -> tuple[Alarm, Transition | None]:
    """Suppress by design (or lift it). Shelved and out-of-service alarms keep their state: an
    operator's or engineer's choice outlasts the plant state."""
    if suppressed and alarm.state not in HIDDEN:
        return _moved(alarm, time_s, "suppressed", AlarmState.SUPPRESSED)
    if not suppressed and alarm.state is AlarmState.SUPPRESSED:
        return _moved(alarm, time_s, "unsuppressed", _resumed(alarm.active))
    return alarm, None
