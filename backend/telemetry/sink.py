"""The one interface every telemetry source writes through.

Sources (NVML, MQTT, Prometheus scrapes, the simulator) hand readings to a ``TelemetrySink`` in
batches of parallel columns rather than one object per reading: per-reading overhead dominates
ingest at tens of thousands of readings per second, and columns go straight into numpy.
Discrete happenings (a source connected or lost, a payload rejected, readings dropped) are
``SourceEvent``s, shown to the operator and never allowed to stop the stream.

Series keys (``gpu/{node}/{index}/power_w``, ``rack/{id}/supply_temp_c``, ...) are built and parsed
by ``series.py`` alone, where the whole convention is listed.

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
