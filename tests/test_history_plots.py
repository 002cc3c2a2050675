"""The Run view's time plots, fed by a real ``LiveHistory`` of simulator frames (no mocks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from on_screen import on_screen
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.backend.telemetry.history import WINDOWS_S, LiveHistory
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator
from factoryfloor.widgets.history_plots import HistoryPlots
from factoryfloor.widgets.plot_choice import MAX_CURVES, MAX_LOOP_CURVES, format_value
from factoryfloor.widgets.plot_crosshair import MAX_READOUT
from factoryfloor.widgets.stacked_plot import MIN_PLOT_PX

T0_S = 1_750_000_000.0


class Feed:
    """A hall, its simulator and the history they fill, one frame at a time."""

    def __init__(self, rack_count: int, racks_per_row: int):
        self.design: Design = generate_hall(rack_count, racks_per_row=racks_per_row)
        self.sim = FacilitySimulator(self.design)
        self.history = LiveHistory(self.design)
        self.now_s = T0_S

    def frames(self, count: int, dt_s: float = 1.0) -> None:
        for _ in range(count):
            self.history.add(self.sim.keys, self.now_s, self.sim.step(dt_s))
            self.now_s += dt_s

    def loop_capacities(self) -> dict[str, tuple[str, float]]:
        capacity_kw = {cdu.id: cdu.capacity_kw for cdu in self.design.cdus}
        return {lp.id: (lp.cdu_id, capacity_kw[lp.cdu_id]) for lp in self.design.loops}


@pytest.fixture
def plots(qtbot) -> HistoryPlots:
    return on_screen(qtbot, HistoryPlots(), 1200, 900)


def shown(widget: HistoryPlots, key: str) -> list:
    return [c for c in widget.plots[key].curves if c.isVisible()]


def x_range(widget: HistoryPlots) -> tuple[float, float]:
    low, high = widget.plots["gpu"].item.getViewBox().viewRange()[0]
    return low, high


def snapshot(widget: HistoryPlots) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    return {key: [(c.xData.copy(), c.yData.copy()) for c in shown(widget, key)]
            for key in widget.plots}  # fmt: skip


def test_window_sets_x_span_and_resolution(plots: HistoryPlots, qtbot) -> None:
    feed = Feed(8, 8)
    feed.frames(3600)
    plots.set_history(feed.history, feed.loop_capacities())
    with qtbot.waitSignal(plots.window_changed) as signal:
        plots.set_window(60.0)
    assert signal.args == [60.0]
    curve = shown(plots, "efficiency")[0]
    assert len(curve.xData) == 60
    assert np.allclose(np.diff(curve.xData), 1.0)
    low, high = x_range(plots)
    assert high - low == pytest.approx(60.0)
    assert high == pytest.approx(math.floor(feed.history.latest_s) + 1.0)  # newest bucket's end

    plots.controls.window_combo.setCurrentIndex(WINDOWS_S.index(3600.0))  # as the user would
    assert plots.window_s == 3600.0
    assert len(curve.xData) == 240
    assert np.allclose(np.diff(curve.xData), 15.0)
    low, high = x_range(plots)
    assert high - low == pytest.approx(3600.0)
    assert plots.controls.window_combo.currentText() == "1 h"


def test_setters_with_the_same_value_emit_nothing(plots: HistoryPlots, qtbot) -> None:
    feed = Feed(8, 8)
    feed.frames(10)
    plots.set_history(feed.history, feed.loop_capacities())
    with qtbot.assertNotEmitted(plots.window_changed):
        plots.set_window(plots.window_s)
    with qtbot.assertNotEmitted(plots.paused_changed):
        plots.set_paused(False)
    with pytest.raises(ValueError):
        plots.set_window(42.0)


def test_pause_freezes_the_curves_and_resume_follows(plots: HistoryPlots, qtbot) -> None:
    feed = Feed(8, 8)
    feed.frames(120)
    plots.set_history(feed.history, feed.loop_capacities())
    plots.set_window(60.0)
    with qtbot.waitSignal(plots.paused_changed) as signal:
        plots.set_paused(True)
    assert signal.args == [True]
    button = plots.controls.pause_button
    assert button.isChecked() and button.text() == "Resume"
    assert plots.controls.status_label.text().startswith("Paused at ")
    before = snapshot(plots)
    view_before = x_range(plots)
    paused_until_s = plots.shown_until_s
    assert paused_until_s == math.floor(feed.history.latest_s) + 1.0
    feed.frames(10)
    plots.refresh()
    after = snapshot(plots)
    assert plots.shown_until_s == paused_until_s
    for key, curves in before.items():
        assert len(curves) == len(after[key])
        for (x0, y0), (x1, y1) in zip(curves, after[key], strict=True):
            assert np.array_equal(x0, x1) and np.array_equal(y0, y1, equal_nan=True), key
    assert x_range(plots) == view_before

    with qtbot.waitSignal(plots.paused_changed) as signal:
        plots.controls.pause_button.click()  # as the user would
    assert signal.args == [False]
    curve = shown(plots, "efficiency")[0]
    newest = feed.history.series_window(["facility/tokens_per_j"], 1.0)
    assert curve.xData[-1] == newest.times_s[-1]
    assert curve.yData[-1] == pytest.approx(float(newest.values[-1, 0]))
    assert x_range(plots)[1] == pytest.approx(newest.times_s[-1] + 0.5)
    assert plots.shown_until_s == paused_until_s + 10.0


def test_space_toggles_pause(plots: HistoryPlots, qtbot) -> None:
    feed = Feed(8, 8)
    feed.frames(5)
    plots.set_history(feed.history, feed.loop_capacities())
    plots.setFocus()
    qtbot.keyClick(plots, Qt.Key.Key_Space)
    assert plots.paused
    qtbot.keyClick(plots.graphics, Qt.Key.Key_Space)  # the plots have focus after a click
    assert not plots.paused


def test_paused_keeps_older_data_to_scroll_back_to(plots: HistoryPlots) -> None:
    feed = Feed(8, 8)
    feed.frames(700)
    plots.set_history(feed.history, feed.loop_capacities())
    plots.set_window(60.0)
    view = plots.plots["heat"].item.getViewBox()
    assert view.state["mouseEnabled"] == [False, False]  # live: the view follows, no panning
    curve = shown(plots, "heat")[0]
    assert len(curve.xData) == 60

    plots.set_paused(True)
    assert view.state["mouseEnabled"] == [True, False]
    low, high = x_range(plots)
    assert high - low == pytest.approx(60.0)  # still showing the last minute ...
    assert len(curve.xData) == 600  # ... with the 1 s tier's 10 minutes behind it
    assert curve.xData[0] < low - 500
    assert np.isfinite(curve.yData[:10]).all()
    view.translateBy(x=-300.0)  # what dragging to the right does
    assert x_range(plots)[0] == pytest.approx(low - 300.0)
    assert plots.plots["efficiency"].item.getViewBox().viewRange()[0][0] == pytest.approx(
        low - 300.0
    )  # the axes are linked

    plots.set_paused(False)
    assert view.state["mouseEnabled"] == [False, False]
    assert x_range(plots) == pytest.approx((low, high))
    assert len(curve.xData) == 60


def test_loop_plot_draws_each_cdu_capacity_in_its_loop_colour(plots: HistoryPlots) -> None:
    feed = Feed(64, 16)
    feed.frames(30)
    capacities = feed.loop_capacities()
    plots.set_history(feed.history, capacities)
    heat = plots.plots["heat"]
    lines = plots.capacity_lines
    assert len(lines) == len(capacities) == len(shown(plots, "heat")) == 12
    for loop, curve, line in zip(capacities, heat.curves, lines, strict=True):
        assert line.angle == 0
        assert line.value() == capacities[loop][1]
        assert line.pen.style() == Qt.PenStyle.DashLine
        assert line.pen.color() == curve.opts["pen"].color()
    window = feed.history.series_window([f"loop/{loop}/heat_kw" for loop in capacities], 300.0)
    for n, curve in enumerate(heat.curves):
        assert np.array_equal(curve.yData, window.values[:, n], equal_nan=True)
    plots.grab()  # ranges follow the data when painted
    low, high = heat.item.getViewBox().viewRange()[1]
    assert low <= np.nanmax(window.values) and high >= 600.0  # headroom in view


@pytest.fixture
def large_hall(plots: HistoryPlots) -> Feed:
    """512 racks (98 loops) shown in the plots after 30 frames."""
    feed = Feed(512, 16)
    feed.frames(30)
    plots.set_history(feed.history, feed.loop_capacities())
    return feed


def test_a_large_hall_plots_the_loops_nearest_capacity_with_their_cdus(
    plots: HistoryPlots, large_hall: Feed
) -> None:
    feed, capacities, heat = large_hall, large_hall.loop_capacities(), plots.plots["heat"]
    assert len(shown(plots, "heat")) == MAX_LOOP_CURVES
    latest = feed.history.series_window([f"loop/{lp}/heat_kw" for lp in capacities], 1.0)
    load = {lp: v / capacities[lp][1] for lp, v in zip(capacities, latest.values[-1],
                                                           strict=True)}  # fmt: skip
    hidden = [lp for lp in capacities if lp not in heat.names]
    # Every plotted loop is nearer capacity than every hidden one (give or take the 2 % that
    # keeps a plotted loop through near-ties).
    assert min(load[lp] for lp in heat.names) >= max(load[lp] for lp in hidden) - 0.02
    window = feed.history.series_window([f"loop/{lp}/heat_kw" for lp in heat.names], 300.0)
    for n, curve in enumerate(heat.curves):
        assert np.array_equal(curve.yData, window.values[:, n], equal_nan=True)
        assert plots.capacity_lines[n].value() == capacities[heat.names[n]][1]
    cdus = [capacities[lp][0] for lp in heat.names]
    assert plots.plots["flow"].names == cdus
    assert plots.plots["coolant"].names[:2] == [f"{cdus[0]} supply", f"{cdus[0]} return"]
    assert len(shown(plots, "coolant")) == 2 * MAX_LOOP_CURVES


def test_the_plotted_loops_hold_still_but_a_loop_over_capacity_shows_at_once(
    plots: HistoryPlots, large_hall: Feed
) -> None:
    feed, capacities, heat = large_hall, large_hall.loop_capacities(), plots.plots["heat"]
    chosen = list(heat.names)
    for _ in range(5):  # under LOOP_CHOICE_HOLD_S: the same curves, whatever the readings do
        feed.frames(1)
        plots.refresh()
        assert heat.names == chosen
    hidden = next(lp for lp in capacities if lp not in chosen)
    values = feed.sim.step(1.0)
    values[feed.sim.keys.index(f"loop/{hidden}/heat_kw")] = 1.2 * capacities[hidden][1]
    feed.history.add(feed.sim.keys, feed.now_s, values)
    plots.refresh()
    assert hidden in heat.names
    curve = heat.curves[heat.names.index(hidden)]
    assert curve.yData[-1] == pytest.approx(1.2 * capacities[hidden][1], rel=1e-3)


def test_a_large_hall_shows_64_racks_and_says_so(plots: HistoryPlots) -> None:
    feed = Feed(512, 16)
    feed.frames(3)
    plots.set_history(feed.history, feed.loop_capacities())
    plots.set_per("rack")
    gpu = plots.plots["gpu"]
    assert len(shown(plots, "gpu")) == MAX_CURVES
    assert "64 of 512 racks (Row or Hall: all)" in gpu.item.titleLabel.text
    assert "16 of 96 loops, nearest capacity" in plots.plots["heat"].item.titleLabel.text

    last = feed.design.racks[-1].id  # beyond the first 64: still drawn, thick, on top
    plots.select_rack(last)
    assert gpu.names[gpu.pinned] == last
    pinned = gpu.curves[gpu.pinned]
    assert pinned.opts["pen"].width() == 3 and pinned.zValue() > gpu.curves[0].zValue()
    window = feed.history.aggregate_window("util_pct", "rack", plots.window_s)
    column = feed.history.group_names("rack").index(last)
    assert np.array_equal(pinned.yData, window.values[:, column], equal_nan=True)

    plots.set_per("hall")
    assert len(shown(plots, "gpu")) == 1
    assert "of" not in gpu.item.titleLabel.text
    plots.set_per("row")
    assert len(shown(plots, "gpu")) == 32


def test_per_gpu_shows_the_selected_racks_gpus(plots: HistoryPlots) -> None:
    feed = Feed(8, 8)
    feed.frames(20)
    plots.set_history(feed.history, feed.loop_capacities())
    plots.set_quantity("power_w")
    plots.set_per("gpu")
    assert not shown(plots, "gpu")
    assert "select a rack" in plots.plots["gpu"].item.titleLabel.text
    rack = feed.design.racks[2].id
    plots.select_rack(rack)
    rows = list(feed.history.rows_of_rack[rack])
    curves = shown(plots, "gpu")
    assert len(curves) == len(rows)
    window = feed.history.gpu_window("power_w", plots.window_s, rows=rows)
    for n, curve in enumerate(curves):
        assert np.array_equal(curve.yData, window.values[:, n], equal_nan=True)
    tokens = shown(plots, "tokens")
    assert len(tokens) == 2  # facility and the selected rack


def test_curves_are_built_once_and_updated(plots: HistoryPlots) -> None:
    feed = Feed(8, 8)
    feed.frames(10)
    plots.set_history(feed.history, feed.loop_capacities())
    curves = {key: list(plot.curves) for key, plot in plots.plots.items()}
    items = {key: len(plot.item.items) for key, plot in plots.plots.items()}
    for _ in range(5):
        feed.frames(1)
        plots.refresh()
    assert curves == {key: list(plot.curves) for key, plot in plots.plots.items()}
    assert items == {key: len(plot.item.items) for key, plot in plots.plots.items()}
    assert shown(plots, "efficiency")[0].xData[-1] == math.floor(feed.history.latest_s) + 0.5


def test_crosshair_lists_the_values_at_the_mouse(plots: HistoryPlots, qtbot) -> None:
    feed = Feed(64, 16)
    feed.frames(120)
    plots.set_history(feed.history, feed.loop_capacities())
    plots.set_window(60.0)
    plots.grab()  # lay out and range the plots as on screen
    at_s = math.floor(feed.history.latest_s) - 20 + 0.5
    view = plots.plots["coolant"].item.getViewBox()
    y = sum(view.viewRange()[1]) / 2
    # What moving the mouse there tells the plots (QTest's moves are checked below).
    plots.graphics.scene().sigMouseMoved.emit(view.mapViewToScene(QPointF(at_s + 0.2, y)))

    heat = plots.plots["heat"]
    assert heat.vline is not None and heat.vline.isVisible()
    assert heat.vline.value() == pytest.approx(at_s + 0.2)
    readout = plots.readout_column("heat", at_s + 0.2)
    assert readout.time_s == at_s
    entries = readout.entries
    window = feed.history.series_window([f"loop/{n}/heat_kw" for n in heat.names], 60.0)
    expected = dict(zip(heat.names, window.values[list(window.times_s).index(at_s)], strict=True))
    assert len(entries) == 12
    assert [v for _, v in entries] == sorted(expected.values(), reverse=True)  # highest first
    for name, value in entries:
        assert value == pytest.approx(float(expected[name]))
    html = heat.readout.textItem.toHtml()
    name, value = entries[0]
    assert name in html and format_value(value, "kW") in html
    assert f"top {MAX_READOUT} of 12" in html
    assert entries[MAX_READOUT][0] not in html

    efficiency = plots.plots["efficiency"]
    entries = plots.readout_column("efficiency", at_s).entries
    value = feed.history.series_window(["facility/tokens_per_j"], 60.0).values[-21, 0]
    assert entries == [("facility", pytest.approx(float(value)))]
    assert format_value(float(value), "tok/J") in efficiency.readout.textItem.toHtml()

    QApplication.sendEvent(plots.graphics, QEvent(QEvent.Type.Leave))  # the mouse leaves
    assert not heat.vline.isVisible() and not heat.readout.isVisible()

    # A real mouse move over the plots shows it again, at the mouse's time.
    scene_pos = view.mapViewToScene(QPointF(at_s, y))
    qtbot.mouseMove(plots.graphics.viewport(), plots.graphics.mapFromScene(scene_pos))
    qtbot.waitUntil(heat.vline.isVisible)
    assert heat.vline.value() == pytest.approx(at_s, abs=1.0)


def test_pinned_rack_comes_first_in_the_readout(plots: HistoryPlots) -> None:
    feed = Feed(64, 16)
    feed.frames(30)
    plots.set_history(feed.history, feed.loop_capacities())
    rack = feed.design.racks[40].id
    plots.select_rack(rack)
    entries = plots.readout_column("gpu", math.floor(feed.history.latest_s) + 0.5).entries
    assert entries[0][0] == rack and len(entries) == 64


def test_dark_theme(plots: HistoryPlots) -> None:
    feed = Feed(8, 8)
    feed.frames(10)
    plots.set_history(feed.history, feed.loop_capacities())
    plots.set_dark(True)
    assert plots.graphics.backgroundBrush().color() == QColor("black")
    assert plots.plots["heat"].item.getAxis("left").textPen().color().lightness() > 180
    plots.set_dark(False)
    assert plots.graphics.backgroundBrush().color() == QColor("white")


def test_a_hidden_widget_draws_when_shown(qtbot) -> None:
    widget = HistoryPlots()
    qtbot.addWidget(widget)
    feed = Feed(8, 8)
    feed.frames(10)
    widget.set_history(feed.history, feed.loop_capacities())
    assert not shown(widget, "efficiency")
    widget.show()
    qtbot.waitExposed(widget)
    assert len(shown(widget, "efficiency")[0].xData) == widget.window_s


def test_no_history_draws_nothing(plots: HistoryPlots) -> None:
    plots.set_history(None, {})
    plots.refresh()
    plots.set_paused(True)
    plots.set_window(60.0)
    assert not any(shown(plots, key) for key in plots.plots)
    assert math.isnan(plots.shown_until_s)


def test_plots_redraw_when_a_column_completes_not_on_every_frame(plots: HistoryPlots) -> None:
    feed = Feed(64, 16)
    feed.frames(30)
    plots.set_history(feed.history, feed.loop_capacities())
    feed.frames(1, dt_s=0.25)  # the first frame of a new 1 s column: redrawn
    plots.refresh()
    curve = shown(plots, "efficiency")[0]
    first_column_s = curve.xData[-1]
    drawn = curve.yData.copy()
    feed.frames(3, dt_s=0.25)  # more frames into the same column: not redrawn for them
    for _ in range(3):
        plots.refresh()
    assert np.array_equal(curve.yData, drawn, equal_nan=True)
    feed.frames(1)  # the next column begins: the last one is drawn with its final mean
    plots.refresh()
    assert curve.xData[-1] == first_column_s + 1.0
    window = feed.history.series_window(["facility/tokens_per_j"], plots.window_s)
    assert curve.yData[-2] == pytest.approx(float(window.values[-2, 0]))
    assert curve.yData[-2] != pytest.approx(float(drawn[-1]))  # four frames' mean, not one's


def test_a_short_dock_scrolls_the_plots_instead_of_squeezing_them(plots: HistoryPlots,
                                                                   qtbot) -> None:  # fmt: skip
    feed = Feed(64, 16)
    feed.frames(30)
    plots.set_history(feed.history, feed.loop_capacities())
    plots.resize(1200, 400)
    qtbot.waitUntil(lambda: plots.scroll.verticalScrollBar().isVisible(), timeout=2000)
    for plot in plots.plots.values():
        assert plot.item.height() >= MIN_PLOT_PX - 1
    plots.resize(1200, 1000)  # tall enough: no scrolling, the plots share the height
    qtbot.waitUntil(lambda: not plots.scroll.verticalScrollBar().isVisible(), timeout=2000)
