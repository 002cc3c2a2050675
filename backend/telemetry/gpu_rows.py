"""Per-GPU history shaped for a view: the columns it draws, the GPU rows it shows, reduced to the
rows it has pixels for.

A window draws at most a few hundred pixel rows of a hall of 16,384 GPUs (or 131,072), so it
has no use for every GPU's history, only for what it draws. It asks whoever keeps that history
(the service) for a ``GpuRowsQuery``: a quantity, a range of GPU rows, how many rows make one
drawn row, and which columns of a tier. The answer holds, for each drawn row and column, the
worst GPU of its group (as the heatmap draws: a silent GPU, else the least busy or the
hottest), its value, and which GPU it is, so hovering or clicking still names it. With groups of
one it is every GPU of the range: a rack's per-GPU curves.

``GpuRowsSource`` is what a view asks, answered when the answer comes (over the service link, a
poll later; from a history kept in the same process, at once); ``LocalGpuRows`` answers from a
``LiveHistory`` that keeps every GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from factoryfloor.backend.telemetry.history import LiveHistory

LOW_IS_WORST = frozenset({"util_pct"})
"""Quantities whose worst GPU is the lowest (an idle GPU makes no tokens); for the others the
highest is (temperatures, power)."""


@dataclass(frozen=True, slots=True)
class GpuRowsQuery:
    quantity: str
    first_row: int
    end_row: int
    """GPU rows ``first_row`` up to (not including) ``end_row``, in ``LiveHistory.gpu_rows``."""
    group: int
    """GPU rows per answered row; the last group may be short."""
    columns: int
    newest_bucket: int
    """The newest column's bucket (time / ``resolution_s``); the answer ends with it."""
    resolution_s: float
    """Which tier of the history to read (``TIERS``)."""

    @property
    def reduced_rows(self) -> int:
        return -(-(self.end_row - self.first_row) // self.group)


@dataclass(frozen=True, slots=True)
class GpuRows:
    """The answer to a ``GpuRowsQuery``."""

    query: GpuRowsQuery
    values: np.ndarray
    """(columns, reduced rows) float32: each group's worst value, NaN if a GPU of it has no
    reading."""
    gpu_rows: np.ndarray
    """(columns, reduced rows) int32: the GPU row whose value it is."""


class GpuRowsQueryError(ValueError):
    """A query the history cannot answer: names the field and why."""


def answer(history: LiveHistory, query: GpuRowsQuery) -> GpuRows:
    """Read ``query``'s columns and rows from ``history`` (which keeps every GPU) and reduce
    them. ``GpuRowsQueryError`` for a query out of range."""
    tier = next((t for t in history.tiers if t.resolution_s == query.resolution_s), None)
    if tier is None:
        raise GpuRowsQueryError(f"resolution_s: no tier of {query.resolution_s:g} s")
    if not 1 <= query.columns <= tier.columns:
        raise GpuRowsQueryError(f"columns: {query.columns} is not 1 to {tier.columns}")
    if not 0 <= query.first_row < query.end_row <= len(history.gpu_rows):
        raise GpuRowsQueryError(f"rows: {query.first_row} to {query.end_row} is not within "
                                f"0 to {len(history.gpu_rows)}")  # fmt: skip
    if query.group < 1:
        raise GpuRowsQueryError(f"group: {query.group} is less than 1")
    end_s = (query.newest_bucket + 0.5) * tier.resolution_s
    window = history.gpu_window(query.quantity, query.columns * tier.resolution_s, end_s,
                                range(query.first_row, query.end_row), tier)  # fmt: skip
    values, offsets = worst_of_groups(window.values[-query.columns :], query.group,
                                      query.quantity in LOW_IS_WORST)  # fmt: skip
    starts = query.first_row + query.group * np.arange(values.shape[1], dtype=np.int32)
    return GpuRows(query, values, (offsets + starts).astype(np.int32))


def no_readings(query: GpuRowsQuery) -> GpuRows:
    """The answer when there is nobody to ask (the service is down): no GPU has a reading,
    as the history a window kept itself would read for that time."""
    shape = (query.columns, query.reduced_rows)
    starts = query.first_row + query.group * np.arange(shape[1], dtype=np.int32)
    return GpuRows(query, np.full(shape, np.nan, np.float32), np.broadcast_to(starts, shape))


def worst_of_groups(values: np.ndarray, group: int,
                    low_is_worst: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(columns, ceil(rows / group)) worst values of ``group`` consecutive rows of ``values``
    (columns, rows), and the offset of the row each comes from in its group. NaN (no reading)
    is worst of all, then the lowest (``low_is_worst``) or the highest; ties go to the first."""
    columns, rows = values.shape
    pad = (-rows) % group
    ranked = np.empty((columns, rows + pad), np.float32)  # one copy: a hall is 40M values
    ranked[:, rows:] = -np.inf  # the last group is short: padded with what is never worst
    body = ranked[:, :rows]
    if low_is_worst:
        np.negative(values, out=body)  # highest is worst, so one argmax serves both
    else:
        body[:] = values
    body[np.isnan(body)] = np.inf  # no reading: worst of all
    offsets = ranked.reshape(columns, -1, group).argmax(axis=2)
    index = np.minimum(np.arange(offsets.shape[1]) * group + offsets, rows - 1)
    worst = np.take_along_axis(values, index, axis=1) if rows else values[:, :0]
    return worst.astype(np.float32), offsets.astype(np.int32)


GpuRowsAnswered = Callable[[GpuRows], None]


class GpuRowsSource(Protocol):
    """Where a view gets per-GPU history: ``ask`` returns at once, and ``on_answer`` is called
    with the answer when it comes (never, if the query is refused)."""

    def ask(self, query: GpuRowsQuery, on_answer: GpuRowsAnswered) -> None: ...


class LocalGpuRows:
    """Answers at once from a ``LiveHistory`` in this process that keeps every GPU (the
    service's own, a test's, a benchmark's baseline)."""

    def __init__(self, history: LiveHistory) -> None:
        self.history = history

    def ask(self, query: GpuRowsQuery, on_answer: GpuRowsAnswered) -> None:
        on_answer(answer(self.history, query))
