"""The history recorder: every second the service ingests, written to disk without holding it up.

The service calls :meth:`HistoryRecorder.record` once a second from its asyncio loop with the
store's snapshot. The call only copies the arrays into a bounded queue; a thread of the
recorder does the rest, so a slow disk never delays ingest. If the thread falls that far behind
(``queue_seconds`` of frames waiting), the oldest second is dropped and reported.

What is recorded: a reading that is good (quality 1) and not stale, as its value; anything
else is recorded as missing, and reads back as NaN. The quality byte itself is not kept.

Each second goes to the tail file (``history_tail.py``) at once, so a kill -9 loses at most the
second being written, and into the open minute in memory. When a minute closes it is written to
the day files of every tier (``history_files.py``) in one transaction per file, with the tiers
computed from the minute in memory (never read back): every reading; 15-s means; 1-min
min/mean/max; 15-min min/mean/max, accumulated a minute at a time and written when its quarter
hour is complete (a quarter hour open when the recorder stops, or is killed, is not written to
that tier: its readings are in the finer tiers). Then the tail is emptied.

On start the recorder checks every day file (``PRAGMA quick_check``) and sets aside one that
fails, reads the series catalogue back from the newest files, and commits the tail's whole
frames. Rows are merged into a chunk already on disk (a row at the same time replaced), so a
minute cut short by a restart is completed by the seconds that follow it.

A full disk (``SQLITE_FULL``, ``ENOSPC``, a file size limit) makes a commit fail: it is rolled
back, the minute stays in memory (and in the tail, as far as the disk lets it grow), recording
pauses with an event, and each minute that closes retries, oldest first, until a commit goes
through and a resumed event says so. Up to ``MAX_HELD_MINUTES`` minutes are held; older ones are
dropped with an event. Live telemetry never waits for any of it.

After each commit old days are deleted: those past their tier's retention, then, while the
history is over its disk budget, the oldest day of the finest tier that has more than its
current day (a warning event names the day before it goes, as soon as the history passes
``BUDGET_WARNING`` of its budget).

Events (``events_since``) come from source ``history``: a damaged file set aside, a budget
warning and deletion, recording paused and resumed (``status``); seconds dropped (``dropped``).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factoryfloor.backend.service.history_catalogue import Catalogue
from factoryfloor.backend.service.history_chunks import BLOCK_SERIES, Chunk, ChunkCodec
from factoryfloor.backend.service.history_files import (
    DAY_S,
    TIERS,
    DayReader,
    DayWriter,
    Tier,
    can_not_write,
    damaged_reason,
    day_files,
    day_of,
    day_path,
    day_start_s,
    delete_day,
    file_bytes,
    set_aside,
)
from factoryfloor.backend.service.history_tail import TailLog, TailSecond, TailSeries, read_tail
from factoryfloor.backend.telemetry.event_log import EventLog, KeptEvents
from factoryfloor.backend.telemetry.sink import GOOD, EventKind, SourceEvent

SOURCE = "history"
HISTORY_FOLDER = "history"
TAIL_FILE = "tail.log"
MINUTE_S = 60
MAX_HELD_MINUTES = 30
"""Minutes kept in memory while the disk refuses them (23 MB each at 98,304 series)."""
DROPPED_REPORT_INTERVAL_S = 10.0
"""Seconds dropped from a full queue are reported at most this often (counted always)."""
BUDGET_WARNING = 0.9
"""Share of the budget at which the day that would go next is named in a warning."""


def history_folder(data: Path) -> Path:
    """Where the service whose data folder is ``data`` keeps its history."""
    return data / HISTORY_FOLDER


@dataclass(frozen=True, slots=True)
class HistoryRetention:
    """How many days each tier is kept."""

    raw_days: float = 1
    means_15s_days: float = 7
    minute_days: float = 30
    quarter_hour_days: float = 365

    def days(self, tier: Tier) -> float:
        by_tier = dict(
            zip(
                (t.name for t in TIERS),
                (self.raw_days, self.means_15s_days, self.minute_days, self.quarter_hour_days),
                strict=True,
            )
        )
        return by_tier[tier.name]


@dataclass(frozen=True, slots=True)
class _Frame:
    """One second as record() was given it (copies)."""

    time_s: float
    key_count: int
    values: np.ndarray
    good: np.ndarray
    design_version: int


@dataclass(frozen=True, slots=True)
class TierRows:
    """Rows of one tier for every series id: reading times or bucket starts, and the values
    (rows, ids) float32, NaN where nothing was recorded."""

    tier: Tier
    times_s: np.ndarray
    mean: np.ndarray
    min: np.ndarray | None = None
    max: np.ndarray | None = None

    def take(self, rows: np.ndarray, columns: slice) -> tuple[np.ndarray, ...]:
        arrays = (self.mean, self.min, self.max)
        return tuple(None if a is None else a[rows, columns] for a in arrays)


@dataclass(slots=True)
class _OpenMinute:
    start_s: int
    times_s: list[float] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    design_version: int = 0
    version_changes: list[tuple[float, int]] = field(default_factory=list)

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, values (rows, ids)) in time order; rows recorded before a series joined are
        NaN for it."""
        width = max(len(row) for row in self.rows)
        values = np.full((len(self.rows), width), np.nan, np.float32)
        for i, row in enumerate(self.rows):
            values[i, : len(row)] = row
        times = np.asarray(self.times_s)
        order = np.argsort(times, kind="stable")
        return times[order], values[order]


@dataclass(frozen=True, slots=True)
class _ClosedMinute:
    start_s: int
    design_version: int
    version_changes: list[tuple[float, int]]
    rows: list[TierRows]


class _QuarterHour:
    """The 15-minute tier's bucket, summed a minute at a time."""

    def __init__(self) -> None:
        self.start_s: int | None = None
        self.total = np.zeros(0)
        self.count = np.zeros(0, np.int64)
        self.min = np.zeros(0, np.float32)
        self.max = np.zeros(0, np.float32)

    def add(
        self, start_s: int, total: np.ndarray, count: np.ndarray, low: np.ndarray, high: np.ndarray
    ) -> None:
        width = len(total)
        if self.start_s != start_s:
            self.start_s = start_s
            self.total = np.zeros(width)
            self.count = np.zeros(width, np.int64)
            self.min = np.full(width, np.nan, np.float32)
            self.max = np.full(width, np.nan, np.float32)
        elif width > len(self.total):
            grow = width - len(self.total)
            self.total = np.pad(self.total, (0, grow))
            self.count = np.pad(self.count, (0, grow))
            self.min = np.pad(self.min, (0, grow), constant_values=np.nan)
            self.max = np.pad(self.max, (0, grow), constant_values=np.nan)
        self.total[:width] += total
        self.count[:width] += count
        np.fmin(self.min[:width], low, out=self.min[:width])
        np.fmax(self.max[:width], high, out=self.max[:width])

    def rows(self, tier: Tier) -> TierRows:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (self.total / self.count).astype(np.float32)
        return TierRows(
            tier, np.array([float(self.start_s)]), mean[None], self.min[None], self.max[None]
        )


class HistoryRecorder:
    """Records the service's telemetry under ``folder`` (``<data>/history``)."""

    def __init__(
        self,
        folder: Path,
        retention: HistoryRetention = HistoryRetention(),
        budget_bytes: int | None = None,
        queue_seconds: int = 60,
    ) -> None:
        self.folder = folder
        self.retention = retention
        self.budget_bytes = budget_bytes
        self._queue: queue.Queue[_Frame | None] = queue.Queue(maxsize=queue_seconds)
        self._dropped_seconds = 0
        self._dropped_reported_at = -math.inf
        self._keys: list[str] = []
        """Every key record() was given, in its order (keys only grow)."""
        self._events = EventLog()
        self._events_lock = threading.Lock()
        self._started = threading.Event()
        self._closed = False
        # The thread's own state from here on.
        self._catalogue = Catalogue()
        self._codec = ChunkCodec()
        self._position_ids = np.zeros(0, np.int64)
        self._open: _OpenMinute | None = None
        self._version: int | None = None
        self._quarter = _QuarterHour()
        self._held: list[_ClosedMinute] = []
        self._paused = False
        self._tail: TailLog | None = None
        self._tail_failing = False
        self._writers: dict[tuple[str, int], DayWriter] = {}
        self._warned: set[Path] = set()
        self._over_budget_reported = False
        self._newest_s = 0
        """The start of the newest minute on disk: "now" for retention."""
        self._thread = threading.Thread(target=self._run, name="history recorder", daemon=True)
        self._thread.start()

    # The service's side: never blocks.

    def record(
        self,
        time_s: float,
        keys: Sequence[str],
        values: np.ndarray,
        qualities: np.ndarray,
        stale: np.ndarray,
        design_version: int,
    ) -> None:
        """Queue one second of the store's snapshot (``keys`` only grow between calls)."""
        if self._closed:
            return
        if len(keys) > len(self._keys):
            self._keys.extend(keys[len(self._keys) :])
        good = (np.asarray(qualities) == GOOD) & ~np.asarray(stale, bool)
        frame = _Frame(time_s, len(keys), np.array(values, np.float32), good, design_version)
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    if self._queue.get_nowait() is not None:
                        self._dropped_seconds += 1
                    self._queue.task_done()
                    self._report_dropped()

    def _report_dropped(self) -> None:
        now = time.monotonic()
        if now - self._dropped_reported_at >= DROPPED_REPORT_INTERVAL_S:
            self._dropped_reported_at = now
            self._event("dropped", "queue", f"{self._dropped_seconds:,} seconds not recorded "
                        "so far: the recorder fell behind")  # fmt: skip

    def events_since(self, index: int) -> KeptEvents:
        """The recorder's events from ``index`` on, and the index to ask from next time."""
        with self._events_lock:
            return self._events.since(index)

    def flush(self) -> None:
        """Wait until every second queued so far is in the day files (or held, while the
        disk refuses it)."""
        self._started.wait()
        self._queue.join()

    def close(self) -> None:
        """Commit the open minute, close the files and stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    # The recorder's thread.

    def _event(self, kind: EventKind, subject: str, detail: str) -> None:
        with self._events_lock:
            self._events.add(SourceEvent(SOURCE, kind, subject, detail))

    def _run(self) -> None:
        try:
            self._start()
        except Exception as error:  # reported; each second is still taken (and refused)
            self._event("status", str(self.folder), f"cannot open the history: {error}")
        finally:
            self._started.set()
        while True:
            frame = self._queue.get()
            try:
                if frame is None:
                    self._stop()
                    return
                self._take(frame)
            except Exception as error:  # reported; the next second carries on
                self._event("status", "recorder", f"error: {error}")
            finally:
                self._queue.task_done()

    def _start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for found in day_files(self.folder):
            reason = damaged_reason(found.path)
            if reason is not None:
                aside = set_aside(found.path)
                self._event(
                    "status",
                    str(found.path),
                    f"damaged ({reason}): set aside as {aside.name}; the other days stay readable",
                )
        newest: dict[str, Path] = {f.tier.name: f.path for f in day_files(self.folder)}
        for path in newest.values():
            reader = DayReader(path)
            try:
                self._catalogue.restore(reader.entries())
            finally:
                reader.close()
        tail_path = self.folder / TAIL_FILE
        frames = read_tail(tail_path)
        self._tail = TailLog(tail_path)
        for frame in frames:
            if isinstance(frame, TailSeries):
                self._catalogue.restore(frame.entries)
            elif isinstance(frame, TailSecond):
                self._add_second(frame.time_s, frame.design_version, frame.values)
        if self._open is not None:
            self._close_minute()
        elif frames:
            self._tail.clear()

    def _take(self, frame: _Frame) -> None:
        if frame.key_count > len(self._position_ids):
            new_keys = self._keys[len(self._position_ids) : frame.key_count]
            entries = self._catalogue.add(new_keys)
            if entries:
                self._to_tail(lambda tail: tail.add_series(entries))
            ids = [self._catalogue.id(key) for key in new_keys]
            self._position_ids = np.concatenate([self._position_ids, np.asarray(ids, np.int64)])
        row = np.full(self._catalogue.blocks * BLOCK_SERIES, np.nan, np.float32)
        count = len(frame.values)
        good = frame.good[:count]
        row[self._position_ids[:count][good]] = frame.values[good]
        self._add_second(frame.time_s, frame.design_version, row)
        self._to_tail(lambda tail: tail.add_second(frame.time_s, frame.design_version, row))

    def _to_tail(self, write) -> None:
        """Append to the tail; a disk that refuses it is reported once, and recording to the
        day files goes on as far as the disk allows."""
        if self._tail is None:  # the history could not be opened (reported)
            return
        try:
            write(self._tail)
            self._tail_failing = False
        except OSError as error:
            if not self._tail_failing:
                self._tail_failing = True
                self._event("status", str(self.folder / TAIL_FILE), f"cannot append: {error}")

    def _add_second(self, time_s: float, design_version: int, row: np.ndarray) -> None:
        start_s = int(math.floor(time_s / MINUTE_S) * MINUTE_S)
        if self._open is not None and self._open.start_s != start_s:
            self._close_minute()
        if self._open is None:
            self._open = _OpenMinute(start_s)
        if design_version != self._version:
            self._open.version_changes.append((time_s, design_version))
            self._version = design_version
        self._open.design_version = design_version
        self._open.times_s.append(time_s)
        self._open.rows.append(row)

    def _close_minute(self) -> None:
        minute = self._open
        assert minute is not None
        self._open = None
        closed = _ClosedMinute(
            minute.start_s, minute.design_version, minute.version_changes, self._downsample(minute)
        )
        self._held.append(closed)
        if len(self._held) > MAX_HELD_MINUTES:
            lost = self._held.pop(0)
            self._event(
                "dropped",
                "minute",
                f"minute {lost.start_s} dropped: the disk has "
                f"refused writes for more than {MAX_HELD_MINUTES} minutes",
            )
        self._commit_held()

    def _downsample(self, minute: _OpenMinute) -> list[TierRows]:
        raw, fifteen, one, quarter = TIERS
        times, values = minute.values()
        rows = [TierRows(raw, times, values)]
        buckets = np.floor(times / fifteen.resolution_s) * fifteen.resolution_s
        starts, first = np.unique(buckets, return_index=True)
        bounds = [*first.tolist(), len(times)]
        means = np.stack([_stats(values[a:b])[2] for a, b in itertools.pairwise(bounds)])
        rows.append(TierRows(fifteen, starts, means))
        count, total, mean, low, high = _stats(values)
        rows.append(
            TierRows(one, np.array([float(minute.start_s)]), mean[None], low[None], high[None])
        )
        quarter_start = minute.start_s - minute.start_s % quarter.resolution_s
        if self._quarter.start_s is not None and self._quarter.start_s != quarter_start:
            rows.append(self._quarter.rows(quarter))  # a quarter left by a gap in the data
        self._quarter.add(quarter_start, total, count, low, high)
        if minute.start_s + MINUTE_S >= quarter_start + quarter.resolution_s:
            rows.append(self._quarter.rows(quarter))
            self._quarter = _QuarterHour()
        return rows

    def _commit_held(self) -> None:
        while self._held:
            try:
                self._commit(self._held[0])
            except Exception as error:
                if not can_not_write(error):
                    lost = self._held.pop(0)
                    self._event("status", "minute", f"minute {lost.start_s} not recorded: {error}")
                    continue
                if not self._paused:
                    self._paused = True
                    self._event(
                        "status",
                        str(self.folder),
                        f"recording paused: {error}; "
                        "held in memory and retried each minute; live telemetry "
                        "continues",
                    )
                return
            self._newest_s = max(self._newest_s, self._held.pop(0).start_s)
        if self._paused:
            self._paused = False
            self._event(
                "status", str(self.folder), "recording resumed: every held minute is on disk"
            )
        if self._tail is not None:
            self._to_tail(lambda tail: tail.clear())
        self._tidy(self._newest_s)

    def _commit(self, minute: _ClosedMinute) -> None:
        by_file: dict[tuple[Tier, int], list[tuple[int, TierRows, np.ndarray]]] = {}
        for rows in minute.rows:
            tier = rows.tier
            chunk_starts = (rows.times_s // tier.chunk_s * tier.chunk_s).astype(np.int64)
            for chunk_start in np.unique(chunk_starts).tolist():
                day = chunk_start - chunk_start % DAY_S
                picked = np.flatnonzero(chunk_starts == chunk_start)
                by_file.setdefault((tier, day), []).append((chunk_start, rows, picked))
        for (tier, day), pieces in by_file.items():
            writer = self._writer(tier, day)
            with writer.transaction():
                writer.catalogue(self._catalogue.entries)
                writer.note_versions(minute.version_changes)
                for chunk_start, rows, picked in pieces:
                    self._write_chunks(writer, chunk_start, rows, picked, minute.design_version)

    def _write_chunks(
        self,
        writer: DayWriter,
        chunk_start: int,
        rows: TierRows,
        picked: np.ndarray,
        design_version: int,
    ) -> None:
        times_ms = np.round((rows.times_s[picked] - chunk_start) * 1000).astype(np.int64)
        for block in range(self._catalogue.blocks):
            first = block * BLOCK_SERIES
            columns = slice(first, first + self._catalogue.block_width(block))
            mean, low, high = rows.take(picked, columns)
            if mean.shape[1] == 0 or np.isnan(mean).all():
                continue
            stored = self._catalogue.block_quantisation(block)
            assert stored is not None
            chunk = Chunk(times_ms, mean, low, high)
            existing = writer.read(block, chunk_start)
            if existing is not None:
                chunk = self._codec.decode(existing, stored).merged(chunk)
            writer.write(block, chunk_start, design_version, self._codec.encode(chunk, stored))

    def _writer(self, tier: Tier, day_s: int) -> DayWriter:
        key = (tier.name, day_s)
        writer = self._writers.get(key)
        if writer is None:
            for old in [k for k in self._writers if k[0] == tier.name and k[1] < day_s]:
                self._writers.pop(old).close()
            writer = DayWriter(day_path(self.folder, tier, day_of(day_s)))
            self._writers[key] = writer
        return writer

    def _tidy(self, now_s: int) -> None:
        """Delete the days past their retention, then the oldest while over the budget."""
        files = day_files(self.folder)
        for found in files:
            if day_start_s(found.day) + DAY_S <= now_s - self.retention.days(found.tier) * DAY_S:
                self._delete(found.path)
        if self.budget_bytes is None:
            return
        files = day_files(self.folder)
        sizes = {f.path: file_bytes(f.path) for f in files}
        total = sum(sizes.values()) + file_bytes(self.folder / TAIL_FILE)
        newest = {f.tier.name: f.day for f in files}
        candidates = [
            f for tier in TIERS for f in files if f.tier == tier and f.day < newest[tier.name]
        ]
        for found in candidates:
            if total <= BUDGET_WARNING * self.budget_bytes:
                return
            if found.path not in self._warned:
                self._warned.add(found.path)
                self._event(
                    "status",
                    str(found.path),
                    f"history at {total:,} of its "
                    f"{self.budget_bytes:,}-byte budget: the {found.tier.name} tier of "
                    f"{found.day} is the next to be deleted",
                )
            if total <= self.budget_bytes:
                return
            self._delete(found.path)
            total -= sizes[found.path]
            self._event(
                "status",
                str(found.path),
                f"deleted the {found.tier.name} tier of "
                f"{found.day}: the history was over its budget",
            )
        if total > self.budget_bytes and not self._over_budget_reported:
            self._over_budget_reported = True
            self._event("status", str(self.folder), f"history at {total:,} bytes, over its "
                        f"{self.budget_bytes:,}-byte budget with only the current day of each "
                        "tier left: recording goes on; raise the budget")  # fmt: skip

    def _delete(self, path: Path) -> None:
        for key, writer in list(self._writers.items()):
            if writer.path == path:
                self._writers.pop(key).close()
        delete_day(path)

    def _stop(self) -> None:
        if self._open is not None:
            self._close_minute()
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        if self._tail is not None:
            self._tail.close()


def _stats(values: np.ndarray):
    """(count, sum, mean, min, max) over the rows of ``values``, per column, ignoring NaN."""
    good = ~np.isnan(values)
    count = good.sum(axis=0)
    total = np.where(good, values, np.float32(0)).sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total / count).astype(np.float32)
    return count, total, mean, np.fmin.reduce(values, axis=0), np.fmax.reduce(values, axis=0)
