"""The history recorder (backend/service/recorder.py) at the size of the largest hall, measured.

16,384 GPUs x 6 quantities (98,304 readings a second) of ``history_format.FleetSimulator``
go through ``HistoryRecorder.record`` one simulated second at a time, as fast as the machine
allows (a ``flush`` every 30 seconds keeps the queue from overflowing, as real time would).
Printed:

- the recorder's CPU share of one core per simulated second: the process's CPU time (all
  threads: the recorder's own and the calls to ``record``) less the main thread's time making
  the readings; target under 15 %;
- bytes on disk per reading (every tier and the tail, after closing), against Prometheus's
  TSDB at about 1.3 bytes a sample; target at most 2;
- ``record``'s call time, p99 and longest: it only copies into a queue and never waits for
  the disk, but it shares the interpreter with the recorder's thread, so a call can wait for
  a stretch of the thread's Python work;
- the view queries, median of 5: one 72-GPU rack x 6 quantities over 24 h at 1-min columns,
  and the last hour of the fleet's power heatmap at 1,000 rows x 600 columns; target under
  150 ms each.

Recording a real day or hour of the whole fleet would take hours here, so the two queries run
on histories recorded sparsely through the same ``record`` path, whose tiers hold exactly the
rows a real day or hour would: for the rack, one reading a minute for 24 h of 256 GPUs (the
rack's blocks, which are all that query reads: a block is 256 series of one quantity, as in the
full fleet), read from the 1-min tier; for the heatmap, one reading every 15 s for an hour of
the whole fleet, read from the 15-s tier. The raw range recorded at full rate is queried too.

Printed, not asserted. Run: python bench/recorder.py [--minutes 5] (needs the ``bench``
extra for the simulator's module: pip install -e '.[bench]'; about 3 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from history_format import GPUS, QUANTITIES, FleetSimulator

from factoryfloor.backend.service.history_query import HistoryReader
from factoryfloor.backend.service.recorder import HistoryRecorder

T0 = 1_767_225_600  # 2026-01-01 00:00 UTC
RACK_GPUS = 72
RACK_FIRST_GPU = 100 * RACK_GPUS
HEATMAP_ROWS, HEATMAP_COLUMNS = 1_000, 600
PROMETHEUS_BYTES_PER_SAMPLE = 1.3
FLUSH_EVERY_S = 30
REPEAT = 5


def fleet_keys(gpus: range) -> list[str]:
    """GPU-major, as a store registers a GPU's quantities together."""
    return [f"gpu/node{g // 8}/{g % 8}/{q.name}" for g in gpus for q in QUANTITIES]


def snapshot(simulator: FleetSimulator, t: int, gpus: range):
    """(values, qualities, stale) of ``gpus``, in ``fleet_keys`` order."""
    floats, flags = simulator.second(t)
    picked = slice(gpus.start, gpus.stop)
    values = np.ascontiguousarray(floats[:, picked].T).ravel()
    qualities = (flags[:, picked].T.ravel() == 0).astype(np.uint8)  # the store's 1 is good
    return values, qualities, np.zeros(len(values), bool)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def median_ms(work: Callable[[], object]) -> float:
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


def record(folder: Path, times: range, gpus: range) -> tuple[float, list[float], float]:
    """Record ``gpus`` GPUs at ``times``: (recorder CPU s, each record() call's s, wall s)."""
    keys = fleet_keys(gpus)
    simulator = FleetSimulator()
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    making = 0.0
    calls = []
    recorder = HistoryRecorder(folder)
    for n, t in enumerate(times):
        before = time.thread_time()
        values, qualities, stale = snapshot(simulator, t, gpus)
        making += time.thread_time() - before
        before = time.perf_counter()
        recorder.record(t, keys, values, qualities, stale, 1)
        calls.append(time.perf_counter() - before)
        if n % FLUSH_EVERY_S == FLUSH_EVERY_S - 1:
            recorder.flush()
    recorder.close()
    cpu = time.process_time() - started_cpu - making
    return cpu, calls, time.perf_counter() - started_wall


def rack_keys() -> list[str]:
    gpus = range(RACK_FIRST_GPU, RACK_FIRST_GPU + RACK_GPUS)
    return [f"gpu/node{g // 8}/{g % 8}/{q.name}" for q in QUANTITIES for g in gpus]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=5, help="simulated minutes at 1 Hz")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="recorder-bench-"))
    try:
        seconds = args.minutes * 60
        full = root / "full"
        cpu, calls, wall = record(full, range(T0, T0 + seconds), range(GPUS))
        readings = seconds * GPUS * len(QUANTITIES)
        size = folder_bytes(full)
        reader = HistoryReader(full)
        power = [f"gpu/node{g // 8}/{g % 8}/power_w" for g in range(GPUS)]
        raw_rack_ms = median_ms(
            lambda: reader.series_columns(rack_keys(), T0, T0 + seconds, seconds)
        )
        raw_heat_ms = median_ms(
            lambda: reader.heatmap(power, T0, T0 + seconds, HEATMAP_ROWS, HEATMAP_COLUMNS)
        )
        print(f"recorded {args.minutes} min at 1 Hz in {wall:.0f} s", flush=True)

        day = root / "day"
        # The 256 GPUs whose blocks hold the rack (GPUs 7,200-7,271) in the full fleet too.
        block_first = RACK_FIRST_GPU - RACK_FIRST_GPU % 256
        record(day, range(T0, T0 + 86_400, 60), range(block_first, block_first + 256))
        day_reader = HistoryReader(day)
        rack = rack_keys()
        day_rack = day_reader.series_columns(rack, T0, T0 + 86_400, 1_440)
        rack_ms = median_ms(lambda: day_reader.series_columns(rack, T0, T0 + 86_400, 1_440))
        print("recorded the sparse day", flush=True)

        hour = root / "hour"
        record(hour, range(T0, T0 + 3_600, 15), range(GPUS))
        hour_reader = HistoryReader(hour)
        heat = hour_reader.heatmap(power, T0, T0 + 3_600, HEATMAP_ROWS, HEATMAP_COLUMNS)
        heat_ms = median_ms(
            lambda: hour_reader.heatmap(power, T0, T0 + 3_600, HEATMAP_ROWS, HEATMAP_COLUMNS)
        )
    finally:
        shutil.rmtree(root)

    print(f"\n{GPUS:,} GPUs x {len(QUANTITIES)} quantities at 1 Hz "
          f"({GPUS * len(QUANTITIES):,} readings/s), {args.minutes} simulated minutes")  # fmt: skip
    rows = [
        ("recorder CPU, % of one core", f"{cpu / seconds * 100:.1f}", "< 15"),
        ("bytes on disk per reading", f"{size / readings:.2f}", "<= 2"),
        ("  x Prometheus TSDB (1.3 B/sample)", f"{size / readings / 1.3:.2f}", ""),
        ("record() call p99, ms", f"{np.percentile(calls, 99) * 1e3:.2f}", "never waits"),
        ("record() call longest, ms", f"{max(calls) * 1e3:.2f}", ""),
        (f"rack 72 GPUs x 6, {args.minutes} min raw, 1-s columns, ms", f"{raw_rack_ms:.1f}", ""),
        (f"heatmap {args.minutes} min, 1,000 x 600, ms", f"{raw_heat_ms:.1f}", ""),
        (f"rack 24 h, 1-min columns ({day_rack.tier} tier), ms", f"{rack_ms:.1f}", "< 150"),
        (f"heatmap last hour, 1,000 x 600 ({heat.tier} tier), ms", f"{heat_ms:.1f}", "< 150"),
    ]
    width = max(len(name) for name, _, _ in rows)
    print(f"{'':{width}} {'measured':>9} {'target':>12}")
    for name, measured, target in rows:
        print(f"{name:{width}} {measured:>9} {target:>12}")


if __name__ == "__main__":
    main()
