"""The time plots' crosshair: a vertical line at the mouse's time in every plot, and beside it
a readout of each plot's values at that time.

The readout lists at most ``MAX_READOUT`` values per plot, so it fits in the shortest plot:
where a plot has more curves, the selected rack first, then the highest values (the ones an
operator looks for).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

from factoryfloor.widgets.plot_choice import format_value
from factoryfloor.widgets.plot_theme import PlotTheme
from factoryfloor.widgets.stacked_plot import StackedPlot

MAX_READOUT = 6
"""Most values the crosshair readout lists per plot; past it, its header says "top 6 of N"."""


class ReadoutEntry(NamedTuple):
    name: str
    """The curve's name (a rack, a loop, a CDU's supply, ...)."""
    value: float


@dataclass(frozen=True, slots=True)
class ReadoutColumn:
    """A plot's values at one column, in the readout's order."""

    time_s: float
    """Centre of the column (NaN: no column within a resolution of the time asked)."""
    entries: list[ReadoutEntry]


def readout_column(plot: StackedPlot, x_s: float) -> ReadoutColumn:
    """``plot``'s values at the column nearest ``x_s``: every curve in use, past
    ``MAX_READOUT`` in readout order (the pinned curve first, then the highest values)."""
    times_s = plot.times_s
    count = min(len(plot.names), len(plot.values))
    if not len(times_s) or not count:
        return ReadoutColumn(math.nan, [])
    i = int(np.clip(np.searchsorted(times_s, x_s), 1, len(times_s) - 1)) if \
        len(times_s) > 1 else 0  # fmt: skip
    if i and abs(times_s[i - 1] - x_s) <= abs(times_s[i] - x_s):
        i -= 1
    if abs(times_s[i] - x_s) > max(plot.resolution_s, 1e-9):
        return ReadoutColumn(math.nan, [])
    column = plot.values[:count, i]
    order = list(range(count))
    if count > MAX_READOUT:
        finite = np.where(np.isfinite(column), column, -np.inf)
        order = [int(n) for n in np.argsort(-finite, kind="stable")]
        if plot.pinned >= 0:
            order.remove(plot.pinned)
            order.insert(0, plot.pinned)
    entries = [ReadoutEntry(plot.names[n], float(column[n])) for n in order]
    return ReadoutColumn(float(times_s[i]), entries)


def readout_html(plot: StackedPlot, readout: ReadoutColumn, theme: PlotTheme,
                 text_pt: float) -> str:  # fmt: skip
    """The readout as shown: the column's time, then up to ``MAX_READOUT`` values, each with
    its curve's colour ("top 6 of N" when there are more)."""
    text = theme.readout_text
    size = f"{text_pt * 0.9:.1f}pt"
    if math.isnan(readout.time_s):
        return f'<span style="color:{text}; font-size:{size}">no data</span>'
    index = {name: n for n, name in enumerate(plot.names)}
    cells = []
    for name, value in readout.entries[:MAX_READOUT]:
        n = index[name]
        colour = plot.colours[n] if n < len(plot.colours) else text
        reading = format_value(value, plot.unit)
        cells.append(f'<td><span style="color:{colour}">■</span> {name}&nbsp;</td>'
                     f'<td align="right">{reading}&nbsp;&nbsp;</td>')  # fmt: skip
    # Two entries a line past three, so six fit in the height of the shortest plot.
    per_line = 2 if len(cells) > 3 else 1
    rows = ["".join(cells[i : i + per_line]) for i in range(0, len(cells), per_line)]
    header = time.strftime("%H:%M:%S", time.localtime(readout.time_s))
    if len(readout.entries) > MAX_READOUT:
        header += f"  (top {MAX_READOUT} of {len(readout.entries)})"
    body = "".join(f"<tr>{row}</tr>" for row in rows)
    return (f'<div style="color:{text}; font-size:{size}">{header}'
            f'<table cellspacing="0" cellpadding="0">{body}</table></div>')  # fmt: skip


class Crosshair:
    """Shows, moves and hides the line and readout of every plot together (the plots' x axes
    are linked, so one time is one place in all of them)."""

    def __init__(self, plots: list[StackedPlot], master: pg.ViewBox, theme: PlotTheme,
                 text_pt: float):  # fmt: skip
        self._plots = plots
        self._master = master
        self.x_s = math.nan
        """Time the crosshair is at (NaN: hidden)."""
        self.set_looks(theme, text_pt)

    def set_looks(self, theme: PlotTheme, text_pt: float) -> None:
        """Colours and text size (the readout's is a little smaller than the plots'); takes
        effect on the readouts' text at the next ``show_at`` (``reshow``)."""
        self._theme, self._text_pt = theme, text_pt
        for plot in self._plots:
            plot.vline.setPen(pg.mkPen(theme.crosshair, width=1))
            plot.readout.fill = pg.mkBrush(theme.readout_fill)
            plot.readout.border = pg.mkPen(theme.crosshair)
            plot.readout.update()

    def follow(self, scene_pos: QPointF) -> None:
        """At the mouse's time over any plot; hidden when the mouse is over none."""
        for plot in self._plots:
            view = plot.item.getViewBox()
            if view.sceneBoundingRect().contains(scene_pos):
                self.show_at(view.mapSceneToView(scene_pos).x())
                return
        self.hide()

    def hide(self) -> None:
        self.x_s = math.nan
        for plot in self._plots:
            plot.vline.hide()
            plot.readout.hide()

    def reshow(self) -> None:
        """Show again where it is, if shown: after new colours or text size."""
        if not math.isnan(self.x_s):
            self.show_at(self.x_s)

    def show_at(self, x_s: float) -> None:
        """The line at ``x_s`` and the readouts right of it, or all left of it when one would
        not fit (the plots' x axes line up, so they stay in one column)."""
        self.x_s = x_s
        widths_px = []
        for plot in self._plots:
            plot.vline.setPos(x_s)
            plot.vline.show()
            html = readout_html(plot, readout_column(plot, x_s), self._theme, self._text_pt)
            plot.readout.setHtml(html)
            plot.readout.show()
            widths_px.append(plot.readout.boundingRect().width())
        x_px = self._master.mapFromView(QPointF(x_s, 0)).x()
        right = x_px + 8 + max(widths_px) < self._master.width()
        for plot, width_px in zip(self._plots, widths_px, strict=True):
            plot.readout.setPos(x_px + 8 if right else max(x_px - 8 - width_px, 0), 2)
