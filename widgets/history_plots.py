"""Run view's time plots: GPUs, heat per loop against CDU capacity, coolant, tokens.

Read from a ``LiveHistory`` (multi-resolution, fixed memory), so any offered window from a
minute to a day is a handful of array slices; the plots never keep history of their own. The
per-GPU curves of the selected rack are asked of a ``GpuRowsSource`` (the service: a window
keeps no GPU's history) and drawn when the answer comes.

Drawn the fast way (design notes, sections 8 and 9): every curve is created once (when the
history is set) and updated with ``setData`` (``stacked_plot``); 1 px pens without
antialiasing; NaN gaps break the line (``plot_curve``) so a source that went quiet reads as a
gap, not as a straight line across it. A window is at most 600 columns, so there is nothing to
clip or downsample, and moving the time axis costs no re-processing of the curves. Y ranges are
steady, so axes and grid are not re-laid on every frame. A plot draws a few dozen curves at
most (64 curves of 600 points draw at ~94 fps; 256 at ~23): which ones, in a larger hall, is
``plot_choice``'s, and the plot title says what is left out.

Live, each ``refresh`` shows the last window up to the newest frame and the x axes follow it,
with mouse panning off so the view does not fight the user. Paused, what is shown is frozen:
the whole span of the window's tier is fetched once (a 1 min window pauses with 10 min of 1 s
data) and the x axes become draggable (wheel zooms x), so the operator can scroll back.

This module assembles the six plots (``stacked_plot``) with their controls
(``plot_controls``), crosshair (``plot_crosshair``) and colours (``plot_theme``), applies what
``plot_choice`` chooses, and decides when to draw and what span. It runs to nearly 600
lines because it holds the state every control changes (window, pause, grouping, quantity,
selected rack) and each change ends in a redraw decided here; split, that state would only be
passed back and forth.
"""

from __future__ import annotations

import math
from itertools import count

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QFont, QKeyEvent, QShowEvent
from PySide6.QtWidgets import QApplication, QFrame, QScrollArea, QVBoxLayout, QWidget

from factoryfloor.backend.telemetry.gpu_rows import (
    GpuRows,
    GpuRowsQuery,
    GpuRowsSource,
    LocalGpuRows,
)
from factoryfloor.backend.telemetry.history import GPU_QUANTITIES, WINDOWS_S, LiveHistory
from factoryfloor.widgets.plot_choice import (
    EFFICIENCY_CURVES,
    MAX_GPU_CURVES,
    PER_CHOICES,
    LoopChoice,
    SeriesPlan,
    choose_gpu_curves,
    plan_series,
    token_curves,
)
from factoryfloor.widgets.plot_controls import PlotControls
from factoryfloor.widgets.plot_crosshair import Crosshair, ReadoutColumn, readout_column
from factoryfloor.widgets.plot_theme import LIGHT_THEME, WALL_THEME, style_curves
from factoryfloor.widgets.stacked_plot import MIN_PLOT_PX, StackedPlot

TIME_AXIS_PX = 40
"""Room for the time axis under the last plot."""


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
        self._source: GpuRowsSource | None = None
        self._questions = count(1)
        self._asking = 0
        """Number of the per-GPU question whose answer is drawn when it comes (0: none)."""
        self._loops = LoopChoice({})
        self._window_s = WINDOWS_S[1]
        self._paused = False
        self._paused_end_s = math.nan
        self._rack_id: str | None = None
        self._quantity = next(iter(GPU_QUANTITIES))
        self._per = "rack"
        self._theme = LIGHT_THEME
        self._stale = False
        self._known_quantities: list[str] = []
        self._gpu_curves = choose_gpu_curves(None, self._quantity, self._per, None)
        self._series = SeriesPlan((), {})
        self.capacity_lines: list[pg.InfiniteLine] = []
        """The heat plot's dashed lines at the plotted loops' CDU capacities (in the order of
        its curves)."""
        self._drawn_bucket: int | None = None
        """Column (of the window's resolution) holding the newest frame at the last redraw."""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        controls = self.controls = PlotControls(self._window_s, self._per)
        controls.offer_quantities(list(GPU_QUANTITIES), self._quantity)
        controls.window_combo.currentIndexChanged.connect(
            lambda i: self.set_window(float(controls.window_combo.itemData(i)))
        )
        controls.quantity_combo.currentIndexChanged.connect(self._on_quantity_chosen)
        controls.per_combo.currentIndexChanged.connect(self._on_per_chosen)
        controls.pause_button.toggled.connect(self.set_paused)
        layout.addWidget(controls)
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
        self.crosshair = Crosshair(list(self.plots.values()), self._master.getViewBox(),
                                   self._theme, self._text_pt)  # fmt: skip
        self.graphics.scene().sigMouseMoved.connect(self.crosshair.follow)
        self._master.sigXRangeChanged.connect(self._on_x_range_changed)
        self._apply_theme()
        self._apply_fonts()
        self._apply_mouse_mode()
        controls.show_paused(self._paused, self._paused_end_s)

    # --- Construction ------------------------------------------------------------------------

    def _build_plots(self) -> None:
        """The six stacked plots with linked x axes; only the last shows time labels. The
        titles name the quantities, so the y axes carry just units: a word as well overran a
        short plot's axis under the wall's large type. Tokens/s names whose it is, because
        the selected rack's has its own axis on the right."""
        graphics = self.graphics
        gpu = StackedPlot.add_to(graphics, "gpu", "", "")
        heat = StackedPlot.add_to(graphics, "heat", "Heat per loop (dashed: CDU capacity)", "kW")
        coolant_title = "CDU coolant (solid: supply, dashed: return)"
        coolant = StackedPlot.add_to(graphics, "coolant", coolant_title, "°C")
        flow = StackedPlot.add_to(graphics, "flow", "CDU coolant flow", "L/min")
        tokens = StackedPlot.add_to(graphics, "tokens", "Tokens per second", "tok/s",
                                    left_label="facility", si_prefix=True)  # fmt: skip
        efficiency = StackedPlot.add_to(graphics, "efficiency", "Facility tokens per joule",
                                        "tok/J")  # fmt: skip
        self.plots: dict[str, StackedPlot] = {p.key: p for p in (gpu, heat, coolant, flow, tokens,
                                                                 efficiency)}  # fmt: skip
        for plot in self.plots.values():
            if plot is not efficiency:
                plot.item.setXLink(efficiency.item)
                plot.item.getAxis("bottom").setStyle(showValues=False)
                plot.item.getAxis("bottom").setHeight(4)
        efficiency.item.setLabel("bottom", "local time")
        self._master = efficiency.item
        for _ in range(MAX_GPU_CURVES):
            gpu.add_curve()
        tokens.add_curve()
        # The selected rack's tokens/s on its own right-hand axis: a rack makes a sixty-fourth
        # of a hall's tokens, so on the facility's axis it would be a flat line at zero.
        self._rack_tokens_view = tokens.add_right_view()
        self._rack_tokens_range: tuple[float, float] | None = None
        tokens.add_curve(self._rack_tokens_view)
        efficiency.add_curve()
        efficiency.names = list(EFFICIENCY_CURVES.names)
        self._set_gpu_config(redraw=False)

    # --- Public API ----------------------------------------------------------------------------

    @property
    def window_s(self) -> float:
        return self._window_s

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def shown_until_s(self) -> float:
        """End of the newest column drawn, epoch seconds (NaN: nothing drawn): live, the
        column of the newest frame at the last redraw; paused, the column of the pause."""
        plot = self.plots["efficiency"]
        if not len(plot.times_s):
            return math.nan
        return float(plot.times_s[-1]) + plot.resolution_s / 2

    def readout_column(self, plot_key: str, x_s: float) -> ReadoutColumn:
        """What the crosshair's readout lists for a plot at time ``x_s``."""
        return readout_column(self.plots[plot_key], x_s)

    def set_history(self, history: LiveHistory | None,
                    loop_capacities: dict[str, tuple[str, float]],
                    source: GpuRowsSource | None = None) -> None:  # fmt: skip
        """Show ``history`` (None: nothing), its GPUs' curves asked of ``source`` (default: the
        history itself, if it keeps every GPU). ``loop_capacities``: loop id -> (CDU id, CDU
        capacity in kW) in design order, the loops (and CDUs) there are to plot. Builds the
        loop and CDU curves, once: refreshes only set their data."""
        self._history = history
        if source is None and history is not None and history.keep_gpus:
            source = LocalGpuRows(history)
        self._source = source
        self._loops = LoopChoice(loop_capacities)
        self._known_quantities = []
        heat = self.plots["heat"]
        count = len(self._loops.plotted)
        heat.set_curve_count(count)
        self.plots["coolant"].set_curve_count(2 * count)
        self.plots["flow"].set_curve_count(count)
        for line in self.capacity_lines:
            heat.item.removeItem(line)
        self.capacity_lines = []
        for _ in range(count):
            line = pg.InfiniteLine(angle=0, movable=False)
            heat.item.addItem(line)
            self.capacity_lines.append(line)
        self._show_loops(configure=False)
        self._sync_quantities()
        self._paused_end_s = history.latest_s if history is not None and self._paused else math.nan
        self._set_gpu_config(redraw=False)
        if history is None:
            self._draw(self._window_s, math.nan)  # clears every curve
        elif self._paused:
            self._draw_paused(reset_view=True)
        else:
            self._draw_live()

    def refresh(self) -> None:
        """After a frame: redraw the last window up to the newest frame when a column of the
        window's resolution has begun since the last redraw (live), or nothing (paused). When a
        source's GPU quantities first arrive they are offered, and if that changes the quantity
        plotted, the plots are redrawn for it (paused: at the pause).

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
        self.controls.show_window(span_s)
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
        if paused:
            history = self._history
            self._paused_end_s = history.latest_s if history is not None else math.nan
            self._draw_paused(reset_view=True)
        else:
            self._paused_end_s = math.nan
            self._set_limits(None, None)
        self._apply_mouse_mode()
        self.controls.show_paused(paused, self._paused_end_s)
        if not paused:
            self._draw_live()
        self.paused_changed.emit(paused)

    def pause_at(self, end_s: float) -> None:
        """Freeze with ``end_s`` at the right edge: the moment the time control shows."""
        was_paused, self._paused = self._paused, True
        self._paused_end_s = end_s
        self._draw_paused(reset_view=True)
        self._apply_mouse_mode()
        self.controls.show_paused(True, end_s)
        if not was_paused:
            self.paused_changed.emit(True)

    def set_dark(self, dark: bool) -> None:
        """Dark theme for the control-room wall (black background, light axes) or light."""
        theme = WALL_THEME if dark else LIGHT_THEME
        if theme is self._theme:
            return
        self._theme = theme
        self._apply_theme()

    def set_per(self, per: str) -> None:
        """Group GPU readings per "hall", "row", "rack" or "gpu" (the selected rack's GPUs)."""
        pers = [p for _, p in PER_CHOICES]
        self.controls.per_combo.setCurrentIndex(pers.index(per))  # -> _on_per_chosen

    def set_quantity(self, quantity: str) -> None:
        """Plot one of ``GPU_QUANTITIES`` in the GPU plot."""
        combo = self.controls.quantity_combo
        index = combo.findData(quantity)
        if index < 0:
            raise ValueError(f"{quantity!r} is not offered: {combo.count()} are")
        combo.setCurrentIndex(index)  # -> _on_quantity_chosen

    # --- When and what span to draw ------------------------------------------------------------

    def _bucket_of(self, time_s: float) -> int | None:
        if self._history is None or math.isnan(time_s):
            return None
        return math.floor(time_s / self._history.series.tier_for(self._window_s).resolution_s)

    def _draw_live(self) -> None:
        """Redraw the last window up to the newest frame, now (or when shown again), the loops
        plotted first chosen again if the loop choice says so."""
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

    def _draw(self, span_s: float, end_s: float) -> None:
        """Fetch ``span_s`` up to ``end_s`` and set every curve's data."""
        history = self._history
        if history is None or math.isnan(end_s):
            for plot in self.plots.values():
                plot.show(np.empty(0), np.empty((0, 0), np.float32), 0.0)
            return
        window = history.series_window(self._series.keys, span_s, end_s)
        values = np.ascontiguousarray(window.values.T)  # a contiguous row per curve
        for key, columns in self._series.columns.items():
            self.plots[key].show(window.times_s, values[columns], window.resolution_s)
        self._asking = 0
        gpu_rows = self._gpu_curves.gpu_rows
        if gpu_rows is not None:
            self._ask_gpus(gpu_rows, span_s, end_s)
        self._fit_y()

    def _ask_gpus(self, rows: tuple[int, ...], span_s: float, end_s: float) -> None:
        """Ask for the selected rack's GPUs over ``span_s`` up to ``end_s``; drawn when they
        come, if nothing has been drawn since. No GPU (no rack selected) clears the plot."""
        plot = self.plots["gpu"]
        if not rows or self._source is None:
            plot.show(np.empty(0), np.empty((0, 0), np.float32), 0.0)
            return
        tier = self._history.series.tier_for(span_s)
        columns = min(max(1, math.ceil(span_s / tier.resolution_s)), tier.columns)
        query = GpuRowsQuery(self._quantity, rows[0], rows[-1] + 1, 1, columns,
                             math.floor(end_s / tier.resolution_s), tier.resolution_s)  # fmt: skip
        number = self._asking = next(self._questions)

        def answered(gpus: GpuRows) -> None:
            if number != self._asking or not shiboken6.isValid(self):
                return  # redrawn since (another window, rack or quantity), or closed
            self._asking = 0
            buckets = np.arange(query.newest_bucket - columns + 1, query.newest_bucket + 1)
            plot.show((buckets + 0.5) * query.resolution_s,
                      np.ascontiguousarray(gpus.values.T), query.resolution_s)  # fmt: skip
            self._fit_y()

        self._source.ask(query, answered)

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
            extra = [line.value() for line in self.capacity_lines] if plot.key == "heat" else []
            plot.y_range = plot.fit_view(plot.item.getViewBox(), rows, low_s, high_s, extra,
                                         plot.y_range)  # fmt: skip
        if self._rack_id:
            self._rack_tokens_range = tokens.fit_view(
                self._rack_tokens_view, tokens.values[1:2], low_s, high_s, [0.0],
                self._rack_tokens_range,
            )  # fmt: skip
        for plot in self.plots.values():
            plot.bound_curves()

    def _on_x_range_changed(self) -> None:
        if self._paused:  # scrolling back: fit y to what came into view
            self._fit_y()

    # --- What is plotted -----------------------------------------------------------------------

    def _follow_loops_nearest_capacity(self) -> None:
        """Live, in a hall with more loops than are plotted: let the loop choice follow the
        newest heat readings, and show the loops it chooses."""
        history = self._history
        if history is None or not self._loops.chooses:
            return
        latest = history.series_window(self._loops.heat_keys, 1.0)
        if not len(latest.times_s):
            return
        heat_kw = dict(zip(self._loops.capacities, latest.values[-1].tolist(), strict=True))
        if self._loops.follow(heat_kw, history.latest_s):
            self._show_loops()

    def _show_loops(self, configure: bool = True) -> None:
        """Plot the chosen loops' heat (each against its CDU's capacity) and their CDUs'
        coolant and flow; ``configure``: read and style them too (else the caller will)."""
        loops = self._loops
        for key, curves in loops.curves().items():
            plot = self.plots[key]
            plot.names = list(curves.names)
            plot.y_range = None
            plot.set_title(plot.title + loops.note)
        for loop, line in zip(loops.plotted, self.capacity_lines, strict=True):
            line.setPos(loops.capacities[loop].capacity_kw)
        if configure:
            self._series = plan_series(self._gpu_curves, loops, self._rack_id)
            self._style_curves()

    def _sync_quantities(self) -> bool:
        """Offer the GPU quantities the history has (all of them until a source reports);
        True when the selected quantity changed as a result."""
        history = self._history
        reported = history.gpu_quantities if history is not None else []
        if reported == self._known_quantities:
            return False
        self._known_quantities = list(reported)
        before = self._quantity
        self._quantity = self.controls.offer_quantities(reported or list(GPU_QUANTITIES), before)
        return self._quantity != before

    def _on_quantity_chosen(self, index: int) -> None:
        quantity = self.controls.quantity_combo.itemData(index)
        if quantity and quantity != self._quantity:
            self._quantity = quantity
            self._set_gpu_config()

    def _on_per_chosen(self, index: int) -> None:
        per = self.controls.per_combo.itemData(index)
        if per and per != self._per:
            self._per = per
            self._set_gpu_config()

    def _set_gpu_config(self, redraw: bool = True) -> None:
        """Quantity, grouping or selected rack changed: which GPU series to read, their names,
        pens and the title, and the tokens plot's rack curve; then redraw."""
        gpu = choose_gpu_curves(self._history, self._quantity, self._per, self._rack_id)
        self._gpu_curves = gpu
        plot = self.plots["gpu"]
        plot.item.setLabel("left", "", units=gpu.unit)
        plot.names = list(gpu.names)
        plot.pinned = gpu.pinned
        plot.unit = gpu.unit
        plot.set_title(gpu.title)
        plot.y_range = None
        if self._quantity == "util_pct":
            plot.item.getViewBox().setYRange(0, 100, padding=0.02)
        tokens = self.plots["tokens"]
        self._rack_tokens_range = None
        tokens.names = list(token_curves(self._rack_id).names)
        right = tokens.item.getAxis("right")
        right.setStyle(showValues=bool(self._rack_id))
        if self._rack_id:
            right.setLabel(f"rack {self._rack_id}", units="tok/s")
            right.resizeEvent()  # place the new label: pyqtgraph does so only on a resize
        else:
            right.setLabel(None)
            right.showLabel(False)
        self._series = plan_series(gpu, self._loops, self._rack_id)
        self._style_curves()
        if redraw:
            self._redraw()

    # --- Looks ---------------------------------------------------------------------------------

    def _style_curves(self) -> None:
        style_curves(self.plots, self.capacity_lines, list(self._loops.capacities), self._theme)

    @property
    def _text_pt(self) -> float:
        return round(self.font().pointSizeF(), 1)

    def _apply_fonts(self) -> None:
        """pyqtgraph draws its text in the scene's font, whatever the widget's: follow the
        widget's font (larger on the control-room wall), with axes widened to match."""
        font = QFont(self.font())
        scale = self._text_pt / QApplication.font().pointSizeF()
        for plot in self.plots.values():
            plot.set_text(font, self._text_pt, scale)
        self.crosshair.set_looks(self._theme, self._text_pt)
        self.crosshair.reshow()

    def _apply_theme(self) -> None:
        theme = self._theme
        self.graphics.setBackground(theme.background)
        for plot in self.plots.values():
            plot.set_colours(theme.foreground, theme.grid)
        self.crosshair.set_looks(theme, self._text_pt)
        self._style_curves()
        self.crosshair.reshow()

    def _apply_mouse_mode(self) -> None:
        """Live: no panning (the view follows the newest frame). Paused: drag and wheel on x."""
        for plot in self.plots.values():
            plot.item.setMouseEnabled(x=self._paused, y=False)
        self._rack_tokens_view.setMouseEnabled(x=self._paused, y=False)

    # --- Qt events -----------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.graphics and event.type() == QEvent.Type.Leave:
            self.crosshair.hide()
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
