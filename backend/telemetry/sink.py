"""The one interface every telemetry source writes through, and the series-key convention.

Sources (NVML, MQTT, Prometheus scrapes, the simulator) hand readings to a ``TelemetrySink`` in
batches of parallel columns rather than one object per reading: per-reading overhead dominates
ingest at tens of thousands of readings per second, and columns go straight into numpy.
Discrete happenings (a source connected or lost, a payload rejected, readings dropped) are
``SourceEvent``s, shown to the operator and never allowed to stop the stream.

Series keys are slash-separated paths ending in a quantity with its unit:

- ``gpu/{node}/{index}/{quantity}``: ``util_pct``, ``mem_util_pct``, ``mem_used_bytes``,
  ``mem_total_bytes``, ``temp_c``, ``mem_temp_c``, ``power_w`` (1 s average),
  ``power_instant_w``, ``energy_j`` (since driver load), ``sm_clock_mhz``, ``mem_clock_mhz``,
  ``clock_event_reasons`` (the NVML bitmask), ``pstate``, ``ecc_volatile_total``,
  ``power_limit_w``, ``power_limit_min_w``, ``power_limit_max_w``, ``pcie_tx_kbps``,
  ``pcie_rx_kbps``
- ``rack/{rack_id}/{quantity}``: ``power_kw``, ``supply_temp_c``, ``return_temp_c``,
  ``flow_lpm``, ``dp_kpa``, ``valve_pct``, ``leak`` (1 leak, 0 none), ``tokens_per_s``
- ``cdu/{cdu_id}/{quantity}``: ``supply_temp_c``, ``return_temp_c``, ``flow_lpm``,
  ``pressure_kpa``, ``dp_kpa``, ``pump_rpm``, ``valve_pct``, ``heat_kw``
- ``loop/{loop_id}/heat_kw``
- ``tokens/{server}/{model}/tokens_per_s`` and ``.../prompt_tokens_per_s`` (server is
  ``host:port``)
- ``facility/{quantity}``: ``it_power_kw``, ``tokens_per_s``, ``tokens_per_j``, and
  ``facility/model/{model}/tokens_per_s`` (token figures of different models are kept apart)

Every key segment that comes from outside (model names such as ``meta-llama/Llama-3.1-8B``,
tag paths) has ``%`` and ``/`` percent-encoded, so a key always splits on ``/`` into its parts;
``urllib.parse.unquote`` gives the name back.

Quality follows the DSX BMS convention: 1 is good; anything else is a reading that is shown but
never plotted or alarmed on as good.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

GOOD = 1

EventKind = Literal["status", "rejected", "dropped"]


@dataclass(frozen=True, slots=True)
class SourceEvent:
    source: str
    """Which source: ``nvml``, ``mqtt``, ``prometheus``, ``simulator``."""
    kind: EventKind
    """``status``: the source's state changed (``detail`` says to what: connected, reconnecting,
    no library, no driver, GPU lost, ...); ``rejected``: a payload or sample was refused (detail
    says why); ``dropped``: readings were lost (detail says how many, e.g. a sequence gap)."""
    subject: str
    """What it is about: a topic, an endpoint URL, a GPU, a broker address."""
    detail: str
    time_s: float = field(default_factory=time.time)


class TelemetrySink(Protocol):
    def write(
        self,
        keys: Sequence[str],
        times_s: Sequence[float],
        values: Sequence[float],
        quality: Sequence[int] | None = None,
    ) -> None:
        """A batch of readings as parallel columns (epoch seconds; quality None = all good)."""

    def event(self, event: SourceEvent) -> None: ...


class RecordingSink:
    """Keeps everything written, in order: for headless tools and for tests of sources."""

    def __init__(self) -> None:
        self.readings: list[tuple[str, float, float, int]] = []
        self.events: list[SourceEvent] = []

    def write(
        self,
        keys: Sequence[str],
        times_s: Sequence[float],
        values: Sequence[float],
        quality: Sequence[int] | None = None,
    ) -> None:
        qualities = quality if quality is not None else [GOOD] * len(keys)
        self.readings.extend(zip(keys, times_s, values, qualities, strict=True))

    def event(self, event: SourceEvent) -> None:
        self.events.append(event)

    def latest(self) -> dict[str, tuple[float, float, int]]:
        """key -> (time, value, quality) of the last reading of each series."""
        return {key: (t, v, q) for key, t, v, q in self.readings}
