"""The simulated facility obeys GPU commands as real GPUs do: a capped GPU draws no more than its
limit and slows (clock and tokens/s fall, the SW power cap reason set); a locked clock lowers
power and clock, and memory-bound decode gets more tokens per joule. Commands go through the
same executor protocol as NVML, with the catalog's ranges and read-back from the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.nvml_codes import decode_clock_event_reasons
from factoryfloor.backend.service.control.executors import ControlFailure, ValueRange
from factoryfloor.backend.service.control.sim_gpu_control import SimulatedGpuControl
from factoryfloor.backend.telemetry.placement import HostGpu
from factoryfloor.backend.telemetry.sources.gpu_operating_point import (
    COMPUTE_BOUND_DECODE,
    COMPUTE_BOUND_PREFILL,
    GpuDemand,
    operating_point,
)
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

ROOT = Path(__file__).resolve().parents[1]
SEED = 11
STEPS = 60


@pytest.fixture
def demo():
    return load_design(ROOT / "resources" / "demo_hall.json")


def h100_gpus(sim: FacilitySimulator) -> list[HostGpu]:
    return [h for h, tdp in zip(sim.gpu_hosts, sim.gpu_tdp_w, strict=True) if tdp == 700.0]


def columns(sim: FacilitySimulator, values: np.ndarray, quantity: str) -> np.ndarray:
    """Every GPU's value of ``quantity`` from one step, in the simulator's GPU order."""
    start = sim.GPU_QUANTITIES.index(quantity) * len(sim.gpu_hosts)
    return values[start : start + len(sim.gpu_hosts)]


def run(sim: FacilitySimulator, steps: int = STEPS) -> list[dict[str, float]]:
    return [dict(zip(sim.keys, sim.step(1.0).tolist(), strict=True)) for _ in range(steps)]


async def command_all(gpus: list[HostGpu], call) -> list[float]:
    return await asyncio.gather(*(call(gpu) for gpu in gpus))


@pytest.mark.asyncio
async def test_a_capped_gpu_draws_no_more_than_its_limit_and_slows_down(demo) -> None:
    free, capped = FacilitySimulator(demo, seed=SEED), FacilitySimulator(demo, seed=SEED)
    control = SimulatedGpuControl(capped)
    gpus = h100_gpus(capped)
    read_back = await command_all(gpus, lambda gpu: control.set_power_limit(gpu, 350.0))
    assert set(read_back) == {350.0}
    h100 = np.array([capped.position(gpu) for gpu in gpus])
    bit_seen = clock_fell = False
    for _ in range(STEPS):
        free_values, capped_values = free.step(1.0), capped.step(1.0)
        power_w = columns(capped, capped_values, "power_w")[h100]
        assert (power_w <= 350.0).all()
        assert (columns(capped, capped_values, "power_limit_w")[h100] == 350.0).all()
        assert (columns(capped, capped_values, "power_limit_min_w")[h100] == 200.0).all()
        assert (columns(capped, capped_values, "power_limit_max_w")[h100] == 700.0).all()
        would_draw_w = columns(free, free_values, "power_w")[h100]
        biting = would_draw_w > 351.0  # beyond noise: the cap holds these down
        reasons = columns(capped, capped_values, "clock_event_reasons")[h100]
        clocks = columns(capped, capped_values, "sm_clock_mhz")[h100]
        assert all("SW power cap" in decode_clock_event_reasons(int(r)) for r in reasons[biting])
        assert (clocks[biting] < 1980.0).all()
        assert (clocks[~biting & (would_draw_w < 340.0)] == 1980.0).all()  # below the cap: free
        bit_seen |= bool(biting.any())
        clock_fell |= bool((clocks[biting] < 1500.0).any())
    assert bit_seen and clock_fell
    free_tokens = free.step(1.0)[free.keys.index("facility/tokens_per_s")]
    capped_tokens = capped.step(1.0)[capped.keys.index("facility/tokens_per_s")]
    assert capped_tokens < free_tokens


@pytest.mark.asyncio
async def test_a_cap_costs_little_speed_near_the_top_and_much_below_the_knee() -> None:
    """Throughput against the limit, for compute-bound prefill on an H100: nearly flat from
    the maximum, then falling about in proportion (the shape power-capping studies report)."""
    limits_w = np.array([700.0, 600.0, 500.0, 400.0, 300.0, 200.0])
    n = len(limits_w)
    point = operating_point(GpuDemand(
        idle_w=np.full(n, 74.0), tdp_w=np.full(n, 700.0), load=np.full(n, 0.95),
        bound=np.full(n, COMPUTE_BOUND_PREFILL), limit_w=limits_w,
        min_ratio=np.full(n, 345.0 / 1980.0), max_ratio=np.ones(n),
    ))  # fmt: skip
    assert (point.power_w <= limits_w).all()
    assert (np.diff(point.speed) < 0).all()
    speed_per_watt_lost = (1.0 - point.speed[1:]) / (700.0 - limits_w[1:]) * 700.0
    assert speed_per_watt_lost[0] < 0.5 < speed_per_watt_lost[-1]  # flat top, steep bottom


def test_tokens_per_joule_improve_for_memory_bound_decode_under_a_clock_lock() -> None:
    locked = np.array([1.0, 1200.0 / 1980.0])
    for bound, better in [(COMPUTE_BOUND_DECODE, 1.3), (COMPUTE_BOUND_PREFILL, 1.0)]:
        point = operating_point(GpuDemand(
            idle_w=np.full(2, 74.0), tdp_w=np.full(2, 700.0), load=np.full(2, 0.7),
            bound=np.full(2, bound), limit_w=np.full(2, 700.0),
            min_ratio=np.full(2, 345.0 / 1980.0), max_ratio=locked,
        ))  # fmt: skip
        tokens_per_j = point.speed / point.power_w
        assert point.power_w[1] < point.power_w[0]
        if bound == COMPUTE_BOUND_DECODE:
            assert point.speed[1] > 0.8  # decode barely slows
            assert tokens_per_j[1] > better * tokens_per_j[0]
        else:
            assert point.speed[1] < 0.7  # prefill slows with its clock


@pytest.mark.asyncio
async def test_locking_clocks_lowers_power_and_clock_and_reset_restores_them(demo) -> None:
    free, locked = FacilitySimulator(demo, seed=SEED), FacilitySimulator(demo, seed=SEED)
    control = SimulatedGpuControl(locked)
    gpus = h100_gpus(locked)
    h100 = np.array([locked.position(gpu) for gpu in gpus])
    free.step(1.0), locked.step(1.0)
    read_back = await command_all(gpus, lambda gpu: control.lock_clocks(gpu, 1200.0, 1200.0))
    assert set(read_back) == {1200.0}  # obeyed at once, busy or idle
    free_runs, locked_runs = run(free), run(locked)
    racks = {r.id for r in demo.racks if r.gpu_model == "H100-SXM"}
    free_w = sum(v[f"gpu/{g.node}/{g.index}/power_w"] for v in free_runs for g in gpus)
    locked_w = sum(v[f"gpu/{g.node}/{g.index}/power_w"] for v in locked_runs for g in gpus)
    assert locked_w < 0.8 * free_w
    free_tokens = sum(v[f"rack/{r}/tokens_per_s"] for v in free_runs for r in racks)
    locked_tokens = sum(v[f"rack/{r}/tokens_per_s"] for v in locked_runs for r in racks)
    assert locked_tokens < free_tokens
    assert locked_tokens / locked_w > free_tokens / free_w  # more tokens per GPU joule
    assert {v[f"gpu/{g.node}/{g.index}/sm_clock_mhz"] for v in locked_runs for g in gpus} == {
        1200.0
    }
    read_back = await command_all(gpus, control.reset_clocks)
    assert set(read_back) == {1980.0}
    assert (locked.sm_clock_mhz[h100] == 1980.0).all()


@pytest.mark.asyncio
async def test_ranges_come_from_the_catalog_and_out_of_range_is_refused_unchanged(demo) -> None:
    sim = FacilitySimulator(demo, seed=SEED)
    control = SimulatedGpuControl(sim)
    h100 = h100_gpus(sim)[0]
    gb200 = next(h for h, tdp in zip(sim.gpu_hosts, sim.gpu_tdp_w, strict=True) if tdp == 1200)
    assert await control.power_limit(h100) == (700.0, ValueRange(200.0, 700.0))
    assert await control.clock_range(h100) == ValueRange(345.0, 1980.0)
    # The demo's GB200 entry gives no ranges: the H100's, scaled to its 1,200 W.
    assert await control.power_limit(gb200) == (1200.0, ValueRange(200.0 * 1200 / 700, 1200.0))
    cases = [
        (control.set_power_limit(h100, 750.0), "out of range: this GPU allows 200-700 W"),
        (control.set_power_limit(h100, float("nan")), "out of range: this GPU allows 200-700 W"),
        (control.lock_clocks(h100, 300.0, 1200.0), "out of range: this GPU allows 345-1980 MHz"),
        (control.lock_clocks(h100, 1500.0, 1200.0), "lowest value above highest (345-1980 MHz"),
    ]
    for call, reason in cases:
        with pytest.raises(ControlFailure) as refused:
            await call
        assert refused.value.kind == "out_of_range" and refused.value.reason.startswith(reason)
    assert await control.power_limit(h100) == (700.0, ValueRange(200.0, 700.0))
    assert np.isnan(sim.locked_max_mhz).all()


def test_the_simulator_itself_refuses_what_a_driver_would(demo) -> None:
    sim = FacilitySimulator(demo, seed=SEED)
    everyone = np.arange(len(sim.gpu_hosts))
    with pytest.raises(ValueError, match=r"^A01 GPU 0: power limit 250 W outside 342.857-1200 W$"):
        sim.set_power_limit(everyone, 250.0)  # fine for the H100s, not for the GB200s
    assert (sim.power_limit_w == sim.power_limit_max_w).all()  # none changed


@pytest.mark.asyncio
async def test_only_the_simulated_gpus_are_reached(demo) -> None:
    sim = FacilitySimulator(demo, seed=SEED)
    control = SimulatedGpuControl(sim)
    assert control.reaches(sim.gpu_hosts[0]) and control.reaches(sim.gpu_hosts[-1])
    stranger = HostGpu("not-in-this-hall", 0)
    assert not control.reaches(stranger)
    with pytest.raises(ControlFailure, match="not in the simulation") as refused:
        await control.set_power_limit(stranger, 500.0)
    assert refused.value.kind == "error"
