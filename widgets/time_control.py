"""Run mode's time control: scrub back through the last day, and return to live.

A slider over the history kept (the last 24 hours, right end now): dragging it and letting go
chooses a moment, which the plan, the tiles, the plots and the heatmap then show; **Live** (or
the slider's right end) returns to the live frames. The label says which moment is shown, as a
time and how long ago, so nobody mistakes the past for now.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

SPAN_S = 86_400
"""How far back the slider reaches: the day the live history keeps."""
LIVE_STYLE = "color: #1b7f3b;"
PAST_STYLE = "color: #ffffff; background: #8a5a00; padding: 2px 8px; border-radius: 3px;"
"""Amber behind white: a past moment must not read as live from across the room."""


def ago_text(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 20 min``: how long ago, to the unit that matters."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class TimeControl(QWidget):
    moment_chosen = Signal(object)
    """Epoch seconds of the moment to show, or None: live."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SPAN_S)
        self.slider.setValue(SPAN_S)
        self.slider.setTracking(False)  # a moment is chosen when the handle is let go
        self.slider.setPageStep(600)
        self.slider.setToolTip("Drag back to see the facility as it was; Live returns to now")
        self.label = QLabel()
        font = QFont(self.label.font())
        font.setBold(True)
        self.label.setFont(font)
        self.live_button = QPushButton("Live")
        self.live_button.setToolTip("Show live readings again")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 2, 8, 2)
        row.addWidget(QLabel("Time:"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        row.addWidget(self.live_button)
        self.moment_s: float | None = None
        self.slider.valueChanged.connect(self._slid)
        self.live_button.clicked.connect(self.go_live)
        self._show_label()

    def choose(self, time_s: float | None, now_s: float | None = None) -> None:
        """Show ``time_s`` (None: live), as if the operator had moved the slider there."""
        now_s = time.time() if now_s is None else now_s
        if time_s is not None and time_s >= now_s - 1.0:
            time_s = None  # the right end is now
        self.moment_s = time_s
        back = 0 if time_s is None else min(SPAN_S, math.ceil(now_s - time_s))
        self.slider.blockSignals(True)
        self.slider.setValue(SPAN_S - back)
        self.slider.blockSignals(False)
        self._show_label(now_s)
        self.moment_chosen.emit(time_s)

    def go_live(self) -> None:
        if self.moment_s is not None:
            self.choose(None)

    def tick(self, now_s: float | None = None) -> None:
        """Keep the chosen moment where it is in time while now moves on (and the label's "ago"
        true); called once a second by the owner."""
        now_s = time.time() if now_s is None else now_s
        if self.moment_s is None:
            return
        back = min(SPAN_S, math.ceil(now_s - self.moment_s))
        self.slider.blockSignals(True)
        self.slider.setValue(SPAN_S - back)
        self.slider.blockSignals(False)
        self._show_label(now_s)

    def _slid(self, value: int) -> None:
        now_s = time.time()
        self.choose(None if value >= SPAN_S else now_s - (SPAN_S - value), now_s)

    def _show_label(self, now_s: float | None = None) -> None:
        if self.moment_s is None:
            self.label.setText("Live")
            self.label.setStyleSheet(LIVE_STYLE)
            self.live_button.setEnabled(False)
            return
        now_s = time.time() if now_s is None else now_s
        shown = time.strftime("%H:%M:%S", time.localtime(self.moment_s))
        self.label.setText(f"Showing {shown} ({ago_text(now_s - self.moment_s)} ago)")
        self.label.setStyleSheet(PAST_STYLE)
        self.live_button.setEnabled(True)
