"""Run view's rack detail: one curve per GPU (utilisation and power) and current values.

pyqtgraph, drawn the fast way (design notes, section 8): curves are created once per rack and
updated with ``setData``; 1 px pens without antialiasing; gaps (NaN) break the line rather than
being drawn as zero. The GPU selected elsewhere (on the heatmap) is drawn thick and its table
row selected, so it can be followed among the rack's 72.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from factoryfloor.backend.telemetry.history import LiveHistory

WINDOW_S = 60.0
PLOTS = (("util_pct", "GPU utilisation", "%"), ("power_w", "GPU power", "W"))
TABLE = (("util_pct", "util %", "{:.0f}"), ("power_w", "power W", "{:.0f}"),
         ("temp_c", "temp °C", "{:.1f}"))  # fmt: skip


class RackDetailPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self.title = QLabel("Click a rack on the plan or a GPU on the heatmap")
        self.title.setStyleSheet("font-weight: bold;")
        layout.addWidget(self.title)
        self.plots: dict[str, pg.PlotWidget] = {}
        for quantity, label, unit in PLOTS:
            plot = pg.PlotWidget(background="w")
            plot.setLabel("left", label, units=unit)
            plot.setLabel("bottom", "time before now", units="s")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMinimumHeight(140)
            self.plots[quantity] = plot
            layout.addWidget(plot, 1)
        self.plots["util_pct"].setYRange(0, 100)
        self.table = QTableWidget(0, len(TABLE) + 1)
        self.table.setHorizontalHeaderLabels(["GPU", *(h for _, h, _ in TABLE)])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        layout.addWidget(self.table, 1)
        self.rack_id = ""
        self.gpu_index: int | None = None
        self._curves: dict[str, list[pg.PlotDataItem]] = {}

    def show_rack(self, history: LiveHistory, rack_id: str, gpu_index: int | None = None) -> None:
        """The last minute of ``rack_id``'s GPUs, ``gpu_index`` (if any) highlighted."""
        rows = list(history.rows_of_rack.get(rack_id, ()))
        if rack_id != self.rack_id or len(self._curves.get("util_pct", ())) != len(rows):
            self._build(rack_id, len(rows))
        if gpu_index != self.gpu_index:
            self._highlight(gpu_index)
        latest: dict[str, np.ndarray] = {}
        for quantity in {q for q, *_ in (*PLOTS, *TABLE)}:
            window = history.gpu_window(quantity, WINDOW_S, rows=rows)
            ago_s = window.times_s - history.latest_s
            if quantity in self._curves:
                for gpu, curve in enumerate(self._curves[quantity]):
                    curve.setData(ago_s, window.values[:, gpu])
            empty = np.full(len(rows), np.nan)
            latest[quantity] = window.values[-1] if len(window.times_s) else empty
        for gpu in range(len(rows)):
            for column, (quantity, _, pattern) in enumerate(TABLE, start=1):
                value = float(latest[quantity][gpu])
                text = "n/a" if not np.isfinite(value) else pattern.format(value)
                self.table.item(gpu, column).setText(text)

    def _build(self, rack_id: str, gpus: int) -> None:
        self.rack_id = rack_id
        self.gpu_index = None
        self.title.setText(f"Rack {rack_id}: {gpus} GPUs, the last minute")
        for quantity, plot in self.plots.items():
            plot.clear()
            self._curves[quantity] = [
                plot.plot(pen=self._pen(i, gpus, False), connect="finite", antialias=False)
                for i in range(gpus)
            ]
        self.table.setRowCount(gpus)
        for gpu in range(gpus):
            self.table.setItem(gpu, 0, QTableWidgetItem(str(gpu)))
            for column in range(1, len(TABLE) + 1):
                self.table.setItem(gpu, column, QTableWidgetItem("n/a"))

    @staticmethod
    def _pen(gpu: int, gpus: int, selected: bool) -> pg.QtGui.QPen:
        return pg.mkPen(pg.intColor(gpu, hues=max(gpus, 1)), width=3 if selected else 1)

    def _highlight(self, gpu_index: int | None) -> None:
        gpus = self.table.rowCount()
        for curves in self._curves.values():
            for gpu in {self.gpu_index, gpu_index} - {None}:
                if gpu < gpus:
                    curves[gpu].setPen(self._pen(gpu, gpus, gpu == gpu_index))
                    curves[gpu].setZValue(1 if gpu == gpu_index else 0)
        self.gpu_index = gpu_index
        if gpu_index is not None and gpu_index < gpus:
            self.table.selectRow(gpu_index)
            self.title.setText(f"Rack {self.rack_id}: {gpus} GPUs, the last minute; "
                               f"GPU {gpu_index} highlighted")  # fmt: skip
        else:
            self.table.clearSelection()
