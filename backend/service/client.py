"""A window's link to a service: frames, notices and commands, read without ever blocking.

The window's timer calls ``poll`` a few times a second: it reads every reply and notice waiting
on the command link, and every frame waiting, of which only the newest is kept (``frame``).
Nothing here waits on the network, so a window on a slow or dead link stays responsive.

Attaching: the DEALER socket connects and says ``Hello`` (protocol version in its header, and
the credentials, if any); the ``Welcome`` names the role and the service, and only then does the
SUB socket connect for frames (on the port it names). The service is ``silent`` the moment the
frame link drops (a socket monitor says so), or when no frame has come for ``SILENT_AFTER_S`` (a
hung service, a link that drops packets): the window then shows every reading as missing and
says so. ZeroMQ reconnects by itself; a frame from a service with a new id (it restarted)
makes the window sign in again and fetch the keys afresh.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import zmq

from factoryfloor.backend.service.control.commands import CommandProgress
from factoryfloor.backend.service.flex.messages import GetGrid, GridChanged
from factoryfloor.backend.service.frames import Frame, FrameError, FrameHeader, read_frame
from factoryfloor.backend.service.keys import KeyPair
from factoryfloor.backend.service.messages import (
    TOPIC_FRAME,
    AlarmsChanged,
    CommandUpdated,
    DesignApplied,
    GetAlarms,
    GetCommands,
    GetKeys,
    GetStatuses,
    Hello,
    KeysSent,
    StatusesSent,
    Welcome,
)
from factoryfloor.backend.service.tuning.messages import TuningProgress, TuningUpdated
from factoryfloor.backend.telemetry.protocol import (
    PROTOCOL_VERSION,
    EventsRaised,
    KeysAdded,
    Notification,
    ProtocolError,
    Refused,
    Reply,
    Request,
    decode,
    encode,
)
from factoryfloor.backend.telemetry.sink import SourceEvent

SILENT_AFTER_S = 2.0
"""No frame for this long (20 frames missed) and the service reads as gone."""
CUT_SHORT_REASON = (
    "the service stopped before it read this back: whether it took is unknown; "
    "check the value before sending it again"
)
"""Why a command under way when its service stopped ends unconfirmed in the window."""
KEPT_COMMANDS = 50
"""Commands a window keeps the progress of (the service keeps fewer for windows attaching)."""
HEARTBEAT_MS = 1000
"""ZeroMQ's own heartbeat on the command link: a dead service's connection is dropped and
retried within ``HEARTBEAT_TIMEOUT_MS``, so commands go to the service once it is back."""
HEARTBEAT_TIMEOUT_MS = 3000


@dataclass(frozen=True, slots=True)
class ServiceAddress:
    host: str
    port: int
    public_key: str
    """The service's CURVE public key (Z85): known before connecting, never learnt from it."""

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str = ""
    password: str = field(default="", repr=False)
    local_token: str = field(default="", repr=False)


def _endpoint(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def foreign_version_reason(data: bytes) -> str | None:
    """What a reply of another protocol version says, with both versions named; None if it is
    not one. A window of another version cannot read the service's refusal as a message, but
    the header's version and the refusal's reason are in the same places in every version."""
    try:
        envelope = json.loads(data)
        version = envelope["header"]["version"]
        reason = str(envelope.get("content", {}).get("reason", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if version == PROTOCOL_VERSION:
        return None
    return (f"the service speaks protocol version {version} and this window version "
            f"{PROTOCOL_VERSION}: use FactoryFloor of the same release as the service"
            + (f" (the service said: {reason})" if reason else ""))  # fmt: skip


class ServiceClient:
    def __init__(self, address: ServiceAddress, credentials: Credentials = Credentials(),
                 context: zmq.Context | None = None) -> None:  # fmt: skip
        self.address = address
        self.credentials = credentials
        self._context = context or zmq.Context.instance()
        self._own_keys = KeyPair.generate()
        self._dealer = self._curve_socket(zmq.DEALER)
        self._dealer.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_MS)
        self._dealer.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        self._dealer.connect(_endpoint(address.host, address.port))
        self._sub: zmq.Socket | None = None
        self._monitor: zmq.Socket | None = None
        """Tells of the frame link dropping the moment it drops (a killed service)."""
        self._disconnected = False
        self.keys: list[str] = []
        self._keys_slice: list[str] | None = None
        self._asking_keys = False
        self.welcome: Welcome | None = None
        self.refused = ""
        """Why the service refused this window (sign-in, protocol version); "" if it did not."""
        self.design_applied: list[DesignApplied] = []
        self.alarms: AlarmsChanged | None = None
        """The alarms the service shows now (None until it has said): asked on each sign-in,
        replaced by every notice of a change."""
        """Design versions applied since the caller last emptied the list."""
        self.commands: dict[str, CommandProgress] = {}
        self.tuning: TuningProgress | None = None
        """The tokens-per-joule sweep, as the service last told it."""
        """Recent commands by id, oldest first, as the service last told of each: asked on each
        sign-in, replaced (a new dict) by every notice."""
        self.grid: GridChanged | None = None
        """The feeds' grid load targets, as the service last told (asked on each sign-in)."""
        self.latency_s: list[float] = []
        """Service-to-window delay of each frame received, for the caller to sample."""
        self._awaiting: dict[str, Callable[[Reply, list[bytes]], None]] = {}
        self._statuses: list[SourceEvent] = []
        """Sources' statuses the Welcome brought, for the next ``poll`` to return."""
        self._newest: list[bytes] | None = None
        self._frame: Frame | None = None
        self._header: FrameHeader | None = None
        self._last_frame_s = time.monotonic()
        self.frame_problem = ""
        self._closed = False
        self._say_hello()

    def _curve_socket(self, kind: int) -> zmq.Socket:
        sock = self._context.socket(kind)
        sock.curve_serverkey = self.address.public_key.encode("ascii")
        sock.curve_publickey = self._own_keys.public.encode("ascii")
        sock.curve_secretkey = self._own_keys.secret.encode("ascii")
        sock.setsockopt(zmq.LINGER, 0)
        return sock

    # --- Commands ---------------------------------------------------------------------------

    def send(self, request: Request, on_reply: Callable[[Reply, list[bytes]], None]) -> None:
        """Send ``request``; a later ``poll`` calls ``on_reply`` with the service's reply and the
        binary parts after it (a history query's arrays)."""
        self._awaiting[request.msg_id] = on_reply
        self._dealer.send(encode(request), zmq.NOBLOCK)

    def _say_hello(self) -> None:
        who = f"{socket.gethostname()}/{os.getpid()}"
        creds = self.credentials
        hello = Hello(who, creds.user, creds.password, creds.local_token)
        self.send(hello, self._welcomed)

    def _welcomed(self, reply: Reply, _parts: list[bytes]) -> None:
        if isinstance(reply, Refused):
            self.refused = reply.reason
            return
        assert isinstance(reply, Welcome)
        self.refused = ""
        first = self.welcome is None
        if not first and self.welcome.service_id != reply.service_id:  # a restarted service
            self.commands = {i: p if p.finished_s is not None else p.cut_short(
                CUT_SHORT_REASON, time.time()) for i, p in self.commands.items()}  # fmt: skip
        self.welcome = reply
        self.send(GetAlarms(), lambda _reply, _parts: None)  # the list comes as a notice
        self.send(GetCommands(), lambda _reply, _parts: None)  # and so do the commands
        self.send(GetGrid(), lambda _reply, _parts: None)  # and the grid targets
        if first:
            self._sub = self._curve_socket(zmq.SUB)
            self._sub.setsockopt(zmq.RCVHWM, 2)
            self._sub.setsockopt(zmq.SUBSCRIBE, b"")
            self._monitor = self._sub.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            self._sub.connect(_endpoint(self.address.host, reply.frames_port))

    # --- Reading ----------------------------------------------------------------------------

    def poll(self) -> list[SourceEvent]:
        """Take in everything waiting: replies to their callbacks, notices, and the newest frame;
        the source events that arrived."""
        events: list[SourceEvent] = []
        if self._closed:
            return events
        self._take_replies(events)
        events.extend(self._statuses)
        self._statuses.clear()
        self._take_published(events)
        self._decode_newest()
        return events

    def _take_replies(self, events: list[SourceEvent]) -> None:
        while True:
            try:
                parts = self._dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                message = decode(parts[0])
            except ProtocolError as error:
                self.refused = foreign_version_reason(parts[0]) or error.reason
                continue
            if isinstance(message, Notification):
                self._take_notice(message, events)
                continue
            callback = self._awaiting.pop(getattr(message, "in_reply_to", None) or "", None)
            if callback is not None:
                callback(message, parts[1:])

    def _take_published(self, events: list[SourceEvent]) -> None:
        if self._sub is None:
            return
        while self._monitor is not None:
            try:
                self._monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            self._disconnected = True
        while True:
            try:
                parts = self._sub.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            if parts[0] == TOPIC_FRAME:
                self._newest = parts

    def _take_notice(self, notice: Notification, events: list[SourceEvent]) -> None:
        match notice:
            case KeysAdded(start=start, keys=keys) if start <= len(self.keys):
                self._add_keys(start, keys)
            case KeysAdded():
                self._ask_keys()  # attached after earlier keys went out: fetch them
            case EventsRaised(events=raised):
                events.extend(raised)
            case DesignApplied():
                self.design_applied.append(notice)
            case AlarmsChanged():
                self.alarms = notice
            case GridChanged():
                self.grid = notice
            case TuningUpdated(progress=progress):
                self.tuning = progress
            case CommandUpdated(progress=progress):  # a new dict: readers compare identity
                kept = {**self.commands, progress.command_id: progress}
                self.commands = dict(list(kept.items())[-KEPT_COMMANDS:])

    def _add_keys(self, start: int, keys: tuple[str, ...]) -> None:
        del self.keys[start:]
        self.keys.extend(keys)
        self._keys_slice = None

    def _ask_keys(self) -> None:
        if self._asking_keys:
            return
        self._asking_keys = True

        def take(reply: Reply, _parts: list[bytes]) -> None:
            self._asking_keys = False
            if isinstance(reply, KeysSent) and reply.start <= len(self.keys):
                self._add_keys(reply.start, reply.keys)

        self.send(GetKeys(len(self.keys)), take)

    def _decode_newest(self) -> None:
        parts, self._newest = self._newest, None
        if parts is None:
            return
        try:
            header, frame = read_frame(parts, len(self.keys), self._frame_keys)
        except FrameError as error:
            self.frame_problem = str(error)
            return
        known = self._header or self.welcome  # before any frame, the service that welcomed us
        if known is not None and header.service_id != known.service_id:
            self._restarted()
            header, frame = read_frame(parts, 0, self._frame_keys)
        if self._header is None or header.service_id != self._header.service_id:
            self.send(GetStatuses(), self._take_statuses)  # subscribed now: what came before
        self._header, self._frame = header, frame
        self._last_frame_s = time.monotonic()
        self._disconnected = False
        self.latency_s.append(time.time() - header.sent_s)
        if header.count > len(self.keys):
            self._ask_keys()

    def _take_statuses(self, reply: Reply, _parts: list[bytes]) -> None:
        if isinstance(reply, StatusesSent):
            self._statuses.extend(reply.statuses)

    def _restarted(self) -> None:
        """The service restarted: its keys may be in another order, and it has forgotten this
        window's sign-in."""
        self.keys.clear()
        self._keys_slice = None
        self._asking_keys = False
        self._say_hello()

    def _frame_keys(self, count: int) -> list[str]:
        if self._keys_slice is None or len(self._keys_slice) != count:
            self._keys_slice = self.keys[:count]
        return self._keys_slice

    def wait(self, timeout_s: float) -> None:
        """Block until something arrives on the command link, or ``timeout_s`` passes: for a
        caller with no window and nothing else to do (``factoryfloor alarms --service``)."""
        if not self._closed:
            self._dealer.poll(round(timeout_s * 1000))

    # --- State ------------------------------------------------------------------------------

    def frame(self) -> Frame | None:
        """The newest frame received (None before the first, and while the service is silent)."""
        return None if self.silent else self._frame

    @property
    def silent(self) -> bool:
        """No frame for ``SILENT_AFTER_S``, or the frame link dropped since the last one."""
        return self._disconnected or time.monotonic() - self._last_frame_s > SILENT_AFTER_S

    @property
    def silent_since_s(self) -> float:
        """Epoch seconds of the last frame (of attaching, before any frame)."""
        return time.time() - (time.monotonic() - self._last_frame_s)

    @property
    def design_version(self) -> int:
        if self._header is not None:
            return self._header.design_version
        return self.welcome.design_version if self.welcome else 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._dealer.close(linger=0)
        if self._sub is not None:
            self._sub.disable_monitor()
            self._monitor.close(linger=0)
            self._sub.close(linger=0)
