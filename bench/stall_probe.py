"""A Qt timer that records its own lateness: the event loop's stalls, as benchmarks see them."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer

PROBE_MS = 10


class StallProbe:
    """Started, it fires every ``PROBE_MS``; ``lateness_ms`` is how late each tick came (a
    stall of the event loop shows as one late tick). ``stop`` counts the wait to the end too."""

    def __init__(self) -> None:
        self.lateness_ms: list[float] = []
        self.times_s: list[float] = []
        """Wall-clock time of each tick: which stalls fell in which stretch of a run."""
        self._last = 0.0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.lateness_ms.append(max(0.0, (now - self._last) * 1000 - PROBE_MS))
        self.times_s.append(time.time())
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start(PROBE_MS)

    def stop(self) -> list[float]:
        self._timer.stop()
        self._tick()
        return self.lateness_ms
