"""A perceptual colour scale for live values, and its legend bar.

Viridis anchors: ordered in lightness, readable by colour-blind operators and on washed-out
wall displays, unlike a rainbow; low values are dark blue, high values yellow.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

ANCHORS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
_ANCHOR_COLOURS = [QColor(c) for c in ANCHORS]

NO_READING_CODE = 0
"""Code of "no reading"; codes 1-255 are the colour scale, from its low end to its high end.
Live views colour by code (the plan's racks, the heatmap's cells): 255 steps cannot be told
apart from a continuous scale, and an unchanged code is a colour that need not be redrawn."""
SCALE_CODES = 255


def scale_colour(value: float, low: float, high: float) -> QColor:
    """The colour of ``value`` on the scale from ``low`` to ``high`` (clamped)."""
    if not math.isfinite(value) or high <= low:
        return QColor(_ANCHOR_COLOURS[0])
    t = min(max((value - low) / (high - low), 0.0), 1.0) * (len(_ANCHOR_COLOURS) - 1)
    i = min(int(t), len(_ANCHOR_COLOURS) - 2)
    f = t - i
    a, b = _ANCHOR_COLOURS[i], _ANCHOR_COLOURS[i + 1]
    return QColor.fromRgbF(a.redF() + f * (b.redF() - a.redF()),
                           a.greenF() + f * (b.greenF() - a.greenF()),
                           a.blueF() + f * (b.blueF() - a.blueF()))  # fmt: skip


def value_codes(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Image codes of ``values``: 1 at ``low`` or below, 255 at ``high`` or above, rounded
    evenly between; ``NO_READING_CODE`` where a value is NaN. Same shape, ``uint8``."""
    span = high - low if high > low else 1.0
    scaled = np.subtract(values, np.float32(low), dtype=np.float32)
    scaled *= np.float32((SCALE_CODES - 1) / span)
    scaled += np.float32(1.5)  # code 1 at low; +0.5 so the cast below rounds
    missing = np.isnan(scaled)
    np.clip(scaled, 1.0, float(SCALE_CODES), out=scaled)
    scaled[missing] = NO_READING_CODE  # before the cast: NaN to uint8 is undefined
    return scaled.astype(np.uint8)


CODE_COLOURS = [QColor(_ANCHOR_COLOURS[0])] + [
    scale_colour(code - 1, 0.0, SCALE_CODES - 1) for code in range(1, SCALE_CODES + 1)
]
"""The colour of each code (code 0, never on the plan, as ``scale_colour`` draws no value);
the heatmap's lookup table is made from it, so plan and heatmap cannot drift apart."""


def scale_colours(values: np.ndarray, low: float, high: float) -> list[QColor]:
    """The colours of many ``values`` at once, by code (``value_codes``): a hall's racks in
    a fraction of a millisecond, where a ``scale_colour`` each takes milliseconds."""
    return [CODE_COLOURS[code] for code in value_codes(values, low, high).tolist()]


class ColourScaleBar(QWidget):
    """The legend of the live colours: what is shown, its unit, and the range of the scale."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedHeight(26)
        self.label, self.unit, self.low, self.high = "", "", 0.0, 1.0

    def set_scale(self, label: str, unit: str, low: float, high: float) -> None:
        self.label, self.unit, self.low, self.high = label, unit, low, high
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        metrics = painter.fontMetrics()
        y = self.height() / 2
        text = f"{self.label} ({self.unit})" if self.unit else self.label
        painter.drawText(QPointF(10, y + 4), text)
        x = 20.0 + metrics.horizontalAdvance(text)
        low_text, high_text = f"{self.low:,.3g}", f"{self.high:,.3g}"
        painter.drawText(QPointF(x, y + 4), low_text)
        x += metrics.horizontalAdvance(low_text) + 6
        bar = QRectF(x, y - 6, 220, 12)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for i, colour in enumerate(_ANCHOR_COLOURS):
            gradient.setColorAt(i / (len(_ANCHOR_COLOURS) - 1), colour)
        painter.fillRect(bar, gradient)
        painter.setPen(Qt.GlobalColor.darkGray)
        painter.drawRect(bar)
        painter.setPen(self.palette().windowText().color())
        painter.drawText(QPointF(bar.right() + 6, y + 4), high_text)
