"""Run view's headline figures, each with its trend over the last minute, and active alarms.

A trend compares the value now with the value about a minute ago, from the tiles' own short
memory (a few hundred numbers): an operator glancing at the wall sees at once whether tokens/s
is climbing or PUE is drifting, without reading a plot. Arrows are neutral in colour, because
up is good for tokens and bad for PUE; the percentage says how much.

Tokens are shown per model, one tile each with its tokens/s and tokens per joule, as Design
mode shows them per reference workload: tokens of a 70B and a 405B model measure different
work, and a sum of them moves with the mix of requests, not with the facility's output.
"""

from __future__ import annotations

import math
from collections import deque

from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from factoryfloor.backend.telemetry.series import FacilitySeries, facility_model_key, parse
from factoryfloor.widgets.figures_panel import FigureTile

TOKENS = "tokens"
"""The tokens tile, shown while no model's tokens are read; a tile per model replaces it."""

TOKENS_PER_S = "tokens_per_s"

TILES = (  # facility quantity, caption, format
    (TOKENS, "Tokens/s (per model)", ""),
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


def models_in(facility: dict[str, float]) -> list[str]:
    """The models with a tokens/s figure among ``facility``'s, in name order."""
    models = set()
    for key in facility:
        series = parse(key)
        if isinstance(series, FacilitySeries) and series.model and series.quantity == TOKENS_PER_S:
            models.add(series.model)
    return sorted(models)


class LivePanel(QWidget):
    def __init__(self, parent: QWidget | None = None, columns: int = 2):
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._columns = columns
        self.tiles: dict[str, FigureTile] = {}
        """By facility quantity, and a model's tile by its tokens/s series key."""
        self.trends: dict[str, QLabel] = {}
        self.captions: dict[str, str] = {}
        """Each tile's caption when live."""
        self._recent: dict[str, deque[tuple[float, float]]] = {}
        self._moment: str | None = None
        self.models: list[str] = []
        for quantity, caption, _ in TILES:
            self._add_tile(quantity, caption)
        self._place_tiles()

    def _add_tile(self, key: str, caption: str) -> FigureTile:
        tile = FigureTile(caption)
        trend = QLabel("")
        trend.setObjectName("trend")
        tile.layout().addWidget(trend)
        self.tiles[key], self.trends[key], self.captions[key] = tile, trend, caption
        self._recent[key] = deque()
        return tile

    def _place_tiles(self) -> None:
        """Model tiles first (or the tokens tile while there are none), then the others."""
        shown = [facility_model_key(m, TOKENS_PER_S) for m in self.models] or [TOKENS]
        shown += [quantity for quantity, _, _ in TILES[1:]]
        for tile in self.tiles.values():
            self._grid.removeWidget(tile)
        self.tiles[TOKENS].setVisible(not self.models)
        for i, key in enumerate(shown):
            self._grid.addWidget(self.tiles[key], i // self._columns, i % self._columns)
            self.tiles[key].setVisible(True)  # a tile added to a shown panel is shown at once
        for row in range(self._grid.rowCount()):
            self._grid.setRowStretch(row, 0)
        self._grid.setRowStretch(-(-len(shown) // self._columns), 1)

    def _show_models(self, models: list[str]) -> None:
        """One tile per model served, each styled like the tokens tile (a wall's large type)."""
        template = self.tiles[TOKENS]
        for model in models:
            key = facility_model_key(model, TOKENS_PER_S)
            if key in self.tiles:
                continue
            tile = self._add_tile(key, f"{model} (live)")
            for label, like in ((tile.caption, template.caption), (tile.value, template.value),
                                (self.trends[key], self.trends[TOKENS])):  # fmt: skip
                label.setFont(like.font())
                label.setStyleSheet(like.styleSheet())
                label.setSizePolicy(like.sizePolicy())
                label.setMinimumHeight(like.minimumHeight())
            self._caption(key)
        for model in set(self.models) - set(models):
            key = facility_model_key(model, TOKENS_PER_S)
            tile = self.tiles.pop(key)
            self._grid.removeWidget(tile)
            tile.deleteLater()
            del self.trends[key], self.captions[key], self._recent[key]
        self.models = models
        self._place_tiles()

    def _caption(self, key: str) -> None:
        caption = self.captions[key]
        base = caption.split(" (live")[0]
        moment = self._moment
        self.tiles[key].caption.setText(caption if moment is None else f"{base} (at {moment})")

    def set_moment(self, moment: str | None) -> None:
        """Captions for a past moment (``moment``, e.g. "01:18:42": every caption then says
        "(at 01:18:42)"), or live again (None); trends start afresh either way, as a past value
        is no trend."""
        self._moment = moment
        for key in self.tiles:
            self._caption(key)
            self._recent[key].clear()
            self.trends[key].setText("")

    def show_figures(self, facility: dict[str, float], time_s: float,
                     alarms: list[str] | None = None) -> None:  # fmt: skip
        """Show the latest figures (and the alarm list in the alarms tile's tooltip)."""
        models = models_in(facility)
        if models != self.models:
            self._show_models(models)
        shown = dict(facility)
        if alarms is not None:
            shown["alarms"] = float(len(alarms))
            self.tiles["alarms"].setToolTip("\n".join(alarms) or "No active alarms")
        for quantity, _, pattern in TILES[1:]:
            value = shown.get(quantity)
            text = "n/a" if value is None else pattern.format(value)
            if quantity == "gpus_busy" and value is not None and facility.get("gpus"):
                text += f" of {facility['gpus']:,.0f}"
            racks = facility.get("racks")
            if quantity == "it_power_kw" and racks and facility["it_power_racks"] < racks:
                text += f" ({facility['it_power_racks']:,.0f} of {racks:,.0f} racks)"
            self.tiles[quantity].value.setText(text)
            self.trends[quantity].setText(self._trend(quantity, time_s, value))
        self.tiles[TOKENS].value.setText("n/a")
        for model in self.models:  # tokens per joule on the trend's line: a tile of one height
            key = facility_model_key(model, TOKENS_PER_S)
            tokens = facility[key]
            self.tiles[key].value.setText(f"{tokens:,.0f} tok/s")
            per_j = facility.get(facility_model_key(model, "tokens_per_j"))
            trend = self._trend(key, time_s, tokens)
            per_j_text = "n/a tok/J" if per_j is None else f"{per_j:,.3f} tok/J"
            self.trends[key].setText(f"{per_j_text}  {trend}" if trend else per_j_text)

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
