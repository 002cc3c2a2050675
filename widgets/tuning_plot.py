"""The tokens-per-joule sweep, drawn as it runs: tokens per joule (above) and tokens/s (below)
against the lever, each step's mean with its spread as an error bar, the tokens/s floor the
recommendation must keep, and the recommended step.

Error bars, not just means: a step's tokens/s is a counter's rate over a short window, and two
steps a few percent apart may not differ beyond their noise; the operator sees whether the
recommendation stands out or sits in the noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from factoryfloor.widgets.plot_theme import LIGHT_THEME

EFFICIENCY_COLOUR = "#2e7d32"
TOKENS_COLOUR = LIGHT_THEME.facility
RECOMMENDED_COLOUR = "#d2620a"


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One measured step: the lever's value and the means and spreads measured there."""

    lever_value: float
    tokens_per_s: float
    tokens_per_s_spread: float
    tokens_per_j: float
    tokens_per_j_spread: float


@dataclass(frozen=True, slots=True)
class SweepPicture:
    """What the plot shows of a sweep. ``floor_tokens_per_s`` and ``recommended`` are None
    until known."""

    lever_label: str
    """``Power limit per GPU`` or ``Locked SM clock``."""
    lever_unit: str
    points: Sequence[SweepPoint]
    floor_tokens_per_s: float | None = None
    recommended: float | None = None
    current: float | None = None
    """The lever value being measured now."""


class TuningPlot(QWidget):
    """Two plots sharing the lever axis, redrawn whole on each ``show_sweep``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground(LIGHT_THEME.background)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.efficiency = self._plot(0, "Tokens per joule", "tok/J", EFFICIENCY_COLOUR)
        self.tokens = self._plot(1, "Tokens/s", "tok/s", TOKENS_COLOUR)
        self.tokens.setXLink(self.efficiency)
        self._curves = {
            "efficiency": self.efficiency.plot(pen=pg.mkPen(EFFICIENCY_COLOUR, width=2),
                                               symbol="o", symbolBrush=EFFICIENCY_COLOUR),
            "tokens": self.tokens.plot(pen=pg.mkPen(TOKENS_COLOUR, width=2), symbol="o",
                                       symbolBrush=TOKENS_COLOUR),
        }  # fmt: skip
        self._bars = {
            "efficiency": pg.ErrorBarItem(pen=pg.mkPen(EFFICIENCY_COLOUR), beam=0),
            "tokens": pg.ErrorBarItem(pen=pg.mkPen(TOKENS_COLOUR), beam=0),
        }
        self.efficiency.addItem(self._bars["efficiency"])
        self.tokens.addItem(self._bars["tokens"])
        self.floor_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#c62828", width=2,
                                                                style=Qt.PenStyle.DashLine),
                                          label="floor",
                                          labelOpts={"position": 0.9, "color": "#c62828",
                                                     "anchors": [(1, 1), (1, 1)]})  # fmt: skip
        self.tokens.addItem(self.floor_line)
        self.recommended_lines = []
        for plot in (self.efficiency, self.tokens):
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen(RECOMMENDED_COLOUR, width=3))
            plot.addItem(line)
            self.recommended_lines.append(line)
        self.current_lines = []
        for plot in (self.efficiency, self.tokens):
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#808080", width=1,
                                                          style=Qt.PenStyle.DotLine))  # fmt: skip
            plot.addItem(line)
            self.current_lines.append(line)
        self.show_sweep(SweepPicture("Power limit per GPU", "W", ()))

    def _plot(self, row: int, title: str, unit: str, colour: str) -> pg.PlotItem:
        plot = self.canvas.addPlot(row=row, col=0)
        plot.setTitle(title, color=LIGHT_THEME.foreground, size="12pt")
        plot.setLabel("left", title, units=unit, color=colour)
        plot.showGrid(x=True, y=True, alpha=0.2)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(LIGHT_THEME.foreground)
            axis.setTextPen(LIGHT_THEME.foreground)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        return plot

    def show_sweep(self, picture: SweepPicture) -> None:
        """Draw ``picture``: the steps measured so far, the floor and the recommendation."""
        points = sorted(picture.points, key=lambda p: p.lever_value)
        x = np.array([p.lever_value for p in points], dtype=float)
        for name, mean, spread in (("efficiency", "tokens_per_j", "tokens_per_j_spread"),
                                   ("tokens", "tokens_per_s", "tokens_per_s_spread")):  # fmt: skip
            y = np.array([getattr(p, mean) for p in points], dtype=float)
            height = 2 * np.array([getattr(p, spread) for p in points], dtype=float)
            self._curves[name].setData(x, y)
            self._bars[name].setData(x=x, y=y, height=height)
        self.tokens.setLabel("bottom", picture.lever_label, units=picture.lever_unit)
        self.efficiency.setLabel("bottom", picture.lever_label, units=picture.lever_unit)
        floor = picture.floor_tokens_per_s
        self.floor_line.setVisible(floor is not None and math.isfinite(floor))
        if floor is not None and math.isfinite(floor):
            self.floor_line.setValue(floor)
            self.floor_line.label.setFormat(f"floor {floor:,.0f} tok/s")
        for lines, value in ((self.recommended_lines, picture.recommended),
                             (self.current_lines, picture.current)):  # fmt: skip
            for line in lines:
                line.setVisible(value is not None)
                if value is not None:
                    line.setValue(value)
