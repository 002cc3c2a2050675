"""Live per-rack figures for the Run view, from a frame of the simulated demo hall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.design_file import load_design
from backend.telemetry.live_figures import LiveAggregator, RackHistory
from backend.telemetry.simulator import FacilitySimulator

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo_hall.json"


@pytest.fixture
def frame():
    design = load_design(DEMO)
    sim = FacilitySimulator(design, seed=2)
    values = sim.step(1.0).astype(np.float32)
    return design, sim.keys, values, dict(zip(sim.keys, values.tolist(), strict=True))


def test_gpu_quantities_are_averaged_per_rack(frame) -> None:
    design, keys, values, by_key = frame
    live = LiveAggregator([r.id for r in design.racks]).update(keys, values, "util_pct")
    expected = np.mean([by_key[f"gpu/B03/{i}/util_pct"] for i in range(72)])
    assert live.rack_values["B03"] == pytest.approx(expected, rel=1e-6)
    assert set(live.rack_values) == {r.id for r in design.racks}


def test_rack_quantities_and_tokens_per_joule(frame) -> None:
    design, keys, values, by_key = frame
    aggregator = LiveAggregator([r.id for r in design.racks])
    power = aggregator.update(keys, values, "power_kw").rack_values
    assert power["C01"] == pytest.approx(by_key["rack/C01/power_kw"], rel=1e-6)
    per_j = aggregator.update(keys, values, "tokens_per_j").rack_values
    # tokens/J = tokens/s / (kW x 1000)
    expected = by_key["rack/A01/tokens_per_s"] / (by_key["rack/A01/power_kw"] * 1000)
    assert per_j["A01"] == pytest.approx(expected, rel=1e-5)


def test_facility_figures_and_busy_gpus(frame) -> None:
    design, keys, values, by_key = frame
    live = LiveAggregator([r.id for r in design.racks]).update(keys, values, "temp_c")
    assert live.facility["it_power_kw"] == pytest.approx(by_key["facility/it_power_kw"], rel=1e-6)
    busy = sum(1 for k, v in by_key.items() if k.endswith("/util_pct") and v > 50)
    assert live.facility["gpus_busy"] == busy
    assert live.facility["gpus"] == 1312
    assert live.loop_heat_kw["L-B2"] == pytest.approx(by_key["loop/L-B2/heat_kw"], rel=1e-6)


def test_rack_history_keeps_the_last_frames_of_each_gpu(frame) -> None:
    design = frame[0]
    sim = FacilitySimulator(design, seed=5)
    history = RackHistory("C02", capacity=10)
    frames = []
    for step in range(15):  # more frames than the ring holds
        values = sim.step(0.25).astype(np.float32)
        history.add(sim.keys, 1000.0 + 0.25 * step, values)
        frames.append(dict(zip(sim.keys, values.tolist(), strict=True)))
    ago, power = history.series("power_w")
    assert history.gpu_count == 16  # an HGX H100 rack of the demo: 2 x 8 GPUs
    assert power.shape == (10, 16)
    assert ago.tolist() == pytest.approx([-2.25 + 0.25 * i for i in range(10)])
    # The newest row is the last frame, GPU by GPU; the oldest kept is frame 5.
    assert power[-1, 3] == pytest.approx(frames[-1]["gpu/C02/3/power_w"], rel=1e-6)
    assert power[0, 15] == pytest.approx(frames[5]["gpu/C02/15/power_w"], rel=1e-6)
