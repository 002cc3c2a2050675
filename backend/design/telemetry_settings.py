"""Telemetry settings a design file holds: which sources feed the running facility.

With nothing configured the facility is simulated, so the app runs with no GPU and no broker.
Secrets are never stored here (the MQTT password comes from the environment).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from factoryfloor.backend.design.model_base import EntityId, StrictModel
from factoryfloor.backend.design.mqtt_settings import MqttConfig


class MetricsEndpoint(StrictModel):
    """An inference server's Prometheus ``/metrics`` page."""

    url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")
    server_kind: Literal["vllm", "sglang", "dynamo", "tgi", "triton"] | None = None
    """None: detected from the page."""
    rack_id: EntityId | None = None
    """The rack the server runs on, for tokens/s per rack and tokens per joule."""
    model: str | None = Field(default=None, max_length=200)
    """The model served, for servers whose page does not name it (TGI)."""
    scrape_interval_s: float = Field(default=1.0, ge=0.1, le=3600.0)
    """How often the page is read. A large page (a Dynamo frontend over many workers) may be
    worth reading less often; a page is due whole within 0.8 of this."""


MAX_SERIES_DEFAULT = 250_000
"""16,384 GPUs x 12 quantities (196,608 series) with room for the racks, CDUs, loops, token
rates and facility figures around them, and for agents that send a few more quantities."""
MAX_SERIES_LIMIT = 4_000_000
"""The most a design may ask for: the store reserves address space for every series up front
(about 900 bytes each, touched only as series arrive)."""


class TelemetrySettings(StrictModel):
    simulate: bool = True
    """Simulate the facility (the default when no real source is configured)."""
    replay_trace: bool = False
    """Drive the simulated GPUs with the recorded H100 trace instead of synthetic phases."""
    nvml: bool = False
    """Read this machine's GPUs through NVML."""
    mqtt: MqttConfig | None = None
    """The broker of the facility sensors (DSX BMS) and node agents, with the point mapping."""
    metrics: list[MetricsEndpoint] = Field(default_factory=list)
    max_series: int = Field(default=MAX_SERIES_DEFAULT, ge=1, le=MAX_SERIES_LIMIT)
    """The most series the running facility keeps. Readings of new series beyond it are
    refused and counted (an event says so), so that a flood of new names, a stranger's or a
    misconfigured agent's, cannot grow the backend's memory without bound; series already
    known keep updating."""
