"""What windows and the service say about grid load targets: each feed's target and what
meeting it costs (``GridChanged``, to every window), and an operator's or engineer's requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from factoryfloor.backend.telemetry.protocol import Notification, Request, register


@dataclass(frozen=True, slots=True)
class RackCapView:
    rack_id: str
    limit_w: float
    """The per-GPU limit proposed (or set)."""
    power_w: float
    tokens_per_s: float


@dataclass(frozen=True, slots=True)
class FeedGridView:
    """A feed as the grid desk sees it now. Powers in W; None where not known."""

    feed_id: str
    feed_tag: str
    load_w: float | None
    target_w: float | None
    """The active target; None when none is."""
    start_s: float | None
    end_s: float | None
    scheduled: int
    """Targets received that start later."""
    compliant: bool | None
    breach: str
    """The last breach alert in words ("" for none, or resolved)."""
    shed_w: float
    """How much the proposal sheds (0 when the feed is within its target)."""
    tokens_lost_per_s: float | None
    """What the token-aware proposal costs; None without a proposal."""
    uniform_tokens_lost_per_s: float | None
    """What uniform proportional capping would cost for the same budget."""
    shortfall_w: float
    """Load the proposal cannot shed even at every rack's lowest limit."""
    caps: tuple[RackCapView, ...]
    """The proposal's capped racks (or, once applied, the caps set)."""
    applied: bool
    applied_by: str = ""
    unknown_racks: int = 0
    """Racks of the feed with no curve or readings: left out of the proposal."""
    agent_load_w: float | None = None
    """The load the DSX Flex agent last reported for the feed (``powerstate.status``)."""
    agent_compliant: bool | None = None


@dataclass(frozen=True, slots=True)
class GridRefusal:
    time_s: float
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class GridChanged(Notification):
    msg_type: ClassVar[str] = "grid_changed"
    feeds: tuple[FeedGridView, ...]
    policy_enabled: bool
    policy_ceiling_kw: float
    policy_by: str
    refusals: tuple[GridRefusal, ...]
    """The latest events refused (unsigned, badly signed, expired, unknown key, malformed)."""
    connected: bool
    """Whether the grid link is subscribed to a broker."""


@dataclass(frozen=True, slots=True)
class GetGrid(Request):
    """Answered ``Accepted``, then a ``GridChanged`` to this window alone."""

    msg_type: ClassVar[str] = "get_grid"


@dataclass(frozen=True, slots=True)
class ApplyGridProposal(Request):
    """Cap the feed's racks as proposed now (operators up; audited; the outcome published)."""

    msg_type: ClassVar[str] = "apply_grid_proposal"
    feed_id: str


@dataclass(frozen=True, slots=True)
class RemoveGridCaps(Request):
    """Put back the limits the feed's racks had before its caps (operators up)."""

    msg_type: ClassVar[str] = "remove_grid_caps"
    feed_id: str


@dataclass(frozen=True, slots=True)
class SetGridPolicy(Request):
    """Meet targets without asking, shedding at most ``ceiling_kw`` per feed (engineers only)."""

    msg_type: ClassVar[str] = "set_grid_policy"
    enabled: bool
    ceiling_kw: float


GridRequest = GetGrid | ApplyGridProposal | RemoveGridCaps | SetGridPolicy

register(GridChanged, GetGrid, ApplyGridProposal, RemoveGridCaps, SetGridPolicy)
