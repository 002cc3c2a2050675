"""The telemetry store: bounded numpy ring buffers per series, written in batches, read lock-free.

Every source writes through ``TelemetryStore.write`` (the ``TelemetrySink`` protocol); the GUI
reads small copies each frame (``snapshot``, ``window``, ``latest_many``). Nothing here takes a
lock: a reader may see a batch half applied (a torn read), which is acceptable for display and
never used for alarms or history (design notes section 7).

Two tiers per series, so memory stays bounded and flat however long the store runs:

- **Full rate** (the raw ring): the last ``raw_capacity`` readings as they arrived (time float64
  epoch seconds, value float32, quality uint8: 13 bytes a reading). ``raw_capacity`` comes from
  the retention and the series' expected rate, ``ceil(retention_s * expected_hz)``, capped at
  ``raw_points`` (default 256) and at least 16: at 4 Hz that is 64 s of full-rate history, at
  1 Hz 4.3 min, at 0.1 Hz 43 min.
- **Buckets** (the long tier): ``buckets`` (default 300) time-aligned buckets spanning
  ``retention_s``, so 12 s buckets for the default hour, each holding min, max and sum (float32),
  reading count and valid-reading count (uint16) and the worst quality (uint8): 17 bytes a
  bucket. Buckets are updated on every write, so they are always current; a bucket's slot is
  ``bucket number % buckets`` and is cleared when the series moves into a newer bucket that
  reuses it. 300 buckets is what a 600-point curve of the whole hour needs (a min and a max
  each) and the width of the GUI's heatmap. Counts saturate at 65,535 readings a bucket (5 kHz
  at 12 s buckets), beyond which the mean would be biased.

Bytes per series at the defaults: 256 x 13 (full rate) + 300 x 17 (buckets) + 53 (per-series
row: latest reading, ring position, offsets, staleness) = **8,481 bytes**, whatever the rate
and however long it runs. A fleet of 16,384 GPUs x 10 quantities (163,840 series) at 4 Hz with
an hour of retention therefore holds **1.39 GB**; keeping the full hour at full rate instead
would be 14,400 x 13 = 187,200 bytes a series, **30.7 GB**. 2,048 GPUs x 10: 174 MB. Long
windows are served from the buckets, the recent part at full rate.

Storage is flat arrays owned by an ``_Arrays`` holder built through an ``Allocate`` function
(numpy's ``zeros`` by default). The empty state of the large tables is all-zero bytes, so a
later version can hand out views of a ``multiprocessing.shared_memory`` segment (which starts
zeroed) without changing the store; growing (capacity doubles as series are registered) builds
a new holder and copies, which for shared memory would mean a new segment the GUI re-attaches
to when ``generation`` changes. Untouched zero pages cost address space, not memory.

Out-of-order times within a series are accepted: the full-rate ring keeps arrival order (and
``latest`` is the last reading to arrive, as with ``RecordingSink``), ``window`` sorts by time,
and a late reading still counts in its own time's bucket while that bucket is within the
retention. Times that are not finite (or absurd, beyond +-1e12 s) are dropped and reported as a
``rejected`` event from source ``store``. Values may be NaN (or None): no valid reading.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from operator import itemgetter
from typing import Any, Literal, NamedTuple

import numpy as np
from factoryfloor.backend.telemetry.sink import GOOD, SourceEvent

Allocate = Callable[[tuple[int, ...], type], np.ndarray]
"""Makes a zero-filled array of a shape and dtype; shared memory will supply its own."""

EventKey = tuple[str, str, str]
"""(source, kind, subject) of a ``SourceEvent``."""

_PREFIX_DEFAULTS: tuple[tuple[str, float, float | None], ...] = (
    # (key prefix, expected rate in Hz, fixed stale-after in s or None for 2 expected intervals)
    ("gpu/", 4.0, None),
    # BMS points are sent on change and re-sent at least every 100 s (DSX), so stale is 2 x 100 s.
    ("rack/", 0.1, 200.0),
    ("cdu/", 0.1, 200.0),
    ("tokens/", 1.0, None),
    ("facility/", 1.0, None),
)
_FALLBACK_HZ = 1.0
_MIN_RAW_POINTS = 16
_COUNT_MAX = np.iinfo(np.uint16).max
_TIME_LIMIT_S = 1e12
"""Times beyond +-1e12 s (31,700 years) are corrupt; the limit keeps bucket numbers in int64."""
_NO_BUCKET = np.iinfo(np.int64).min // 2
"""``bucket_newest`` of a series with no reading yet: far below any real bucket number, and far
enough above int64's minimum that subtracting from a real one cannot overflow."""
_SCALAR_BELOW = 32
"""Batches smaller than this are written reading by reading: the numpy path's fixed cost (about
40 numpy calls, some 100 us) is more than a Python loop over a few readings (about 4 us each);
measured crossover 24 to 32 readings (bench/store.py)."""
_OTHER_SUBJECT = "(other subjects)"

_SEVERITY = np.array([(quality - GOOD) % 256 for quality in range(256)], dtype=np.uint8)
"""A quality code's rank, larger is worse: GOOD is 0, bad (0) is 255, other codes in between.
A bucket keeps its worst reading's rank (0 when empty), so a max over ranks is its quality."""
_QUALITY = np.argsort(_SEVERITY).astype(np.uint8)
"""The inverse of ``_SEVERITY``: rank -> quality code."""


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """What a series was registered with, and the full-rate capacity that follows from it."""

    key: str
    expected_hz: float
    stale_after_s: float
    raw_capacity: int


class Readings(NamedTuple):
    """Parallel arrays of readings: epoch seconds (float64), values (float32), quality (uint8)."""

    times_s: np.ndarray
    values: np.ndarray
    qualities: np.ndarray


@dataclass(frozen=True, slots=True)
class Buckets:
    """Parallel arrays, one entry per non-empty bucket in time order."""

    start_times_s: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    means: np.ndarray
    """Mean of the valid (non-NaN) readings; NaN where the bucket had none."""
    counts: np.ndarray
    qualities: np.ndarray
    """GOOD only where every reading in the bucket was good, else the worst code seen."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest reading of every series under a prefix, as parallel arrays (copies).

    ``keys`` is shared between snapshots of the same ``generation`` (read-only, registration
    order, existing keys never move), so the GUI can map keys to columns once per generation.
    """

    keys: np.ndarray
    times_s: np.ndarray
    values: np.ndarray
    qualities: np.ndarray
    stale: np.ndarray
    generation: int


@dataclass(frozen=True, slots=True)
class EventTally:
    """How many events of one (source, kind, subject) there were, and the last one's detail."""

    count: int
    last_detail: str
    last_time_s: float


def _column(
    table: Literal["series", "raw", "bucket"], dtype: type, empty: float = 0
) -> dict[str, Any]:
    """Field metadata: which table an array belongs to, its dtype, its never-written value."""
    return {"table": table, "dtype": dtype, "empty": empty}


@dataclass(slots=True)
class _Arrays:
    """Every array the store owns: per-series rows, the full-rate slots, the bucket slots.

    Made only through ``create`` and ``grown`` with an ``Allocate`` function, so the storage can
    later come from shared memory. Only the small per-series table has non-zero empty values.
    """

    # per series (one row each)
    latest_t_s: np.ndarray = field(metadata=_column("series", np.float64, math.nan))
    latest_v: np.ndarray = field(metadata=_column("series", np.float32, math.nan))
    latest_q: np.ndarray = field(metadata=_column("series", np.uint8))
    stale_after_s: np.ndarray = field(metadata=_column("series", np.float64, math.inf))
    raw_offset: np.ndarray = field(metadata=_column("series", np.int64))
    raw_cap: np.ndarray = field(metadata=_column("series", np.int64, 1))
    raw_written: np.ndarray = field(metadata=_column("series", np.int64))
    """Readings ever written: the ring's next slot is ``raw_written % raw_cap``."""
    bucket_newest: np.ndarray = field(metadata=_column("series", np.int64, _NO_BUCKET))
    # full-rate rings, series after series (``raw_offset``, ``raw_cap``)
    raw_t_s: np.ndarray = field(metadata=_column("raw", np.float64))
    raw_v: np.ndarray = field(metadata=_column("raw", np.float32))
    raw_q: np.ndarray = field(metadata=_column("raw", np.uint8))
    # buckets, ``buckets_per_series`` consecutive slots per series; ``bucket_n == 0`` is empty
    bucket_min: np.ndarray = field(metadata=_column("bucket", np.float32))
    bucket_max: np.ndarray = field(metadata=_column("bucket", np.float32))
    bucket_sum: np.ndarray = field(metadata=_column("bucket", np.float32))
    bucket_n: np.ndarray = field(metadata=_column("bucket", np.uint16))
    bucket_valid: np.ndarray = field(metadata=_column("bucket", np.uint16))
    bucket_sev: np.ndarray = field(metadata=_column("bucket", np.uint8))

    @classmethod
    def create(
        cls, series_rows: int, raw_slots: int, buckets_per_series: int, allocate: Allocate
    ) -> _Arrays:
        lengths = {
            "series": series_rows,
            "raw": raw_slots,
            "bucket": series_rows * buckets_per_series,
        }
        arrays = {}
        for column in fields(cls):
            meta = column.metadata
            array = allocate((lengths[meta["table"]],), meta["dtype"])
            if meta["empty"] != 0:
                array.fill(meta["empty"])
            arrays[column.name] = array
        return cls(**arrays)

    def grown(
        self, series_rows: int, raw_slots: int, buckets_per_series: int, allocate: Allocate
    ) -> _Arrays:
        """A larger copy; the old arrays stay valid for readers still holding them."""
        new = _Arrays.create(series_rows, raw_slots, buckets_per_series, allocate)
        for column in fields(self):
            old = getattr(self, column.name)
            getattr(new, column.name)[: len(old)] = old
        return new

    @property
    def series_rows(self) -> int:
        return len(self.latest_t_s)

    @property
    def raw_slots(self) -> int:
        return len(self.raw_t_s)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, column.name).nbytes for column in fields(self))


@dataclass(frozen=True, slots=True)
class _Selection:
    """The series under one prefix, cached until the key set changes."""

    generation: int
    keys: np.ndarray
    ids: slice | np.ndarray


class TelemetryStore:
    """Bounded per-series history of every telemetry reading, written in batches.

    Implements ``TelemetrySink``. Series are registered explicitly (``register``) or on first
    write with the defaults of their key prefix: ``gpu/`` 4 Hz, ``rack/`` and ``cdu/`` 0.1 Hz
    (stale after 200 s), ``tokens/`` and ``facility/`` 1 Hz, anything else 1 Hz; stale after
    two expected intervals unless the prefix says otherwise.
    """

    def __init__(
        self,
        retention_s: float = 3600.0,
        raw_points: int = 256,
        buckets: int = 300,
        *,
        initial_series: int = 1024,
        events_kept: int = 1000,
        event_subjects: int = 10_000,
        allocate: Allocate = np.zeros,
    ) -> None:
        if not retention_s > 0 or raw_points < 2 or buckets < 1 or initial_series < 1:
            raise ValueError(
                "retention_s must be > 0, raw_points >= 2, buckets >= 1, initial_series >= 1"
            )
        self.retention_s = float(retention_s)
        self.raw_points = raw_points
        self.buckets_per_series = buckets
        self.bucket_s = self.retention_s / buckets
        self._allocate = allocate
        self._arrays = _Arrays.create(
            initial_series, initial_series * raw_points, buckets, allocate
        )
        self._raw_used = 0
        self._specs: list[SeriesSpec] = []
        self._index: dict[str, int] = {}
        self._generation = 0
        self._selections: dict[str, _Selection] = {}
        self._events: deque[tuple[int, SourceEvent]] = deque(maxlen=events_kept)
        self._events_total = 0
        self._tallies: dict[EventKey, EventTally] = {}
        self._event_subjects = event_subjects

    # -- registration -------------------------------------------------------------------------

    def register(
        self, key: str, expected_hz: float | None = None, stale_after_s: float | None = None
    ) -> SeriesSpec:
        """Declare a series (None: the key prefix's default). Returns what it was given.

        Registering an existing key again updates its rate and staleness but keeps its buffers
        at the size they were first given: reallocating would lose the history.
        """
        prefix_hz, prefix_stale_s = _prefix_defaults(key)
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
        """Changes whenever a series is added (and, later, when shared arrays are replaced)."""
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
        self._arrays = arrays.grown(rows, slots, self.buckets_per_series, self._allocate)

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
        25 times more; ``test_scalar_and_batch_paths_agree`` holds them together.
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
        self._fold_one(sid, math.floor(time_s / self.bucket_s), value, quality)

    def _fold_one(self, sid: int, bucket: int, value: float, quality: int) -> None:
        """One reading into its bucket: the scalar twin of ``_fold_into_buckets``."""
        arrays = self._arrays
        newest = int(arrays.bucket_newest[sid])
        if bucket > newest:
            self._advance_buckets(np.array([sid]), np.array([bucket], dtype=np.int64))
        elif bucket <= newest - self.buckets_per_series:
            return  # older than the retention
        slot = sid * self.buckets_per_series + bucket % self.buckets_per_series
        count = int(arrays.bucket_n[slot])
        valid = value == value
        if count == 0:
            arrays.bucket_min[slot] = arrays.bucket_max[slot] = value
        elif valid:
            if not arrays.bucket_min[slot] <= value:
                arrays.bucket_min[slot] = value
            if not arrays.bucket_max[slot] >= value:
                arrays.bucket_max[slot] = value
        if valid:
            arrays.bucket_sum[slot] += value
            arrays.bucket_valid[slot] = min(int(arrays.bucket_valid[slot]) + 1, _COUNT_MAX)
        arrays.bucket_n[slot] = min(count + 1, _COUNT_MAX)
        arrays.bucket_sev[slot] = max(arrays.bucket_sev[slot], _SEVERITY[quality])

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
        self._fold_into_buckets(ids, times, vals, quals, series_starts)

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

    def _fold_into_buckets(
        self,
        ids: np.ndarray,
        times: np.ndarray,
        vals: np.ndarray,
        quals: np.ndarray,
        series_starts: np.ndarray,
    ) -> None:
        buckets = np.floor(times / self.bucket_s).astype(np.int64)
        newest = self._advance_buckets(
            ids[series_starts], np.maximum.reduceat(buckets, series_starts)
        )
        sizes = np.diff(series_starts, append=len(ids))
        live = buckets > np.repeat(newest, sizes) - self.buckets_per_series
        if not live.all():
            ids, buckets, vals, quals = ids[live], buckets[live], vals[live], quals[live]
            if len(ids) == 0:
                return
        same_series = ids[1:] == ids[:-1]
        if np.any(same_series & (buckets[1:] < buckets[:-1])):  # late readings: sort them in
            order = np.lexsort((buckets, ids))
            ids, buckets, vals, quals = ids[order], buckets[order], vals[order], quals[order]
        groups = _run_starts(ids, buckets)
        slots = ids[groups] * self.buckets_per_series + buckets[groups] % self.buckets_per_series
        self._merge_buckets(slots, vals, quals, groups)

    def _merge_buckets(
        self, slots: np.ndarray, vals: np.ndarray, quals: np.ndarray, groups: np.ndarray
    ) -> None:
        """Fold runs of readings (starting at ``groups``) into distinct bucket ``slots``."""
        arrays = self._arrays
        valid = ~np.isnan(vals)
        mins = np.fmin.reduceat(vals, groups)
        maxs = np.fmax.reduceat(vals, groups)
        old_count = arrays.bucket_n[slots].astype(np.int64)
        empty = old_count == 0
        arrays.bucket_min[slots] = np.where(empty, mins, np.fmin(arrays.bucket_min[slots], mins))
        arrays.bucket_max[slots] = np.where(empty, maxs, np.fmax(arrays.bucket_max[slots], maxs))
        sums = np.add.reduceat(np.where(valid, vals, 0), groups, dtype=np.float64)
        arrays.bucket_sum[slots] += sums
        counts = np.diff(groups, append=len(vals))
        arrays.bucket_n[slots] = np.minimum(old_count + counts, _COUNT_MAX)
        valid_counts = np.add.reduceat(valid, groups, dtype=np.int64)
        old_valid = arrays.bucket_valid[slots].astype(np.int64)
        arrays.bucket_valid[slots] = np.minimum(old_valid + valid_counts, _COUNT_MAX)
        worst = np.maximum.reduceat(_SEVERITY[quals], groups)
        arrays.bucket_sev[slots] = np.maximum(arrays.bucket_sev[slots], worst)

    def _advance_buckets(self, series: np.ndarray, batch_newest: np.ndarray) -> np.ndarray:
        """Move series on to their batch's newest bucket, clearing the slots that reuses.

        Returns each series' newest bucket number afterwards.
        """
        arrays = self._arrays
        old = arrays.bucket_newest[series]
        moved = batch_newest > old
        if moved.any():
            self._clear_buckets(series[moved], old[moved], batch_newest[moved])
        newest = np.maximum(old, batch_newest)
        arrays.bucket_newest[series] = newest
        return newest

    def _clear_buckets(self, series: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        """Empty the slots of buckets ``old + 1 .. new`` of each series (at most all of them)."""
        per_series = self.buckets_per_series
        lengths = np.minimum(new - old, per_series)
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        buckets = np.repeat(new - lengths + 1, lengths) + within
        slots = np.repeat(series * per_series, lengths) + buckets % per_series
        arrays = self._arrays
        for array in (
            arrays.bucket_min,
            arrays.bucket_max,
            arrays.bucket_sum,
            arrays.bucket_n,
            arrays.bucket_valid,
            arrays.bucket_sev,
        ):
            array[slots] = 0

    def _report_bad_times(self, first_key: str, count: int) -> None:
        self.event(
            SourceEvent("store", "rejected", first_key, f"{count} readings with no valid time")
        )

    # -- reading --------------------------------------------------------------------------------

    def latest(self, key: str) -> tuple[float, float, int] | None:
        """(time_s, value, quality) of the last reading to arrive, or None if there is none."""
        sid = self._index.get(key)
        arrays = self._arrays
        if sid is None or arrays.raw_written[sid] == 0:
            return None
        return (
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
        return _no_readings() if sid is None else self._ring(sid)

    def buckets(self, key: str, start_s: float, end_s: float) -> Buckets:
        """The non-empty buckets overlapping ``[start_s, end_s]``, in time order."""
        sid = self._index.get(key)
        if sid is None:
            return self._buckets_of(0, math.inf, -math.inf)  # selects nothing
        return self._buckets_of(sid, start_s, end_s)

    def window(
        self, key: str, start_s: float, end_s: float, max_points: int | None = None
    ) -> Readings:
        """Readings with ``start_s <= time <= end_s`` in time order, at most ``max_points``.

        Full-rate readings where the ring still holds them; before that, each bucket as its
        min and max at the bucket's centre time. Over ``max_points``, the points are cut into
        ``max_points // 2`` runs and each run's min and max reading is kept, so every spike
        survives (pyqtgraph's 'peak' downsampling).
        """
        if max_points is not None and max_points < 2:
            raise ValueError("max_points must be at least 2 (a min and a max)")
        sid = self._index.get(key)
        if sid is None:
            return _no_readings()
        ring = self._ring(sid)
        from_ring = (ring.times_s >= start_s) & (ring.times_s <= end_s)
        older = _no_readings()
        if self._arrays.raw_written[sid] > len(ring.times_s):
            # The ring has wrapped: what it lost lives on in the buckets, up to the first bucket
            # boundary after its oldest reading.
            boundary = math.floor(ring.times_s.min() / self.bucket_s) + 1
            from_ring &= np.floor(ring.times_s / self.bucket_s) >= boundary
            older = self._bucket_points(sid, start_s, end_s, before_bucket=boundary)
        picked = _time_sorted(_take(ring, from_ring))
        joined = Readings(*(np.concatenate(pair) for pair in zip(older, picked, strict=True)))
        if max_points is None or len(joined.times_s) <= max_points:
            return joined
        return _take(joined, _peak_indices(joined.values, max_points))

    def _ring(self, sid: int) -> Readings:
        arrays = self._arrays
        capacity = int(arrays.raw_cap[sid])
        written = int(arrays.raw_written[sid])
        count = min(written, capacity)
        slots = int(arrays.raw_offset[sid]) + (written - count + np.arange(count)) % capacity
        return Readings(arrays.raw_t_s[slots], arrays.raw_v[slots], arrays.raw_q[slots])

    def _buckets_of(self, sid: int, start_s: float, end_s: float) -> Buckets:
        arrays = self._arrays
        per_series = self.buckets_per_series
        newest = int(arrays.bucket_newest[sid])
        numbers = np.arange(newest - per_series + 1, newest + 1)  # oldest first
        slots = sid * per_series + numbers % per_series
        starts_s = numbers * self.bucket_s
        counts = arrays.bucket_n[slots]
        keep = (counts > 0) & (starts_s + self.bucket_s > start_s) & (starts_s <= end_s)
        slots = slots[keep]
        valid = arrays.bucket_valid[slots]
        means = np.full(len(slots), np.nan, dtype=np.float32)
        np.divide(arrays.bucket_sum[slots], valid, out=means, where=valid > 0)
        return Buckets(
            start_times_s=starts_s[keep],
            mins=arrays.bucket_min[slots],
            maxs=arrays.bucket_max[slots],
            means=means,
            counts=counts[keep],
            qualities=_QUALITY[arrays.bucket_sev[slots]],
        )

    def _bucket_points(
        self, sid: int, start_s: float, end_s: float, before_bucket: int
    ) -> Readings:
        """Buckets before ``before_bucket`` as readings: min, then max where it differs."""
        found = self._buckets_of(sid, start_s - self.bucket_s, end_s)
        centres_s = found.start_times_s + self.bucket_s / 2
        keep = (centres_s >= start_s) & (centres_s <= end_s)
        keep &= found.start_times_s < before_bucket * self.bucket_s
        pairs = Readings(
            np.repeat(centres_s[keep], 2),
            np.column_stack((found.mins[keep], found.maxs[keep])).ravel(),
            np.repeat(found.qualities[keep], 2),
        )
        distinct = np.ones(len(pairs.times_s), dtype=bool)
        distinct[1::2] = found.maxs[keep] > found.mins[keep]
        return _take(pairs, distinct)

    def _selection(self, prefix: str) -> _Selection:
        cached = self._selections.get(prefix)
        if cached is not None and cached.generation == self._generation:
            return cached
        if len(self._selections) >= 256:  # the GUI asks for a handful; stay bounded anyway
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
        """Keep the event (the last ``events_kept``) and count it under its subject.

        Past ``event_subjects`` distinct subjects, new ones are counted together under
        ``(other subjects)``, so a flood of distinct topics cannot grow memory without bound.
        """
        self._events.append((self._events_total, event))
        self._events_total += 1
        key = (event.source, event.kind, event.subject)
        tally = self._tallies.get(key)
        if tally is None and len(self._tallies) >= self._event_subjects:
            key = (event.source, event.kind, _OTHER_SUBJECT)
            tally = self._tallies.get(key)
        count = 1 if tally is None else tally.count + 1
        self._tallies[key] = EventTally(count, event.detail, event.time_s)

    def events_since(self, index: int) -> tuple[list[SourceEvent], int]:
        """Events numbered ``index`` onwards that are still kept, and the index to ask next.

        Start from 0; events that fell out of the kept window are only in ``event_tallies``.
        """
        kept = list(self._events)  # one C-level copy: safe against a concurrent append
        if not kept:
            return [], index
        skip = max(0, index - kept[0][0])
        return [event for _, event in kept[skip:]], kept[-1][0] + 1

    def event_tallies(self) -> dict[EventKey, EventTally]:
        """(source, kind, subject) -> count and last detail, for "3,412 rejected on X: ..."."""
        return dict(self._tallies)


def _prefix_defaults(key: str) -> tuple[float, float | None]:
    for prefix, hz, stale_after_s in _PREFIX_DEFAULTS:
        if key.startswith(prefix):
            return hz, stale_after_s
    return _FALLBACK_HZ, None


def _qualities(quality: Sequence[int] | None, count: int) -> np.ndarray:
    if quality is None:
        return np.full(count, GOOD, dtype=np.uint8)
    codes = np.asarray(quality)
    return codes if codes.dtype == np.uint8 else np.clip(codes, 0, 255).astype(np.uint8)


def _run_starts(*sorted_columns: np.ndarray) -> np.ndarray:
    """Indices where a run of equal rows begins (the columns sorted together, not empty)."""
    first = sorted_columns[0]
    change = np.empty(len(first), dtype=bool)
    change[0] = True
    np.not_equal(first[1:], first[:-1], out=change[1:])
    for column in sorted_columns[1:]:
        change[1:] |= column[1:] != column[:-1]
    return np.flatnonzero(change)


def _gather(array: np.ndarray, ids: slice | np.ndarray) -> np.ndarray:
    """A copy of the rows ``ids`` (a slice gives a view, which must not escape)."""
    return array[ids].copy() if isinstance(ids, slice) else array[ids]


def _no_readings() -> Readings:
    return Readings(
        np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float32), np.empty(0, dtype=np.uint8)
    )


def _take(readings: Readings, which: np.ndarray) -> Readings:
    return Readings(*(column[which] for column in readings))


def _time_sorted(readings: Readings) -> Readings:
    times = readings.times_s
    if np.all(times[1:] >= times[:-1]):
        return readings
    return _take(readings, np.argsort(times, kind="stable"))


def _peak_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the min and max of each of ``max_points // 2`` equal runs, in order.

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
