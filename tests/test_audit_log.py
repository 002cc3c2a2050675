"""The audit log's hash chain on real files: every entry carries the hash of the line before,
so a line edited, deleted or moved is found and named (line and time) by ``verify``; lines from
before the chain are still read; several threads and processes appending at once never chain
two entries to the same line; and searches by time, user, action and result, and CSV."""

from __future__ import annotations

import csv
import io
import json
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from factoryfloor.backend.service.audit import GENESIS, AuditError, AuditLog, line_hash
from factoryfloor.backend.service.audit_chain import verify
from factoryfloor.backend.service.audit_query import AuditQuery, search, write_csv

OLD_LINE = {"time": "2026-11-30T08:00:00.000+00:00", "actor": "local:root", "action": "user.add",
            "subject": "olga", "outcome": "ok", "detail": "operator"}  # fmt: skip
"""A line as the log was written before entries were chained."""


def filled(path: Path, count: int = 6) -> AuditLog:
    log = AuditLog(path)
    log.record("vic", "alarm.acknowledge", "alarm a01-power@A01", "refused",
               "a viewer may not acknowledge alarms")  # fmt: skip
    log.record("olga", "alarm.acknowledge", "alarm a01-power@A01", "ok",
               old_value="unacknowledged", new_value="acknowledged")  # fmt: skip
    for n in range(count - 2):
        log.record("olga", "control.power_limit", f"node7 GPU {n}", "confirmed",
                   old_value="700 W", new_value="550 W")  # fmt: skip
    return log


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def rewrite(path: Path, new_lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in new_lines))


def test_each_entry_carries_the_hash_of_the_line_before_and_the_file_stays_private(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "audit.jsonl"
    log = filled(path)
    written = lines(path)
    entries = log.entries()
    assert entries[0].prev == GENESIS
    assert [e.prev for e in entries[1:]] == [line_hash(line) for line in written[:-1]]
    assert (entries[1].old_value, entries[1].new_value) == ("unacknowledged", "acknowledged")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    check = verify(path)
    assert check.intact and (check.entries, check.unchained) == (6, 0)
    assert check.describe() == "The audit log is intact: 6 entries."


def test_an_edited_line_breaks_the_chain_at_the_line_after_it(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    written = lines(path)
    written[2] = written[2].replace(b"550 W", b"700 W")  # the new value quietly undone
    rewrite(path, written)
    check = verify(path)
    assert check.broken_line == 4
    assert check.broken_time == json.loads(written[3])["time"]
    assert "does not follow line 3: that line was edited" in check.describe()


def test_a_deleted_line_breaks_the_chain_where_it_was(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    written = lines(path)
    rewrite(path, written[:1] + written[2:])  # olga's acknowledgement gone
    assert verify(path).broken_line == 2


def test_reordered_lines_break_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    written = lines(path)
    written[3], written[4] = written[4], written[3]
    rewrite(path, written)
    assert verify(path).broken_line == 4


def test_deleting_the_first_lines_is_found_at_the_new_first(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    rewrite(path, lines(path)[2:])
    check = verify(path)
    assert check.broken_line == 1
    assert "the lines before it were deleted" in check.reason


def test_a_line_that_is_not_an_entry_is_named(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    written = lines(path)
    rewrite(path, [*written[:3], b"{not json", *written[3:]])
    check = verify(path)
    assert (check.broken_line, check.broken_time) == (4, "")
    assert check.reason == "not an audit entry: not JSON"
    with pytest.raises(AuditError, match=rf"{path.name}, line 4: not an audit entry: not JSON"):
        AuditLog(path).entries()


def test_a_line_whose_hash_was_removed_after_the_chain_began_is_a_break(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    filled(path)
    written = lines(path)
    stripped = json.loads(written[4])
    del stripped["prev"]
    written[4] = json.dumps(stripped).encode()
    rewrite(path, written)
    check = verify(path)
    assert check.broken_line == 5 and "carries no hash" in check.reason


def test_lines_from_before_the_chain_are_read_counted_apart_and_chained_onto(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps(OLD_LINE) + "\n" + json.dumps({**OLD_LINE, "subject": "vic"})
                    + "\n", encoding="utf-8")  # fmt: skip
    log = filled(path, count=3)
    entries = log.entries()
    assert [(e.subject, e.prev, e.old_value) for e in entries[:2]] == [("olga", "", ""),
                                                                       ("vic", "", "")]  # fmt: skip
    assert entries[2].prev == line_hash(lines(path)[1])
    check = verify(path)
    assert check.intact and (check.entries, check.unchained) == (5, 2)
    assert "the first 2 were written before entries were chained" in check.describe()

    written = lines(path)
    rewrite(path, [written[0], *written[2:]])  # the last unchained line deleted
    assert verify(path).broken_line == 2


def test_a_torn_last_line_stays_a_line_of_its_own_and_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = filled(path, count=2)
    with path.open("ab") as file:
        file.write(b'{"time": "2026-12-0')  # a crash mid-write
    log.record("olga", "sign_in", "olga", "ok")
    assert len(lines(path)) == 4
    assert verify(path).broken_line == 3


def test_threads_appending_at_once_never_chain_to_the_same_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    logs = [AuditLog(path) for _ in range(2)]  # the service's and the users' logs: one file

    def write(n: int) -> None:
        for i in range(50):
            logs[n % 2].record(f"user{n}", "sign_in", f"entry {i}", "ok")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check = verify(path)
    assert check.intact and check.entries == 400


WRITER = """
import sys
from pathlib import Path
from factoryfloor.backend.service.audit import AuditLog
log = AuditLog(Path(sys.argv[1]))
for i in range(100):
    log.record("local:" + sys.argv[2], "user.passwd", f"user {i}", "ok")
"""


def test_processes_appending_at_once_never_chain_to_the_same_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{n}"])
               for n in range(4)]  # fmt: skip
    assert [w.wait(timeout=60) for w in writers] == [0] * 4
    check = verify(path)
    assert check.intact and check.entries == 400


def test_an_absent_log_is_intact_and_empty(tmp_path: Path) -> None:
    check = verify(tmp_path / "audit.jsonl")
    assert check.intact and check.entries == 0
    assert AuditLog(tmp_path / "audit.jsonl").entries() == []


def test_searches_by_time_user_action_family_and_result(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps(OLD_LINE) + "\n", encoding="utf-8")
    entries = filled(path).entries()

    def found(**fields) -> list[tuple[str, str, str]]:
        return [(e.actor, e.action, e.outcome) for e in search(entries, AuditQuery(**fields))[0]]

    assert found(user="vic") == [("vic", "alarm.acknowledge", "refused")]
    assert found(result="refused") == [("vic", "alarm.acknowledge", "refused")]
    assert found(action="alarm") == [("vic", "alarm.acknowledge", "refused"),
                                     ("olga", "alarm.acknowledge", "ok")]  # fmt: skip
    assert found(action="alarm.acknowledge", user="olga") == [("olga", "alarm.acknowledge", "ok")]
    assert found(action="alarm.ack") == []  # a family is a whole word, not a prefix of one
    assert len(found(action="control", result="confirmed")) == 4
    assert found(until_s=entries[1].time_s - 1) == [("local:root", "user.add", "ok")]
    assert len(found(since_s=entries[1].time_s)) == 6

    newest, more = search(entries, AuditQuery(limit=2, newest_first=True))
    assert [e.subject for e in newest] == ["node7 GPU 3", "node7 GPU 2"] and more == 5


def test_csv_has_every_field_and_the_chain_hash(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    entries = filled(path, count=3).entries()
    out = io.StringIO(newline="")
    assert write_csv(entries, out) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == ["time", "actor", "action", "subject", "outcome", "detail",
                             "old_value", "new_value", "prev"]  # fmt: skip
    assert (rows[1]["actor"], rows[1]["old_value"], rows[1]["new_value"]) == (
        "olga", "unacknowledged", "acknowledged")  # fmt: skip
    assert rows[2]["prev"] == line_hash(lines(path)[1])
