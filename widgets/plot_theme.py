"""The time plots' colours, light (the default, like the rack detail) or the control-room
wall's dark, and which curve gets which.

The grid is an opaque colour rather than pyqtgraph's translucent default: Qt's raster engine
draws a translucent line ~30 times slower than an opaque one, and the grid alone made a repaint
of the six plots take 60 ms instead of 6.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt

from factoryfloor.widgets.stacked_plot import StackedPlot


@dataclass(frozen=True, slots=True)
class PlotTheme:
    """Colours of the plots' parts, in pyqtgraph's colour notation."""

    background: str
    foreground: str
    """Axes, their labels and the titles."""
    grid: str
    crosshair: str
    """The crosshair's line and the readout's border."""
    readout_fill: tuple[int, int, int]
    readout_text: str
    highlight: str
    """The selected rack's curve."""
    palette_value: int
    """Brightness (HSV value, 0-255) of the curves' colours: a little dark on white."""
    facility: str
    """The facility's tokens curves, and the tokens plot's left axis."""
    rack: str
    """The selected rack's tokens curve, and the tokens plot's right axis."""

    def palette(self, count: int) -> list[str]:
        """``count`` curve colours, their hues evenly spread."""
        return [pg.intColor(i, hues=max(count, 1), maxValue=self.palette_value).name()
                for i in range(count)]  # fmt: skip


LIGHT_THEME = PlotTheme(
    background="w", foreground="#333333", grid="#e6e6e6", crosshair="#808080",
    readout_fill=(255, 255, 255), readout_text="#111111", highlight="#000000",
    palette_value=200, facility="#1f5fbf", rack="#d2620a",
)  # fmt: skip
WALL_THEME = PlotTheme(
    background="k", foreground="#d8d8d8", grid="#2e2e2e", crosshair="#a0a0a0",
    readout_fill=(0, 0, 0), readout_text="#eeeeee", highlight="#ffffff",
    palette_value=255, facility="#5aa9ff", rack="#ffa040",
)  # fmt: skip


def style_curves(plots: dict[str, StackedPlot], capacity_lines: list[pg.InfiniteLine],
                 design_loops: Sequence[str], theme: PlotTheme) -> None:  # fmt: skip
    """Pens for every curve of the six plots: a colour per curve, 1 px; the selected rack
    (``pinned``) thick in the highlight colour and on top; a loop in the colour of its place
    among all the ``design_loops`` (so it keeps its colour when the loops plotted change),
    its capacity line dashed in that colour, and its CDU's supply and flow in it too, the
    return dashed. The tokens axes are labelled in their curves' colours (there is no legend).
    Only on a change, never per frame."""
    gpu = plots["gpu"]
    colours = theme.palette(len(gpu.names))
    if gpu.pinned >= 0:
        colours[gpu.pinned] = theme.highlight
    gpu.colours = colours
    for i, curve in enumerate(gpu.curves):
        pinned = i == gpu.pinned
        colour = colours[i] if i < len(colours) else "#808080"
        curve.setPen(pg.mkPen(colour, width=3 if pinned else 1))
        curve.setZValue(10 if pinned else 0)
    heat = plots["heat"]
    palette = dict(zip(design_loops, theme.palette(len(design_loops)), strict=True))
    heat.colours = [palette[loop] for loop in heat.names]
    for curve, line, colour in zip(heat.curves, capacity_lines, heat.colours, strict=True):
        curve.setPen(pg.mkPen(colour, width=1))
        line.setPen(pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine))
    coolant = plots["coolant"]
    coolant.colours = [c for c in heat.colours for _ in (0, 1)]  # supply and return
    for i, curve in enumerate(coolant.curves):
        style = Qt.PenStyle.DashLine if i % 2 else Qt.PenStyle.SolidLine
        curve.setPen(pg.mkPen(coolant.colours[i], width=1, style=style))
    flow = plots["flow"]
    flow.colours = list(heat.colours)
    for curve, colour in zip(flow.curves, flow.colours, strict=True):
        curve.setPen(pg.mkPen(colour, width=1))
    tokens = plots["tokens"]
    tokens.colours = [theme.facility, theme.rack]
    for curve, colour in zip(tokens.curves, tokens.colours, strict=True):
        curve.setPen(pg.mkPen(colour, width=1))
    tokens.item.getAxis("left").setTextPen(theme.facility)
    tokens.item.getAxis("right").setTextPen(theme.rack)
    efficiency = plots["efficiency"]
    efficiency.colours = [theme.facility]
    efficiency.curves[0].setPen(pg.mkPen(efficiency.colours[0], width=1))
