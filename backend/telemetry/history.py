"""Recent history of the live telemetry, at several resolutions, in fixed memory.

The Run view's plots and fleet heatmap show windows from a minute to a day. Frames from the
backend carry only the latest reading of each series, so the GUI keeps this history itself as
frames arrive: a few numpy gathers per frame, and memory fixed when the view starts, so a wall
display left running for days never grows.

Each series is kept in ``TIERS``: ring buffers of bucket means at 1 s, 15 s and 3 min
resolution. Every tier averages the raw frames itself (no cascading, so each column is the exact
mean of the frames in its bucket), and a slot remembers which bucket it holds, so a gap in the
data (the backend restarting, the machine asleep) reads back as missing rather than as stale
values from a lap of the ring ago. A window is read from the finest tier that covers it: a
minute is 60 columns of 1 s, a day 480 columns of 3 min.

Per-GPU series are kept as float16 (3 significant digits: 0.1 % utilisation, 0.5 W at 700 W,
0.06 K): the heatmap and per-GPU curves need no more, and it halves the memory of the largest
arrays (16,384 GPUs x 3 quantities x 1,560 columns is 150 MB instead of 300 MB). Only the
service keeps them: a window's history (``keep_gpus=False``) keeps the per-rack, row and hall
means and every other series, and asks the service for the GPU rows it draws
(``gpu_rows``), so a window holds none of the largest arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.telemetry.placement import GpuPlacement, RackGpu
from factoryfloor.backend.telemetry.series import (
    GpuSeries,
    MeanScope,
    mean_key,
    new_keys_start,
    parse,
)


@dataclass(frozen=True, slots=True)
class Tier:
    resolution_s: float
    columns: int

    @property
    def span_s(self) -> float:
        return self.resolution_s * self.columns


TIERS = (Tier(1.0, 600), Tier(15.0, 480), Tier(180.0, 480))
"""10 minutes at 1 s, 2 hours at 15 s, 24 hours at 3 minutes."""

WINDOWS_S = (60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 24 * 3600.0)
"""The time windows the views offer."""

GPU_QUANTITIES: dict[str, tuple[str, str]] = {
    "util_pct": ("GPU utilisation", "%"),
    "power_w": ("GPU power", "W"),
    "temp_c": ("GPU temperature", "°C"),
    "mem_temp_c": ("Memory temperature", "°C"),
}
"""Per-GPU quantities kept for the heatmap and per-GPU curves: quantity -> (label, unit)."""


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    times_s: np.ndarray
    """Bucket centres, epoch seconds, oldest first."""
    values: np.ndarray
    """(columns, series), float32; NaN where there was no reading."""
    resolution_s: float


class _TierRing:
    """One tier of a ``SeriesHistory``: bucket means of every series in a ring of columns."""

    def __init__(self, tier: Tier, series: int, dtype: type):
        self.tier = tier
        self.data = np.full((tier.columns, series), np.nan, dtype)
        self.bucket = np.full(tier.columns, -1, np.int64)
        """Which bucket each slot holds (-1: none yet)."""
        self._open = -1
        self._sum = np.zeros(series)
        self._count = np.zeros(series, np.int32)

    def add(self, time_s: float, values: np.ndarray) -> None:
        bucket = math.floor(time_s / self.tier.resolution_s)
        if bucket < self._open:
            return  # the clock went back: keep what is recorded rather than overwrite it
        if bucket != self._open:
            self._open = bucket
            self._sum[:] = 0.0
            self._count[:] = 0
        valid = np.isfinite(values)
        self._sum[valid] += values[valid]
        self._count[valid] += 1
        slot = bucket % self.tier.columns
        self.bucket[slot] = bucket
        with np.errstate(invalid="ignore", divide="ignore"):
            self.data[slot] = self._sum / self._count  # 0/0 -> NaN: no reading in this bucket

    def window(self, span_s: float, end_s: float, series: Sequence[int] | None) -> HistoryWindow:
        res = self.tier.resolution_s
        last = math.floor(end_s / res)
        count = min(max(1, math.ceil(span_s / res)), self.tier.columns)
        buckets = np.arange(last - count + 1, last + 1)
        slots = buckets % self.tier.columns
        if series is None:
            values = self.data[slots].astype(np.float32)
        elif self.data.shape[1] == 0:  # no series recorded yet: every one asked for is missing
            values = np.full((len(slots), len(series)), np.nan, np.float32)
        elif isinstance(series, range) and series.step == 1:  # a block of rows: no gather
            values = self.data[slots, series.start : series.stop].astype(np.float32)
        else:
            index = np.asarray(series, np.int64)
            values = self.data[np.ix_(slots, np.maximum(index, 0))].astype(np.float32)
            values[:, index < 0] = np.nan
        values[self.bucket[slots] != buckets] = np.nan
        return HistoryWindow((buckets + 0.5) * res, values, res)


class SeriesHistory:
    """A fixed set of series at every tier's resolution; the set can grow (rarely: new keys)."""

    def __init__(self, series: int, tiers: Sequence[Tier] = TIERS, dtype: type = np.float32):
        self.tiers = tuple(tiers)
        self.dtype = dtype
        self._rings = [_TierRing(t, series, dtype) for t in self.tiers]
        self.series = series
        self.latest_s = math.nan

    def add(self, time_s: float, values: np.ndarray) -> None:
        """One frame: ``values`` holds one reading per series (NaN: none)."""
        for ring in self._rings:
            ring.add(time_s, values)
        self.latest_s = time_s if math.isnan(self.latest_s) else max(self.latest_s, time_s)

    def tier_for(self, span_s: float) -> Tier:
        """The finest tier that covers ``span_s`` (the coarsest if none does)."""
        return next((t for t in self.tiers if t.span_s >= span_s), self.tiers[-1])

    def window(
        self,
        span_s: float,
        end_s: float | None = None,
        series: Sequence[int] | None = None,
        tier: Tier | None = None,
    ) -> HistoryWindow:
        """The last ``span_s`` seconds up to ``end_s`` (default: the newest frame), of every
        series or of the given ones (-1: a series not recorded, read as NaN; a ``range`` is read
        as a block, without gathering), from ``tier``
        (default: the finest that covers ``span_s``; a view updating a few columns of a long
        window names its tier)."""
        end = self.latest_s if end_s is None else end_s
        width = self.series if series is None else len(series)
        if math.isnan(end):
            return HistoryWindow(np.empty(0), np.empty((0, width), np.float32), 0.0)
        ring = self._rings[self.tiers.index(tier or self.tier_for(span_s))]
        return ring.window(span_s, end, series)

    @property
    def nbytes(self) -> int:
        """Memory held by the recorded columns of every tier (and which bucket each holds)."""
        return sum(ring.data.nbytes + ring.bucket.nbytes for ring in self._rings)

    def tier_arrays(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(bucket of each slot, data) of every tier: what another history is seeded from."""
        return [(ring.bucket, ring.data) for ring in self._rings]

    def seed(self, tiers: Sequence[tuple[np.ndarray, np.ndarray]],
             columns: np.ndarray | None = None) -> None:  # fmt: skip
        """Take the recorded columns of another history of the same tiers: all its series, or
        those it holds for ours at ``columns`` (-1: it has none). Frames added since are kept
        where the other history has nothing for their bucket."""
        for ring, (bucket, data) in zip(self._rings, tiers, strict=True):
            if data.shape[0] != ring.tier.columns:
                raise ValueError(f"a tier of {data.shape[0]} columns cannot seed one of "
                                 f"{ring.tier.columns}")  # fmt: skip
            take = bucket > ring.bucket  # the other history's slot is newer than ours
            if columns is None:
                ring.data[take] = data[take]
            else:
                have = columns >= 0
                ring.data[np.ix_(take, np.flatnonzero(have))] = data[np.ix_(take, columns[have])]
            ring.bucket[take] = bucket[take]
        self.latest_s = _newest(self.latest_s, tiers, self.tiers)

    def grow(self, series: int) -> None:
        """Make room for more series; what is recorded so far is kept."""
        if series <= self.series:
            return
        for ring in self._rings:
            data = np.full((ring.tier.columns, series), np.nan, self.dtype)
            data[:, : self.series] = ring.data
            ring.data = data
            ring._sum = np.concatenate([ring._sum, np.zeros(series - self.series)])
            ring._count = np.concatenate([ring._count, np.zeros(series - self.series, np.int32)])
        self.series = series


def floor_rows(design: Design) -> dict[str, list[str]]:
    """Racks grouped into rows on the floor (row name -> rack ids): racks facing the same way
    whose centres line up across the row (within half a rack depth). Named by the common start
    of their ids (``A`` for A01-A08), else by position. A design has no row field: rows are how
    racks stand."""
    groups: dict[tuple[int, int], list[str]] = {}
    for rack in sorted(design.racks, key=lambda r: (r.y_m, r.x_m)):
        facing = round(rack.rotation_deg / 90.0) % 2  # 0: row runs along x, 1: along y
        across = rack.x_m if facing else rack.y_m
        key = (facing, round(across / max(rack.depth_m / 2, 0.1)))
        groups.setdefault(key, []).append(rack.id)
    rows: dict[str, list[str]] = {}
    for (facing, _), ids in groups.items():
        prefix = _row_prefix(ids)
        first = next(r for r in design.racks if r.id == ids[0])
        name = f"Row {prefix}" if prefix else f"Row at {'x' if facing else 'y'} = " \
            f"{first.x_m if facing else first.y_m:.1f} m"  # fmt: skip
        rows[name if name not in rows else f"{name} ({ids[0]})"] = ids
    return rows


def _row_prefix(ids: list[str]) -> str:
    """The shared start of a row's rack ids, cut back to a whole token: ``A`` for A01-A08
    (not ``A0``), ``R003`` for R003-00 to R003-15."""
    first, last = min(ids), max(ids)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    if n < len(first) and first[n].isdigit():
        while n and first[n - 1].isdigit():
            n -= 1
    return first[:n].rstrip("-_ .")


@dataclass(frozen=True, slots=True)
class Moment:
    """The recorded value of every series at one time, in the order of the frames' keys."""

    time_s: float
    resolution_s: float
    """The width of the bucket each value is the mean of (0: nothing recorded yet)."""
    values: np.ndarray


@dataclass(frozen=True, slots=True)
class HistoryExport:
    """A ``LiveHistory``'s recorded columns: per tier, the bucket each slot holds and the data,
    of the named series and of every GPU row per quantity."""

    series_keys: list[str]
    series: list[tuple[np.ndarray, np.ndarray]]
    gpus: dict[str, list[tuple[np.ndarray, np.ndarray]]]


class LiveHistory:
    """History of a running design: every GPU per quantity (the heatmap's rows, in plan order),
    every other series by key (racks, loops, CDUs, facility, token servers), and the mean of
    each GPU quantity per rack, per row and over the hall.

    GPU rows come from the design (racks in order, GPUs by index), so the heatmap's layout is
    known before the first reading and stays put when a source reconnects. The per-rack, row
    and hall means are computed as frames arrive (a ``bincount`` each) rather than from the
    per-GPU history when a plot asks: reading 16,384 GPUs back to average them takes tens of
    milliseconds, too long to do on every frame.
    """

    def __init__(self, design: Design, tiers: Sequence[Tier] = TIERS, keep_gpus: bool = True):
        self.tiers = tuple(tiers)
        self.keep_gpus = keep_gpus
        """Whether every GPU's history is kept (the service's) or only the per-rack, row and
        hall means and the other series (a window's: it asks the service for what it draws of
        the GPUs, ``gpu_rows``, and holds none of the largest arrays)."""
        self.gpu_rows: list[tuple[str, int]] = [
            (rack.id, i) for rack in design.racks for i in range(rack.gpu_count)
        ]
        """(rack id, GPU index) of each GPU row: the heatmap's rows, top to bottom."""
        self.rows_of_rack: dict[str, range] = {}
        """Rack id -> its GPUs' rows (in ``gpu_rows``), GPU 0 first."""
        start = 0
        for rack in design.racks:
            self.rows_of_rack[rack.id] = range(start, start + rack.gpu_count)
            start += rack.gpu_count
        self.placement = GpuPlacement(design)
        """Which rack GPU each host's GPU is; readings of GPUs it places nowhere are left out
        of the GPU rows rather than drawn on a rack they do not belong to."""
        self._row_of = {RackGpu(rack, i): n for n, (rack, i) in enumerate(self.gpu_rows)}
        self._gpu: dict[str, SeriesHistory] = {}
        self._gpu_columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._gpu_found: dict[str, tuple[list[int], list[int]]] = {}
        """``_gpu_columns`` as they grow, key by key."""
        """quantity -> (frame columns, GPU rows) of the readings that fill it."""
        self._gpu_buffer: dict[str, np.ndarray] = {}
        self.series = SeriesHistory(0, self.tiers)
        self.series_keys: dict[str, int] = {}
        self._series_columns = np.empty(0, np.int64)
        self._keys: list[str] | None = None
        self._groups = {
            "rack": self._group_rows({rack: [rack] for rack in self.rows_of_rack}),
            "row": self._group_rows(floor_rows(design)),
            "hall": {"Hall": list(range(len(self.gpu_rows)))},
        }
        """"rack", "row" or "hall" -> group name -> its GPU rows."""
        self._group_index = {by: self._group_indices(groups)
                             for by, groups in self._groups.items()}  # fmt: skip

    def _group_rows(self, racks: dict[str, list[str]]) -> dict[str, list[int]]:
        """Group name -> the GPU rows of its racks, from group name -> rack ids."""
        return {name: [n for rack in members for n in self.rows_of_rack[rack]]
                for name, members in racks.items()}  # fmt: skip

    @staticmethod
    def _group_indices(groups: dict[str, list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(GPU rows, group number of each) for a ``bincount`` over a frame."""
        rows = [n for members in groups.values() for n in members]
        numbers = [g for g, members in enumerate(groups.values()) for _ in members]
        return np.array(rows, np.int64), np.array(numbers, np.int64)

    # --- Feeding ---------------------------------------------------------------------------

    def _map_keys(self, keys: list[str], start: int | None = None) -> None:
        """Where each recorded series is among a frame's ``keys``; only the keys new since the
        last mapping are read (``new_keys_start``) unless ``start`` says from where."""
        start = new_keys_start(self._keys, keys) if start is None else start
        if start == 0:
            self._gpu_found.clear()
        found = self._gpu_found
        touched: set[str] = set()
        for column, key in enumerate(keys[start:], start):
            named = parse(key)
            if isinstance(named, GpuSeries):
                spot = self.placement.place(named.node, named.index)
                if named.quantity in GPU_QUANTITIES and spot is not None:
                    cols, rows = found.setdefault(named.quantity, ([], []))
                    cols.append(column)
                    rows.append(self._row_of[spot])
                    touched.add(named.quantity)
            else:
                self.series_keys.setdefault(key, len(self.series_keys))
        for quantity in touched:
            cols, rows = found[quantity]
            self._gpu_columns[quantity] = (np.array(cols), np.array(rows))
            if quantity not in self._gpu_buffer:
                self._keep_gpu(quantity)
                for by, groups in self._groups.items():
                    for name in groups:
                        key = mean_key(by, name, quantity)
                        self.series_keys.setdefault(key, len(self.series_keys))
        self.series.grow(len(self.series_keys))
        columns = np.full(len(self.series_keys), -1, np.int64)
        if start:
            columns[: len(self._series_columns)] = self._series_columns
        for column, key in enumerate(keys[start:], start):
            index = self.series_keys.get(key)
            if index is not None:
                columns[index] = column
        self._series_columns = columns
        self._keys = keys

    def add(self, keys: list[str], time_s: float, values: np.ndarray) -> None:
        """Record one frame (``values`` in ``keys`` order)."""
        if keys is not self._keys and keys != self._keys:
            self._map_keys(keys)
        known = self._series_columns >= 0
        row = np.full(len(self._series_columns), np.nan)
        row[known] = values[self._series_columns[known]]
        for quantity, (cols, rows) in self._gpu_columns.items():
            buffer = self._gpu_buffer[quantity]
            buffer[rows] = values[cols]
            if self.keep_gpus:
                self._gpu[quantity].add(time_s, buffer)
            for by, groups in self._groups.items():
                first = self.series_keys[mean_key(by, next(iter(groups)), quantity)]
                row[first : first + len(groups)] = _group_means(buffer, *self._group_index[by],
                                                                len(groups))  # fmt: skip
        self.series.add(time_s, row)

    # --- Handing over ------------------------------------------------------------------------

    def export(self) -> HistoryExport:
        """Everything recorded, for a window that starts now to be seeded with (``seed``)."""
        return HistoryExport(list(self.series_keys), self.series.tier_arrays(),
                             {q: h.tier_arrays() for q, h in self._gpu.items()})  # fmt: skip

    def seed(self, recorded: HistoryExport) -> None:
        """Take what another history of the same design recorded (the service's, when a window
        starts): the past shows at once instead of filling in from now. Per-GPU history is
        taken only by a history that keeps it."""
        for key in recorded.series_keys:
            self.series_keys.setdefault(key, len(self.series_keys))
        self.series.grow(len(self.series_keys))
        if self._keys is not None:  # the frames' columns of the series just added
            self._map_keys(self._keys, start=0)
        theirs = {key: n for n, key in enumerate(recorded.series_keys)}
        columns = np.array([theirs.get(key, -1) for key in self.series_keys], np.int64)
        self.series.seed(recorded.series, columns)
        for quantity, tiers in recorded.gpus.items():
            if quantity not in GPU_QUANTITIES or tiers[0][1].shape[1] != len(self.gpu_rows):
                continue  # another design's rows: nothing to take
            if quantity not in self._gpu_buffer:
                self._keep_gpu(quantity)
            if self.keep_gpus:
                self._gpu[quantity].seed(tiers)

    def _keep_gpu(self, quantity: str) -> None:
        """Room for a GPU quantity: this frame's reading of every GPU (the means are taken
        from it) and, if kept, every GPU's history."""
        self._gpu_buffer[quantity] = np.full(len(self.gpu_rows), np.nan)
        if self.keep_gpus:
            self._gpu[quantity] = SeriesHistory(len(self.gpu_rows), self.tiers, np.float16)

    # --- Reading ---------------------------------------------------------------------------

    @property
    def latest_s(self) -> float:
        return self.series.latest_s

    def moment(self, time_s: float) -> Moment:
        """Every series of the last frame's keys as recorded at ``time_s``: the mean of the
        bucket holding it, at the finest tier that still does (NaN where nothing was). What
        the plan and the tiles show when the operator scrubs back."""
        keys = self._keys or []
        values = np.full(len(keys), np.nan, np.float32)
        if not keys or math.isnan(self.latest_s):
            return Moment(time_s, 0.0, values)
        tier = self.series.tier_for(max(0.0, self.latest_s - time_s) + self.tiers[0].resolution_s)
        span_s = tier.resolution_s
        known = self._series_columns >= 0
        column = self.series.window(span_s, time_s, None, tier).values[-1]
        values[self._series_columns[known]] = column[known]
        for quantity, (columns, rows) in self._gpu_columns.items():
            gpus = self._gpu[quantity].window(span_s, time_s, None, tier).values[-1]
            values[columns] = gpus[rows]
        return Moment(time_s, tier.resolution_s, values)

    @property
    def nbytes(self) -> int:
        """Memory held by the recorded history, every GPU and every series, at every tier."""
        return self.series.nbytes + sum(history.nbytes for history in self._gpu.values())

    @property
    def gpu_quantities(self) -> list[str]:
        """The per-GPU quantities some source reports, in ``GPU_QUANTITIES`` order."""
        return [q for q in GPU_QUANTITIES if q in self._gpu_buffer]

    def gpu_window(
        self,
        quantity: str,
        span_s: float,
        end_s: float | None = None,
        rows: Sequence[int] | None = None,
        tier: Tier | None = None,
    ) -> HistoryWindow:
        """(columns, GPU rows) of ``quantity``, all rows or the given ones; NaN where no
        source reports it. ``tier`` as in ``SeriesHistory.window``. Only a history that keeps
        every GPU has them (``keep_gpus``)."""
        if not self.keep_gpus:
            raise ValueError("this history keeps no per-GPU history: ask the service for it")
        history = self._gpu.get(quantity)
        end = self.latest_s if end_s is None else end_s
        if history is None:
            width = len(self.gpu_rows) if rows is None else len(rows)
            tier = tier or self.series.tier_for(span_s)
            if math.isnan(end):
                return HistoryWindow(np.empty(0), np.empty((0, width), np.float32), 0.0)
            count = min(max(1, math.ceil(span_s / tier.resolution_s)), tier.columns)
            last = math.floor(end / tier.resolution_s)
            times = (np.arange(last - count + 1, last + 1) + 0.5) * tier.resolution_s
            return HistoryWindow(times, np.full((count, width), np.nan, np.float32),
                                 tier.resolution_s)  # fmt: skip
        return history.window(span_s, end, rows, tier)

    def series_window(self, keys: Sequence[str], span_s: float,
                      end_s: float | None = None) -> HistoryWindow:  # fmt: skip
        """(columns, len(keys)) of the named series; NaN columns for keys never seen."""
        index = [self.series_keys.get(k, -1) for k in keys]
        return self.series.window(span_s, end_s, index)

    def group_names(self, by: MeanScope) -> list[str]:
        """Names of the racks ("rack"), rows ("row") or the hall ("hall"), in series order."""
        return list(self._groups[by])

    def aggregate_window(self, quantity: str, by: str, span_s: float,
                         end_s: float | None = None) -> HistoryWindow:  # fmt: skip
        """Mean of a GPU quantity per rack, row or the hall: (columns, ``group_names(by)``)."""
        keys = [mean_key(by, name, quantity) for name in self._groups[by]]
        return self.series_window(keys, span_s, end_s)


def _newest(latest_s: float, tiers: Sequence[tuple[np.ndarray, np.ndarray]],
            kinds: Sequence[Tier]) -> float:  # fmt: skip
    """The later of ``latest_s`` and the start of the newest bucket the seeded tiers hold: the
    start, as the seeded readings may have come anywhere in it, and a history must never read
    as newer than the frames it was given (the next frame's time would then not show)."""
    bucket, _ = tiers[0]
    if bucket.max(initial=-1) < 0:
        return latest_s
    seeded_s = int(bucket.max()) * kinds[0].resolution_s
    return seeded_s if math.isnan(latest_s) else max(latest_s, seeded_s)


def _group_means(values: np.ndarray, rows: np.ndarray, groups: np.ndarray,
                 count: int) -> np.ndarray:  # fmt: skip
    picked = values[rows]
    valid = np.isfinite(picked)
    sums = np.bincount(groups[valid], picked[valid], count)
    counts = np.bincount(groups[valid], minlength=count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts  # 0/0 -> NaN: a group with no reading
