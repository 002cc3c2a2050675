"""A window's questions to the alarm journal, answered by the service: entries matching a search,
all of them as CSV, or the performance report.

Each answer opens the journal read-only on a connection of its own, on a worker thread: SQLite in
WAL mode lets it read while the alarm thread writes, so a search through a year of entries holds
up neither the frames on the event loop nor the next alarm step. The window never opens the
journal file: it may be on another machine.
"""

from __future__ import annotations

import io
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from factoryfloor.backend.design.alarm_rules import PRIORITIES
from factoryfloor.backend.service.alarms.journal import AlarmJournal, JournalQuery, write_csv
from factoryfloor.backend.service.alarms.report import PRIORITY_GUIDE, journal_report
from factoryfloor.backend.service.alarms.states import Transition
from factoryfloor.backend.service.messages import (
    JOURNAL_ENTRIES_SENT,
    AlarmCount,
    AlarmReportSent,
    ExportJournal,
    FloodSeen,
    GetAlarmReport,
    JournalEntry,
    JournalExported,
    JournalSent,
    PriorityShare,
    QueryJournal,
    StaleAlarm,
)
from factoryfloor.backend.telemetry.protocol import Refused, Reply

JournalRequest = QueryJournal | ExportJournal | GetAlarmReport

MAX_EXPORT_ENTRIES = 1_000_000
"""The most entries one CSV export sends a window (about 200 MB); ``factoryfloor alarms --csv``
on the service's machine writes any number."""


def journal_entry(t: Transition) -> JournalEntry:
    value = t.value if math.isfinite(t.value) else None
    return JournalEntry(t.time_s, t.alarm_id, t.rule_id, t.entity, t.priority, t.event,
                        t.old_state.value, t.new_state.value, t.active, t.message, value, t.user,
                        t.note, t.shelved_until_s)  # fmt: skip


@contextmanager
def _reading(path: Path) -> Iterator[AlarmJournal]:
    journal = AlarmJournal(path, read_only=True)
    try:
        yield journal
    finally:
        journal.close()


def journal_reply(path: Path, request: JournalRequest, now_s: float) -> tuple[Reply, list[bytes]]:
    """The reply to ``request`` from the journal at ``path``, and the parts after it (the CSV
    file); a ``Refused`` naming the journal if it cannot be read or the export is too large."""
    try:
        with _reading(path) as journal:
            match request:
                case QueryJournal():
                    return _entries(journal, request), []
                case ExportJournal():
                    return _csv(journal, request)
                case GetAlarmReport():
                    return _report(journal, request, now_s), []
    except sqlite3.Error as error:
        return Refused(request.msg_id, f"the alarm journal {path} cannot be read: {error}"), []
    raise TypeError(f"not a journal request: {request.msg_type}")


def _entries(journal: AlarmJournal, request: QueryJournal) -> JournalSent:
    query = request.query
    wanted = JOURNAL_ENTRIES_SENT  # a window's limit narrows it, never widens it (nor SQLite's -1)
    if query.limit is not None:
        wanted = max(0, min(query.limit, wanted))
    entries = journal.search(replace(query, limit=wanted))
    more = journal.count(query) - len(entries) if len(entries) == wanted else 0
    return JournalSent(request.msg_id, tuple(map(journal_entry, entries)), more)


def _csv(journal: AlarmJournal, request: ExportJournal) -> tuple[Reply, list[bytes]]:
    query = replace(request.query, limit=None, newest_first=False)
    matched = journal.count(query)
    if matched > MAX_EXPORT_ENTRIES:
        return Refused(request.msg_id, f"{matched:,} journal entries match, more than a window "
                                       f"takes ({MAX_EXPORT_ENTRIES:,}): narrow the time range, "
                                       "or run 'factoryfloor alarms --csv' on the service's "
                                       "machine"), []  # fmt: skip
    out = io.StringIO(newline="")
    rows = write_csv(journal.search(query), out)
    return JournalExported(request.msg_id, rows), [out.getvalue().encode("utf-8")]


def _report(journal: AlarmJournal, request: GetAlarmReport, now_s: float) -> AlarmReportSent:
    until_s = now_s if request.until_s is None else request.until_s
    report = journal_report(journal, JournalQuery(since_s=request.since_s), until_s)
    return AlarmReportSent(
        request.msg_id, report.start_s, report.end_s, report.new_alarms,
        report.per_operator_hour,
        tuple(FloodSeen(f.start_s, f.end_s, len(f.alarms)) for f in report.floods),
        tuple(AlarmCount(alarm_id, count) for alarm_id, count in report.most_frequent),
        tuple(report.chattering),
        tuple(StaleAlarm(a.alarm_id, a.entity, a.priority, a.message, a.active_since_s)
              for a in report.stale),
        tuple(PriorityShare(p, report.priority_share[p], PRIORITY_GUIDE[p]) for p in PRIORITIES),
    )  # fmt: skip
