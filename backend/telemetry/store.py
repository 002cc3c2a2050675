"""The telemetry store: the latest reading of every series, and a bounded ring of its recent ones.

Every source writes through ``TelemetryStore.write`` and ``event`` (the ``TelemetrySink``
protocol), in batches. The store lives in the backend process, where sources write and readers
read on one asyncio loop (``process.py``). Its readers there:

- The frame loop of ``process.py``: about 30 times a second it copies ``snapshot("")`` (the
  latest reading, quality and staleness of every series) into the shared-memory frame table,
  and sends the GUI the keys registered since the last frame. That frame is all the GUI sees of
  the store: the Run view's plots and heatmap keep their own history from frames
  (``history.py``), and no window of the store crosses the process boundary. The same loop
  forwards new events (``events_since``) to the GUI.
- ``latest``: the Prometheus source's facility power, for tokens per joule
  (``sources/assemble.py``), and the summary line of ``factoryfloor telemetry``, which also
  prints the events.

Nothing here takes a lock: with writer and readers on one thread, a read never sees a batch half
applied. A reader on another thread could (``bench/ui_stall.py`` runs the store so, as the
comparison with the backend process), which would only ever be shown, never acted on.

Per series the store keeps its latest reading (epoch seconds float64, value float32, DSX quality
uint8) and staleness limit, and a full-rate ring of its last ``raw_capacity`` readings in arrival
order (13 bytes a reading): ``ceil(retention_s * expected_hz)``, so never more than the retention,
capped at ``raw_points`` (default 256) and at least 16. At 4 Hz that is 64 s, at 1 Hz 4.3 min,
at 0.1 Hz 43 min. The ring is there for looking back over a series at full rate (``recent``,
``window``); nothing in the product reads it yet, only tests and ``bench/store.py``.

Bytes per series at the defaults: 256 x 13 (the ring) + 45 (latest reading, staleness limit,
ring position) = **3,373 bytes**, whatever the rate and however long it runs: 2,048 GPUs x 10
quantities (20,480 series) hold 69 MB, 16,384 GPUs x 10 hold 553 MB. Arrays are allocated for
``initial_series`` and double (a copy) as series are registered; untouched zero pages cost
address space, not memory.

Out-of-order times within a series are accepted: the ring keeps arrival order (and ``latest`` is
the last reading to arrive, as with ``RecordingSink``), ``window`` sorts by time. Times that are
not finite (or absurd, beyond +-1e12 s) are dropped and reported as a ``rejected`` event from
source ``store``. Values may be NaN (or None): no valid reading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from factoryfloor.backend.telemetry import series
from factoryfloor.backend.telemetry.event_log import EventKey, EventLog, EventTally, KeptEvents
from factoryfloor.backend.telemetry.readings import (
    Reading,
    Readings,
    no_readings,
    peak_indices,
    take,
    time_sorted,
)
from factoryfloor.backend.telemetry.series_arrays import SeriesArrays
from factoryfloor.backend.telemetry.sink import GOOD, SourceEvent


class SeriesTiming(NamedTuple):
    expected_hz: float
    stale_after_s: float | None
    """None: two expected intervals."""


_KIND_DEFAULTS: dict[str, SeriesTiming] = {
    series.GPU: SeriesTiming(4.0, None),
    # BMS points are sent on change and re-sent at least every 100 s (DSX), so stale is 2 x 100 s.
    "rack": SeriesTiming(0.1, 200.0),
    "cdu": SeriesTiming(0.1, 200.0),
    series.TOKENS: SeriesTiming(1.0, None),
    series.FACILITY: SeriesTiming(1.0, None),
}
"""Expected timing of a series by the first segment of its key."""
_FALLBACK_TIMING = SeriesTiming(1.0, None)
_MIN_RAW_POINTS = 16
_TIME_LIMIT_S = 1e12
"""Times beyond +-1e12 s (31,700 years) are corrupt: dropped rather than kept as a series'
latest reading, where they would make it fresh (or stale) for ever."""
_SCALAR_BELOW = 32
"""Batches smaller than this are written reading by reading: the numpy path's fixed cost (some
40 numpy operations) is more than a Python loop over a few readings costs; the two cross
between 24 and 32 readings."""


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """What a series was registered with, and the full-rate capacity that follows from it."""

    key: str
    expected_hz: float
    stale_after_s: float
    raw_capacity: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest reading of every series under a prefix, as parallel arrays (copies).

    ``keys`` is in registration order, and existing keys never move, so a reader that has seen
    the first n keys needs only the rest (the frame loop sends the GUI just those). It is
    read-only, and cached: snapshots of one prefix and ``generation`` share it.
    """

    keys: np.ndarray
    times_s: np.ndarray
    values: np.ndarray
    qualities: np.ndarray
    stale: np.ndarray
    generation: int


@dataclass(frozen=True, slots=True)
class _Selection:
    """The series under one prefix, cached until the key set changes."""

    generation: int
    keys: np.ndarray
    ids: slice | np.ndarray


class TelemetryStore:
    """Latest readings and bounded full-rate history of every telemetry series, written in
    batches, and the sources' events.

    Implements ``TelemetrySink``. Series are registered explicitly (``register``) or on first
    write with the defaults of their key prefix: ``gpu/`` 4 Hz, ``rack/`` and ``cdu/`` 0.1 Hz
    (stale after 200 s), ``tokens/`` and ``facility/`` 1 Hz, anything else 1 Hz; stale after
    two expected intervals unless the prefix says otherwise. Events go to an ``EventLog`` of
    ``events_kept`` events and ``event_subjects`` tallied subjects.
    """

    def __init__(
        self,
        retention_s: float = 3600.0,
        raw_points: int = 256,
        *,
        initial_series: int = 1024,
        events_kept: int = 1000,
        event_subjects: int = 10_000,
    ) -> None:
        if not retention_s > 0 or raw_points < 2 or initial_series < 1:
            raise ValueError("retention_s must be > 0, raw_points >= 2, initial_series >= 1")
        self.retention_s = float(retention_s)
        self.raw_points = raw_points
        self._arrays = SeriesArrays.create(initial_series, initial_series * raw_points)
        self._raw_used = 0
        self._specs: list[SeriesSpec] = []
        self._index: dict[str, int] = {}
        self._generation = 0
        self._selections: dict[str, _Selection] = {}
        self._events = EventLog(events_kept, event_subjects)

    # -- registration -------------------------------------------------------------------------

    def register(
        self, key: str, expected_hz: float | None = None, stale_after_s: float | None = None
    ) -> SeriesSpec:
        """Declare a series (None: the key prefix's default). Returns what it was given.

        Registering an existing key again updates its rate and staleness but keeps its buffers
        at the size they were first given: reallocating would lose the history.
        """
        prefix_hz, prefix_stale_s = _timing_of(key)
        hz = prefix_hz if expected_hz is None else float(expected_hz)
        if not (math.isfinite(hz) and hz > 0):
            raise ValueError(f"{key}: expected_hz must be a positive number")
        if stale_after_s is None:
            stale_after_s = prefix_stale_s if prefix_stale_s is not None else 2.0 / hz
        if not stale_after_s > 0:
            raise ValueError(f"{key}: stale_after_s must be > 0")
        sid = self._index.get(key)
        if sid is None:
            sid = self._add_series(key, hz)
        spec = SeriesSpec(key, hz, float(stale_after_s), self._specs[sid].raw_capacity)
        self._specs[sid] = spec
        self._arrays.stale_after_s[sid] = spec.stale_after_s
        return spec

    def spec(self, key: str) -> SeriesSpec | None:
        sid = self._index.get(key)
        return None if sid is None else self._specs[sid]

    def keys(self, prefix: str = "") -> list[str]:
        """Registered keys under a prefix, in registration order."""
        return list(self._selection(prefix).keys)

    @property
    def generation(self) -> int:
        """Changes whenever a series is added: a reader holding a snapshot's ``keys`` knows
        from it whether the key set has changed since."""
        return self._generation

    @property
    def nbytes(self) -> int:
        """Bytes of all the store's arrays, allocated capacity included."""
        return self._arrays.nbytes

    def _add_series(self, key: str, hz: float) -> int:
        sid = len(self._specs)
        capacity = min(self.raw_points, max(_MIN_RAW_POINTS, math.ceil(self.retention_s * hz)))
        self._reserve(sid + 1, self._raw_used + capacity)
        arrays = self._arrays
        arrays.raw_offset[sid] = self._raw_used
        arrays.raw_cap[sid] = capacity
        self._raw_used += capacity
        self._specs.append(SeriesSpec(key, hz, math.inf, capacity))
        self._index[key] = sid
        self._generation += 1
        return sid

    def _reserve(self, series_rows: int, raw_slots: int) -> None:
        """Grow (doubling) to hold ``series_rows`` series and ``raw_slots`` full-rate slots."""
        arrays = self._arrays
        if series_rows <= arrays.series_rows and raw_slots <= arrays.raw_slots:
            return
        rows, slots = arrays.series_rows, arrays.raw_slots
        while rows < series_rows:
            rows *= 2
        while slots < raw_slots:
            slots *= 2
        self._arrays = arrays.grown(rows, slots)

    def _id(self, key: str) -> int:
        sid = self._index.get(key)
        if sid is None:
            self.register(key)
            sid = self._index[key]
        return sid

    def _ids(self, keys: Sequence[str]) -> np.ndarray:
        """Series ids of a batch's keys, registering unknown keys with their prefix defaults."""
        try:
            found = itemgetter(*keys)(self._index)
        except KeyError:
            for key in keys:
                self._id(key)
            found = itemgetter(*keys)(self._index)
        return np.array(found, dtype=np.int64, ndmin=1)

    # -- writing --------------------------------------------------------------------------------

    def write(
        self,
        keys: Sequence[str],
        times_s: Sequence[float],
        values: Sequence[float],
        quality: Sequence[int] | None = None,
    ) -> None:
        """Append a batch of readings (parallel columns; quality None = all good).

        Readings of one series keep their order within the batch. Quality codes are clipped to
        0..255 (both ends are non-good codes).
        """
        count = len(keys)
        if (
            len(times_s) != count
            or len(values) != count
            or (quality is not None and len(quality) != count)
        ):
            raise ValueError("write: keys, times_s, values and quality differ in length")
        if count < _SCALAR_BELOW:
            self._write_each(keys, times_s, values, quality)
        else:
            self._write_batch(keys, times_s, values, quality)

    def _write_each(
        self,
        keys: Sequence[str],
        times_s: Sequence[float],
        values: Sequence[float | None],
        quality: Sequence[int] | None,
    ) -> None:
        """The small-batch path: the same result as ``_write_batch``, with Python scalars.

        Two implementations of one rule, because a batch of one reading through numpy costs
        over ten times more; ``test_scalar_and_batch_paths_agree`` holds them together.
        """
        rejected: list[str] = []
        qualities = [GOOD] * len(keys) if quality is None else quality
        for key, time_s, value, code in zip(keys, times_s, values, qualities, strict=True):
            if abs(time_s) < _TIME_LIMIT_S:
                sid = self._id(key)
                value = math.nan if value is None else float(value)
                self._write_one(sid, float(time_s), value, min(max(int(code), 0), 255))
            else:
                rejected.append(key)
        if rejected:
            self._report_bad_times(rejected[0], len(rejected))

    def _write_one(self, sid: int, time_s: float, value: float, quality: int) -> None:
        arrays = self._arrays
        written = int(arrays.raw_written[sid])
        slot = int(arrays.raw_offset[sid]) + written % int(arrays.raw_cap[sid])
        arrays.raw_t_s[slot] = time_s
        arrays.raw_v[slot] = value
        arrays.raw_q[slot] = quality
        arrays.raw_written[sid] = written + 1
        arrays.latest_t_s[sid] = time_s
        arrays.latest_v[sid] = value
        arrays.latest_q[sid] = quality

    def _write_batch(
        self,
        keys: Sequence[str],
        times_s: Sequence[float],
        values: Sequence[float],
        quality: Sequence[int] | None,
    ) -> None:
        ids = self._ids(keys)
        times = np.asarray(times_s, dtype=np.float64)
        vals = np.asarray(values, dtype=np.float32)
        quals = _qualities(quality, len(ids))
        usable = np.abs(times) < _TIME_LIMIT_S
        if not usable.all():
            self._report_bad_times(keys[int(np.argmin(usable))], int(np.count_nonzero(~usable)))
            ids, times, vals, quals = ids[usable], times[usable], vals[usable], quals[usable]
            if len(ids) == 0:
                return
        # Group by series; the stable sort keeps each series' readings in arrival order.
        order = np.argsort(ids, kind="stable")
        ids, times, vals, quals = ids[order], times[order], vals[order], quals[order]
        series_starts = _run_starts(ids)
        self._append_raw(ids, times, vals, quals, series_starts)
        self._set_latest(ids, times, vals, quals, series_starts)

    def _append_raw(
        self,
        ids: np.ndarray,
        times: np.ndarray,
        vals: np.ndarray,
        quals: np.ndarray,
        series_starts: np.ndarray,
    ) -> None:
        arrays = self._arrays
        sizes = np.diff(series_starts, append=len(ids))
        rank = np.arange(len(ids)) - np.repeat(series_starts, sizes)
        capacity = arrays.raw_cap[ids]
        slots = arrays.raw_offset[ids] + (arrays.raw_written[ids] + rank) % capacity
        # A batch with more readings of a series than its ring holds overwrites its own start:
        # skip those, since numpy does not promise which of two writes to one slot wins.
        kept = rank >= np.repeat(sizes, sizes) - capacity
        if not kept.all():
            slots, times, vals, quals = slots[kept], times[kept], vals[kept], quals[kept]
        arrays.raw_t_s[slots] = times
        arrays.raw_v[slots] = vals
        arrays.raw_q[slots] = quals
        arrays.raw_written[ids[series_starts]] += sizes

    def _set_latest(
        self,
        ids: np.ndarray,
        times: np.ndarray,
        vals: np.ndarray,
        quals: np.ndarray,
        series_starts: np.ndarray,
    ) -> None:
        arrays = self._arrays
        last = np.append(series_starts[1:], len(ids)) - 1
        series = ids[last]
        arrays.latest_t_s[series] = times[last]
        arrays.latest_v[series] = vals[last]
        arrays.latest_q[series] = quals[last]

    def _report_bad_times(self, first_key: str, count: int) -> None:
        self.event(
            SourceEvent("store", "rejected", first_key, f"{count} readings with no valid time")
        )

    # -- reading --------------------------------------------------------------------------------

    def latest(self, key: str) -> Reading | None:
        """The last reading to arrive, or None if there is none."""
        sid = self._index.get(key)
        arrays = self._arrays
        if sid is None or arrays.raw_written[sid] == 0:
            return None
        return Reading(
            float(arrays.latest_t_s[sid]),
            float(arrays.latest_v[sid]),
            int(arrays.latest_q[sid]),
        )

    def latest_many(self, keys: Sequence[str]) -> Readings:
        """Latest readings of many keys; NaN time and value (quality 0) where there is none."""
        ids = np.array([self._index.get(key, -1) for key in keys], dtype=np.int64)
        arrays = self._arrays
        known = ids >= 0
        safe = np.where(known, ids, 0)
        return Readings(
            np.where(known, arrays.latest_t_s[safe], np.nan),
            np.where(known, arrays.latest_v[safe], np.float32(np.nan)),
            np.where(known, arrays.latest_q[safe], 0).astype(np.uint8),
        )

    def stale(self, key: str, now_s: float) -> bool:
        """True when the series has had no reading for more than its ``stale_after_s``
        (or never had one, or is unknown)."""
        sid = self._index.get(key)
        if sid is None:
            return True
        arrays = self._arrays
        return not now_s - arrays.latest_t_s[sid] <= arrays.stale_after_s[sid]

    def snapshot(self, prefix: str, now_s: float) -> Snapshot:
        """Latest reading and staleness of every series under ``prefix``: what a frame draws."""
        selection = self._selection(prefix)
        arrays = self._arrays
        ids = selection.ids
        times = _gather(arrays.latest_t_s, ids)
        return Snapshot(
            keys=selection.keys,
            times_s=times,
            values=_gather(arrays.latest_v, ids),
            qualities=_gather(arrays.latest_q, ids),
            stale=~(now_s - times <= arrays.stale_after_s[ids]),
            generation=selection.generation,
        )

    def recent(self, key: str) -> Readings:
        """The full-rate ring of a series: its last ``raw_capacity`` readings, arrival order."""
        sid = self._index.get(key)
        return no_readings() if sid is None else self._ring(sid)

    def window(
        self, key: str, start_s: float, end_s: float, max_points: int | None = None
    ) -> Readings:
        """The ring's readings with ``start_s <= time <= end_s``, in time order, at most
        ``max_points``: over that, each of ``max_points // 2`` runs of them keeps its min and
        max reading, so every spike survives."""
        if max_points is not None and max_points < 2:
            raise ValueError("max_points must be at least 2 (a min and a max)")
        sid = self._index.get(key)
        if sid is None:
            return no_readings()
        ring = self._ring(sid)
        in_window = (ring.times_s >= start_s) & (ring.times_s <= end_s)
        picked = time_sorted(take(ring, in_window))
        if max_points is None or len(picked.times_s) <= max_points:
            return picked
        return take(picked, peak_indices(picked.values, max_points))

    def _ring(self, sid: int) -> Readings:
        arrays = self._arrays
        capacity = int(arrays.raw_cap[sid])
        written = int(arrays.raw_written[sid])
        count = min(written, capacity)
        slots = int(arrays.raw_offset[sid]) + (written - count + np.arange(count)) % capacity
        return Readings(arrays.raw_t_s[slots], arrays.raw_v[slots], arrays.raw_q[slots])

    def _selection(self, prefix: str) -> _Selection:
        cached = self._selections.get(prefix)
        if cached is not None and cached.generation == self._generation:
            return cached
        if len(self._selections) >= 256:  # callers ask for a handful; stay bounded anyway
            self._selections.clear()
        ids = np.array(
            [sid for sid, spec in enumerate(self._specs) if spec.key.startswith(prefix)],
            dtype=np.int64,
        )
        keys = np.array([self._specs[sid].key for sid in ids], dtype=object)
        keys.flags.writeable = False
        contiguous = len(ids) > 0 and ids[-1] - ids[0] + 1 == len(ids)
        selection = _Selection(
            self._generation, keys, slice(int(ids[0]), int(ids[-1]) + 1) if contiguous else ids
        )
        self._selections[prefix] = selection
        return selection

    # -- events ---------------------------------------------------------------------------------

    def event(self, event: SourceEvent) -> None:
        """Keep the event (the last ``events_kept``) and tally it under its subject."""
        self._events.add(event)

    def events_since(self, index: int) -> KeptEvents:
        """Events numbered ``index`` onwards that are still kept, and the index to ask next;
        start from 0. Events that fell out of the kept window are only in ``event_tallies``."""
        return self._events.since(index)

    def event_tallies(self) -> dict[EventKey, EventTally]:
        """(source, kind, subject) -> count and last detail, for "3,412 rejected on X: ..."."""
        return self._events.tallies()


def _timing_of(key: str) -> SeriesTiming:
    return _KIND_DEFAULTS.get(series.kind_of(key), _FALLBACK_TIMING)


def _qualities(quality: Sequence[int] | None, count: int) -> np.ndarray:
    if quality is None:
        return np.full(count, GOOD, dtype=np.uint8)
    codes = np.asarray(quality)
    return codes if codes.dtype == np.uint8 else np.clip(codes, 0, 255).astype(np.uint8)


def _run_starts(ids: np.ndarray) -> np.ndarray:
    """Indices where a run of equal ids begins (``ids`` sorted, not empty)."""
    change = np.empty(len(ids), dtype=bool)
    change[0] = True
    np.not_equal(ids[1:], ids[:-1], out=change[1:])
    return np.flatnonzero(change)


def _gather(array: np.ndarray, ids: slice | np.ndarray) -> np.ndarray:
    """A copy of the rows ``ids`` (a slice gives a view, which must not escape)."""
    return array[ids].copy() if isinstance(ids, slice) else array[ids]
