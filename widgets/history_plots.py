"""Run view's time plots: GPUs, heat per loop against CDU capacity, coolant, tokens.

Read from a ``LiveHistory`` (multi-resolution, fixed memory), so any offered window from a
minute to a day is a handful of array slices; the plots never keep history of their own.

Drawn the fast way (design notes, sections 8 and 9): every curve is a bare ``PlotCurveItem``
created once (when the history is set) and updated with ``setData``; 1 px pens without
antialiasing; NaN gaps break the line (``connect="finite"``) so a source that went quiet reads as
a gap, not as a straight line across it. A window is at most 600 columns, so there is nothing to
clip or downsample, and moving the time axis costs no re-processing of the curves. Y ranges are
steady (``axis_range``): computed from the data drawn, and changed only when the data leaves
them, so axes and grid are not re-laid on every frame. A curve per group stays at most
``MAX_CURVES`` (64 curves of 600 points draw at ~94 fps; 256 at ~23): larger halls are read per
row or per hall, and the plot title says what is left out. Past ``MAX_LOOP_CURVES`` loops, the
loop, coolant and flow plots show the loops nearest their CDU's capacity.

Live, each ``refresh`` shows the last window up to the newest frame and the x axes follow it,
with mouse panning off so the view does not fight the user. Paused, what is shown is frozen:
the whole span of the window's tier is fetched once (a 1 min window pauses with 10 min of 1 s
data) and the x axes become draggable (wheel zooms x), so the operator can scroll back.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from factoryfloor.backend.telemetry.history import (
    GPU_QUANTITIES,
    WINDOWS_S,
    HistoryWindow,
    LiveHistory,
)
from factoryfloor.backend.telemetry.live_figures import loops_nearest_capacity
from factoryfloor.backend.telemetry.series import entity_key, facility_key, mean_key
from factoryfloor.widgets.axis_range import steady_range
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetricsF, QKeyEvent, QPainter, QPainterPath, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

MAX_CURVES = 64
"""Most curves one plot draws per group kind (racks, rows, loops, CDUs)."""
MAX_GPU_CURVES = 72
"""Most per-GPU curves: one GB200 NVL72 rack in full (72 curves draw as fast as 64)."""
MAX_LOOP_CURVES = 16
"""Most loops plotted (with their CDUs' coolant and flow): past this many, the loops nearest
their CDU's capacity, which is the headroom an operator watches."""
LOOP_CHOICE_HOLD_S = 10.0
"""The loops plotted are chosen again at most this often (curves that change owner every
frame cannot be read), except that a loop over its CDU's capacity is plotted at once."""
MAX_READOUT = 6
"""Most values the crosshair readout lists per plot before "…"."""
MIN_PLOT_PX = 90
"""Least height of a plot: below it the y labels of a 0-100 % axis overlap."""
TIME_AXIS_PX = 40
"""Room for the time axis under the last plot."""
LEFT_AXIS_PX = 64
RIGHT_AXIS_PX = 60
"""Fixed widths of every plot's left and right axes (the right one only labelled on the tokens
plot, for the selected rack), so the linked plots line up under one crosshair."""

PER_CHOICES = (("Hall", "hall"), ("Row", "row"), ("Rack", "rack"), ("GPU", "gpu"))
"""The "per" combo: label -> how GPU readings are grouped ("gpu": the selected rack's GPUs)."""

GROUP_NOUNS = {"rack": "racks", "row": "rows", "hall": "halls", "gpu": "GPUs"}

FACILITY_TOKENS_KEY = facility_key("tokens_per_s")
FACILITY_TOKENS_PER_J_KEY = facility_key("tokens_per_j")

_THEMES = {
    False: {"background": "w", "foreground": "#333333", "grid": "#e6e6e6", "crosshair": "#808080",
            "readout_fill": (255, 255, 255), "readout_text": "#111111",
            "highlight": "#000000", "colour_value": 200, "facility": "#1f5fbf",
            "rack": "#d2620a"},
    True: {"background": "k", "foreground": "#d8d8d8", "grid": "#2e2e2e", "crosshair": "#a0a0a0",
           "readout_fill": (0, 0, 0), "readout_text": "#eeeeee",
           "highlight": "#ffffff", "colour_value": 255, "facility": "#5aa9ff",
           "rack": "#ffa040"},
}  # fmt: skip
"""Light (the default, like the rack detail) and dark (control-room wall) colours. The grid is
an opaque colour rather than pyqtgraph's translucent default: Qt's raster engine draws a
translucent line ~30 times slower than an opaque one, and the grid alone made a repaint of the
six plots take 60 ms instead of 6."""


def window_label(span_s: float) -> str:
    """The window combo's wording for a span: "1 min", "15 min", "1 h", "24 h"."""
    if span_s < 3600:
        return f"{span_s / 60:g} min"
    return f"{span_s / 3600:g} h"


def format_value(value: float, unit: str) -> str:
    """A reading for the crosshair readout: precision that suits the magnitude, with its unit
    (``n/a`` for a missing reading)."""
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}"


class _Curve(pg.PlotCurveItem):
    """A curve whose bounding box is set by its plot rather than computed from its data.

    Qt asks every changed item for its bounding box before painting, and pyqtgraph computes a
    curve's from its data (NaN-aware minimum and maximum, padded by the pen in pixels), in
    Python: for the hundred curves that change on every frame that was 20-40 ms, more than
    the painting. The plots know the box already: the window's time span by the view's range.
    """

    def __init__(self) -> None:
        super().__init__(connect="finite", antialias=False)
        self._bounds = QRectF()

    def set_bounds(self, bounds: QRectF) -> None:
        if bounds != self._bounds:
            self.prepareGeometryChange()
            self._bounds = bounds

    def boundingRect(self) -> QRectF:
        return self._bounds

    def generatePath(self, x: np.ndarray, y: np.ndarray) -> QPainterPath:
        """A polyline per run of readings (a gap breaks the line; a lone reading between gaps
        draws nothing), filled straight from numpy: pyqtgraph's general path for data with
        gaps splits the arrays into views in Python, twice the cost for a few gaps."""
        path = QPainterPath()
        finite = np.isfinite(y)
        if finite.all():
            runs = [(0, len(y))]
        else:
            edges = np.flatnonzero(np.diff(np.concatenate(([0], finite.view(np.int8), [0]))))
            runs = edges.reshape(-1, 2).tolist()  # (start, end) of each run of readings
        for start, end in runs:
            if end - start < 2:
                continue
            polygon = pg.functions.create_qpolygonf(end - start)
            points = pg.functions.ndarray_from_qpolygonf(polygon)
            points[:, 0] = x[start:end]
            points[:, 1] = y[start:end]
            path.addPolygon(polygon)
        return path

    def paint(self, painter: QPainter, option: object, widget: object = None) -> None:
        """Just the line: these curves have no fill, shadow or antialiasing to consider."""
        if self.xData is None or not len(self.xData):
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(self.opts["pen"])
        painter.drawPath(self.getPath())


@dataclass(eq=False)
class _Plot:
    """One stacked plot: its curves (created once) and what they show, for the readout."""

    key: str
    item: pg.PlotItem
    title: str
    """The plot's fixed title; ``full_title`` adds what is left out of it."""
    unit: str
    curves: list[_Curve] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    """Readout name of each curve in use (the first ``len(names)`` curves)."""
    colours: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    times_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    values: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    """(curves in use, columns): what the curves show now."""
    resolution_s: float = 0.0
    pinned: int = -1
    """Curve listed first in the readout (the selected rack), -1 for none."""
    y_range: tuple[float, float] | None = None
    """The steady y range shown (None: not set yet, or fixed by the quantity)."""
    vline: pg.InfiniteLine | None = None
    readout: pg.TextItem | None = None
    full_title: str = ""
    """The title as set; what shows may be cut short to the plot's width."""


class HistoryPlots(QWidget):
    """Stacked time plots of a ``LiveHistory`` with a shared time axis, pause and crosshair.

    The owner calls ``set_history`` when a run starts, ``refresh`` after each frame and
    ``select_rack`` when a rack is clicked; ``window_changed`` and ``paused_changed`` tell it
    when the user (or the setters) change the window or pause, so the fleet heatmap can follow.
    """

    window_changed = Signal(float)
    paused_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # Space toggles pause
        self._history: LiveHistory | None = None
        self._loop_capacities: dict[str, tuple[str, float]] = {}
        self._window_s = WINDOWS_S[1]
        self._paused = False
        self._paused_end_s = math.nan
        self._rack_id: str | None = None
        self._quantity = next(iter(GPU_QUANTITIES))
        self._per = "rack"
        self._dark = False
        self._stale = False
        self._known_quantities: list[str] = []
        self._series_keys: list[str] = []
        self._series_slices: dict[str, slice] = {}
        self._gpu_rows: list[int] | None = None
        """History rows of the selected rack's GPUs when per = GPU, else None."""
        self._temp_cdus: list[str] = []
        """CDUs in the coolant plot (a supply and a return curve each)."""
        self._mouse_x_s = math.nan
        self._capacity_lines: list[pg.InfiniteLine] = []
        self._loops_chosen_s = -math.inf
        """History time the plotted loops were last chosen (``LOOP_CHOICE_HOLD_S``)."""
        self._heat_keys: list[str] = []
        self._capacity_kw: dict[str, float] = {}
        """Every loop's heat series and CDU capacity, for choosing the loops to plot."""
        self._drawn_bucket: int | None = None
        """Column (of the window's resolution) holding the newest frame at the last redraw."""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._build_controls())
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.graphics.installEventFilter(self)
        # A short dock scrolls rather than squeezing six plots until their labels overlap.
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.graphics)
        layout.addWidget(self.scroll, 1)
        self._build_plots()
        self.graphics.setMinimumHeight(len(self.plots) * MIN_PLOT_PX + TIME_AXIS_PX)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._master.sigXRangeChanged.connect(self._on_x_range_changed)
        self._apply_theme()
        self._apply_fonts()
        self._apply_mouse_mode()
        self._update_status()

    # --- Construction ------------------------------------------------------------------------

    def _build_controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setContentsMargins(6, 4, 6, 0)
        self.window_combo = QComboBox()
        for span_s in WINDOWS_S:
            self.window_combo.addItem(window_label(span_s), span_s)
        self.window_combo.setCurrentIndex(WINDOWS_S.index(self._window_s))
        self.window_combo.currentIndexChanged.connect(
            lambda i: self.set_window(float(self.window_combo.itemData(i)))
        )
        self.quantity_combo = QComboBox()
        self._fill_quantities(list(GPU_QUANTITIES))
        self.quantity_combo.currentIndexChanged.connect(self._on_quantity_chosen)
        self.per_combo = QComboBox()
        for label, per in PER_CHOICES:
            self.per_combo.addItem(label, per)
        self.per_combo.setItemData(3, "The GPUs of the rack selected on the plan",
                                   Qt.ItemDataRole.ToolTipRole)  # fmt: skip
        self.per_combo.setCurrentIndex([p for _, p in PER_CHOICES].index(self._per))
        self.per_combo.currentIndexChanged.connect(self._on_per_chosen)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the plots and scroll back by dragging (Space)")
        self.pause_button.toggled.connect(self.set_paused)
        self.status_label = QLabel()
        self.status_label.setStyleSheet("color: gray;")
        for text, widget in (("Window", self.window_combo), ("GPU", self.quantity_combo),
                             ("per", self.per_combo)):  # fmt: skip
            row.addWidget(QLabel(text))
            row.addWidget(widget)
        row.addWidget(self.pause_button)
        row.addWidget(self.status_label, 1)
        return row

    def _new_plot(self, key: str, title: str, label: str, unit: str, si_prefix: bool) -> _Plot:
        item: pg.PlotItem = self.graphics.addPlot(axisItems={"bottom": pg.DateAxisItem()})
        self.graphics.nextRow()
        item.setLabel("left", label, units=unit)
        item.getAxis("left").enableAutoSIPrefix(si_prefix)
        item.getAxis("left").setWidth(LEFT_AXIS_PX)
        item.showAxis("right")
        item.getAxis("right").setWidth(RIGHT_AXIS_PX)
        item.getAxis("right").setStyle(showValues=False)
        item.getAxis("bottom").enableAutoSIPrefix(False)  # dates: and it saves a relabel per frame
        item.showGrid(x=True, y=True, alpha=1.0)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            # Opaque grid (see _THEMES), so: major and minor ticks only, and behind the curves
            # (the ViewBox is at z -100).
            axis.setStyle(tickAlpha=255, maxTickLevel=1)
            axis.setZValue(-200)
        item.getAxis("right").setGrid(False)  # showGrid puts one on every axis: left's will do
        item.hideButtons()
        item.setMenuEnabled(False)
        item.getViewBox().disableAutoRange()  # x follows the window, y is steady_range's
        item.setMinimumHeight(MIN_PLOT_PX)
        plot = _Plot(key, item, title, unit)
        item.geometryChanged.connect(lambda: self._show_title(plot))
        plot.vline = pg.InfiniteLine(angle=90, movable=False)
        plot.vline.hide()
        item.addItem(plot.vline, ignoreBounds=True)
        plot.readout = pg.TextItem(anchor=(0, 0))
        plot.readout.setParentItem(item.getViewBox())  # pixel placement, outside the data
        plot.readout.setZValue(100)
        plot.readout.hide()
        return plot

    def _build_plots(self) -> None:
        """The six stacked plots with linked x axes; only the last shows time labels. The
        titles name the quantities, so the y axes carry just units: a word as well overran a
        short plot's axis under the wall's large type. Tokens/s names whose it is, because
        the selected rack's has its own axis on the right."""
        gpu = self._new_plot("gpu", "", "", "", False)
        heat = self._new_plot("heat", "Heat per loop (dashed: CDU capacity)", "", "kW", False)
        coolant = self._new_plot("coolant", "CDU coolant (solid: supply, dashed: return)",
                                 "", "°C", False)  # fmt: skip
        flow = self._new_plot("flow", "CDU coolant flow", "", "L/min", False)
        tokens = self._new_plot("tokens", "Tokens per second", "facility", "tok/s", True)
        efficiency = self._new_plot("efficiency", "Facility tokens per joule", "", "tok/J",
                                    False)  # fmt: skip
        self.plots: dict[str, _Plot] = {p.key: p for p in (gpu, heat, coolant, flow, tokens,
                                                           efficiency)}  # fmt: skip
        for plot in self.plots.values():
            if plot is not efficiency:
                plot.item.setXLink(efficiency.item)
                plot.item.getAxis("bottom").setStyle(showValues=False)
                plot.item.getAxis("bottom").setHeight(4)
        efficiency.item.setLabel("bottom", "local time")
        self._master = efficiency.item
        gpu.curves = [self._add_curve(gpu.item) for _ in range(MAX_GPU_CURVES)]
        tokens.curves = [self._add_curve(tokens.item)]
        # The selected rack's tokens/s on its own right-hand axis: a rack makes a sixty-fourth
        # of a hall's tokens, so on the facility's axis it would be a flat line at zero.
        self._rack_tokens_view = pg.ViewBox()
        tokens.item.scene().addItem(self._rack_tokens_view)
        right = tokens.item.getAxis("right")
        right.linkToView(self._rack_tokens_view)
        self._rack_tokens_view.setXLink(tokens.item)
        self._rack_tokens_view.disableAutoRange()
        self._rack_tokens_range: tuple[float, float] | None = None
        self._rack_tokens_view.setMouseEnabled(x=False, y=False)
        self._rack_tokens_view.setZValue(1)  # over the plot's grid; it takes that plot's drags
        rack_curve = self._new_curve()
        self._rack_tokens_view.addItem(rack_curve)
        tokens.curves.append(rack_curve)
        tokens.item.getViewBox().sigResized.connect(self._sync_rack_tokens_view)
        assert tokens.readout is not None
        tokens.readout.setParentItem(self._rack_tokens_view)  # over the rack's curve
        efficiency.curves = [self._add_curve(efficiency.item)]
        self._set_gpu_config(redraw=False)

    def _sync_rack_tokens_view(self) -> None:
        self._rack_tokens_view.setGeometry(
            self.plots["tokens"].item.getViewBox().sceneBoundingRect()
        )

    @staticmethod
    def _new_curve() -> _Curve:
        curve = _Curve()
        curve.hide()
        return curve

    def _add_curve(self, item: pg.PlotItem) -> _Curve:
        curve = self._new_curve()
        item.addItem(curve)
        return curve

    # --- Public API ----------------------------------------------------------------------------

    @property
    def window_s(self) -> float:
        return self._window_s

    @property
    def paused(self) -> bool:
        return self._paused

    def set_history(self, history: LiveHistory | None,
                    loop_capacities: dict[str, tuple[str, float]]) -> None:  # fmt: skip
        """Show ``history`` (None: nothing). ``loop_capacities``: loop id -> (CDU id, CDU
        capacity in kW), which also names the loops and CDUs to plot, in that order. Builds the
        loop and CDU curves, once: refreshes only set their data."""
        self._history = history
        self._loop_capacities = dict(loop_capacities)
        self._heat_keys = [entity_key("loop", loop, "heat_kw") for loop in self._loop_capacities]
        self._capacity_kw = {loop: kw for loop, (_, kw) in self._loop_capacities.items()}
        self._known_quantities = []
        heat, coolant, flow = self.plots["heat"], self.plots["coolant"], self.plots["flow"]
        for plot in (heat, coolant, flow):
            for curve in plot.curves:
                plot.item.removeItem(curve)
        for line in self._capacity_lines:
            heat.item.removeItem(line)
        count = min(len(self._loop_capacities), MAX_LOOP_CURVES)
        heat.curves = [self._add_curve(heat.item) for _ in range(count)]
        coolant.curves = [self._add_curve(coolant.item) for _ in range(2 * count)]
        flow.curves = [self._add_curve(flow.item) for _ in range(count)]
        self._capacity_lines = []
        for _ in range(count):
            line = pg.InfiniteLine(angle=0, movable=False)
            heat.item.addItem(line)
            self._capacity_lines.append(line)
        self._loops_chosen_s = -math.inf
        self._show_loops(list(self._loop_capacities)[:count], configure=False)
        self._sync_quantities()
        self._paused_end_s = history.latest_s if history is not None and self._paused else math.nan
        self._set_gpu_config(redraw=False)
        if history is None:
            self._draw(self._window_s, math.nan)  # clears every curve
        elif self._paused:
            self._draw_paused(reset_view=True)
        else:
            self._draw_live()

    def _show_loops(self, loops: list[str], configure: bool = True) -> None:
        """Plot these loops' heat (each against its CDU's capacity) and their CDUs' coolant
        and flow. Colours follow a loop's place in the design, so a loop keeps its colour when
        the loops nearest capacity change."""
        heat, coolant, flow = self.plots["heat"], self.plots["coolant"], self.plots["flow"]
        capacities = self._loop_capacities
        heat.names = loops
        for loop, line in zip(loops, self._capacity_lines, strict=True):
            line.setPos(capacities[loop][1])
        cdus = list(dict.fromkeys(capacities[loop][0] for loop in loops))
        self._temp_cdus = cdus
        coolant.names = [f"{c} {end}" for c in cdus for end in ("supply", "return")]
        flow.names = cdus
        total = len(capacities)
        for plot in (heat, coolant, flow):
            plot.units = [plot.unit] * len(plot.names)
            plot.y_range = None
            cut = f" · {len(loops)} of {total} loops, nearest capacity" if \
                len(loops) < total else ""  # fmt: skip
            self._set_title(plot, plot.title + cut)
        if configure:
            self._plan_series()
            self._style_curves()

    def _follow_loops_nearest_capacity(self) -> None:
        """Live, in a hall with more loops than are plotted: re-choose the loops by the newest
        heat readings, every ``LOOP_CHOICE_HOLD_S`` or at once for a loop over capacity (a
        chosen loop keeps its place through near-ties)."""
        history = self._history
        capacities = self._loop_capacities
        if history is None or len(capacities) <= MAX_LOOP_CURVES:
            return
        latest = history.series_window(self._heat_keys, 1.0)
        if not len(latest.times_s):
            return
        heat_kw = dict(zip(capacities, latest.values[-1].tolist(), strict=True))
        capacity_kw = self._capacity_kw
        shown = self.plots["heat"].names
        over = any(heat_kw[loop] > capacity_kw[loop] for loop in capacities if loop not in shown)
        if not over and history.latest_s - self._loops_chosen_s < LOOP_CHOICE_HOLD_S:
            return
        self._loops_chosen_s = history.latest_s
        chosen = loops_nearest_capacity(heat_kw, capacity_kw, MAX_LOOP_CURVES, shown)
        if chosen != shown:
            self._show_loops(chosen)

    def refresh(self) -> None:
        """After a frame: redraw the last window up to the newest frame when a column of the
        window's resolution has begun since the last redraw (live), or nothing (paused).

        A column's mean is only final when the next begins, and redrawing a hundred curves
        for a partial one was most of a frame's cost: at 4 Hz into 1 s columns the plots are
        redrawn on one frame in four, and a 1 h window's every 15 s. While the widget is
        hidden it only notes that a redraw is due."""
        history = self._history
        if history is None:
            return
        if self._sync_quantities():  # a source's quantities arrived: the combo may change
            self._set_gpu_config()
            return
        if self._paused or self._bucket_of(history.latest_s) == self._drawn_bucket:
            return
        self._draw_live()

    def _bucket_of(self, time_s: float) -> int | None:
        if self._history is None or math.isnan(time_s):
            return None
        return math.floor(time_s / self._history.series.tier_for(self._window_s).resolution_s)

    def _draw_live(self) -> None:
        """Redraw the last window up to the newest frame, now (or when shown again)."""
        if self._history is None:
            return
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        self._follow_loops_nearest_capacity()
        latest_s = self._history.latest_s
        self._drawn_bucket = self._bucket_of(latest_s)
        self._show_last_window(latest_s)
        self._draw(self._window_s, latest_s)

    def _show_last_window(self, end_s: float) -> None:
        """Put the x axes on the window up to the end of the bucket holding ``end_s``."""
        if self._history is None or math.isnan(end_s):
            return
        resolution_s = self._history.series.tier_for(self._window_s).resolution_s
        last_s = (math.floor(end_s / resolution_s) + 1) * resolution_s
        self._master.setXRange(last_s - self._window_s, last_s, padding=0)

    def select_rack(self, rack_id: str | None) -> None:
        """Highlight a rack's curve (per Rack), show its GPUs (per GPU) and its tokens/s."""
        if rack_id == self._rack_id:
            return
        self._rack_id = rack_id
        self._set_gpu_config()

    def set_window(self, span_s: float) -> None:
        """Show the last ``span_s`` seconds, one of ``WINDOWS_S``. Paused, the view moves to the
        last window before the pause, with its tier's whole span to scroll back through."""
        span_s = float(span_s)
        if span_s not in WINDOWS_S:
            raise ValueError(f"window {span_s} s is not one of {WINDOWS_S}")
        if span_s == self._window_s:
            return
        self._window_s = span_s
        self.window_combo.blockSignals(True)
        self.window_combo.setCurrentIndex(WINDOWS_S.index(span_s))
        self.window_combo.blockSignals(False)
        if self._paused:
            self._draw_paused(reset_view=True)
        else:
            self._draw_live()
        self.window_changed.emit(span_s)

    def set_paused(self, paused: bool) -> None:
        """Freeze (True) or follow the newest frame again (False)."""
        paused = bool(paused)
        if paused == self._paused:
            return
        self._paused = paused
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self.pause_button.setText("Resume" if paused else "Pause")
        if paused:
            history = self._history
            self._paused_end_s = history.latest_s if history is not None else math.nan
            self._draw_paused(reset_view=True)
        else:
            self._paused_end_s = math.nan
            self._set_limits(None, None)
        self._apply_mouse_mode()
        self._update_status()
        if not paused:
            self._draw_live()
        self.paused_changed.emit(paused)

    def set_dark(self, dark: bool) -> None:
        """Dark theme for the control-room wall (black background, light axes) or light."""
        if bool(dark) == self._dark:
            return
        self._dark = bool(dark)
        self._apply_theme()

    # --- Drawing -------------------------------------------------------------------------------

    def _draw(self, span_s: float, end_s: float) -> None:
        """Fetch ``span_s`` up to ``end_s`` and set every curve's data."""
        history = self._history
        if history is None or math.isnan(end_s):
            for plot in self.plots.values():
                self._show(plot, np.empty(0), np.empty((0, 0), np.float32), 0.0)
            return
        window = history.series_window(self._series_keys, span_s, end_s)
        values = np.ascontiguousarray(window.values.T)  # a contiguous row per curve
        for key, columns in self._series_slices.items():
            self._show(self.plots[key], window.times_s, values[columns], window.resolution_s)
        if self._gpu_rows is not None:
            gpus = history.gpu_window(self._quantity, span_s, end_s, self._gpu_rows)
            self._show_window(self.plots["gpu"], gpus)
        self._fit_y()

    def _fit_y(self) -> None:
        """Steady y ranges for the columns in view (paused: the part of the scroll-back in
        view). A loop's CDU capacity is always in range, so its headroom shows; the selected
        rack's tokens/s range includes zero, or a flat rack would fill its axis."""
        low_s, high_s = self._master.getViewBox().viewRange()[0]
        tokens = self.plots["tokens"]
        for plot in self.plots.values():
            if plot.key == "gpu" and self._quantity == "util_pct":
                continue  # fixed at 0-100 %
            rows = plot.values[:1] if plot is tokens else plot.values[: len(plot.names)]
            extra = [line.value() for line in self._capacity_lines] if plot.key == "heat" else []
            plot.y_range = self._fit_view(plot.item.getViewBox(), plot, rows, low_s, high_s,
                                          extra, plot.y_range)  # fmt: skip
        if self._rack_id:
            self._rack_tokens_range = self._fit_view(
                self._rack_tokens_view, tokens, tokens.values[1:2], low_s, high_s, [0.0],
                self._rack_tokens_range,
            )  # fmt: skip
        self._bound_curves()

    def _bound_curves(self) -> None:
        """Every curve's bounding box: its data's time span by its view's y range (what can
        be drawn of it: the view clips the rest)."""
        for plot in self.plots.values():
            if not len(plot.times_s):
                continue
            half_s = plot.resolution_s / 2
            first_s, end_s = plot.times_s[0] - half_s, plot.times_s[-1] + half_s
            bounds: dict[int, QRectF] = {}  # per view: the tokens plot has two
            for curve in plot.curves:
                view = curve.getViewBox()
                if view is not None and id(view) not in bounds:
                    low, high = view.viewRange()[1]
                    bounds[id(view)] = QRectF(first_s, low, end_s - first_s, high - low)
                if view is not None:
                    curve.set_bounds(bounds[id(view)])

    @staticmethod
    def _fit_view(view: pg.ViewBox, plot: _Plot, rows: np.ndarray, low_s: float,
                  high_s: float, extra: list[float],
                  current: tuple[float, float] | None) -> tuple[float, float] | None:  # fmt: skip
        """Set ``view``'s y range to hold ``rows`` (curves, columns of ``plot.times_s``) between
        ``low_s`` and ``high_s``, and ``extra`` values; the range shown."""
        half_s = plot.resolution_s / 2
        in_view = (plot.times_s >= low_s - half_s) & (plot.times_s <= high_s + half_s)
        shown = rows[:, in_view] if rows.ndim == 2 and rows.shape[1] == len(in_view) else \
            np.empty(0, np.float32)  # fmt: skip
        ends = list(extra)
        if np.isfinite(shown).any():
            ends += [float(np.nanmin(shown)), float(np.nanmax(shown))]
        if not ends:
            return current
        new = steady_range(min(ends), max(ends), current)
        if new is not None and new != current:
            view.setYRange(*new, padding=0.0)
            return new
        return current

    def _on_x_range_changed(self) -> None:
        if self._paused:  # scrolling back: fit y to what came into view
            self._fit_y()

    def _draw_paused(self, reset_view: bool) -> None:
        """Paused: the whole span of the window's tier up to the pause, so the user can drag
        back through it; ``reset_view`` puts the view on the last window."""
        history = self._history
        if history is None or math.isnan(self._paused_end_s):
            self._draw(self._window_s, math.nan)  # paused before any frame: nothing to show
            return
        span_s = max(history.series.tier_for(self._window_s).span_s, self._window_s)
        if reset_view:
            self._set_limits(None, None)  # the new window may be longer than the old limits
            self._show_last_window(self._paused_end_s)
        self._draw(span_s, self._paused_end_s)
        plot = self.plots["efficiency"]
        if not len(plot.times_s):
            return
        first_s = float(plot.times_s[0]) - plot.resolution_s / 2
        end_s = float(plot.times_s[-1]) + plot.resolution_s / 2
        self._set_limits(first_s, end_s)

    def _set_limits(self, first_s: float | None, end_s: float | None) -> None:
        """Keep scrolling within the fetched data while paused (None: no limits)."""
        span_s = None if first_s is None or end_s is None else end_s - first_s
        for plot in self.plots.values():
            plot.item.getViewBox().setLimits(xMin=first_s, xMax=end_s, maxXRange=span_s)

    def _redraw(self) -> None:
        """After a change of what is plotted: paused, redraw at the pause, keeping the view."""
        if self._paused:
            self._draw_paused(reset_view=False)
        else:
            self._draw_live()

    def _show_window(self, plot: _Plot, window: HistoryWindow) -> None:
        self._show(plot, window.times_s, np.ascontiguousarray(window.values.T),
                   window.resolution_s)  # fmt: skip

    @staticmethod
    def _show(plot: _Plot, times_s: np.ndarray, values: np.ndarray, resolution_s: float) -> None:
        """Set the data of the plot's first ``len(values)`` curves; hide the others (hidden
        curves take no part in the y range)."""
        plot.times_s, plot.values, plot.resolution_s = times_s, values, resolution_s
        used = len(values) if len(times_s) else 0
        for i, curve in enumerate(plot.curves):
            if i < used:
                curve.setData(times_s, values[i])
                if not curve.isVisible():
                    curve.show()
            elif curve.isVisible():
                curve.setData([], [])
                curve.hide()

    # --- What is plotted -----------------------------------------------------------------------

    def _fill_quantities(self, quantities: list[str]) -> None:
        self.quantity_combo.blockSignals(True)
        self.quantity_combo.clear()
        for quantity in quantities:
            self.quantity_combo.addItem(GPU_QUANTITIES[quantity][0], quantity)
        if self._quantity not in quantities and quantities:
            self._quantity = quantities[0]
        if quantities:
            self.quantity_combo.setCurrentIndex(quantities.index(self._quantity))
        self.quantity_combo.blockSignals(False)

    def _sync_quantities(self) -> bool:
        """Offer the GPU quantities the history has (all of them until a source reports);
        True when the selected quantity changed as a result."""
        history = self._history
        reported = history.gpu_quantities if history is not None else []
        if reported == self._known_quantities:
            return False
        self._known_quantities = list(reported)
        before = self._quantity
        self._fill_quantities(reported or list(GPU_QUANTITIES))
        return self._quantity != before

    def _on_quantity_chosen(self, index: int) -> None:
        quantity = self.quantity_combo.itemData(index)
        if quantity and quantity != self._quantity:
            self._quantity = quantity
            self._set_gpu_config()

    def _on_per_chosen(self, index: int) -> None:
        per = self.per_combo.itemData(index)
        if per and per != self._per:
            self._per = per
            self._set_gpu_config()

    def set_per(self, per: str) -> None:
        """Group GPU readings per "hall", "row", "rack" or "gpu" (the selected rack's GPUs)."""
        pers = [p for _, p in PER_CHOICES]
        self.per_combo.setCurrentIndex(pers.index(per))  # -> _on_per_chosen

    def set_quantity(self, quantity: str) -> None:
        """Plot one of ``GPU_QUANTITIES`` in the GPU plot."""
        index = self.quantity_combo.findData(quantity)
        if index < 0:
            raise ValueError(f"{quantity!r} is not offered: {self.quantity_combo.count()} are")
        self.quantity_combo.setCurrentIndex(index)  # -> _on_quantity_chosen

    def _set_gpu_config(self, redraw: bool = True) -> None:
        """Quantity, grouping or selected rack changed: which GPU series to read, their names,
        pens and the title; then redraw."""
        plot = self.plots["gpu"]
        label, unit = GPU_QUANTITIES[self._quantity]
        history = self._history
        plot.item.setLabel("left", "", units=unit)
        self._gpu_rows = None
        plot.pinned = -1
        if self._per == "gpu":
            rows = list(history.rack_rows.get(self._rack_id or "", ())) if history else []
            shown = rows[:MAX_GPU_CURVES]
            plot.names = [f"GPU {i}" for i in range(len(shown))]
            self._gpu_rows = shown
            if self._rack_id is None:
                title = f"{label} per GPU: select a rack on the plan"
            else:
                title = f"{label} per GPU of rack {self._rack_id}"
            if len(shown) < len(rows):
                title += f" · {len(shown)} of {len(rows)} GPUs"
        else:
            names = history.group_names(self._per) if history is not None else []
            shown = names[:MAX_CURVES]
            if self._rack_id in names and self._rack_id not in shown:
                shown[-1] = self._rack_id  # the selected rack is always drawn
            plot.names = shown
            if self._per == "rack" and self._rack_id in shown:
                plot.pinned = shown.index(self._rack_id)
            title = f"{label}, hall mean" if self._per == "hall" else \
                f"{label}, mean per {self._per}"  # fmt: skip
            if len(shown) < len(names):
                title += (f" · {len(shown)} of {len(names)} {GROUP_NOUNS[self._per]} "
                          "(Row or Hall: all)")  # fmt: skip
        plot.units = [unit] * len(plot.names)
        plot.unit = unit
        self._set_title(plot, title)
        plot.y_range = None
        if self._quantity == "util_pct":
            plot.item.getViewBox().setYRange(0, 100, padding=0.02)
        tokens = self.plots["tokens"]
        self._rack_tokens_range = None
        tokens.names = ["facility"] + ([f"rack {self._rack_id}"] if self._rack_id else [])
        tokens.units = ["tok/s"] * len(tokens.names)
        right = tokens.item.getAxis("right")
        right.setStyle(showValues=bool(self._rack_id))
        if self._rack_id:
            right.setLabel(f"rack {self._rack_id}", units="tok/s")
            right.resizeEvent()  # place the new label: pyqtgraph does so only on a resize
        else:
            right.setLabel(None)
            right.showLabel(False)
        self._plan_series()
        self._style_curves()
        if redraw:
            self._redraw()

    def _plan_series(self) -> None:
        """The non-GPU series keys every refresh reads, in one ``series_window`` call, and which
        columns go to which plot."""
        keys: list[str] = []
        self._series_slices = {}

        def take(plot_key: str, plot_keys: list[str]) -> None:
            self._series_slices[plot_key] = slice(len(keys), len(keys) + len(plot_keys))
            keys.extend(plot_keys)

        if self._per != "gpu":
            take("gpu", [mean_key(self._per, name, self._quantity)
                         for name in self.plots["gpu"].names])  # fmt: skip
        take("heat", [entity_key("loop", loop, "heat_kw") for loop in self.plots["heat"].names])
        take("coolant", [entity_key("cdu", cdu, f"{end}_temp_c")
                         for cdu in self._temp_cdus for end in ("supply", "return")])  # fmt: skip
        take("flow", [entity_key("cdu", cdu, "flow_lpm") for cdu in self.plots["flow"].names])
        rack_tokens = [entity_key("rack", self._rack_id, "tokens_per_s")] if self._rack_id else []
        take("tokens", [FACILITY_TOKENS_KEY, *rack_tokens])
        take("efficiency", [FACILITY_TOKENS_PER_J_KEY])
        self.plots["efficiency"].names = ["facility"]
        self.plots["efficiency"].units = ["tok/J"]
        self._series_keys = keys

    # --- Looks ---------------------------------------------------------------------------------

    def _theme(self, name: str) -> str | tuple[int, ...]:
        return _THEMES[self._dark][name]

    def _palette(self, count: int) -> list[str]:
        value = self._theme("colour_value")
        return [pg.intColor(i, hues=max(count, 1), maxValue=value).name() for i in range(count)]

    def _style_curves(self) -> None:
        """Pens for every curve: a colour per curve, 1 px; the selected rack thick in the
        highlight colour and on top; a loop's capacity line dashed in its loop's colour; a
        CDU's return dashed in its supply's colour. Only on a change, never per frame."""
        gpu = self.plots["gpu"]
        colours = self._palette(len(gpu.names))
        if gpu.pinned >= 0:
            colours[gpu.pinned] = self._theme("highlight")
        gpu.colours = colours
        for i, curve in enumerate(gpu.curves):
            pinned = i == gpu.pinned
            colour = colours[i] if i < len(colours) else "#808080"
            curve.setPen(pg.mkPen(colour, width=3 if pinned else 1))
            curve.setZValue(10 if pinned else 0)
        heat = self.plots["heat"]
        palette = dict(
            zip(self._loop_capacities, self._palette(len(self._loop_capacities)), strict=True)
        )  # by place in the design: a loop keeps its colour
        heat.colours = [palette[loop] for loop in heat.names]
        for curve, line, colour in zip(heat.curves, self._capacity_lines, heat.colours,
                                       strict=True):  # fmt: skip
            curve.setPen(pg.mkPen(colour, width=1))
            line.setPen(pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
        coolant = self.plots["coolant"]
        coolant.colours = [c for c in heat.colours for _ in (0, 1)]  # a CDU in its loop's colour
        for i, curve in enumerate(coolant.curves):
            style = Qt.PenStyle.DashLine if i % 2 else Qt.PenStyle.SolidLine
            curve.setPen(pg.mkPen(coolant.colours[i], width=1, style=style))
        flow = self.plots["flow"]
        flow.colours = list(heat.colours)
        for curve, colour in zip(flow.curves, flow.colours, strict=True):
            curve.setPen(pg.mkPen(colour, width=1))
        tokens = self.plots["tokens"]
        tokens.colours = [self._theme("facility"), self._theme("rack")]
        for curve, colour in zip(tokens.curves, tokens.colours, strict=True):
            curve.setPen(pg.mkPen(colour, width=1))
        # No legend: each axis is labelled in its curve's colour.
        tokens.item.getAxis("left").setTextPen(self._theme("facility"))
        tokens.item.getAxis("right").setTextPen(self._theme("rack"))
        efficiency = self.plots["efficiency"]
        efficiency.colours = [self._theme("facility")]
        efficiency.curves[0].setPen(pg.mkPen(efficiency.colours[0], width=1))

    def _set_title(self, plot: _Plot, text: str) -> None:
        plot.full_title = text
        self._show_title(plot)

    def _show_title(self, plot: _Plot) -> None:
        """The title, cut short with "…" where the plot is narrower (a dock, the wall's large
        type): pyqtgraph would otherwise hold the plot as wide as its title."""
        font = QFont(self.font())
        font.setPointSizeF(self._text_pt)
        width_px = plot.item.size().width() - 12
        text = plot.full_title
        if width_px > 0:
            text = QFontMetricsF(font).elidedText(text, Qt.TextElideMode.ElideRight, width_px)
        plot.item.setTitle(text, color=self._theme("foreground"), size=f"{self._text_pt:g}pt")
        plot.item.titleLabel.setMinimumWidth(0)

    @property
    def _text_pt(self) -> float:
        return round(self.font().pointSizeF(), 1)

    def _apply_fonts(self) -> None:
        """pyqtgraph draws its text in the scene's font, whatever the widget's: follow the
        widget's font (larger on the control-room wall), with axes widened to match."""
        font = QFont(self.font())
        scale = self._text_pt / QApplication.font().pointSizeF()
        for plot in self.plots.values():
            for name in ("left", "bottom", "right"):
                axis = plot.item.getAxis(name)
                axis.setStyle(tickFont=font)
                axis.labelStyle = {**axis.labelStyle, "font-size": f"{self._text_pt:g}pt"}
                if axis.label.isVisible():
                    axis.setLabel(axis.labelText, axis.labelUnits)
            plot.item.getAxis("left").setWidth(round(LEFT_AXIS_PX * scale))
            plot.item.getAxis("right").setWidth(round(RIGHT_AXIS_PX * scale))
            self._show_title(plot)
        if not math.isnan(self._mouse_x_s):
            self._update_crosshair(self._mouse_x_s)

    def _apply_theme(self) -> None:
        self.graphics.setBackground(self._theme("background"))
        foreground = self._theme("foreground")
        for plot in self.plots.values():
            for name in ("left", "bottom", "right"):
                axis = plot.item.getAxis(name)
                axis.setPen(foreground)
                axis.setTextPen(foreground)
                axis.setTickPen(self._theme("grid"))
            self._show_title(plot)
            assert plot.vline is not None and plot.readout is not None
            plot.vline.setPen(pg.mkPen(self._theme("crosshair"), width=1))
            plot.readout.fill = pg.mkBrush(self._theme("readout_fill"))
            plot.readout.border = pg.mkPen(self._theme("crosshair"))
            plot.readout.update()
        self._style_curves()
        if not math.isnan(self._mouse_x_s):
            self._update_crosshair(self._mouse_x_s)

    def _apply_mouse_mode(self) -> None:
        """Live: no panning (the view follows the newest frame). Paused: drag and wheel on x."""
        for plot in self.plots.values():
            plot.item.setMouseEnabled(x=self._paused, y=False)
        self._rack_tokens_view.setMouseEnabled(x=self._paused, y=False)

    def _update_status(self) -> None:
        if self._paused and not math.isnan(self._paused_end_s):
            at = time.strftime("%H:%M:%S", time.localtime(self._paused_end_s))
            self.status_label.setText(f"Paused at {at}: drag to scroll back, wheel to zoom")
        elif self._paused:
            self.status_label.setText("Paused")
        else:
            self.status_label.setText("Live")

    # --- Crosshair -----------------------------------------------------------------------------

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        """Follow the mouse with a vertical line in every plot and list the values at that
        time; hide it off the plots."""
        for plot in self.plots.values():
            view = plot.item.getViewBox()
            if view.sceneBoundingRect().contains(scene_pos):
                self._update_crosshair(view.mapSceneToView(scene_pos).x())
                return
        self._hide_crosshair()

    def _hide_crosshair(self) -> None:
        self._mouse_x_s = math.nan
        for plot in self.plots.values():
            assert plot.vline is not None and plot.readout is not None
            plot.vline.hide()
            plot.readout.hide()

    def _update_crosshair(self, x_s: float) -> None:
        """Readouts right of the line, or all left of it when one would not fit (the plots'
        x axes line up, so they stay in one column)."""
        self._mouse_x_s = x_s
        widths_px = []
        for plot in self.plots.values():
            assert plot.vline is not None and plot.readout is not None
            plot.vline.setPos(x_s)
            plot.vline.show()
            plot.readout.setHtml(self._readout_html(plot, x_s))
            plot.readout.show()
            widths_px.append(plot.readout.boundingRect().width())
        view = self._master.getViewBox()
        x_px = view.mapFromView(QPointF(x_s, 0)).x()
        right = x_px + 8 + max(widths_px) < view.width()
        for plot, width_px in zip(self.plots.values(), widths_px, strict=True):
            assert plot.readout is not None
            plot.readout.setPos(x_px + 8 if right else max(x_px - 8 - width_px, 0), 2)

    def readout_entries(self, plot_key: str, x_s: float) -> tuple[float, list[tuple[str, float]]]:
        """(time of the nearest column, [(curve name, value)] in readout order) of a plot at
        ``x_s``: at most ``MAX_READOUT`` entries; past that the selected rack first, then the
        highest values. Time NaN and no entries when no column is within a resolution."""
        plot = self.plots[plot_key]
        times_s = plot.times_s
        count = min(len(plot.names), len(plot.values))
        if not len(times_s) or not count:
            return math.nan, []
        i = int(np.clip(np.searchsorted(times_s, x_s), 1, len(times_s) - 1)) if \
            len(times_s) > 1 else 0  # fmt: skip
        if i and abs(times_s[i - 1] - x_s) <= abs(times_s[i] - x_s):
            i -= 1
        if abs(times_s[i] - x_s) > max(plot.resolution_s, 1e-9):
            return math.nan, []
        column = plot.values[:count, i]
        order = list(range(count))
        if count > MAX_READOUT:
            finite = np.where(np.isfinite(column), column, -np.inf)
            order = [int(n) for n in np.argsort(-finite, kind="stable")]
            if plot.pinned >= 0:
                order.remove(plot.pinned)
                order.insert(0, plot.pinned)
        return float(times_s[i]), [(plot.names[n], float(column[n])) for n in order]

    def _readout_html(self, plot: _Plot, x_s: float) -> str:
        at_s, entries = self.readout_entries(plot.key, x_s)
        text = self._theme("readout_text")
        size = f"{self._text_pt * 0.9:.1f}pt"
        if math.isnan(at_s):
            return f'<span style="color:{text}; font-size:{size}">no data</span>'
        index = {name: n for n, name in enumerate(plot.names)}
        cells = []
        for name, value in entries[:MAX_READOUT]:
            n = index[name]
            colour = plot.colours[n] if n < len(plot.colours) else text
            reading = format_value(value, plot.units[n])
            cells.append(f'<td><span style="color:{colour}">■</span> {name}&nbsp;</td>'
                         f'<td align="right">{reading}&nbsp;&nbsp;</td>')  # fmt: skip
        # Two entries a line past three, so six fit in the height of the shortest plot.
        per_line = 2 if len(cells) > 3 else 1
        rows = ["".join(cells[i : i + per_line]) for i in range(0, len(cells), per_line)]
        header = time.strftime("%H:%M:%S", time.localtime(at_s))
        if len(entries) > MAX_READOUT:
            header += f"  (top {MAX_READOUT} of {len(entries)})"
        body = "".join(f"<tr>{row}</tr>" for row in rows)
        return (f'<div style="color:{text}; font-size:{size}">{header}'
                f'<table cellspacing="0" cellpadding="0">{body}</table></div>')  # fmt: skip

    # --- Qt events -----------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.graphics and event.type() == QEvent.Type.Leave:
            self._hide_crosshair()
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Space toggles pause when the plots (or the widget) have focus."""
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.set_paused(not self._paused)
            event.accept()
            return
        super().keyPressEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._draw_live()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._apply_fonts()
