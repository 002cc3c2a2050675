"""What the service answers a window's journal questions with, read from a journal on disk that
is still open for writing: entries newest first, capped with how many more matched; the CSV of
every match; the performance report as figures; a clear refusal where there is no journal or an
export too large to send. Each reply goes through the wire's encoding, as a window receives it."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from factoryfloor.backend.service import journal_reply as reply_module
from factoryfloor.backend.service.alarms.journal import AlarmJournal, JournalQuery
from factoryfloor.backend.service.alarms.states import AlarmState, Transition
from factoryfloor.backend.service.journal_reply import journal_reply
from factoryfloor.backend.service.messages import (
    JOURNAL_ENTRIES_SENT,
    AlarmCount,
    AlarmReportSent,
    ExportJournal,
    GetAlarmReport,
    JournalExported,
    JournalSent,
    PriorityShare,
    QueryJournal,
)
from factoryfloor.backend.telemetry.protocol import Refused, decode, encode

T0 = 1_767_225_600.0
"""2026-01-01 00:00 UTC."""
NORMAL, UNACKED, ACKED = AlarmState.NORMAL, AlarmState.UNACKNOWLEDGED, AlarmState.ACKNOWLEDGED


def raised(time_s: float, entity: str, priority: str = "low", value: float = 3.0) -> Transition:
    return Transition(time_s, f"temp@{entity}", "temp", entity, priority, "active", NORMAL,
                      UNACKED, True, f"{entity}: too hot", value)  # type: ignore[arg-type]  # fmt: skip


def ask(path: Path, request, now_s: float = T0 + 3600):
    """The reply as a window decodes it, and the parts after it."""
    reply, parts = journal_reply(path, request, now_s)
    return decode(encode(reply)), parts


@pytest.fixture
def journal(tmp_path: Path):
    journal = AlarmJournal(tmp_path / "alarms.sqlite3")  # the service's, open for writing
    yield journal
    journal.close()


def test_a_search_sends_the_newest_entries_and_says_how_many_more_matched(journal) -> None:
    count = JOURNAL_ENTRIES_SENT + 500
    journal.append([raised(T0 + i, f"R{i % 3}", value=math.nan if i == 0 else 3.0)
                    for i in range(count)])  # fmt: skip
    sent, parts = ask(journal.path, QueryJournal(JournalQuery(newest_first=True)))
    assert isinstance(sent, JournalSent) and parts == []
    assert len(sent.entries) == JOURNAL_ENTRIES_SENT and sent.more == 500
    assert sent.entries[0].time_s == T0 + count - 1  # newest first
    assert sent.entries[0].new_state == "unacknowledged" and sent.entries[0].value == 3.0

    r0, _ = ask(journal.path, QueryJournal(JournalQuery(since_s=T0, until_s=T0 + 9, entity="R0")))
    assert [e.time_s - T0 for e in r0.entries] == [0, 3, 6, 9] and r0.more == 0
    assert r0.entries[0].value is None  # no number behind it: not NaN on the wire
    few, _ = ask(journal.path, QueryJournal(JournalQuery(entity="R1", limit=10)))
    assert len(few.entries) == 10 and few.more == count // 3 - 10
    unlimited, _ = ask(journal.path, QueryJournal(JournalQuery(limit=-1)))  # SQLite: no limit
    assert (len(unlimited.entries), unlimited.more) == (0, count)


def test_an_export_sends_every_match_as_csv_and_refuses_one_too_large(journal, monkeypatch) -> None:
    journal.append([raised(T0 + i, f"R{i % 2}") for i in range(30)])
    request = ExportJournal(JournalQuery(entity="R1", newest_first=True, limit=5))
    exported, parts = ask(journal.path, request)
    assert isinstance(exported, JournalExported) and exported.rows == 15
    rows = list(csv.DictReader(io.StringIO(parts[0].decode("utf-8"))))
    assert [float(r["time_s"]) - T0 for r in rows] == list(range(1, 30, 2))  # all, oldest first
    assert {r["entity"] for r in rows} == {"R1"}

    monkeypatch.setattr(reply_module, "MAX_EXPORT_ENTRIES", 10)
    refused, parts = ask(journal.path, request)
    assert isinstance(refused, Refused) and parts == []
    assert refused.reason == ("15 journal entries match, more than a window takes (10): narrow "
                              "the time range, or run 'factoryfloor alarms --csv' on the "
                              "service's machine")  # fmt: skip


def test_the_report_comes_as_figures(journal) -> None:
    flood = [raised(T0 + 10 * i, f"R{i}") for i in range(11)]  # 11 in under 2 minutes
    chatter = [raised(T0 + 1800 + 10 * i, "C1", "medium") for i in range(3)]
    old = raised(T0 - 25 * 3600, "OLD", "high")  # active since yesterday, never cleared
    journal.append([old, *flood, *chatter])
    report, _ = ask(journal.path, GetAlarmReport(since_s=T0), now_s=T0 + 3600)
    assert isinstance(report, AlarmReportSent)
    assert (report.start_s, report.end_s, report.new_alarms) == (T0, T0 + 3600, 14)
    assert report.per_operator_hour == 14.0
    assert [(f.start_s, f.alarms) for f in report.floods] == [(T0, 11)]  # over before C1
    assert report.floods[0].end_s is not None
    assert report.most_frequent[0] == AlarmCount("temp@C1", 3)
    assert report.chattering == ("temp@C1",)
    assert [(a.alarm_id, a.active_since_s) for a in report.stale] == [("temp@OLD", T0 - 25 * 3600)]
    assert report.priority_split == (PriorityShare("high", 0.0, 0.05),
                                     PriorityShare("medium", 3 / 14, 0.15),
                                     PriorityShare("low", 11 / 14, 0.80))  # fmt: skip
    everything, _ = ask(journal.path, GetAlarmReport(), now_s=T0 + 3600)
    assert everything.start_s == T0 - 25 * 3600 and everything.new_alarms == 15


def test_no_journal_is_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "alarms.sqlite3"
    refused, _ = ask(missing, QueryJournal(JournalQuery()))
    assert isinstance(refused, Refused)
    assert refused.reason.startswith(f"the alarm journal {missing} cannot be read: ")
