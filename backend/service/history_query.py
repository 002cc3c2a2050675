"""Reading the history back, shaped for a view: a time range, some series, a number of columns.

A view asks for as many columns as it has pixels, and the answer is reduced to that: the mean
of each series per column (NaN where nothing was recorded), with the lowest and highest value
the tier read holds in it (readings in the raw tier, 15-s means in the 15-s tier, the buckets'
own min and max in the 1-min and 15-min tiers). The heatmap's rows are reduced too, to the
pixel rows on screen, each the worst GPU it covers, as ``widgets/fleet_heatmap.py`` draws it.

Which tier is read: the finest with at most two rows for each column asked for, so a query's
work follows the view's width, not the range: a day in 1,440 columns reads the 1-min tier, the
last hour in 600 columns the 240 rows of the 15-s tier rather than 3,600 readings a series.
Rows within a column are averaged; when a tier's rows are wider than the columns, each column
shows the row its middle falls in. Columns that tier has nothing for yet (the minutes not yet
in it) are filled from the finer tiers, and columns older than its oldest day (past its
retention) from the coarser ones.

``HistoryReader`` opens the day files read-only: the service reads them while its recorder
writes (it sees every committed minute), and ``factoryfloor export`` reads a stopped service's
folder. A file that cannot be read is skipped and named in ``unreadable``.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factoryfloor.backend.service.history_chunks import (
    Chunk,
    ChunkCodec,
    quantisation,
    quantity_of,
)
from factoryfloor.backend.service.history_files import (
    DAY_S,
    TIERS,
    DayReader,
    Tier,
    day_files,
    day_start_s,
)

MAX_ROWS_PER_COLUMN = 2
"""A query reads the finest tier with at most this many rows for each column it answers."""
LOW_IS_WORST = frozenset({"util_pct"})
"""Quantities whose worst GPU is the lowest (an idle GPU makes no tokens), as the heatmap
ranks them; for the others the highest is the worst."""


@dataclass(frozen=True, slots=True)
class SeriesColumns:
    times_s: np.ndarray
    """(columns,) the start of each column, epoch seconds."""
    values: np.ndarray
    """(series, columns) float32: the mean per column, NaN where nothing was recorded."""
    min: np.ndarray
    max: np.ndarray
    tier: str
    """The tier read (``raw``, ``15s``, ``1min``, ``15min``); others fill its gaps."""


@dataclass(frozen=True, slots=True)
class HeatmapColumns:
    times_s: np.ndarray
    values: np.ndarray
    """(pixel rows, columns) float32: each the worst of the GPUs the row covers (NaN: one of
    them recorded nothing, which the heatmap ranks worst of all)."""
    shown: np.ndarray
    """(pixel rows, columns) int: which of the keys each value is (the GPU to name on hover)."""
    group: int
    """Keys per pixel row."""
    tier: str


@dataclass(frozen=True, slots=True)
class DesignVersionSpan:
    start_s: float
    end_s: float
    version: int


@dataclass(frozen=True, slots=True)
class _Piece:
    """Rows of some of a query's series, in time order: ``series`` are their positions among
    the query's keys, the arrays (rows, series). ``low`` and ``high`` are ``mean`` itself where
    the tier keeps no min and max (its extremes are then those of its values)."""

    series: np.ndarray
    times_s: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @staticmethod
    def of(series: np.ndarray, parts: list[_Piece], axis: int) -> _Piece:
        """``parts`` joined: one after another in time (``axis`` 0: the same series), or side
        by side (``axis`` 1: the same times)."""
        if len(parts) == 1:
            return parts[0]
        mean = np.concatenate([p.mean for p in parts], axis=axis)
        low, high = mean, mean
        if any(p.low is not p.mean for p in parts):
            low = np.concatenate([p.low for p in parts], axis=axis)
        if any(p.high is not p.mean for p in parts):
            high = np.concatenate([p.high for p in parts], axis=axis)
        times = np.concatenate([p.times_s for p in parts]) if axis == 0 else parts[0].times_s
        return _Piece(series, times, mean, low, high)

    @staticmethod
    def from_chunk(series: np.ndarray, start_s: int, chunk: Chunk) -> _Piece:
        mean = chunk.mean
        low = mean if chunk.min is None else chunk.min
        high = mean if chunk.max is None else chunk.max
        return _Piece(series, start_s + chunk.times_ms / 1000, mean, low, high)


def _joined(pieces: list[_Piece]) -> list[_Piece]:
    """Pieces of the same series (a block read from consecutive day files) joined in time, then
    pieces with the same times (every block of a tier, normally) joined side by side, so that a
    query is reduced in a few large numpy operations rather than one per block."""
    by_series: dict[bytes, list[_Piece]] = {}
    for piece in pieces:
        by_series.setdefault(piece.series.tobytes(), []).append(piece)
    in_time = [_Piece.of(group[0].series, group, axis=0) for group in by_series.values()]
    by_times: dict[bytes, list[_Piece]] = {}
    for piece in in_time:
        by_times.setdefault(piece.times_s.tobytes(), []).append(piece)
    return [
        _Piece.of(np.concatenate([p.series for p in group]), group, axis=1)
        for group in by_times.values()
    ]


def _index(positions: np.ndarray) -> slice | np.ndarray:
    """A run of consecutive positions as a slice (a view, no gather); others as they are."""
    runs = len(positions) and positions[-1] - positions[0] == len(positions) - 1
    if runs and (np.diff(positions) == 1).all():
        return slice(int(positions[0]), int(positions[-1]) + 1)
    return positions


class _Columns:
    """The running reduction of one query over one tier, per column and series (the chunks'
    own layout, so nothing is transposed until the answer): sums, counts, and with
    ``extremes`` the lowest and highest value.

    When the tier's rows are wider than the columns asked for, the reduction is kept per row
    of the tier (``cells``) and each column is the cell its middle falls in
    (``column_cell``): a heatmap of the last hour works on 240 rows, not 600 copies of them.
    """

    def __init__(self, series: int, start_s: float, end_s: float, columns: int, row_s: int,
                 extremes: bool) -> None:  # fmt: skip
        width_s = (end_s - start_s) / columns
        if row_s > width_s:
            self.cell_start_s = math.floor(start_s / row_s) * row_s
            self.cell_s = float(row_s)
            middles = start_s + (np.arange(columns) + 0.5) * width_s
            self.column_cell = ((middles - self.cell_start_s) // row_s).astype(np.int64)
        else:
            self.cell_start_s, self.cell_s = start_s, width_s
            self.column_cell = np.arange(columns)
        self.shape = (int(self.column_cell[-1]) + 1, series)
        self.extremes = extremes
        self._whole: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        """(means, lows, highs) of a piece that filled every cell once, kept as they are: the
        common case (one tier, one day, every series), with nothing to add up."""
        self._sums: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        """(total, count, lowest, highest) once more than one piece is added."""

    def add(self, piece: _Piece) -> None:
        """Reduce ``piece``'s rows (in time order) into the cells."""
        cell = np.floor((piece.times_s - self.cell_start_s) / self.cell_s + 1e-9).astype(np.int64)
        inside = (cell >= 0) & (cell < self.shape[0])
        cell = cell[inside]
        if len(cell) == 0:
            return
        means, lows, highs = piece.mean, piece.low, piece.high
        if not inside.all():
            means = piece.mean[inside]
            lows = means if piece.low is piece.mean else piece.low[inside]
            highs = means if piece.high is piece.mean else piece.high[inside]
        bounds = np.flatnonzero(np.diff(cell, prepend=-1))
        cells = cell[bounds]
        if len(bounds) < len(cell):
            means, lows, highs = _runs(means, lows, highs, [*bounds.tolist(), len(cell)],
                                       self.extremes)  # fmt: skip
        rows, cols = _index(cells), _index(piece.series)
        every_cell = isinstance(rows, slice) and rows == slice(0, self.shape[0])
        every_series = isinstance(cols, slice) and cols == slice(0, self.shape[1])
        if every_cell and every_series and self._whole is None and self._sums is None:
            self._whole = (means, lows, highs)
            return
        total, count, lowest, highest = self._accumulators()
        where = (
            np.ix_(rows, cols)
            if isinstance(rows, np.ndarray) and isinstance(cols, np.ndarray)
            else (rows, cols)
        )
        missing = np.isnan(means)
        total[where] += np.where(missing, np.float32(0), means)
        count[where] += ~missing
        if self.extremes:
            lowest[where] = np.fmin(lowest[where], lows)
            highest[where] = np.fmax(highest[where], highs)

    def _accumulators(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._sums is None:
            total = np.zeros(self.shape, np.float32)
            count = np.zeros(self.shape, np.int32)
            lowest = np.full(self.shape, np.nan, np.float32)
            highest = np.full(self.shape, np.nan, np.float32)
            if self._whole is not None:
                means, lows, highs = self._whole
                missing = np.isnan(means)
                total[~missing] = means[~missing]
                count[~missing] = 1
                lowest[:], highest[:] = lows, highs
                self._whole = None
            self._sums = (total, count, lowest, highest)
        return self._sums

    def means(self) -> np.ndarray:
        """(cells, series) float32, NaN where nothing was recorded."""
        if self._whole is not None:
            return self._whole[0]
        total, count, _, _ = self._accumulators()
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / count

    def lowest(self) -> np.ndarray:
        return self._whole[1] if self._whole is not None else self._accumulators()[2]

    def highest(self) -> np.ndarray:
        return self._whole[2] if self._whole is not None else self._accumulators()[3]

    def recorded(self) -> np.ndarray:
        """(columns,) whether any series has a value in each column."""
        if self._whole is not None:
            by_cell = ~np.isnan(self._whole[0]).all(axis=1)
        else:
            by_cell = self._accumulators()[1].sum(axis=1) > 0
        return by_cell[self.column_cell]


@dataclass(frozen=True, slots=True)
class _Segment:
    """Some of a query's columns (``columns``) as answered by one tier: ``part``'s own columns
    ``own`` (a tier filling another's gaps answers a sub-range)."""

    columns: np.ndarray
    part: _Columns
    own: np.ndarray

    def put(self, target: np.ndarray, cells: np.ndarray) -> None:
        """Copy ``cells`` (per cell of ``part``) into ``target``'s (columns, ...) rows."""
        target[self.columns] = cells[self.part.column_cell[self.own]]


def _worst_of_groups(means: np.ndarray, group: int, low_is_worst: bool):
    """(values, shown) (cells, pixel rows): per cell, the worst of each ``group`` consecutive
    series of ``means`` (cells, series), and which series it is. No reading ranks worst of
    all, then the highest value (the lowest with ``low_is_worst``), as the heatmap ranks
    them."""
    cells, series = means.shape
    pad = (-series) % group  # the last row's short group: padded with the least bad
    ranked = np.full((cells, series + pad), -np.inf, np.float32)
    np.copyto(ranked[:, :series], np.negative(means) if low_is_worst else means)
    np.copyto(ranked[:, :series], np.float32(np.inf), where=np.isnan(means))
    worst = ranked.reshape(cells, -1, group).argmax(axis=2)
    shown = worst + np.arange(worst.shape[1]) * group
    return np.take_along_axis(means, np.minimum(shown, series - 1), axis=1), shown


def _column_starts(start_s: float, end_s: float, columns: int) -> np.ndarray:
    return start_s + np.arange(columns) * ((end_s - start_s) / columns)


def _runs(means, lows, highs, bounds, extremes: bool):
    """Per run of rows in one column: mean of the good values, lowest, highest (the bounds'
    slices: numpy's reduceat along the rows is many times slower)."""
    runs = len(bounds) - 1
    out_mean = np.empty((runs, means.shape[1]), np.float32)
    out_low, out_high = np.empty_like(out_mean), np.empty_like(out_mean)
    for run in range(runs):
        rows = slice(bounds[run], bounds[run + 1])
        good = ~np.isnan(means[rows])
        with np.errstate(invalid="ignore", divide="ignore"):
            out_mean[run] = np.where(good, means[rows], 0).sum(axis=0) / good.sum(axis=0)
        if extremes:
            out_low[run] = np.fmin.reduce(lows[rows], axis=0)
            out_high[run] = np.fmax.reduce(highs[rows], axis=0)
    return out_mean, out_low, out_high


class HistoryReader:
    """The history under ``folder`` (``<data>/history``), read-only. One reader serves one
    thread at a time (it keeps its files open and its decompression context between queries);
    a service that answers queries on worker threads gives each its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._readers: dict[Path, DayReader] = {}
        self._codec = ChunkCodec()
        self.unreadable: dict[Path, str] = {}
        """Files skipped, and why."""

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()

    def _files(
        self, tier: Tier | None = None, start_s: float = -math.inf, end_s: float = math.inf
    ) -> list[DayReader]:
        """Readers of the day files of ``tier`` (every tier: None) meeting [start, end). Files
        deleted or set aside since the last call have their readers closed."""
        listed = day_files(self.folder)
        present = {day_file.path for day_file in listed}
        for gone in [path for path in self._readers if path not in present]:
            self._readers.pop(gone).close()
        found = []
        for day_file in listed:
            if tier is not None and day_file.tier != tier:
                continue
            first_s = day_start_s(day_file.day)
            if first_s >= end_s or first_s + DAY_S <= start_s:
                continue
            reader = self._readers.get(day_file.path)
            if reader is None:
                try:
                    reader = DayReader(day_file.path)
                except sqlite3.Error as error:
                    self.unreadable[day_file.path] = str(error)
                    continue
                self._readers[day_file.path] = reader
            found.append(reader)
        return found

    def keys(self) -> list[str]:
        """Every series recorded, sorted."""
        keys: set[str] = set()
        for reader in self._files():
            keys.update(self._guarded(reader, reader.keys, []))
        return sorted(keys)

    def span(self) -> tuple[float, float] | None:
        """(first, last) time recorded in any tier, or None if nothing is."""
        first, last = math.inf, -math.inf
        for tier in TIERS:
            files = self._files(tier)
            if not files:
                continue
            oldest = self._guarded(files[0], lambda r=files[0]: r.edge(newest=False), None)
            newest = self._guarded(files[-1], lambda r=files[-1]: r.edge(newest=True), None)
            if oldest is not None:
                first = min(first, oldest[0] + self._codec.times_ms(oldest[1])[0] / 1000)
            if newest is not None:
                last = max(last, newest[0] + self._codec.times_ms(newest[1])[-1] / 1000)
        return (first, last) if first <= last else None

    def design_versions(self, start_s: float, end_s: float) -> list[DesignVersionSpan]:
        """The design versions the readings in [start, end) were recorded under, in order."""
        changes: dict[float, int] = {}
        for reader in self._files():
            changes.update(self._guarded(reader, reader.versions, []))
        spans: list[DesignVersionSpan] = []
        times = sorted(changes)
        for i, time_s in enumerate(times):
            until = times[i + 1] if i + 1 < len(times) else end_s
            if until <= start_s or time_s >= end_s:
                continue
            if spans and spans[-1].version == changes[time_s]:
                spans[-1] = DesignVersionSpan(spans[-1].start_s, min(until, end_s), changes[time_s])
            else:
                spans.append(
                    DesignVersionSpan(max(time_s, start_s), min(until, end_s), changes[time_s])
                )
        return spans

    def series_columns(
        self, keys: Sequence[str], start_s: float, end_s: float, columns: int,
        averaged: bool = False,
    ) -> SeriesColumns:  # fmt: skip
        """The mean, lowest and highest of each series per column over [start, end). With
        ``averaged`` (an export) the tier read is the coarsest whose rows fit in a column, so
        each column is the mean of the rows inside it, whatever that costs."""
        tier, segments = self._query(keys, start_s, end_s, columns, True, averaged)
        shape = (columns, len(keys))
        means, low, high = (np.full(shape, np.nan, np.float32) for _ in range(3))
        for segment in segments:
            segment.put(means, segment.part.means())
            segment.put(low, segment.part.lowest())
            segment.put(high, segment.part.highest())
        return SeriesColumns(_column_starts(start_s, end_s, columns),
                             np.ascontiguousarray(means.T), np.ascontiguousarray(low.T),
                             np.ascontiguousarray(high.T), tier.name)  # fmt: skip

    def heatmap(
        self, keys: Sequence[str], start_s: float, end_s: float, rows: int, columns: int
    ) -> HeatmapColumns:
        """GPU series of one quantity (in display order) reduced to ``rows`` pixel rows (each
        the worst of the ``group`` consecutive GPUs it covers) x ``columns`` column means."""
        tier, segments = self._query(keys, start_s, end_s, columns, False, False)
        group = max(1, math.ceil(len(keys) / max(rows, 1)))
        low_is_worst = bool(keys) and quantity_of(keys[0]) in LOW_IS_WORST
        pixel_rows = math.ceil(len(keys) / group)
        values = np.full((columns, pixel_rows), np.nan, np.float32)
        shown = np.zeros((columns, pixel_rows), np.int64)
        for segment in segments:
            cell_values, cell_shown = _worst_of_groups(segment.part.means(), group, low_is_worst)
            segment.put(values, cell_values)
            segment.put(shown, cell_shown)
        return HeatmapColumns(_column_starts(start_s, end_s, columns),
                              np.ascontiguousarray(values.T), np.ascontiguousarray(shown.T),
                              group, tier.name)  # fmt: skip

    def _query(self, keys: Sequence[str], start_s: float, end_s: float, columns: int,
               extremes: bool, averaged: bool) -> tuple[Tier, list[_Segment]]:  # fmt: skip
        """The tier chosen, and the columns read from it, then its gaps from the others."""
        if columns < 1 or not end_s > start_s:
            raise ValueError(f"no columns to answer: {columns} over [{start_s}, {end_s})")
        width_s = (end_s - start_s) / columns
        if averaged:
            chosen = [t for t in TIERS if t.row_s <= width_s or t is TIERS[0]][-1]
        else:
            chosen = next((t for t in TIERS if width_s / t.row_s <= MAX_ROWS_PER_COLUMN), TIERS[-1])
        result = self._read(chosen, keys, start_s, end_s, columns, extremes)
        everything = np.arange(columns)
        segments = [_Segment(everything, result, everything)]
        recorded = result.recorded()
        index = TIERS.index(chosen)
        horizon_s = self._oldest_day_s(chosen)
        for tier in [*reversed(TIERS[:index]), *TIERS[index + 1 :]]:
            empty = np.flatnonzero(~recorded)
            if tier.row_s > chosen.row_s:  # coarser: only where the chosen tier has expired
                empty = empty[start_s + (empty + 1) * width_s <= horizon_s]
            if len(empty) == 0:
                continue
            first, last = int(empty[0]), int(empty[-1]) + 1
            filler = self._read(tier, keys, start_s + first * width_s, start_s + last * width_s,
                                last - first, extremes)  # fmt: skip
            filled = empty[filler.recorded()[empty - first]]
            segments.append(_Segment(filled, filler, filled - first))
            recorded[filled] = True
        return chosen, segments

    def _oldest_day_s(self, tier: Tier) -> float:
        """The start of ``tier``'s oldest day on disk (``inf``: none): before it, the tier's
        retention (or the budget) has deleted what it held."""
        files = day_files(self.folder, (tier,))
        return day_start_s(files[0].day) if files else math.inf

    def _read(self, tier: Tier, keys: Sequence[str], start_s: float, end_s: float,
              columns: int, extremes: bool = True) -> _Columns:  # fmt: skip
        out = _Columns(len(keys), start_s, end_s, columns, tier.row_s, extremes)
        pieces: list[_Piece] = []
        for reader in self._files(tier, start_s, end_s):
            read = lambda r=reader: self._read_file(r, tier, keys, start_s, end_s, extremes)  # noqa: E731
            pieces += self._guarded(reader, read, [])
        for piece in _joined(pieces):
            out.add(piece)
        return out

    def _read_file(self, reader: DayReader, tier: Tier, keys: Sequence[str], start_s: float,
                   end_s: float, extremes: bool) -> list[_Piece]:  # fmt: skip
        """A piece per block of the file holding any of ``keys``: its rows in [start, end)."""
        pieces = []
        for block, where in reader.layout(keys).items():
            series, columns = np.asarray(where.positions), where.columns
            stored = quantisation(quantity_of(keys[where.positions[0]]))
            found = reader.chunks(block, start_s, end_s, tier.chunk_s)
            if not found:
                continue
            in_time = [
                _Piece.from_chunk(series, start, self._codec.decode_columns(
                    encoded, stored, columns, extremes))
                for start, encoded in found
            ]  # fmt: skip
            pieces.append(_Piece.of(series, in_time, axis=0))
        return pieces

    def _guarded(self, reader: DayReader, read, otherwise):
        """``read()``, or ``otherwise`` if the file turns out damaged (it is then skipped)."""
        try:
            return read()
        except sqlite3.DatabaseError as error:
            self.unreadable[reader.path] = str(error)
            return otherwise
