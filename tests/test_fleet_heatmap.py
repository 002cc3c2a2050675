"""Fleet heatmap: every GPU a row, time in columns, fed by a real LiveHistory (simulator frames
or frames written by hand), checked the way an operator would notice it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from on_screen import on_screen
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.backend.telemetry.gpu_rows import GpuRowsQuery, LocalGpuRows
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator
from factoryfloor.widgets.fleet_heatmap import (
    NO_READING_CODE,
    FleetHeatmap,
    value_codes,
)

T0_S = 1_699_999_200.0
"""A whole hour (and 3-minute bucket) in epoch seconds, so bucket edges are easy to reason."""


@pytest.fixture
def design() -> Design:
    return generate_hall(4, racks_per_row=4)  # 4 racks of 72 GPUs


@pytest.fixture
def heatmap(qtbot, design: Design) -> FleetHeatmap:
    widget = FleetHeatmap()
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.set_quantity("util_pct", "GPU utilisation", "%", 0.0, 100.0)
    widget.set_window(60.0)
    return widget


def util_keys(design: Design) -> list[str]:
    return [f"gpu/{rack.id}/{i}/util_pct" for rack in design.racks for i in range(rack.gpu_count)]


def feed(history: LiveHistory, sim: FacilitySimulator, frames: int, start_s: float,
         dt_s: float = 1.0) -> float:  # fmt: skip
    """Simulator frames from ``start_s`` (mid-bucket); returns the next frame's time."""
    for i in range(frames):
        history.add(sim.keys, start_s + i * dt_s, sim.step(dt_s))
    return start_s + frames * dt_s


def full_codes(history: LiveHistory, widget: FleetHeatmap) -> np.ndarray:
    """The window read whole, as a rebuild would: what the incremental image must equal (every
    GPU has a row of its own at this size)."""
    window = history.gpu_window(widget.quantity, widget.window_s)
    return value_codes(window.values, widget.low, widget.high)


def test_rows_columns_and_newest_column_follow_readings(heatmap: FleetHeatmap,
                                                        design: Design) -> None:  # fmt: skip
    history = LiveHistory(design)
    heatmap.set_history(history)
    assert heatmap.shown is None  # no reading yet: nothing drawn, no error
    keys = util_keys(design)
    rows = history.rows_of_rack
    values = np.full(len(keys), 50.0)
    values[rows["R000-00"].start : rows["R000-00"].stop] = 0.0
    values[rows["R000-01"].start : rows["R000-01"].stop] = 100.0
    for i in range(5):
        history.add(keys, T0_S + i + 0.5, values)
        heatmap.refresh()
    image = heatmap.shown
    assert image is not None and image.dtype == np.uint8 and image.flags.c_contiguous
    assert heatmap.shown_until_s == T0_S + 5.0  # the end of the newest second
    assert image.shape == (60, 4 * 72)  # 60 columns of 1 s, one row per GPU
    assert heatmap.resolution_s == 1.0
    newest = image[-1]
    assert (newest[rows["R000-00"].start : rows["R000-00"].stop] == 1).all()
    assert (newest[rows["R000-01"].start : rows["R000-01"].stop] == 255).all()
    assert (newest[rows["R000-02"].start : rows["R000-02"].stop] == 128).all()
    assert (image[:-5] == NO_READING_CODE).all()  # before the first frame: no reading
    # The image sits on the time axis: its right edge is the end of the newest second.
    rect = heatmap.image_item.mapRectToParent(heatmap.image_item.boundingRect())
    assert rect.right() == pytest.approx(T0_S + 5.0)
    assert rect.left() == pytest.approx(T0_S + 5.0 - 60.0)
    assert rect.top() == 0 and rect.bottom() == 4 * 72


def test_lookup_table_matches_the_plan_colours_and_grey_means_no_reading() -> None:
    from factoryfloor.widgets.colour_scale import scale_colour
    from factoryfloor.widgets.fleet_heatmap import LOOKUP_TABLE

    for value in (0.0, 37.0, 100.0):
        code = int(value_codes(np.array([value]), 0.0, 100.0)[0])
        colour = scale_colour(value, 0.0, 100.0)
        rgb = (colour.red(), colour.green(), colour.blue())
        assert np.abs(LOOKUP_TABLE[code].astype(int) - rgb).max() <= 2
    grey = LOOKUP_TABLE[NO_READING_CODE]
    assert grey[0] == grey[1] == grey[2]  # neutral, unlike any colour of the scale
    assert not (np.abs(LOOKUP_TABLE[1:].astype(int) - grey).max(axis=1) < 30).any()


def test_click_on_a_cell_emits_its_rack_and_gpu(heatmap: FleetHeatmap, design: Design,
                                                qtbot) -> None:  # fmt: skip
    history = LiveHistory(design)
    sim = FacilitySimulator(design)
    feed(history, sim, 10, T0_S + 0.5)
    heatmap.set_history(history)
    heatmap.show()
    qtbot.waitExposed(heatmap)
    row = history.rows_of_rack["R000-02"].start + 5
    column = heatmap.columns - 3
    x = T0_S + 10.0 - 60.0 + column + 0.5  # the middle of the cell
    scene_pos = heatmap.view.mapViewToScene(QPointF(x, row + 0.5))
    pos = heatmap.plot.mapFromScene(scene_pos)
    assert heatmap.cell_at(scene_pos) == (column, row)
    with qtbot.waitSignal(heatmap.gpu_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(heatmap.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == ["R000-02", 5]
    # Hovering the same cell names it, its time and its value.
    # (QTest's mouseMove sends no hover move on the offscreen platform: send the event.)
    viewport = heatmap.plot.viewport()
    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(viewport.mapToGlobal(pos)),
                       Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(viewport, move)
    qtbot.waitUntil(lambda: heatmap.hover_text != "", timeout=2000)
    assert heatmap.hover_text.startswith("rack R000-02, GPU 5 · ")
    assert heatmap.hover_text.endswith(" %")
    # A right click (pyqtgraph's menu button) selects nothing.
    with qtbot.assertNotEmitted(heatmap.gpu_clicked):
        qtbot.mouseClick(heatmap.plot.viewport(), Qt.MouseButton.RightButton, pos=pos)
    # Clicking on the axis, outside the cells, selects nothing.
    with qtbot.assertNotEmitted(heatmap.gpu_clicked):
        qtbot.mouseClick(heatmap.plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(5, 5))


def test_select_gpu_outlines_its_row_or_its_rack_without_emitting(heatmap: FleetHeatmap,
                                                                  design: Design,
                                                                  qtbot) -> None:  # fmt: skip
    history = LiveHistory(design)
    heatmap.set_history(history)
    start = history.rows_of_rack["R000-01"].start
    with qtbot.assertNotEmitted(heatmap.gpu_clicked):
        heatmap.select_gpu("R000-01", 7)
    assert heatmap.selection.isVisible()
    assert heatmap.selection.getRegion() == pytest.approx((start + 7, start + 8))
    heatmap.select_gpu("R000-01", None)
    assert heatmap.selection.getRegion() == pytest.approx((start, start + 72))
    heatmap.select_gpu("no such rack", 0)
    assert not heatmap.selection.isVisible()


def test_frames_shift_the_image_while_live_not_while_paused(heatmap: FleetHeatmap,
                                                            design: Design) -> None:  # fmt: skip
    history = LiveHistory(design)
    sim = FacilitySimulator(design)
    t = feed(history, sim, 30, T0_S + 0.5)
    heatmap.set_history(history)
    before = heatmap.shown.copy()
    t = feed(history, sim, 1, t)
    heatmap.refresh()
    assert np.array_equal(heatmap.shown[:-1], before[1:])  # one column older, one new
    assert np.array_equal(heatmap.shown, full_codes(history, heatmap))

    heatmap.set_paused(True)
    frozen, frozen_until_s = heatmap.shown.copy(), heatmap.shown_until_s
    assert "paused" in heatmap.title.text()
    for _ in range(5):
        t = feed(history, sim, 1, t)
        heatmap.refresh()
    assert np.array_equal(heatmap.shown, frozen)
    assert heatmap.shown_until_s == frozen_until_s
    heatmap.set_window(300.0)  # changing the window while paused stays at the paused time
    assert heatmap.shown.shape[0] == 300
    assert np.array_equal(heatmap.shown[-60:], frozen)
    heatmap.set_window(60.0)

    heatmap.set_paused(False)  # resume catches up with the frames recorded meanwhile
    assert np.array_equal(heatmap.shown, full_codes(history, heatmap))
    assert not np.array_equal(heatmap.shown, frozen)
    assert heatmap.shown_until_s == frozen_until_s + 5.0


def test_incremental_image_equals_a_full_read(heatmap: FleetHeatmap, design: Design) -> None:
    """Several frames per 15 s column (4 Hz) and refreshes skipped now and then: the image kept
    up frame by frame is the one a full read of the window gives."""
    history = LiveHistory(design)
    sim = FacilitySimulator(design)
    heatmap.set_history(history)
    heatmap.set_quantity("power_w", "GPU power", "W", 0.0, 700.0)
    heatmap.set_window(3600.0)
    t = T0_S + 0.1
    for frame in range(400):
        t = feed(history, sim, 1, t, dt_s=0.25)
        if frame % 7:
            heatmap.refresh()
    heatmap.refresh()
    assert heatmap.shown.shape == (240, 4 * 72)
    assert np.array_equal(heatmap.shown, full_codes(history, heatmap))
    # A gap longer than the window (the machine asleep) is all "no reading" but the last frame.
    t = feed(history, sim, 1, t + 7200.0)
    heatmap.refresh()
    assert np.array_equal(heatmap.shown, full_codes(history, heatmap))
    assert (heatmap.shown[:-1] == NO_READING_CODE).all()


@pytest.mark.parametrize(("window_s", "columns", "resolution_s", "title"),
                         [(60.0, 60, 1.0, "last 1 min, 1 s per column"),
                          (300.0, 300, 1.0, "last 5 min, 1 s per column"),
                          (3600.0, 240, 15.0, "last 1 h, 15 s per column"),
                          (86_400.0, 480, 180.0, "last 24 h, 3 min per column")])  # fmt: skip
def test_window_sets_columns_and_resolution(heatmap: FleetHeatmap, design: Design,
                                            window_s: float, columns: int,
                                            resolution_s: float, title: str) -> None:  # fmt: skip
    history = LiveHistory(design)
    feed(history, FacilitySimulator(design), 20, T0_S + 0.5)
    heatmap.set_history(history)
    heatmap.set_window(window_s)
    assert heatmap.shown.shape == (columns, 4 * 72)
    assert heatmap.resolution_s == resolution_s
    rect = heatmap.image_item.mapRectToParent(heatmap.image_item.boundingRect())
    assert rect.width() == pytest.approx(columns * resolution_s)
    assert rect.left() < history.latest_s < rect.right() <= history.latest_s + resolution_s
    window_text, column_text = title.split(", ")
    assert heatmap.title.text().endswith(window_text)
    assert heatmap.rows_note.text().startswith(column_text)
    assert heatmap.view.viewRange()[0] == pytest.approx([rect.left(), rect.right()])


def test_missing_readings_show_as_no_reading(heatmap: FleetHeatmap, design: Design) -> None:
    history = LiveHistory(design)
    heatmap.set_history(history)
    keys = util_keys(design)
    values = np.full(len(keys), 80.0)
    silent = history.rows_of_rack["R000-03"]
    values[silent.start : silent.stop] = np.nan  # a rack whose exporter is down
    history.add(keys, T0_S + 0.5, values)
    heatmap.refresh()
    newest = heatmap.shown[-1]
    assert (newest[silent.start : silent.stop] == NO_READING_CODE).all()
    assert (newest[: silent.start] != NO_READING_CODE).all()
    column = heatmap.columns - 1
    assert heatmap.cell_text(column, silent.start + 2).endswith("· no reading")
    text = heatmap.cell_text(column, 0)
    assert text.startswith("rack R000-00, GPU 0 · ") and text.endswith("· 80.0 %")
    # A quantity no source reports (the simulator has no memory temperature) is all grey.
    heatmap.set_quantity("mem_temp_c", "Memory temperature", "°C", 25.0, 95.0)
    heatmap.set_window(3600.0)
    assert heatmap.shown.shape == (240, 4 * 72)
    assert (heatmap.shown == NO_READING_CODE).all()


def test_set_history_none_clears(heatmap: FleetHeatmap, design: Design) -> None:
    history = LiveHistory(design)
    feed(history, FacilitySimulator(design), 3, T0_S + 0.5)
    heatmap.set_history(history)
    heatmap.select_gpu("R000-00", 1)
    assert heatmap.shown is not None
    heatmap.set_history(None)
    assert heatmap.shown is None and not heatmap.selection.isVisible()
    assert math.isnan(heatmap.shown_until_s)
    heatmap.refresh()  # nothing to do, and no error
    assert heatmap.image_item.image is None


def test_rack_axis_labels_rack_ids_and_thins_them(heatmap: FleetHeatmap) -> None:
    history = LiveHistory(generate_hall(64, racks_per_row=16))
    heatmap.set_history(history)
    axis = heatmap.rack_axis
    rows = len(history.gpu_rows)
    tall = axis.tickValues(0, rows, 100_000)[0][1]  # room for every rack
    assert len(tall) == 64
    assert axis.tickStrings(tall[:2], 1.0, 1.0) == list(history.rows_of_rack)[:2]
    short = axis.tickValues(0, rows, 400)[0][1]
    assert 5 <= len(short) <= 400 / 16 + 1
    assert np.diff(short).min() * 400 / rows >= 16  # labels do not overlap


def test_a_whole_hall_in_a_few_hundred_pixels_still_shows_one_hot_gpu(qtbot) -> None:
    design = generate_hall(64, racks_per_row=16)  # 4,608 GPUs
    widget = on_screen(qtbot, FleetHeatmap(), 1000, 500)
    widget.set_quantity("temp_c", "GPU temperature", "°C", 25.0, 90.0)
    widget.set_window(60.0)
    history = LiveHistory(design)
    keys = [f"gpu/{rack.id}/{i}/temp_c" for rack in design.racks for i in range(rack.gpu_count)]
    temps_c = np.full(len(keys), 40.0)
    hot_row = history.rows_of_rack[design.racks[37].id].start + 11
    temps_c[hot_row] = 95.0
    widget.set_history(history)
    for i in range(5):
        history.add(keys, T0_S + i + 0.5, temps_c)
        widget.refresh()
    first, end, group = widget.shown_rows
    assert group > 1 and widget.shown.shape[1] * group >= end - first
    assert widget.shown.shape[1] <= widget.view.height()  # no more rows than pixel rows
    assert np.array_equal(widget.image_item.image, widget.shown)  # what is drawn
    assert f"shows the hottest of {group} GPUs" in widget.rows_note.text()
    hot_band = (hot_row - first) // group
    assert (widget.shown[-5:, hot_band] == 255).all()  # the hot GPU is drawn, not sampled away
    assert (np.delete(widget.shown[-5:], hot_band, axis=1) < 255).all()
    # Pointing anywhere in that pixel row names (and a click selects) the hot GPU.
    x_s = T0_S + 5.0 - 0.5
    scene_pos = widget.view.mapViewToScene(QPointF(x_s, first + hot_band * group + 0.5))
    assert widget.cell_at(scene_pos)[1] == hot_row
    assert "95.0 °C" in widget.cell_text(*widget.cell_at(scene_pos))
    # Zoomed in to a few racks, every GPU has its own rows of pixels again.
    widget.view.setYRange(hot_row - 40, hot_row + 40, padding=0)
    assert widget.shown_rows[2] == 1
    assert widget.shown[-1, hot_row - widget.shown_rows[0]] == 255
    assert widget.rows_note.text() == "1 s per column · one row per GPU"


class LinkLike:
    """A ``GpuRowsSource`` that answers from a real history as the service link does: later,
    when the window next polls (``deliver``), not while it asks."""

    def __init__(self, history: LiveHistory) -> None:
        self.local = LocalGpuRows(history)
        self.waiting: list[tuple[GpuRowsQuery, object]] = []

    def ask(self, query: GpuRowsQuery, on_answer) -> None:
        self.waiting.append((query, on_answer))

    def deliver(self) -> None:
        waiting, self.waiting = self.waiting, []
        for query, on_answer in waiting:
            self.local.ask(query, on_answer)


def test_answers_come_later_and_a_stale_one_is_dropped(qtbot) -> None:
    design = generate_hall(64, racks_per_row=16)  # 3,712 GPUs: rows reduced on screen
    widget = on_screen(qtbot, FleetHeatmap(), 1000, 500)
    widget.set_window(60.0)
    history = LiveHistory(design)
    t = feed(history, FacilitySimulator(design), 10, T0_S + 0.5)
    link = LinkLike(history)
    widget.set_history(history, link)
    assert widget.shown is None and len(link.waiting) == 1  # asked, and not waiting for it
    whole_hall = link.waiting[0][0]
    assert whole_hall.group > 1 and whole_hall.end_row == len(history.gpu_rows)
    widget.view.setYRange(100, 160, padding=0)  # zoomed before the answer came
    assert len(link.waiting) == 2
    zoomed = link.waiting[1][0]
    link.deliver()  # the whole hall's answer is stale: only the zoomed one is drawn
    assert widget.drawn == zoomed and zoomed.group == 1
    assert widget.shown_rows == (100, 160, 1) and widget.shown.shape == (60, 60)
    # A frame: only the newest columns are asked for, and shifted in when they come.
    t = feed(history, FacilitySimulator(design), 1, t)
    widget.refresh()
    ((update, _),) = link.waiting
    assert update.columns == 2 and update.newest_bucket == widget.drawn.newest_bucket + 1
    widget.refresh()  # still waiting: nothing more is asked
    assert len(link.waiting) == 1
    link.deliver()
    assert widget.shown_until_s == math.floor(t - 1.0) + 1.0
    assert np.array_equal(widget.shown, full_codes(history, widget)[:, 100:160])
