"""``factoryfloor telemetry``: run the telemetry sources headless and print what they report.

For trying a site's sources (a broker, inference servers, the GPUs of this machine) without
the window, and for the simulator on its own. It runs the same sources, supervisor and store
as the backend process, on this process's asyncio loop (no GUI to protect here).

Each line's tokens/s is the rate over the time since the line before, as Prometheus ``rate()``
gives it, not the latest reading: a server whose counter moves in steps reads 0 in most
scrapes and a spike in one, and the latest of those says little.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from factoryfloor.backend.design.design_file import format_path, load_design
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.design.report import fmt
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint, TelemetrySettings
from factoryfloor.backend.telemetry.readings import Readings
from factoryfloor.backend.telemetry.runner import run_sources
from factoryfloor.backend.telemetry.series import facility_key
from factoryfloor.backend.telemetry.sources.assemble import build_sources
from factoryfloor.backend.telemetry.store import TelemetryStore

TOKENS_PER_S = facility_key("tokens_per_s")
SUMMARY_KEYS = (  # key, label, unit, decimals
    (facility_key("it_power_kw"), "IT power", " kW", 1),
    (TOKENS_PER_S, "tokens/s", "", 0),
    (facility_key("tokens_per_j"), "tokens/J", "", 3),
)
METRICS_FIELDS = ("url", "server_kind", "rack_id", "scrape_interval_s")


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
    add("--metrics", action="append", default=[], type=metrics_endpoint,
        metavar="URL[,KIND[,RACK[,SCRAPE_S]]]",
        help="an inference server's /metrics page (vllm, sglang, dynamo, tgi, triton; kind "
        "detected if left out), read every SCRAPE_S seconds (default 1); repeatable")  # fmt: skip
    add(
        "--every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="print a line this often (default 2 s); its tokens/s is the rate over that time",
    )


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
        updates["metrics"] = [*settings.metrics, *args.metrics]
    return settings.model_copy(update=updates)


def metrics_endpoint(spec: str) -> MetricsEndpoint:
    """``URL[,KIND[,RACK[,SCRAPE_S]]]`` (empty fields take their defaults) as an endpoint;
    ArgumentTypeError naming the field and the reason if it is not one."""
    parts = spec.split(",")
    if len(parts) > len(METRICS_FIELDS):
        raise argparse.ArgumentTypeError(
            f"{spec!r}: at most {len(METRICS_FIELDS)} fields, URL,KIND,RACK,SCRAPE_S"
        )
    fields: dict[str, object] = {k: v for k, v in zip(METRICS_FIELDS, parts, strict=False) if v}
    if "scrape_interval_s" in fields:
        try:
            fields["scrape_interval_s"] = float(fields["scrape_interval_s"])
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{spec!r}: scrape_interval_s: not a number of seconds"
            ) from None
    try:
        return MetricsEndpoint(**fields)
    except ValidationError as error:
        problems = "; ".join(f"{format_path(e['loc'])}: {e['msg']}" for e in error.errors())
        raise argparse.ArgumentTypeError(f"{spec!r}: {problems}") from None


def rate_over(readings: Readings) -> float | None:
    """The rate over the span of ``readings`` of a rate, each the mean rate since the reading
    before it (as a counter's rate per scrape is): the time-weighted mean, which is the
    counter's increase over the span divided by its length. None with fewer than two."""
    times_s = readings.times_s
    span_s = float(times_s[-1] - times_s[0]) if len(times_s) >= 2 else 0.0
    if span_s <= 0.0:
        return None
    values = np.nan_to_num(readings.values[1:].astype(np.float64))
    return float(np.sum(values * np.diff(times_s)) / span_s)


class TokenRateLines:
    """The tokens/s of each printed line: the rate since the previous line's newest reading.
    A line with no new reading repeats the last rate."""

    def __init__(self) -> None:
        self._since_s = -math.inf
        self._rate: float | None = None

    def rate(self, store: TelemetryStore, now_s: float) -> float | None:
        readings = store.window(TOKENS_PER_S, self._since_s, now_s)
        rate = rate_over(readings)
        if rate is not None:
            self._since_s, self._rate = float(readings.times_s[-1]), rate
        return self._rate


def mqtt_at(address: str, design_mqtt: MqttConfig | None) -> MqttConfig:
    """The design's MQTT settings (defaults if it has none) with the broker at ``address``,
    ``HOST[:PORT]``: only where to connect changes, so mapped points, prefixes, TLS and login
    still apply. Without a port, the design's (1883 by default)."""
    host, _, port = address.partition(":")
    base = design_mqtt or MqttConfig()
    where: dict[str, object] = {"host": host} | ({"port": int(port)} if port else {})
    return MqttConfig.model_validate(base.model_dump() | where)


def summary_line(store: TelemetryStore, tokens: TokenRateLines) -> str:
    parts = []
    for key, label, unit, decimals in SUMMARY_KEYS:
        if key == TOKENS_PER_S:
            value = tokens.rate(store, time.time())
        else:
            latest = store.latest(key)
            value = None if latest is None else latest.value
        parts.append(f"{label} {fmt(value, decimals)}{unit}")
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
    tokens = TokenRateLines()
    try:
        while not args.seconds or time.monotonic() - started < args.seconds:
            await asyncio.sleep(min(args.every, args.seconds or args.every))
            events, seen = store.events_since(seen)
            for event in events:
                print(f"{event.source}: {event.subject}: {event.kind}: {event.detail}")
            print(summary_line(store, tokens), flush=True)
    finally:
        task.cancel()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="factoryfloor telemetry",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    add_arguments(parser)
    args = parser.parse_args(argv)
    if not args.every > 0:
        parser.error(f"--every: must be more than 0 s (got {args.every:g})")
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
