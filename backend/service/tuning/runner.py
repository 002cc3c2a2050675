"""The service's tuner: one sweep at a time, fed from the service's own store on every frame,
its steps sent through the control desk as the user who started it, every window told.

The group's previous power limits are written to the data folder before the first step
(``record``) and removed once they are back, so a service killed mid-sweep finds them when it
starts again and restores them at once (``restore_cut_short``): a group is never left at a
sweep step. At the end of a sweep the previous settings are restored too; the recommendation
is set only when an operator applies it.

Drift: once a recommendation is applied, the group's tokens per joule is watched (``drift``);
outside its band the sweep is flagged, and swept again if the operator chose so.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.control.commands import (
    GpuCommand,
    LockClocks,
    ResetClocks,
    SetPowerLimit,
    gpu_name,
)
from factoryfloor.backend.service.control.desk import Audit, CommandRefused, ControlDesk
from factoryfloor.backend.service.control.scope import rack_gpus
from factoryfloor.backend.service.power.curves import PowerCurve
from factoryfloor.backend.service.roles import Role, permits
from factoryfloor.backend.service.tuning.drift import DriftWatch
from factoryfloor.backend.service.tuning.messages import (
    StartTuning,
    TuningProgress,
    TuningState,
    TuningUpdated,
)
from factoryfloor.backend.service.tuning.record import (
    SweepRecord,
    clear_record,
    load_record,
    save_record,
)
from factoryfloor.backend.service.tuning.sweep import (
    Apply,
    Previous,
    Restore,
    Sweep,
    SweepSettings,
    choose_lever,
    lever_levels,
)
from factoryfloor.backend.telemetry.placement import HostGpu
from factoryfloor.backend.telemetry.series import entity_key, gpu_key
from factoryfloor.backend.telemetry.store import TelemetryStore

log = logging.getLogger("factoryfloor.service.tuning")


def settings_from_environment(environment: Mapping[str, str]) -> SweepSettings:
    """The sweep's windows and steps from ``FACTORYFLOOR_TUNING_WARMUP_S``, ``..._MEASURE_S``,
    ``..._POWER_STEP_W`` and ``..._CLOCK_STEP_MHZ`` where set (a site scraping faster or slower
    than every 5 s); ValueError naming the variable when one is not a number above 0."""
    chosen = {}
    for name in ("warmup_s", "measure_s", "power_step_w", "clock_step_mhz"):
        variable = f"FACTORYFLOOR_TUNING_{name.upper()}"
        if variable in environment:
            try:
                chosen[name] = float(environment[variable])
            except ValueError as error:
                raise ValueError(f"{variable}: {environment[variable]!r} is not a number"
                                 ) from error  # fmt: skip
    try:
        return SweepSettings(**chosen)
    except ValueError as error:
        raise ValueError(f"FACTORYFLOOR_TUNING_*: {error}") from error


class TuningRefused(Exception):
    """A tuning request not carried out; the reason in words."""


@dataclass(slots=True)
class _Group:
    racks: tuple[str, ...]
    gpus: tuple[HostGpu, ...]
    user: str
    retune: bool
    tokens_keys: list[str]
    power_keys: list[str]
    clock_low_mhz: float = 0.0

    @property
    def name(self) -> str:
        return ", ".join(self.racks)


class Tuner:
    def __init__(self, folder: Path | None, audit: Audit,
                 notify: Callable[[TuningUpdated], Awaitable[None]],
                 settings: SweepSettings | None = None) -> None:  # fmt: skip
        self.folder = folder
        self._audit, self._notify = audit, notify
        self.settings = settings or SweepSettings()
        self.group: _Group | None = None
        self.sweep: Sweep | None = None
        self.state: TuningState = "cancelled"
        self.reason = ""
        self.drifted = False
        self._pending: list[str] = []
        """Commands under way (ids at the desk): the step, or the restore."""
        self._watch: DriftWatch | None = None
        self._restore_after = False
        """Cancelled while a step was being set: restore once it has landed."""

    @property
    def busy(self) -> bool:
        return self.state in ("sweeping", "restoring")

    def progress(self) -> TuningProgress | None:
        sweep, group = self.sweep, self.group
        if sweep is None or group is None:
            return None
        best = sweep.recommendation()
        floor = sweep.floor_tokens_per_s
        return TuningProgress(group.name, group.user, self.state, sweep.lever, sweep.levels,
                              sweep.step, tuple(sweep.results),
                              None if np.isnan(floor) else floor,
                              None if best is None else best.setting, self.drifted,
                              self.reason)  # fmt: skip

    def measured_curve(self) -> tuple[str, PowerCurve] | None:
        """The rack and its measured power-limit curve, once a one-rack sweep is measured: what
        the grid planner uses for that rack instead of the model's."""
        sweep, group = self.sweep, self.group
        if (sweep is None or group is None or len(group.racks) != 1
                or sweep.lever != "power_limit" or self.state not in ("measured", "applied")
                or not sweep.results):  # fmt: skip
            return None
        return group.racks[0], sweep.curve()

    async def _tell(self) -> None:
        progress = self.progress()
        if progress is not None:
            await self._notify(TuningUpdated(progress))

    # --- A service killed mid-sweep ---------------------------------------------------------

    async def restore_cut_short(self, desk: ControlDesk) -> None:
        """Put back the limits of a sweep the last run of the service did not finish."""
        if self.folder is None:
            return
        try:
            record = load_record(self.folder)
        except ValueError as error:
            log.error("a sweep cut short could not be restored: %s", error)
            return
        if record is None:
            return
        log.warning("restoring %s's power limits: its sweep was cut short", record.group)
        self._audit(record.user, "tuning.restore", record.group, "ok",
                    "the service stopped mid-sweep; previous settings restored")  # fmt: skip
        for command in restore_commands(record.lever, record.gpus, record.previous):
            try:
                await desk.send(command, record.user, Role.OPERATOR)
            except CommandRefused as refused:
                log.error("restore of %s refused: %s", record.group, refused)
        await desk.drain()
        clear_record(self.folder)

    # --- Requests ---------------------------------------------------------------------------

    async def start(self, desk: ControlDesk, design: Design, store: TelemetryStore,
                    request: StartTuning, user: str, role: Role, now_s: float) -> None:  # fmt: skip
        """Start a sweep; TuningRefused with the reason."""
        if not permits(role, Role.OPERATOR):
            raise self._refused(user, "tuning.start", ", ".join(request.rack_ids),
                                f"tuning needs the operator role; this window is "
                                f"{role.value}")  # fmt: skip
        if self.busy:
            raise TuningRefused(f"a sweep of {self.group.name} is under way: cancel it first")
        racks = {r.id: r for r in design.racks}
        unknown = [r for r in request.rack_ids if r not in racks]
        if unknown or not request.rack_ids:
            raise TuningRefused(f"tuning: no rack {', '.join(unknown) or '(none chosen)'} in "
                                f"the running design")  # fmt: skip
        gpus = tuple(g for r in request.rack_ids for g in rack_gpus(racks[r]))
        if not gpus:
            raise TuningRefused(f"tuning: {', '.join(request.rack_ids)} have no GPUs")
        try:
            settings = replace(self.settings, floor_fraction=request.floor_fraction)
        except ValueError as error:
            raise TuningRefused(str(error)) from error
        group = _Group(tuple(request.rack_ids), gpus, user, request.retune_on_drift,
                       [entity_key("rack", r, "tokens_per_s") for r in request.rack_ids],
                       [gpu_key(g.node, g.index, "power_w") for g in gpus])  # fmt: skip
        sweep = await self._plan(desk, store, group, settings)
        await self._begin(desk, group, sweep)

    async def _plan(self, desk: ControlDesk, store: TelemetryStore, group: _Group,
                    settings: SweepSettings) -> Sweep:  # fmt: skip
        def latest(quantity: str) -> np.ndarray:
            keys = [gpu_key(g.node, g.index, quantity) for g in group.gpus]
            return store.latest_many(keys).values.astype(float)

        power, limits = latest("power_w"), latest("power_limit_w")
        top, bottom = latest("power_limit_max_w"), latest("power_limit_min_w")
        if np.isnan(power).any() or np.isnan(limits).any() or np.isnan(top).any():
            raise TuningRefused(f"tuning {group.name}: not every GPU has reported its power "
                                f"and limits yet")  # fmt: skip
        lever = choose_lever(float(power.sum()), float(limits.sum()), settings)
        if lever == "power_limit":
            high, low = float(top.min()), float(np.nanmax(bottom))
        else:
            executor = desk.executor(group.gpus[0])
            if executor is None:
                raise TuningRefused(f"tuning {group.name}: no control reaches its GPUs")
            clocks = await executor.clock_range(group.gpus[0])
            high, low = clocks.high, clocks.low
            group.clock_low_mhz = low
        previous = Previous({gpu_name(g): float(v) for g, v in zip(group.gpus, limits,
                                                                    strict=True)})  # fmt: skip
        levels = lever_levels(high, low, settings.step_of(lever))
        return Sweep(group.name, len(group.gpus), lever, levels, previous, settings)

    async def _begin(self, desk: ControlDesk, group: _Group, sweep: Sweep) -> None:
        if self.folder is not None:  # on disk before any GPU moves
            save_record(self.folder, SweepRecord(group.name, group.user, sweep.lever, group.gpus,
                                                 sweep.previous))  # fmt: skip
        self.group, self.sweep, self.state, self.reason = group, sweep, "sweeping", ""
        self.drifted, self._watch = False, None
        self._audit(group.user, "tuning.start", group.name, "ok",
                    f"sweep of the {sweep.lever.replace('_', ' ')} over {len(sweep.levels)} "
                    f"steps, floor {sweep.settings.floor_fraction:.0%}")  # fmt: skip
        try:
            await self._send(desk, [step_command(sweep.start(), group)])
        except CommandRefused as refused:  # nothing moved
            self.state, self.reason = "failed", str(refused)
            if self.folder is not None:
                clear_record(self.folder)
            await self._tell()
            raise TuningRefused(str(refused)) from refused
        await self._tell()

    async def cancel(self, desk: ControlDesk, user: str, role: Role) -> None:
        if not permits(role, Role.OPERATOR):
            raise self._refused(user, "tuning.cancel", self._name(), "needs the operator role")
        if not self.busy or self.sweep is None or self.group is None:
            raise TuningRefused("no sweep is under way")
        self._audit(user, "tuning.cancel", self.group.name, "ok", "previous settings restored")
        self.sweep.cancel()
        if self._pending:  # a step still being set: restore once it has landed, or it would
            self._restore_after, self.state = True, "restoring"  # land after the restore
            await self._tell()
        else:
            await self._restore(desk)

    async def apply(self, desk: ControlDesk, user: str, role: Role, now_s: float) -> None:
        """Set the recommendation on the group: through the desk, audited there per GPU."""
        if not permits(role, Role.OPERATOR):
            raise self._refused(user, "tuning.apply", self._name(), "needs the operator role")
        sweep, group = self.sweep, self.group
        best = None if sweep is None else sweep.recommendation()
        if self.state != "measured" or best is None or group is None:
            raise TuningRefused("no measured sweep to apply")
        self._audit(user, "tuning.apply", group.name, "ok",
                    f"{best.tokens_per_j:.4g} tokens/J at {best.tokens_per_s:.4g} tokens/s",
                    new_value=f"{best.setting:g}")  # fmt: skip
        try:
            await self._send(desk, [step_command(Apply(sweep.lever, best.setting), group)],
                             user)  # fmt: skip
        except CommandRefused as refused:
            raise TuningRefused(str(refused)) from refused
        self.state = "applied"
        self._watch = DriftWatch(best, now_s + self.settings.warmup_s, self.settings.measure_s)
        await self._tell()

    def _refused(self, user: str, action: str, subject: str, reason: str) -> TuningRefused:
        self._audit(user or "viewer", action, subject, "refused", reason)
        return TuningRefused(f"{action.replace('.', ' ')}: {reason}")

    def _name(self) -> str:
        return self.group.name if self.group is not None else "no group"

    # --- Frames -----------------------------------------------------------------------------

    async def on_frame(self, desk: ControlDesk | None, store: TelemetryStore,
                       now_s: float) -> None:  # fmt: skip
        """Feed the sweep the group's readings; move on when its commands are confirmed."""
        group, sweep = self.group, self.sweep
        if desk is None or group is None or sweep is None:
            return
        if self._pending and not await self._settled(desk, now_s):
            return
        tokens = float(np.sum(store.latest_many(group.tokens_keys).values, dtype=float))
        power = float(np.sum(store.latest_many(group.power_keys).values, dtype=float))
        if self.state == "sweeping":
            before = len(sweep.results)
            action = sweep.observe(now_s, tokens, power)
            if isinstance(action, Restore):
                await self._restore(desk)
            elif isinstance(action, Apply):
                await self._send(desk, [step_command(action, group)])
            if len(sweep.results) != before:
                await self._tell()
        elif self.state == "applied" and self._watch is not None:
            await self._watch_drift(desk, tokens, power, now_s)

    async def _settled(self, desk: ControlDesk, now_s: float) -> bool:
        """Whether the commands under way have all ended; a step not confirmed ends the sweep
        (restoring), a restore not confirmed fails it."""
        known = {p.command_id: p for p in desk.recent}
        under_way = [known.get(i) for i in self._pending]
        if any(p is not None and p.finished_s is None for p in under_way):
            return False
        self._pending = []
        bad = [p for p in under_way if p is None or p.state != "confirmed"]
        sweep = self.sweep
        if self._restore_after:
            self._restore_after = False
            await self._restore(desk)
            return False
        if self.state == "restoring":
            if bad:
                self.state, self.reason = "failed", _why(bad, "the restore")
            else:
                self.state = "measured" if sweep.phase == "done" and sweep.results else "cancelled"
                if self.folder is not None:
                    clear_record(self.folder)
            await self._tell()
            return False
        if bad:
            self.reason = _why(bad, f"the step to {sweep.setting:g}")
            sweep.cancel()
            await self._restore(desk)
            return False
        if self.state == "sweeping":
            sweep.step_applied(now_s)
        return True

    async def _watch_drift(self, desk: ControlDesk, tokens: float, power: float,
                           now_s: float) -> None:  # fmt: skip
        watch = self._watch
        change = watch.observe(now_s, tokens, power)
        if change is None or self.drifted:
            return
        self.drifted = True
        self.reason = (f"tokens per joule {change:+.0%} from the sweep's "
                       f"{watch.expected.tokens_per_j:.4g} (band ±{watch.band:.0%})")  # fmt: skip
        self._audit(self.group.user, "tuning.drift", self.group.name, "flagged", self.reason)
        await self._tell()
        if self.group.retune:
            sweep = self.sweep
            applied = (Previous({gpu_name(g): watch.expected.setting for g in self.group.gpus})
                       if sweep.lever == "power_limit" else sweep.previous)  # fmt: skip
            fresh = Sweep(sweep.group, sweep.gpu_count, sweep.lever, sweep.levels, applied,
                          sweep.settings)  # fmt: skip
            await self._begin(desk, self.group, fresh)

    # --- Commands ---------------------------------------------------------------------------

    async def _send(self, desk: ControlDesk, commands: list[GpuCommand],
                    user: str | None = None) -> None:  # fmt: skip
        group = self.group
        for command in commands:
            progress = await desk.send(command, user or group.user, Role.OPERATOR)
            self._pending.append(progress.command_id)

    async def _restore(self, desk: ControlDesk) -> None:
        sweep, group = self.sweep, self.group
        self.state = "restoring"
        try:
            await self._send(desk, restore_commands(sweep.lever, group.gpus, sweep.previous))
        except CommandRefused as refused:
            self.state, self.reason = "failed", f"the restore was refused: {refused}"
        await self._tell()


def step_command(action: Apply, group: _Group) -> GpuCommand:
    """A clock step locks between the GPUs' lowest clock and the step's: the driver may still
    clock down for idle work."""
    if action.lever == "power_limit":
        return SetPowerLimit(gpus=group.gpus, limit_w=action.setting)
    return LockClocks(gpus=group.gpus, min_mhz=group.clock_low_mhz, max_mhz=action.setting)


def restore_commands(lever: str, gpus: tuple[HostGpu, ...], previous: Previous
                     ) -> list[GpuCommand]:  # fmt: skip
    """The group back as it was: one power-limit command per distinct previous limit, and the
    clocks unlocked after a clock sweep."""
    by_limit: dict[float, list[HostGpu]] = {}
    for gpu in gpus:
        limit = previous.limits_w.get(gpu_name(gpu))
        if limit is not None:
            by_limit.setdefault(limit, []).append(gpu)
    commands: list[GpuCommand] = [SetPowerLimit(gpus=tuple(g), limit_w=limit)
                                  for limit, g in by_limit.items()]  # fmt: skip
    if lever == "sm_clock":
        commands.append(ResetClocks(gpus=gpus))
    return commands


def _why(bad: list, what: str) -> str:
    reasons = {r.reason for p in bad if p is not None for r in p.results if r.reason}
    return f"{what} was not confirmed: {'; '.join(sorted(reasons)) or 'no outcome'}"
