"""Readings as parallel numpy columns, and the ways the store picks from them.

A series' readings travel as three parallel arrays rather than one object per reading: a ring
of 256 readings is three numpy gathers, not 256 allocations. The picking here (by mask, into
time order, down to a number of points keeping every spike) is what ``TelemetryStore.window``
does to a ring.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Reading(NamedTuple):
    """One reading: epoch seconds, value (NaN: no valid reading), DSX quality code."""

    time_s: float
    value: float
    quality: int


class Readings(NamedTuple):
    """Parallel arrays of readings: epoch seconds (float64), values (float32), quality (uint8)."""

    times_s: np.ndarray
    values: np.ndarray
    qualities: np.ndarray


def no_readings() -> Readings:
    return Readings(
        np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float32), np.empty(0, dtype=np.uint8)
    )


def take(readings: Readings, which: np.ndarray) -> Readings:
    """The readings ``which`` (a mask or indices) selects, in its order."""
    return Readings(*(column[which] for column in readings))


def time_sorted(readings: Readings) -> Readings:
    """In time order; readings with equal times keep their order (arrival, in a ring)."""
    times = readings.times_s
    if np.all(times[1:] >= times[:-1]):
        return readings
    return take(readings, np.argsort(times, kind="stable"))


def peak_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the min and max of each of ``max_points // 2`` equal runs, in order: at most
    ``max_points`` points in which every spike survives (pyqtgraph's 'peak' downsampling).

    NaN counts as neither; a run of only NaN keeps its first reading (a gap in the curve).
    """
    count = len(values)
    run = -(-count // (max_points // 2))
    runs = -(-count // run)
    grid = np.full(runs * run, np.nan, dtype=np.float32)
    grid[:count] = values
    grid = grid.reshape(runs, run)
    missing = np.isnan(grid)
    lows = np.where(missing, np.inf, grid).argmin(axis=1)
    highs = np.where(missing, -np.inf, grid).argmax(axis=1)
    base = np.arange(runs) * run
    return np.unique(np.concatenate((base + lows, base + highs)))
