"""The service a window starts for itself: zero configuration, on loopback, for as long as the
window runs it.

Why a process (design notes, section 7): on a 2-core machine an ingest thread inside the GUI
process halves the frame rate at 5,000 messages/s and breaks it above that; the same ingest in
another process keeps the GUI near 70 fps.

The window makes a fresh CURVE key pair and a local token, and hands both to the service it
spawns (through the spawn pipe: never on a command line). The service binds free ports on
127.0.0.1 and says which over the pipe; the window then attaches like any other window
(``ServiceClient``), signed in with the token as the local user. The pipe also carries the error
the service dies of, and the stop request; the service exits when the pipe closes (its window
died).

A service that ends without being asked to (killed, failed) is noticed at the next ``poll``
from its exit status, and recorded in ``lost`` with why.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import secrets
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import ClassVar

from factoryfloor.backend.design.telemetry_settings import TelemetrySettings
from factoryfloor.backend.service.client import Credentials, ServiceAddress, ServiceClient
from factoryfloor.backend.service.frames import Frame
from factoryfloor.backend.service.keys import KeyPair
from factoryfloor.backend.service.server import Listening, Service, ServiceConfig
from factoryfloor.backend.telemetry.protocol import (
    BackendFailed,
    Notification,
    ProtocolError,
    Stop,
    decode,
    encode,
    register,
)
from factoryfloor.backend.telemetry.sink import SourceEvent

FAILURE_CHARS = 400
"""At most this much of an error's text goes to the window: a banner line, not a report."""


@dataclass(frozen=True, slots=True)
class ServiceListening(Notification):
    """The embedded service is bound: where to attach."""

    msg_type: ClassVar[str] = "service_listening"
    port: int


register(ServiceListening)


@dataclass(frozen=True)
class BackendConfig:
    """What the embedded service should run; plain data, so it crosses the process boundary."""

    design_path: str
    telemetry: TelemetrySettings | None = None
    """Sources to run; None: the design file's own telemetry settings."""
    simulator_hz: float = 4.0
    retention_s: float = 3600.0
    data_folder: str | None = None
    """Where it records history and design versions; None: nothing on disk."""


# --- The service process ------------------------------------------------------------------------


def embedded_main(conn: Connection, config: ServiceConfig) -> None:
    """Entry point of the spawned service. An error that ends it is told to the window
    (``BackendFailed``) before the process exits with it."""
    try:
        asyncio.run(_serve(conn, config))
    except Exception as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        with contextlib.suppress(OSError):
            conn.send_bytes(encode(BackendFailed(reason[:FAILURE_CHARS])))
        raise


async def _serve(conn: Connection, config: ServiceConfig) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()

    def announce(listening: Listening) -> None:
        conn.send_bytes(encode(ServiceListening(listening.port)))
        # The window's requests (stop) and its death (the pipe closes) both end the service.
        loop.add_reader(conn.fileno(), _read_pipe, conn, stopping)

    try:
        await Service(config).run(stopping, announce)
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(conn.fileno())


def _read_pipe(conn: Connection, stopping: asyncio.Event) -> None:
    try:
        message = decode(conn.recv_bytes())
    except (EOFError, OSError):
        stopping.set()  # the window is gone
        return
    except ProtocolError:
        return
    if isinstance(message, Stop):
        stopping.set()


# --- The window's side --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackendExited:
    """The embedded service ended without being asked to."""

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


class BackendClient:
    """Starts the embedded service and attaches to it; reads without blocking."""

    def __init__(self, config: BackendConfig):
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._keys = KeyPair.generate()
        self._token = secrets.token_urlsafe(32)
        service_config = ServiceConfig(
            config.design_path, self._keys, config.data_folder, local_token=self._token,
            telemetry=config.telemetry, simulator_hz=config.simulator_hz,
            retention_s=config.retention_s)  # fmt: skip
        self.process = context.Process(target=embedded_main, args=(child_conn, service_config),
                                       name="factoryfloor-service", daemon=True)  # fmt: skip
        self.process.start()
        child_conn.close()
        self.link: ServiceClient | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False
        self.lost: BackendExited | None = None
        """Set by ``poll`` once the service has ended without a stop being asked for."""
        self._failure = ""

    @property
    def keys(self) -> list[str]:
        return self.link.keys if self.link is not None else []

    def poll(self) -> list[SourceEvent]:
        """Take in what the service sent since the last call; the new source events."""
        self._read_pipe()
        events = self.link.poll() if self.link is not None else []
        if self.lost is None and not self._stopped and self.process.exitcode is not None:
            self._read_pipe()  # the error it sent before exiting
            self.lost = BackendExited(self.process.exitcode, self._failure)
        return events

    def _read_pipe(self) -> None:
        try:
            while self._conn.poll():
                message = decode(self._conn.recv_bytes())
                match message:
                    case ServiceListening(port=port) if self.link is None:
                        address = ServiceAddress("127.0.0.1", port, self._keys.public)
                        self.link = ServiceClient(address, Credentials(local_token=self._token))
                    case BackendFailed(reason=reason):
                        self._failure = reason
        except (EOFError, OSError):
            pass  # the service has gone; ``poll`` says so from its exit status

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def frame(self) -> Frame | None:
        """The newest frame (None before the first, and once the service is ``lost``)."""
        if self.link is None or self.lost is not None:
            return None
        return self.link.frame()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the service; safe to call twice, from two threads (the window stops it in the
        background, and again at exit)."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send_bytes(encode(Stop()))
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout_s)
        if self.link is not None:
            self.link.close()
        self._conn.close()
