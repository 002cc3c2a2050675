"""Shedding load with the fewest tokens lost: token-aware caps against uniform proportional caps.

On the demo hall (the catalog's workload profiles) and on a mixed 2,048-GPU hall (H100, H200,
B200 and GB200 racks, some serving decode-heavy chat), for targets 5, 10 and 20 % below the
current (uncapped) GPU load: tokens/s lost by each plan and their ratio, from the model's
power-limit curves (``model_curves``). Then the time to compute a proposal at 16,384 GPUs, with
a group per rack and, as a worst case, per 8-GPU node. Printed, not asserted.

    .venv/bin/python bench/shedding.py
"""

from __future__ import annotations

import time

from factoryfloor.backend.design.catalog import builtin_catalog
from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.backend.service.power.curves import PowerCurve
from factoryfloor.backend.service.power.model_curves import rack_curves
from factoryfloor.backend.service.power.shedding import token_aware_caps, uniform_caps
from factoryfloor.resources import bundled_path

TARGETS = (0.05, 0.10, 0.20)
DECODE = "Chat, long outputs (decode-heavy)"
MIXED = (("H100-SXM", 8, None), ("H200-SXM", 8, None), ("B200-SXM", 8, None),
         ("H200-SXM", 8, DECODE), ("GB200-NVL72", 72, None))  # fmt: skip
"""(GPU model, GPUs per rack, workload override) the mixed hall's racks take in turn."""
LLAMA2_ONLY = MIXED[:3]
"""The mixed hall's Llama 2 70B servers only: tokens of one workload, comparable with each
other (the mixed hall adds Llama 3.1 405B tokens, far costlier each, to Llama 2 70B ones)."""


def mixed_hall(gpu_target: int, kinds: tuple[tuple[str, int, str | None], ...] = MIXED) -> Design:
    """A generated hall's racks re-equipped in turn from ``kinds`` until ``gpu_target`` GPUs."""
    base = generate_hall(gpu_target // 8)
    racks, gpus = [], 0
    for i, rack in enumerate(base.racks):
        if gpus >= gpu_target:
            break
        model, count, workload = kinds[i % len(kinds)]
        count = min(count, gpu_target - gpus)
        racks.append(rack.model_copy(update={
            "gpu_model": model, "gpu_count": count, "workload": workload,
            "tokens_per_s_per_gpu": 1200.0 if workload else None}))  # fmt: skip
        gpus += count
    return base.model_copy(update={"racks": racks, "gpu_models": builtin_catalog()})


def demo_hall() -> Design:
    demo = load_design(bundled_path("demo_hall.json"))
    catalog = {m.id: m for m in builtin_catalog()}
    return demo.model_copy(update={"gpu_models": [catalog[m.id] for m in demo.gpu_models]})


def losses(name: str, curves: list[PowerCurve]) -> None:
    load_w = sum(c.top_power_w for c in curves)
    gpus = sum(c.gpu_count for c in curves)
    for target in TARGETS:
        budget_w = load_w * (1 - target)
        aware, uniform = token_aware_caps(curves, budget_w), uniform_caps(curves, budget_w)
        ratio = aware.tokens_lost_per_s / uniform.tokens_lost_per_s
        print(f"{name:<24}{gpus:>7,}{target:>7.0%}{aware.tokens_lost_per_s:>14,.0f}"
              f"{uniform.tokens_lost_per_s:>14,.0f}{ratio:>8.2f}")  # fmt: skip


def timing(curves: list[PowerCurve], repeats: int = 5) -> tuple[float, float]:
    budget_w = 0.9 * sum(c.top_power_w for c in curves)
    best = {}
    for plan in (token_aware_caps, uniform_caps):
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            plan(curves, budget_w)
            runs.append(time.perf_counter() - start)
        best[plan] = min(runs) * 1000.0
    return best[token_aware_caps], best[uniform_caps]


def main() -> None:
    print(f"{'hall':<24}{'GPUs':>7}{'shed':>7}{'lost aware':>14}{'lost uniform':>14}{'ratio':>8}")
    print("(tokens/s lost; ratio: token-aware over uniform, below 1 is fewer lost)")
    losses("demo hall", rack_curves(demo_hall()))
    losses("mixed hall", rack_curves(mixed_hall(2048)))
    losses("mixed, Llama 2 70B only", rack_curves(mixed_hall(2048, LLAMA2_ONLY)))
    big = mixed_hall(16_384)
    print(f"\n{'16,384 GPUs, groups':<26}{'groups':>8}{'aware ms':>10}{'uniform ms':>12}")
    for label, size in (("per rack", None), ("per 8-GPU node", 8)):
        curves = rack_curves(big, gpus_per_group=size)
        aware_ms, uniform_ms = timing(curves)
        print(f"{label:<26}{len(curves):>8,}{aware_ms:>10.1f}{uniform_ms:>12.1f}")


if __name__ == "__main__":
    main()
