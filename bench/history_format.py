"""Which on-disk format should the service record its history in? Measured, not guessed.

A simulated fleet of 16,384 GPUs x 6 quantities (utilisation, power, GPU and memory
temperature, SM and memory clocks) reports at 1 Hz: 98,304 readings a second, float32 values
with a slow drift and noise, and a uint8 quality (0: good; a few readings are missing). A
stretch of simulated minutes is recorded as fast as the machine allows into each candidate:

1. SQLite in WAL mode, one row per (quantity, block of 256 GPUs, minute) holding compressed
   column blobs: times delta-encoded once per chunk, values as int16, quality bytes, each
   zstd-compressed (delta-encoding the values over time saved 16 % of the bytes with this
   noise and cost 3 x the decoding, which the heatmap query cannot spare);
2. Parquet segments (pyarrow, zstd), one file per minute, rows sorted by series then time;
3. DuckDB, one table appended a minute at a time from Arrow, sorted by series;
4. the yardstick: Prometheus's TSDB, about 1.3 bytes per sample (Gorilla-style compression).

Every candidate is given the same values: each float quantised to its quantity's step (0.1 %,
0.1 W, 0.1 C, 1 MHz: finer than NVML reports them), held as int16. Every candidate also pays
for the same crash safety: each second's readings are appended to a tail file (zstd) that is
emptied once the minute is in the store, so a kill -9 loses at most the second being written
(a write that reached the page cache survives a killed process).

Printed per candidate: the recorder's CPU share of one core at real time (CPU seconds, all
threads, per simulated second: generating the readings is not counted), bytes on disk per
reading, and the median time of the two view-shaped queries over the recorded range:
- one 72-GPU rack, all 6 quantities, mean per 1-minute column;
- the fleet heatmap of one quantity at 1,000 rows x 600 columns: mean per column, each row the
  worst (highest) GPU of those it covers.
Query times are scaled to the issue's ranges (24 h, 1 h) by the data they read; the
recorded-range figure is measured. Targets: recorder under 15 % of one core, at most 2 bytes
per reading, each query under 150 ms.

Then kill -9: a real recording process per candidate is killed with SIGKILL once it has
reported ``--kill-after`` seconds written (by default 179, so the kill lands as the third
minute goes into the store), and its folder is reopened: the seconds readable from the store
and the tail together, against those it had reported, and any damaged segment set aside.

Printed, not asserted. Run: python bench/history_format.py [--minutes 10] [--only sqlite]
[--kill-after 179] (about 40 s for 10 simulated minutes on a 2-core machine; needs the
``bench`` extra: pip install -e '.[bench]')
"""

from __future__ import annotations

import argparse
import itertools
import math
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

GPUS = 16_384
RACK_GPUS = 72
RACK_FIRST_GPU = 100 * RACK_GPUS
HEATMAP_ROWS = 1_000
HEATMAP_COLUMNS = 600
CHUNK_S = 60
BLOCK_GPUS = 256
T0 = 1_700_000_000
MISSING = np.int16(-32768)
PROMETHEUS_BYTES_PER_SAMPLE = 1.3
QUERY_REPEAT = 5


@dataclass(frozen=True, slots=True)
class Quantity:
    name: str
    step: float
    """Quantisation step of the stored value (units per int16 count)."""


QUANTITIES = (
    Quantity("util_pct", 0.1),
    Quantity("power_w", 0.1),
    Quantity("temp_c", 0.1),
    Quantity("mem_temp_c", 0.1),
    Quantity("sm_clock_mhz", 1.0),
    Quantity("mem_clock_mhz", 1.0),
)
STEPS = np.array([q.step for q in QUANTITIES], np.float32)[:, None]
SERIES = len(QUANTITIES) * GPUS
"""Series are numbered quantity-major: series = quantity * GPUS + gpu."""


class FleetSimulator:
    """Readings of the whole fleet, second by second: each GPU drifts slowly around its own
    load (a period of minutes), with noise; power and temperatures follow the load; clocks sit
    at boost and throttle now and then; one reading in 10,000 is missing."""

    def __init__(self, seed: int = 13):
        self.rng = np.random.default_rng(seed)
        self.load = self.rng.uniform(20, 95, GPUS).astype(np.float32)
        self.phase = self.rng.uniform(0, 2 * math.pi, GPUS).astype(np.float32)
        self.period = self.rng.uniform(300, 1800, GPUS).astype(np.float32)
        self.ambient = self.rng.uniform(25, 35, GPUS).astype(np.float32)

    def second(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(values float32 (quantities, GPUs), quality uint8 (quantities, GPUs))."""
        rng = self.rng
        noise = rng.standard_normal((len(QUANTITIES), GPUS), np.float32)
        drift = np.sin(self.phase + 2 * math.pi * t / self.period) * 15
        util = np.clip(self.load + drift + 3 * noise[0], 0, 100)
        power = 100 + 8.5 * util + 8 * noise[1]
        temp = self.ambient + 0.5 * util + 0.3 * noise[2]
        mem_temp = temp + 6 + 0.3 * noise[3]
        throttled = rng.random(GPUS) < 0.02
        sm_clock = np.where(throttled, 1_410.0, 1_980.0) - np.round(np.abs(noise[4]) * 2)
        mem_clock = np.full(GPUS, 2_619.0, np.float32)
        values = np.stack([util, power, temp, mem_temp, sm_clock, mem_clock]).astype(np.float32)
        quality = (rng.random(values.shape) < 1e-4).astype(np.uint8)
        values[quality != 0] = np.nan
        return values, quality


def quantise(values: np.ndarray) -> np.ndarray:
    """int16 counts of each quantity's step; ``MISSING`` where there was no reading."""
    counts = np.round(values / STEPS)
    counts[~np.isfinite(counts)] = MISSING
    return counts.astype(np.int16)


@dataclass(frozen=True, slots=True)
class Minute:
    """One chunk of recorded readings, what every candidate receives at once."""

    start_s: int
    values: np.ndarray
    """int16 (seconds, series)."""
    quality: np.ndarray
    """uint8 (seconds, series)."""


@dataclass(frozen=True, slots=True)
class Block:
    """Readings of some series over some seconds, as the views' reductions take them."""

    times_s: np.ndarray
    values: np.ndarray
    """int16 (seconds, series); ``MISSING`` where there was no reading."""


class TailLog:
    """The open minute's readings, appended second by second so a kill -9 loses at most the
    second being written; emptied when the minute is in the store."""

    def __init__(self, path: Path):
        self.path = path
        self.file = path.open("wb")
        self.compressor = zstandard.ZstdCompressor(level=1)

    def append(self, t: int, values: np.ndarray, quality: np.ndarray) -> None:
        frame = self.compressor.compress(
            np.int64(t).tobytes() + values.tobytes() + quality.tobytes()
        )
        self.file.write(len(frame).to_bytes(4, "little") + frame)
        self.file.flush()

    def clear(self) -> None:
        self.file.seek(0)
        self.file.truncate()

    def close(self) -> None:
        self.file.close()


class Candidate:
    """A history store under test: takes a minute at a time, answers the two view queries."""

    name = ""

    def __init__(self, folder: Path, existing: bool = False):
        """A new store in ``folder``, or with ``existing`` the one recorded there, read-only
        as a window's query would find it."""
        self.folder = folder

    def write(self, minute: Minute) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Make everything durable and compact (checkpoint) before the size is measured."""

    def read(self, series: list[range], start_s: int, end_s: int) -> Block:
        """Raw readings of the given series ranges over [start, end)."""
        raise NotImplementedError

    def column_means(self, series: list[range], start_s: int, end_s: int, columns: int):
        """(columns, series) float32 means of the good readings; NaN where none."""
        block = self.read(series, start_s, end_s)
        return column_means(block, start_s, end_s, columns, series)

    def crash_note(self) -> str:
        raise NotImplementedError


def column_means(block: Block, start_s: int, end_s: int, columns: int, series: list[range]):
    column = (block.times_s - start_s) * columns // (end_s - start_s)
    bounds = np.append(np.flatnonzero(np.diff(column, prepend=-1)), len(column))
    # A sum per column over its run of seconds: numpy's reduceat along the first axis is ~50 x
    # slower than these slices. float32 throughout: the means are drawn, not accounted.
    missing_mask = block.values == MISSING
    sums = np.empty((len(bounds) - 1, block.values.shape[1]), np.float32)
    missing = np.empty_like(sums)
    for run, (first, stop) in enumerate(itertools.pairwise(bounds)):
        np.sum(block.values[first:stop], axis=0, dtype=np.float32, out=sums[run])
        np.sum(missing_mask[first:stop], axis=0, dtype=np.float32, out=missing[run])
    sums -= missing * np.float32(MISSING)
    counts = np.diff(bounds).astype(np.float32)[:, None] - missing
    steps = np.concatenate([np.full(len(r), STEPS[r.start // GPUS, 0]) for r in series])
    with np.errstate(invalid="ignore", divide="ignore"):
        sums /= counts  # 0/0: NaN, no reading in this column
    sums *= steps
    if len(sums) == columns:
        return sums
    means = np.full((columns, block.values.shape[1]), np.nan, np.float32)
    means[column[bounds[:-1]]] = sums
    return means


def worst_rows(means: np.ndarray, rows: int) -> np.ndarray:
    """(columns, rows): each pixel row the highest of the GPUs it covers (NaN if none read)."""
    edges = np.linspace(0, means.shape[1], rows + 1).astype(np.int64)[:-1]
    return np.fmax.reduceat(means, edges, axis=1)


class SqliteChunks(Candidate):
    name = "SQLite WAL, zstd column chunks"

    def __init__(self, folder: Path, existing: bool = False):
        super().__init__(folder, existing)
        self.db = sqlite3.connect(folder / "history.sqlite", isolation_level=None)
        if not existing:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(
                "CREATE TABLE chunk (block INTEGER, start_s INTEGER, times BLOB, "
                "vals BLOB, quality BLOB, PRIMARY KEY (block, start_s)) WITHOUT ROWID"
            )
        self.compressor = zstandard.ZstdCompressor(level=3)
        self.decompressor = zstandard.ZstdDecompressor()

    def write(self, minute: Minute) -> None:
        times = np.diff(np.arange(minute.start_s, minute.start_s + CHUNK_S), prepend=0)
        times_blob = self.compressor.compress(times.astype(np.int64).tobytes())
        rows = []
        for block in range(SERIES // BLOCK_GPUS):
            cols = slice(block * BLOCK_GPUS, (block + 1) * BLOCK_GPUS)
            rows.append(
                (
                    block,
                    minute.start_s,
                    times_blob,
                    self.compressor.compress(np.ascontiguousarray(minute.values[:, cols])),
                    self.compressor.compress(minute.quality[:, cols].tobytes()),
                )
            )
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO chunk VALUES (?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()

    def read(self, series: list[range], start_s: int, end_s: int) -> Block:
        parts = []
        for wanted in series:
            blocks = range(wanted.start // BLOCK_GPUS, (wanted.stop - 1) // BLOCK_GPUS + 1)
            decoded = []
            chunk_times = []
            for block in blocks:
                found = self.db.execute(
                    "SELECT times, vals FROM chunk WHERE block = ? AND start_s >= ? "
                    "AND start_s < ? ORDER BY start_s",
                    (block, start_s - start_s % CHUNK_S, end_s),
                ).fetchall()
                minutes = []
                chunk_times = []
                for times_blob, vals_blob in found:
                    raw = self.decompressor.decompress(vals_blob)
                    minutes.append(np.frombuffer(raw, np.int16).reshape(CHUNK_S, -1))
                    t = np.frombuffer(self.decompressor.decompress(times_blob), np.int64)
                    chunk_times.append(np.cumsum(t))
                decoded.append(np.concatenate(minutes))
            first = blocks.start * BLOCK_GPUS
            block_values = np.concatenate(decoded, axis=1)
            parts.append(block_values[:, wanted.start - first : wanted.stop - first])
            times = np.concatenate(chunk_times)
        values = np.concatenate(parts, axis=1)
        keep = (times >= start_s) & (times < end_s)
        return Block(times[keep], values[keep])

    def crash_note(self) -> str:
        return "a minute's chunks commit in one WAL transaction; the open minute is in the tail"


class ParquetSegments(Candidate):
    name = "Parquet segments (pyarrow, zstd)"
    ROW_GROUP = CHUNK_S * BLOCK_GPUS

    def write(self, minute: Minute) -> None:
        series = np.repeat(np.arange(SERIES, dtype=np.int32), CHUNK_S)
        times = np.tile(np.arange(minute.start_s, minute.start_s + CHUNK_S, dtype=np.int32), SERIES)
        table = pa.table(
            {
                "series": series,
                "t": times,
                "value": minute.values.T.ravel(),
                "quality": minute.quality.T.ravel(),
            }
        )
        pq.write_table(
            table,
            self.folder / f"{minute.start_s}.parquet",
            compression="zstd",
            row_group_size=self.ROW_GROUP,
            use_dictionary=False,
            column_encoding={
                "series": "DELTA_BINARY_PACKED",
                "t": "DELTA_BINARY_PACKED",
                "value": "DELTA_BINARY_PACKED",
                "quality": "PLAIN",
            },
        )

    def read(self, series: list[range], start_s: int, end_s: int) -> Block:
        files = sorted(
            p for p in self.folder.glob("*.parquet") if start_s - CHUNK_S < int(p.stem) < end_s
        )
        minutes = []
        all_times = []
        for path in files:
            columns = []
            for wanted in series:
                table = pq.read_table(
                    path,
                    columns=["value"],
                    filters=[("series", ">=", wanted.start), ("series", "<", wanted.stop)],
                )
                columns.append(table["value"].to_numpy().reshape(len(wanted), CHUNK_S).T)
            minutes.append(np.concatenate(columns, axis=1))
            all_times.append(np.arange(int(path.stem), int(path.stem) + CHUNK_S))
        values = np.concatenate(minutes)
        times = np.concatenate(all_times)
        keep = (times >= start_s) & (times < end_s)
        return Block(times[keep], values[keep])

    def crash_note(self) -> str:
        return "a segment is written whole once a minute; the open minute is in the tail"


class DuckdbTable(Candidate):
    name = "DuckDB table (Arrow appends)"

    def __init__(self, folder: Path, existing: bool = False):
        super().__init__(folder, existing)
        self.db = duckdb.connect(str(folder / "history.duckdb"), read_only=existing)
        if not existing:
            self.db.execute(
                "CREATE TABLE readings "
                "(series INTEGER, t INTEGER, value SMALLINT, quality UTINYINT)"
            )

    def write(self, minute: Minute) -> None:
        arrow_minute = pa.table(  # noqa: F841 (read by name in the SQL below)
            {
                "series": np.repeat(np.arange(SERIES, dtype=np.int32), CHUNK_S),
                "t": np.tile(
                    np.arange(minute.start_s, minute.start_s + CHUNK_S, dtype=np.int32), SERIES
                ),
                "value": minute.values.T.ravel(),
                "quality": minute.quality.T.ravel(),
            }
        )
        self.db.execute("INSERT INTO readings SELECT * FROM arrow_minute")

    def close(self) -> None:
        self.db.execute("CHECKPOINT")
        self.db.close()

    def column_means(self, series: list[range], start_s: int, end_s: int, columns: int):
        where = " OR ".join(f"(series >= {r.start} AND series < {r.stop})" for r in series)
        found = self.db.execute(
            f"SELECT series, (t - {start_s}) * {columns} // {end_s - start_s} AS col, "
            f"avg(value) FILTER (WHERE quality = 0) AS mean FROM readings "
            f"WHERE t >= {start_s} AND t < {end_s} AND ({where}) GROUP BY ALL"
        ).fetchnumpy()
        index = np.full(SERIES, -1, np.int64)
        wanted = np.concatenate([np.arange(r.start, r.stop) for r in series])
        index[wanted] = np.arange(len(wanted))
        means = np.full((columns, len(wanted)), np.nan, np.float32)
        mean = np.ma.filled(found["mean"].astype(float), np.nan)
        series_found = np.asarray(found["series"])
        means[np.asarray(found["col"]), index[series_found]] = mean * STEPS[series_found // GPUS, 0]
        return means

    def crash_note(self) -> str:
        return "each append commits through DuckDB's WAL; the open minute is in the tail"


CANDIDATES: dict[str, type[Candidate]] = {
    "sqlite": SqliteChunks,
    "parquet": ParquetSegments,
    "duckdb": DuckdbTable,
}


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    cpu_share: float
    bytes_per_reading: float
    rack_ms: float
    heatmap_ms: float
    minutes: int
    crash_note: str


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def median_ms(work: Callable[[], object]) -> float:
    samples = []
    for _ in range(QUERY_REPEAT):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


def run(kind: str, minutes: int, root: Path) -> Result:
    folder = root / kind
    folder.mkdir()
    simulator = FleetSimulator()
    started = time.process_time()
    recorder = Recorder(CANDIDATES[kind](folder), folder)
    cpu = time.process_time() - started
    for t in range(T0, T0 + minutes * CHUNK_S):
        floats, flags = simulator.second(t)
        started = time.process_time()
        recorder.record(t, floats, flags)
        cpu += time.process_time() - started
    started = time.process_time()
    recorder.close()
    cpu += time.process_time() - started
    readings = minutes * CHUNK_S * SERIES
    size = folder_bytes(folder)
    store = CANDIDATES[kind](folder, existing=True)
    end = T0 + minutes * CHUNK_S
    rack = [
        range(q * GPUS + RACK_FIRST_GPU, q * GPUS + RACK_FIRST_GPU + RACK_GPUS)
        for q in range(len(QUANTITIES))
    ]
    rack_ms = median_ms(lambda: store.column_means(rack, T0, end, minutes))
    fleet = [range(GPUS, 2 * GPUS)]  # power: one quantity, every GPU
    heatmap_ms = median_ms(
        lambda: worst_rows(store.column_means(fleet, T0, end, HEATMAP_COLUMNS), HEATMAP_ROWS)
    )
    check_answers(store, rack, fleet, end, minutes)
    return Result(
        store.name,
        cpu / (minutes * CHUNK_S),
        size / readings,
        rack_ms,
        heatmap_ms,
        minutes,
        store.crash_note(),
    )


class Recorder:
    """What the service's recorder would do each second: quantise, append to the tail, and
    hand a full minute to the store."""

    def __init__(self, store: Candidate, folder: Path):
        self.store = store
        self.tail = TailLog(folder / "tail.log")
        self.values = np.empty((CHUNK_S, SERIES), np.int16)
        self.quality = np.empty((CHUNK_S, SERIES), np.uint8)

    def record(self, t: int, floats: np.ndarray, flags: np.ndarray) -> None:
        second = (t - T0) % CHUNK_S
        self.values[second] = quantise(floats).ravel()
        self.quality[second] = flags.ravel()
        self.tail.append(t, self.values[second], self.quality[second])
        if second == CHUNK_S - 1:
            self.store.write(Minute(t - second, self.values, self.quality))
            self.tail.clear()

    def close(self) -> None:
        self.tail.close()
        self.store.close()


def record_until_killed(kind: str, folder: Path) -> None:
    """The child of ``kill_test``: records for ever, saying each second once it is written."""
    simulator = FleetSimulator()
    recorder = Recorder(CANDIDATES[kind](folder), folder)
    for t in itertools.count(T0):
        recorder.record(t, *simulator.second(t))
        print(t, flush=True)


def tail_seconds(path: Path) -> list[int]:
    """The whole frames in a tail file, by time; a frame cut short by the kill is dropped."""
    data = path.read_bytes()
    found, offset = [], 0
    decompressor = zstandard.ZstdDecompressor()
    while offset + 4 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "little")
        frame = data[offset + 4 : offset + 4 + size]
        if len(frame) < size:
            break
        found.append(int(np.frombuffer(decompressor.decompress(frame)[:8], np.int64)[0]))
        offset += 4 + size
    return found


def stored_minutes(kind: str, folder: Path) -> tuple[list[int], int]:
    """(start of every minute readable in the store, damaged segments set aside)."""
    if kind == "sqlite":
        db = sqlite3.connect(folder / "history.sqlite")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        starts = [row[0] for row in db.execute("SELECT DISTINCT start_s FROM chunk")]
        return starts, 0
    if kind == "duckdb":
        db = duckdb.connect(str(folder / "history.duckdb"))
        starts = db.execute("SELECT DISTINCT t // 60 * 60 FROM readings").fetchall()
        return [row[0] for row in starts], 0
    starts, damaged = [], 0
    for path in folder.glob("*.parquet"):
        try:
            pq.read_metadata(path)
            starts.append(int(path.stem))
        except (OSError, pa.ArrowInvalid):
            damaged += 1
    return starts, damaged


@dataclass(frozen=True, slots=True)
class KillResult:
    kind: str
    reported_s: int
    """Seconds the killed recorder had reported written."""
    recovered_s: int
    """Seconds readable after the kill, from the store and the tail together."""
    damaged: int


def kill_test(kind: str, root: Path, after_s: int) -> KillResult:
    """A real recorder process killed with SIGKILL after ``after_s`` seconds are written (mid
    minute), then its folder reopened: how many of the seconds it reported survive."""
    folder = root / f"{kind}-killed"
    folder.mkdir()
    child = subprocess.Popen(
        [sys.executable, __file__, "--record-until-killed", kind, str(folder)],
        stdout=subprocess.PIPE,
        text=True,
    )
    reported = 0
    for line in child.stdout:
        reported = int(line) - T0 + 1
        if reported >= after_s:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    starts, damaged = stored_minutes(kind, folder)
    seconds = {start + s for start in starts for s in range(CHUNK_S)}
    seconds.update(tail_seconds(folder / "tail.log"))
    recovered = next(s for s in itertools.count(T0) if s not in seconds) - T0
    return KillResult(kind, reported, recovered, damaged)


def check_answers(store: Candidate, rack: list[range], fleet: list[range], end: int, minutes: int):
    """The answers look like the fleet: utilisation within 0-100 %, power within 100-1,000 W."""
    means = store.column_means(rack, T0, end, minutes)
    util = means[:, :RACK_GPUS]
    assert means.shape == (minutes, len(QUANTITIES) * RACK_GPUS), means.shape
    assert np.nanmin(util) >= 0 and np.nanmax(util) <= 100, (np.nanmin(util), np.nanmax(util))
    heat = worst_rows(store.column_means(fleet, T0, end, HEATMAP_COLUMNS), HEATMAP_ROWS)
    assert heat.shape == (HEATMAP_COLUMNS, HEATMAP_ROWS), heat.shape
    assert np.nanmin(heat) >= 100 and np.nanmax(heat) <= 1_000 + 50, np.nanmax(heat)


def scaled_ms(measured_ms: float, recorded_s: int, rows_read: int) -> float:
    """A query's time scaled from the recorded range to one that reads ``rows_read`` rows (of
    one value per series each) instead of ``recorded_s``: an estimate, the work being the
    decoding and reduction of the values read."""
    return measured_ms * rows_read / recorded_s


def report(results: list[Result], kills: list[KillResult]) -> None:
    minutes = results[0].minutes
    recorded_s = minutes * CHUNK_S
    print(
        f"\n{GPUS:,} GPUs x {len(QUANTITIES)} quantities at 1 Hz ({SERIES:,} readings/s), "
        f"{minutes} simulated minutes ({recorded_s * SERIES / 1e6:.0f} M readings)"
    )
    print("targets: recorder < 15 % of one core, <= 2 bytes/reading, each query < 150 ms")
    print("rack: 72 GPUs x 6 quantities, 1-min columns; heat: 16,384 GPUs, 1,000 x 600")
    head = (
        f"{'candidate':34} {'CPU %':>6} {'B/read':>7} {'x Prom':>6} {'rack ms':>8} {'heat ms':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.name:34} {r.cpu_share * 100:6.1f} {r.bytes_per_reading:7.2f} "
            f"{r.bytes_per_reading / PROMETHEUS_BYTES_PER_SAMPLE:6.2f} {r.rack_ms:8.1f} "
            f"{r.heatmap_ms:8.1f}"
        )
    print(
        f"{'Prometheus TSDB (known figure)':34} {'':>6} {PROMETHEUS_BYTES_PER_SAMPLE:7.2f} "
        f"{1.0:6.2f}"
    )
    print("\nthe issue's ranges, scaled by the rows each would read (estimates, ms):")
    head = (
        f"{'candidate':34} {'rack 24h raw':>13} {'1-min tier':>11} "
        f"{'heat 1h raw':>12} {'15-s tier':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.name:34} {scaled_ms(r.rack_ms, recorded_s, 24 * 3600):13.0f} "
            f"{scaled_ms(r.rack_ms, recorded_s, 3 * 24 * 60):11.0f} "
            f"{scaled_ms(r.heatmap_ms, recorded_s, 3600):12.0f} "
            f"{scaled_ms(r.heatmap_ms, recorded_s, 3600 // 15):10.0f}"
        )
    print(
        "(1-min tier: min, mean and max per minute, 3 x 1,440 rows a day; "
        "15-s tier: means, an hour in 240 columns as the views draw it today)"
    )
    print("\nkill -9 of a recording process mid-minute, then its folder reopened:")
    for r, k in zip(results, kills, strict=True):
        print(
            f"  {r.name}: {k.reported_s} s reported written, {k.recovered_s} s readable "
            f"(lost {max(0, k.reported_s - k.recovered_s)}), {k.damaged} damaged segments "
            f"set aside; {r.crash_note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=10, help="simulated minutes to record")
    parser.add_argument("--only", choices=sorted(CANDIDATES), action="append")
    parser.add_argument(
        "--kill-after", type=int, default=179, help="seconds written before kill -9"
    )
    parser.add_argument("--record-until-killed", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.record_until_killed:
        kind, folder = args.record_until_killed
        record_until_killed(kind, Path(folder))
        return
    root = Path(tempfile.mkdtemp(prefix="history-format-"))
    try:
        results, kills = [], []
        for kind in args.only or list(CANDIDATES):
            started = time.perf_counter()
            results.append(run(kind, args.minutes, root))
            kills.append(kill_test(kind, root, args.kill_after))
            print(f"{kind}: done in {time.perf_counter() - started:.0f} s", flush=True)
        report(results, kills)
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
