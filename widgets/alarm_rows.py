"""The rows of the alarm table: one per alarm, or, during a flood, one per rule with many.

ISA-18.2 asks a display to group a flood rather than scroll it away: when hundreds of alarms
arrive in minutes, an operator must still see the three kinds of trouble there are, not the first
screenful of one of them. So while the service reports a flood, every rule with ``GROUP_AT`` or
more alarms shows as one row in the place of its most urgent alarm, saying how many there are and
how many still need someone; a group the operator opens lists its alarms under it. The service's
order (highest priority, then newest) is kept throughout. Pure: the table draws what this says.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from factoryfloor.backend.service.alarms.evaluator import rule_of
from factoryfloor.backend.service.messages import AlarmShown

GROUP_AT = 3
"""During a flood, a rule with this many alarms or more shows as one row."""
SHOWN_IN_GROUP = 3
"""Entities a group row names before "and N more"."""
UNACKNOWLEDGED_STATES = frozenset({"unacknowledged", "rtn_unacknowledged"})


@dataclass(frozen=True, slots=True)
class AlarmRow:
    alarms: tuple[AlarmShown, ...]
    """The alarm of an alarm's row; every alarm of a group row, in the service's order."""
    group: str | None = None
    """The rule of a group row; None for one alarm's row."""
    in_group: bool = False
    """An alarm listed under its opened group."""

    @property
    def first(self) -> AlarmShown:
        """The most urgent alarm of the row: its priority and colour are the row's."""
        return self.alarms[0]

    @property
    def waiting(self) -> tuple[AlarmShown, ...]:
        """The row's alarms that still need acknowledging."""
        return tuple(a for a in self.alarms if a.state in UNACKNOWLEDGED_STATES)

    def entity_text(self) -> str:
        if self.group is None:
            return self.first.entity
        entities = list(dict.fromkeys(a.entity for a in self.alarms))
        named = ", ".join(entities[:SHOWN_IN_GROUP])
        more = len(entities) - SHOWN_IN_GROUP
        return named if more <= 0 else f"{named} and {more} more"

    def message_text(self) -> str:
        alarm = self.first
        text = alarm.message or alarm.alarm_id
        if self.group is None:
            return ("    " if self.in_group else "") + text
        return f"{len(self.alarms)} alarms from rule {self.group}, e.g. {text}"


def alarm_rows(
    alarms: Sequence[AlarmShown], flood: bool, opened: Collection[str] = ()
) -> list[AlarmRow]:
    """The table's rows for the service's list: every alarm its own row, unless ``flood``, when
    each rule with ``GROUP_AT`` or more alarms is one row at its first alarm's place, followed by
    its alarms if the rule is ``opened``."""
    if not flood:
        return [AlarmRow((alarm,)) for alarm in alarms]
    by_rule: dict[str, list[AlarmShown]] = {}
    for alarm in alarms:
        by_rule.setdefault(rule_of(alarm.alarm_id), []).append(alarm)
    rows: list[AlarmRow] = []
    for alarm in alarms:
        rule = rule_of(alarm.alarm_id)
        members = by_rule[rule]
        if len(members) < GROUP_AT:
            rows.append(AlarmRow((alarm,)))
        elif alarm is members[0]:
            rows.append(AlarmRow(tuple(members), group=rule))
            if rule in opened:
                rows += [AlarmRow((member,), in_group=True) for member in members]
    return rows
