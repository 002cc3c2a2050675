"""Run view's fleet heatmap: every GPU a row, time in columns, one quantity as colour.

Built for a whole hall (16,384 GPUs) redrawn on every frame, the fast way (design notes,
sections 8 and 9): one ``ImageItem`` holding C-contiguous ``uint8`` codes with a 256-entry lookup
table and fixed levels, so pyqtgraph turns it into an indexed QImage without rescaling or NaN
checks. The image is laid out like ``LiveHistory`` windows (``axisOrder='col-major'``: time
columns, GPU rows) so a window converts to codes in one vectorised pass.

A hall has far more GPUs than the view has pixel rows (16,384 rows in 300 px), and a scaled image
shows one row in 55 and drops the rest, so a hot GPU could simply not be drawn. The image shown
is therefore the rows in view reduced to the view's pixel height, each pixel row the worst of the
GPUs it covers (the hottest, the most power, or the least busy; "no reading" before any of
them), and hovering or clicking a pixel names that GPU. It is also what makes a whole hall cheap
to draw: 300 rows instead of 16,384.

The widget keeps no GPU's history: it asks a ``GpuRowsSource`` (the service) for the rows it
draws, already reduced (``telemetry.gpu_rows``), and keeps only those, with the value and the
GPU of each cell for hovering. Answers come later (a poll of the service link), so the widget
never waits: what is drawn stays until the answer comes, and an answer to a question the view
no longer asks (zoomed, another quantity or window since) is dropped. Frames arrive at 1-4 Hz,
so a frame must not ask for the whole window again: ``refresh`` asks only for the columns that
have passed since (and the previous newest, which may have had more frames since it was read),
and shifts the image by them on the answer. The whole window is asked again only when what is
shown changes (quantity, window, resuming, a new history, zoom, scroll or resize), or when the
whole window has passed since the last frame (or the clock went back).

Colours are those of the floor plan (``colour_scale.scale_colour`` over the same fixed scale
ends), so a colour means the same value in both views. Code 0 is reserved for "no reading", drawn
as a neutral grey that is not on the scale, so a silent GPU is not mistaken for an idle one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QCursor, QFont, QFontMetricsF, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolTip, QVBoxLayout, QWidget

from factoryfloor.backend.telemetry.gpu_rows import (
    GpuRows,
    GpuRowsQuery,
    GpuRowsSource,
    LocalGpuRows,
)
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.widgets.colour_scale import (
    CODE_COLOURS,
    NO_READING_CODE,
    ColourScaleBar,
    value_codes,
)

NO_READING_RGB = (190, 190, 190)
"""Neutral light grey: not on the viridis scale, and reads as "nothing here" on white."""
SELECTION_RGB = (228, 0, 43)
"""Red outline of the selected GPU or rack: stands out against every viridis colour."""
WORST_WORDS = {"util_pct": "least busy", "power_w": "most power", "temp_c": "hottest",
               "mem_temp_c": "hottest memory"}  # fmt: skip
"""How the header names the GPU a reduced row shows."""
MIN_WINDOW_S, MAX_WINDOW_S = 60.0, 86_400.0
DEFAULT_WINDOW_S = 300.0
ANSWER_TIMEOUT_S = 2.0
"""An answer this late is given up on (the service restarted, the link dropped): the next
frame asks again rather than the picture freezing."""


def _lookup_table() -> np.ndarray:
    """256 RGB entries: the plan's colour of each code (``CODE_COLOURS``), with grey for
    "no reading" (code 0)."""
    lut = np.array([(c.red(), c.green(), c.blue()) for c in CODE_COLOURS], np.uint8)
    lut[NO_READING_CODE] = NO_READING_RGB
    return lut


LOOKUP_TABLE = _lookup_table()


class _RackAxis(pg.AxisItem):
    """Left axis: a tick at each rack's first row, labelled with the rack id just below it (in
    the rack's band, the y axis being inverted), thinned to the labels that fit at the current
    zoom. Thinning walks all racks from the first, so the labelled racks do not change while
    scrolling; the unlabelled boundaries get minor ticks when far enough apart to see."""

    LABEL_SPACING_PX = 4.0
    """Room between thinned labels, beyond a line of text."""
    MINOR_GAP_PX = 4.0

    def __init__(self) -> None:
        super().__init__("left")
        self._starts = np.empty(0, np.int64)
        self._label_of: dict[int, str] = {}
        # Thinning already keeps labels apart: pyqtgraph's own limit (labels may fill 80 % of
        # the axis) would drop every label of a large hall with larger type (on the wall).
        self.setStyle(textFillLimits=[(0, 1.0)])
        # Rows are GPU indices: a scaled "x1e3" axis would ask for labels at 0-16, not 0-16,384.
        self.enableAutoSIPrefix(False)

    def set_racks(self, starts: list[int], ids: list[str]) -> None:
        self._starts = np.asarray(starts, np.int64)
        self._label_of = dict(zip(starts, ids, strict=True))
        self.fit_labels()

    def fit_labels(self) -> None:
        """Width for the longest rack id in the axis's font. pyqtgraph widens an axis only
        after drawing it, and drops every label that does not fit meanwhile: a hall whose
        ids are longer than the first ones drawn lost all its labels."""
        metrics = QFontMetricsF(self.style["tickFont"] or self.font())
        widest_px = max((metrics.horizontalAdvance(i) for i in self._label_of.values()), default=0)
        label_px = metrics.height() * 1.25 if self.label.isVisible() else 0.0
        self.setWidth(widest_px + max(0, self.style["tickLength"]) +
                      self.style["tickTextOffset"][0] + label_px + 4)  # fmt: skip
        self.picture = None  # pyqtgraph caches the drawn axis
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:
        if not len(self._starts) or size <= 0:
            return []
        low, high = min(minVal, maxVal), max(minVal, maxVal)
        rows_per_px = max(high - low, 1e-9) / size
        font = self.style["tickFont"] or self.font()
        gap_rows = (QFontMetricsF(font).height() + self.LABEL_SPACING_PX) * rows_per_px
        labelled = np.zeros(len(self._starts), bool)
        next_row = -math.inf
        for i, start in enumerate(self._starts.tolist()):
            if start >= next_row:
                labelled[i] = True
                next_row = start + gap_rows
        visible = (self._starts >= low) & (self._starts < high)
        levels = [(gap_rows, self._starts[visible & labelled].astype(float).tolist())]
        minor = self._starts[visible & ~labelled]
        if len(minor) and np.diff(self._starts).min() / rows_per_px >= self.MINOR_GAP_PX:
            levels.append((gap_rows / 2, minor.astype(float).tolist()))
        return levels

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [self._label_of.get(round(v), "") for v in values]

    def generateDrawSpecs(self, p: QPainter) -> tuple:
        """pyqtgraph centres a label on its tick; move it just below, into the rack's rows,
        and drop those that would run off the axis."""
        axis, ticks, texts = super().generateDrawSpecs(p)
        bottom = self.boundingRect().bottom()
        moved = [(rect.translated(0, rect.height() / 2 + 1), flags, text)
                 for rect, flags, text in texts]  # fmt: skip
        return axis, ticks, [t for t in moved if t[0].bottom() <= bottom]


class FleetHeatmap(QWidget):
    """Every GPU of the running design as a row of colour cells over the chosen time window.

    The Run view (and the control-room wall) own it: they hand over the ``LiveHistory`` and
    where to ask for its GPUs' rows (``set_history``), the quantity and its fixed scale ends
    (``set_quantity``), the window (``set_window``) and pause (``set_paused``), and call
    ``refresh`` after each frame. A left click on a cell emits ``gpu_clicked``; the Run view
    answers with ``select_gpu`` (which never emits), so selection from elsewhere looks the
    same.
    """

    gpu_clicked = Signal(str, int)
    """(rack id, GPU index) of a left-clicked cell."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        header.setContentsMargins(8, 2, 8, 2)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: bold;")
        header.addWidget(self.title)
        header.addStretch(1)
        swatch = QLabel("  no reading  ")
        swatch.setStyleSheet(f"background: rgb{NO_READING_RGB}; color: black;")
        header.addWidget(swatch)
        self.legend = ColourScaleBar()
        self.legend.setMinimumWidth(380)
        header.addWidget(self.legend)
        layout.addLayout(header)
        self.rows_note = QLabel()
        """What a row of pixels stands for: one GPU, or the worst of several."""
        self.rows_note.setStyleSheet("color: gray;")
        self.rows_note.setContentsMargins(8, 0, 8, 0)
        layout.addWidget(self.rows_note)

        self.date_axis = pg.DateAxisItem("bottom")
        self.rack_axis = _RackAxis()
        axes = {"bottom": self.date_axis, "left": self.rack_axis}
        self.plot = pg.PlotWidget(background="w", axisItems=axes)
        self.plot.setLabel("bottom", "time")
        self.plot.setLabel("left", "GPU")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.view: pg.ViewBox = self.plot.getPlotItem().getViewBox()
        self.view.invertY(True)  # first rack at the top, as lists read
        self.view.setDefaultPadding(0.0)
        self.view.setMouseEnabled(x=False, y=True)  # time follows the window; zoom into racks
        self.view.enableAutoRange(x=False)
        self.image_item = pg.ImageItem(axisOrder="col-major")
        self.image_item.setLookupTable(LOOKUP_TABLE)
        self.view.addItem(self.image_item)
        self.selection = pg.LinearRegionItem(
            orientation="horizontal", movable=False,
            pen=pg.mkPen(SELECTION_RGB, width=2), brush=pg.mkBrush(*SELECTION_RGB, 40),
        )  # fmt: skip
        self.selection.setZValue(10)
        self.selection.hide()
        self.view.addItem(self.selection, ignoreBounds=True)
        layout.addWidget(self.plot, 1)
        self._apply_fonts()
        scene = self.plot.scene()
        scene.sigMouseClicked.connect(self._on_click)
        scene.sigMouseMoved.connect(self._on_hover)
        self.view.sigYRangeChanged.connect(self._follow_view)
        self.view.sigResized.connect(self._follow_view)

        self._history: LiveHistory | None = None
        self._source: GpuRowsSource | None = None
        self.quantity, self.label, self.unit = "util_pct", "GPU utilisation", "%"
        self.low, self.high = 0.0, 100.0
        self.window_s = DEFAULT_WINDOW_S
        self.paused = False
        self._paused_end_s = math.nan
        """Newest frame when paused: what the image shows, and where rebuilds end meanwhile."""
        self.drawn: GpuRowsQuery | None = None
        """What is drawn: its columns, tier and rows; None before any answer."""
        self.shown: np.ndarray | None = None
        """(columns, shown rows) uint8 codes, oldest column first: the rows in view reduced to
        pixel rows, each the worst GPU of its group."""
        self.shown_values: np.ndarray | None = None
        """(columns, shown rows) float32: the value of each cell (NaN: no reading)."""
        self.shown_gpus: np.ndarray | None = None
        """(columns, shown rows) int32: the GPU row each cell shows."""
        self._wanted: GpuRowsQuery | None = None
        """The window last asked for: the layout answers must fit."""
        self._asking = 0
        """Number of the question whose answer is awaited (0: none); answers to others are
        dropped."""
        self._asked_at_s = -math.inf
        self._questions = 0
        self.hover_text = ""
        self._update_header()

    # --- Owner's API -----------------------------------------------------------------------

    @property
    def resolution_s(self) -> float:
        return self.drawn.resolution_s if self.drawn is not None else 0.0

    @property
    def columns(self) -> int:
        return self.drawn.columns if self.drawn is not None else 0

    @property
    def shown_rows(self) -> tuple[int, int, int]:
        """(first GPU row, end row, GPU rows per shown row) of ``shown``."""
        drawn = self.drawn
        return (drawn.first_row, drawn.end_row, drawn.group) if drawn else (0, 0, 1)

    @property
    def shown_until_s(self) -> float:
        """End of the image's newest column, epoch seconds (NaN: no image): live, the column of
        the newest frame at the last refresh; paused, the column of the pause."""
        if self.drawn is None:
            return math.nan
        return (self.drawn.newest_bucket + 1) * self.drawn.resolution_s

    def set_history(self, history: LiveHistory | None,
                    source: GpuRowsSource | None = None) -> None:  # fmt: skip
        """Lay out one row per GPU of ``history`` (plan order), whose rows are asked of
        ``source`` (default: the history itself, if it keeps every GPU), or clear (None)."""
        self._history = history
        if source is None and history is not None and history.keep_gpus:
            source = LocalGpuRows(history)
        self._source = source
        self.selection.hide()
        if self.paused:  # show the new history as it stands, still paused
            self._paused_end_s = history.latest_s if history is not None else math.nan
        if history is None:
            self.rack_axis.set_racks([], [])
        else:
            starts = [r.start for r in history.rows_of_rack.values()]
            self.rack_axis.set_racks(starts, list(history.rows_of_rack))
            self.view.setLimits(yMin=0, yMax=max(len(history.gpu_rows), 1))
            self.view.setYRange(0, max(len(history.gpu_rows), 1), padding=0)
        self._rebuild()

    def set_quantity(self, quantity: str, label: str, unit: str, low: float, high: float) -> None:
        """Show ``quantity`` on the fixed scale ``low``..``high`` (``run_mode.gpu_scale_range``)."""
        self.quantity, self.label, self.unit = quantity, label, unit
        self.low, self.high = float(low), float(high)
        self._rebuild()

    def set_window(self, span_s: float) -> None:
        """Show the last ``span_s`` seconds (60 s to a day), at the finest resolution kept."""
        self.window_s = min(max(float(span_s), MIN_WINDOW_S), MAX_WINDOW_S)
        self._rebuild()

    def set_paused(self, paused: bool) -> None:
        """Freeze the image (frames keep being recorded); resuming jumps back to live."""
        if paused == self.paused:
            return
        self.paused = paused
        history = self._history
        self._paused_end_s = history.latest_s if paused and history is not None else math.nan
        if paused:
            self._update_header()
        else:
            self._rebuild()

    def pause_at(self, end_s: float) -> None:
        """Freeze with ``end_s`` as the newest column: the moment the time control shows."""
        self.paused, self._paused_end_s = True, end_s
        self._rebuild()

    def refresh(self) -> None:
        """Bring the image up to the newest frame: ask for the buckets that have passed (and
        the previous newest, which may have had more frames since it was read), to be shifted
        in when they come. Does nothing while paused, or while an answer is awaited."""
        history = self._history
        if self.paused or history is None or math.isnan(history.latest_s):
            return
        if self._awaiting():
            return
        drawn = self.drawn
        if drawn is None or _layout(drawn) != _layout(self._wanted):
            self._rebuild()  # the window asked for never came
            return
        newest = math.floor(history.latest_s / drawn.resolution_s)
        passed = newest - drawn.newest_bucket
        if passed < 0 or passed >= drawn.columns:
            self._rebuild()  # the clock went back, or the whole window has passed
            return
        self._ask(replace(drawn, columns=passed + 1, newest_bucket=newest), self._take_update)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._apply_fonts()

    def _apply_fonts(self) -> None:
        """Axis text in the widget's font (pyqtgraph draws in the scene's): larger on the
        wall, with the rack axis widened for its ids."""
        font = QFont(self.font())
        size = f"{round(font.pointSizeF(), 1):g}pt"
        for axis in (self.date_axis, self.rack_axis):
            axis.setStyle(tickFont=font)
            axis.labelStyle = {**axis.labelStyle, "font-size": size}
            axis.setLabel(axis.labelText, axis.labelUnits)
        self.rack_axis.fit_labels()

    def set_dark(self, dark: bool) -> None:
        """Dark background and light axes, for the control-room wall."""
        self.plot.setBackground("#0f1317" if dark else "w")
        ink = pg.mkPen("#c9d1d9" if dark else "#404040")
        for name in ("bottom", "left"):
            axis = self.plot.getAxis(name)
            axis.setPen(ink)
            axis.setTextPen(ink)

    def select_gpu(self, rack_id: str, index: int | None) -> None:
        """Outline the row of GPU ``index`` of ``rack_id`` (None: the rack's whole band); an
        unknown rack or GPU clears the outline. Does not emit ``gpu_clicked``."""
        history = self._history
        rows = history.rows_of_rack.get(rack_id) if history is not None else None
        if rows is None or (index is not None and not 0 <= index < len(rows)):
            self.selection.hide()
            return
        first = rows.start if index is None else rows.start + index
        last = rows.stop if index is None else first + 1
        self.selection.setRegion((first, last))
        self.selection.show()

    # --- Reading and drawing ---------------------------------------------------------------

    def _rebuild(self) -> None:
        """Ask for the whole window again (what is shown has changed); what is drawn stays
        until the answer comes."""
        self._update_header()
        history = self._history
        end_s = self._paused_end_s if self.paused else math.nan
        if history is not None and math.isnan(end_s):
            end_s = history.latest_s
        if history is None or math.isnan(end_s) or self._source is None:
            self.drawn = self._wanted = None
            self.shown = self.shown_values = self.shown_gpus = None
            self._asking = 0
            self.image_item.clear()
            self._update_header()
            return
        tier = history.series.tier_for(self.window_s)
        columns = min(max(1, math.ceil(self.window_s / tier.resolution_s)), tier.columns)
        first, end, group = self._rows_in_view()
        self._wanted = GpuRowsQuery(self.quantity, first, end, group, columns,
                                    math.floor(end_s / tier.resolution_s),
                                    tier.resolution_s)  # fmt: skip
        self._ask(self._wanted, self._take_window)

    def _ask(self, query: GpuRowsQuery, take: Callable[[GpuRows], None]) -> None:
        """Ask ``query``; ``take`` its answer if it is still the question when it comes."""
        self._questions += 1
        number = self._asking = self._questions
        self._asked_at_s = time.monotonic()

        def answered(rows: GpuRows) -> None:
            if number == self._asking and shiboken6.isValid(self):  # not closed meanwhile
                self._asking = 0
                take(rows)

        self._source.ask(query, answered)

    def _awaiting(self) -> bool:
        return bool(self._asking) and time.monotonic() - self._asked_at_s < ANSWER_TIMEOUT_S

    def _take_window(self, rows: GpuRows) -> None:
        self.drawn = rows.query
        self.shown_values = np.array(rows.values, np.float32)  # its own: shifted each frame
        self.shown_gpus = np.array(rows.gpu_rows, np.int32)
        self.shown = value_codes(self.shown_values, self.low, self.high)
        self._update_header()
        self._show_image()

    def _take_update(self, rows: GpuRows) -> None:
        """The newest columns: shift the image by the buckets that have passed, put them in."""
        if self.paused:
            return  # asked before the pause: the picture stays as it was
        drawn, query = self.drawn, rows.query
        passed = query.newest_bucket - drawn.newest_bucket
        fresh = (value_codes(rows.values, self.low, self.high), rows.values, rows.gpu_rows)
        for image, columns in zip((self.shown, self.shown_values, self.shown_gpus), fresh,
                                  strict=True):  # fmt: skip
            if passed:
                image[:-passed] = image[passed:]
            image[-query.columns :] = columns
        self.drawn = replace(drawn, newest_bucket=query.newest_bucket)
        self._show_image()

    def _rows_in_view(self) -> tuple[int, int, int]:
        """(first GPU row, end row, rows per pixel row) to draw: the rows in view, in groups of
        as many rows as a pixel row covers, aligned to the group so panning keeps them."""
        count = len(self._history.gpu_rows) if self._history is not None else 0
        low, high = self.view.viewRange()[1]
        height_px = self.view.height()
        group = max(1, math.ceil((high - low) / height_px - 1e-6)) if height_px >= 1 else 1
        first = max(0, math.floor(low / group) * group)
        end = min(count, math.ceil(high / group) * group)
        return (first, end, group) if end > first else (0, count, 1)

    def _follow_view(self) -> None:
        """Zoomed, scrolled or resized: ask for the rows now in view, if they changed."""
        wanted = self._wanted
        if wanted is None:
            return
        first, end, group = self._rows_in_view()
        if (first, end, group) != (wanted.first_row, wanted.end_row, wanted.group):
            self._rebuild()

    def _show_image(self) -> None:
        if self.shown is None or self.drawn is None:
            return
        self.image_item.setImage(self.shown, autoLevels=False, levels=(0, 255))
        first_s = (self.drawn.newest_bucket - self.columns + 1) * self.resolution_s
        span_s = self.columns * self.resolution_s
        first, _, group = self.shown_rows
        height = float(self.shown.shape[1] * group)
        self.image_item.setRect(QRectF(first_s, float(first), span_s, height))
        # Time always spans the window exactly (no zoom in x), set here rather than left to
        # auto-range, which would only catch up at the next paint.
        self.view.setXRange(first_s, first_s + span_s, padding=0.0)

    def _update_header(self) -> None:
        text = f"{self.label} ({self.unit})" if self.unit else self.label
        if self._history is not None:
            text += f" · {len(self._history.gpu_rows):,} GPUs"
        text += f" · last {_duration_text(self.window_s)}"
        if self.paused:
            text += " · paused"
        self.title.setText(text)
        self.legend.set_scale(self.unit, "", self.low, self.high)  # "%  0 [bar] 100"
        note = f"{_duration_text(self.resolution_s)} per column · " if self.resolution_s else ""
        group = self.shown_rows[2]
        if group > 1 and self.shown is not None:
            worst = WORST_WORDS.get(self.quantity, "worst")
            note += (f"each row of pixels shows the {worst} of {group} GPUs (grey if one has "
                     "no reading); the wheel zooms in")  # fmt: skip
        else:
            note += "one row per GPU"
        self.rows_note.setText(note[0].upper() + note[1:])

    # --- Pointer ---------------------------------------------------------------------------

    def cell_at(self, scene_pos: QPointF) -> tuple[int | None, int] | None:
        """(column or None if off the image's time span, GPU row) under a scene position;
        None outside the plot area or the rows. Where a pixel row stands for several GPUs, the
        GPU row is the worst of them: the one whose colour is drawn there."""
        history = self._history
        if history is None or not self.view.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.view.mapSceneToView(scene_pos)
        row = math.floor(point.y())
        if not 0 <= row < len(history.gpu_rows):
            return None
        cell = self._shown_cell(point.x(), row)
        if cell is None:
            return None, row
        return cell[0], int(self.shown_gpus[cell])

    def _shown_cell(self, time_s: float, row: int) -> tuple[int, int] | None:
        """(column, shown row) of ``shown`` at a time and GPU row; None off the image."""
        drawn = self.drawn
        if drawn is None or self.shown is None or not drawn.first_row <= row < drawn.end_row:
            return None
        first = drawn.newest_bucket - drawn.columns + 1
        column = math.floor(time_s / drawn.resolution_s) - first
        if not 0 <= column < drawn.columns:
            return None
        return column, (row - drawn.first_row) // drawn.group

    def cell_text(self, column: int, row: int) -> str:
        """Hover text of a cell: which GPU, when, and its value (or "no reading")."""
        history = self._history
        drawn = self.drawn
        if history is None or drawn is None or self.shown is None:
            return ""
        rack_id, gpu = history.gpu_rows[row]
        bucket = drawn.newest_bucket - drawn.columns + 1 + column
        start_s = bucket * drawn.resolution_s
        when = time.strftime("%H:%M:%S", time.localtime(start_s))
        if drawn.resolution_s > 1.0:
            end = time.strftime("%H:%M:%S", time.localtime(start_s + drawn.resolution_s))
            when = f"{when}-{end} mean"
        cell = self._shown_cell((bucket + 0.5) * drawn.resolution_s, row)
        if cell is None or int(self.shown_gpus[cell]) != row:
            return f"rack {rack_id}, GPU {gpu} · {when}"  # not the GPU drawn there
        value = float(self.shown_values[cell])
        reading = "no reading" if math.isnan(value) else f"{value:,.1f} {self.unit}"
        return f"rack {rack_id}, GPU {gpu} · {when} · {reading}".rstrip()

    def _on_click(self, event: object) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._history is None:
            return
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self.gpu_clicked.emit(*self._history.gpu_rows[cell[1]])

    def _on_hover(self, scene_pos: QPointF) -> None:
        cell = self.cell_at(scene_pos)
        text = self.cell_text(*cell) if cell is not None and cell[0] is not None else ""
        if text != self.hover_text:
            self.hover_text = text
            if text:
                QToolTip.showText(QCursor.pos(), text, self.plot)
            else:
                QToolTip.hideText()


def _layout(query: GpuRowsQuery | None) -> GpuRowsQuery | None:
    """What a query draws, whatever its newest column."""
    return replace(query, newest_bucket=0) if query is not None else None


def _duration_text(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
