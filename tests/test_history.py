"""Live history behind the Run view's plots and heatmap: resolutions, gaps, groups, memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.telemetry.history import LiveHistory, SeriesHistory, Tier, floor_rows
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo_hall.json"
T0 = 1_800_000_000.0  # a whole number of 3-minute buckets, so bucket edges are easy to reason on


@pytest.fixture(scope="module")
def demo():
    return load_design(DEMO)


def test_a_one_second_column_is_the_mean_of_its_frames() -> None:
    history = SeriesHistory(1)
    for i, value in enumerate([10.0, 20.0, 30.0, 40.0, 100.0]):  # 4 Hz: 4 frames, then a 5th
        history.add(T0 + 0.25 * i, np.array([value]))
    window = history.window(2.0)
    assert window.resolution_s == 1.0
    assert window.values[:, 0].tolist() == [25.0, 100.0]
    assert window.times_s.tolist() == [T0 + 0.5, T0 + 1.5]


@pytest.mark.parametrize(("span_s", "columns", "resolution_s"),
                         [(60, 60, 1.0), (600, 600, 1.0), (3600, 240, 15.0),
                          (6 * 3600, 120, 180.0), (24 * 3600, 480, 180.0)])  # fmt: skip
def test_each_window_reads_the_finest_tier_that_covers_it(span_s, columns, resolution_s) -> None:
    history = SeriesHistory(2)
    history.add(T0, np.array([1.0, 2.0]))
    window = history.window(span_s)
    assert window.values.shape == (columns, 2)
    assert window.resolution_s == resolution_s


def test_gaps_and_a_lap_of_the_ring_read_as_missing_not_as_old_values() -> None:
    history = SeriesHistory(1, [Tier(1.0, 10)])
    for i in range(10):
        history.add(T0 + i, np.array([float(i)]))
    history.add(T0 + 13, np.array([99.0]))  # 3 s of silence, and the ring wrapped past 0-2
    values = history.window(10.0).values[:, 0]
    assert values[-1] == 99.0
    assert np.isnan(values[-3:-1]).all()  # T0+11, T0+12: nothing arrived
    assert values[:6].tolist() == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    scrolled_back = history.window(4.0, end_s=T0 + 3).values[:, 0]
    assert scrolled_back[:3].tolist() == [0.0, 1.0, 2.0]  # still in the ring
    assert np.isnan(scrolled_back[3])  # T0+3's slot now holds T0+13: not shown as T0+3


def test_a_missing_reading_does_not_drag_the_mean_down() -> None:
    history = SeriesHistory(1)
    history.add(T0, np.array([50.0]))
    history.add(T0 + 0.5, np.array([np.nan]))
    assert history.window(1.0).values[0, 0] == 50.0


def test_clock_going_back_keeps_what_was_recorded() -> None:
    history = SeriesHistory(1)
    history.add(T0 + 5, np.array([7.0]))
    history.add(T0 + 1, np.array([1000.0]))
    window = history.window(10.0, end_s=T0 + 5)
    assert window.values[-1, 0] == 7.0
    assert np.isnan(window.values[-5, 0])


def test_rows_follow_how_racks_stand_on_the_floor(demo) -> None:
    rows = floor_rows(demo)
    assert list(rows) == ["Row A", "Row B", "Row C"]
    assert rows["Row C"][0] == "C01" and len(rows["Row C"]) == 10


def test_gpu_rows_and_means_per_rack_row_and_hall(demo) -> None:
    sim = FacilitySimulator(demo, seed=3)
    history = LiveHistory(demo)
    values = sim.step(1.0)
    history.add(sim.keys, T0, values)
    by_key = dict(zip(sim.keys, values.tolist(), strict=True))
    assert len(history.gpu_rows) == 1312
    assert history.gpu_rows[history.rows_of_rack["B03"][5]] == ("B03", 5)
    assert history.gpu_quantities == ["util_pct", "power_w", "temp_c"]

    gpu = history.gpu_window("power_w", 1.0).values[-1]
    c02_gpu_3 = by_key["gpu/C02/3/power_w"]
    assert gpu[history.rows_of_rack["C02"][3]] == pytest.approx(c02_gpu_3, rel=1e-3)

    racks = history.aggregate_window("temp_c", "rack", 1.0)
    b03 = np.mean([by_key[f"gpu/B03/{i}/temp_c"] for i in range(72)])
    assert racks.values[-1, history.group_names("rack").index("B03")] == pytest.approx(b03)
    row_c = history.aggregate_window("util_pct", "row", 1.0).values[-1, 2]
    expected = np.mean([v for k, v in by_key.items() if k.startswith("gpu/C") and "util" in k])
    assert row_c == pytest.approx(expected)
    hall = history.aggregate_window("power_w", "hall", 1.0).values[-1, 0]
    assert hall == pytest.approx(np.mean([v for k, v in by_key.items() if k.endswith("power_w")]))

    loop = history.series_window(["loop/L-B2/heat_kw", "loop/nowhere/heat_kw"], 1.0).values[-1]
    assert loop[0] == pytest.approx(by_key["loop/L-B2/heat_kw"], rel=1e-6)
    assert np.isnan(loop[1])


def test_series_that_appear_later_keep_the_history_already_recorded(demo) -> None:
    history = LiveHistory(demo)
    history.add(["facility/tokens_per_s"], T0, np.array([100.0]))
    history.add(["facility/tokens_per_s", "cdu/CDU-A1/flow_lpm"], T0 + 1, np.array([200.0, 9.0]))
    window = history.series_window(["facility/tokens_per_s", "cdu/CDU-A1/flow_lpm"], 2.0)
    assert window.values[:, 0].tolist() == [100.0, 200.0]
    assert np.isnan(window.values[0, 1]) and window.values[1, 1] == 9.0


def test_memory_is_fixed_once_series_are_known(demo) -> None:
    """A wall display runs for days: after the first frame, no frame may grow the history."""
    sim = FacilitySimulator(demo, seed=1)
    history = LiveHistory(demo)
    history.add(sim.keys, T0, sim.step(1.0))
    before = history.nbytes
    gpus, columns = len(history.gpu_rows), sum(tier.columns for tier in history.tiers)
    assert before >= 3 * gpus * columns * 2  # every GPU's three quantities at float16, held
    for minute in range(1, 26 * 60, 7):  # a day and more at a coarse step: every tier laps
        history.add(sim.keys, T0 + 60.0 * minute, sim.step(1.0))
    assert history.nbytes == before
    assert np.isfinite(history.aggregate_window("util_pct", "hall", 86400).values).any()


def test_a_history_seeded_with_another_shows_its_past_and_keeps_its_own_frames(demo) -> None:
    """A window starting Run on a running service is seeded with the service's history: the
    past reads as the service recorded it, and the window's own newer frames are kept."""
    sim = FacilitySimulator(demo, seed=5)
    service, window = LiveHistory(demo), LiveHistory(demo)
    for second in range(30):
        service.add(sim.keys, T0 + second, sim.step(1.0))
    newest = sim.step(1.0)
    service.add(sim.keys, T0 + 30, newest)
    window.add(sim.keys, T0 + 30, newest)
    late = sim.step(1.0)
    window.add(sim.keys, T0 + 31, late)  # the service has not recorded this one yet

    window.seed(service.export())
    keys = ["facility/it_power_kw", "loop/L-A1/heat_kw", "mean/rack/A01/util_pct"]
    theirs, ours = service.series_window(keys, 60.0, T0 + 31), window.series_window(keys, 60.0)
    assert np.array_equal(ours.values[:-1], theirs.values[:-1], equal_nan=True)
    assert np.isfinite(ours.values[:-1][-31:]).all()
    power = sim.keys.index("facility/it_power_kw")
    assert ours.values[-1, 0] == pytest.approx(late[power])  # the window's own frame
    gpus = window.gpu_window("power_w", 60.0).values
    assert np.array_equal(gpus[:-1], service.gpu_window("power_w", 60.0, T0 + 31).values[:-1],
                          equal_nan=True)  # fmt: skip


def test_a_moment_is_every_series_as_recorded_then(demo) -> None:
    sim = FacilitySimulator(demo, seed=9)
    history = LiveHistory(demo)
    frames = []
    for second in range(20):
        frames.append(sim.step(1.0))
        history.add(sim.keys, T0 + second + 0.5, frames[-1])
    moment = history.moment(T0 + 7.5)
    assert moment.resolution_s == 1.0
    power = sim.keys.index("facility/it_power_kw")
    gpu = sim.keys.index("gpu/B03/5/temp_c")
    assert moment.values[power] == pytest.approx(frames[7][power], rel=1e-6)
    assert moment.values[gpu] == pytest.approx(frames[7][gpu], abs=0.1)  # float16 rings
    assert np.isnan(history.moment(T0 - 30.0).values[power])  # before anything was recorded


def test_a_seeded_history_takes_the_next_frames_time_as_its_newest(demo) -> None:
    """Seeding must not make the history look newer than its frames: the next frame's time is
    its newest time (the views follow it), even within the seeded bucket."""
    sim = FacilitySimulator(demo, seed=2)
    service, window = LiveHistory(demo), LiveHistory(demo)
    service.add(sim.keys, T0 + 30.1, sim.step(1.0))
    window.seed(service.export())
    assert window.latest_s <= T0 + 30.1
    window.add(sim.keys, T0 + 30.2, sim.step(1.0))
    assert window.latest_s == T0 + 30.2
