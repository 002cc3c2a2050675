"""``factoryfloor audit`` in a process of its own, without Qt: the entries printed and filtered,
written as CSV, and the chain checked, exit 0 intact and 3 with the altered line named."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from factoryfloor.backend.service.audit import AuditLog
from factoryfloor.backend.service.users import AUDIT_FILE


def factoryfloor(*args: str) -> subprocess.CompletedProcess:
    """The command in a process that cannot import Qt: it runs on headless machines."""
    code = ("import sys; sys.modules['PySide6'] = None; from factoryfloor.app.cli import main; "
            "sys.exit(main(sys.argv[1:]))")  # fmt: skip
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60)  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    log = AuditLog(folder / AUDIT_FILE)
    log.record("vic", "alarm.acknowledge", "alarm a01-power@A01", "refused",
               "a viewer may not acknowledge alarms (needs operator or above)")  # fmt: skip
    log.record("olga", "alarm.acknowledge", "alarm a01-power@A01", "ok",
               old_value="unacknowledged", new_value="acknowledged")  # fmt: skip
    log.record("olga", "control.power_limit", "node7 GPU 3", "unconfirmed",
               "read back 700 W", old_value="700 W", new_value="550 W")  # fmt: skip
    return folder


def test_prints_every_entry_and_filters_by_user_action_and_result(data: Path) -> None:
    every = factoryfloor("audit", "--data", str(data))
    assert every.returncode == 0, every.stderr
    body = every.stdout.splitlines()
    assert body[0].split() == ["time", "user", "action", "scope", "result", "old", "new",
                               "reason"]  # fmt: skip
    assert "vic" in body[2] and "refused" in body[2] and "needs operator or above" in body[2]
    assert "700 W" in body[4] and "550 W" in body[4] and "unconfirmed" in body[4]
    assert body[-1] == "3 audit entries"

    refused = factoryfloor("audit", "--data", str(data), "--result", "refused")
    assert refused.stdout.splitlines()[-1] == "1 audit entry" and "vic" in refused.stdout
    olga_alarms = factoryfloor("audit", "--data", str(data), "--user", "olga", "--action", "alarm")
    assert olga_alarms.stdout.splitlines()[-1] == "1 audit entry"
    assert "alarm.acknowledge" in olga_alarms.stdout and "power_limit" not in olga_alarms.stdout
    later = factoryfloor("audit", "--data", str(data), "--since", "-1h", "--until", "now")
    assert later.stdout.splitlines()[-1] == "3 audit entries"
    none_yet = factoryfloor("audit", "--data", str(data), "--until", "2026-01-01T00:00Z")
    assert none_yet.stdout.splitlines()[-1] == "0 audit entries"


def test_csv_holds_the_matching_entries(data: Path, tmp_path: Path) -> None:
    target = tmp_path / "audit.csv"
    done = factoryfloor("audit", "--data", str(data), "--action", "control", "--csv", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Wrote 1 audit entry to {target}\n"
    with target.open(encoding="utf-8", newline="") as file:
        [row] = list(csv.DictReader(file))
    assert (row["actor"], row["outcome"], row["old_value"], row["new_value"]) == (
        "olga", "unconfirmed", "700 W", "550 W")  # fmt: skip


def test_verify_exits_0_while_intact_and_3_naming_the_line_once_altered(data: Path) -> None:
    intact = factoryfloor("audit", "--data", str(data), "--verify")
    assert (intact.returncode, intact.stderr) == (0, "")
    assert intact.stdout.endswith("The audit log is intact: 3 entries.\n")

    path = data / AUDIT_FILE
    written = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join([written[0], written[2]]) + b"\n")  # olga's entry deleted
    altered = factoryfloor("audit", "--data", str(data), "--verify")
    assert altered.returncode == 3
    assert "has been altered at line 2" in altered.stderr
    assert "does not follow line 1" in altered.stderr


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--since", "yesterday"), 2, "--since 'yesterday': not a time"),
    (("--data", "{missing}"), 1, "no audit log at {missing}"),
])  # fmt: skip
def test_bad_options_and_a_missing_log_are_named(data: Path, tmp_path: Path, args, code,
                                                 message) -> None:  # fmt: skip
    missing = str(tmp_path / "nowhere")
    args = [a.format(missing=missing) for a in args]
    done = factoryfloor("audit", "--data", str(data), *args)
    assert done.returncode == code
    assert message.format(missing=Path(missing) / AUDIT_FILE) in done.stderr


def test_a_line_that_is_not_an_entry_is_named_when_printing(data: Path) -> None:
    with (data / AUDIT_FILE).open("ab") as file:
        file.write(b"[]\n")
    done = factoryfloor("audit", "--data", str(data))
    assert done.returncode == 2
    assert f"{data / AUDIT_FILE}, line 4: not an audit entry: not a JSON object" in done.stderr
