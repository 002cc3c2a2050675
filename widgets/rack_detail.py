"""Run view's rack detail: one curve per GPU (utilisation and power) and current values.

pyqtgraph, drawn the fast way (design notes, section 8): curves are created once per rack and
updated with ``setData``; 1 px pens without antialiasing; gaps (NaN) break the line rather than
being drawn as zero. The GPU selected elsewhere (on the heatmap) is drawn thick and its table
row selected, so it can be followed among the rack's 72. The GPUs' last minute is asked of a
``GpuRowsSource`` (the service: a window keeps no GPU's history) and shown when it comes.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from factoryfloor.backend.telemetry.gpu_rows import (
    GpuRows,
    GpuRowsQuery,
    GpuRowsSource,
    LocalGpuRows,
)
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

    def show_rack(self, history: LiveHistory, rack_id: str, gpu_index: int | None = None,
                  source: GpuRowsSource | None = None) -> None:  # fmt: skip
        """The last minute of ``rack_id``'s GPUs, ``gpu_index`` (if any) highlighted, asked of
        ``source`` (default: the history itself, if it keeps every GPU)."""
        rows = history.rows_of_rack.get(rack_id, range(0))
        if rack_id != self.rack_id or len(self._curves.get("util_pct", ())) != len(rows):
            self._build(rack_id, len(rows))
        if gpu_index != self.gpu_index:
            self._highlight(gpu_index)
        if source is None and history.keep_gpus:
            source = LocalGpuRows(history)
        if source is None or not rows or math.isnan(history.latest_s):
            return
        tier = history.series.tier_for(WINDOW_S)
        columns = min(math.ceil(WINDOW_S / tier.resolution_s), tier.columns)
        newest = math.floor(history.latest_s / tier.resolution_s)
        for quantity in dict.fromkeys(q for q, *_ in (*PLOTS, *TABLE)):
            query = GpuRowsQuery(quantity, rows.start, rows.stop, 1, columns, newest,
                                 tier.resolution_s)  # fmt: skip
            source.ask(query, lambda gpus, r=rack_id: self._show_gpus(r, history, gpus))

    def _show_gpus(self, rack_id: str, history: LiveHistory, gpus: GpuRows) -> None:
        """One quantity of a rack's GPUs: their curves and table column (if still shown)."""
        if not shiboken6.isValid(self):
            return  # closed since it was asked
        if rack_id != self.rack_id or gpus.values.shape[1] != self.table.rowCount():
            return  # another rack since
        query = gpus.query
        buckets = np.arange(query.newest_bucket - query.columns + 1, query.newest_bucket + 1)
        ago_s = (buckets + 0.5) * query.resolution_s - history.latest_s
        for gpu, curve in enumerate(self._curves.get(query.quantity, ())):
            curve.setData(ago_s, gpus.values[:, gpu])
        for column, (quantity, _, pattern) in enumerate(TABLE, start=1):
            if quantity != query.quantity:
                continue
            for gpu, value in enumerate(gpus.values[-1].tolist()):
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
