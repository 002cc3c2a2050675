"""The sources a facility's telemetry settings ask for, ready for the supervisor."""

from __future__ import annotations

import json
import socket

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.telemetry_settings import TelemetrySettings
from factoryfloor.backend.telemetry.feedback import FeedbackSink
from factoryfloor.backend.telemetry.runner import Source
from factoryfloor.backend.telemetry.series import facility_key
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.backend.telemetry.sources.nvml_source import NvmlSource
from factoryfloor.backend.telemetry.sources.prometheus import PrometheusSource
from factoryfloor.backend.telemetry.sources.simulator import (
    FacilitySimulator,
    SimulatorSource,
    TraceProfile,
    trace_profile,
)
from factoryfloor.backend.telemetry.store import TelemetryStore
from factoryfloor.resources import H100_NVML_TRACE, bundled_path


def bundled_trace() -> TraceProfile:
    """The recorded H100 trace shipped in ``resources/`` (idle, matmul, token generation)."""
    raw = bundled_path(H100_NVML_TRACE).read_bytes()
    return trace_profile(json.loads(raw)["series_4hz"])


def build_sources(
    design: Design, settings: TelemetrySettings, store: TelemetryStore, simulator_hz: float = 4.0
) -> list[Source]:
    sources: list[Source] = []
    if settings.simulate:
        trace = bundled_trace() if settings.replay_trace else None
        simulator = FacilitySimulator(design, trace=trace, bms_points=settings.mqtt is None)
        sources.append(SimulatorSource(simulator, store, simulator_hz))
    if settings.nvml:
        sources.append(NvmlSource(store, node=socket.gethostname()))
    if settings.mqtt is not None:
        sources.append(MqttSource(settings.mqtt, FeedbackSink(store)))  # control reads it
    if settings.metrics:

        def facility_power_w() -> float | None:
            latest = store.latest(facility_key("it_power_kw"))
            return None if latest is None else latest[1] * 1000.0

        endpoints = [(m.url, m.server_kind, m.rack_id, m.model, m.scrape_interval_s)
                     for m in settings.metrics]  # fmt: skip
        sources.append(PrometheusSource(endpoints, store, facility_power_w=facility_power_w))
    return sources
