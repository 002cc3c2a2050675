"""The history's files: one SQLite file (WAL) per tier per UTC day, each readable on its own.

``<history>/<tier>/<YYYY-MM-DD>.sqlite`` holds that day's chunks of one tier, so retention and
the disk budget delete a file rather than vacuum a large one, and a damaged file loses one day
of one tier. Each file carries the catalogue of the series it holds (key -> id; a series' block
is ``id // 256``, its column in the block ``id % 256``), so a file read without its neighbours
still names its series, and the design versions the readings were recorded under.

Every file is checked with ``PRAGMA quick_check`` when the recorder opens the history; one that
fails (or is not a database at all) is renamed to ``*.damaged`` and reported, and the other days
stay readable. Readers open the files read-only, and may do so while the recorder writes
(WAL: a reader sees the last committed minute).
"""

from __future__ import annotations

import contextlib
import errno
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import zstandard

from factoryfloor.backend.service.history_chunks import BLOCK_SERIES, EncodedChunk

DAY_S = 86_400
DAMAGED_SUFFIX = ".damaged"
_SCHEMA = (
    # The catalogue, in compressed batches of (id, key) pairs as the series joined: a row per
    # series with its index took some 8 MB a file at 98,304 series, more than a day of the
    # 15-minute tier itself.
    "CREATE TABLE IF NOT EXISTS series (at INTEGER PRIMARY KEY, entries BLOB NOT NULL)",
    # A rowid table: its rows keep up to a page of blob in the leaf and spill the rest to
    # overflow pages; a WITHOUT ROWID table spills all but about 1 kB of each row, which left
    # the tiers' small chunks taking several mostly empty pages each.
    "CREATE TABLE IF NOT EXISTS chunk (block INTEGER NOT NULL, start_s INTEGER NOT NULL, "
    "design_version INTEGER NOT NULL, rows INTEGER NOT NULL, width INTEGER NOT NULL, "
    "times BLOB NOT NULL, mean BLOB NOT NULL, min BLOB, max BLOB, "
    "UNIQUE (block, start_s))",
    # The newest and oldest chunk of a file (its span) without a scan of every chunk.
    "CREATE INDEX IF NOT EXISTS chunk_start ON chunk (start_s)",
    "CREATE TABLE IF NOT EXISTS design_version (time_s REAL PRIMARY KEY, version INTEGER)",
)


@dataclass(frozen=True, slots=True)
class Tier:
    """One resolution of the history. ``resolution_s`` 0 is every reading as it came.
    A chunk spans ``chunk_s`` (60 rows, 96 for the 15-minute tier: a day), which divides a day,
    so a chunk never straddles two day files."""

    name: str
    resolution_s: int
    chunk_s: int

    @property
    def row_s(self) -> int:
        """How long a row stands for: the bucket, or a second for raw readings."""
        return self.resolution_s or 1


TIERS = (
    Tier("raw", 0, 60),
    Tier("15s", 15, 900),
    Tier("1min", 60, 3_600),
    Tier("15min", 900, DAY_S),
)
"""Finest first: every reading; 15-s means; 1-min and 15-min min/mean/max (the recorder's
``_downsample`` computes each from the minute in memory)."""


def day_of(time_s: float) -> date:
    return datetime.fromtimestamp(time_s, UTC).date()


def day_start_s(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def can_not_write(error: BaseException) -> bool:
    """Whether ``error`` is the disk refusing a write (full, quota, file size limit) rather
    than a fault in the history itself."""
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
        return "full" in str(error) or "I/O" in str(error)
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@dataclass(frozen=True, slots=True)
class DayPath:
    tier: Tier
    day: date
    path: Path


def tier_folder(history: Path, tier: Tier) -> Path:
    return history / tier.name


def day_path(history: Path, tier: Tier, day: date) -> Path:
    return tier_folder(history, tier) / f"{day.isoformat()}.sqlite"


def day_files(history: Path, tiers: Iterable[Tier] = TIERS) -> list[DayPath]:
    """Every day file of the given tiers, oldest day first, finest tier first within a day."""
    found = []
    for tier in tiers:
        for path in tier_folder(history, tier).glob("*.sqlite"):
            with contextlib.suppress(ValueError):
                found.append(DayPath(tier, date.fromisoformat(path.stem), path))
    order = {tier.name: i for i, tier in enumerate(TIERS)}
    return sorted(found, key=lambda f: (f.day, order[f.tier.name]))


def damaged_reason(path: Path) -> str | None:
    """Why ``path`` cannot be trusted (``PRAGMA quick_check``'s first complaint), or None."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = db.execute("PRAGMA quick_check").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        return str(error)
    if result == [("ok",)]:
        return None
    return "; ".join(str(row[0]) for row in result[:3])


def set_aside(path: Path) -> Path:
    """Rename a damaged file (and its WAL) out of the history, kept for inspection."""
    target = path.with_name(path.name + DAMAGED_SUFFIX)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").rename(f"{target}{suffix}")
    path.rename(target)
    return target


def file_bytes(path: Path) -> int:
    """A day file's size on disk, with its WAL."""
    total = 0
    for name in (str(path), f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError):
            total += Path(name).stat().st_size
    return total


def delete_day(path: Path) -> None:
    for name in (f"{path}-wal", f"{path}-shm", str(path)):
        with contextlib.suppress(FileNotFoundError):
            Path(name).unlink()


class DayWriter:
    """The recorder's connection to one day file of one tier."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self.db.execute(statement)
        self.catalogued = 0
        """How many of the recorder's catalogue entries are known to be in the file: none
        until the first commit, which writes them all (those already there are kept)."""
        self._next_batch = self.db.execute("SELECT coalesce(max(at), -1) + 1 FROM series")
        self._next_batch = self._next_batch.fetchone()[0]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One commit; rolled back whole if anything in it fails (a full disk)."""
        catalogued, next_batch = self.catalogued, self._next_batch
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            self.catalogued, self._next_batch = catalogued, next_batch
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise

    def catalogue(self, entries: Sequence[tuple[int, str]]) -> None:
        """Add the catalogue's (id, key) entries past those already written."""
        if len(entries) > self.catalogued:
            batch = json.dumps(entries[self.catalogued :], separators=(",", ":")).encode()
            self.db.execute(
                "INSERT INTO series VALUES (?, ?)",
                (self._next_batch, zstandard.ZstdCompressor().compress(batch)),
            )
            self._next_batch += 1
            self.catalogued = len(entries)

    def read(self, block: int, start_s: int) -> EncodedChunk | None:
        row = self.db.execute(
            "SELECT rows, width, times, mean, min, max FROM chunk WHERE block = ? AND start_s = ?",
            (block, start_s),
        ).fetchone()
        return EncodedChunk(*row) if row else None

    def write(self, block: int, start_s: int, design_version: int, chunk: EncodedChunk) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO chunk VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                block,
                start_s,
                design_version,
                chunk.rows,
                chunk.width,
                chunk.times,
                chunk.mean,
                chunk.min,
                chunk.max,
            ),
        )

    def note_versions(self, changes: Iterable[tuple[float, int]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO design_version VALUES (?, ?)", changes)

    def checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.checkpoint()
        self.db.close()


@dataclass(frozen=True, slots=True)
class BlockColumns:
    """Some of a query's keys stored in one block: their positions among the keys, and their
    columns in the block."""

    positions: list[int]
    columns: list[int]


_LAYOUTS_KEPT = 16


class DayReader:
    """A read-only view of one day file, as a query (or an export) reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._ids: dict[str, int] = {}
        self._catalogue_version: tuple[int, int] | None = None
        self._layouts: dict[tuple[str, ...], dict[int, BlockColumns]] = {}

    def layout(self, keys: Sequence[str]) -> dict[int, BlockColumns]:
        """Where each of ``keys`` that the file knows is stored: by block, the keys' positions
        and their columns in it. Kept for the next query of the same keys (a view asks for the
        same ones again and again) until the recorder catalogues more series."""
        version = self.db.execute("SELECT count(*), coalesce(max(at), -1) FROM series").fetchone()
        if version != self._catalogue_version:
            self._catalogue_version = version
            self._ids = {key: series_id for series_id, key in self.entries()}
            self._layouts.clear()
        wanted = tuple(keys)
        found = self._layouts.get(wanted)
        if found is None:
            found = {}
            for position, key in enumerate(wanted):
                series_id = self._ids.get(key)
                if series_id is not None:
                    block = found.setdefault(series_id // BLOCK_SERIES, BlockColumns([], []))
                    block.positions.append(position)
                    block.columns.append(series_id % BLOCK_SERIES)
            if len(self._layouts) >= _LAYOUTS_KEPT:
                self._layouts.pop(next(iter(self._layouts)))
            self._layouts[wanted] = found
        return found

    def keys(self) -> list[str]:
        return [key for _, key in sorted(self.entries())]

    def chunks(self, block: int, start_s: float, end_s: float, chunk_s: int):
        """(start_s, EncodedChunk) of ``block`` whose span meets [start_s, end_s), by time."""
        found = self.db.execute(
            "SELECT start_s, rows, width, times, mean, min, max FROM chunk WHERE block = ? "
            "AND start_s > ? AND start_s < ? ORDER BY start_s",
            (block, start_s - chunk_s, end_s),
        )
        return [(row[0], EncodedChunk(*row[1:])) for row in found]

    def edge(self, newest: bool) -> tuple[int, EncodedChunk] | None:
        """(start_s, chunk) of a chunk with the earliest (or latest) start in the file: its
        first (or last) row is the oldest (or newest) the file holds."""
        order = "DESC" if newest else "ASC"
        row = self.db.execute(
            "SELECT start_s, rows, width, times, mean, min, max FROM chunk "
            f"ORDER BY start_s {order} LIMIT 1"
        ).fetchone()
        return (row[0], EncodedChunk(*row[1:])) if row else None

    def entries(self) -> list[tuple[int, str]]:
        """The file's catalogue: (id, key) of every series it holds."""
        decompressor = zstandard.ZstdDecompressor()
        entries: dict[int, str] = {}
        for (blob,) in self.db.execute("SELECT entries FROM series ORDER BY at"):
            entries.update((int(i), str(k)) for i, k in json.loads(decompressor.decompress(blob)))
        return list(entries.items())

    def versions(self) -> list[tuple[float, int]]:
        return list(self.db.execute("SELECT time_s, version FROM design_version"))

    def close(self) -> None:
        self.db.close()
