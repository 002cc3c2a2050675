"""Run view's rack detail: one curve per GPU (utilisation and power) and current values.

pyqtgraph, drawn the fast way (design notes, section 8): curves are created once per rack and
updated with ``setData``; 1 px pens without antialiasing; gaps (NaN) break the line rather than
being drawn as zero.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from backend.telemetry.live_figures import RackHistory

PLOTS = (("util_pct", "GPU utilisation", "%"), ("power_w", "GPU power", "W"))
TABLE = (("util_pct", "util %", "{:.0f}"), ("power_w", "power W", "{:.0f}"),
         ("temp_c", "temp °C", "{:.1f}"))  # fmt: skip


class RackDetailPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.title = QLabel("Click a rack on the plan")
        self.title.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.title)
        self.plots: dict[str, pg.PlotWidget] = {}
        for quantity, label, unit in PLOTS:
            plot = pg.PlotWidget(background="w")
            plot.setLabel("left", label, units=unit)
            plot.setLabel("bottom", "time", units="s")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMinimumHeight(140)
            self.plots[quantity] = plot
            layout.addWidget(plot, 1)
        self.plots["util_pct"].setYRange(0, 100)
        self.table = QTableWidget(0, len(TABLE) + 1)
        self.table.setHorizontalHeaderLabels(["GPU", *(h for _, h, _ in TABLE)])
        self.table.verticalHeader().hide()
        layout.addWidget(self.table, 1)
        self._rack_id = ""
        self._curves: dict[str, list[pg.PlotDataItem]] = {}

    def show_history(self, history: RackHistory) -> None:
        gpus = history.gpu_count
        if history.rack_id != self._rack_id or len(self._curves.get("util_pct", ())) != gpus:
            self._build(history.rack_id, gpus)
        for quantity, _, _ in PLOTS:
            ago_s, values = history.series(quantity)
            for gpu, curve in enumerate(self._curves[quantity]):
                curve.setData(ago_s, values[:, gpu] if len(values) else values)
        latest = {q: history.series(q)[1] for q, _, _ in TABLE}
        for gpu in range(gpus):
            for column, (quantity, _, pattern) in enumerate(TABLE, start=1):
                rows = latest[quantity]
                value = float(rows[-1, gpu]) if len(rows) else float("nan")
                text = "n/a" if not np.isfinite(value) else pattern.format(value)
                self.table.item(gpu, column).setText(text)

    def _build(self, rack_id: str, gpus: int) -> None:
        self._rack_id = rack_id
        self.title.setText(f"Rack {rack_id}: {gpus} GPUs, up to the last minute")
        for quantity, plot in self.plots.items():
            plot.clear()
            self._curves[quantity] = [
                plot.plot(pen=pg.mkPen(pg.intColor(i, hues=max(gpus, 1)), width=1),
                          connect="finite", antialias=False)
                for i in range(gpus)
            ]  # fmt: skip
        self.table.setRowCount(gpus)
        for gpu in range(gpus):
            self.table.setItem(gpu, 0, QTableWidgetItem(str(gpu)))
            for column in range(1, len(TABLE) + 1):
                self.table.setItem(gpu, column, QTableWidgetItem("n/a"))
