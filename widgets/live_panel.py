"""Run view's headline figures, each with its trend over the last minute, and active alarms.

A trend compares the value now with the value about a minute ago, from the tiles' own short
memory (a few hundred numbers): an operator glancing at the wall sees at once whether tokens/s
is climbing or PUE is drifting, without reading a plot. Arrows are neutral in colour, because
up is good for tokens and bad for PUE; the percentage says how much.
"""

from __future__ import annotations

import math
from collections import deque

from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from factoryfloor.widgets.figures_panel import FigureTile

TILES = (  # facility quantity, caption, format
    ("tokens_per_s", "Tokens/s", "{:,.0f}"),
    ("tokens_per_j", "Tokens per joule", "{:,.3f} tok/J"),
    ("it_power_kw", "IT power (live)", "{:,.1f} kW"),
    ("heat_to_liquid_kw", "Heat to liquid (live)", "{:,.1f} kW"),
    ("pue", "PUE (live estimate)", "{:.2f}"),
    ("gpus_busy", "GPUs busy", "{:,.0f}"),
    ("alarms", "Active alarms", "{:,.0f}"),
)

TREND_WINDOW_S = 60.0
STEADY_FRACTION = 0.02
"""Changes smaller than 2 % of the value in a minute read as steady."""


def trend_text(then: float, now: float) -> str:
    """An arrow and the change since ``then``: "▲ 4.1 %", "▼ 12 %", "▶ steady"."""
    if not (math.isfinite(then) and math.isfinite(now)):
        return ""
    change = now - then
    scale = max(abs(then), abs(now))
    if scale == 0 or abs(change) < STEADY_FRACTION * scale:
        return "▶ steady"
    arrow = "▲" if change > 0 else "▼"
    if then == 0:
        return f"{arrow} from 0"
    return f"{arrow} {abs(change) / abs(then):.1%}".replace("%", " %")


class LivePanel(QWidget):
    def __init__(self, parent: QWidget | None = None, columns: int = 2):
        super().__init__(parent)
        layout = QGridLayout(self)
        self.tiles: dict[str, FigureTile] = {}
        self.trends: dict[str, QLabel] = {}
        self._recent: dict[str, deque[tuple[float, float]]] = {}
        for i, (quantity, caption, _) in enumerate(TILES):
            tile = FigureTile(caption)
            trend = QLabel("")
            trend.setObjectName("trend")
            tile.layout().addWidget(trend)
            self.tiles[quantity], self.trends[quantity] = tile, trend
            self._recent[quantity] = deque()
            layout.addWidget(tile, i // columns, i % columns)
        layout.setRowStretch(-(-len(TILES) // columns), 1)

    def set_moment(self, moment: str | None) -> None:
        """Captions for a past moment (``moment``, e.g. "01:18:42": every caption then says
        "(at 01:18:42)"), or live again (None); trends start afresh either way, as a past value
        is no trend."""
        for quantity, caption, _ in TILES:
            base = caption.split(" (live")[0]
            self.tiles[quantity].caption.setText(caption if moment is None
                                                 else f"{base} (at {moment})")  # fmt: skip
            self._recent[quantity].clear()
            self.trends[quantity].setText("")

    def show_figures(self, facility: dict[str, float], time_s: float,
                     alarms: list[str] | None = None) -> None:  # fmt: skip
        """Show the latest figures (and the alarm list in the alarms tile's tooltip)."""
        shown = dict(facility)
        if alarms is not None:
            shown["alarms"] = float(len(alarms))
            self.tiles["alarms"].setToolTip("\n".join(alarms) or "No active alarms")
        for quantity, _, pattern in TILES:
            value = shown.get(quantity)
            text = "n/a" if value is None else pattern.format(value)
            if quantity == "gpus_busy" and value is not None and facility.get("gpus"):
                text += f" of {facility['gpus']:,.0f}"
            self.tiles[quantity].value.setText(text)
            self.trends[quantity].setText(self._trend(quantity, time_s, value))

    def _trend(self, quantity: str, time_s: float, value: float | None) -> str:
        recent = self._recent[quantity]
        if value is None:
            recent.clear()
            return ""
        recent.append((time_s, value))
        while len(recent) > 1 and recent[1][0] <= time_s - TREND_WINDOW_S:
            recent.popleft()  # keep one reading at or before a minute ago
        then_s, then = recent[0]
        if time_s - then_s < TREND_WINDOW_S / 2:
            return ""  # not enough history yet to call a trend
        return trend_text(then, value)
