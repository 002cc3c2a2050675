"""One of the Run view's stacked time plots: its pyqtgraph plot, its curves, and what they show
now (which the crosshair's readout reads back).

Curves are ``BoundedCurve`` items created up front and updated with ``setData``: creating and
removing items on every frame is what makes naive live plots slow. Y ranges are steady
(``axis_range.steady_range``): computed from the data in view, and changed only when the data
leaves them, so axes and grid are not re-laid on every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF

from factoryfloor.widgets.axis_range import steady_range
from factoryfloor.widgets.plot_curve import BoundedCurve

MIN_PLOT_PX = 90
"""Least height of a plot: below it the y labels of a 0-100 % axis overlap."""
LEFT_AXIS_PX = 64
RIGHT_AXIS_PX = 60
"""Fixed widths of every plot's left and right axes (the right one only labelled on the tokens
plot, for the selected rack), so the linked plots line up under one crosshair."""


@dataclass(eq=False)
class StackedPlot:
    """One stacked plot: its curves (created once) and what they show, for the readout."""

    key: str
    item: pg.PlotItem
    title: str
    """The fixed part of the plot's title; ``full_title`` adds what is left out of it."""
    unit: str
    """Unit of every curve of the plot (the readout's)."""
    vline: pg.InfiniteLine
    """The crosshair's line in this plot."""
    readout: pg.TextItem
    """The crosshair's list of values in this plot."""
    curves: list[BoundedCurve] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    """Readout name of each curve in use (the first ``len(names)`` curves)."""
    colours: list[str] = field(default_factory=list)
    times_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    values: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.float32))
    """(curves in use, columns): what the curves show now."""
    resolution_s: float = 0.0
    pinned: int = -1
    """Curve listed first in the readout (the selected rack), -1 for none."""
    y_range: tuple[float, float] | None = None
    """The steady y range shown (None: not set yet, or fixed by the quantity)."""
    full_title: str = ""
    """The title as set; what shows may be cut short to the plot's width."""
    title_font: QFont = field(default_factory=QFont)
    """The widget's font at the title's size (``set_text``)."""
    title_colour: str | None = None
    """Set with the theme's (``set_colours``); None: pyqtgraph's default."""

    @classmethod
    def add_to(cls, graphics: pg.GraphicsLayoutWidget, key: str, title: str, unit: str,
               left_label: str = "", si_prefix: bool = False) -> StackedPlot:  # fmt: skip
        """A new plot in the next row of ``graphics``: a time axis, a left axis in ``unit``
        (SI-prefixed if ``si_prefix``), an unlabelled right axis, an opaque grid behind the
        curves, a hidden crosshair line and readout, no curves yet."""
        item: pg.PlotItem = graphics.addPlot(axisItems={"bottom": pg.DateAxisItem()})
        graphics.nextRow()
        item.setLabel("left", left_label, units=unit)
        item.getAxis("left").enableAutoSIPrefix(si_prefix)
        item.getAxis("left").setWidth(LEFT_AXIS_PX)
        item.showAxis("right")
        item.getAxis("right").setWidth(RIGHT_AXIS_PX)
        item.getAxis("right").setStyle(showValues=False)
        item.getAxis("bottom").enableAutoSIPrefix(False)  # dates: and it saves a relabel per frame
        item.showGrid(x=True, y=True, alpha=1.0)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            # Opaque grid (see plot_theme), so: major and minor ticks only, and behind the
            # curves (the ViewBox is at z -100).
            axis.setStyle(tickAlpha=255, maxTickLevel=1)
            axis.setZValue(-200)
        item.getAxis("right").setGrid(False)  # showGrid puts one on every axis: left's will do
        item.hideButtons()
        item.setMenuEnabled(False)
        item.getViewBox().disableAutoRange()  # x follows the window, y is steady_range's
        item.setMinimumHeight(MIN_PLOT_PX)
        vline = pg.InfiniteLine(angle=90, movable=False)
        vline.hide()
        item.addItem(vline, ignoreBounds=True)
        readout = pg.TextItem(anchor=(0, 0))
        readout.setParentItem(item.getViewBox())  # pixel placement, outside the data
        readout.setZValue(100)
        readout.hide()
        plot = cls(key, item, title, unit, vline, readout)
        item.geometryChanged.connect(plot.show_title)
        return plot

    def add_right_view(self) -> pg.ViewBox:
        """A second view over the plot, for a curve of another scale: its own y range, on the
        right axis; the plot's time axis. It stays under the plot's area, on top of its grid,
        and takes the drags over it; the readout moves onto it, to show over its curve."""
        view = pg.ViewBox()
        self.item.scene().addItem(view)
        self.item.getAxis("right").linkToView(view)
        view.setXLink(self.item)
        view.disableAutoRange()
        view.setMouseEnabled(x=False, y=False)
        view.setZValue(1)
        plot_view = self.item.getViewBox()
        plot_view.sigResized.connect(lambda: view.setGeometry(plot_view.sceneBoundingRect()))
        self.readout.setParentItem(view)
        return view

    def add_curve(self, view: pg.ViewBox | None = None) -> BoundedCurve:
        """A new hidden curve, in this plot or in ``view`` (another view over it)."""
        curve = BoundedCurve()
        curve.hide()
        if view is None:
            self.item.addItem(curve)
        else:
            view.addItem(curve)
        self.curves.append(curve)
        return curve

    def set_curve_count(self, count: int) -> None:
        """Replace the plot's curves by ``count`` new hidden ones."""
        for curve in self.curves:
            self.item.removeItem(curve)
        self.curves = []
        for _ in range(count):
            self.add_curve()

    def set_title(self, text: str) -> None:
        self.full_title = text
        self.show_title()

    def show_title(self) -> None:
        """The title, cut short with "…" where the plot is narrower (a dock, the wall's large
        type): pyqtgraph would otherwise hold the plot as wide as its title."""
        width_px = self.item.size().width() - 12
        text = self.full_title
        if width_px > 0:
            metrics = QFontMetricsF(self.title_font)
            text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, width_px)
        size = f"{self.title_font.pointSizeF():g}pt"
        self.item.setTitle(text, color=self.title_colour, size=size)
        self.item.titleLabel.setMinimumWidth(0)

    def set_text(self, font: QFont, text_pt: float, scale: float) -> None:
        """Axis text in ``font`` and the title and axis labels at ``text_pt`` (pyqtgraph draws
        in the scene's font, whatever the widget's), the axes widened by ``scale``."""
        for name in ("left", "bottom", "right"):
            axis = self.item.getAxis(name)
            axis.setStyle(tickFont=font)
            axis.labelStyle = {**axis.labelStyle, "font-size": f"{text_pt:g}pt"}
            if axis.label.isVisible():
                axis.setLabel(axis.labelText, axis.labelUnits)
        self.item.getAxis("left").setWidth(round(LEFT_AXIS_PX * scale))
        self.item.getAxis("right").setWidth(round(RIGHT_AXIS_PX * scale))
        self.title_font = QFont(font)
        self.title_font.setPointSizeF(text_pt)
        self.show_title()

    def set_colours(self, foreground: str, grid: str) -> None:
        """Axes, their text and the title in ``foreground``; the grid in ``grid``."""
        for name in ("left", "bottom", "right"):
            axis = self.item.getAxis(name)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
            axis.setTickPen(grid)
        self.title_colour = foreground
        self.show_title()

    def show(self, times_s: np.ndarray, values: np.ndarray, resolution_s: float) -> None:
        """Set the data of the first ``len(values)`` curves (a row of ``values`` each); hide
        the others (hidden curves take no part in the y range)."""
        self.times_s, self.values, self.resolution_s = times_s, values, resolution_s
        used = len(values) if len(times_s) else 0
        for i, curve in enumerate(self.curves):
            if i < used:
                curve.setData(times_s, values[i])
                if not curve.isVisible():
                    curve.show()
            elif curve.isVisible():
                curve.setData([], [])
                curve.hide()

    def fit_view(self, view: pg.ViewBox, rows: np.ndarray, low_s: float, high_s: float,
                 extra: list[float],
                 current: tuple[float, float] | None) -> tuple[float, float] | None:  # fmt: skip
        """Set ``view``'s y range to hold ``rows`` (curves, columns of ``times_s``) between
        ``low_s`` and ``high_s``, and ``extra`` values, if the steady range changes; the range
        shown (``current`` when nothing is in view)."""
        half_s = self.resolution_s / 2
        in_view = (self.times_s >= low_s - half_s) & (self.times_s <= high_s + half_s)
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

    def bound_curves(self) -> None:
        """Every curve's bounding box: its data's time span by its view's y range (what can
        be drawn of it: the view clips the rest)."""
        if not len(self.times_s):
            return
        half_s = self.resolution_s / 2
        first_s, end_s = self.times_s[0] - half_s, self.times_s[-1] + half_s
        bounds: dict[int, QRectF] = {}  # per view: the tokens plot has two
        for curve in self.curves:
            view = curve.getViewBox()
            if view is None:
                continue
            if id(view) not in bounds:
                low, high = view.viewRange()[1]
                bounds[id(view)] = QRectF(first_s, low, end_s - first_s, high - low)
            curve.set_bounds(bounds[id(view)])
