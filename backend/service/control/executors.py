"""What carries a command to the equipment: one protocol for GPUs, one for the facility.

The service's control desk knows only these. GPUs are reached through NVML on the service's own
host or through the simulator's GPUs (later, a node agent carries the same calls to its host);
CDUs and racks through the BMS over MQTT (DSX Exchange integration-written points) or the
simulator's small BMS. Every call that changes something returns what the equipment reports
afterwards, read back, so "confirmed" always means the equipment said so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from factoryfloor.backend.service.control.commands import FacilityCommand
from factoryfloor.backend.telemetry.placement import HostGpu

FailureKind = Literal[
    "no_permission",
    "not_supported",
    "out_of_range",
    "gpu_lost",
    "not_writable",
    "unconfirmed",
    "error",
]
"""Why a command did not take: needs root; the GPU or driver cannot; outside what the equipment
allows; the GPU is gone; the BMS does not offer this point to this integration; no read-back
matched in time; anything else."""


class ControlFailure(Exception):
    """A change that did not happen, or whose outcome is unknown; ``reason`` says so in words an
    operator reads ("needs root (Administrator on Windows)", "out of range: allowed 200-700 W")."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ValueRange:
    low: float
    high: float

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def words(self, unit: str) -> str:
        return f"{self.low:g}-{self.high:g} {unit}"


class GpuControl(Protocol):
    """The GPUs one executor reaches (the service's host through NVML, or the simulator)."""

    def reaches(self, gpu: HostGpu) -> bool:
        """Whether ``gpu`` is one of this executor's."""
        ...

    async def power_limit(self, gpu: HostGpu) -> tuple[float, ValueRange]:
        """The enforced power limit now and the range allowed, in W."""
        ...

    async def set_power_limit(self, gpu: HostGpu, limit_w: float) -> float:
        """Set the limit; returns the enforced limit read back, in W."""
        ...

    async def clock_range(self, gpu: HostGpu) -> ValueRange:
        """The SM clocks the GPU supports, in MHz."""
        ...

    async def lock_clocks(self, gpu: HostGpu, min_mhz: float, max_mhz: float) -> float:
        """Lock the SM clock; returns the SM clock read back afterwards, in MHz."""
        ...

    async def reset_clocks(self, gpu: HostGpu) -> float:
        """Unlock the SM clock; returns the SM clock read back afterwards, in MHz."""
        ...


class FacilityControl(Protocol):
    """The BMS: CDU setpoints and rack isolation, requested and confirmed by its own points."""

    @property
    def confirm_timeout_s(self) -> float:
        """How long the BMS has to show a request reached (the design's setting)."""
        ...

    def current(self, command: FacilityCommand) -> float | None:
        """What the point the command changes reads now (its feedback), if known."""
        ...

    async def request(self, command: FacilityCommand, timeout_s: float) -> float:
        """Publish the request; returns the BMS's feedback once it reaches the requested value.
        ``ControlFailure("unconfirmed", ...)`` if it does not within ``timeout_s``;
        ``ControlFailure("not_writable", ...)`` if the BMS offers the point to another
        integration or to none (then nothing is published)."""
        ...
