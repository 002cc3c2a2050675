"""The model's power curves of a design's racks: what the planner uses where nothing was measured.

Each curve is the simulator's own physics (``gpu_operating_point``) run for one GPU of the
rack's model at its catalog workload profile, over the lever's settings, times the rack's GPUs:

- **Power-limit lever**: the GPU model's limit range in ``LIMIT_STEP_W`` steps from the
  maximum down, Zeus's step (You et al., NSDI 2023).
- **SM-clock lever**: locked upper clocks in ``CLOCK_STEP_MHZ`` steps from the highest down.
  The curve's ``limit_w`` then holds the locked clock in MHz (the setting the planner picks),
  not watts; its power and tokens are the group's as for the limit lever.

Tokens/s at each point are the rack's design capacity (``compute_figures``) times the speed.
Racks whose workload has no profile get no model curve: their load is not known.
"""

from __future__ import annotations

import numpy as np

from factoryfloor.backend.design.figures import compute_figures
from factoryfloor.backend.design.model import Design, GpuModel, WorkloadProfile
from factoryfloor.backend.service.power.curves import PowerCurve
from factoryfloor.backend.telemetry.sources.gpu_operating_point import (
    GpuDemand,
    GpuRanges,
    gpu_ranges,
    operating_point,
)
from factoryfloor.backend.telemetry.sources.simulator import IDLE_POWER_FRACTION

LIMIT_STEP_W = 25.0
"""Zeus's power-limit step."""
CLOCK_STEP_MHZ = 105.0
"""Seven of the 15 MHz steps H100 clocks move in: about 5 % of the highest clock, so one step
moves a memory-bound workload's power by more than the 1-2 % noise on a measuring window, and
the 345-1,980 MHz range takes 16 steps, as many as a 25 W sweep of 200-700 W takes 20."""

LEVERS = ("power_limit", "sm_clock")


def lever_settings(ranges: GpuRanges, lever: str) -> np.ndarray:
    """The lever's settings, ascending, the maximum always included: steps from the top down."""
    if lever == "power_limit":
        low, high, step = ranges.power_limit_min_w, ranges.power_limit_max_w, LIMIT_STEP_W
    elif lever == "sm_clock":
        low, high, step = ranges.sm_clock_min_mhz, ranges.sm_clock_max_mhz, CLOCK_STEP_MHZ
    else:
        raise ValueError(f"lever {lever!r}: expected one of {', '.join(LEVERS)}")
    return np.sort(high - step * np.arange(int((high - low) // step) + 1))


def gpu_curve(
    model: GpuModel, profile: WorkloadProfile, lever: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(settings, power W, speed 0-1) of one GPU of ``model`` running ``profile``."""
    ranges = gpu_ranges(model)
    settings = lever_settings(ranges, lever)
    n = len(settings)
    top_mhz = ranges.sm_clock_max_mhz
    clocked = lever == "sm_clock"
    point = operating_point(GpuDemand(
        idle_w=np.full(n, model.gpu_power_w * IDLE_POWER_FRACTION),
        tdp_w=np.full(n, model.gpu_power_w),
        load=np.full(n, profile.load),
        bound=np.full(n, profile.compute_bound),
        limit_w=np.full(n, ranges.power_limit_max_w) if clocked else settings,
        min_ratio=np.full(n, ranges.sm_clock_min_mhz / top_mhz),
        max_ratio=settings / top_mhz if clocked else np.ones(n),
    ))  # fmt: skip
    return settings, point.power_w, point.speed


def rack_curves(design: Design, lever: str = "power_limit", gpus_per_group: int | None = None
                ) -> list[PowerCurve]:  # fmt: skip
    """One curve per rack with a profiled workload (or per ``gpus_per_group`` GPUs of it, e.g.
    8 for an HGX node; the last group takes the remainder), named by rack (``rack/n``)."""
    figures = compute_figures(design)
    models = {m.id: m for m in design.gpu_models}
    cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    curves = []
    for rack in design.racks:
        rack_figures = figures.racks[rack.id]
        model = models[rack.gpu_model]
        profile = model.profile(rack_figures.workload)
        if profile is None or rack.gpu_count == 0:
            continue
        key = (model.id, profile.workload)
        if key not in cache:
            cache[key] = gpu_curve(model, profile, lever)
        settings, power_w, speed = cache[key]
        tokens_per_gpu = (rack_figures.tokens_per_s or 0.0) / rack.gpu_count
        size = gpus_per_group or rack.gpu_count
        for i, start in enumerate(range(0, rack.gpu_count, size)):
            count = min(size, rack.gpu_count - start)
            name = rack.id if gpus_per_group is None else f"{rack.id}/{i}"
            curves.append(PowerCurve(name, count, settings, power_w * count,
                                     speed * tokens_per_gpu * count))  # fmt: skip
    return curves
