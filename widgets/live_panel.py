"""Run view's headline figures: facility tokens/s, tokens per joule, IT power, GPUs busy."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QWidget

from widgets.figures_panel import FigureTile

TILES = (  # facility quantity, caption, format
    ("tokens_per_s", "Tokens/s", "{:,.0f}"),
    ("tokens_per_j", "Tokens per joule", "{:,.3f} tok/J"),
    ("it_power_kw", "IT power (live)", "{:,.1f} kW"),
    ("heat_to_liquid_kw", "Heat to liquid (live)", "{:,.1f} kW"),
    ("pue", "PUE (live estimate)", "{:.2f}"),
    ("gpus_busy", "GPUs busy", "{:,.0f}"),
)


class LivePanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QGridLayout(self)
        self.tiles: dict[str, FigureTile] = {}
        for i, (quantity, caption, _) in enumerate(TILES):
            self.tiles[quantity] = FigureTile(caption)
            layout.addWidget(self.tiles[quantity], i // 2, i % 2)
        layout.setRowStretch(len(TILES), 1)

    def show_figures(self, facility: dict[str, float]) -> None:
        for quantity, _, pattern in TILES:
            value = facility.get(quantity)
            text = "n/a" if value is None else pattern.format(value)
            if quantity == "gpus_busy" and value is not None and facility.get("gpus"):
                text += f" of {facility['gpus']:,.0f}"
            self.tiles[quantity].value.setText(text)
