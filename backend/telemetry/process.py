"""The telemetry backend in its own process, and the GUI's handle on it.

Why a process (design notes, section 7): on a 2-core machine an ingest thread inside the GUI
process halves the frame rate at 5,000 messages/s and breaks it above that, whatever the GIL
switch interval; the same ingest in another process keeps the GUI near 70 fps.

The backend process owns the store and the sources (one asyncio loop). About 30 times a second
it copies the latest reading of every series into a shared-memory frame table. Everything else
crosses one pipe as the typed, versioned messages of ``protocol``: where the table is, new
series keys and source events go to the GUI, batched once per frame; requests (stop) come back,
each answered with a reply naming it. The GUI reads a frame without locks: a sequence number,
odd while the backend writes, lets it retry a torn read once; a read still torn after that is
used as it is, and may mix readings of successive writes. The GUI keeps the history and works
out the live figures and alarms from these frames itself.

A table outgrown by new series is replaced by a larger one, announced before the old one is
unlinked. A fleet that grows fast can have several tables replaced between two reads of the GUI,
so the GUI attaches only the newest table announced, and keeps the one it reads until that
attach has succeeded.

The backend exits when its parent dies (the pipe closes) and unlinks its shared memory on the
way out. A backend that ends without being asked to (killed outright, or failed) cannot unlink
anything: the client notices at its next ``poll`` (the process has an exit status), records why
in ``lost`` and unlinks the dead backend's tables itself, so no frame of a dead backend is ever
read as current and its memory is freed at once rather than when the GUI exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.telemetry_settings import TelemetrySettings
from factoryfloor.backend.telemetry.protocol import (
    Accepted,
    BackendFailed,
    EventsRaised,
    FrameTableOpened,
    KeysAdded,
    ProtocolError,
    Refused,
    Reply,
    Request,
    Stop,
    decode,
    encode,
)
from factoryfloor.backend.telemetry.runner import run_sources
from factoryfloor.backend.telemetry.sink import SourceEvent
from factoryfloor.backend.telemetry.sources.assemble import build_sources
from factoryfloor.backend.telemetry.store import TelemetryStore

FRAME_HZ = 30.0
HEADER_BYTES = 64
"""int64 sequence number and series count, padded so the arrays start aligned."""


def _frame_bytes(capacity: int) -> int:
    return HEADER_BYTES + capacity * (8 + 4 + 1 + 1)


class FrameTable:
    """The shared-memory layout: header, then times (f8), values (f4), quality (u1), stale (u1)."""

    def __init__(self, shm: SharedMemory, capacity: int):
        self.shm = shm
        self.capacity = capacity
        buf = shm.buf
        self.header = np.ndarray((2,), np.int64, buf, 0)
        offset = HEADER_BYTES
        self.times_s = np.ndarray((capacity,), np.float64, buf, offset)
        offset += 8 * capacity
        self.values = np.ndarray((capacity,), np.float32, buf, offset)
        offset += 4 * capacity
        self.qualities = np.ndarray((capacity,), np.uint8, buf, offset)
        offset += capacity
        self.stale = np.ndarray((capacity,), np.bool_, buf, offset)

    @classmethod
    def create(cls, capacity: int) -> FrameTable:
        return cls(SharedMemory(create=True, size=_frame_bytes(capacity)), capacity)

    @classmethod
    def attach(cls, name: str, capacity: int) -> FrameTable:
        return cls(SharedMemory(name=name), capacity)

    def release(self) -> None:
        """Drop the numpy views before closing: the buffer cannot close while they exist. Safe
        to call twice."""
        if not hasattr(self, "header"):
            return
        del self.header, self.times_s, self.values, self.qualities, self.stale
        self.shm.close()


@dataclass(frozen=True)
class BackendConfig:
    """What the backend process should run; plain data, so it crosses the process boundary."""

    design_path: str
    telemetry: TelemetrySettings | None = None
    """Sources to run; None: the design file's own telemetry settings."""
    simulator_hz: float = 4.0
    retention_s: float = 3600.0


# --- The backend process ------------------------------------------------------------------------


FAILURE_CHARS = 400
"""At most this much of an error's text goes to the GUI: a banner line, not a report."""


def backend_main(conn: Connection, config: BackendConfig) -> None:
    """Entry point of the spawned backend process. An error that ends it is told to the GUI
    (``BackendFailed``) before the process exits with it."""
    try:
        asyncio.run(_serve(conn, config))
    except Exception as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        with contextlib.suppress(OSError):
            conn.send_bytes(encode(BackendFailed(reason[:FAILURE_CHARS])))
        raise


async def _serve(conn: Connection, config: BackendConfig) -> None:
    design = load_design(config.design_path)
    settings = config.telemetry or design.telemetry
    store = TelemetryStore(retention_s=config.retention_s, max_series=settings.max_series)
    sources = build_sources(design, settings, store, config.simulator_hz)
    table = FrameTable.create(1024)
    conn.send_bytes(encode(FrameTableOpened(table.shm.name, table.capacity)))
    runner = asyncio.create_task(run_sources(sources, store))
    keys_sent = 0
    events_seen = 0
    try:
        while True:
            if _answer_requests(conn):
                break
            snap = store.snapshot("", time.time())
            count = len(snap.keys)
            if count > table.capacity:
                # The new table is announced before the old one is unlinked: a GUI that finds
                # an announced table already gone has its successor's announcement waiting.
                old = table
                table = FrameTable.create(max(count, 2 * old.capacity))
                conn.send_bytes(encode(FrameTableOpened(table.shm.name, table.capacity)))
                old.release()
                old.shm.unlink()
            if count > keys_sent:
                keys = tuple(str(k) for k in snap.keys[keys_sent:count])
                conn.send_bytes(encode(KeysAdded(keys_sent, keys)))
                keys_sent = count
            _write_frame(table, snap)
            events, events_seen = store.events_since(events_seen)
            if events:
                conn.send_bytes(encode(EventsRaised(tuple(events))))
            await asyncio.sleep(1.0 / FRAME_HZ)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the GUI is gone: stop
    finally:
        runner.cancel()
        table.release()
        table.shm.unlink()


def _answer_requests(conn: Connection) -> bool:
    """Answer every request waiting on the pipe; True once a stop has been accepted (what
    follows it is never read). Anything unreadable is refused, with the reason, and serving
    goes on. EOFError when the parent has gone."""
    while conn.poll():
        try:
            request = decode(conn.recv_bytes())
        except ProtocolError as error:
            conn.send_bytes(encode(Refused(error.msg_id, error.reason)))
            continue
        match request:
            case Stop():
                conn.send_bytes(encode(Accepted(request.msg_id)))
                return True
            case _:
                reason = f"the backend takes no {request.msg_type} messages"
                conn.send_bytes(encode(Refused(request.msg_id, reason)))
    return False


def _write_frame(table: FrameTable, snap) -> None:
    count = len(snap.keys)
    table.header[0] += 1  # odd: writing
    table.times_s[:count] = snap.times_s
    table.values[:count] = snap.values
    table.qualities[:count] = snap.qualities
    table.stale[:count] = snap.stale
    table.header[1] = count
    table.header[0] += 1  # even: consistent


# --- The GUI's side -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """The latest reading of every series the backend knows, as parallel arrays: copies, but
    ``keys`` is the same list from frame to frame until the keys change."""

    keys: list[str]
    times_s: np.ndarray
    values: np.ndarray
    qualities: np.ndarray
    stale: np.ndarray

    def value(self, key: str) -> float | None:
        try:
            index = self.keys.index(key)
        except ValueError:
            return None
        return float(self.values[index])


@dataclass(frozen=True, slots=True)
class BackendExited:
    """The backend process ended without being asked to."""

    exit_code: int
    """Its exit status; negative: minus the number of the signal that ended it."""
    error: str = ""
    """The error it said it failed on, if it could say."""

    @property
    def reason(self) -> str:
        """``killed by SIGKILL``, ``exited with code 1: <error>``: what the operator is told."""
        if self.exit_code >= 0:
            return f"exited with code {self.exit_code}" + (f": {self.error}" if self.error else "")
        try:
            return f"killed by {signal.Signals(-self.exit_code).name}"
        except ValueError:
            return f"killed by signal {-self.exit_code}"


def unlink_segment(name: str) -> None:
    """Remove a shared-memory segment by name; one already gone is fine."""
    with contextlib.suppress(FileNotFoundError):
        segment = SharedMemory(name=name)
        segment.close()
        segment.unlink()


class BackendClient:
    """Starts the backend process, reads its frames and events without blocking, and sends it
    requests."""

    def __init__(self, config: BackendConfig):
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self.process = context.Process(target=backend_main, args=(child_conn, config),
                                       name="factoryfloor-backend", daemon=True)  # fmt: skip
        self.process.start()
        child_conn.close()
        self.keys: list[str] = []
        self._table: FrameTable | None = None
        self.segment_name = ""
        self._announced: FrameTableOpened | None = None
        """The newest frame table announced and not attached yet."""
        self._keys_slice: list[str] | None = None
        self._awaiting: dict[str, Callable[[Reply], None]] = {}
        """Request id -> what to call with its reply."""
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._stop_requested = False
        self.lost: BackendExited | None = None
        """Set by ``poll`` once the backend has ended without a stop being asked for."""
        self._failure = ""
        """The error the backend said it is exiting on."""

    def send(self, request: Request, on_reply: Callable[[Reply], None]) -> None:
        """Send ``request``; a later ``poll`` calls ``on_reply`` with the backend's answer.
        OSError if the backend has gone."""
        self._awaiting[request.msg_id] = on_reply
        self._stop_requested |= isinstance(request, Stop)
        self._conn.send_bytes(encode(request))

    def poll(self) -> list[SourceEvent]:
        """Take in everything the backend sent since the last call, handing replies to their
        requests' callbacks; the new events. ProtocolError if the backend sent something this
        GUI cannot read or did not ask for: a bug, as the GUI starts the backend from its own
        install."""
        events: list[SourceEvent] = []
        self._take_messages(events)
        while (announced := self._announced) is not None:
            if self._attach(announced):
                break
            # Gone already: the backend replaced it again, and announced the successor before
            # unlinking it, so that announcement is on the pipe now. None there: it has exited.
            self._take_messages(events)
            if self._announced is announced:
                self._announced = None
        self._notice_loss(events)
        return events

    def _notice_loss(self, events: list[SourceEvent]) -> None:
        """Once the backend has ended unasked: say why (``lost``), and unlink the tables it
        left, which nobody else would (the current one, and one announced but not attached,
        if it died between announcing a table and unlinking the one before)."""
        if self.lost is not None or self._stop_requested or self._stopped:
            return
        exit_code = self.process.exitcode  # None while it runs (a non-blocking wait)
        if exit_code is None:
            return
        self._take_messages(events)  # what it sent after the last read, its error among them
        self.lost = BackendExited(exit_code, self._failure)
        names = {self.segment_name, self._announced.segment_name if self._announced else ""}
        if self._table is not None:
            self._table.release()
            self._table = None
        self._announced = None
        for name in names - {""}:
            unlink_segment(name)

    def _take_messages(self, events: list[SourceEvent]) -> None:
        """Read every message waiting on the pipe, adding events to ``events``. Of the frame
        tables announced, only the newest is kept, in ``_announced``, to be attached: the
        backend unlinks a table as soon as it has announced the next one, so an older
        announcement may name a table that is gone."""
        try:
            while self._conn.poll():
                message = decode(self._conn.recv_bytes())
                match message:
                    case FrameTableOpened():
                        self._announced = message
                    case KeysAdded(start=start, keys=keys):
                        del self.keys[start:]
                        self.keys.extend(keys)
                        self._keys_slice = None
                    case EventsRaised(events=raised):
                        events.extend(raised)
                    case BackendFailed(reason=reason):
                        self._failure = reason
                    case Reply(in_reply_to=msg_id) if msg_id in self._awaiting:
                        self._awaiting.pop(msg_id)(message)
                    case _:
                        raise ProtocolError(f"no request awaits this {message.msg_type} "
                                            "message", message.msg_id)  # fmt: skip
        except (EOFError, OSError):
            pass  # the backend has gone; ``alive`` says so

    def _attach(self, announced: FrameTableOpened) -> bool:
        """Read from the announced table from now on; False, keeping the current table, if it
        is gone already. The current table is released only once the new one is attached, so
        a failed attach never leaves a released table behind."""
        try:
            table = FrameTable.attach(announced.segment_name, announced.capacity)
        except OSError:  # FileNotFoundError: unlinked since it was announced
            return False
        old, self._table, self._announced = self._table, table, None
        self.segment_name = announced.segment_name
        if old is not None:
            old.release()
        return True

    def _frame_keys(self, count: int) -> list[str]:
        """The first ``count`` keys, as the same list object until the keys change, so views
        that map keys to columns notice a change by identity instead of comparing strings."""
        if self._keys_slice is None or len(self._keys_slice) != count:
            self._keys_slice = self.keys[:count]
        return self._keys_slice

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def frame(self) -> Frame | None:
        """The latest frame (None before the first, and once the backend is ``lost``);
        retried once if caught mid-write, and used as read if caught again."""
        table = self._table
        if table is None:
            return None
        for _ in range(2):
            before = int(table.header[0])
            count = min(int(table.header[1]), len(self.keys), table.capacity)
            frame = Frame(self._frame_keys(count), table.times_s[:count].copy(),
                          table.values[:count].copy(), table.qualities[:count].copy(),
                          table.stale[:count].copy())  # fmt: skip
            if before % 2 == 0 and int(table.header[0]) == before:
                break
        return frame

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the backend and release its memory; safe to call twice, from two threads (the
        window stops it in the background, and again at exit): a second pipe close could
        close an unrelated file that reused the descriptor."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            self._stop(timeout_s)

    def _stop(self, timeout_s: float) -> None:
        self._stop_requested = True
        with contextlib.suppress(BrokenPipeError, OSError):  # already gone is fine
            self._conn.send_bytes(encode(Stop()))  # its reply is not awaited: join says
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout_s)
        if self._table is not None:
            self._table.release()
            self._table = None
        self._conn.close()
