"""What an operator can ask the facility to do: typed commands that travel as they are.

A command names its targets the way the equipment does (a GPU by its host and NVML index, a CDU
or rack by its plan id), never by a window's selection, so the very same command can be carried
to another host by a node agent later. Each kind says the least role that may send it and what
it changes in words, which the confirmation dialog, the progress list and the audit log all use.

Roles: GPU power limits, clock locks and rack isolation are an operator's (a leak must be
isolated by whoever is on shift, at once); a CDU's supply temperature changes the conditions of
every rack on its loop, an engineer's decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.telemetry.placement import HostGpu

NOT_KEPT_OVER_REBOOT = "A GPU's power limit and locked clocks do not survive a reboot of its host."


def gpu_name(gpu: HostGpu) -> str:
    """How commands, progress and the audit log name one GPU: ``node7 GPU 3``."""
    return f"{gpu.node} GPU {gpu.index}"


@dataclass(frozen=True, slots=True)
class SetPowerLimit:
    """Each GPU's power limit, in W, within the range NVML reports for it."""

    kind: Literal["power_limit"] = "power_limit"
    gpus: tuple[HostGpu, ...] = ()
    limit_w: float = 0.0
    minimum_role: ClassVar[Role] = Role.OPERATOR

    def describe(self) -> str:
        return f"power limit {self.limit_w:g} W on {_gpus_words(self.gpus)}"


@dataclass(frozen=True, slots=True)
class LockClocks:
    """Each GPU's SM clock locked between ``min_mhz`` and ``max_mhz`` (equal: one clock), within
    the clocks it supports: memory-bound decode often draws far below any useful power cap, so
    the clock is the lever that saves energy there."""

    kind: Literal["lock_clocks"] = "lock_clocks"
    gpus: tuple[HostGpu, ...] = ()
    min_mhz: float = 0.0
    max_mhz: float = 0.0
    minimum_role: ClassVar[Role] = Role.OPERATOR

    def describe(self) -> str:
        clocks = (f"{self.min_mhz:g} MHz" if self.min_mhz == self.max_mhz
                  else f"{self.min_mhz:g}-{self.max_mhz:g} MHz")  # fmt: skip
        return f"SM clock locked at {clocks} on {_gpus_words(self.gpus)}"


@dataclass(frozen=True, slots=True)
class ResetClocks:
    """Each GPU's SM clock back to the driver's own choice."""

    kind: Literal["reset_clocks"] = "reset_clocks"
    gpus: tuple[HostGpu, ...] = ()
    minimum_role: ClassVar[Role] = Role.OPERATOR

    def describe(self) -> str:
        return f"SM clock unlocked on {_gpus_words(self.gpus)}"


@dataclass(frozen=True, slots=True)
class SetCduSupplyTemp:
    """A CDU's supply-temperature setpoint, requested from the BMS (``LiquidTemperatureSpRequest``)
    and confirmed when the BMS's own supply temperature setpoint point reaches it."""

    kind: Literal["cdu_supply_temp"] = "cdu_supply_temp"
    cdu_id: str = ""
    temp_c: float = 0.0
    minimum_role: ClassVar[Role] = Role.ENGINEER

    def describe(self) -> str:
        return f"{self.cdu_id} supply temperature setpoint {self.temp_c:g} °C"


@dataclass(frozen=True, slots=True)
class IsolateRack:
    """A rack's liquid or electrical isolation requested (``isolated``) or released, through the
    BMS (``RackLiquidIsolationRequest`` / ``RackElectricalIsolationRequest``), confirmed when its
    isolation status point says so."""

    kind: Literal["rack_isolation"] = "rack_isolation"
    rack_id: str = ""
    circuit: Literal["liquid", "electrical"] = "liquid"
    isolated: bool = True
    minimum_role: ClassVar[Role] = Role.OPERATOR

    def describe(self) -> str:
        action = "isolate" if self.isolated else "release the isolation of"
        return f"{action} {self.rack_id} ({self.circuit})"


GpuCommand = SetPowerLimit | LockClocks | ResetClocks
FacilityCommand = SetCduSupplyTemp | IsolateRack
Command = Annotated[
    SetPowerLimit | LockClocks | ResetClocks | SetCduSupplyTemp | IsolateRack,
    Field(discriminator="kind"),
]
"""Any command, as it travels in a message (``kind`` tells which)."""


def _gpus_words(gpus: tuple[HostGpu, ...]) -> str:
    if len(gpus) == 1:
        return gpu_name(gpus[0])
    hosts = sorted({gpu.node for gpu in gpus})
    where = hosts[0] if len(hosts) == 1 else f"{len(hosts)} hosts"
    return f"{len(gpus):,} GPUs on {where}"


# --- What became of a command --------------------------------------------------------------

TargetState = Literal["sent", "confirmed", "failed", "unconfirmed", "refused"]
"""One target's outcome: ``sent`` (under way), ``confirmed`` (read back as asked), ``failed``
(the equipment said no, with the reason), ``unconfirmed`` (no read-back matched in time),
``refused`` (never sent: wrong role, out of range)."""


@dataclass(frozen=True, slots=True)
class TargetResult:
    """One target of a command: a GPU (``gpu_name``), a CDU or a rack."""

    target: str
    state: TargetState
    old_value: float | None = None
    """What it was before (the limit, the setpoint, 1/0 isolated), where known."""
    new_value: float | None = None
    """What was asked."""
    read_back: float | None = None
    """What the equipment reports now: the confirmation."""
    reason: str = ""
    """Why it failed, was refused or is unconfirmed, in words: "needs root", "not supported",
    "out of range: this GPU allows 200-700 W", "GPU lost"."""


@dataclass(frozen=True, slots=True)
class CommandProgress:
    """A command as every window shows it, from sent to its last target's outcome."""

    command_id: str
    user: str
    description: str
    """``Command.describe()``: what was asked, in words."""
    results: tuple[TargetResult, ...]
    started_s: float
    finished_s: float | None = None
    """None while any target is still ``sent``."""
    notes: tuple[str, ...] = field(default=())
    """What the operator must know ("does not survive a reboot")."""

    def cut_short(self, reason: str, time_s: float) -> CommandProgress:
        """This command as it ends when its service stops before the last read-back: every
        target still ``sent`` is ``unconfirmed`` (whether it took is unknown), with ``reason``."""
        results = tuple(replace(r, state="unconfirmed", reason=reason) if r.state == "sent"
                        else r for r in self.results)  # fmt: skip
        return replace(self, results=results, finished_s=time_s)

    @property
    def state(self) -> TargetState:
        """The command's state: ``sent`` while any target is, else the worst outcome."""
        states = {r.state for r in self.results}
        for state in ("sent", "refused", "failed", "unconfirmed"):
            if state in states:
                return state  # type: ignore[return-value]
        return "confirmed"
