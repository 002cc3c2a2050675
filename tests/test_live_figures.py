"""Live per-rack figures for the Run view, from a frame of the simulated demo hall."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.telemetry.live_figures import (
    LiveAggregator,
    loops_nearest_capacity,
)
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
