"""Live per-rack figures for the Run view, from a frame of the simulated demo hall."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.figures import compute_figures
from factoryfloor.backend.telemetry.live_figures import (
    LiveAggregator,
    loops_nearest_capacity,
)
from factoryfloor.backend.telemetry.series import facility_model_key
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo_hall.json"


@pytest.fixture
def frame():
    design = load_design(DEMO)
    sim = FacilitySimulator(design, seed=2)
    values = sim.step(1.0).astype(np.float32)
    return design, sim.keys, values, dict(zip(sim.keys, values.tolist(), strict=True))


def test_gpu_quantities_are_averaged_per_rack(frame) -> None:
    design, keys, values, by_key = frame
    live = LiveAggregator(design).update(keys, values, "util_pct")
    expected = np.mean([by_key[f"gpu/B03/{i}/util_pct"] for i in range(72)])
    assert live.rack_values["B03"] == pytest.approx(expected, rel=1e-6)
    assert set(live.rack_values) == {r.id for r in design.racks}


def test_rack_quantities_and_tokens_per_joule(frame) -> None:
    design, keys, values, by_key = frame
    aggregator = LiveAggregator(design)
    power = aggregator.update(keys, values, "power_kw").rack_values
    assert power["C01"] == pytest.approx(by_key["rack/C01/power_kw"], rel=1e-6)
    per_j = aggregator.update(keys, values, "tokens_per_j").rack_values
    # tokens/J = tokens/s / (kW x 1000)
    expected = by_key["rack/A01/tokens_per_s"] / (by_key["rack/A01/power_kw"] * 1000)
    assert per_j["A01"] == pytest.approx(expected, rel=1e-5)


def test_facility_figures_and_busy_gpus(frame) -> None:
    design, keys, values, by_key = frame
    live = LiveAggregator(design).update(keys, values, "temp_c")
    assert live.facility["it_power_kw"] == pytest.approx(by_key["facility/it_power_kw"], rel=1e-6)
    busy = sum(1 for k, v in by_key.items() if k.endswith("/util_pct") and v > 50)
    assert live.facility["gpus_busy"] == busy
    assert live.facility["gpus"] == 1312
    assert live.loop_heat_kw["L-B2"] == pytest.approx(by_key["loop/L-B2/heat_kw"], rel=1e-6)


def test_a_large_hall_plots_the_loops_nearest_their_cdu_capacity() -> None:
    capacity_kw = {"L1": 100.0, "L2": 200.0, "L3": 100.0, "L4": 400.0}
    heat_kw = {"L1": 50.0, "L2": 180.0, "L3": math.nan, "L4": 300.0}  # 50 %, 90 %, -, 75 %
    assert loops_nearest_capacity(heat_kw, capacity_kw, 2) == ["L2", "L4"]  # design order
    assert loops_nearest_capacity(heat_kw, capacity_kw, 3) == ["L1", "L2", "L4"]
    # A loop with no reading ranks last but still fills a place nobody else needs.
    assert loops_nearest_capacity(heat_kw, capacity_kw, 4) == ["L1", "L2", "L3", "L4"]


def test_a_shown_loop_is_not_swapped_out_for_a_near_tie() -> None:
    capacity_kw = {"L1": 100.0, "L2": 100.0}
    heat_kw = {"L1": 80.0, "L2": 81.0}
    assert loops_nearest_capacity(heat_kw, capacity_kw, 1, shown=["L1"]) == ["L1"]
    heat_kw["L2"] = 83.0  # ahead by more than the 2 % margin
    assert loops_nearest_capacity(heat_kw, capacity_kw, 1, shown=["L1"]) == ["L2"]


def _without(keys: list[str], values: np.ndarray, dropped) -> np.ndarray:
    """The frame with no reading (NaN) in the series ``dropped`` picks."""
    values = values.copy()
    values[[i for i, key in enumerate(keys) if dropped(key)]] = np.nan
    return values


def test_bms_rack_power_gives_it_power_where_gpus_are_not_telemetered(frame) -> None:
    """A BMS feeding rack power and no GPU or facility figure: racks, feeds and IT power are
    read from it (IT power used to read "n/a" with rack power stored)."""
    design, keys, values, by_key = frame
    bms_only = _without(keys, values, lambda k: k.startswith("gpu/") or k.startswith("facility/"))
    live = LiveAggregator(design).update(keys, bms_only, "power_kw")
    rack_kw = {r.id: by_key[f"rack/{r.id}/power_kw"] for r in design.racks}
    assert live.rack_values["A01"] == pytest.approx(rack_kw["A01"], rel=1e-6)
    assert live.facility["it_power_kw"] == pytest.approx(sum(rack_kw.values()), rel=1e-5)
    assert live.facility["it_power_racks"] == live.facility["racks"] == len(design.racks)
    feed_a = sum(rack_kw[r.id] for r in design.racks_on_feed("FEED-A"))
    assert live.feed_load_kw["FEED-A"] == pytest.approx(feed_a, rel=1e-5)
    assert math.isnan(live.rack_power.gpus_kw[0])


def test_gpus_sum_stands_in_for_a_rack_with_no_bms_reading(frame) -> None:
    design, keys, values, by_key = frame
    no_a01 = _without(keys, values, lambda k: k == "rack/A01/power_kw" or k.startswith("fac"))
    aggregator = LiveAggregator(design)
    live = aggregator.update(keys, no_a01, "power_kw")
    gpus_kw = sum(by_key[f"gpu/A01/{i}/power_w"] for i in range(72)) / 1000.0
    assert live.rack_values["A01"] == pytest.approx(gpus_kw, rel=1e-5)
    # Both measured on every other rack: the BMS meters the whole rack, GPUs and the rest.
    b03 = aggregator.rack_ids.index("B03")
    assert live.rack_power.bms_kw[b03] == pytest.approx(by_key["rack/B03/power_kw"], rel=1e-6)
    assert live.rack_power.gpus_kw[b03] < live.rack_power.bms_kw[b03]
    assert live.rack_values["B03"] == pytest.approx(by_key["rack/B03/power_kw"], rel=1e-6)


def test_a_feed_with_a_rack_not_reporting_has_no_measured_load(frame) -> None:
    """A partial sum would read as a lightly loaded feed."""
    design, keys, values, _ = frame
    rack = design.racks_on_feed("FEED-B")[0].id
    gone = _without(keys, values, lambda k: k == f"rack/{rack}/power_kw"
                    or k.startswith(f"gpu/{rack}/"))  # fmt: skip
    live = LiveAggregator(design).update(keys, gone, "util_pct")
    assert "FEED-B" not in live.feed_load_kw and "FEED-A" in live.feed_load_kw


def test_tokens_are_figured_per_model_with_tokens_per_joule_of_its_racks(frame) -> None:
    design, keys, values, by_key = frame
    live = LiveAggregator(design).update(keys, values, "util_pct")
    figures = compute_figures(design)
    for workload in {f.workload for f in figures.racks.values()}:
        racks = [r for r, f in figures.racks.items() if f.workload == workload]
        tokens = sum(by_key[f"rack/{r}/tokens_per_s"] for r in racks)
        power_kw = sum(by_key[f"rack/{r}/power_kw"] for r in racks)
        key = facility_model_key(workload, "tokens_per_s")
        assert live.facility[key] == pytest.approx(tokens, rel=1e-5)
        per_j = live.facility[facility_model_key(workload, "tokens_per_j")]
        assert per_j == pytest.approx(tokens / (power_kw * 1000.0), rel=1e-5)
    # The demo serves three: Llama 2 70B, Llama 3.1 405B, and decode-heavy chat on two racks.
    assert len({f.workload for f in figures.racks.values()}) == 3


def test_keys_joining_later_are_mapped_as_if_all_had_come_at_once() -> None:
    """A frame's keys only grow: the live figures and the history map the new ones alone, and
    end where a reader given every key at once ends."""
    from factoryfloor.backend.telemetry.history import LiveHistory
    from factoryfloor.backend.telemetry.live_figures import LiveAggregator

    design = load_design(DEMO)
    sim = FacilitySimulator(design)
    keys, values = list(sim.keys), sim.step(1.0)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(keys))  # series join in any order, rack and GPU keys mixed
    keys, values = [keys[i] for i in order], values[order]
    grown, fresh = LiveAggregator(design), LiveAggregator(design)
    grown_history, fresh_history = LiveHistory(design), LiveHistory(design)
    for cut in (len(keys) // 3, 2 * len(keys) // 3):
        grown.update(keys[:cut], values[:cut], "power_kw")
        grown_history.add(keys[:cut], 1.0, values[:cut])
    for quantity in ("power_kw", "util_pct", "tokens_per_j"):
        mine, theirs = grown.update(keys, values, quantity), fresh.update(keys, values, quantity)
        for name in ("rack_values", "facility", "loop_heat_kw", "feed_load_kw"):
            assert getattr(mine, name) == getattr(theirs, name), name
        np.testing.assert_array_equal(mine.rack_power.measured_kw, theirs.rack_power.measured_kw)
    grown_history.add(list(keys), 2.0, values)
    fresh_history.add(list(keys), 2.0, values)
    assert grown_history.series_keys.keys() == fresh_history.series_keys.keys()  # any order
    np.testing.assert_array_equal(grown_history.moment(2.0).values,
                                  fresh_history.moment(2.0).values)  # fmt: skip
    assert not np.isnan(fresh_history.moment(2.0).values).all()
