"""A power limit on 1,024 simulated GPUs at once: how long until every one is read back, through
``SimulatedGpuControl`` (the executor the service's control desk calls), against the bare call
(the simulator's own setter, then its state read, for one GPU at a time and for all at once).
The limit is state, enforced from the simulator's next step; a locked clock is applied at once.

The executor's commands are started together (``asyncio.gather``, as the desk sends one command
to many GPUs); per GPU: how long its own call took, and how long from the command's start until
its read-back arrived. Also: one simulator step of a hall of 16,384 GPUs or more (generated halls
come in whole racks of mixed sizes) with a quarter of its GPUs
capped and a quarter locked, against the same hall unconstrained (the control model is
vectorised; this shows what it adds to every step).

Run: python bench/control_gpus.py [--gpus 1024] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time

import numpy as np

from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.backend.service.control.sim_gpu_control import SimulatedGpuControl
from factoryfloor.backend.telemetry.placement import HostGpu
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

HALL_GPUS = 16_384


def simulator_for(gpus: int) -> FacilitySimulator:
    """A generated hall with at least ``gpus`` GPUs, stepped once."""
    racks = 1
    hall = generate_hall(racks)
    while (total := sum(rack.gpu_count for rack in hall.racks)) < gpus:
        racks = max(racks + 1, math.ceil(racks * gpus / total))
        hall = generate_hall(racks)
    sim = FacilitySimulator(hall, seed=1)
    sim.step(1.0)
    return sim


def percentile(values_s: list[float], percent: float) -> float:
    return float(np.percentile(np.array(values_s), percent))


async def through_executor(sim: FacilitySimulator, gpus: list[HostGpu], limit_w: float):
    """(per-call seconds, seconds from start to each read-back, total seconds)."""
    control = SimulatedGpuControl(sim)
    calls_s: list[float] = []
    arrived_s: list[float] = []
    start_s = time.perf_counter()

    async def one(gpu: HostGpu) -> None:
        called_s = time.perf_counter()
        read_back_w = await control.set_power_limit(gpu, limit_w)
        now_s = time.perf_counter()
        assert read_back_w == limit_w
        calls_s.append(now_s - called_s)
        arrived_s.append(now_s - start_s)

    await asyncio.gather(*(one(gpu) for gpu in gpus))
    return calls_s, arrived_s, time.perf_counter() - start_s


def bare(sim: FacilitySimulator, positions: np.ndarray, limit_w: float):
    """The simulator's own setter, GPU by GPU: (per-call seconds, total seconds)."""
    calls_s: list[float] = []
    start_s = time.perf_counter()
    for position in positions:
        called_s = time.perf_counter()
        sim.set_power_limit(np.array([position]), limit_w)
        assert sim.power_limit_w[position] == limit_w
        calls_s.append(time.perf_counter() - called_s)
    return calls_s, time.perf_counter() - start_s


def bare_at_once(sim: FacilitySimulator, positions: np.ndarray, limit_w: float) -> float:
    start_s = time.perf_counter()
    sim.set_power_limit(positions, limit_w)
    assert (sim.power_limit_w[positions] == limit_w).all()
    return time.perf_counter() - start_s


def step_ms(sim: FacilitySimulator, steps: int = 20) -> float:
    start_s = time.perf_counter()
    for _ in range(steps):
        sim.step(1.0)
    return (time.perf_counter() - start_s) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    sim = simulator_for(args.gpus)
    gpus = sim.gpu_hosts[: args.gpus]
    positions = np.array([sim.position(gpu) for gpu in gpus])
    executor_calls: list[float] = []
    executor_arrived: list[float] = []
    executor_total: list[float] = []
    bare_calls: list[float] = []
    bare_total: list[float] = []
    at_once: list[float] = []
    for i in range(args.repeat):
        limit_w = 400.0 + 10.0 * i  # a change each time
        calls, arrived, total = asyncio.run(through_executor(sim, gpus, limit_w))
        executor_calls += calls
        executor_arrived += arrived
        executor_total.append(total)
        calls, total = bare(sim, positions, limit_w + 5.0)
        bare_calls += calls
        bare_total.append(total)
        at_once.append(bare_at_once(sim, positions, limit_w + 7.0))

    us = 1e6
    ms = 1e3
    print(f"Power limit on {len(gpus):,} simulated GPUs at once, {args.repeat} runs")
    print(f"  executor, per call:           p50 {percentile(executor_calls, 50) * us:7.1f} us"
          f"   p99 {percentile(executor_calls, 99) * us:7.1f} us")  # fmt: skip
    print(f"  executor, start to read-back: p50 {percentile(executor_arrived, 50) * ms:7.2f} ms"
          f"   p99 {percentile(executor_arrived, 99) * ms:7.2f} ms")  # fmt: skip
    print(f"  executor, all read back:      {statistics.median(executor_total) * ms:7.2f} ms")
    print(f"  bare setter, per call:        p50 {percentile(bare_calls, 50) * us:7.1f} us"
          f"   p99 {percentile(bare_calls, 99) * us:7.1f} us")  # fmt: skip
    print(f"  bare setter, GPU by GPU:      {statistics.median(bare_total) * ms:7.2f} ms")
    print(f"  bare setter, all in one call: {statistics.median(at_once) * ms:7.2f} ms")
    ratio = statistics.median(executor_total) / statistics.median(bare_total)
    print(f"  executor / bare (GPU by GPU), total: {ratio:.2f}x")

    hall = simulator_for(HALL_GPUS)
    free_ms = step_ms(hall)
    count = len(hall.gpu_hosts)
    quarter = np.arange(count // 4)
    hall.set_power_limit(quarter, 400.0)
    hall.lock_clocks(quarter + count // 4, 1200.0, 1200.0)
    constrained_ms = step_ms(hall)
    print(f"One step of {count:,} GPUs: {free_ms:.2f} ms unconstrained, "
          f"{constrained_ms:.2f} ms with a quarter capped and a quarter locked "
          f"({constrained_ms / free_ms:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
