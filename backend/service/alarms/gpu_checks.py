"""Checks of what NVML says of each GPU: clock-event reasons, counters that must not grow (the
uncorrected ECC count) and Xid critical errors. Like the series checks, each is a few numpy
operations over every GPU the rule watches."""

from __future__ import annotations

import numpy as np

from factoryfloor.backend.design.alarm_rules import ClockEventRule, CounterRule, XidRule
from factoryfloor.backend.design.nvml_codes import (
    XID_CODE,
    XID_COUNT,
    decode_clock_event_reasons,
    describe_xid,
)
from factoryfloor.backend.service.alarms.series_index import SeriesIndex
from factoryfloor.backend.service.alarms.view import SnapshotView, Verdicts


class _GpuColumns:
    """The columns of one GPU quantity that a rule watches, with their subjects."""

    def __init__(self, rule: ClockEventRule | CounterRule | XidRule, index: SeriesIndex,
                 quantity: str) -> None:  # fmt: skip
        wanted = set(rule.entities)
        columns: list[int] = []
        self.entities: list[str] = []
        self.subjects: list[str] = []
        for _, found in index.series("gpu", quantity):
            picked = found.picked(wanted)
            columns += [found.columns[i] for i in picked]
            self.entities += [found.entities[i] for i in picked]
            self.subjects += [found.subjects[i] for i in picked]
        self.columns = np.asarray(columns, dtype=np.int64)


class ClockEventCheck:
    """A GPU whose clock-event mask has any of the rule's reasons set."""

    def __init__(self, rule: ClockEventRule, index: SeriesIndex) -> None:
        self.rule = rule
        self.mask = rule.mask
        self._gpus = _GpuColumns(rule, index, "clock_event_reasons")

    def verdicts(self, view: SnapshotView) -> Verdicts:
        values, valid = view.gather(self._gpus.columns)
        bits = np.where(valid, values, 0).astype(np.int64) & self.mask

        def describe(i: int) -> str:  # only for a valid reading: raised or cleared
            subject = self._gpus.subjects[i]
            reasons = decode_clock_event_reasons(int(values[i]) & self.mask)
            if not reasons:
                return f"{subject}: clocks no longer held back by {' or '.join(self.rule.reasons)}"
            return f"{subject}: clocks held back by {', '.join(reasons)}"

        return Verdicts(self._gpus.subjects, self._gpus.entities, valid & (bits != 0),
                        valid & (bits == 0), values, describe)  # fmt: skip


class CounterCheck:
    """A GPU counter that went up since its previous reading (``CounterRule``), or the NVML
    source's Xid count (``XidRule``, which names the last Xid's code). Every evaluation without
    an increase counts toward the off-delay, with a reading or without one (a GPU gone silent
    has no new error to report; its silence has alarms of its own). The last reading of each
    GPU carries over when the check is compiled again (series joined), so an increase seen at
    that moment is not taken for the first reading."""

    def __init__(
        self, rule: CounterRule | XidRule, index: SeriesIndex, previous: CounterCheck | None
    ) -> None:
        self.rule = rule
        quantity = rule.quantity if isinstance(rule, CounterRule) else XID_COUNT
        self._gpus = gpus = _GpuColumns(rule, index, quantity)
        self._last = np.full(len(gpus.subjects), np.nan)
        if previous is not None:
            where = {subject: i for i, subject in enumerate(previous._gpus.subjects)}
            for i, subject in enumerate(gpus.subjects):
                if subject in where:
                    self._last[i] = previous._last[where[subject]]
        self._codes = np.full(len(gpus.subjects), -1, dtype=np.int64)
        if isinstance(rule, XidRule):
            code_columns = {
                subject: column
                for _, found in index.series("gpu", XID_CODE)
                for subject, column in zip(found.subjects, found.columns, strict=True)
            }
            self._codes = np.array([code_columns.get(s, -1) for s in gpus.subjects], np.int64)

    def verdicts(self, view: SnapshotView) -> Verdicts:
        values, valid = view.gather(self._gpus.columns)
        increase = np.where(valid, values - self._last, np.nan)
        grew = increase > 0  # NaN (first reading, or none): not grown
        self._last = np.where(valid, values, self._last)
        codes = np.where(self._codes >= 0, view.gather(self._codes)[0], np.nan)  # no code: NaN
        return Verdicts(self._gpus.subjects, self._gpus.entities, grew, ~grew, values,
                        lambda i: self._describe(i, values[i], increase[i], codes[i]))  # fmt: skip

    def _describe(self, i: int, count: float, increase: float, code: float) -> str:
        subject, rule = self._gpus.subjects[i], self.rule
        grew = increase > 0
        if isinstance(rule, CounterRule):
            if not grew:
                return f"{subject}: no new {rule.meaning}, {rule.quantity} {count:,.0f}"
            return f"{subject}: {rule.meaning}, {rule.quantity} {count:,.0f} (+{increase:,.0f})"
        if not grew:
            return f"{subject}: no new Xid error"
        what = describe_xid(int(code)) if np.isfinite(code) else "Xid critical error"
        more = f", {increase:,.0f} Xid errors since the last reading" if increase > 1 else ""
        return f"{subject}: {what}{more}"
