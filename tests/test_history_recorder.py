"""The history recorder on real files: what it writes reads back, its tiers agree with the raw
readings, and it survives kill -9, a damaged day file, a full disk and its disk budget."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
from history_child import KEYS, T0, value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factoryfloor.backend.service.history_files import file_bytes
from factoryfloor.backend.service.history_query import HistoryReader
from factoryfloor.backend.service.recorder import HistoryRecorder, HistoryRetention

CHILD = Path(__file__).with_name("history_child.py")
KEEP_ALL = 100_000
"""Queue length for tests that record faster than real time and must lose nothing."""
LONG = HistoryRetention(raw_days=365, means_15s_days=365, minute_days=365)


def record_seconds(recorder: HistoryRecorder, keys, seconds, make_values, version: int = 1):
    count = len(keys)
    for second in seconds:
        recorder.record(T0 + second, keys, make_values(second), np.ones(count, np.uint8),
                        np.zeros(count, bool), version)  # fmt: skip


def quantised(values: np.ndarray, step: float) -> np.ndarray:
    return (np.round(values / np.float32(step)) * np.float32(step)).astype(np.float32)


def test_every_second_reads_back_as_recorded_to_its_quantity_step(tmp_path):
    keys = ["gpu/n1/0/power_w", "gpu/n1/0/util_pct", "gpu/n1/0/energy_j", "rack/A-01/power_kw"]
    rng = np.random.default_rng(3)
    truth = rng.uniform(0, 900, (150, len(keys))).astype(np.float32)
    truth[:, 2] *= 1e6  # an energy counter: kept as float32, exactly
    qualities = np.ones((150, len(keys)), np.uint8)
    qualities[10, 0] = 0  # a bad reading
    stale = np.zeros((150, len(keys)), bool)
    stale[20, 1] = True  # a stale one
    recorder = HistoryRecorder(tmp_path, queue_seconds=KEEP_ALL)
    for second in range(150):
        recorder.record(T0 + second, keys, truth[second], qualities[second], stale[second], 1)
    recorder.close()

    found = HistoryReader(tmp_path).series_columns(keys, T0, T0 + 150, 150)

    assert found.tier == "raw"
    expected = np.stack([quantised(truth[:, 0], 0.1), quantised(truth[:, 1], 0.1), truth[:, 2],
                         quantised(truth[:, 3], 0.001)])  # fmt: skip
    expected[0, 10] = expected[1, 20] = np.nan
    np.testing.assert_allclose(found.values, expected, rtol=1e-6, atol=1e-3)
    assert np.isnan(found.values[0, 10]) and np.isnan(found.values[1, 20])


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seconds=st.integers(min_value=61, max_value=1_000),
    missing=st.floats(min_value=0, max_value=0.5),
    seed=st.integers(0, 2**32 - 1),
)
def test_tiers_agree_with_the_means_of_the_raw_readings(tmp_path_factory, seconds, missing, seed):
    folder = tmp_path_factory.mktemp("tiers")
    keys = [f"gpu/n1/{i}/temp_c" for i in range(5)]
    rng = np.random.default_rng(seed)
    truth = quantised(rng.uniform(20, 90, (seconds, len(keys))).astype(np.float32), 0.1)
    truth[rng.random(truth.shape) < missing] = np.nan
    recorder = HistoryRecorder(folder, retention=LONG, queue_seconds=KEEP_ALL)
    record_seconds(recorder, keys, range(seconds), lambda s: truth[s])
    recorder.close()
    reader = HistoryReader(folder)

    for width_s, tier in ((15, "15s"), (60, "1min"), (900, "15min")):
        whole = seconds // width_s  # buckets the recorder has completed
        if whole == 0:
            continue
        found = reader.series_columns(keys, T0, T0 + whole * width_s, whole)
        assert found.tier == tier
        buckets = truth[: whole * width_s].reshape(whole, width_s, len(keys))
        with warnings.catch_warnings():  # a bucket with no reading: NaN, as the tier says
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmean(buckets, axis=1).T
        # The tier keeps its mean to the quantity's step (0.1), as every stored value.
        np.testing.assert_allclose(found.values, expected, atol=0.05 + 1e-4)
        if tier != "15s":  # min and max of the readings, exactly
            np.testing.assert_allclose(found.min, np.fmin.reduce(buckets, axis=1).T, atol=1e-4)
            np.testing.assert_allclose(found.max, np.fmax.reduce(buckets, axis=1).T, atol=1e-4)


def test_a_restart_keeps_the_series_and_completes_the_minute_it_stopped_in(tmp_path):
    keys = KEYS[:4]
    make = lambda s: value(s, np.arange(len(keys)))  # noqa: E731
    first = HistoryRecorder(tmp_path, queue_seconds=KEEP_ALL)
    record_seconds(first, keys, range(30), make, version=4)
    first.close()
    second = HistoryRecorder(tmp_path, queue_seconds=KEEP_ALL)
    record_seconds(second, [*keys, "gpu/n9/0/power_w"], range(30, 90),
                   lambda s: np.append(make(s), 100.0), version=5)  # fmt: skip
    second.close()

    reader = HistoryReader(tmp_path)
    found = reader.series_columns(keys, T0, T0 + 90, 90)
    expected = np.stack([value(s, np.arange(len(keys))) for s in range(90)]).T
    np.testing.assert_allclose(found.values, expected, atol=1e-3)
    assert [(v.start_s - T0, v.version) for v in reader.design_versions(T0, T0 + 90)] == [
        (0, 4),
        (30, 5),
    ]
    recorded = reader.keys()
    assert "gpu/n9/0/power_w" in recorded


def test_a_reader_sees_each_minute_as_it_is_committed_while_the_recorder_runs(tmp_path):
    keys = KEYS[:4]
    make = lambda s: value(s, np.arange(len(keys)))  # noqa: E731
    recorder = HistoryRecorder(tmp_path, queue_seconds=KEEP_ALL)
    record_seconds(recorder, keys, range(61), make)  # the first minute closes at second 60
    recorder.flush()
    reader = HistoryReader(tmp_path)
    first = reader.series_columns(keys, T0, T0 + 120, 120)

    record_seconds(recorder, [*keys, "gpu/n9/0/temp_c"], range(61, 121),
                   lambda s: np.append(make(s), 55.0))  # fmt: skip
    recorder.flush()
    second = reader.series_columns([*keys, "gpu/n9/0/temp_c"], T0, T0 + 120, 120)
    recorder.close()

    assert not np.isnan(first.values[:, :60]).any() and np.isnan(first.values[:, 60:]).all()
    assert not np.isnan(second.values[:4]).any()
    np.testing.assert_allclose(second.values[4, 61:120], 55.0)


def test_days_past_their_tier_retention_are_deleted(tmp_path):
    keys = KEYS[:4]
    make = lambda s: value(s, np.arange(len(keys)))  # noqa: E731
    recorder = HistoryRecorder(tmp_path, HistoryRetention(raw_days=1, means_15s_days=2),
                               queue_seconds=KEEP_ALL)  # fmt: skip
    for day in range(4):
        record_seconds(recorder, keys, range(day * 86_400, day * 86_400 + 120), make)
    recorder.close()

    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == [
        "2026-01-03.sqlite",
        "2026-01-04.sqlite",
    ]
    assert len(list((tmp_path / "15s").iterdir())) == 3
    assert len(list((tmp_path / "1min").iterdir())) == 4


def test_kill_9_loses_at_most_the_last_second(tmp_path):
    child = subprocess.Popen([sys.executable, str(CHILD), "until-killed", str(tmp_path)],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    reported = -1
    for line in child.stdout:
        reported = int(line)
        if reported >= 95:  # mid second minute: the first in the day file, the rest in the tail
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()

    HistoryRecorder(tmp_path).close()  # the next start commits the tail
    found = HistoryReader(tmp_path).series_columns(KEYS, T0, T0 + reported + 1, reported + 1)

    expected = np.stack([value(s, np.arange(len(KEYS))) for s in range(reported + 1)]).T
    np.testing.assert_allclose(found.values, expected, atol=1e-3)
    assert (tmp_path / "tail.log").stat().st_size == 0


def test_a_damaged_day_file_is_set_aside_and_the_other_days_stay_readable(tmp_path):
    keys = KEYS[:8]
    make = lambda s: value(s, np.arange(len(keys)))  # noqa: E731
    recorder = HistoryRecorder(tmp_path, retention=LONG, queue_seconds=KEEP_ALL)
    record_seconds(recorder, keys, range(180), make)  # 1 January
    record_seconds(recorder, keys, range(86_400, 86_580), make)  # 2 January
    recorder.close()
    damaged = tmp_path / "raw" / "2026-01-01.sqlite"
    data = bytearray(damaged.read_bytes())
    middle = len(data) // 4096 // 2 * 4096
    data[middle : middle + 4096] = b"\xa5" * 4096
    damaged.write_bytes(bytes(data))

    recorder = HistoryRecorder(tmp_path, retention=LONG)
    recorder.flush()
    events = recorder.events_since(0).events
    recorder.close()

    assert [e.subject for e in events] == [str(damaged)]
    assert "damaged" in events[0].detail and "2026-01-01.sqlite.damaged" in events[0].detail
    assert not damaged.exists() and damaged.with_name(damaged.name + ".damaged").exists()
    reader = HistoryReader(tmp_path)
    next_day = reader.series_columns(keys, T0 + 86_400, T0 + 86_580, 180)
    assert next_day.tier == "raw" and not np.isnan(next_day.values).any()
    first_day = reader.series_columns(keys, T0, T0 + 180, 3)  # the 1-min tier of that day
    assert first_day.tier == "1min" and not np.isnan(first_day.values).any()


def test_a_full_disk_pauses_recording_and_loses_nothing_held_in_memory(tmp_path):
    done = subprocess.run([sys.executable, str(CHILD), "full-disk", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    events = [json.loads(line) for line in done.stdout.splitlines()]

    details = [e["detail"] for e in events if e["kind"] == "status"]
    paused = next(i for i, d in enumerate(details) if d.startswith("recording paused"))
    resumed = next(i for i, d in enumerate(details) if d.startswith("recording resumed"))
    assert paused < resumed
    found = HistoryReader(tmp_path).series_columns(KEYS, T0, T0 + 300, 300)
    expected = np.stack([value(s, np.arange(len(KEYS))) for s in range(300)]).T
    np.testing.assert_allclose(found.values, expected, atol=1e-3)


def test_the_budget_warns_then_deletes_the_oldest_day_of_the_finest_tier(tmp_path):
    keys = KEYS
    make = lambda s: value(s, np.arange(len(keys)))  # noqa: E731
    recorder = HistoryRecorder(tmp_path, retention=LONG, queue_seconds=KEEP_ALL)
    record_seconds(recorder, keys, range(120), make)
    record_seconds(recorder, keys, range(86_400, 86_520), make)
    recorder.close()
    two_days = sum(file_bytes(p) for p in tmp_path.rglob("*.sqlite"))

    recorder = HistoryRecorder(tmp_path, LONG, budget_bytes=int(two_days * 1.05),
                               queue_seconds=KEEP_ALL)  # fmt: skip
    record_seconds(recorder, keys, range(2 * 86_400, 2 * 86_400 + 120), make)
    recorder.close()
    events = [e for e in recorder.events_since(0).events if e.kind == "status"]

    oldest_raw = tmp_path / "raw" / "2026-01-01.sqlite"
    about = [e for e in events if e.subject == str(oldest_raw)]
    assert "next to be deleted" in about[0].detail
    assert "deleted the raw tier of 2026-01-01" in about[1].detail
    assert not oldest_raw.exists()
    assert (tmp_path / "raw" / "2026-01-03.sqlite").exists()
    total = sum(file_bytes(p) for p in tmp_path.rglob("*.sqlite"))
    assert total <= two_days * 1.05


def test_record_returns_at_once_and_drops_the_oldest_second_when_the_queue_is_full(tmp_path):
    keys = KEYS
    recorder = HistoryRecorder(tmp_path, queue_seconds=1)
    record_seconds(recorder, keys, range(200), lambda s: value(s, np.arange(len(keys))))
    recorder.close()
    dropped = [e for e in recorder.events_since(0).events if e.kind == "dropped"]
    recorded = HistoryReader(tmp_path).series_columns(keys[:1], T0, T0 + 200, 200).values
    # Whatever was dropped is said (at most once in 10 s), and the newest second survives.
    missing = np.count_nonzero(np.isnan(recorded))
    assert not np.isnan(recorded[0, -1])
    if missing:
        assert "not recorded so far: the recorder fell behind" in dropped[0].detail
        assert int(dropped[0].detail.split()[0].replace(",", "")) <= missing
    else:
        assert dropped == []


def test_a_history_that_cannot_be_opened_is_reported_and_record_still_returns(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the history folder should be")
    recorder = HistoryRecorder(blocker / "history")
    record_seconds(recorder, KEYS, range(3), lambda s: value(s, np.arange(len(KEYS))))
    recorder.flush()
    recorder.close()

    events = recorder.events_since(0).events
    assert events[0].subject == str(blocker / "history")
    assert events[0].detail.startswith("cannot open the history:")


def test_a_budget_smaller_than_today_is_reported_and_recording_goes_on(tmp_path):
    recorder = HistoryRecorder(tmp_path, budget_bytes=1_000, queue_seconds=KEEP_ALL)
    record_seconds(recorder, KEYS, range(150), lambda s: value(s, np.arange(len(KEYS))))
    recorder.close()

    over = [e for e in recorder.events_since(0).events if "over its 1,000-byte budget" in e.detail]
    assert len(over) == 1 and "only the current day of each tier left" in over[0].detail
    found = HistoryReader(tmp_path).series_columns(KEYS, T0, T0 + 150, 150)
    assert not np.isnan(found.values).any()
