"""How fast the telemetry store ingests and serves, against bare baselines timed in the same run.

- Ingest: readings/s for batches of 1, 100, 1,000 and 10,000 readings (Python lists, as sources
  hand them over) into a 2,048-GPU x 10-quantity store at 4 Hz, against (a) assigning the same
  floats into a preallocated numpy array (list conversion included) and (b) appending the
  readings to a Python list (what ``RecordingSink`` does). Target: >= 1,000,000 readings/s at
  1,000 readings a batch.
- Snapshot (what the backend process copies into the GUI's frame table each frame) for 2,048
  and 16,384 GPUs x 10 quantities, against a bare copy of the same three latest-value columns.
- ``window`` over a full ring (64 readings: the last 16 s at 4 Hz), whole and decimated to
  16 points, and over its last 10 s.
- Memory: the arrays' bytes and the process RSS with every buffer touched.

Printed, not asserted. Run: python bench/store.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from factoryfloor.backend.telemetry.store import TelemetryStore

QUANTITIES = (
    "util_pct",
    "mem_util_pct",
    "mem_used_bytes",
    "temp_c",
    "mem_temp_c",
    "power_w",
    "energy_j",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "pstate",
)
T0 = 1_700_000_000.0
TARGET_PER_S = 1_000_000


def fleet_keys(gpus: int) -> list[str]:
    return [f"gpu/node{g // 8:04d}/{g % 8}/{q}" for g in range(gpus) for q in QUANTITIES]


def rss_mb() -> float:
    """Resident memory now (Linux), else the peak so far."""
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * resource.getpagesize() / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def median_s(work: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def make_batches(keys: list[str], batch: int, total: int) -> list[tuple[list, list, list]]:
    """``total`` readings in batches of ``batch``: keys cycling, 4 Hz per series."""
    batches = []
    for first in range(0, total, batch):
        index = np.arange(first, first + batch)
        times = T0 + (index // len(keys)) * 0.25
        values = (index % 1000).astype(float)
        batches.append(([keys[i] for i in index % len(keys)], times.tolist(), values.tolist()))
    return batches


def best_rate(work: Callable[[], None], readings: int, setup: Callable[[], None]) -> float:
    """Readings/s of the best of 3 runs, each after a fresh ``setup`` (not timed)."""
    rates = []
    for _ in range(3):
        setup()
        gc.collect()
        started = time.perf_counter()
        work()
        rates.append(readings / (time.perf_counter() - started))
    return max(rates)


def ingest_rates(keys: list[str], batch: int, total: int) -> tuple[float, float, float]:
    """Readings/s into the store, into a bare numpy array, and appended to a list."""
    batches = make_batches(keys, batch, total)
    state: dict[str, TelemetryStore] = {}
    sink = np.empty(batch)
    readings: list[tuple[str, float, float, int]] = []

    def fresh_store() -> None:
        state["store"] = TelemetryStore(max_series=len(keys))
        state["store"].write(keys, [T0 - 1.0] * len(keys), [0.0] * len(keys))  # register

    def write_all() -> None:
        store = state["store"]
        for k, t, v in batches:
            store.write(k, t, v)

    def assign_all() -> None:
        for _, _, v in batches:
            sink[:] = v

    def append_all() -> None:
        for k, t, v in batches:
            readings.extend(zip(k, t, v, [1] * len(k), strict=True))

    return (
        best_rate(write_all, total, fresh_store),
        best_rate(assign_all, total, lambda: None),
        best_rate(append_all, total, readings.clear),
    )


def bench_ingest(quick: bool) -> None:
    keys = fleet_keys(2048)
    print(f"ingest into {len(keys):,} series (2,048 GPUs x 10), readings/s, best of 3:")
    print(f"{'batch':>7} {'store':>12} {'numpy assign':>13} {'list.append':>12} "
          f"{'store/numpy':>12} {'store/list':>11}")  # fmt: skip
    for batch in (1, 100, 1000, 10_000):
        total = min(max(batch * 2000, 200_000), 2_000_000) // (10 if quick else 1)
        store_rate, numpy_rate, list_rate = ingest_rates(keys, batch, total)
        print(f"{batch:>7,} {store_rate:>12,.0f} {numpy_rate:>13,.0f} {list_rate:>12,.0f} "
              f"{store_rate / numpy_rate:>11.3f}x {store_rate / list_rate:>10.2f}x")  # fmt: skip
        if batch == 1000:
            verdict = "met" if store_rate >= TARGET_PER_S else "NOT met"
            print(f"        target >= {TARGET_PER_S:,}/s at 1,000 a batch: {verdict}")


def filled_store(gpus: int, readings_per_series: int, spacing_s: float) -> TelemetryStore:
    """A fleet store with ``readings_per_series`` readings each, ``spacing_s`` apart.

    A rack key follows each node's GPU keys, as when sources register in turn, so the GPU
    series are not one contiguous block and the snapshot takes its gather (not slice) path.
    """
    gpu_keys = fleet_keys(gpus)
    per_node = 8 * len(QUANTITIES)
    keys = []
    for first in range(0, len(gpu_keys), per_node):
        keys += [*gpu_keys[first : first + per_node], f"rack/r{first // per_node:04d}/power_kw"]
    store = TelemetryStore(max_series=len(keys))
    values = np.random.default_rng(1).random(len(keys)) * 100.0
    for step in range(readings_per_series):
        for first in range(0, len(keys), 10_000):
            part = slice(first, first + 10_000)
            store.write(keys[part], np.full(len(keys[part]), T0 + step * spacing_s), values[part])
    return store


def bench_snapshot(gpus: int, quick: bool) -> TelemetryStore:
    started = time.perf_counter()
    # 300 readings a series overrun every 64-slot ring: buffers as full as they ever get.
    store = filled_store(gpus, 20 if quick else 300, 12.0)
    fill_s = time.perf_counter() - started
    series = gpus * len(QUANTITIES)
    now_s = T0 + 3600.0
    snap_s = median_s(lambda: store.snapshot("gpu/", now_s), 50)
    arrays = store._arrays  # the baseline copies the same columns, bypassing the API
    rows = slice(0, series)
    bare_s = median_s(
        lambda: (
            arrays.latest_t_s[rows].copy(),
            arrays.latest_v[rows].copy(),
            arrays.latest_q[rows].copy(),
        ),
        50,
    )
    print(f"{gpus:,} GPUs x 10 = {series:,} series: snapshot {snap_s * 1e3:.2f} ms "
          f"(bare copy of the 3 columns {bare_s * 1e3:.2f} ms, {snap_s / bare_s:.1f}x); "
          f"arrays {store.nbytes / 1e6:,.0f} MB in use "
          f"({store.nbytes / len(store.keys()):,.0f} B/series); "
          f"RSS {rss_mb():,.0f} MB (filled in {fill_s:.1f} s)")  # fmt: skip
    return store


def bench_window() -> None:
    store = TelemetryStore()
    key = "gpu/node0000/0/power_w"
    times = T0 + np.arange(14_400) * 0.25  # an hour at 4 Hz: the ring keeps the last 64
    values = 300.0 + 50.0 * np.sin(np.arange(14_400) / 40.0)
    store.write([key] * len(times), times, values)
    end_s = float(times[-1])
    whole_s = median_s(lambda: store.window(key, T0, end_s), 200)
    cut_s = median_s(lambda: store.window(key, T0, end_s, max_points=16), 200)
    recent_s = median_s(lambda: store.window(key, end_s - 10.0, end_s), 200)
    got = store.window(key, T0, end_s, max_points=16)
    bare_s = median_s(lambda: np.sort(values[-64:]), 200)
    print(f"window over a full ring (64 readings at 4 Hz): {whole_s * 1e6:.0f} us; "
          f"decimated to max_points=16: {cut_s * 1e6:.0f} us, {len(got.times_s)} points; "
          f"last 10 s: {recent_s * 1e6:.0f} us; "
          f"(bare np.sort of 64 floats {bare_s * 1e6:.1f} us)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer readings; rough figures")
    args = parser.parse_args()
    print(f"RSS at start {rss_mb():.0f} MB")
    bench_ingest(args.quick)
    bench_window()
    for gpus in (2048, 16_384):
        store = bench_snapshot(gpus, args.quick)
        del store
        gc.collect()


if __name__ == "__main__":
    main()
