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
uint8), expected rate and staleness limit, and a full-rate ring of its last ``raw_capacity``
readings in arrival order (13 bytes a reading): ``ceil(retention_s * expected_hz)``, so never
more than the retention, capped at ``raw_points`` (default 64) and at least 16. At 4 Hz that is
16 s, at 1 Hz 64 s, at 0.1 Hz 10.7 min. The ring is there for looking back over a series at full
rate (``recent``, ``window``); nothing in the product reads it yet, only tests and
``bench/store.py``, so it is kept short: the GUI keeps its own history from frames.

Bytes per series at the defaults: 64 x 13 (the ring) + 53 (latest reading, rate, staleness
limit, ring position) = **885 bytes** in the arrays, and some 250 more in Python (the key, its
index entry), whatever the rate and however long it runs: 16,384 GPUs x 12 quantities (196,608
series) take 174 MB of arrays and about 225 MB of memory in all (``bench/fleet_join.py``).

The number of series is bounded by ``max_series`` (the design's ``telemetry.max_series``):
readings of a new series beyond it are refused, counted in ``readings_over_limit`` and reported
as a ``rejected`` event from source ``store`` (at most once a second), so that a flood of new
names cannot grow memory without bound; series already known keep updating. The arrays are
reserved for ``max_series`` up front as untouched zero pages (``series_arrays.py``), which cost
address space, not memory, until series arrive; nothing is ever copied to grow, so a fleet
joining at once stalls ingest only for registering its new keys, with a few array writes per
batch rather than a few per key.

Out-of-order times within a series are accepted: the ring keeps arrival order (and ``latest`` is
the last reading to arrive, as with ``RecordingSink``), ``window`` sorts by time. Times that are
not finite (or absurd, beyond +-1e12 s) are dropped and reported as a ``rejected`` event from
source ``store``. Values may be NaN (or None): no valid reading.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from factoryfloor.backend.design.telemetry_settings import MAX_SERIES_DEFAULT
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
RAW_POINTS_DEFAULT = 64
_MIN_RAW_POINTS = 16
LIMIT_REPORT_INTERVAL_S = 1.0
"""Readings refused at the series limit are reported at most once a second (counted always)."""
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


class _Selection:
    """The series under one prefix, extended as series are added and never rebuilt: a fleet
    joining adds thousands of series a second, and the frame loop asks for every one of them
    30 times a second.

    The ids and keys live in buffers that double when full; ``keys`` and ``ids`` are read-only
    views of their first ``count`` rows. Rows are only ever added past ``count``, so a view
    handed out stays true after the selection grows.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.generation = 0
        """The store's generation (series count) scanned up to."""
        self._ids = np.empty(16, np.int64)
        self._keys = np.empty(16, object)
        self._count = 0
        self.keys: np.ndarray = self._keys[:0]
        self.ids: slice | np.ndarray = slice(0, 0)

    def update(self, all_keys: list[str]) -> None:
        """Take in the series added since the last update."""
        first = self.generation
        if first == len(all_keys):
            return
        new_keys = all_keys[first:]
        if self.prefix:
            matched = [first + i for i, key in enumerate(new_keys) if key.startswith(self.prefix)]
            new_keys = [all_keys[sid] for sid in matched]
            new_ids = np.array(matched, dtype=np.int64)
        else:
            new_ids = np.arange(first, len(all_keys), dtype=np.int64)
        self.generation = len(all_keys)
        self._append(new_ids, new_keys)

    def _append(self, new_ids: np.ndarray, new_keys: list[str]) -> None:
        count, end = self._count, self._count + len(new_keys)
        if end > len(self._ids):
            size = len(self._ids)
            while size < end:
                size *= 2
            self._ids = _grown(self._ids, size, count)
            self._keys = _grown(self._keys, size, count)
        self._ids[count:end] = new_ids
        self._keys[count:end] = new_keys
        self._count = end
        self.keys = self._keys[:end]
        self.keys.flags.writeable = False
        ids = self._ids[:end]
        ids.flags.writeable = False
        contiguous = end > 0 and ids[-1] - ids[0] + 1 == end
        self.ids = slice(int(ids[0]), int(ids[-1]) + 1) if contiguous else ids


class TelemetryStore:
    """Latest readings and bounded full-rate history of every telemetry series, written in
    batches, and the sources' events.

    Implements ``TelemetrySink``. Series are registered explicitly (``register``) or on first
    write with the defaults of their key prefix: ``gpu/`` 4 Hz, ``rack/`` and ``cdu/`` 0.1 Hz
    (stale after 200 s), ``tokens/`` and ``facility/`` 1 Hz, anything else 1 Hz; stale after
    two expected intervals unless the prefix says otherwise. At most ``max_series`` series;
    readings of more are refused and counted (module doc). Events go to an ``EventLog`` of
    ``events_kept`` events and ``event_subjects`` tallied subjects.
    """

    def __init__(
        self,
        retention_s: float = 3600.0,
        raw_points: int = RAW_POINTS_DEFAULT,
        *,
        max_series: int = MAX_SERIES_DEFAULT,
        events_kept: int = 1000,
        event_subjects: int = 10_000,
    ) -> None:
        if not retention_s > 0 or raw_points < 2 or max_series < 1:
            raise ValueError("retention_s must be > 0, raw_points >= 2, max_series >= 1")
        self.retention_s = float(retention_s)
        self.raw_points = raw_points
        self.max_series = max_series
        self.readings_over_limit = 0
        """Readings refused because their series would have been one over ``max_series``."""
        self._arrays = SeriesArrays.reserve(max_series, max_series * raw_points)
        self._raw_used = 0
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._selections: dict[str, _Selection] = {}
        self._kind_defaults: dict[str, tuple[float, float, int]] = {}
        self._limit_reported_s = -math.inf
        self._events = EventLog(events_kept, event_subjects)

    # -- registration -------------------------------------------------------------------------

    def register(
        self, key: str, expected_hz: float | None = None, stale_after_s: float | None = None
    ) -> SeriesSpec:
        """Declare a series (None: the key prefix's default). Returns what it was given.

        Registering an existing key again updates its rate and staleness but keeps its buffers
        at the size they were first given: reallocating would lose the history. ValueError for
        a new key when the store holds ``max_series`` already.
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
            if len(self._keys) >= self.max_series:
                raise ValueError(f"{key}: {self._limit_text()}")
            sid = len(self._keys)
            self._add_series([key], [(hz, stale_after_s, self._ring_capacity(hz))])
        self._arrays.expected_hz[sid] = hz
        self._arrays.stale_after_s[sid] = stale_after_s
        return self._spec(key, sid)

    def spec(self, key: str) -> SeriesSpec | None:
        sid = self._index.get(key)
        return None if sid is None else self._spec(key, sid)

    def _spec(self, key: str, sid: int) -> SeriesSpec:
        arrays = self._arrays
        return SeriesSpec(key, float(arrays.expected_hz[sid]), float(arrays.stale_after_s[sid]),
                          int(arrays.raw_cap[sid]))  # fmt: skip

    def keys(self, prefix: str = "") -> list[str]:
        """Registered keys under a prefix, in registration order."""
        return list(self._selection(prefix).keys)

    def __len__(self) -> int:
        """How many series there are."""
        return len(self._keys)

    @property
    def generation(self) -> int:
        """Changes whenever a series is added: a reader holding a snapshot's ``keys`` knows
        from it whether the key set has changed since."""
        return len(self._keys)

    @property
    def nbytes(self) -> int:
        """Bytes the series so far take in the store's arrays (their rows and rings). The
        address space reserved for ``max_series`` costs no memory until series arrive."""
        return SeriesArrays.bytes_for(len(self._keys), self._raw_used)

    def _ring_capacity(self, hz: float) -> int:
        return min(self.raw_points, max(_MIN_RAW_POINTS, math.ceil(self.retention_s * hz)))

    def _defaults(self, kind: str) -> tuple[float, float, int]:
        """(expected_hz, stale_after_s, ring capacity) of a new series of a key kind."""
        defaults = self._kind_defaults.get(kind)
        if defaults is None:
            hz, stale_after_s = _KIND_DEFAULTS.get(kind, _FALLBACK_TIMING)
            stale_after_s = 2.0 / hz if stale_after_s is None else stale_after_s
            defaults = self._kind_defaults[kind] = (hz, stale_after_s, self._ring_capacity(hz))
        return defaults

    def _add_series(self, keys: list[str], timings: list[tuple[float, float, int]]) -> None:
        """Register new, distinct ``keys`` (as many as there is room for) with their
        (expected_hz, stale_after_s, ring capacity), with a few array writes for them all:
        a fleet joining brings thousands of new series in one batch."""
        first, end = len(self._keys), len(self._keys) + len(keys)
        hz, stale_after_s, capacity = (np.array(column) for column in zip(*timings, strict=True))
        arrays = self._arrays
        arrays.latest_t_s[first:end] = math.nan
        arrays.latest_v[first:end] = math.nan
        arrays.expected_hz[first:end] = hz
        arrays.stale_after_s[first:end] = stale_after_s
        arrays.raw_cap[first:end] = capacity
        ends = np.cumsum(capacity)
        arrays.raw_offset[first:end] = self._raw_used + ends - capacity
        self._raw_used += int(ends[-1])
        self._index.update(zip(keys, range(first, end), strict=True))
        self._keys.extend(keys)

    def _add_new(self, keys: Sequence[str]) -> None:
        """Register the keys of a batch not known yet, with their prefix defaults, in order of
        first appearance, up to the limit."""
        index = self._index
        new = list(dict.fromkeys(key for key in keys if key not in index))
        new = new[: self.max_series - len(self._keys)]
        if new:
            defaults = self._defaults
            self._add_series(new, [defaults(series.kind_of(key)) for key in new])

    def _id(self, key: str) -> int:
        """The series id of ``key``, registering it with its prefix defaults if it is new;
        -1 if it is new and the store is full."""
        sid = self._index.get(key)
        if sid is None:
            self._add_new((key,))
            sid = self._index.get(key, -1)
        return sid

    def _ids(self, keys: Sequence[str]) -> np.ndarray:
        """Series ids of a batch's keys, registering unknown keys with their prefix defaults
        (-1 for those over the limit)."""
        try:
            found = itemgetter(*keys)(self._index)
        except KeyError:
            self._add_new(keys)
            get = self._index.get
            found = [get(key, -1) for key in keys]
        return np.array(found, dtype=np.int64, ndmin=1)

    def _limit_text(self) -> str:
        return (f"series limit reached: the store holds {self.max_series:,} series"
                " (telemetry.max_series in the design)")  # fmt: skip

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
        over_limit: list[str] = []
        qualities = [GOOD] * len(keys) if quality is None else quality
        for key, time_s, value, code in zip(keys, times_s, values, qualities, strict=True):
            sid = self._id(key)
            if sid < 0:
                over_limit.append(key)
            elif abs(time_s) < _TIME_LIMIT_S:
                value = math.nan if value is None else float(value)
                self._write_one(sid, float(time_s), value, min(max(int(code), 0), 255))
            else:
                rejected.append(key)
        if rejected:
            self._report_bad_times(rejected[0], len(rejected))
        if over_limit:
            self._refuse_over_limit(over_limit[0], len(over_limit))

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
        known = ids >= 0
        usable = (np.abs(times) < _TIME_LIMIT_S) & known
        if not usable.all():
            if not known.all():
                unknown = ~known
                self._refuse_over_limit(
                    keys[int(np.argmax(unknown))], int(np.count_nonzero(unknown))
                )
            bad_times = known & ~usable
            if bad_times.any():
                self._report_bad_times(
                    keys[int(np.argmax(bad_times))], int(np.count_nonzero(bad_times))
                )
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

    def _refuse_over_limit(self, first_key: str, count: int) -> None:
        """Count readings of new series refused at the limit; say so at most once a second."""
        self.readings_over_limit += count
        now_s = time.monotonic()
        if now_s - self._limit_reported_s >= LIMIT_REPORT_INTERVAL_S:
            self._limit_reported_s = now_s
            detail = (f"{self._limit_text()}; readings of new series refused"
                      f" ({self.readings_over_limit:,} so far)")  # fmt: skip
            self.event(SourceEvent("store", "rejected", first_key, detail))

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
        selection = self._selections.get(prefix)
        if selection is None:
            if len(self._selections) >= 256:  # callers ask for a handful; stay bounded anyway
                self._selections.clear()
            selection = self._selections[prefix] = _Selection(prefix)
        selection.update(self._keys)
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


def _grown(buffer: np.ndarray, size: int, used: int) -> np.ndarray:
    """A larger buffer holding the first ``used`` rows of ``buffer``; views of the old one stay
    valid for the readers holding them."""
    new = np.empty(size, buffer.dtype)
    new[:used] = buffer[:used]
    return new
