"""The tokens-per-joule tuner on the simulator, in simulated time: the power limit it recommends
for one rack against the curve's true optimum under the same floor (target: within one step),
and how long the sweep takes in facility time and in compute time.

The simulator is stepped directly (1 s steps, no real sleeps) and its rack's tokens/s is read
only every scrape interval, as a tokens counter would be scraped. Each rack is an 8-GPU H100
serving one catalog workload steadily: the Llama 2 70B server (a cap bites) or decode-heavy chat
(it draws far below its cap, so the tuner sweeps the clock). The true curve is the same rack's
tokens/s and power at each lever setting averaged over a long window (noise averaged out),
computed on a fresh simulator.

Run: python bench/tuner.py [--racks 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from factoryfloor.backend.design.catalog import builtin_catalog
from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.backend.service.tuning.sweep import (
    Apply,
    Previous,
    Sweep,
    SweepSettings,
    choose_lever,
    lever_levels,
)
from factoryfloor.backend.telemetry.series import entity_key, gpu_key
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

DT_S = 1.0
TRUE_WINDOW_S = 120


WORKLOADS = {"prefill-heavy": ("Llama 2 70B (MLPerf Inference server)", 2_701.0),
             "decode": ("Chat, long outputs (decode-heavy)", 1_200.0)}  # fmt: skip
"""Each case's catalog workload on H100, and its tokens/s per GPU (MLPerf's; the demo's chat)."""


def held_simulator(case: str, racks: int) -> FacilitySimulator:
    workload, tokens_per_gpu = WORKLOADS[case]
    hall = generate_hall(racks)
    serving = [rack.model_copy(update={"gpu_model": "H100-SXM", "gpu_count": 8,
                                       "workload": workload,
                                       "tokens_per_s_per_gpu": tokens_per_gpu})
               for rack in hall.racks]  # fmt: skip
    serving_hall = hall.model_copy(update={"racks": serving, "gpu_models": builtin_catalog()})
    sim = FacilitySimulator(serving_hall, seed=3)
    sim.step(DT_S)
    return sim


class Rack:
    """Rack 0 of a simulator: its GPUs' positions, its readings, its lever."""

    def __init__(self, sim: FacilitySimulator) -> None:
        self.sim = sim
        self.gpus = np.flatnonzero(sim.gpu_rack == 0)
        index = {key: i for i, key in enumerate(sim.keys)}
        self.power_at = np.array([index[gpu_key(sim.gpu_hosts[g].node, sim.gpu_hosts[g].index,
                                                "power_w")] for g in self.gpus])  # fmt: skip
        self.tokens_at = index[entity_key("rack", sim.rack_ids[0], "tokens_per_s")]

    def read(self) -> tuple[float, float]:
        values = self.sim.step(DT_S)
        return float(values[self.tokens_at]), float(values[self.power_at].sum())

    def apply(self, action: Apply) -> None:
        if action.lever == "power_limit":
            self.sim.set_power_limit(self.gpus, action.setting)
        else:
            self.sim.lock_clocks(self.gpus, float(self.sim.sm_clock_min_mhz[self.gpus[0]]),
                                 action.setting)  # fmt: skip


def sweep_of(rack: Rack, settings: SweepSettings) -> Sweep:
    sim, gpus = rack.sim, rack.gpus
    _, power_w = rack.read()
    lever = choose_lever(power_w, float(sim.power_limit_w[gpus].sum()), settings)
    first = gpus[0]
    top, bottom = ((sim.power_limit_max_w, sim.power_limit_min_w) if lever == "power_limit"
                   else (sim.sm_clock_max_mhz, sim.sm_clock_min_mhz))  # fmt: skip
    levels = lever_levels(float(top[first]), float(bottom[first]), settings.step_of(lever))
    return Sweep("rack 0", len(gpus), lever, levels, Previous({}), settings)


def run_sweep(rack: Rack, sweep: Sweep) -> float:
    """Drive ``sweep`` to its end; facility seconds it took."""
    action = sweep.start()
    now_s, tokens = 0.0, float("nan")
    while sweep.phase not in ("done", "cancelled"):
        if isinstance(action, Apply):
            rack.apply(action)
            sweep.step_applied(now_s)
        now_s += DT_S
        fresh_tokens, power_w = rack.read()
        if now_s % sweep.settings.scrape_interval_s < DT_S:
            tokens = fresh_tokens  # the counter's rate changes only at a scrape
        action = sweep.observe(now_s, tokens, power_w)
    return now_s


def true_best(phase: str, racks: int, sweep: Sweep) -> float:
    """The lever setting with the best true tokens per joule under the floor."""
    points = []
    for setting in sweep.levels:
        rack = Rack(held_simulator(phase, racks))
        rack.apply(Apply(sweep.lever, setting))
        readings = np.array([rack.read() for _ in range(TRUE_WINDOW_S)])
        points.append((setting, *readings.mean(axis=0)))
    floor = sweep.settings.floor_fraction * points[0][1]
    eligible = [p for p in points if p[1] >= floor]
    return max(eligible, key=lambda p: p[1] / p[2])[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--racks", type=int, default=4)
    args = parser.parse_args()
    settings = SweepSettings(early_stop=False)
    for phase in WORKLOADS:
        rack = Rack(held_simulator(phase, args.racks))
        sweep = sweep_of(rack, settings)
        started = time.perf_counter()
        facility_s = run_sweep(rack, sweep)
        compute_s = time.perf_counter() - started
        best = sweep.recommendation()
        truth = true_best(phase, args.racks, sweep)
        step = settings.step_of(sweep.lever)
        unit = "W" if sweep.lever == "power_limit" else "MHz"
        assert best is not None
        print(f"{phase}: lever {sweep.lever}, {len(sweep.results)} steps, "
              f"recommended {best.setting:g} {unit} ({best.tokens_per_j:.4f} tok/J "
              f"± {best.tokens_per_j_sd:.4f}), true optimum {truth:g} {unit}: "
              f"{abs(best.setting - truth) / step:.1f} steps apart")  # fmt: skip
        print(f"  sweep: {facility_s / 60:.1f} min facility time, {compute_s * 1000:.0f} ms "
              f"compute ({facility_s / compute_s:,.0f}x faster than real time)")  # fmt: skip


if __name__ == "__main__":
    main()
