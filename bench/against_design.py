"""What measuring each loop and feed against the design costs a Run frame in a large hall.

A generated hall (512 racks of 32 GPUs, 16,384 GPUs, as ``bench/run_view.py``'s large
scenario) and one simulated frame. Timed per frame:
- ``LiveAggregator.update``: the whole live figures, rack power by the BMS-or-GPUs rule, feed
  loads (``bincount``) and tokens per model included;
- the feed loads alone, against a baseline that sums each feed's racks in Python (what a
  straightforward per-feed loop costs);
- ``LivePlan.show`` on the plan scene: colours, labels, the notes beside every loop and feed,
  against the plan's colours alone (what a frame of the plan cost before labels and notes
  were live).

Run: QT_QPA_PLATFORM=offscreen python bench/against_design.py [--racks 512] [--repeat 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from run_view import make_hall

from factoryfloor.backend.telemetry.live_figures import LiveAggregator
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator


def time_ms(work: Callable[[], object], repeat: int) -> float:
    work()
    started = time.perf_counter()
    for _ in range(repeat):
        work()
    return (time.perf_counter() - started) * 1000 / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--racks", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()

    from factoryfloor.app.gui import create_application
    from factoryfloor.app.live_plan import LivePlan
    from factoryfloor.backend.design.figures import compute_figures
    from factoryfloor.widgets.floor_plan import FloorPlanScene

    design, _ = make_hall(args.racks, Path(tempfile.mkdtemp(prefix="factoryfloor-bench-")))
    figures = compute_figures(design)
    simulator = FacilitySimulator(design)
    keys, values = simulator.keys, simulator.step(1.0).astype(np.float32)
    aggregator = LiveAggregator(design)
    live = aggregator.update(keys, values, "util_pct")
    measured_kw = live.rack_power.measured_kw

    racks_of_feed = {f.id: [i for i, r in enumerate(design.racks) if r.feed_id == f.id]
                     for f in design.feeds}  # fmt: skip

    def per_feed_loop() -> dict[str, float]:
        return {feed_id: sum(float(measured_kw[i]) for i in racks)
                for feed_id, racks in racks_of_feed.items()}  # fmt: skip

    assert per_feed_loop().keys() == live.feed_load_kw.keys()
    create_application()
    scene = FloorPlanScene()
    scene.show_design(design, figures)
    plan = LivePlan(design, figures)

    update_ms = time_ms(lambda: aggregator.update(keys, values, "util_pct"), args.repeat)
    feeds_ms = time_ms(lambda: aggregator._feed_loads(measured_kw), args.repeat)
    loop_ms = time_ms(per_feed_loop, args.repeat)
    show_ms = time_ms(lambda: plan.show(scene, live, {}, "GPU utilisation", "%"), args.repeat)
    colours_ms = time_ms(lambda: scene.show_live({}, {}, {}), args.repeat)
    gpus = len(simulator.gpu_rack)
    print(f"{gpus:,} GPUs, {len(design.racks)} racks, {len(design.feeds)} feeds, "
          f"{len(design.loops)} loops")  # fmt: skip
    print(f"LiveAggregator.update (whole frame)      {update_ms:8.3f} ms")
    print(f"feed loads, bincount                     {feeds_ms:8.3f} ms")
    print(f"feed loads, per-feed loop (baseline)     {loop_ms:8.3f} ms"
          f"   {loop_ms / feeds_ms:,.0f}x the bincount")  # fmt: skip
    print(f"plan colours alone (baseline)            {colours_ms:8.3f} ms")
    print(f"LivePlan.show (colours, labels, notes)   {show_ms:8.3f} ms"
          f"   {show_ms / colours_ms:.1f}x the colours alone")  # fmt: skip


if __name__ == "__main__":
    main()
