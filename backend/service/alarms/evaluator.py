"""The evaluator: a design's alarm rules over a store snapshot at a time, answering which
alarms' conditions became active or cleared, with the value and the limit in words.

Rules are compiled against the snapshot's key list (``SeriesIndex``) and compiled again only
when series join; their debounced state (on-delay, off-delay) carries over by subject, so a
fleet joining neither raises nor clears anything. Each evaluation is numpy over every watched
series, and Python only for the alarms that change: at 16,384 GPUs and 1,000 extra rules it
stays far inside ISA-18.2's patience (``bench/alarms.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from factoryfloor.backend.design.alarm_rules import (
    AlarmRule,
    ClockEventRule,
    CounterRule,
    DesignLimitRule,
    HeartbeatRule,
    PlausibilityRule,
    Priority,
    SourceOfflineRule,
    StateRule,
    XidRule,
)
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.alarms.debounce import Debouncer
from factoryfloor.backend.service.alarms.design_checks import PlanCheck, plan_checks
from factoryfloor.backend.service.alarms.gpu_checks import ClockEventCheck, CounterCheck
from factoryfloor.backend.service.alarms.health import SourceHealth
from factoryfloor.backend.service.alarms.series_checks import SeriesCheck
from factoryfloor.backend.service.alarms.series_index import SeriesIndex
from factoryfloor.backend.service.alarms.view import SnapshotView, Verdicts
from factoryfloor.backend.telemetry.store import Snapshot

ISOLATION_QUANTITIES = ("liquid_isolated", "electrical_isolated")
"""A rack isolated on purpose: its other alarms are suppressed by design."""


@dataclass(frozen=True, slots=True)
class ConditionChange:
    """An alarm's condition became active (or cleared) at ``time_s``."""

    alarm_id: str
    rule_id: str
    entity: str
    priority: Priority
    active: bool
    message: str
    value: float
    time_s: float


def alarm_id(rule_id: str, subject: str) -> str:
    """``rule@subject``: how the journal and the operator name one alarm."""
    return f"{rule_id}@{subject}"


def rule_of(alarm_id: str) -> str:
    """The rule that raised ``alarm_id``: what a display groups a flood by."""
    return alarm_id.partition("@")[0]


def subject_of(alarm_id: str) -> str:
    """What ``alarm_id`` is about: a rack, loop, feed, source, or one GPU (``gpu_subject``)."""
    return alarm_id.partition("@")[2]


class _HealthCheck:
    """Offline sources or the lost heartbeat, from the sources' status events. Every subject
    ever reported offline stays a subject, so one back online clears its alarm."""

    def __init__(self, rule: SourceOfflineRule | HeartbeatRule) -> None:
        self.rule = rule
        self.subjects: list[str] = []

    def verdicts(self, view: SnapshotView) -> Verdicts:
        health = view.health
        if isinstance(self.rule, HeartbeatRule):
            lost = health.heartbeat_lost
            flags = np.array([lost is not None])
            detail = f"BMS heartbeat lost ({lost.detail})" if lost else "BMS heartbeat back"
            return Verdicts(["BMS"], ["BMS"], flags, ~flags, np.array([np.nan]),
                            lambda i: detail)  # fmt: skip
        known = set(self.subjects)
        self.subjects = self.subjects + [s for s in health.offline if s not in known]
        outages = [health.offline.get(subject) for subject in self.subjects]
        flags = np.array([outage is not None for outage in outages], bool)

        def describe(i: int) -> str:
            outage = outages[i]
            return f"{self.subjects[i]}: " + (outage.detail if outage else "back")

        return Verdicts(self.subjects, self.subjects, flags, ~flags,
                        np.full(len(flags), np.nan), describe)  # fmt: skip


Check = SeriesCheck | PlanCheck | _HealthCheck | ClockEventCheck | CounterCheck


class Evaluator:
    """``active``: alarms whose condition was active when the service last stopped (from the
    journal). They start active here, so a condition that cleared while the service was down
    clears them at the first evaluation, rather than being taken for one that never rose."""

    def __init__(
        self,
        design: Design,
        rules: Sequence[AlarmRule] | None = None,
        active: Iterable[str] = (),
    ) -> None:
        self.design = design
        self.rules = list(design.alarm_rules if rules is None else rules)
        self._index: SeriesIndex | None = None
        self._checks: list[Check] = []
        self._debouncers: dict[str, Debouncer] = {}
        self._restored = set(active)
        """Active alarms not yet met among a rule's subjects (series may join later)."""
        self._isolation: list[tuple[np.ndarray, list[str]]] = []
        self.state_rule_ids = {r.id for r in self.rules if isinstance(r, StateRule)}
        """Discrete-state rules: never suppressed by design."""
        self.isolated: set[str] = set()
        """Racks isolated on purpose at the last evaluation."""

    def _compile(self, snapshot: Snapshot) -> None:
        """The rules' checks on the snapshot's keys; keys that joined since the last compile
        are indexed on their own (``SeriesIndex.extend``)."""
        index = self._index
        if index is not None and index.extends_to(snapshot.keys):
            index.extend(snapshot.keys)
        else:
            self._index = index = SeriesIndex(self.design, snapshot.keys)
        plan_rules = [r for r in self.rules if isinstance(r, DesignLimitRule | PlausibilityRule)]
        plans = iter(plan_checks(plan_rules, self.design, index))
        kept = {c.rule.id: c for c in self._checks}
        checks: list[Check] = []
        for rule in self.rules:
            old = kept.get(rule.id)
            if isinstance(rule, DesignLimitRule | PlausibilityRule):
                checks.append(next(plans))
            elif isinstance(rule, SourceOfflineRule | HeartbeatRule):
                checks.append(old if isinstance(old, _HealthCheck) else self._health_check(rule))
            elif isinstance(rule, ClockEventRule):
                checks.append(ClockEventCheck(rule, index))
            elif isinstance(rule, CounterRule | XidRule):
                checks.append(CounterCheck(rule, index, old if isinstance(old, CounterCheck)
                                           else None))  # fmt: skip
            else:
                checks.append(SeriesCheck(rule, index))
        self._checks = checks
        self._isolation = [
            (columns.array(), columns.entities)
            for quantity in ISOLATION_QUANTITIES
            for _, columns in index.series("rack", quantity)
        ]

    def _health_check(self, rule: SourceOfflineRule | HeartbeatRule) -> _HealthCheck:
        """A new check of ``rule``; sources offline when the service stopped stay its
        subjects, so their coming back clears the alarm."""
        check = _HealthCheck(rule)
        if isinstance(rule, SourceOfflineRule):
            prefix = alarm_id(rule.id, "")
            check.subjects = sorted(a.removeprefix(prefix) for a in self._restored
                                    if a.startswith(prefix))  # fmt: skip
        return check

    def _debouncer(self, rule: AlarmRule, subjects: list[str]) -> Debouncer:
        """The rule's debouncer for ``subjects``, restored alarms among them active."""
        old = self._debouncers.get(rule.id)
        new = (Debouncer(subjects, rule.on_delay_s, rule.off_delay_s) if old is None
               else old.resized(subjects))  # fmt: skip
        if self._restored and new is not old:
            for i, subject in enumerate(subjects):
                restored = alarm_id(rule.id, subject)
                if restored in self._restored:
                    new.raw[i] = new.active[i] = True
                    self._restored.discard(restored)
        self._debouncers[rule.id] = new
        return new

    def evaluate(
        self, snapshot: Snapshot, time_s: float, health: SourceHealth
    ) -> list[ConditionChange]:
        """The alarms whose debounced condition changed at ``time_s``."""
        if self._index is None or self._index.size != len(snapshot.keys):
            self._compile(snapshot)
        assert self._index is not None
        view = SnapshotView.of(snapshot, self._index, time_s, health)
        self.isolated = self._isolated(view)
        changes: list[ConditionChange] = []
        for check in self._checks:
            rule = check.rule
            verdicts = check.verdicts(view)
            debouncer = self._debouncer(rule, verdicts.subjects)
            flipped = debouncer.update(verdicts.raise_, verdicts.clear, time_s)
            changes += [
                ConditionChange(
                    alarm_id(rule.id, verdicts.subjects[i]), rule.id, verdicts.entities[i],
                    rule.priority, bool(debouncer.active[i]), verdicts.describe(i),
                    float(verdicts.values[i]), time_s,
                )
                for i in flipped.tolist()
            ]  # fmt: skip
        return changes

    def _isolated(self, view: SnapshotView) -> set[str]:
        isolated: set[str] = set()
        for columns, entities in self._isolation:
            values, valid = view.gather(columns)
            isolated.update(entities[i] for i in np.flatnonzero(valid & (values == 1.0)))
        return isolated
