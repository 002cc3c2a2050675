"""The tokens-per-joule sweep: warm-up, measure, next step, cancel, restore, the lever chosen,
the recommendation under the floor, and the record a restarted service restores from."""

from __future__ import annotations

import json

import numpy as np
import pytest

from factoryfloor.backend.service.tuning.drift import DriftWatch
from factoryfloor.backend.service.tuning.messages import TuningProgress, TuningUpdated
from factoryfloor.backend.service.tuning.record import (
    RECORD_FILE,
    SweepRecord,
    clear_record,
    load_record,
    save_record,
)
from factoryfloor.backend.service.tuning.sweep import (
    Apply,
    Previous,
    Restore,
    StepResult,
    Sweep,
    SweepSettings,
    choose_lever,
    lever_levels,
)
from factoryfloor.backend.telemetry.placement import HostGpu
from factoryfloor.backend.telemetry.protocol import decode, encode

SETTINGS = SweepSettings(warmup_s=10.0, measure_s=20.0)


def sweep(levels=(700.0, 675.0, 650.0, 625.0), settings=SETTINGS) -> Sweep:
    return Sweep("rack-1", 8, "power_limit", levels, Previous({"n1 GPU 0": 700.0}), settings)


def run_step(s: Sweep, start_s: float, tokens: float, power: float, jitter: float = 0.0):
    """Feed one step's readings every second from ``start_s`` until it asks for something."""
    s.step_applied(start_s)
    rng = np.random.default_rng(int(start_s))
    t = start_s
    while True:
        t += 1.0
        action = s.observe(t, tokens * (1 + jitter * rng.standard_normal()), power)
        if action is not None:
            return t, action


def test_a_step_warms_up_before_its_readings_count_then_asks_for_the_next_setting():
    s = sweep()
    assert s.start() == Apply("power_limit", 700.0)
    assert s.observe(5.0, 1.0, 1.0) is None  # not applied yet: nothing counts
    s.step_applied(0.0)
    for t in range(1, 10):
        assert s.observe(float(t), 999.0, 1.0) is None  # warm-up: the old setting's tokens
    assert s.phase == "warming"
    s.observe(10.0, 100.0, 5000.0)
    assert s.phase == "measuring"
    action = None
    t = 10.0
    while action is None:
        t += 1.0
        action = s.observe(t, 100.0, 5000.0)
    assert action == Apply("power_limit", 675.0) and t == 30.0
    (first,) = s.results
    assert first.setting == 700.0 and first.tokens_per_s == 100.0  # the 999s were warm-up
    assert first.power_w == 5000.0 and first.readings == 21


def test_each_step_keeps_its_spread_and_a_missing_reading_is_skipped():
    s = sweep()
    s.start()
    s.step_applied(0.0)
    readings = [(float(t), 100.0 + (10.0 if t % 2 else -10.0), 5000.0) for t in range(10, 31)]
    readings.insert(3, (12.5, float("nan"), 5000.0))
    for t, tokens, power in readings:
        s.observe(t, tokens, power)
    (first,) = s.results
    assert first.readings == 21 and first.tokens_per_s_sd == pytest.approx(10.0, rel=0.01)
    assert first.tokens_per_j_sd == pytest.approx(first.tokens_per_j * 0.1, rel=0.02)


def test_the_recommendation_is_the_best_tokens_per_joule_above_the_floor():
    # 650 W has the best tokens per joule but loses 10 % of tokens: under a 95 % floor.
    s = sweep()
    s.start()
    t = 0.0
    for tokens, power in ((100.0, 5600.0), (98.0, 5000.0), (90.0, 4000.0), (80.0, 3900.0)):
        t, action = run_step(s, t, tokens, power)
    assert action == Restore() and s.phase == "done"
    assert s.floor_tokens_per_s == pytest.approx(95.0)
    best = s.recommendation()
    assert best is not None and best.setting == 675.0
    assert max(s.results, key=lambda r: r.tokens_per_j).setting == 650.0


def test_a_lower_floor_lets_a_deeper_cap_through():
    s = sweep(settings=SweepSettings(warmup_s=10.0, measure_s=20.0, floor_fraction=0.85))
    s.start()
    t = 0.0
    for tokens, power in ((100.0, 5600.0), (98.0, 5000.0), (90.0, 4000.0), (80.0, 3900.0)):
        t, _ = run_step(s, t, tokens, power)
    assert s.recommendation().setting == 650.0


def test_the_sweep_stops_early_once_tokens_stay_under_the_floor():
    s = sweep(levels=lever_levels(700.0, 400.0, 25.0))
    s.start()
    t = 0.0
    for tokens in (100.0, 99.0, 90.0, 80.0):
        t, action = run_step(s, t, tokens, 5000.0)
    assert action == Restore() and len(s.results) == 4 and len(s.levels) == 13


def test_cancel_at_any_step_asks_to_restore_and_ends_the_sweep():
    s = sweep()
    s.start()
    run_step(s, 0.0, 100.0, 5000.0)
    s.step_applied(40.0)
    assert s.cancel() == Restore()
    assert s.phase == "cancelled" and s.observe(100.0, 1.0, 1.0) is None


def test_the_measured_result_is_a_power_curve_with_limits_ascending():
    s = sweep()
    s.start()
    t = 0.0
    for tokens, power in ((100.0, 5600.0), (98.0, 5000.0), (90.0, 4000.0), (80.0, 3900.0)):
        t, _ = run_step(s, t, tokens, power)
    curve = s.curve()
    assert list(curve.limit_w) == [625.0, 650.0, 675.0, 700.0]
    assert list(curve.tokens_per_s) == [80.0, 90.0, 98.0, 100.0] and curve.gpu_count == 8


def test_a_clock_sweeps_curve_is_the_power_each_clock_held_the_group_to():
    s = Sweep("rack-1", 8, "sm_clock", (1980.0, 1875.0, 1770.0), Previous({}), SETTINGS)
    s.start()
    t = 0.0
    for tokens, power in ((100.0, 2400.0), (99.0, 2000.0), (97.0, 1600.0)):
        t, _ = run_step(s, t, tokens, power)
    assert list(s.curve().limit_w) == [200.0, 250.0, 300.0]


def test_a_group_drawing_well_below_its_limits_sweeps_the_clock():
    assert choose_lever(8 * 250.0, 8 * 700.0, SETTINGS) == "sm_clock"  # decode: cap never bites
    assert choose_lever(8 * 680.0, 8 * 700.0, SETTINGS) == "power_limit"


def test_lever_levels_step_down_from_the_top_and_stay_in_range():
    assert lever_levels(700.0, 200.0, 25.0)[:3] == (700.0, 675.0, 650.0)
    assert lever_levels(700.0, 200.0, 25.0)[-1] == 200.0
    assert lever_levels(700.0, 610.0, 25.0) == (700.0, 675.0, 650.0, 625.0)
    with pytest.raises(ValueError, match="bottom above top"):
        lever_levels(200.0, 700.0, 25.0)


def test_bad_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="measure_s"):
        SweepSettings(measure_s=0.0)
    with pytest.raises(ValueError, match="floor_fraction"):
        SweepSettings(floor_fraction=1.5)


def test_a_sweep_cut_short_is_found_on_disk_and_cleared_once_restored(tmp_path):
    record = SweepRecord("rack-1", "ana", "sm_clock", (HostGpu("n1", 0), HostGpu("n1", 1)),
                         Previous({"n1 GPU 0": 700.0, "n1 GPU 1": 650.0}))  # fmt: skip
    assert load_record(tmp_path) is None
    save_record(tmp_path, record)
    assert load_record(tmp_path) == record
    clear_record(tmp_path)
    assert load_record(tmp_path) is None


def test_an_unreadable_record_names_the_file_and_field(tmp_path):
    (tmp_path / RECORD_FILE).write_text(json.dumps({"group": "rack-1", "lever": "power_limit"}))
    with pytest.raises(ValueError, match=f"{RECORD_FILE}: field 'limits_w' missing"):
        load_record(tmp_path)
    (tmp_path / RECORD_FILE).write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        load_record(tmp_path)


def test_drift_is_flagged_only_when_tokens_per_joule_leaves_its_band():
    expected = StepResult(675.0, 98.0, 1.0, 5000.0, 10.0, 20)  # 0.0196 tokens/J, spread ~1 %
    watch = DriftWatch(expected, since_s=10.0, window_s=20.0)
    assert watch.band == pytest.approx(0.10)  # three spreads are less than 10 %
    assert all(watch.observe(t, 120.0, 5000.0) is None for t in range(0, 10))  # warm-up
    changes = [watch.observe(float(t), 92.0, 5000.0) for t in range(10, 31)]
    assert changes == [None] * 21  # -6 %: inside the band
    changes = [watch.observe(float(t), 80.0, 5000.0) for t in range(31, 51)]
    assert changes[:-1] == [None] * 19 and changes[-1] == pytest.approx(80 / 98 - 1)


def test_a_noisy_step_widens_the_drift_band():
    noisy = StepResult(675.0, 98.0, 9.8, 5000.0, 0.0, 20)  # 10 % spread
    assert DriftWatch(noisy, 0.0, 20.0).band == pytest.approx(0.30)


def test_a_sweeps_progress_reads_back_as_itself_on_the_wire():
    step = StepResult(700.0, 100.0, 1.5, 5600.0, 20.0, 6)
    progress = TuningProgress("A01", "olga", "measured", "power_limit", (700.0, 675.0), 1,
                              (step,), 95.0, 700.0, reason="")  # fmt: skip
    notice = TuningUpdated(progress)
    assert decode(encode(notice)) == notice
