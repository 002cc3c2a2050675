"""How long the design figures of a generated 1,000-rack hall take to recompute.

The editor recomputes on every drag, so the target is under 5 ms per recompute. The baseline,
timed in the same run, is the least any recompute must do: one pass over the racks reading
their power. Also times opening (parse and validate) the same hall from its file text, and the
rest of a drag step's backend work: building and applying the edit that moves one rack.

Run: python bench/recompute.py [--racks 1000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from factoryfloor.backend.design import edits
from factoryfloor.backend.design.design_file import design_to_json, parse_design
from factoryfloor.backend.design.figures import compute_figures
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.synthetic import generate_hall

TARGET_MS = 5.0


def time_ms(work: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def bare_pass(design: Design) -> float:
    """The baseline: touch every rack once, summing heat to liquid."""
    return sum(rack.it_power_kw * rack.liquid_fraction for rack in design.racks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--racks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    design = generate_hall(args.racks)
    text = design_to_json(design).encode()
    compute_figures(design)  # warm caches, as the editor's first recompute does

    recompute = time_ms(lambda: compute_figures(design), args.repeat)
    baseline = time_ms(lambda: bare_pass(design), args.repeat)
    parse = time_ms(lambda: parse_design(text, "bench"), max(5, args.repeat // 20))
    rack_id = design.racks[len(design.racks) // 2].id
    move = time_ms(lambda: edits.move(design, [rack_id], 0.05, 0.0).apply(design), args.repeat)

    median_ms = statistics.median(recompute)
    baseline_ms = statistics.median(baseline)
    print(f"hall: {args.racks} racks, {len(design.loops)} loops, {len(design.feeds)} feeds, "
          f"{len(text) / 1e6:.2f} MB file")  # fmt: skip
    print(f"recompute figures: median {median_ms:.2f} ms, p95 "
          f"{statistics.quantiles(recompute, n=20)[-1]:.2f} ms (target < {TARGET_MS:.0f} ms: "
          f"{'met' if median_ms < TARGET_MS else 'NOT met'})")  # fmt: skip
    print(f"baseline bare pass over racks: median {baseline_ms:.3f} ms; "
          f"recompute / baseline = {median_ms / baseline_ms:.1f}x")  # fmt: skip
    print(f"parse and validate the file: median {statistics.median(parse):.1f} ms")
    print(f"move one rack, build + apply the edit: median {statistics.median(move):.3f} ms")


if __name__ == "__main__":
    main()
