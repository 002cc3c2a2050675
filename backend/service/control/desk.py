"""The service's control desk: every command checked, sent, confirmed by read-back, told to
every window and audited, refused ones too.

A command goes through the same steps whoever sends it:

1. The role: a user below the command's ``minimum_role`` is refused before anything is read.
2. Each target is looked at: its value now (the old value the confirmation dialog shows) and
   what it allows. A target no executor reaches, or a value out of its range, is ``refused`` and
   never sent, with the range in words.
3. The rest are sent, a bounded number of GPUs at once, and each ends ``confirmed`` (read back
   as asked), ``failed`` (the equipment said no, and why) or ``unconfirmed`` (no read-back
   matched in time). A facility command left unconfirmed raises the "command unconfirmed" alarm
   at its entity; a later confirmed command there clears it.

Every window hears each change of a command (``CommandUpdated``, at most a few a second while a
command is under way), and the audit log gets one entry per target with its old, new and
read-back values and its outcome. Nothing here is started by anything a source receives: the
desk acts only on a window's request.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from factoryfloor.backend.service.alarms.evaluator import ConditionChange
from factoryfloor.backend.service.control.commands import (
    NOT_KEPT_OVER_REBOOT,
    Command,
    CommandProgress,
    IsolateRack,
    LockClocks,
    ResetClocks,
    SetCduSupplyTemp,
    SetPowerLimit,
    TargetResult,
    gpu_name,
)
from factoryfloor.backend.service.control.executors import (
    ControlFailure,
    FacilityControl,
    GpuControl,
)
from factoryfloor.backend.service.roles import Role, permits
from factoryfloor.backend.telemetry.placement import HostGpu

POWER_TOLERANCE_W = 0.5
"""A limit read back within this of the one asked is confirmed (NVML works in mW)."""
CLOCK_TOLERANCE_MHZ = 15.0
"""A locked SM clock read back this far outside the range asked still counts: clocks move in
bins of about 15 MHz."""
GPU_CALLS_AT_ONCE = 64
"""GPUs a command changes at once: enough to set a hall's limits in seconds, few enough that
the NVML worker's queue stays short for the readings."""
RECENT_COMMANDS = 20
"""Commands a window is shown when it attaches."""
UPDATE_INTERVAL_S = 0.2
"""Windows hear a running command's progress at most this often (and its end at once)."""
UNCONFIRMED_RULE = "command-unconfirmed"


class Audit(Protocol):
    """The service's audit log: who, what, on what, the outcome, why, and the values."""

    def __call__(self, actor: str, action: str, subject: str, outcome: str, detail: str = "",
                 *, old_value: str = "", new_value: str = "") -> object: ...  # fmt: skip


Tell = Callable[[CommandProgress], Awaitable[None]]
"""Tell every window a command's progress."""
RaiseAlarm = Callable[[ConditionChange], Awaitable[None]]
"""Raise or clear the "command unconfirmed" alarm."""


class CommandRefused(Exception):
    """A command not sent at all: the reason, in words, names the command and why."""


@dataclass(frozen=True, slots=True)
class Preview:
    """What a command would do, before it is sent: the confirmation dialog's content."""

    description: str
    minimum_role: Role
    allowed: bool
    """The asking user's role permits it."""
    results: tuple[TargetResult, ...]
    """Per target: ``sent`` (would be sent, with its old and new value) or ``refused``."""
    notes: tuple[str, ...]


class ControlDesk:
    def __init__(
        self,
        gpus: Sequence[GpuControl],
        facility: FacilityControl | None,
        *,
        audit: Audit,
        tell: Tell,
        raise_alarm: RaiseAlarm,
        entity_of: Callable[[str], str] = lambda target: target,
    ) -> None:
        self.gpus = list(gpus)
        self.facility = facility
        self._audit, self._tell, self._raise_alarm = audit, tell, raise_alarm
        self.entity_of = entity_of
        """The plan entity an alarm about a target is at (a GPU's rack)."""
        self.recent: deque[CommandProgress] = deque(maxlen=RECENT_COMMANDS)
        self._running: set[asyncio.Task] = set()
        self._tasks: dict[str, asyncio.Task] = {}
        """The task carrying out each command under way, by command id."""

    # --- Looking before sending --------------------------------------------------------------

    async def preview(self, command: Command, role: Role) -> Preview:
        results = await self._look(command)
        notes = (NOT_KEPT_OVER_REBOOT,) if isinstance(command, _GPU_COMMANDS) else ()
        return Preview(command.describe(), command.minimum_role,
                       permits(role, command.minimum_role), results, notes)  # fmt: skip

    async def _look(self, command: Command) -> tuple[TargetResult, ...]:
        if isinstance(command, _GPU_COMMANDS):
            return tuple([await self._look_at_gpu(command, gpu) for gpu in command.gpus])
        facility = self.facility
        target = _facility_target(command)
        if facility is None:
            return (TargetResult(target, "refused", reason="no BMS is connected: set an MQTT "
                                 "broker with the BMS's points in Telemetry Sources"),)  # fmt: skip
        return (TargetResult(target, "sent", facility.current(command), _asked(command)),)

    async def _look_at_gpu(self, command: Command, gpu: HostGpu) -> TargetResult:
        name = gpu_name(gpu)
        executor = self.executor(gpu)
        if executor is None:
            reason = (f"no control path to {gpu.node}: only this service's own GPUs and the "
                      "simulator's are reached")  # fmt: skip
            return TargetResult(name, "refused", reason=reason)
        try:
            match command:
                case SetPowerLimit(limit_w=limit_w):
                    old_w, allowed = await executor.power_limit(gpu)
                    if not allowed.holds(limit_w):
                        return TargetResult(name, "refused", old_w, limit_w, reason=(
                            f"out of range: {name} allows {allowed.words('W')}"))  # fmt: skip
                    return TargetResult(name, "sent", old_w, limit_w)
                case LockClocks(min_mhz=low, max_mhz=high):
                    allowed = await executor.clock_range(gpu)
                    if low > high or not (allowed.holds(low) and allowed.holds(high)):
                        return TargetResult(name, "refused", None, high, reason=(
                            f"out of range: {name} supports {allowed.words('MHz')}"))  # fmt: skip
                    return TargetResult(name, "sent", None, high)
                case _:
                    return TargetResult(name, "sent")
        except ControlFailure as failure:
            return TargetResult(name, "refused", reason=failure.reason)

    def executor(self, gpu: HostGpu) -> GpuControl | None:
        """What reaches ``gpu``; None when nothing does."""
        return next((e for e in self.gpus if e.reaches(gpu)), None)

    # --- Sending -------------------------------------------------------------------------------

    async def send(self, command: Command, user: str, role: Role) -> CommandProgress:
        """Check and start ``command``; its progress as sent (the rest follows in
        ``CommandUpdated`` notices). CommandRefused if the role may not, or no target can."""
        action = f"control.{command.kind}"
        description = command.describe()
        if not permits(role, command.minimum_role):
            article = "an" if role.value[0] in "aeiou" else "a"
            reason = (f"{description}: {article} {role.value} may not (needs "
                      f"{command.minimum_role.value} or above)")  # fmt: skip
            self._audit(user, action, description, "refused", reason)
            raise CommandRefused(reason)
        looked = await self._look(command)
        progress = CommandProgress(uuid.uuid4().hex, user, description, looked, time.time(),
                                   notes=(NOT_KEPT_OVER_REBOOT,)
                                   if isinstance(command, _GPU_COMMANDS) else ())  # fmt: skip
        refused = [r for r in looked if r.state == "refused"]
        await asyncio.to_thread(self._audit_results, user, action, refused)
        if len(refused) == len(looked):
            finished = replace(progress, finished_s=time.time())
            self._remember(finished)
            await self._tell(finished)
            reasons = "; ".join(dict.fromkeys(r.reason for r in refused))
            raise CommandRefused(f"{description}: nothing sent: {reasons}")
        self._remember(progress)
        await self._tell(progress)
        task = asyncio.create_task(self._carry_out(command, progress, user, action))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        self._tasks[progress.command_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(progress.command_id, None))
        return progress

    async def send_and_wait(self, command: Command, user: str, role: Role) -> CommandProgress:
        """``send``, then wait for every target's last outcome: for the service's own
        sequences (a grid target's caps) that must know how each rack ended before going on."""
        progress = await self.send(command, user, role)
        task = self._tasks.get(progress.command_id)
        if task is not None:
            await asyncio.shield(task)
        return next((p for p in self.recent if p.command_id == progress.command_id), progress)

    async def _carry_out(self, command: Command, progress: CommandProgress, user: str,
                         action: str) -> None:  # fmt: skip
        results = list(progress.results)
        told_s = time.monotonic()
        if isinstance(command, _GPU_COMMANDS):
            gate = asyncio.Semaphore(GPU_CALLS_AT_ONCE)
            by_name = {gpu_name(gpu): gpu for gpu in command.gpus}

            async def one(i: int) -> tuple[int, TargetResult]:
                async with gate:
                    return i, await self._gpu_outcome(command, by_name[results[i].target],
                                                      results[i])  # fmt: skip

            pending = [one(i) for i, r in enumerate(results) if r.state == "sent"]
            for finished in asyncio.as_completed(pending):
                i, results[i] = await finished
                if time.monotonic() - told_s >= UPDATE_INTERVAL_S:
                    told_s = time.monotonic()
                    await self._update(replace(progress, results=tuple(results)))
        else:
            results[0] = await self._facility_outcome(command, results[0])
        done = replace(progress, results=tuple(results), finished_s=time.time())
        sent = [r for r in results if r.state != "refused"]
        await asyncio.to_thread(self._audit_results, user, action, sent)  # on record, then told
        await self._update(done)
        for result in sent:
            if result.state in ("confirmed", "unconfirmed"):
                await self._alarm(command, result)

    async def _gpu_outcome(self, command: Command, gpu: HostGpu, sent: TargetResult
                           ) -> TargetResult:  # fmt: skip
        executor = self.executor(gpu)
        assert executor is not None  # looked at before sending
        try:
            match command:
                case SetPowerLimit(limit_w=limit_w):
                    read_w = await executor.set_power_limit(gpu, limit_w)
                    matches = abs(read_w - limit_w) <= POWER_TOLERANCE_W
                    return _settled(sent, read_w, matches, f"reads back {read_w:g} W")
                case LockClocks(min_mhz=low, max_mhz=high):
                    read_mhz = await executor.lock_clocks(gpu, low, high)
                    matches = read_mhz <= high + CLOCK_TOLERANCE_MHZ
                    return _settled(sent, read_mhz, matches, f"SM clock reads {read_mhz:g} MHz")
                case ResetClocks():
                    return _settled(sent, await executor.reset_clocks(gpu), True, "")
        except ControlFailure as failure:
            return replace(sent, state="failed", reason=failure.reason)
        raise AssertionError(f"not a GPU command: {command!r}")

    async def _facility_outcome(self, command: Command, sent: TargetResult) -> TargetResult:
        assert self.facility is not None and isinstance(command, _FACILITY_COMMANDS)
        try:
            read_back = await self.facility.request(command, self.facility.confirm_timeout_s)
        except ControlFailure as failure:
            state = "unconfirmed" if failure.kind == "unconfirmed" else "failed"
            return replace(sent, state=state, reason=failure.reason)
        return replace(sent, state="confirmed", read_back=read_back)

    async def _alarm(self, command: Command, result: TargetResult) -> None:
        """Raise the "command unconfirmed" alarm at the target's entity, or clear it there."""
        unconfirmed = result.state == "unconfirmed"
        priority = "high" if isinstance(command, IsolateRack) else "medium"
        message = f"{result.target}: {command.describe()} not confirmed: {result.reason}"
        await self._raise_alarm(ConditionChange(
            f"{UNCONFIRMED_RULE}@{result.target}", UNCONFIRMED_RULE,
            self.entity_of(result.target), priority, unconfirmed,
            message if unconfirmed else "", math.nan, time.time(),
        ))  # fmt: skip

    async def _update(self, progress: CommandProgress) -> None:
        self._remember(progress)
        await self._tell(progress)

    def _remember(self, progress: CommandProgress) -> None:
        for i, known in enumerate(self.recent):
            if known.command_id == progress.command_id:
                self.recent[i] = progress
                return
        self.recent.append(progress)

    def _audit_results(self, user: str, action: str, results: Sequence[TargetResult]) -> None:
        for r in results:
            read_back = "" if r.read_back is None else f"read back {r.read_back:g}"
            detail = "; ".join(part for part in (read_back, r.reason) if part)
            self._audit(user, action, r.target, r.state, detail, old_value=_value(r.old_value),
                        new_value=_value(r.new_value))  # fmt: skip

    async def drain(self) -> None:
        """Wait until every command under way has its last outcome."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def close(self) -> None:
        """Stop commands under way (a stopping service confirms nothing more)."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)


_GPU_COMMANDS = (SetPowerLimit, LockClocks, ResetClocks)
_FACILITY_COMMANDS = (SetCduSupplyTemp, IsolateRack)


def _facility_target(command: Command) -> str:
    if isinstance(command, SetCduSupplyTemp):
        return command.cdu_id
    assert isinstance(command, IsolateRack)
    return command.rack_id


def _asked(command: Command) -> float:
    if isinstance(command, SetCduSupplyTemp):
        return command.temp_c
    assert isinstance(command, IsolateRack)
    return 1.0 if command.isolated else 0.0


def _settled(sent: TargetResult, read_back: float, matches: bool, words: str) -> TargetResult:
    if matches:
        return replace(sent, state="confirmed", read_back=read_back)
    return replace(sent, state="unconfirmed", read_back=read_back,
                   reason=f"{words}, not what was asked")  # fmt: skip


def _value(value: float | None) -> str:
    return "" if value is None else f"{value:g}"
