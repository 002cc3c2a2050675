"""Checks of rules that watch series one by one: thresholds, rates of change, staleness,
quality and discrete states. Each is a few numpy operations over every series the rule
watches, whatever their number."""

from __future__ import annotations

import numpy as np

from factoryfloor.backend.design.alarm_rules import (
    QualityRule,
    RateRule,
    StaleRule,
    StateRule,
    ThresholdRule,
)
from factoryfloor.backend.service.alarms.series_index import SeriesIndex
from factoryfloor.backend.service.alarms.view import SnapshotView, Verdicts, unit_of

SeriesRule = ThresholdRule | RateRule | StaleRule | QualityRule | StateRule


class SeriesCheck:
    """One series rule over the series it watches, compiled against one key list."""

    def __init__(self, rule: SeriesRule, index: SeriesIndex) -> None:
        self.rule = rule
        wanted = set(rule.entities)
        columns: list[int] = []
        self.entities: list[str] = []
        self.subjects: list[str] = []
        self.units: list[str] = []
        for quantity, found in index.series(rule.series, rule.quantity):
            picked = found.picked(wanted)
            columns += [found.columns[i] for i in picked]
            self.entities += [found.entities[i] for i in picked]
            suffix = f" {quantity}" if rule.quantity == "*" else ""
            self.subjects += [found.subjects[i] + suffix for i in picked]
            self.units += [unit_of(quantity)] * len(picked)
        self.columns = np.asarray(columns, dtype=np.int64)
        self._last_values = np.full(len(columns), np.nan)
        self._last_times = np.full(len(columns), np.nan)

    def verdicts(self, view: SnapshotView) -> Verdicts:
        rule, cols = self.rule, self.columns
        values, valid = view.gather(cols)
        if isinstance(rule, ThresholdRule):
            sign = 1.0 if rule.direction == "high" else -1.0
            raise_ = valid & (sign * (values - rule.limit) > 0)
            clear = valid & (sign * (values - rule.limit) < -rule.deadband)
        elif isinstance(rule, StateRule):
            raise_ = valid & (values == rule.value)
            clear = valid & (values != rule.value)
        elif isinstance(rule, StaleRule):
            raise_ = view.snapshot.stale[cols]
            clear = ~raise_
        elif isinstance(rule, QualityRule):
            quality = view.snapshot.qualities[cols]
            raise_ = (quality != 1) & ~view.snapshot.stale[cols]
            clear = quality == 1
            values = quality.astype(np.float64)
        else:
            values, raise_, clear = self._rates(view, values, valid)
        return Verdicts(self.subjects, self.entities, raise_, clear, values,
                        lambda i: self._describe(i, values[i]))  # fmt: skip

    def _rates(
        self, view: SnapshotView, values: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Change per minute since the previous reading; judged only when a new one came."""
        assert isinstance(self.rule, RateRule)
        times = view.snapshot.times_s[self.columns]
        new = valid & ~(times <= self._last_times)  # NaN before the first reading: new
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = (values - self._last_values) / (times - self._last_times) * 60.0
        judged = new & np.isfinite(rates)
        self._last_values = np.where(new, values, self._last_values)
        self._last_times = np.where(new, times, self._last_times)
        fast = np.abs(rates) > self.rule.max_per_min
        return rates, judged & fast, judged & ~fast

    def _describe(self, i: int, value: float) -> str:
        rule, subject, unit = self.rule, self.subjects[i], self.units[i]
        if isinstance(rule, ThresholdRule):
            word = "over" if rule.direction == "high" else "under"
            return f"{subject}: {value:,.1f}{unit}, {word} the {rule.limit:,.1f}{unit} limit"
        if isinstance(rule, StateRule):
            return f"{subject}: {rule.meaning}"
        if isinstance(rule, StaleRule):
            return f"{subject}: no reading, stale"
        if isinstance(rule, QualityRule):
            return f"{subject}: reading quality {value:g}, not good"
        assert isinstance(rule, RateRule)
        return (f"{subject}: changing {value:+,.1f}{unit}/min, faster than "
                f"{rule.max_per_min:,.1f}{unit}/min")  # fmt: skip
