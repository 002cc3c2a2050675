"""The facility simulator obeys the same physics as the design figures."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.fluids import properties
from factoryfloor.backend.telemetry.sink import RecordingSink
from factoryfloor.backend.telemetry.sources.simulator import (
    IDLE_POWER_FRACTION,
    THERMAL_TAU_S,
    FacilitySimulator,
    SimulatorSource,
    trace_profile,
)

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "resources" / "h100_nvml_trace.json"


@pytest.fixture
def demo():
    return load_design(ROOT / "resources" / "demo_hall.json")


@pytest.fixture
def phased_demo(demo):
    """The demo hall without workload profiles: every rack through random phases (the H100
    racks, profiled in the demo, would otherwise serve steadily)."""
    models = [m.model_copy(update={"workload_profiles": []}) for m in demo.gpu_models]
    return demo.model_copy(update={"gpu_models": models})


def values_by_key(sim: FacilitySimulator, values: np.ndarray) -> dict[str, float]:
    return dict(zip(sim.keys, values.tolist(), strict=True))


def test_every_gpu_rack_loop_and_cdu_is_published_once(demo) -> None:
    sim = FacilitySimulator(demo)
    assert len(sim.keys) == len(set(sim.keys))
    # 1,312 GPUs x 9 quantities + 26 racks x 2 + 4 loops + 4 CDUs x 4 + 3 facility figures
    # + tokens/s of each of the 3 workloads (2 reference ones, and the decode-heavy chat of two
    # H100 racks), and the plant's BMS points: 26 racks x 2 isolation states + 4 CDU setpoints.
    assert len(sim.keys) == 1312 * 9 + 26 * 2 + 4 + 4 * 4 + 3 + 3 + 26 * 2 + 4
    assert "gpu/B05/71/temp_c" in sim.keys and "cdu/CDU-B2/return_temp_c" in sim.keys


def test_energy_balance_heat_into_loops_is_power_times_liquid_fraction(demo) -> None:
    sim = FacilitySimulator(demo, seed=3)
    for _ in range(50):
        v = values_by_key(sim, sim.step(1.0))
        for loop in demo.loops:
            racks = demo.racks_on_loop(loop.id)
            expected_kw = sum(v[f"rack/{r.id}/power_kw"] * r.liquid_fraction for r in racks)
            assert v[f"loop/{loop.id}/heat_kw"] == pytest.approx(expected_kw, rel=1e-9)
        total_kw = sum(v[f"rack/{r.id}/power_kw"] for r in demo.racks)
        assert v["facility/it_power_kw"] == pytest.approx(total_kw, rel=1e-9)
        per_model = [value for key, value in v.items() if key.startswith("facility/model/")]
        assert sum(per_model) == pytest.approx(v["facility/tokens_per_s"], rel=1e-9)


def test_return_temperature_carries_the_loop_heat(demo) -> None:
    sim = FacilitySimulator(demo, seed=4)
    v = values_by_key(sim, sim.step(1.0))
    heat_kw, flow_lpm = v["cdu/CDU-B2/heat_kw"], v["cdu/CDU-B2/flow_lpm"]
    density_kg_per_l, cp = properties("pg25", 35.0)  # PG25 loop, near its mean temperature
    # dT = Q x 60 / (rho x cp x V): e.g. 448.8 kW at 671 L/min on PG25 is about 10 K.
    expected_c = 30.0 + heat_kw * 60.0 / (density_kg_per_l * cp * flow_lpm)
    assert v["cdu/CDU-B2/return_temp_c"] == pytest.approx(expected_c, rel=1e-6)
    assert v["cdu/CDU-B2/return_temp_c"] > v["cdu/CDU-B2/supply_temp_c"]


def test_gpu_temperature_follows_power_through_its_time_constant(demo) -> None:
    sim = FacilitySimulator(demo, seed=5)
    sim.phase[:] = 0  # every rack idle, long enough to settle
    sim.phase_left_s[:] = 1e9
    for _ in range(200):
        sim.step(1.0)
    start_c = sim.temp_c.copy()
    sim.phase[:] = 1  # prefill: 95 % load from now on
    temps = [sim.temp_c.copy() for _ in range(int(THERMAL_TAU_S)) if sim.step(1.0) is not None]
    after_tau_c = temps[-1]
    for _ in range(400):
        sim.step(1.0)
    final_c = sim.temp_c
    rise = (after_tau_c - start_c) / (final_c - start_c)
    # A first-order lag covers 1 - 1/e = 63 % of the way in one time constant.
    assert np.median(rise) == pytest.approx(1 - math.exp(-1), abs=0.03)
    assert np.all(np.diff(np.array(temps)[:, 0]) > -0.5)  # rises, give or take power noise


def test_idle_power_matches_the_recorded_h100(phased_demo) -> None:
    sim = FacilitySimulator(phased_demo, seed=6)
    sim.phase[:] = 0
    sim.phase_left_s[:] = 1e9
    v = values_by_key(sim, sim.step(1.0))
    # H100 racks idle at 74 W per GPU (10.6 % of 700 W), within the 1 % power noise.
    assert v["gpu/C01/0/power_w"] == pytest.approx(700 * IDLE_POWER_FRACTION, rel=0.05)
    assert v["rack/C01/tokens_per_s"] == 0.0


def test_replay_follows_the_recorded_trace(phased_demo) -> None:
    series = json.loads(TRACE.read_text())["series_4hz"]
    profile = trace_profile(series)
    power_mw = [s["power_mw"] for s in series]
    peak, idle = int(np.argmax(power_mw)), int(np.argmin(power_mw))
    sim = FacilitySimulator(phased_demo, seed=7, trace=profile)
    sim.trace_offset_s[:] = profile.times_s[peak]  # every rack at the trace's peak power
    v = values_by_key(sim, sim.step(0.0))
    assert v["gpu/C01/0/power_w"] == pytest.approx(700.0, rel=0.05)
    sim.trace_offset_s[:] = profile.times_s[idle]  # the trace's idle (74 W)
    v = values_by_key(sim, sim.step(0.0))
    assert v["gpu/C01/0/power_w"] == pytest.approx(700 * IDLE_POWER_FRACTION, rel=0.05)
    assert v["rack/C01/tokens_per_s"] == 0.0
    generating = next(i for i, s in enumerate(series) if s["phase"] == "generate")
    sim.trace_offset_s[:] = profile.times_s[generating]  # the trace generating tokens
    v = values_by_key(sim, sim.step(0.0))
    assert v["rack/C01/tokens_per_s"] > 0


def test_profiled_racks_serve_steadily_with_noisy_token_counts(demo) -> None:
    """The demo's H100 racks serve Llama 2 70B at 90 % load, and two of them decode-heavy chat
    drawing about 220 W of a 700 W limit; their tokens/s vary by about 1.5 % step to step."""
    sim = FacilitySimulator(demo, seed=8)
    steps = [values_by_key(sim, sim.step(1.0)) for _ in range(200)]
    server_w = [v["gpu/C01/0/power_w"] for v in steps]
    chat_w = [v["gpu/C10/0/power_w"] for v in steps]
    tokens = np.array([v["rack/C01/tokens_per_s"] for v in steps])
    assert np.mean(server_w) == pytest.approx(74 + 0.9 * 626, rel=0.01)
    assert np.mean(chat_w) == pytest.approx(74 + 0.23 * 626, rel=0.01)
    assert tokens.mean() == pytest.approx(16 * 2701, rel=0.01)
    assert 0.01 < tokens.std() / tokens.mean() < 0.02


def test_publish_writes_one_batch_with_every_key(demo) -> None:
    sink = RecordingSink()
    sim = FacilitySimulator(demo)
    sim.publish(sink, now_s=1_700_000_000.0, dt_s=0.25)
    assert len(sink.readings) == len(sim.keys)
    assert {t for _, t, _, _ in sink.readings} == {1_700_000_000.0}


def test_same_seed_same_facility(demo) -> None:
    a, b = FacilitySimulator(demo, seed=9), FacilitySimulator(demo, seed=9)
    assert np.array_equal(a.step(1.0), b.step(1.0))


@pytest.mark.asyncio
async def test_simulator_source_publishes_in_real_time(demo) -> None:
    sink = RecordingSink()
    source = SimulatorSource(FacilitySimulator(demo), sink, rate_hz=50.0)
    task = asyncio.create_task(source.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    keys = len(source.simulator.keys)
    while len(sink.readings) < 3 * keys and loop.time() < deadline:
        await asyncio.sleep(0.005)
    task.cancel()
    assert len(sink.readings) >= 3 * keys
    assert sink.events[0].detail.startswith("running: 26 racks, 1312 GPUs")


def test_beside_a_real_bms_the_simulator_never_writes_the_bms_points(demo) -> None:
    """A rack's isolation state comes from the BMS alone when there is one: a simulated 0 four
    times a second would hide the BMS's 1 (and its alarm)."""
    from factoryfloor.backend.design.mqtt_settings import MqttConfig
    from factoryfloor.backend.telemetry.sources.assemble import build_sources
    from factoryfloor.backend.telemetry.sources.simulator import SimulatorSource
    from factoryfloor.backend.telemetry.store import TelemetryStore

    mqtt = MqttConfig.model_validate({"host": "127.0.0.1", "port": 1883})
    beside_bms = demo.telemetry.model_copy(update={"mqtt": mqtt})
    for settings, bms_points in ((demo.telemetry, True), (beside_bms, False)):
        sources = build_sources(demo, settings, TelemetryStore())
        sim = next(s for s in sources if isinstance(s, SimulatorSource)).simulator
        assert ("rack/A01/liquid_isolated" in sim.keys) == bms_points
        assert len(sim.step(1.0)) == len(sim.keys)
