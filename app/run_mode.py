"""Run mode: the same plan, coloured by live telemetry from the backend process.

Starts the backend (its own process: ingest never touches this thread) on the open design,
reads a frame four times a second, records it in the live history and turns it into per-rack
and facility figures, which the Run view draws as colours, plots and tiles. The design is
handed over as a file: the saved one, or a snapshot of unsaved edits.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from factoryfloor.backend.design.design_file import atomic_write_text, design_to_json
from factoryfloor.backend.design.figures import DesignFigures
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.backend.telemetry.live_figures import LiveAggregator
from factoryfloor.backend.telemetry.process import BackendClient, BackendConfig
from factoryfloor.backend.telemetry.sink import GOOD

FRAME_INTERVAL_MS = 250
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


class RunMode(QObject):
    live = Signal(object)
    """LiveFigures of the latest frame."""
    event = Signal(object)
    """A SourceEvent from the backend (source status, rejected payloads, ...)."""
    history = Signal(object)
    """The LiveHistory, after each frame has been added to it."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.client: BackendClient | None = None
        self.quantity = "util_pct"
        self.simulator_hz = 4.0
        """Publishing rate of the built-in simulator, when the design runs on it."""
        self._aggregator: LiveAggregator | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_INTERVAL_MS)
        self._timer.timeout.connect(self.read_frame)
        self._snapshot_dir: tempfile.TemporaryDirectory | None = None
        self.recorded: LiveHistory | None = None
        self._last_news: tuple[int, float, int] | None = None
        self._shown_s = -math.inf

    @property
    def running(self) -> bool:
        return self.client is not None

    def start(self, design: Design, saved_path: Path | None, modified: bool) -> None:
        path = saved_path
        if path is None or modified:
            self._snapshot_dir = tempfile.TemporaryDirectory(prefix="factoryfloor-run-")
            path = Path(self._snapshot_dir.name) / "design.json"
            atomic_write_text(path, design_to_json(design))
        self._aggregator = LiveAggregator(design)
        self.recorded = LiveHistory(design)
        self._last_news, self._shown_s = None, -math.inf
        self.client = BackendClient(BackendConfig(str(path), simulator_hz=self.simulator_hz))
        self._timer.start()

    def stop(self) -> BackendClient | None:
        """Stop reading; the caller stops the returned client off the Qt thread."""
        self._timer.stop()
        client, self.client = self.client, None
        if self._snapshot_dir is not None:
            self._snapshot_dir.cleanup()
            self._snapshot_dir = None
        return client

    def read_frame(self) -> None:
        """Record the frame, and show it when something in it is new: what each tick of the
        frame timer does while running (a no-op when stopped).

        The history records every tick (sample and hold: a 1 Hz reading holds for the ticks
        until the next, so a 1 s column is never left empty between readings). The views only
        redraw when a reading arrived or went stale, or once a ``HEARTBEAT_S``: a 1 Hz
        facility would otherwise redraw the same picture three ticks in four, which at 16,384
        GPUs is most of the event loop's time."""
        if self.client is None or self._aggregator is None:
            return
        for event in self.client.poll():
            self.event.emit(event)
        frame = self.client.frame()
        if frame is None or not frame.keys:
            return
        now_s = time.time()
        if self.recorded is not None:
            # History is what was measured: stale or bad-quality readings are gaps in it.
            shown = np.where(frame.stale | (frame.qualities != GOOD), np.nan, frame.values)
            self.recorded.add(frame.keys, now_s, shown)
        news = (len(frame.keys), float(frame.times_s.max()), int(np.count_nonzero(frame.stale)))
        if news == self._last_news and now_s - self._shown_s < HEARTBEAT_S:
            return
        self._last_news, self._shown_s = news, now_s
        self.live.emit(self._aggregator.update(frame.keys, frame.values, self.quantity))
        if self.recorded is not None:
            self.history.emit(self.recorded)
