"""The tokens-per-joule tuning dialog: start a sweep on a group of racks, watch it live, apply
its recommendation or cancel it.

Two plots against the lever (W or MHz, from the top of its range down): tokens per joule and
tokens/s, each step's mean with its spread as error bars (what the noise allows one to tell
apart), the throughput floor as a dashed line, the recommendation marked. The service decides
everything (the lever, the steps, the recommendation, who may apply): the dialog only asks and
shows what every window is told.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.service.tuning.messages import TuningProgress

STATE_WORDS = {
    "sweeping": "Sweeping", "restoring": "Restoring the previous settings",
    "measured": "Measured: previous settings back", "applied": "Recommendation applied",
    "cancelled": "Cancelled: previous settings back", "failed": "Failed",
}  # fmt: skip
LEVER_WORDS = {"power_limit": ("power limit", "W"), "sm_clock": ("locked SM clock", "MHz")}


class _LeverPlot(pg.PlotWidget):
    """One measured quantity against the lever: means with error bars, the recommended step."""

    def __init__(self, title: str, colour: str) -> None:
        super().__init__(background="w")
        self.setTitle(title, color="#222", size="11pt")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(x=False, y=False)
        self.getAxis("bottom").enableAutoSIPrefix(False)  # 1500 MHz, not 1.5 kMHz
        self.curve = self.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o",
                               symbolBrush=colour, symbolPen=colour, symbolSize=7)  # fmt: skip
        self.bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0),
                                    beam=0.0, pen=pg.mkPen(colour, width=1.5))  # fmt: skip
        self.addItem(self.bars)
        self.best = pg.ScatterPlotItem(size=16, symbol="star", brush="#e8a200", pen="#7a5500")
        self.addItem(self.best)
        self.floor = pg.InfiniteLine(angle=0, pen=pg.mkPen("#c0392b", width=1.5,
                                                          style=Qt.PenStyle.DashLine))  # fmt: skip
        self.floor.hide()
        self.addItem(self.floor)

    def show_points(self, x: np.ndarray, y: np.ndarray, spread: np.ndarray,
                    best: int | None) -> None:  # fmt: skip
        self.curve.setData(x, y)
        beam = (float(np.ptp(x)) / 40.0) if len(x) > 1 else 1.0
        self.bars.setData(x=x, y=y, height=2 * spread, beam=beam)
        self.best.setData([] if best is None else [x[best]], [] if best is None else [y[best]])


class TuningDialog(QDialog):
    start_wanted = Signal(float, bool)
    """The floor (a share of the unconstrained tokens/s) and whether to re-tune on drift."""
    apply_wanted = Signal()
    cancel_wanted = Signal()

    def __init__(self, group: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.group = group
        self.setWindowTitle(f"Tune tokens per joule: {group}")
        self.floor = QDoubleSpinBox(suffix=" %", decimals=0, minimum=50, maximum=100, value=95)
        self.floor.setToolTip("Keep at least this share of the unconstrained tokens/s")
        self.retune = QCheckBox("Sweep again when tokens per joule drifts")
        self.start = QPushButton("Start sweep")
        self.start.clicked.connect(
            lambda: self.start_wanted.emit(self.floor.value() / 100.0, self.retune.isChecked())
        )
        top = QHBoxLayout()
        top.addWidget(QLabel("Tokens/s floor"))
        for widget in (self.floor, self.retune):
            top.addWidget(widget)
        top.addStretch(1)
        top.addWidget(self.start)
        self.status = QLabel("Not started: the service picks the lever from the group's draw.")
        self.status.setWordWrap(True)
        self.per_joule = _LeverPlot("Tokens per joule", "#1f77b4")
        self.per_second = _LeverPlot("Tokens/s", "#2ca02c")
        plots = QHBoxLayout()
        plots.addWidget(self.per_joule)
        plots.addWidget(self.per_second)
        self.recommendation = QLabel("")
        self.recommendation.setStyleSheet("font-size: 15px; font-weight: 600")
        self.apply = QPushButton("Apply recommendation")
        self.apply.setEnabled(False)
        self.apply.clicked.connect(self.apply_wanted.emit)
        self.cancel = QPushButton("Cancel sweep")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.cancel_wanted.emit)
        bottom = QHBoxLayout()
        bottom.addWidget(self.recommendation, 1)
        bottom.addWidget(self.cancel)
        bottom.addWidget(self.apply)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addLayout(plots, 1)
        layout.addLayout(bottom)
        self.resize(1000, 560)

    def show_problem(self, reason: str) -> None:
        self.status.setText(reason)

    def show_progress(self, progress: TuningProgress) -> None:
        lever, unit = LEVER_WORDS[progress.lever]
        results = progress.results
        x = np.array([r.setting for r in results])
        best = next((i for i, r in enumerate(results) if r.setting == progress.recommended), None)

        def column(name: str) -> np.ndarray:
            return np.array([getattr(r, name) for r in results])

        self.per_joule.show_points(x, column("tokens_per_j"), column("tokens_per_j_sd"), best)
        self.per_second.show_points(x, column("tokens_per_s"), column("tokens_per_s_sd"), best)
        for plot in (self.per_joule, self.per_second):
            plot.setLabel("bottom", lever, units=unit)
            if progress.levels:
                plot.setXRange(min(progress.levels), max(progress.levels), padding=0.05)
        if progress.floor_tokens_per_s is not None:
            self.per_second.floor.setValue(progress.floor_tokens_per_s)
            self.per_second.floor.show()
        step = (f", step {min(progress.step + 1, len(progress.levels))} of "
                f"{len(progress.levels)}" if progress.state == "sweeping" else "")  # fmt: skip
        words = f"{STATE_WORDS[progress.state]}: {lever} of {progress.group}{step}"
        why = progress.reason if progress.state == "failed" or progress.drifted else ""
        self.status.setText(f"{words}. {why}".strip())
        chosen = best is not None and results[best]
        self.recommendation.setText(
            f"Recommended: {chosen.setting:g} {unit}, {chosen.tokens_per_j:.4g} tokens/J "
            f"at {chosen.tokens_per_s:,.0f} tokens/s" if chosen else "")  # fmt: skip
        busy = progress.state in ("sweeping", "restoring")
        self.cancel.setEnabled(progress.state == "sweeping")
        self.apply.setEnabled(progress.state == "measured" and chosen is not False)
        self.start.setEnabled(not busy)
