"""The time plots' curve: a ``PlotCurveItem`` that draws its readings straight, at no more cost
than the line itself.

Qt asks every changed item for its bounding box before painting, and pyqtgraph computes a
curve's from its data (NaN-aware minimum and maximum, padded by the pen in pixels), in Python:
for the hundred curves that change on every frame that was 20-40 ms, more than the painting.
The plots know the box already: the window's time span by the view's range, so they set it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainter, QPainterPath


class BoundedCurve(pg.PlotCurveItem):
    """A curve whose bounding box is set by its plot (``set_bounds``) rather than computed from
    its data; drawn without antialiasing, a gap (NaN) breaking the line."""

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
