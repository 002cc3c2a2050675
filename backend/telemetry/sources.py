"""The sources a facility's telemetry settings ask for, ready for the supervisor."""

from __future__ import annotations

import json
import socket
from importlib import resources

from backend.model import Design
from backend.telemetry.mqtt_source import MqttSource
from backend.telemetry.nvml_source import NvmlSource
from backend.telemetry.prometheus import PrometheusSource
from backend.telemetry.runner import Source
from backend.telemetry.settings import TelemetrySettings
from backend.telemetry.simulator import (
    FacilitySimulator,
    SimulatorSource,
    TraceProfile,
    trace_profile,
)
from backend.telemetry.store import TelemetryStore


def bundled_trace() -> TraceProfile:
    """The recorded H100 trace shipped in ``resources/`` (idle, matmul, token generation)."""
    raw = resources.files("resources").joinpath("h100_nvml_trace.json").read_bytes()
    return trace_profile(json.loads(raw)["series_4hz"])


def build_sources(
    design: Design, settings: TelemetrySettings, store: TelemetryStore, simulator_hz: float = 4.0
) -> list[Source]:
    sources: list[Source] = []
    if settings.simulate:
        trace = bundled_trace() if settings.replay_trace else None
        sources.append(SimulatorSource(FacilitySimulator(design, trace=trace), store, simulator_hz))
    if settings.nvml:
        sources.append(NvmlSource(store, node=socket.gethostname()))
    if settings.mqtt is not None:
        sources.append(MqttSource(settings.mqtt, store))
    if settings.metrics:

        def facility_power_w() -> float | None:
            latest = store.latest("facility/it_power_kw")
            return None if latest is None else latest[1] * 1000.0

        endpoints = [(m.url, m.server_kind, m.rack_id, m.model) for m in settings.metrics]
        sources.append(PrometheusSource(endpoints, store, facility_power_w=facility_power_w))
    return sources
