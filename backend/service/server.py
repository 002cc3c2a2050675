"""The FactoryFloor service: watches the facility with no window, and serves every window that
attaches (docs/transport.md).

One asyncio loop runs the design's telemetry sources into the store, keeps the live history
windows are seeded with, hands a snapshot a second to the history recorder (its own thread
writes it to disk), and runs two CURVE-encrypted ZeroMQ sockets: a PUB socket that sends every
window the latest frame ``FRAME_HZ`` times a second, and a ROUTER socket that answers each
window's commands (sign-in, keys, the design, applying a design, history, the alarm journal)
and sends it notices (new series keys, source events, a design applied, the alarm list changed),
which unlike frames must not be dropped. The alarm rules are evaluated on every frame's snapshot,
on a thread of their own (``alarm_desk``), whether or not any window is attached.
Windows cost the service nothing but the send: a slow or frozen window loses old frames at its
high-water mark, and neither the service nor the other windows wait for it. A window that dies
mid-request leaves a reply that ZeroMQ drops; the service carries on.

What a window may do is what its session's role permits: a window that has not signed in is a
viewer; the embedded service trusts the window that started it (the ``local_token`` it was
given) as the local user, an engineer. Sign-ins, design changes and alarm actions (refused ones
too) go to the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq
import zmq.asyncio

from factoryfloor.backend.design.design_file import DesignFileError
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.telemetry_settings import TelemetrySettings
from factoryfloor.backend.service.alarm_desk import AlarmDesk
from factoryfloor.backend.service.alarms.evaluator import ConditionChange
from factoryfloor.backend.service.alarms.states import ActionRefused
from factoryfloor.backend.service.audit import AuditLog
from factoryfloor.backend.service.audit_reply import audit_reply
from factoryfloor.backend.service.control_link import ControlLink, control_executors
from factoryfloor.backend.service.design_versions import DesignVersions, StaleDesign
from factoryfloor.backend.service.flex.messages import (
    ApplyGridProposal,
    GetGrid,
    RemoveGridCaps,
    SetGridPolicy,
)
from factoryfloor.backend.service.frames import FrameHeader, frame_parts
from factoryfloor.backend.service.gpu_rows_transfer import gpu_rows_reply
from factoryfloor.backend.service.grid_link import GridLink
from factoryfloor.backend.service.history_export import ExportError
from factoryfloor.backend.service.history_export_reply import export_bytes
from factoryfloor.backend.service.history_transfer import history_reply
from factoryfloor.backend.service.journal_reply import journal_reply
from factoryfloor.backend.service.keys import KeyPair
from factoryfloor.backend.service.messages import (
    ActOnAlarm,
    ApplyDesign,
    DesignApplied,
    DesignSent,
    ExportAudit,
    ExportHistory,
    ExportJournal,
    GetAlarmReport,
    GetAlarms,
    GetCommands,
    GetDesign,
    GetHistory,
    GetKeys,
    GetMoment,
    GetStatuses,
    Hello,
    HistoryExported,
    KeysSent,
    MomentSent,
    PreviewCommand,
    QueryAudit,
    QueryGpuRows,
    QueryJournal,
    SendCommand,
    StatusesSent,
    VerifyAudit,
    Welcome,
)
from factoryfloor.backend.service.recorder import HistoryRecorder, history_folder
from factoryfloor.backend.service.roles import Role, permits
from factoryfloor.backend.service.tuning.messages import (
    ApplyTuning,
    CancelTuning,
    GetTuning,
    StartTuning,
    TuningRequest,
    TuningUpdated,
)
from factoryfloor.backend.service.tuning.runner import (
    Tuner,
    TuningRefused,
    settings_from_environment,
)
from factoryfloor.backend.service.users import AUDIT_FILE, SignInRefused, UserStore
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.backend.telemetry.protocol import (
    Accepted,
    EventsRaised,
    KeysAdded,
    Message,
    ProtocolError,
    Refused,
    Reply,
    Request,
    decode,
    encode,
)
from factoryfloor.backend.telemetry.runner import run_sources
from factoryfloor.backend.telemetry.sink import GOOD, SourceEvent
from factoryfloor.backend.telemetry.sources.assemble import build_sources
from factoryfloor.backend.telemetry.store import Snapshot, TelemetryStore

FRAME_HZ = 10.0
"""Frames a second to every window. A window draws 4 a second; 10 keeps what it draws at most
100 ms old, and every frame doubles as the heartbeat that tells a window the service is up."""
RECORD_INTERVAL_S = 1.0
"""The history on disk takes a second's snapshot once a second: every reading of 1 Hz sources."""
HISTORY_INTERVAL_S = 0.25
"""The live history samples the frames as a window's did (its frame tick): every column's mean
is the same whether a window recorded it or the service did."""
SIGN_IN_HASHES_AT_ONCE = 2
"""Password checks running at once: a flood of sign-ins cannot take the machine's cores."""
FREE_SIGN_IN_FAILURES = 3
"""Wrong passwords a window may try before each answer waits 1, 2, 4, ... s (up to 30 s)."""
MAX_SIGN_IN_WAIT_S = 30.0
FRAME_HWM = 2
"""Frames held per window at each end (ZeroMQ's high-water mark): live data is for now."""
ALARM_INTERVAL_S = 0.1
"""The alarm rules are evaluated on every frame's snapshot that holds a new reading or event
(up to 10 a second) while no step is under way: a reading waiting up to a second for the next
evaluation would spend the whole of the half-second budget from reading to alarm shown before
anyone saw it. A step at 16,384 GPUs with 1,000 extra rules takes about 25 ms on its own thread
(bench/alarms.py); a longer one is never piled on."""
ALARM_QUIET_INTERVAL_S = 1.0
"""With no new reading or event, the rules are still evaluated once a second: on-delays,
staleness and shelving run on the clock."""

log = logging.getLogger("factoryfloor.service")


@dataclass(frozen=True)
class ServiceConfig:
    """What a service runs; plain data, so it crosses into an embedded service's process."""

    design_path: str
    keys: KeyPair
    data_folder: str | None = None
    """Users, audit log, design versions and history; None: an embedded service that keeps
    nothing on disk (its window trusts the local user, who needs no account)."""
    host: str = "127.0.0.1"
    port: int = 0
    """Commands; frames on the next port up. 0: any free ports (an embedded service)."""
    local_token: str = ""
    """The secret a window shows to be taken for the local user, as an engineer; "" for none."""
    telemetry: TelemetrySettings | None = None
    """Sources to run; None: the design's own."""
    simulator_hz: float = 4.0
    retention_s: float = 3600.0
    history_budget_bytes: int | None = None
    """The most the history on disk may take (oldest days go first); None: no limit."""


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: Role


VIEWER = Session("", Role.VIEWER)


@dataclass(frozen=True, slots=True)
class Listening:
    """Where the service listens, once bound."""

    host: str
    port: int
    frames_port: int


class Service:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.service_id = uuid.uuid4().hex
        folder = Path(config.data_folder) if config.data_folder else None
        self.folder = folder
        self.versions = DesignVersions(Path(config.design_path), folder)
        self.users = UserStore(folder) if folder is not None else None
        self.audit = AuditLog(folder / AUDIT_FILE) if folder is not None else None
        self.sessions: dict[bytes, Session] = {}
        self._hashing = asyncio.Semaphore(SIGN_IN_HASHES_AT_ONCE)
        self._failed_sign_ins: dict[bytes, int] = {}
        """Window -> sign-ins refused in a row: after a few, each answer is held back longer."""
        self.store: TelemetryStore | None = None
        self._runner: asyncio.Task | None = None
        self.history: LiveHistory | None = None
        """The live history windows are seeded with when they start Run: what they would have
        drawn since the service started (up to a day), recorded as a window records it."""
        self._router: zmq.asyncio.Socket | None = None
        self._keys_sent = 0
        self._tasks: set[asyncio.Task] = set()
        self._listening: Listening | None = None
        self.recorder: HistoryRecorder | None = None
        """Every second ingested, on disk (``factoryfloor serve``); an embedded service,
        which has no data folder, keeps the live history only."""
        self._statuses: dict[tuple[str, str], SourceEvent] = {}
        """The latest status event of each source and subject, for windows attaching later."""
        self.alarms = AlarmDesk(folder)
        """The alarm system on the running design, evaluated whether or not a window is
        attached; its journal in the data folder (an embedded service's, in a scratch one)."""
        self._alarm_events: list[SourceEvent] = []
        """Source events since the last alarm step: the next step's."""
        self._alarm_step: asyncio.Task | None = None
        self.control = ControlLink(self._audit, self._notify, self._tell_one, self._condition)
        """Commands from windows to the running design's GPUs and BMS."""
        self.grid = GridLink(folder, self._audit, self._notify, self._tell_one)
        """DSX Flex load targets on the running design's feeds."""
        self.tuning = Tuner(folder, self._audit, self._notify,
                            settings_from_environment(os.environ))  # fmt: skip
        """The tokens-per-joule tuner: one sweep at a time, through the control desk."""

    async def run(
        self, stopping: asyncio.Event, on_listening: Callable[[Listening], None] = lambda _: None
    ) -> None:
        """Serve until ``stopping`` is set. DesignFileError or OSError if the design cannot be
        read; ZMQError if the address cannot be bound."""
        design = self.versions.open()
        settings = self.config.telemetry or design.telemetry
        self.store = TelemetryStore(retention_s=self.config.retention_s,
                                    max_series=settings.max_series)  # fmt: skip
        if self.folder is not None:
            self.recorder = HistoryRecorder(
                history_folder(self.folder), budget_bytes=self.config.history_budget_bytes
            )
        context = zmq.asyncio.Context()
        router = self._router = self._curve_socket(context, zmq.ROUTER)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a window gone is an error, not a silent drop
        pub = self._curve_socket(context, zmq.PUB)
        pub.setsockopt(zmq.SNDHWM, FRAME_HWM)
        try:
            listening = self._listening = self._bind(router, pub)
            await self.alarms.open(design)
            await self._start_sources(design)
            await self.tuning.restore_cut_short(self.control.desk)
            log.info("serving design version %d of %s on %s:%d (frames on port %d)",
                     self.versions.version, self.config.design_path, listening.host,
                     listening.port, listening.frames_port)  # fmt: skip
            on_listening(listening)
            frames = asyncio.create_task(self._publish_frames(pub))
            commands = asyncio.create_task(self._answer_commands(router))
            await stopping.wait()
            for task in (frames, commands, *self._tasks):
                task.cancel()
            await asyncio.gather(frames, commands, *self._tasks, return_exceptions=True)
        finally:
            await self.control.close()
            await self._stop_sources()
            if self.recorder is not None:  # commits the open minute: off the loop
                await asyncio.to_thread(self.recorder.close)
            if self._alarm_step is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._alarm_step
            await self.alarms.close()
            # destroy, not term: term waits for every socket ever made to be closed, and a
            # socket a cancelled task was still using can leave it waiting for ever.
            context.destroy(linger=0)
            log.info("stopped")

    def _curve_socket(self, context: zmq.asyncio.Context, kind: int) -> zmq.asyncio.Socket:
        socket = context.socket(kind)
        socket.curve_secretkey = self.config.keys.secret.encode("ascii")
        socket.curve_publickey = self.config.keys.public.encode("ascii")
        socket.curve_server = True
        return socket

    def _bind(self, router: zmq.asyncio.Socket, pub: zmq.asyncio.Socket) -> Listening:
        host, port = self.config.host, self.config.port
        address = f"[{host}]" if ":" in host else host
        if port == 0:
            commands = router.bind_to_random_port(f"tcp://{address}")
            frames = pub.bind_to_random_port(f"tcp://{address}")
        else:
            commands, frames = port, port + 1
            router.bind(f"tcp://{address}:{commands}")
            pub.bind(f"tcp://{address}:{frames}")
        return Listening(host, commands, frames)

    # --- Sources ----------------------------------------------------------------------------

    async def _start_sources(self, design: Design) -> None:
        self.history = LiveHistory(design)
        settings = self.config.telemetry or design.telemetry
        sources = build_sources(design, settings, self.store, self.config.simulator_hz)
        self._runner = asyncio.create_task(run_sources(sources, self.store))
        gpus, facility = control_executors(sources)
        await self.control.use(design, gpus, facility)
        await self.grid.use(design, self.store, settings.mqtt)

    async def _stop_sources(self) -> None:
        await self.grid.stop()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
            self._runner = None

    # --- Frames -----------------------------------------------------------------------------

    async def _publish_frames(self, pub: zmq.asyncio.Socket) -> None:
        events_seen = 0
        seq = 0
        recorded_s = on_disk_s = alarms_s = judged_until_s = 0.0
        keys: list[str] = []
        history_seen = 0
        while True:
            store = self.store
            now_s = time.time()
            snap = store.snapshot("", now_s)
            count = len(snap.keys)
            if count > self._keys_sent:
                keys = tuple(str(k) for k in snap.keys[self._keys_sent : count])
                await self._notify(KeysAdded(self._keys_sent, keys))
                self._keys_sent = count
            seq += 1
            header = FrameHeader(seq, now_s, count, self.service_id, self.versions.version)
            await pub.send_multipart(frame_parts(header, snap), copy=False)
            if now_s - recorded_s >= HISTORY_INTERVAL_S:
                recorded_s = now_s
                shown = np.where(snap.stale | (snap.qualities != GOOD), np.nan, snap.values)
                if len(keys) != count:  # one list until the keys change: mapped once
                    keys = [str(k) for k in snap.keys]
                self.history.add(keys, now_s, shown)
            if self.recorder is not None and now_s - on_disk_s >= RECORD_INTERVAL_S:
                on_disk_s = now_s
                if len(keys) != count:
                    keys = [str(k) for k in snap.keys]
                self.recorder.record(now_s, keys, snap.values, snap.qualities, snap.stale,
                                     self.versions.version)  # fmt: skip
            await self._step_grid(snap, now_s)
            await self._step_tuning(store, now_s)
            events, events_seen = store.events_since(events_seen)
            if self.recorder is not None:
                recorded, history_seen = self.recorder.events_since(history_seen)
                events = [*events, *recorded]
            if events:
                self._statuses.update(((e.source, e.subject), e) for e in events
                                      if e.kind == "status")  # fmt: skip
                await self._notify(EventsRaised(tuple(events)))
                self._alarm_events.extend(events)
            newest_s = float(np.fmax.reduce(snap.times_s)) if count else 0.0  # NaN: no reading
            news = newest_s > judged_until_s or self._alarm_events
            if (now_s - alarms_s >= (ALARM_INTERVAL_S if news else ALARM_QUIET_INTERVAL_S)
                    and self._alarm_idle()):  # fmt: skip
                alarms_s, judged_until_s = now_s, newest_s
                events, self._alarm_events = self._alarm_events, []
                self._alarm_step = asyncio.create_task(self._step_alarms(snap, events, now_s))
            await asyncio.sleep(max(0.0, 1.0 / FRAME_HZ - (time.time() - now_s)))

    async def _step_grid(self, snap: Snapshot, now_s: float) -> None:
        try:
            await self.grid.tick(snap, now_s, self.control.desk)
        except Exception:  # a failing grid step must not stop the frames; the log says why
            log.exception("grid step failed")

    async def _step_tuning(self, store: TelemetryStore, now_s: float) -> None:
        try:
            await self.tuning.on_frame(self.control.desk, store, now_s)
            measured = self.tuning.measured_curve()
            if measured is not None and self.grid.desk is not None:
                self.grid.desk.curves.measured[measured[0]] = measured[1]
        except Exception:  # a failing sweep must not stop the frames; the log says what failed
            log.exception("tuning step failed")

    async def _tune(self, identity: bytes, session: Session, request: TuningRequest) -> Reply:
        desk, tuner, user = self.control.desk, self.tuning, session.user or "viewer"
        if desk is None:
            return Refused(request.msg_id, "the service is starting: no control yet")
        try:
            match request:
                case StartTuning():
                    await tuner.start(desk, self.versions.design, self.store, request, user,
                                      session.role, time.time())  # fmt: skip
                case CancelTuning():
                    await tuner.cancel(desk, user, session.role)
                case ApplyTuning():
                    await tuner.apply(desk, user, session.role, time.time())
                case GetTuning():
                    if (progress := tuner.progress()) is not None:
                        await self._tell_one(identity, TuningUpdated(progress))
        except TuningRefused as refused:
            return Refused(request.msg_id, str(refused))
        return Accepted(request.msg_id)

    # --- Alarms -----------------------------------------------------------------------------

    def _alarm_idle(self) -> bool:
        """No alarm step under way: a step that takes longer than a second is not piled on."""
        return self._alarm_step is None or self._alarm_step.done()

    async def _step_alarms(self, snap: Snapshot, events: list[SourceEvent], now_s: float) -> None:
        """Evaluate the rules on the thread of their own; tell every window if a state moved."""
        try:
            changed = await self.alarms.step(snap, events, now_s)
        except Exception:  # a failing rule must not stop the frames; the log says what failed
            log.exception("alarm step failed")
            return
        if changed is not None:
            await self._notify(changed)

    async def _act_on_alarm(self, session: Session, request: ActOnAlarm) -> Reply:
        """An operator's action, checked against the session's role; audited either way,
        journaled by the alarm system, and every window told."""
        actor = session.user or "viewer"
        subject = f"alarm {request.alarm_id}"
        try:
            transition, changed = await self.alarms.act(request, actor, session.role,
                                                        time.time())  # fmt: skip
        except ActionRefused as refused:
            self._audit(actor, f"alarm.{request.action}", subject, "refused", str(refused))
            return Refused(request.msg_id, str(refused))
        self._audit(actor, f"alarm.{request.action}", subject, "ok", request.note,
                    transition.old_state.value, transition.new_state.value)  # fmt: skip
        await self._notify(changed)
        return Accepted(request.msg_id)

    async def _send_alarms(self, identity: bytes, request: GetAlarms) -> Reply:
        """The alarms shown now, to this window alone, as the notice every change brings."""
        await self._tell_one(identity, await self.alarms.shown(time.time()))
        return Accepted(request.msg_id)

    async def _tell_one(self, identity: bytes, message: Message) -> None:
        """A notice to one window (on attaching: what every later change brings to all)."""
        with contextlib.suppress(zmq.ZMQError):  # the window went away: nobody to tell
            await self._router.send_multipart([identity, encode(message)], zmq.NOBLOCK)

    async def _condition(self, change: ConditionChange) -> None:
        """An alarm the service raises of itself (a command never confirmed)."""
        changed = await self.alarms.condition(change)
        if changed is not None:
            await self._notify(changed)

    async def _notify(self, message: Message) -> None:
        """Tell every attached window, on its command link: unlike frames, a notice (new keys,
        events, a design applied) is never dropped for a window that keeps reading. A window
        too far behind to take it (at the high-water mark) misses it, and one that has gone is
        forgotten."""
        data = encode(message)
        for identity in list(self.sessions):
            try:
                await self._router.send_multipart([identity, data], zmq.NOBLOCK)
            except zmq.ZMQError as error:
                if error.errno == zmq.EHOSTUNREACH:
                    del self.sessions[identity]

    # --- Commands ---------------------------------------------------------------------------

    async def _answer_commands(self, router: zmq.asyncio.Socket) -> None:
        """Read commands one after another; each is answered by a task of its own, so a slow
        one (a sign-in's password hash, a long history query) never holds up the others."""
        while True:
            identity, *parts = await router.recv_multipart()
            task = asyncio.create_task(self._answer(router, identity, parts))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(
        self, router: zmq.asyncio.Socket, identity: bytes, parts: list[bytes]
    ) -> None:
        try:
            request = decode(parts[0]) if parts else None
        except ProtocolError as error:
            log.warning("refused a command from window %s: %s", identity.hex(), error.reason)
            reply: list[bytes] = [encode(Refused(error.msg_id, error.reason))]
        else:
            if not isinstance(request, Request):
                what = request.msg_type if request is not None else "empty message"
                reply = [encode(Refused(getattr(request, "msg_id", None),
                                        f"the service takes no {what} messages"))]  # fmt: skip
            else:
                reply = await self._handle(identity, request)
        with contextlib.suppress(zmq.ZMQError):  # the window went away: nobody to tell
            await router.send_multipart([identity, *reply], zmq.NOBLOCK)

    async def _handle(self, identity: bytes, request: Request) -> list[bytes]:
        session = self.sessions.get(identity, VIEWER)
        match request:
            case Hello():
                answer: Reply = await self._sign_in(identity, request)
            case GetKeys(start=start):
                keys = self.store.snapshot("", time.time()).keys[start : self._keys_sent]
                answer = KeysSent(request.msg_id, start, tuple(str(k) for k in keys))
            case GetStatuses():
                answer = StatusesSent(request.msg_id, tuple(self._statuses.values()))
            case GetHistory(with_gpus=with_gpus):
                reply, parts = history_reply(request.msg_id, self.history, with_gpus)
                return [encode(reply), *parts]
            case QueryGpuRows():  # a whole hall takes a while: numpy lets frames go meanwhile
                reply, parts = await asyncio.to_thread(gpu_rows_reply, request, self.history)
                return [encode(reply), *parts]
            case GetMoment(time_s=time_s):
                moment = self.history.moment(time_s)
                answer = MomentSent(request.msg_id, time_s, moment.resolution_s,
                                    len(moment.values))  # fmt: skip
                return [encode(answer), moment.values.tobytes()]
            case ExportHistory():
                return await self._export(request)
            case GetDesign():
                answer = DesignSent(request.msg_id, self.versions.version, self.versions.text)
            case ApplyDesign():
                answer = await self._apply_design(session, request)
            case GetAlarms():
                answer = await self._send_alarms(identity, request)
            case ActOnAlarm():
                answer = await self._act_on_alarm(session, request)
            case StartTuning() | CancelTuning() | ApplyTuning() | GetTuning():
                answer = await self._tune(identity, session, request)
            case PreviewCommand() | SendCommand() | GetCommands():
                answer = await self.control.answer(identity, session.user, session.role, request)
            case GetGrid() | ApplyGridProposal() | RemoveGridCaps() | SetGridPolicy():
                answer = await self.grid.answer(identity, session.user or "viewer", session.role,
                                                request, self.control.desk)  # fmt: skip
            case QueryJournal() | ExportJournal() | GetAlarmReport():
                # Any window, a viewer's too (roles): off the loop, and off the alarm thread.
                reply, parts = await asyncio.to_thread(journal_reply, self.alarms.journal_path,
                                                       request, time.time())  # fmt: skip
                return [encode(reply), *parts]
            case QueryAudit() | ExportAudit() | VerifyAudit():  # operators up (roles): off the loop
                reply, parts = await asyncio.to_thread(audit_reply, self.audit, request,
                                                       session.role)  # fmt: skip
                return [encode(reply), *parts]
            case _:
                answer = Refused(
                    request.msg_id, f"the service takes no {request.msg_type} messages"
                )
        return [encode(answer)]

    async def _sign_in(self, identity: bytes, hello: Hello) -> Reply:
        actor = f"window {hello.client}"
        if hello.local_token:
            if not self.config.local_token or not secrets.compare_digest(
                    hello.local_token, self.config.local_token):  # fmt: skip
                self._audit(actor, "sign_in", "local user", "refused", "wrong local token")
                return Refused(
                    hello.msg_id,
                    "sign-in refused: this window did not start the "
                    "service, so it cannot sign in as its local user",
                )
            session = Session(f"local:{getpass.getuser()}", Role.ENGINEER)
        elif hello.user:
            if self.users is None:
                return Refused(
                    hello.msg_id,
                    "this service keeps no users: it trusts only the window that started it",
                )
            failures = self._failed_sign_ins.get(identity, 0)
            if failures >= FREE_SIGN_IN_FAILURES:  # guessing: each try waits longer
                await asyncio.sleep(min(2.0 ** (failures - FREE_SIGN_IN_FAILURES),
                                        MAX_SIGN_IN_WAIT_S))  # fmt: skip
            try:
                async with self._hashing:  # Argon2 is costly on purpose: bound it
                    user = await asyncio.to_thread(self.users.sign_in, hello.user,
                                                   hello.password, actor)  # fmt: skip
            except SignInRefused as refused:
                self._failed_sign_ins[identity] = failures + 1
                log.warning("sign-in refused for %r from %s", hello.user, hello.client)
                return Refused(hello.msg_id, str(refused))
            except (ValueError, OSError) as error:
                return Refused(hello.msg_id, f"sign-in failed on the service: {error}")
            self._failed_sign_ins.pop(identity, None)
            session = Session(user.name, user.role)
        else:
            session = VIEWER
        self.sessions[identity] = session
        log.info("window %s attached as %s (%s)", hello.client, session.user or "viewer",
                 session.role.value)  # fmt: skip
        return Welcome(hello.msg_id, session.user, session.role.value, self.service_id,
                       self.versions.version, self._listening.frames_port)  # fmt: skip

    async def _apply_design(self, session: Session, request: ApplyDesign) -> Reply:
        actor = session.user or "viewer"
        if not permits(session.role, Role.ENGINEER):
            reason = (
                f"applying a design needs the engineer role; this window is signed in as "
                f"{session.role.value}"
            )
            self._audit(actor, "design.apply", self.config.design_path, "refused", reason)
            return Refused(request.msg_id, reason)
        try:
            design = self.versions.apply(request.design_json, request.base_version)
        except (DesignFileError, StaleDesign, OSError) as error:
            self._audit(actor, "design.apply", self.config.design_path, "refused", str(error))
            return Refused(request.msg_id, str(error))
        self._audit(
            actor, "design.apply", self.config.design_path, "ok", f"version {self.versions.version}"
        )
        await self._stop_sources()
        await self.alarms.open(design)
        await self._start_sources(design)
        log.info("design version %d applied by %s", self.versions.version, actor)
        await self._notify(DesignApplied(self.versions.version, actor))
        return Accepted(request.msg_id)

    async def _export(self, request: ExportHistory) -> list[bytes]:
        """The export's file, made off the loop (a day of a fleet takes a while)."""
        if self.folder is None:
            return [encode(Refused(request.msg_id, "this window's own service keeps no history "
                                                   "on disk: export from a service started with "
                                                   "'factoryfloor serve'"))]  # fmt: skip
        try:
            data, summary = await asyncio.to_thread(
                export_bytes, history_folder(self.folder), request.patterns, request.start_s,
                request.end_s, request.step_s, request.format)  # fmt: skip
        except (ExportError, ValueError, OSError) as error:
            return [encode(Refused(request.msg_id, str(error)))]
        reply = HistoryExported(request.msg_id, summary.series, summary.rows, request.format)
        return [encode(reply), data]

    def _audit(self, actor: str, action: str, subject: str, outcome: str, detail: str,
               old_value: str = "", new_value: str = "") -> None:  # fmt: skip
        if self.audit is not None:
            self.audit.record(actor, action, subject, outcome, detail, old_value=old_value,
                              new_value=new_value)  # fmt: skip
