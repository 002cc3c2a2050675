"""The alarm journal: every transition and every operator action, append-only, on disk.

SQLite in WAL mode with ``synchronous=FULL``, rather than JSON lines like the audit log: the
journal is searched by time, entity, priority and state (indexed columns, not a scan of every
line since the site went live), and restoring the alarms after a restart is one query for the
last row of each. Each append is one transaction, committed (and so fsynced, with FULL) before
it returns, so a kill -9 or a power cut loses nothing already reported. Rows are only ever
inserted; nothing here updates or deletes one.
"""

from __future__ import annotations

import csv
import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import IO

from factoryfloor.backend.service.alarms.states import Alarm, AlarmState, Transition

FILE_NAME = "alarms.sqlite3"
"""The journal's file in the service's data folder."""

_COLUMNS = tuple(f.name for f in fields(Transition))
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    {", ".join(f"{name} {_type}" for name, _type in (
        ("time_s", "REAL NOT NULL"), ("alarm_id", "TEXT NOT NULL"), ("rule_id", "TEXT NOT NULL"),
        ("entity", "TEXT NOT NULL"), ("priority", "TEXT NOT NULL"), ("event", "TEXT NOT NULL"),
        ("old_state", "TEXT NOT NULL"), ("new_state", "TEXT NOT NULL"),
        ("active", "INTEGER NOT NULL"), ("message", "TEXT NOT NULL"), ("value", "REAL"),
        ("user", "TEXT NOT NULL"), ("note", "TEXT NOT NULL"), ("shelved_until_s", "REAL"),
    ))}
);
CREATE INDEX IF NOT EXISTS journal_time ON journal (time_s);
CREATE INDEX IF NOT EXISTS journal_alarm ON journal (alarm_id, seq);
CREATE INDEX IF NOT EXISTS journal_entity ON journal (entity, time_s);
"""  # fmt: skip


@dataclass(frozen=True, slots=True)
class JournalQuery:
    """What to search for; every field left None matches everything."""

    since_s: float | None = None
    until_s: float | None = None
    entity: str | None = None
    priority: str | None = None
    state: str | None = None
    """The state an entry moved to."""
    limit: int | None = None
    newest_first: bool = False
    """Newest entries first (and ``limit`` keeps the newest): what a window lists."""


class AlarmJournal:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """Open (creating, unless ``read_only``) the journal at ``path``. Read-only opens leave
        a running service's journal alone (WAL lets them read while it writes);
        ``sqlite3.OperationalError`` if there is none."""
        self.path = path
        if read_only:
            self._db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True,
                                       isolation_level=None)  # fmt: skip
            self._db.execute("SELECT 1 FROM journal LIMIT 1")
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def append(self, transitions: Sequence[Transition]) -> None:
        """Write ``transitions`` in one transaction, on disk when this returns."""
        if not transitions:
            return
        marks = ", ".join("?" * len(_COLUMNS))
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT INTO journal ({', '.join(_COLUMNS)}) VALUES ({marks})",
                [_row(t) for t in transitions],
            )

    def search(self, query: JournalQuery = JournalQuery()) -> list[Transition]:
        """Entries matching ``query``, oldest first unless it asks for the newest."""
        where, params = _where(query)
        order = " DESC" if query.newest_first else ""
        limit = f" LIMIT {int(query.limit)}" if query.limit is not None else ""
        rows = self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM journal{where} ORDER BY seq{order}{limit}", params
        )
        return [_transition(row) for row in rows]

    def count(self, query: JournalQuery = JournalQuery()) -> int:
        """How many entries match ``query`` (its limit aside)."""
        where, params = _where(query)
        return self._db.execute(f"SELECT COUNT(*) FROM journal{where}", params).fetchone()[0]

    def restore(self) -> dict[str, Alarm]:
        """Every alarm as its last entry left it: what the service held before it stopped.
        When its state last changed and when its condition last became active are read from
        the entries that did so."""
        rows = self._db.execute(
            f"SELECT {', '.join('j.' + c for c in _COLUMNS)},"
            " (SELECT MAX(time_s) FROM journal c WHERE c.alarm_id = j.alarm_id"
            "  AND c.old_state != c.new_state),"
            " (SELECT MAX(time_s) FROM journal a WHERE a.alarm_id = j.alarm_id"
            "  AND a.event = 'active')"
            " FROM journal j WHERE j.seq IN (SELECT MAX(seq) FROM journal GROUP BY alarm_id)"
        )
        alarms = {}
        for *row, changed_s, active_s in rows:
            t = _transition(row)
            alarms[t.alarm_id] = Alarm(
                t.alarm_id, t.rule_id, t.entity, t.priority, t.new_state, t.active, t.message,
                t.value, t.time_s if changed_s is None else changed_s,
                active_s if t.active else None, t.shelved_until_s,
            )  # fmt: skip
        return alarms


def _where(query: JournalQuery) -> tuple[str, list[object]]:
    clauses, params = [], []
    for column, op, value in (
        ("time_s", ">=", query.since_s), ("time_s", "<=", query.until_s),
        ("entity", "=", query.entity), ("priority", "=", query.priority),
        ("new_state", "=", query.state),
    ):  # fmt: skip
        if value is not None:
            clauses.append(f"{column} {op} ?")
            params.append(value)
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), params


def _row(t: Transition) -> tuple[object, ...]:
    row = list(astuple(t))
    row[_COLUMNS.index("old_state")] = t.old_state.value
    row[_COLUMNS.index("new_state")] = t.new_state.value
    row[_COLUMNS.index("active")] = int(t.active)
    row[_COLUMNS.index("value")] = None if math.isnan(t.value) else t.value
    return tuple(row)


def _transition(row: Iterable[object]) -> Transition:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["old_state"] = AlarmState(values["old_state"])
    values["new_state"] = AlarmState(values["new_state"])
    values["active"] = bool(values["active"])
    values["value"] = math.nan if values["value"] is None else values["value"]
    return Transition(**values)  # type: ignore[arg-type]


def write_csv(transitions: Iterable[Transition], out: IO[str]) -> int:
    """The entries as CSV with a header row (times in epoch seconds); returns rows written."""
    writer = csv.writer(out)
    writer.writerow(_COLUMNS)
    count = 0
    for t in transitions:
        writer.writerow(["" if v is None else v for v in _row(t)])
        count += 1
    return count
