"""``factoryfloor export``, run as a real command on a recorded history: CSV and Parquet read
back, and every refusal names the option and the reason."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from history_child import KEYS, T0, value

from factoryfloor.app.export_cli import OptionError, parse_step, parse_time
from factoryfloor.backend.service.recorder import HistoryRecorder

START = "2026-01-01T00:00:00Z"


def factoryfloor(*args: str, blocked: str | None = None) -> subprocess.CompletedProcess:
    """The command in a process of its own; ``blocked``: a module it cannot import."""
    code = "import sys; from factoryfloor.app.cli import main; sys.exit(main(sys.argv[1:]))"
    if blocked:
        code = f"import sys; sys.modules[{blocked!r}] = None; " + code
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60)  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A service data folder with two minutes recorded, a bad reading at second 5 of series 0."""
    folder = tmp_path_factory.mktemp("data")
    recorder = HistoryRecorder(folder / "history", queue_seconds=1_000)
    for second in range(120):
        good = np.ones(len(KEYS), np.uint8)
        good[0] = 0 if second == 5 else 1
        recorder.record(T0 + second, KEYS, value(second, np.arange(len(KEYS))), good,
                        np.zeros(len(KEYS), bool), 1)  # fmt: skip
    recorder.close()
    return folder


def test_csv_holds_every_reading_of_the_chosen_series(data, tmp_path):
    out = tmp_path / "power.csv"
    done = factoryfloor("export", "--data", str(data), "--from", START,
                        "--to", "2026-01-01T00:02:00Z", "--series", "gpu/*/power_w",
                        "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(out.open()))

    power = [k for k in KEYS if k.endswith("power_w")]
    assert rows[0] == ["time", *sorted(power)]
    assert len(rows) == 1 + 120
    assert rows[1][0] == "2026-01-01T00:00:00Z" and rows[-1][0] == "2026-01-01T00:01:59Z"
    column = {key: KEYS.index(key) for key in rows[0][1:]}
    for row in rows[1:]:
        second = int(row[0][-3:-1]) + 60 * int(row[0][-6:-4])
        for key, cell in zip(rows[0][1:], row[1:], strict=True):
            if key == KEYS[0] and second == 5:
                assert cell == ""  # the bad reading is recorded as missing
            else:
                assert float(cell) == pytest.approx(value(second, np.array(column[key])), abs=1e-3)
    assert f"Wrote 120 rows of {len(power)} series" in done.stdout


def test_parquet_at_a_one_minute_step(data, tmp_path):
    out = tmp_path / "node0.parquet"
    done = factoryfloor("export", "--data", str(data), "--from", START, "--to",
                        "2026-01-01T00:02:00Z", "--series", "gpu/node0", "--step", "1m",
                        "--format", "parquet", "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)

    node0 = sorted(k for k in KEYS if k.startswith("gpu/node0/"))
    assert table.column_names == ["time", *node0]
    assert [t.timestamp() for t in table["time"].to_pylist()] == [T0, T0 + 60]
    key = node0[1]
    series = np.array(KEYS.index(key))
    minute_means = [np.mean([value(s, series) for s in range(m * 60, m * 60 + 60)])
                    for m in range(2)]  # fmt: skip
    assert table[key].to_pylist() == pytest.approx(minute_means, abs=0.05)


def test_parquet_without_pyarrow_says_how_to_get_it(data, tmp_path):
    out = tmp_path / "x.parquet"
    done = factoryfloor("export", "--data", str(data), "--from", START, "-o", str(out),
                        blocked="pyarrow")  # fmt: skip
    assert done.returncode == 1
    assert "Parquet export needs pyarrow: pip install pyarrow" in done.stderr
    assert not out.exists()


def test_an_export_that_fails_leaves_the_file_there_untouched(data, tmp_path):
    out = tmp_path / "kept.csv"
    out.write_text("kept\n")
    done = factoryfloor("export", "--data", str(data), "--from", "2025-01-01", "--to",
                        "2025-01-02", "-o", str(out))  # fmt: skip
    assert done.returncode == 1
    assert "nothing recorded between 2025-01-01T00:00:00Z and 2025-01-02T00:00:00Z" in done.stderr
    assert "recorded: 2026-01-01T00:00:00Z to 2026-01-01T00:01:59Z" in done.stderr
    assert out.read_text() == "kept\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday"], "--from 'yesterday': not a time"),
        (["--from", START, "--to", "2025-12-31"], "is not before --to 2025-12-31: empty range"),
        (["--from", START, "--step", "0"], "--step '0': not a duration"),
        (["--from", START, "--series", "cdu/*"], "no recorded series matches cdu/*"),
    ],
)
def test_bad_options_are_named_with_the_reason(data, tmp_path, args, message):
    done = factoryfloor("export", "--data", str(data), *args, "-o", str(tmp_path / "x.csv"))
    assert done.returncode in (1, 2)
    assert message in done.stderr
    assert not (tmp_path / "x.csv").exists()


def test_a_folder_with_no_history_is_named(tmp_path):
    done = factoryfloor("export", "--data", str(tmp_path / "nowhere"), "--from", "-1h", "-o",
                        str(tmp_path / "x.csv"))  # fmt: skip
    assert done.returncode == 2
    assert f"--data {tmp_path / 'nowhere'}: no such folder" in done.stderr
    done = factoryfloor("export", "--data", str(tmp_path), "--from", "-1h", "-o",
                        str(tmp_path / "x.csv"))  # fmt: skip
    assert f"no history recorded there (no {tmp_path / 'history'} folder)" in done.stderr


def test_times_are_iso_8601_or_relative_to_now():
    now = 1_767_225_600.0
    assert parse_time("-1h", "--from", now) == now - 3600
    assert parse_time("-90s", "--from", now) == now - 90
    assert parse_time("-2d", "--from", now) == now - 2 * 86_400
    assert parse_time("now", "--to", now) == now
    assert parse_time("2026-01-01T01:00", "--from", now) == now + 3600  # UTC when no offset
    assert parse_time("2026-01-01T01:00+01:00", "--from", now) == now
    assert parse_step("15s") == 15 and parse_step("1m") == 60 and parse_step("2") == 2
    with pytest.raises(OptionError, match="--to 'soon'"):
        parse_time("soon", "--to", now)


def test_a_step_between_tiers_is_the_mean_of_the_readings_in_it(data, tmp_path):
    out = tmp_path / "five.csv"
    done = factoryfloor("export", "--data", str(data), "--from", START, "--to",
                        "2026-01-01T00:00:30Z", "--series", KEYS[1], "--step", "5s",
                        "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(out.open()))[1:]

    expected = [np.mean([value(s, np.array(1)) for s in range(f, f + 5)]) for f in range(0, 30, 5)]
    assert [float(r[1]) for r in rows] == pytest.approx(expected, abs=1e-3)


def test_a_service_key_beginning_with_a_dash_is_read_as_the_keys_value() -> None:
    """Z85 keys may begin with "-": argparse alone would take it for an option and refuse."""
    from factoryfloor.app.export_cli import values_joined

    key = "-" + "k" * 39
    assert values_joined(["alarms", "--service-key", key, "--journal"], ("--service-key",)) == [
        "alarms", f"--service-key={key}", "--journal"]  # fmt: skip
