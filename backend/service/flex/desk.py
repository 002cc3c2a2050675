"""The grid desk: DSX Flex load targets received, verified, held per feed, met by caps that lose
the fewest tokens, and the outcome published.

- **Received**: every event's envelope is read and its JWS verified against the keys trusted
  for its source before anything in it is used. A refused event (unsigned, badly signed,
  expired, unknown key, malformed, an unknown feed tag) changes nothing; its reason goes to the
  audit log and the service log, and windows list it.
- **Held**: per feed, the targets received with their intervals; a target whose interval has
  begun is active (the latest received wins); a null constraint lifts the feed's targets.
- **Proposed**: whenever a feed is over its active target, the token-aware plan over its racks'
  live curves (``LiveCurves``), beside uniform proportional capping for the same budget. The
  racks' power not drawn by their GPUs is taken as fixed: only GPU caps shed load.
- **Applied** on an operator's request, or, where an engineer enabled the policy, by itself
  when the load to shed is within the policy's ceiling; each rack's caps go through the control
  desk (range check, read-back, audit) as one command, and the outcome is published, signed,
  as ``grid.powerbreach.enforcement.v1`` (``applied``). The breach id is the breach alert's for
  that feed when one is active, else the load target's correlation id: the contract has no
  other id for an enforcement that answers a target rather than a breach.
- **Removed** when the target is lifted or its interval ends (or an operator asks): the limits
  the racks had before are set again and ``reverted`` is published.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.control.commands import SetPowerLimit
from factoryfloor.backend.service.control.desk import Audit, CommandRefused, ControlDesk
from factoryfloor.backend.service.control.scope import rack_gpus
from factoryfloor.backend.service.flex.envelope import FlexError, build_event, read_event
from factoryfloor.backend.service.flex.events import (
    LOAD_TARGET_SET,
    POWER_BREACH_ALERT,
    POWER_BREACH_ENFORCEMENT,
    POWER_STATE_STATUS,
    BreachAlert,
    FeedStatus,
    LoadTarget,
    ResourceResult,
    breach_alert,
    enforcement_data,
    feed_statuses,
    load_targets,
)
from factoryfloor.backend.service.flex.live_curves import LiveCurves
from factoryfloor.backend.service.flex.messages import (
    FeedGridView,
    GridChanged,
    GridRefusal,
    RackCapView,
)
from factoryfloor.backend.service.flex.settings import GridSettings
from factoryfloor.backend.service.flex.signing import KeyRing, SignatureRefused
from factoryfloor.backend.service.flex.state_file import load_state, save_state
from factoryfloor.backend.service.power.shedding import CapPlan, token_aware_caps, uniform_caps
from factoryfloor.backend.service.roles import Role, permits
from factoryfloor.backend.telemetry.store import Snapshot

log = logging.getLogger(__name__)

POLICY_FILE = "grid_policy.json"
KEPT_REFUSALS = 20
COMPLIANCE_TOLERANCE = 0.005
"""A feed within 0.5 % of its target is compliant: the measuring noise of a rack's power."""


class GridRefused(Exception):
    """Why a window's grid request was refused."""


@dataclass(slots=True)
class Applied:
    """Caps set on a feed: each rack's limit before, the target they answer, who set them."""

    previous_w: dict[str, float]
    caps: tuple[RackCapView, ...]
    breach_id: str
    user: str
    role: Role


@dataclass(slots=True)
class FeedGrid:
    targets: list[LoadTarget] = field(default_factory=list)
    breach: BreachAlert | None = None
    status: FeedStatus | None = None
    applied: Applied | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    enabled: bool = False
    ceiling_kw: float = 0.0
    by: str = ""


Publish = Callable[[str, bytes], Awaitable[None]]


class GridDesk:
    def __init__(self, design: Design, settings: GridSettings, keys: KeyRing,
                 curves: LiveCurves, folder: Path | None, audit: Audit) -> None:  # fmt: skip
        self.design, self.settings, self.keys, self.curves = design, settings, keys, curves
        self._audit = audit
        self._folder = folder
        self.feeds = {f.id: FeedGrid() for f in design.feeds}
        self._racks = {f.id: [r.id for r in design.racks if r.feed_id == f.id]
                       for f in design.feeds}  # fmt: skip
        self.refusals: list[GridRefusal] = []
        self.policy = self._read_policy()
        self._restore_state()
        self.connected = False
        self.changed = True
        """Something windows show changed since they were last told."""

    def _restore_state(self) -> None:
        """Targets and caps a service stopped or killed before held (``state_file``)."""
        if self._folder is None:
            return
        try:
            saved = load_state(self._folder)
        except ValueError as error:
            log.error("grid state not restored, the caps it held are no longer known: %s", error)
            return
        for feed_id, (targets, applied) in saved.items():
            feed = self.feeds.get(feed_id)
            if feed is None:
                continue  # a feed the design no longer has
            feed.targets = targets
            feed.applied = None if applied is None else Applied(**applied)
            if feed.applied is not None:
                log.info("%s is capped since before a restart (by %s)", feed_id, feed.applied.user)

    def _save_state(self) -> None:
        if self._folder is not None:
            save_state(self._folder, self.feeds)

    # --- Received --------------------------------------------------------------------------

    def receive(self, topic: str, payload: bytes, now_s: float) -> None:
        """Take in one event; a refused one is journaled with its reason and changes nothing."""
        source = "unknown source"
        try:
            event = read_event(topic, payload)
            source = event.source
            data = self.keys.verify(source, event.data, event.time_s, now_s)
            if event.type == LOAD_TARGET_SET:
                correlation = event.correlationid or event.id
                self._take_targets(load_targets(data, topic, now_s, correlation), topic)
                self._save_state()
            elif event.type == POWER_BREACH_ALERT:
                self._take_breach(breach_alert(data, topic), topic)
            elif event.type == POWER_STATE_STATUS:
                for status in feed_statuses(data, topic):
                    feeds, _ = self.settings.feeds_of((status.feed_tag,), self.design)
                    for feed_id in feeds:
                        self.feeds[feed_id].status = status
            else:
                raise FlexError(topic, "type", f"{event.type!r} is not read here")
        except (FlexError, SignatureRefused) as error:
            self._refuse(source, topic, str(error) if isinstance(error, FlexError)
                         else f"{topic}: {error}", now_s)  # fmt: skip
            return
        if event.type != POWER_STATE_STATUS:  # snapshots come as heartbeats: not journaled
            self._audit(source, event.type, topic, "accepted", json.dumps(data)[:2000])
        self.changed = True

    def _refuse(self, source: str, topic: str, reason: str, now_s: float) -> None:
        log.warning("grid event refused from %s: %s", source, reason)
        self._audit(source, "grid.event", topic, "refused", reason)
        self.refusals = [*self.refusals, GridRefusal(now_s, source, reason)][-KEPT_REFUSALS:]
        self.changed = True

    def _take_targets(self, targets: list[LoadTarget], topic: str) -> None:
        resolved = []
        for target in targets:
            feeds, unknown = self.settings.feeds_of(target.feed_tags, self.design)
            if unknown:
                raise FlexError(topic, "data.targets.feed_tags", f"{', '.join(unknown)}: no "
                                "such feed in the design or in grid.json's feed_tags")  # fmt: skip
            resolved.append((target, feeds))
        for target, feeds in resolved:
            for feed_id in feeds:
                feed = self.feeds[feed_id]
                if target.limit_w is None:
                    feed.targets = [t for t in feed.targets if t.start_s > target.start_s]
                else:
                    feed.targets.append(target)

    def _take_breach(self, alert: BreachAlert, topic: str) -> None:
        feeds, unknown = self.settings.feeds_of((alert.feed_tag,), self.design)
        if unknown:
            raise FlexError(topic, "data.feed_tag", f"{alert.feed_tag}: no such feed")
        for feed_id in feeds:
            self.feeds[feed_id].breach = None if alert.status == "resolved" else alert

    # --- Targets over time -----------------------------------------------------------------

    def active_target(self, feed_id: str, now_s: float) -> LoadTarget | None:
        live = [t for t in self.feeds[feed_id].targets
                if t.start_s <= now_s and (t.end_s is None or now_s < t.end_s)]  # fmt: skip
        return live[-1] if live else None

    def live(self, now_s: float) -> bool:
        """Whether any feed has an active target or caps: what windows watch move."""
        return any(f.applied is not None or self.active_target(i, now_s) is not None
                   for i, f in self.feeds.items())  # fmt: skip

    def feed_load_w(self, snapshot: Snapshot, feed_id: str) -> float | None:
        """The feed's load now: its racks' power summed; None if any rack has no reading."""
        total = 0.0
        for rack_id in self._racks[feed_id]:
            power_w = self.curves.rack_power_w(snapshot, rack_id)
            if power_w is None:
                return None
            total += power_w
        return total

    def plan(self, snapshot: Snapshot, feed_id: str, target_w: float
             ) -> tuple[CapPlan, CapPlan, int] | None:  # fmt: skip
        """Token-aware and uniform caps that bring the feed to ``target_w``, and how many of
        its racks could not be planned; None without the feed's load."""
        load_w = self.feed_load_w(snapshot, feed_id)
        if load_w is None:
            return None
        rack_ids = self._racks[feed_id]
        curves = self.curves.of(snapshot, rack_ids)
        gpus_now_w = 0.0
        for rack_id in curves:  # each has readings: ``of`` leaves out racks without
            state = self.curves.rack_state(snapshot, rack_id)
            gpus_now_w += 0.0 if state is None else state[0]
        budget_w = target_w - (load_w - gpus_now_w)  # what is not the GPUs' stays as it is
        chosen = list(curves.values())
        return (token_aware_caps(chosen, budget_w), uniform_caps(chosen, budget_w),
                len(rack_ids) - len(chosen))  # fmt: skip

    async def tick(self, snapshot: Snapshot, now_s: float, control: ControlDesk | None,
                   publish: Publish) -> None:  # fmt: skip
        """Intervals that ended lift their caps; the policy meets new targets it may."""
        for feed_id, feed in self.feeds.items():
            target = self.active_target(feed_id, now_s)
            ended = [t for t in feed.targets if t.end_s is not None and now_s >= t.end_s]
            if ended:
                feed.targets = [t for t in feed.targets if t not in ended]
                self.changed = True
                self._save_state()
            if feed.applied is not None and target is None and control is not None:
                await self.remove(feed_id, feed.applied.user, feed.applied.role, control,
                                  publish, "target lifted or its interval ended")  # fmt: skip
            elif (target is not None and feed.applied is None and self.policy.enabled
                  and control is not None):  # fmt: skip
                load_w = self.feed_load_w(snapshot, feed_id)
                over_w = (load_w or 0.0) - (target.limit_w or 0.0)
                if load_w is not None and 0 < over_w <= self.policy.ceiling_kw * 1000.0:
                    try:
                        await self.apply(feed_id, snapshot, f"policy ({self.policy.by})",
                                         Role.OPERATOR, control, publish, now_s)  # fmt: skip
                    except GridRefused as refused:
                        log.warning("grid policy could not meet %s: %s", feed_id, refused)

    # --- Acting ----------------------------------------------------------------------------

    async def apply(self, feed_id: str, snapshot: Snapshot, user: str, role: Role,
                    control: ControlDesk, publish: Publish, now_s: float) -> str:  # fmt: skip
        """Cap the feed's racks as the token-aware plan says; the enforcement published. What
        was done, in words; GridRefused for a role that may not or nothing to do."""
        if not permits(role, Role.OPERATOR):
            self._audit(user, "grid.apply", feed_id, "refused", "needs operator or above")
            raise GridRefused(f"capping {feed_id} needs an operator or above")
        feed = self.feeds.get(feed_id)
        target = self.active_target(feed_id, now_s) if feed is not None else None
        if feed is None or target is None or target.limit_w is None:
            raise GridRefused(f"{feed_id}: no load target is active")
        if feed.applied is not None:  # its limits before would be lost under new caps
            raise GridRefused(f"{feed_id}: caps are set already; remove them first")
        planned = self.plan(snapshot, feed_id, target.limit_w)
        if planned is None:
            raise GridRefused(f"{feed_id}: its load is not known (a rack has no reading)")
        plan, _, _ = planned
        previous = {r: self._limit_now(snapshot, r) for r in self._racks[feed_id]}
        results, caps = [], []
        racks = {r.id: r for r in self.design.racks}
        for cap in plan.caps:
            rack = racks[cap.group]
            if not cap.capped:
                results.append(
                    ResourceResult(
                        cap.group, "skipped", None, "kept uncapped: shedding costs more tokens here"
                    )
                )
                continue
            command = SetPowerLimit(gpus=rack_gpus(rack), limit_w=float(round(cap.limit_w)))
            try:
                progress = await control.send_and_wait(command, user, role)
            except CommandRefused as refused:
                results.append(ResourceResult(cap.group, "failed", None, str(refused)))
                continue
            failed = [r for r in progress.results if r.state != "confirmed"]
            if failed:
                results.append(
                    ResourceResult(
                        cap.group,
                        "failed",
                        None,
                        f"{len(failed)} of {len(progress.results)} GPUs: {failed[0].reason}",
                    )
                )
            else:
                results.append(ResourceResult(cap.group, "applied",
                                              command.limit_w * rack.gpu_count))  # fmt: skip
                caps.append(RackCapView(cap.group, command.limit_w, cap.power_w, cap.tokens_per_s))
        breach_id = feed.breach.breach_id if feed.breach is not None else target.correlation_id
        feed.applied = Applied(previous, tuple(caps), breach_id, user, role)
        self._save_state()
        self.changed = True
        words = (f"{len(caps)} racks capped, {plan.tokens_lost_per_s:,.0f} tok/s given up "
                 f"for {plan.budget_w / 1000:,.0f} kW of GPU power")  # fmt: skip
        self._audit(user, "grid.apply", feed_id, "ok", words)
        await self._publish_enforcement(feed_id, breach_id, "applied", results, words, publish)
        return words

    async def remove(self, feed_id: str, user: str, role: Role, control: ControlDesk,
                     publish: Publish, why: str = "removed by an operator") -> None:  # fmt: skip
        """Set the limits the feed's racks had before its caps; ``reverted`` published."""
        feed = self.feeds[feed_id]
        applied = feed.applied
        if applied is None:
            raise GridRefused(f"{feed_id}: no caps are set")
        if not permits(role, Role.OPERATOR):
            raise GridRefused(f"removing {feed_id}'s caps needs an operator or above")
        feed.applied = None
        self._save_state()
        racks = {r.id: r for r in self.design.racks}
        results = []
        for cap in applied.caps:
            before_w = applied.previous_w.get(cap.rack_id)
            if before_w is None:
                results.append(ResourceResult(cap.rack_id, "skipped", None, "limit before unknown"))
                continue
            command = SetPowerLimit(gpus=rack_gpus(racks[cap.rack_id]), limit_w=before_w)
            try:
                progress = await control.send_and_wait(command, user, role)
                state = "applied" if progress.state == "confirmed" else "failed"
                results.append(ResourceResult(cap.rack_id, state,
                                              before_w * racks[cap.rack_id].gpu_count))  # fmt: skip
            except CommandRefused as refused:
                results.append(ResourceResult(cap.rack_id, "failed", None, str(refused)))
        self._audit(user, "grid.remove", feed_id, "ok", why)
        self.changed = True
        await self._publish_enforcement(feed_id, applied.breach_id, "reverted", results, why,
                                        publish)  # fmt: skip

    def _limit_now(self, snapshot: Snapshot, rack_id: str) -> float:
        state = self.curves.rack_state(snapshot, rack_id)
        curve = self.curves.curves.get(rack_id)
        if state is not None and math.isfinite(state[2]):
            return state[2]
        return float(curve.limit_w[-1]) if curve is not None else 0.0

    async def _publish_enforcement(self, feed_id: str, breach_id: str,
                                   action: Literal["applied", "reverted"],
                                   results: list[ResourceResult], words: str,
                                   publish: Publish) -> None:  # fmt: skip
        me = self.settings.agent_id
        data = enforcement_data(breach_id, self.settings.tag_of(feed_id), action, results,
                                time.time(), words)  # fmt: skip
        try:
            signed = self.keys.sign(data)
        except SignatureRefused as refused:
            log.warning("enforcement of %s not published: %s", feed_id, refused)
            return
        event = build_event(f"//grid/v1/infra/{me}", POWER_BREACH_ENFORCEMENT, "powerbreach",
                            signed, time.time(), breach_id)  # fmt: skip
        await publish(f"grid/v1/infra/{me}/powerbreach/enforcement", event)

    # --- Policy ----------------------------------------------------------------------------

    def set_policy(self, enabled: bool, ceiling_kw: float, user: str, role: Role) -> None:
        if not permits(role, Role.ENGINEER):
            self._audit(user, "grid.policy", "policy", "refused", "needs engineer or above")
            raise GridRefused("the grid policy is an engineer's: needs engineer or above")
        if ceiling_kw < 0:
            raise GridRefused("the ceiling must be 0 kW or more")
        old = self.policy
        self.policy = Policy(enabled, ceiling_kw, user)
        self._audit(user, "grid.policy", "policy", "ok",
                    f"meet targets by itself: {'on' if enabled else 'off'}, at most "
                    f"{ceiling_kw:g} kW shed per feed",
                    old_value=_policy_words(old), new_value=_policy_words(self.policy))  # fmt: skip
        if self._folder is not None:
            (self._folder / POLICY_FILE).write_text(
                json.dumps({"enabled": enabled, "ceiling_kw": ceiling_kw, "by": user}),
                encoding="utf-8",
            )
        self.changed = True

    def _read_policy(self) -> Policy:
        path = None if self._folder is None else self._folder / POLICY_FILE
        if path is None or not path.exists():
            return Policy()
        try:
            tree = json.loads(path.read_text(encoding="utf-8"))
            return Policy(bool(tree["enabled"]), float(tree["ceiling_kw"]), str(tree["by"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("%s: cannot read (%s): the grid policy is off", path, error)
            return Policy()

    # --- Shown -----------------------------------------------------------------------------

    def view(self, snapshot: Snapshot | None, now_s: float) -> GridChanged:
        feeds = []
        for feed_id, feed in self.feeds.items():
            target = self.active_target(feed_id, now_s)
            load_w = None if snapshot is None else self.feed_load_w(snapshot, feed_id)
            planned = (self.plan(snapshot, feed_id, target.limit_w)
                       if snapshot is not None and target is not None and target.limit_w
                       and load_w is not None and load_w > target.limit_w else None)  # fmt: skip
            plan, uniform, unknown = planned if planned else (None, None, 0)
            breach = feed.breach
            caps = (feed.applied.caps if feed.applied is not None else tuple(
                RackCapView(c.group, c.limit_w, c.power_w, c.tokens_per_s)
                for c in (plan.caps if plan else ()) if c.capped))  # fmt: skip
            limit_w = None if target is None else target.limit_w
            feeds.append(FeedGridView(
                feed_id=feed_id, feed_tag=self.settings.tag_of(feed_id), load_w=load_w,
                target_w=limit_w, start_s=None if target is None else target.start_s,
                end_s=None if target is None else target.end_s,
                scheduled=sum(t.start_s > now_s for t in feed.targets),
                compliant=None if load_w is None else (
                    limit_w is None or load_w <= limit_w * (1 + COMPLIANCE_TOLERANCE)),
                breach="" if breach is None else (
                    f"{breach.severity} breach ({breach.status}): measured "
                    f"{breach.measured_w / 1000:,.0f} kW over {breach.target_w / 1000:,.0f} kW"),
                shed_w=0.0 if plan is None or load_w is None else max(load_w - (limit_w or 0), 0),
                tokens_lost_per_s=None if plan is None else plan.tokens_lost_per_s,
                uniform_tokens_lost_per_s=None if uniform is None else uniform.tokens_lost_per_s,
                shortfall_w=0.0 if plan is None else plan.shortfall_w,
                caps=caps, applied=feed.applied is not None,
                applied_by="" if feed.applied is None else feed.applied.user,
                unknown_racks=unknown,
                agent_load_w=None if feed.status is None else feed.status.calculated_load_w,
                agent_compliant=None if feed.status is None else feed.status.compliant,
            ))  # fmt: skip
        return GridChanged(tuple(feeds), self.policy.enabled, self.policy.ceiling_kw,
                           self.policy.by, tuple(self.refusals), self.connected)  # fmt: skip


def _policy_words(policy: Policy) -> str:
    return f"{'on' if policy.enabled else 'off'}, ceiling {policy.ceiling_kw:g} kW"
