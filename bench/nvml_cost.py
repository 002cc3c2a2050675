"""What NvmlSource's fast poll round costs per GPU per sample, against the least any poller must
do: calling the same NVML functions directly in a loop (target: under 1.2x).

Measured on the recorded H100 trace replay always, so the figure exists on machines without a
GPU: once with calls at Python speed (cheaper than real ones, so the source's own overhead
shows most), once with each call lasting its recorded H100 cost (as on hardware). Also on the
real library when a GPU answers, and against one ``nvidia-smi --query-gpu`` subprocess per
sample where nvidia-smi exists. First line: the floor any worker-thread design pays per round
(a bare thread round trip), which the per-GPU figures spread over the round's GPUs.

The source is timed end to end through its public ``run()``: the worker-thread handoff, the
watchdog, the loop iteration and one sink write per round (into a sink that only counts, so the
store's own cost is not included). Wall time is what a round takes; CPU time is what it costs
the machine, both threads together. Fast rounds only: slow fields are read once, before timing.

Run: python bench/nvml_cost.py [--gpus 1 8 64] [--rounds 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pynvml

from factoryfloor.backend.telemetry.sink import SourceEvent
from factoryfloor.backend.telemetry.sources.nvml_source import NvmlSource
from factoryfloor.backend.telemetry.sources.nvml_trace import (
    NvmlTraceReplay,
    load_trace,
    wall_clock,
)

TARGET_RATIO = 1.2
DEFAULT_TRACE = Path(__file__).resolve().parents[1] / "resources" / "h100_nvml_trace.json"
SMI_QUERY = (
    "utilization.gpu,utilization.memory,memory.used,memory.total,temperature.gpu,"
    "temperature.memory,power.draw,power.draw.instant,clocks.sm,clocks.mem,"
    "clocks_event_reasons.active,pstate,ecc.errors.uncorrected.volatile.total"
)
"""The same quantities as the source's fast round."""


class Cost:
    """Wall and CPU microseconds per GPU per sample."""

    def __init__(self, wall_us: float, cpu_us: float) -> None:
        self.wall_us, self.cpu_us = wall_us, cpu_us


def best_cost(costs: Sequence[Cost]) -> Cost:
    """The least of several runs: on a shared machine, noise only ever adds time."""
    return Cost(min(c.wall_us for c in costs), min(c.cpu_us for c in costs))


def timed(work: Callable[[], Any], samples: int, gpus: int) -> Cost:
    wall_s, cpu_s = time.perf_counter(), time.process_time()
    for _ in range(samples):
        work()
    per = 1e6 / samples / gpus
    return Cost((time.perf_counter() - wall_s) * per, (time.process_time() - cpu_s) * per)


def direct_round(nvml: Any, handles: Sequence[Any], event_set: Any) -> list[float]:
    """The baseline: the fast round's NVML calls, straight, values into one list, and one look
    for Xid events (none waiting: NVML says Timeout)."""
    values: list[float] = []
    with contextlib.suppress(pynvml.NVMLError_Timeout):
        nvml.nvmlEventSetWait_v2(event_set, 0)
    for h in handles:
        rates, memory = nvml.nvmlDeviceGetUtilizationRates(h), nvml.nvmlDeviceGetMemoryInfo(h)
        (mem_temp,) = nvml.nvmlDeviceGetFieldValues(h, [nvml.NVML_FI_DEV_MEMORY_TEMP])
        (instant,) = nvml.nvmlDeviceGetFieldValues(h, [nvml.NVML_FI_DEV_POWER_INSTANT])
        values += (
            rates.gpu,
            rates.memory,
            memory.used,
            memory.total,
            nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU),
            mem_temp.value.uiVal,
            nvml.nvmlDeviceGetPowerUsage(h),
            instant.value.uiVal,
            nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM),
            nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM),
            nvml.nvmlDeviceGetCurrentClocksEventReasons(h),
            nvml.nvmlDeviceGetPerformanceState(h),
            nvml.nvmlDeviceGetTotalEccErrors(
                h, nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC
            ),
        )
    return values


def direct_cost(nvml: Any, rounds: int) -> Cost:
    nvml.nvmlInit()
    event_set = nvml.nvmlEventSetCreate()
    try:
        count = nvml.nvmlDeviceGetCount()
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        for handle in handles:
            nvml.nvmlDeviceRegisterEvents(handle, pynvml.nvmlEventTypeXidCriticalError, event_set)
        direct_round(nvml, handles, event_set)  # warm
        return timed(lambda: direct_round(nvml, handles, event_set), rounds, count)
    finally:
        nvml.nvmlEventSetFree(event_set)
        nvml.nvmlShutdown()


class TimingSink:
    """Counts rounds and notes wall and CPU time at the first and last timed one."""

    def __init__(self, warmup: int, rounds: int) -> None:
        self.writes, self.warmup, self.rounds = 0, warmup, rounds
        self.marks: list[tuple[float, float]] = []
        self.gpus = 0
        self.done = asyncio.Event()
        self.events: list[SourceEvent] = []

    def write(self, keys: Sequence[str], times_s: Any, values: Any, quality: Any = None) -> None:
        self.writes += 1
        if self.writes in (self.warmup, self.warmup + self.rounds):
            self.marks.append((time.perf_counter(), time.process_time()))
            self.gpus = len({key.split("/")[2] for key in keys})
            if len(self.marks) == 2:
                self.done.set()

    def event(self, event: SourceEvent) -> None:
        self.events.append(event)


async def source_cost_async(nvml: Any, rounds: int) -> Cost:
    sink = TimingSink(warmup=10, rounds=rounds)
    source = NvmlSource(sink, fast_hz=1e6, slow_hz=1e-6, nvml=nvml)  # as fast as it goes
    running, finished = asyncio.create_task(source.run()), asyncio.create_task(sink.done.wait())
    try:
        await asyncio.wait({running, finished}, timeout=300, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (running, finished):
            task.cancel()
        await asyncio.gather(running, finished, return_exceptions=True)
    if len(sink.marks) < 2:
        raise RuntimeError(f"source did not finish: {[e.detail for e in sink.events]}")
    (wall0, cpu0), (wall1, cpu1) = sink.marks
    per = 1e6 / rounds / sink.gpus
    return Cost((wall1 - wall0) * per, (cpu1 - cpu0) * per)


def source_cost(nvml: Any, rounds: int) -> Cost:
    return asyncio.run(source_cost_async(nvml, rounds))


def compare(
    label: str, make_nvml: Callable[[], Any], gpus: int, rounds: int, repeat: int
) -> tuple[Cost, Cost]:
    """Print source vs direct for one provider; returns (direct, source)."""
    runs = [
        (direct_cost(make_nvml(), rounds), source_cost(make_nvml(), rounds)) for _ in range(repeat)
    ]
    direct, source = best_cost([d for d, _ in runs]), best_cost([s for _, s in runs])
    wall_ratio, cpu_ratio = source.wall_us / direct.wall_us, source.cpu_us / direct.cpu_us
    verdict = "met" if max(wall_ratio, cpu_ratio) < TARGET_RATIO else "NOT met"
    print(
        f"{label:<14} {gpus:>4}  direct {direct.wall_us:7.2f} us wall {direct.cpu_us:7.2f} us CPU"
        f"  source {source.wall_us:7.2f} us wall {source.cpu_us:7.2f} us CPU"
        f"  ratio {wall_ratio:.2f}x wall {cpu_ratio:.2f}x CPU (target < {TARGET_RATIO}x: {verdict})"
    )
    return direct, source


async def handoff_async(samples: int) -> Cost:
    """An empty job to a bare worker thread and its answer back to the loop, the least any
    round costs once NVML calls must leave the loop's thread (OS wake-ups, both ways)."""
    loop, jobs = asyncio.get_running_loop(), queue.SimpleQueue()

    def serve() -> None:
        while (answer := jobs.get()) is not None:
            loop.call_soon_threadsafe(answer.set_result, None)

    threading.Thread(target=serve, daemon=True).start()
    wall_s, cpu_s = time.perf_counter(), time.process_time()
    for _ in range(samples):
        answer = loop.create_future()
        jobs.put(answer)
        await answer
    jobs.put(None)
    per = 1e6 / samples
    return Cost((time.perf_counter() - wall_s) * per, (time.process_time() - cpu_s) * per)


def real_gpu_count() -> tuple[int, str]:
    """GPUs the real library sees (0 when it cannot start), and why."""
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return 0, f"real NVML unavailable: {error}"
    try:
        count = pynvml.nvmlDeviceGetCount()
        return count, f"real NVML: {count} GPU(s), driver {pynvml.nvmlSystemGetDriverVersion()}"
    finally:
        pynvml.nvmlShutdown()


def smi_comparison(costs: tuple[Cost, Cost] | None, gpus: int, samples: int) -> None:
    """One nvidia-smi subprocess per sample, as scripts often poll, against the direct loop
    and the source (``costs``: their real-library figures)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        print("nvidia-smi: absent on this machine; no subprocess comparison")
        return
    if costs is None:
        print("nvidia-smi: present, but NVML sees no GPU; no subprocess comparison")
        return
    command = [smi, f"--query-gpu={SMI_QUERY}", "--format=csv,noheader,nounits"]
    probe = subprocess.run(command, capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        print(f"nvidia-smi: query failed ({probe.stdout.strip() or probe.stderr.strip()})")
        return
    cost = timed(lambda: subprocess.run(command, capture_output=True, check=True), samples, gpus)
    direct, source = costs
    print(
        f"nvidia-smi per sample: {cost.wall_us / 1000:.2f} ms wall per GPU: "
        f"{cost.wall_us / source.wall_us:.0f}x the source, "
        f"{cost.wall_us / direct.wall_us:.0f}x the direct NVML loop"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    args = parser.parse_args()

    trace = load_trace(args.trace)
    count, real = real_gpu_count()
    print(real)
    floor = best_cost([asyncio.run(handoff_async(args.rounds)) for _ in range(args.repeat)])
    print(
        f"floor per round, any worker-thread design: {floor.wall_us:.1f} us wall "
        f"{floor.cpu_us:.1f} us CPU (bare thread round trip; spread over the round's GPUs)"
    )
    print(
        "recorded H100 trace replay, no GPU involved ('replay': calls at Python speed; "
        "'replay+cost': each call also lasts its recorded H100 cost, as on hardware):"
    )
    for label, costs in (("replay", False), ("replay+cost", True)):
        for gpus in args.gpus:
            offsets_s = [i * 7.3 for i in range(gpus)]  # GPUs out of step, as in a real hall
            make = functools.partial(
                NvmlTraceReplay, trace, gpus, offsets_s, wall_clock(), recorded_costs=costs
            )
            compare(label, make, gpus, max(args.rounds // gpus, 50), args.repeat)
    real_costs = None
    if count == 0:
        print("real library: not measured (no GPU or driver here)")
    else:
        real_costs = compare("real NVML", lambda: pynvml, count, args.rounds, args.repeat)
    smi_comparison(real_costs, count, samples=20)


if __name__ == "__main__":
    main()
