"""Exporting a time range of chosen series from the history, as CSV or Parquet.

Wide format: one row per time step and one column per series, which is how a spreadsheet,
pandas or DuckDB reads a time series table. Each row is a step of ``step_s`` (1 s unless asked:
every reading, as the recorder keeps one a second), the value the mean of what was recorded in
it, read from the coarsest tier whose rows fit in a step (a step of 15 s or more reads the
downsampled tiers: 15-s, 1-min, 15-min). A step with no reading of any series is left out; a
series with none in a step is an empty cell (CSV) or null (Parquet).

CSV: a header ``time`` then the keys; times in ISO-8601 UTC (``2026-12-04T00:50:00Z``), values
with up to 7 significant digits. Parquet: ``time`` as a UTC timestamp in milliseconds and a
float32 column per series, written with pyarrow, an optional dependency (``pip install
pyarrow``). Either is written to a temporary file beside the target and renamed over it when
complete, so a failed export never leaves half a file or loses the one already there.

Series are chosen by patterns: a key (``gpu/node1/0/power_w``), a shell-style pattern
(``gpu/*/power_w``, ``rack/A-0?/*``), or the leading segments of keys (``rack/A-07``: every
series of rack A-07).
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

from factoryfloor.backend.service.history_query import HistoryReader

ExportFormat = Literal["csv", "parquet"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "parquet")
PARQUET_NEEDS = "Parquet export needs pyarrow: pip install pyarrow"
STEPS_PER_PIECE = 3_600
"""Steps read and written at a time: a day of seconds is never held whole."""


class ExportError(ValueError):
    """An export that cannot be made: the message says why."""


@dataclass(frozen=True, slots=True)
class ExportSummary:
    path: Path
    series: int
    rows: int


def choose_series(reader: HistoryReader, patterns: Sequence[str]) -> list[str]:
    """The recorded keys matching any of ``patterns`` (all of them for none), sorted."""
    keys = reader.keys()
    if not patterns:
        return keys
    chosen = [key for key in keys if any(_matches(key, p) for p in patterns)]
    if not chosen:
        raise ExportError(
            f"no recorded series matches {', '.join(patterns)} ({len(keys)} series are recorded)"
        )
    return chosen


def _matches(key: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    return fnmatch.fnmatchcase(key, pattern) or fnmatch.fnmatchcase(key, pattern + "/*")


def export(
    reader: HistoryReader,
    keys: Sequence[str],
    start_s: float,
    end_s: float,
    target: Path,
    kind: ExportFormat,
    step_s: float = 1.0,
) -> ExportSummary:
    """Write ``keys`` over [start, end) at ``step_s`` to ``target``."""
    if not end_s > start_s:
        raise ExportError(f"empty time range: {_iso(start_s)} is not before {_iso(end_s)}")
    if not step_s > 0:
        raise ExportError(f"step must be more than 0 s, not {step_s}")
    if kind == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ExportError(PARQUET_NEEDS) from None
    span = reader.span()
    if span is None or span[1] < start_s or span[0] >= end_s:
        recorded = "nothing" if span is None else f"{_iso(span[0])} to {_iso(span[1])}"
        raise ExportError(
            f"nothing recorded between {_iso(start_s)} and {_iso(end_s)} (recorded: {recorded})"
        )
    pieces = _pieces(reader, keys, start_s, end_s, step_s)
    write = _write_parquet if kind == "parquet" else _write_csv
    rows = _replace(target, lambda path: write(path, keys, pieces))
    return ExportSummary(target, len(keys), rows)


def _pieces(
    reader: HistoryReader, keys: Sequence[str], start_s: float, end_s: float, step_s: float
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(times (steps,), values (steps, series)) a piece at a time, steps with no reading
    left out."""
    steps = math.ceil((end_s - start_s) / step_s)
    for first in range(0, steps, STEPS_PER_PIECE):
        count = min(STEPS_PER_PIECE, steps - first)
        piece_start = start_s + first * step_s
        found = reader.series_columns(
            keys, piece_start, piece_start + count * step_s, count, averaged=True
        )
        values = found.values.T
        recorded = ~np.isnan(values).all(axis=1)
        yield found.times_s[recorded], values[recorded]


def _write_csv(path: Path, keys: Sequence[str], pieces) -> int:
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["time", *keys])
        for times, values in pieces:
            for time_s, row in zip(times, values, strict=True):
                writer.writerow([_iso(time_s), *("" if math.isnan(v) else f"{v:.7g}" for v in row)])
            rows += len(times)
    return rows


def _write_parquet(path: Path, keys: Sequence[str], pieces) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [("time", pa.timestamp("ms", tz="UTC")), *((key, pa.float32()) for key in keys)]
    )
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for times, values in pieces:
            columns = [pa.array(np.round(times * 1000).astype(np.int64), pa.timestamp("ms", "UTC"))]
            columns += [
                pa.array(values[:, i], pa.float32(), mask=np.isnan(values[:, i]))
                for i in range(len(keys))
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            rows += len(times)
    return rows


def _replace(target: Path, write) -> int:
    """``write(temporary path)`` beside ``target``, then renamed over it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        rows = write(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return rows


def _iso(time_s: float) -> str:
    moment = datetime.fromtimestamp(time_s, UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")
