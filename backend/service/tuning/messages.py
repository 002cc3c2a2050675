"""What windows and the service say about tokens-per-joule tuning.

A window starts a sweep on a group of racks (``StartTuning``), may cancel it (``CancelTuning``)
and, once it is measured, apply its recommendation (``ApplyTuning``); every window hears each
change (``TuningUpdated``: the sweep whole, so a window that attaches late draws it all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from factoryfloor.backend.service.tuning.sweep import Lever, StepResult
from factoryfloor.backend.telemetry.protocol import Notification, Request, register

TuningState = Literal["sweeping", "restoring", "measured", "applied", "cancelled", "failed"]
"""``sweeping`` (stepping the lever), ``restoring`` (putting the previous settings back, at the
end or on cancel), ``measured`` (previous settings back, a recommendation to apply),
``applied`` (the recommendation set; its tokens per joule watched), ``cancelled``, ``failed``
(a step or the restore was not confirmed: the reason says which)."""


@dataclass(frozen=True, slots=True)
class StartTuning(Request):
    """Sweep the racks ``rack_ids`` as one group: answered ``Accepted`` once the first step is
    sent, or ``Refused`` (the role, a sweep already running, racks without GPUs)."""

    msg_type: ClassVar[str] = "start_tuning"
    rack_ids: tuple[str, ...]
    floor_fraction: float = 0.95
    """Tokens/s kept: at least this share of the unconstrained rate."""
    retune_on_drift: bool = False
    """Sweep again, by itself, when the applied setting's tokens per joule leaves its band."""


@dataclass(frozen=True, slots=True)
class CancelTuning(Request):
    msg_type: ClassVar[str] = "cancel_tuning"


@dataclass(frozen=True, slots=True)
class ApplyTuning(Request):
    """Set the measured sweep's recommendation on the group (operators up, audited)."""

    msg_type: ClassVar[str] = "apply_tuning"


@dataclass(frozen=True, slots=True)
class GetTuning(Request):
    """The sweep now: answered ``Accepted``, then a ``TuningUpdated`` to this window alone."""

    msg_type: ClassVar[str] = "get_tuning"


@dataclass(frozen=True, slots=True)
class TuningProgress:
    group: str
    user: str
    state: TuningState
    lever: Lever
    levels: tuple[float, ...]
    """Every setting the sweep steps through, W or MHz, from the top down."""
    step: int
    results: tuple[StepResult, ...]
    floor_tokens_per_s: float | None
    recommended: float | None
    """The recommended setting, once anything is measured."""
    drifted: bool = False
    """The applied setting's tokens per joule has left its band."""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TuningUpdated(Notification):
    msg_type: ClassVar[str] = "tuning_updated"
    progress: TuningProgress


TuningRequest = StartTuning | CancelTuning | ApplyTuning | GetTuning

register(StartTuning, CancelTuning, ApplyTuning, GetTuning, TuningUpdated)
