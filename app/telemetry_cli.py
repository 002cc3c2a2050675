"""``factoryfloor telemetry``: run the telemetry sources headless and print what they report.

For trying a site's sources (a broker, inference servers, the GPUs of this machine) without
the window, and for the simulator on its own. It runs the same sources, supervisor and store
as the backend process, on this process's asyncio loop (no GUI to protect here).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.design.report import fmt
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint, TelemetrySettings
from factoryfloor.backend.telemetry.runner import run_sources
from factoryfloor.backend.telemetry.series import facility_key
from factoryfloor.backend.telemetry.sources.assemble import build_sources
from factoryfloor.backend.telemetry.store import TelemetryStore

SUMMARY_KEYS = (  # key, label, unit, decimals
    (facility_key("it_power_kw"), "IT power", " kW", 1),
    (facility_key("tokens_per_s"), "tokens/s", "", 0),
    (facility_key("tokens_per_j"), "tokens/J", "", 3),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("file", type=Path, help="design file (.json); its telemetry settings are the default")
    add("--seconds", type=float, default=0.0, help="stop after this long (default: until Ctrl+C)")
    add("--no-simulator", action="store_true", help="only real sources")
    add("--replay", action="store_true",
        help="drive the simulated GPUs with the recorded H100 trace")  # fmt: skip
    add("--nvml", action="store_true", help="read this machine's GPUs through NVML")
    add("--mqtt", metavar="HOST[:PORT]",
        help="subscribe to this broker (DSX BMS, node agents); the design's other MQTT settings "
        "(points, prefixes, TLS, login) still apply, and its port if none is given")  # fmt: skip
    add("--metrics", action="append", default=[], metavar="URL[,KIND[,RACK]]",
        help="an inference server's /metrics page (vllm, sglang, dynamo, tgi, triton; kind "
        "detected if left out); repeatable")  # fmt: skip


def settings_from(args: argparse.Namespace, design: Design) -> TelemetrySettings:
    """The design's telemetry settings with the command line's additions."""
    settings = design.telemetry.model_copy()
    updates: dict[str, object] = {}
    if args.no_simulator:
        updates["simulate"] = False
    if args.replay:
        updates["replay_trace"] = True
    if args.nvml:
        updates["nvml"] = True
    if args.mqtt:
        updates["mqtt"] = mqtt_at(args.mqtt, settings.mqtt)
    if args.metrics:
        fields = ("url", "server_kind", "rack_id")
        updates["metrics"] = [*settings.metrics, *(
            MetricsEndpoint(**{k: v for k, v in zip(fields, spec.split(","), strict=False) if v})
            for spec in args.metrics
        )]  # fmt: skip
    return settings.model_copy(update=updates)


def mqtt_at(address: str, design_mqtt: MqttConfig | None) -> MqttConfig:
    """The design's MQTT settings (defaults if it has none) with the broker at ``address``,
    ``HOST[:PORT]``: only where to connect changes, so mapped points, prefixes, TLS and login
    still apply. Without a port, the design's (1883 by default)."""
    host, _, port = address.partition(":")
    base = design_mqtt or MqttConfig()
    where: dict[str, object] = {"host": host} | ({"port": int(port)} if port else {})
    return MqttConfig.model_validate(base.model_dump() | where)


def summary_line(store: TelemetryStore) -> str:
    parts = []
    for key, label, unit, decimals in SUMMARY_KEYS:
        latest = store.latest(key)
        parts.append(f"{label} {fmt(None if latest is None else latest[1], decimals)}{unit}")
    return f"{time.strftime('%H:%M:%S')}  " + " · ".join(parts) + f" · {len(store)} series"


async def run(args: argparse.Namespace) -> int:
    design = load_design(args.file)
    settings = settings_from(args, design)
    store = TelemetryStore(max_series=settings.max_series)
    sources = build_sources(design, settings, store)
    if not sources:
        print("nothing to run: give --nvml, --mqtt or --metrics, or leave the simulator on")
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
