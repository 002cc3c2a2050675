"""Reading the history back as the views ask for it: columns, the heatmap's worst rows, the
tier chosen and its fallbacks, the span, and a damaged file skipped."""

from __future__ import annotations

import numpy as np
from history_child import T0

from factoryfloor.backend.service.history_query import HistoryReader
from factoryfloor.backend.service.recorder import HistoryRecorder, HistoryRetention

LONG = HistoryRetention(raw_days=365, means_15s_days=365, minute_days=365)


def record(folder, keys, seconds, make_values, qualities=None):
    recorder = HistoryRecorder(folder, retention=LONG, queue_seconds=100_000)
    count = len(keys)
    for second in seconds:
        good = np.ones(count, np.uint8) if qualities is None else qualities(second)
        recorder.record(T0 + second, keys, make_values(second), good, np.zeros(count, bool), 1)
    recorder.close()


def test_columns_are_the_means_of_the_readings_they_cover_with_min_and_max(tmp_path):
    keys = ["gpu/n1/0/power_w", "gpu/n1/1/power_w"]
    record(tmp_path, keys, range(60), lambda s: np.array([s, 2 * s], np.float32))

    found = HistoryReader(tmp_path).series_columns(keys, T0, T0 + 60, 30)  # 2 s a column

    assert found.tier == "raw"
    np.testing.assert_allclose(found.times_s, T0 + np.arange(0, 60, 2))
    np.testing.assert_allclose(found.values[0], np.arange(30) * 2 + 0.5, atol=1e-3)
    np.testing.assert_allclose(found.values[1], (np.arange(30) * 2 + 0.5) * 2, atol=1e-3)
    np.testing.assert_allclose(found.min[0], np.arange(30) * 2)
    np.testing.assert_allclose(found.max[0], np.arange(30) * 2 + 1)


def test_columns_narrower_than_the_tier_show_the_row_they_fall_in(tmp_path):
    keys = ["gpu/n1/0/temp_c"]
    record(tmp_path, keys, range(120), lambda s: np.array([s // 15 * 10], np.float32))

    found = HistoryReader(tmp_path).series_columns(keys, T0, T0 + 120, 16)  # 7.5 s: 15-s tier

    assert found.tier == "15s"
    np.testing.assert_allclose(found.values[0], np.repeat(np.arange(8) * 10, 2), atol=1e-3)


def test_a_tier_with_nothing_yet_is_filled_from_the_finer_ones(tmp_path):
    keys = ["gpu/n1/0/temp_c"]
    record(tmp_path, keys, range(10 * 60), lambda s: np.array([40.0], np.float32))

    # Ten minutes are in the 1-min tier, but no quarter hour is complete in the 15-min tier.
    found = HistoryReader(tmp_path).series_columns(keys, T0, T0 + 3 * 3600, 3)

    assert found.tier == "15min"
    np.testing.assert_allclose(found.values[0], [40.0, np.nan, np.nan], atol=1e-3)


def test_a_gap_in_the_raw_readings_stays_a_gap(tmp_path):
    keys = ["gpu/n1/0/temp_c"]
    record(tmp_path, keys, [*range(0, 20), *range(40, 60)], lambda s: np.array([30.0], np.float32))

    found = HistoryReader(tmp_path).series_columns(keys, T0, T0 + 60, 60)

    assert np.isnan(found.values[0, 20:40]).all()
    assert not np.isnan(found.values[0, :20]).any() and not np.isnan(found.values[0, 40:]).any()


def test_heatmap_rows_show_the_worst_gpu_they_cover(tmp_path):
    power = [f"gpu/n{g // 8}/{g % 8}/power_w" for g in range(10)]
    util = [f"gpu/n{g // 8}/{g % 8}/util_pct" for g in range(10)]
    keys = power + util
    base = np.arange(10, dtype=np.float32) * 10 + 100

    def values(second):
        return np.concatenate([base, base / 10])

    def qualities(second):
        good = np.ones(20, np.uint8)
        good[7] = 0  # GPU 7's power is never read
        return good

    record(tmp_path, keys, range(60), values, qualities)
    reader = HistoryReader(tmp_path)

    hot = reader.heatmap(power, T0, T0 + 60, rows=4, columns=2)
    idle = reader.heatmap(util, T0, T0 + 60, rows=4, columns=2)

    assert hot.group == 3 and hot.values.shape == (4, 2)
    # rows cover GPUs 0-2, 3-5, 6-8, 9: the most power, and "no reading" before any value
    np.testing.assert_allclose(hot.values[[0, 1, 3], 0], [120, 150, 190], atol=1e-3)
    assert np.isnan(hot.values[2, 0]) and hot.shown[2, 0] == 7
    # utilisation: the least busy is the worst
    np.testing.assert_allclose(idle.values[:, 1], [10, 13, 16, 19], atol=1e-3)
    assert list(idle.shown[:, 1]) == [0, 3, 6, 9]


def test_span_keys_and_design_versions(tmp_path):
    keys = ["rack/A-01/supply_temp_c", "facility/it_power_kw"]
    recorder = HistoryRecorder(tmp_path, queue_seconds=1_000)
    for second in range(90):
        version = 1 if second < 50 else 2
        recorder.record(T0 + second, keys, np.array([30.0, 900.0], np.float32),
                        np.ones(2, np.uint8), np.zeros(2, bool), version)  # fmt: skip
    recorder.close()
    reader = HistoryReader(tmp_path)

    assert reader.span() == (T0, T0 + 89)
    assert reader.keys() == sorted(keys)
    spans = reader.design_versions(T0 + 10, T0 + 90)
    assert [(s.start_s - T0, s.end_s - T0, s.version) for s in spans] == [(10, 50, 1), (50, 90, 2)]


def test_a_file_damaged_while_read_is_skipped_and_named(tmp_path):
    keys = ["gpu/n1/0/temp_c"]
    record(tmp_path, keys, range(120), lambda s: np.array([50.0], np.float32))
    raw = tmp_path / "raw" / "2026-01-01.sqlite"
    raw.write_bytes(b"not a database" * 1000)

    reader = HistoryReader(tmp_path)
    found = reader.series_columns(keys, T0, T0 + 120, 2)  # 1-min columns: the 1-min tier

    np.testing.assert_allclose(found.values[0], [50.0, 50.0], atol=1e-3)
    assert reader.series_columns(keys, T0, T0 + 120, 120).values.size == 120
    assert raw in reader.unreadable


def test_a_range_across_midnight_reads_both_day_files(tmp_path):
    keys = ["gpu/n1/0/power_w", "gpu/n1/0/temp_c"]
    seconds = range(86_400 - 90, 86_400 + 90)  # 23:58:30 to 00:01:30
    record(tmp_path, keys, seconds, lambda s: np.array([s % 1000, 40.0], np.float32))
    reader = HistoryReader(tmp_path)

    each = reader.series_columns(keys, T0 + 86_400 - 90, T0 + 86_400 + 90, 180)
    minutes = reader.series_columns(keys, T0 + 86_400 - 60, T0 + 86_400 + 60, 2)

    assert sorted(p.name for p in (tmp_path / "raw").glob("*.sqlite")) == [
        "2026-01-01.sqlite",
        "2026-01-02.sqlite",
    ]
    np.testing.assert_allclose(each.values[0], [s % 1000 for s in seconds], atol=1e-3)
    np.testing.assert_allclose(each.values[1], 40.0, atol=1e-3)
    assert minutes.tier == "1min"
    np.testing.assert_allclose(minutes.values[0], [369.5, 429.5], atol=0.05)
    np.testing.assert_allclose(minutes.min[0], [340, 400])  # 86,340 % 1,000 ...
    np.testing.assert_allclose(minutes.max[0], [399, 459])
