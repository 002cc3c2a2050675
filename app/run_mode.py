"""Run mode: the same plan, coloured by live telemetry from a service.

Either starts a service of the window's own (its own process: ingest never touches this thread)
on the open design, or reads from a running service the window is attached to (``attach``).
Reads a frame four times a second, records it in the live history and turns it into per-rack
and facility figures, which the Run view draws as colours, plots and tiles. The window's history
keeps no GPU's history: the heatmap and the per-GPU curves ask the service for the GPU rows
they draw (``gpu_rows``), so the window holds no 10 kB of history per GPU. The design is
handed over as a file: the saved one, or a snapshot of unsaved edits.

A backend that dies (killed, crashed) is noticed at the next tick: ``backend_lost`` says why,
every series reads as missing from then on (gaps in the history, racks without a reading, no
figures) rather than as the last frame held, and a new backend is started after a backoff
(1 s, doubling to 30 s while restarts keep failing; back to 1 s once a restarted backend has
sent a frame), or at once by ``restart_now``. An attached service that stops answering is not
the window's to restart: ``link_down`` says so, readings show as missing, and they are live
again as soon as it is back (ZeroMQ reconnects by itself).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from factoryfloor.backend.design.design_file import design_to_json
from factoryfloor.backend.design.figures import DesignFigures
from factoryfloor.backend.design.leftovers import remove_run_snapshot, write_run_snapshot
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.client import ServiceClient
from factoryfloor.backend.service.embedded import BackendClient, BackendConfig, BackendExited
from factoryfloor.backend.service.gpu_rows_transfer import ServiceGpuRows
from factoryfloor.backend.service.history_transfer import HistoryTransferError, read_history
from factoryfloor.backend.service.messages import (
    ActOnAlarm,
    AlarmsChanged,
    GetHistory,
    GetMoment,
    HistorySent,
    MomentSent,
)
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.backend.telemetry.live_figures import LiveAggregator
from factoryfloor.backend.telemetry.protocol import Refused, Reply, Request
from factoryfloor.backend.telemetry.sink import GOOD, SourceEvent

FRAME_INTERVAL_MS = 250
NOTICE_INTERVAL_MS = 100
"""How often the service's notices (alarms, commands, source events) are taken in: an alarm is
shown within this of reaching the window, not at the next frame tick."""
HEARTBEAT_S = 1.0
"""Views are redrawn at least this often even when no reading is new, so time axes keep moving
and a silent facility shows as gaps rather than as a frozen picture."""


def scale_range(quantity: str, design: Design, figures: DesignFigures) -> tuple[float, float]:
    """Fixed colour-scale ends per quantity, from the design, so colours mean the same from
    frame to frame (an auto-ranging scale would make an idle hall look busy)."""
    if quantity == "util_pct":
        return 0.0, 100.0
    if quantity == "temp_c":
        return 25.0, 90.0
    if quantity == "power_kw":
        return 0.0, max((r.it_power_kw for r in design.racks), default=1.0)
    tokens = [f.tokens_per_s or 0.0 for f in figures.racks.values()]
    if quantity == "tokens_per_s":
        return 0.0, max(tokens, default=1.0) or 1.0
    per_j = [f.tokens_per_j or 0.0 for f in figures.racks.values()]
    return 0.0, max(per_j, default=1.0) or 1.0


def gpu_scale_range(quantity: str, design: Design) -> tuple[float, float]:
    """Fixed colour-scale ends of a per-GPU quantity (the heatmap's): power up to the largest
    GPU's TDP in the design, temperatures as on the plan."""
    if quantity == "util_pct":
        return 0.0, 100.0
    if quantity == "power_w":
        used = {r.gpu_model for r in design.racks}
        return 0.0, max((m.gpu_power_w for m in design.gpu_models if m.id in used), default=1.0)
    return 25.0, 95.0 if quantity == "mem_temp_c" else 90.0


RESTART_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
"""Waits before each restart of a backend that keeps dying; the last repeats."""


@dataclass(frozen=True, slots=True)
class BackendLost:
    """The backend stopped without being asked to, and when the next one starts."""

    exited: BackendExited
    at_s: float
    """Epoch seconds when it was noticed."""
    restart_in_s: float
    attempt: int
    """1 for the first restart since the backend last sent a frame, then 2, 3, ..."""

    def message(self, restarting: bool = False) -> str:
        """What the operator is told: while waiting to restart, or while restarting."""
        at = time.strftime("%H:%M:%S", time.localtime(self.at_s))
        then = "Restarting now" if restarting else f"Restarting in {self.restart_in_s:g} s"
        return (f"Telemetry backend stopped at {at} ({self.exited.reason}): no live readings. "
                f"{then} (attempt {self.attempt}).")  # fmt: skip


class RunMode(QObject):
    live = Signal(object)
    """LiveFigures of the latest frame."""
    event = Signal(object)
    """A SourceEvent from the backend (source status, rejected payloads, ...)."""
    history = Signal(object)
    """The LiveHistory, after each frame has been added to it."""
    backend_lost = Signal(object)
    """A BackendLost: the backend died; a restart is scheduled."""
    backend_restarted = Signal(object)
    """The BackendLost a new backend has just been started after."""
    backend_back = Signal()
    """A restarted backend (or an attached service that was silent) sent its first frame:
    readings are live again."""
    history_seeded = Signal(object)
    """The LiveHistory, just seeded with the service's past: views read it again whole."""
    link_down = Signal(str)
    """The attached service stopped answering, or refused this window: what to tell the
    operator."""
    alarms = Signal(object)
    """The service's AlarmsChanged: the alarms it shows now, each time they change; None while
    no backend runs (not known, rather than none)."""
    commands = Signal(object)
    """The service's recent commands (CommandProgress, by id), each time one changes."""
    tuning = Signal(object)
    grid = Signal(object)
    """The service's GridChanged: each feed's grid load target and what meeting it costs."""
    """The service's tokens-per-joule sweep (TuningProgress), each time it changes."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.client: BackendClient | ServiceClient | None = None
        self.attached: ServiceClient | None = None
        """The running service this window is attached to; None: it runs one of its own."""
        self.quantity = "util_pct"
        self.simulator_hz = 4.0
        """Publishing rate of the built-in simulator, when the design runs on it."""
        self._aggregator: LiveAggregator | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_INTERVAL_MS)
        self._timer.timeout.connect(self.read_frame)
        self._notice_timer = QTimer(self)
        self._notice_timer.setInterval(NOTICE_INTERVAL_MS)
        self._notice_timer.timeout.connect(self.read_notices)
        self._snapshot: Path | None = None
        """The private copy of unsaved edits the backend runs on (``leftovers``)."""
        self.recorded: LiveHistory | None = None
        self.gpu_rows = ServiceGpuRows(self._link, self._gpu_rows_refused)
        """Where the views ask for the GPU rows they draw: the service, over the current link."""
        self._last_news: tuple[int, float, int] | None = None
        self._shown_s = -math.inf
        self._config: BackendConfig | None = None
        self._attempt = 0
        """Restarts since a backend last sent a frame."""
        self._lost: BackendLost | None = None
        self._seed_asked = False
        self.moment_s: float | None = None
        """The past moment shown instead of the live frames (the time control); None: live."""
        self._silent = False
        """The attached service is down for this window, and the operator has been told."""
        self._keys: list[str] = []
        """The keys of the last frame: what reads as missing while no backend runs."""
        self._alarms_shown: AlarmsChanged | None = None
        self._commands_shown: dict | None = None
        self._tuning_shown: object = None
        self._grid_shown: object = None
        self._restart_timer = QTimer(self)
        self._restart_timer.setSingleShot(True)
        self._restart_timer.timeout.connect(self.restart_now)

    @property
    def running(self) -> bool:
        """In Run mode, whether or not a backend is up at this moment."""
        return self._config is not None or self.attached is not None

    @property
    def backend_down(self) -> bool:
        return self.running and self.client is None

    def start(self, design: Design, saved_path: Path | None, modified: bool) -> None:
        """Start a service of the window's own on ``design``, and read from it."""
        path = saved_path
        if path is None or modified:
            path = self._snapshot = write_run_snapshot(design_to_json(design))
        self._config = BackendConfig(str(path), simulator_hz=self.simulator_hz)
        self._begin(design, BackendClient(self._config))

    def attach(self, design: Design, service: ServiceClient) -> None:
        """Read from a running service (which runs ``design``); the caller owns the link and
        keeps polling it."""
        self.attached = service
        self._silent = False
        self._begin(design, service)

    def _begin(self, design: Design, client: BackendClient | ServiceClient) -> None:
        self._aggregator = LiveAggregator(design)
        self.recorded = LiveHistory(design, keep_gpus=False)
        self._last_news, self._shown_s = None, -math.inf
        self._attempt, self._keys, self._lost = 0, [], None
        self.client = client
        self._seed_asked, self.moment_s = False, None
        self._timer.start()
        self._notice_timer.start()

    def stop(self) -> BackendClient | None:
        """Stop reading; the caller stops the returned client (the window's own service) off
        the Qt thread. An attached service's link stays with its owner."""
        self._timer.stop()
        self._notice_timer.stop()
        self._restart_timer.stop()
        self._config = None
        client, self.client = self.client, None
        if self.attached is not None:
            self.attached, client = None, None
        if self._snapshot is not None:
            remove_run_snapshot(self._snapshot)
            self._snapshot = None
        return client

    def read_frame(self) -> None:
        """Record the frame, and show it when something in it is new: what each tick of the
        frame timer does while running (a no-op when stopped).

        The history records every tick (sample and hold: a 1 Hz reading holds for the ticks
        until the next, so a 1 s column is never left empty between readings). The views only
        redraw when a reading arrived or went stale, or once a ``HEARTBEAT_S``: a 1 Hz
        facility would otherwise redraw the same picture three ticks in four, which at 16,384
        GPUs is most of the event loop's time."""
        self.read_notices()
        if not self.running or self._aggregator is None:
            return
        if self.client is None:
            self._show_missing()
            return
        frame = self.client.frame()
        if self.attached is not None and self._link_down(self.attached, frame):
            self._show_missing()
            return
        if frame is None or not frame.keys:
            if self._attempt:  # a restarted backend not sending yet: still missing
                self._show_missing()
            return
        if self._attempt:
            self._attempt = 0
            self.backend_back.emit()
        if not self._seed_asked:
            self._ask_for_the_past()
        self._keys = frame.keys
        now_s = time.time()
        if self.recorded is not None:
            # History is what was measured: stale or bad-quality readings are gaps in it.
            shown = np.where(frame.stale | (frame.qualities != GOOD), np.nan, frame.values)
            self.recorded.add(frame.keys, now_s, shown)
        news = (len(frame.keys), float(frame.times_s.max()), int(np.count_nonzero(frame.stale)))
        if self.moment_s is not None:
            return  # showing a past moment: recorded, not drawn
        if news == self._last_news and now_s - self._shown_s < HEARTBEAT_S:
            return
        self._last_news, self._shown_s = news, now_s
        self.live.emit(self._aggregator.update(frame.keys, frame.values, self.quantity))
        if self.recorded is not None:
            self.history.emit(self.recorded)

    def read_notices(self) -> None:
        """Take in what the service sent (the window's own service's link is polled here; an
        attached one's by its connection) and show changed alarms and commands at once."""
        client = self.client
        lost = False
        if isinstance(client, BackendClient):
            for event in client.poll():
                self.event.emit(event)
            if client.lost is not None:
                self._lose(client, client.lost)
                lost = True
        if not self.running or self._aggregator is None:
            return
        if lost:  # nothing reads as live from now on, not from the next frame tick
            self._show_missing()
        self._follow_alarms()
        self._follow_commands()
        self._follow_tuning()
        self._follow_grid()

    # --- Alarms ----------------------------------------------------------------------------

    @property
    def link(self) -> ServiceClient | None:
        """The command link to the service read from (the window's own, or attached)."""
        client = self.client
        return client.link if isinstance(client, BackendClient) else client

    def _follow_alarms(self) -> None:
        link = self.link
        shown = link.alarms if link is not None and not self.backend_down else None
        if shown is not self._alarms_shown:
            self._alarms_shown = shown
            self.alarms.emit(shown)

    def _follow_commands(self) -> None:
        link = self.link
        if link is not None and link.commands is not self._commands_shown:
            self._commands_shown = link.commands
            self.commands.emit(link.commands)

    def _follow_grid(self) -> None:
        link = self.link
        if link is not None and link.grid is not self._grid_shown:
            self._grid_shown = link.grid
            self.grid.emit(link.grid)

    def _follow_tuning(self) -> None:
        link = self.link
        if link is not None and link.tuning is not self._tuning_shown:
            self._tuning_shown = link.tuning
            self.tuning.emit(link.tuning)

    def ask(self, request: Request, answered: Callable[[Reply], None]) -> None:
        """Send ``request`` to the service; ``answered`` gets its reply on the GUI thread, or a
        refusal saying there is no service."""
        link = self.link
        if link is None:
            answered(Refused(request.msg_id, "no service is running"))
            return
        link.send(request, lambda reply, _parts: answered(reply))

    def act_on_alarm(self, request: ActOnAlarm, answered: Callable[[str], None]) -> None:
        """Send an operator's action; ``answered`` gets the service's reason for refusing it,
        or "" once it is done."""
        link = self.link
        if link is None:
            answered("no service is running: the alarm list is not live")
            return
        link.send(request, lambda reply, _parts: answered(
            reply.reason if isinstance(reply, Refused) else ""))  # fmt: skip

    # --- The time control ------------------------------------------------------------------

    def show_moment(self, time_s: float | None) -> None:
        """Show the facility as the service recorded it at ``time_s`` (plan colours, tiles),
        or live again (None). Frames keep being recorded meanwhile."""
        self.moment_s = time_s
        self._last_news, self._shown_s = None, -math.inf  # live: redraw at the next tick
        if time_s is None or self.client is None:
            return
        client = self.client
        link = client.link if isinstance(client, BackendClient) else client
        if link is None:
            return
        aggregator, quantity = self._aggregator, self.quantity

        def show(reply: Reply, parts: list[bytes]) -> None:
            if not isinstance(reply, MomentSent) or self.moment_s != time_s or not parts:
                return  # refused, or the operator has moved on
            values = np.frombuffer(parts[0], np.float32)
            keys = link.keys[: min(reply.count, len(values), len(link.keys))]
            self.live.emit(aggregator.update(keys, values[: len(keys)], quantity))

        link.send(GetMoment(time_s), show)

    def _ask_for_the_past(self) -> None:
        """Ask the service for what it recorded before this window started (once its frames
        arrive: the link is up), to be shown at once."""
        self._seed_asked = True
        link = self._link()
        recorded = self.recorded

        def seed(reply: Reply, parts: list[bytes]) -> None:
            if not isinstance(reply, HistorySent) or recorded is not self.recorded:
                return  # refused, or Run restarted since
            try:
                recorded.seed(read_history(reply, parts))
            except (HistoryTransferError, ValueError) as error:
                self.event.emit(SourceEvent("service", "rejected", "history", str(error)))
                return
            self.history_seeded.emit(recorded)

        link.send(GetHistory(with_gpus=False), seed)

    def _link(self) -> ServiceClient | None:
        """The link to the service now: the attached one, or that of the window's own."""
        client = self.client
        return client.link if isinstance(client, BackendClient) else client

    def _gpu_rows_refused(self, reason: str) -> None:
        self.event.emit(SourceEvent("service", "rejected", "GPU rows", reason))

    # --- A backend that died, or an attached service gone silent ---------------------------

    def _link_down(self, service: ServiceClient, frame: object) -> bool:
        """Whether the attached service is down for this window (silent, or refusing it); says
        so once, and says when it is back."""
        down = frame is None and (service.silent or bool(service.refused))
        if down and not self._silent:
            self._silent = True
            if service.refused:
                text = f"The service at {service.address} refused this window: {service.refused}"
            else:
                since = time.strftime("%H:%M:%S", time.localtime(service.silent_since_s))
                text = (f"The service at {service.address} has not answered since {since}: no "
                        "live readings. Reattaching as soon as it answers.")  # fmt: skip
            self._last_news, self._shown_s = None, -math.inf
            self.link_down.emit(text)
        elif frame is not None and self._silent:
            self._silent = False
            self.backend_back.emit()
        return down

    def _lose(self, client: BackendClient, exited: BackendExited) -> None:
        client.stop()  # it has exited: nothing to wait for, only the pipe to close
        self.client = None
        self.gpu_rows.link_lost()
        delay_s = RESTART_DELAYS_S[min(self._attempt, len(RESTART_DELAYS_S) - 1)]
        self._attempt += 1
        self._restart_timer.start(round(delay_s * 1000))
        self._last_news, self._shown_s = None, -math.inf  # redraw as missing at once
        self._lost = BackendLost(exited, time.time(), delay_s, self._attempt)
        self.backend_lost.emit(self._lost)

    def restart_now(self) -> None:
        """Start a new backend on the same design, if Run mode is on and none is up."""
        if self._config is None or self.client is not None or self._lost is None:
            return
        self._restart_timer.stop()
        self.client = BackendClient(self._config)
        self.backend_restarted.emit(self._lost)

    def _show_missing(self) -> None:
        """No backend: every series reads as missing, recorded as a gap each tick and shown
        once a heartbeat, so the views say "no reading" instead of holding the last frame."""
        now_s = time.time()
        missing = np.full(len(self._keys), np.nan, np.float32)
        if self.recorded is not None and self._keys:
            self.recorded.add(self._keys, now_s, missing)
        if now_s - self._shown_s < HEARTBEAT_S:
            return
        self._shown_s = now_s
        self.live.emit(self._aggregator.update(self._keys, missing, self.quantity))
        if self.recorded is not None:
            self.history.emit(self.recorded)
