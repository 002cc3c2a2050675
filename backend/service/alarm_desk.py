"""The service's alarm system, run off the event loop, and what windows are told of it.

Every call into the :class:`AlarmSystem` (a step, an operator's action, a new design) runs on
one worker thread of its own, in the order asked: a step over 16,384 GPUs' readings and the
journal's fsync never hold up frames or commands, and the journal's SQLite connection is only
ever used by one thread at a time.

A ``factoryfloor serve`` keeps the journal in its data folder, so alarms and actions outlast
restarts. A window's own (embedded) service keeps nothing on disk: its journal lives in a
private temporary folder for as long as it runs, because it watches a design being edited on
one desk, and its alarms are no facility's record.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.alarms.evaluator import ConditionChange
from factoryfloor.backend.service.alarms.journal import FILE_NAME
from factoryfloor.backend.service.alarms.states import Action, ActionRefused, Alarm, Transition
from factoryfloor.backend.service.alarms.system import AlarmSystem
from factoryfloor.backend.service.messages import ActOnAlarm, AlarmsChanged, AlarmShown
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.telemetry.sink import SourceEvent
from factoryfloor.backend.telemetry.store import Snapshot

log = logging.getLogger("factoryfloor.service.alarms")


def alarm_shown(alarm: Alarm, chattering: bool) -> AlarmShown:
    value = alarm.value if math.isfinite(alarm.value) else None
    return AlarmShown(alarm.alarm_id, alarm.entity, alarm.priority, alarm.state.value,
                      alarm.message, value, alarm.changed_s, chattering)  # fmt: skip


class AlarmDesk:
    def __init__(self, data_folder: Path | None) -> None:
        self._scratch = None if data_folder else tempfile.TemporaryDirectory(prefix="ff-alarms-")
        self.folder = data_folder or Path(self._scratch.name)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="alarms")
        self.system: AlarmSystem | None = None

    @property
    def journal_path(self) -> Path:
        """The journal's file, for readers on connections of their own (``journal_reply``)."""
        return self.folder / FILE_NAME

    async def _run(self, call, *args):
        return await asyncio.get_running_loop().run_in_executor(self._thread, partial(call, *args))

    async def open(self, design: Design) -> None:
        """Evaluate ``design``'s rules from now on; the journal (and every alarm's state in it)
        carries over from the design before."""
        await self._run(self._reopen, design)

    def _reopen(self, design: Design) -> None:
        if self.system is not None:
            self.system.close()
        self.system = AlarmSystem(design, self.folder)

    async def step(
        self, snapshot: Snapshot, events: Sequence[SourceEvent], time_s: float
    ) -> AlarmsChanged | None:
        """One evaluation; the alarms shown if any state changed (None if none did)."""
        return await self._run(self._step, snapshot, events, time_s)

    def _step(
        self, snapshot: Snapshot, events: Sequence[SourceEvent], time_s: float
    ) -> AlarmsChanged | None:
        transitions = self.system.step(snapshot, events, time_s)
        for t in transitions:  # the service's log says what a headless service raised
            if t.event == "active":
                log.info("alarm raised (%s): %s", t.priority, t.message or t.alarm_id)
        return self._shown(time_s) if transitions else None

    async def act(
        self, request: ActOnAlarm, user: str, role: Role, time_s: float
    ) -> tuple[Transition, AlarmsChanged]:
        """ActionRefused, with the reason, for an unknown action or alarm, a role that may not
        or a state that does not allow it; else the journaled transition and the list after it."""
        return await self._run(self._act, request, user, role, time_s)

    def _act(
        self, request: ActOnAlarm, user: str, role: Role, time_s: float
    ) -> tuple[Transition, AlarmsChanged]:
        try:
            action = Action(request.action)
        except ValueError:
            raise ActionRefused(f"{request.alarm_id}: no such action {request.action!r}") from None
        transition = self.system.act(request.alarm_id, action, user, role, time_s, request.note,
                                     request.shelve_until_s)  # fmt: skip
        return transition, self._shown(time_s)

    async def condition(self, change: ConditionChange) -> AlarmsChanged | None:
        """Raise or clear an alarm the service knows of itself (``condition_from_outside``);
        the alarms shown if a state changed."""
        return await self._run(self._condition, change)

    def _condition(self, change: ConditionChange) -> AlarmsChanged | None:
        if self.system is None or self.system.condition_from_outside(change) is None:
            return None
        if change.active:
            log.info("alarm raised (%s): %s", change.priority, change.message)
        return self._shown(change.time_s)

    async def shown(self, time_s: float) -> AlarmsChanged:
        return await self._run(self._shown, time_s)

    def _shown(self, time_s: float) -> AlarmsChanged:
        system = self.system
        chattering = system.annunciation.chattering
        alarms = tuple(alarm_shown(a, a.alarm_id in chattering) for a in system.shown())
        return AlarmsChanged(alarms, system.annunciation.flood is not None, time_s)

    async def close(self) -> None:
        if self.system is not None:
            await self._run(self.system.close)
        self._thread.shutdown()
        if self._scratch is not None:
            self._scratch.cleanup()
