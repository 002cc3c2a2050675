"""The alarm journal on disk: it survives kill -9 of the process writing it, a restart restores
every alarm, it is searched by time, entity, priority and state, exported as CSV, reported on,
and read by ``factoryfloor alarms`` in a separate process."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

from alarm_child import RACKS, leaking
from alarm_plans import Feed, small_hall

from factoryfloor.backend.design.alarm_rules import SourceOfflineRule, default_rules
from factoryfloor.backend.service.alarms.journal import (
    FILE_NAME,
    AlarmJournal,
    JournalQuery,
    write_csv,
)
from factoryfloor.backend.service.alarms.report import build_report, format_report
from factoryfloor.backend.service.alarms.states import Action, AlarmState
from factoryfloor.backend.service.alarms.system import AlarmSystem
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.telemetry.sink import SourceEvent

CHILD = Path(__file__).with_name("alarm_child.py")
TESTS = str(Path(__file__).parent)
LEAK = default_rules()[:1]
T0 = 1_767_225_600.0
"""2026-01-01 00:00 UTC."""


def test_the_journal_survives_kill_9_of_the_process_writing_it(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=TESTS)
    child = subprocess.Popen([sys.executable, str(CHILD), str(tmp_path)], env=env,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert child.stdout is not None
        journaled = 0
        while journaled < 60:
            line = child.stdout.readline()
            assert line, "the child stopped before journaling 60 entries"
            journaled = int(line.split()[1])
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    journal = AlarmJournal(tmp_path / FILE_NAME)
    entries = journal.search()
    assert len(entries) >= journaled  # all it reported on disk, and perhaps a step more
    alarms = journal.restore()
    # each step is one commit: the journal ends at a whole step, and the alarms it restores are
    # the leaks of that second
    last = int(max(t.time_s for t in entries))
    for rack in range(1, RACKS + 1):
        alarm = alarms.get(f"rack-leak@R{rack}")
        assert (alarm is not None and alarm.active) == leaking(last, rack)
    # nobody acknowledged anything: every alarm ever raised is still owed an acknowledgement
    assert {a.state for a in alarms.values()} <= {
        AlarmState.UNACKNOWLEDGED,
        AlarmState.RTN_UNACKNOWLEDGED,
    }
    journal.close()


def test_a_restart_restores_unacknowledged_and_shelved_alarms(tmp_path: Path) -> None:
    feed = Feed()
    system = AlarmSystem(small_hall(LEAK, racks=3), tmp_path)
    feed.write(T0, {"rack/R1/leak": 1.0, "rack/R2/leak": 1.0, "rack/R3/leak": 1.0})
    system.step(feed.snapshot(T0), [], T0)
    system.act("rack-leak@R2", Action.ACKNOWLEDGE, "ann", Role.OPERATOR, T0 + 5, "on it")
    system.act("rack-leak@R3", Action.SHELVE, "ann", Role.OPERATOR, T0 + 6,
               shelve_until_s=T0 + 600)  # fmt: skip
    before = dict(system.alarms)
    system.close()
    again = AlarmSystem(small_hall(LEAK, racks=3), tmp_path)
    assert again.alarms == before
    assert [a.alarm_id for a in again.shown()] == ["rack-leak@R2", "rack-leak@R1"]
    feed.write(T0 + 600, {"rack/R1/leak": 1.0, "rack/R2/leak": 1.0, "rack/R3/leak": 1.0})
    transitions = again.step(feed.snapshot(T0 + 600), [], T0 + 600)
    assert [(t.alarm_id, t.event, t.new_state) for t in transitions] == [
        ("rack-leak@R3", "expired", AlarmState.UNACKNOWLEDGED)
    ]
    again.close()


def _journal_with_history(folder: Path) -> AlarmSystem:
    feed = Feed()
    system = AlarmSystem(small_hall(LEAK, racks=3), folder)
    for minute, leaks in enumerate(([1, 0, 0], [0, 0, 0], [1, 1, 0], [1, 1, 1])):
        t = T0 + 60 * minute
        feed.write(t, {f"rack/R{i + 1}/leak": float(v) for i, v in enumerate(leaks)})
        system.step(feed.snapshot(t), [], t)
    system.act("rack-leak@R2", Action.ACKNOWLEDGE, "ann", Role.OPERATOR, T0 + 200, "checked")
    return system


def test_search_by_time_entity_priority_and_state_and_export_csv(tmp_path: Path) -> None:
    system = _journal_with_history(tmp_path)
    journal = system.journal
    assert len(journal.search()) == 6
    assert [t.event for t in journal.search(JournalQuery(entity="R1"))] == [
        "active", "clear", "active"]  # fmt: skip
    assert len(journal.search(JournalQuery(since_s=T0 + 120))) == 4
    assert journal.search(JournalQuery(priority="low")) == []
    acked = journal.search(JournalQuery(state="acknowledged"))
    assert [(t.user, t.note, t.old_state) for t in acked] == [
        ("ann", "checked", AlarmState.UNACKNOWLEDGED)]  # fmt: skip
    out = io.StringIO()
    assert write_csv(journal.search(), out) == 6
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[-1]["user"] == "ann" and rows[-1]["new_state"] == "acknowledged"
    system.close()


def test_the_performance_report(tmp_path: Path) -> None:
    system = _journal_with_history(tmp_path)
    entries = system.journal.search()
    report = build_report(entries, list(system.alarms.values()), T0, T0 + 3600)
    assert report.new_alarms == 4 and report.per_operator_hour == 4.0
    assert report.most_frequent[0] == ("rack-leak@R1", 2)
    assert report.priority_share == {"high": 1.0, "medium": 0.0, "low": 0.0}
    assert report.floods == [] and report.chattering == []
    text = format_report(report)
    assert "high 100% (5%)" in text
    later = build_report(entries, list(system.alarms.values()), T0, T0 + 25 * 3600)
    assert {a.alarm_id for a in later.stale} == {"rack-leak@R1", "rack-leak@R2", "rack-leak@R3"}
    system.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "factoryfloor.app", "alarms", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_the_command_prints_the_alarms_the_journal_and_a_csv(tmp_path: Path) -> None:
    _journal_with_history(tmp_path).close()
    shown = cli("--data", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "3 alarm(s) shown" in lines[-1]
    assert "R1: leak detected" in shown.stdout and "acknowledged" in shown.stdout
    entries = cli("--data", str(tmp_path), "--journal", "--since", "2026-01-01T00:02Z",
                  "--entity", "R2")  # fmt: skip
    assert entries.returncode == 0, entries.stderr
    assert "checked" in entries.stdout and entries.stdout.count("rack-leak@R2") == 2
    target = tmp_path / "journal.csv"
    exported = cli("--data", str(tmp_path), "--journal", "--csv", str(target))
    assert exported.returncode == 0 and "Wrote 6 journal entries" in exported.stdout
    assert len(target.read_text().splitlines()) == 7
    report = cli("--data", str(tmp_path), "--report", "--since", "2026-01-01T00:00Z")
    assert "New alarms: 4" in report.stdout


def test_the_command_says_when_there_is_no_journal_or_a_bad_time(tmp_path: Path) -> None:
    missing = cli("--data", str(tmp_path))
    assert missing.returncode == 1 and "no alarm journal at" in missing.stderr
    _journal_with_history(tmp_path).close()
    bad = cli("--data", str(tmp_path), "--journal", "--since", "yesterday")
    assert bad.returncode == 2 and "--since 'yesterday': not a time" in bad.stderr


def test_a_condition_that_cleared_while_the_service_was_down_clears_its_alarm(
    tmp_path: Path,
) -> None:
    rules = [*LEAK, SourceOfflineRule(id="offline", priority="medium")]
    feed = Feed()
    system = AlarmSystem(small_hall(rules), tmp_path)
    feed.write(T0, {"rack/R1/leak": 1.0, "rack/R2/leak": 1.0})
    down = SourceEvent("mqtt", "status", "node n1", "offline", T0)
    system.step(feed.snapshot(T0), [down], T0)
    assert {a.alarm_id for a in system.alarms.values() if a.active} == {
        "rack-leak@R1", "rack-leak@R2", "offline@mqtt: node n1"}  # fmt: skip
    system.close()
    # while it was down, R1 stopped leaking and the node came back
    again = AlarmSystem(small_hall(rules), tmp_path)
    later = T0 + 300
    feed.write(later, {"rack/R1/leak": 0.0, "rack/R2/leak": 1.0})
    up = SourceEvent("mqtt", "status", "node n1", "online", later)
    made = again.step(feed.snapshot(later), [up], later)
    assert sorted((t.alarm_id, t.event, t.new_state) for t in made) == [
        ("offline@mqtt: node n1", "clear", AlarmState.RTN_UNACKNOWLEDGED),
        ("rack-leak@R1", "clear", AlarmState.RTN_UNACKNOWLEDGED),
    ]
    again.close()
