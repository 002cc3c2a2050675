"""``factoryfloor telemetry``: run the telemetry sources headless and print what they report.

For trying a site's sources (a broker, inference servers, the GPUs of this machine) without
the window, and for the simulator on its own. It runs the same sources, supervisor and store
as the backend process, on this process's asyncio loop (no GUI to protect here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from backend.design_file import load_design
from backend.report import fmt
from backend.telemetry.prometheus import PrometheusSource
from backend.telemetry.runner import run_sources
from backend.telemetry.simulator import FacilitySimulator, SimulatorSource, trace_profile
from backend.telemetry.store import TelemetryStore

SUMMARY_KEYS = (  # key, label, unit, decimals
    ("facility/it_power_kw", "IT power", " kW", 1),
    ("facility/tokens_per_s", "tokens/s", "", 0),
    ("facility/tokens_per_j", "tokens/J", "", 3),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("file", type=Path, help="design file (.json) of the facility")
    add("--seconds", type=float, default=0.0, help="stop after this long (default: until Ctrl+C)")
    add("--no-simulator", action="store_true", help="only real sources (default: simulate)")
    add("--trace", type=Path, help="replay this recorded NVML trace as the simulated GPUs' load")
    add("--metrics", action="append", default=[], metavar="URL[,KIND[,RACK]]",
        help="an inference server's /metrics page (vllm, sglang, dynamo, tgi, triton; kind "
        "detected if left out); repeatable")  # fmt: skip


def build(args: argparse.Namespace, store: TelemetryStore) -> list:
    design = load_design(args.file)
    sources: list = []
    if not args.no_simulator:
        trace = None
        if args.trace:
            trace = trace_profile(json.loads(args.trace.read_text())["series_4hz"])
        sources.append(SimulatorSource(FacilitySimulator(design, trace=trace), store, 4.0))
    if args.metrics:
        endpoints = [tuple(part or None for part in spec.split(",")) for spec in args.metrics]
        sources.append(PrometheusSource(endpoints, store))
    return sources


def summary_line(store: TelemetryStore) -> str:
    parts = []
    for key, label, unit, decimals in SUMMARY_KEYS:
        latest = store.latest(key)
        parts.append(f"{label} {fmt(None if latest is None else latest[1], decimals)}{unit}")
    return f"{time.strftime('%H:%M:%S')}  " + " · ".join(parts) + f" · {len(store.keys())} series"


async def run(args: argparse.Namespace) -> int:
    store = TelemetryStore()
    sources = build(args, store)
    if not sources:
        print("nothing to run: give --metrics, or leave the simulator on")
        return 2
    task = asyncio.create_task(run_sources(sources, store))
    started = time.monotonic()
    seen = 0
    try:
        while not args.seconds or time.monotonic() - started < args.seconds:
            await asyncio.sleep(min(2.0, args.seconds or 2.0))
            events, seen = store.events_since(seen)
            for event in events:
                print(f"{event.source}: {event.subject}: {event.kind}: {event.detail}")
            print(summary_line(store), flush=True)
    finally:
        task.cancel()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="factoryfloor telemetry",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
