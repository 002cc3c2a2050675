"""The Run view as a whole: one selection across plan, heatmap and plots, shared time window
and pause, dock layout kept across starts, and the control-room wall."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from demo_window import close, open_demo
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QFontInfo
from PySide6.QtWidgets import QAbstractButton, QComboBox, QDockWidget, QLabel

from factoryfloor.app.control_room import PANELS, ControlRoomDialog, WallLayout
from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.telemetry.against_design import AgainstDesign
from factoryfloor.backend.telemetry.live_figures import LiveAggregator
from factoryfloor.backend.telemetry.series import facility_model_key
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

SCREENSHOTS = os.environ.get("FACTORYFLOOR_SCREENSHOTS")


@pytest.fixture
def running(qtbot):
    """The demo in Run mode, once the first frames have reached the history."""
    main = open_demo(qtbot)
    main.run_action.trigger()
    qtbot.waitUntil(lambda: main.run_view.history is not None
                    and not math.isnan(main.run_view.history.latest_s), timeout=30_000)  # fmt: skip
    yield main
    close(main)


def test_run_gives_the_room_of_the_design_docks_to_the_live_views(running: MainWindow,
                                                                  qtbot) -> None:  # fmt: skip
    main = running
    assert not main.properties_dock.isVisible() and not main.problems_dock.isVisible()
    heatmap_dock = main.run_view.heatmap.parentWidget()
    assert isinstance(heatmap_dock, QDockWidget) and heatmap_dock.isVisible()
    main.design_action.trigger()
    assert main.properties_dock.isVisible() and main.problems_dock.isVisible()
    assert not heatmap_dock.isVisible()


def test_clicking_a_heatmap_cell_selects_that_gpu_everywhere(running: MainWindow, qtbot) -> None:
    main, heatmap = running, running.run_view.heatmap
    qtbot.waitUntil(lambda: heatmap.shown is not None, timeout=10_000)
    history = main.run_view.history
    row = history.rows_of_rack["B03"].start + 5
    x_s = heatmap.shown_until_s - heatmap.resolution_s / 2  # the newest column
    heatmap.view.setYRange(row - 8, row + 8, padding=0)  # zoomed in: 1,312 rows fill no screen
    # The service answers with a row per GPU (until then the coarser picture stays, and a
    # click names the GPU drawn under the pointer).
    qtbot.waitUntil(lambda: heatmap.shown_rows[2] == 1, timeout=5_000)
    x_s = min(x_s, heatmap.shown_until_s - heatmap.resolution_s / 2)
    pos = heatmap.plot.mapFromScene(heatmap.view.mapViewToScene(QPointF(x_s, row + 0.5)))
    qtbot.mouseClick(heatmap.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)

    assert main.scene.items_by_id["B03"].isSelected()  # the plan
    detail = main.run_view.rack_detail
    assert detail.rack_id == "B03" and detail.gpu_index == 5  # the rack detail, GPU 5 shown
    assert detail.table.selectedItems()[0].row() == 5
    low, high = heatmap.selection.getRegion()
    assert (low, high) == (row, row + 1)  # the heatmap outlines that GPU's row
    tokens = main.run_view.plots.plots["tokens"]
    qtbot.waitUntil(lambda: any("B03" in name for name in tokens.names), timeout=5000)


def test_clicking_a_rack_on_the_plan_outlines_its_rows_on_the_heatmap(running: MainWindow,
                                                                      qtbot) -> None:  # fmt: skip
    main = running
    rack = main.scene.items_by_id["C02"]
    qtbot.mouseClick(main.plan_view.viewport(), Qt.MouseButton.LeftButton,
                     pos=main.plan_view.mapFromScene(rack.mapToScene(0.0, 0.3)))  # fmt: skip
    rows = main.run_view.history.rows_of_rack["C02"]
    assert main.run_view.heatmap.selection.isVisible()
    assert main.run_view.heatmap.selection.getRegion() == (rows.start, rows.stop)
    assert main.run_view.rack_detail.rack_id == "C02"


def test_window_and_pause_chosen_on_the_plots_apply_to_the_heatmap(running: MainWindow,
                                                                   qtbot) -> None:  # fmt: skip
    run_view = running.run_view
    plots, heatmap, history = run_view.plots, run_view.heatmap, run_view.history
    window_combo, pause_button = plots.controls.window_combo, plots.controls.pause_button
    window_combo.setCurrentIndex(window_combo.findData(3600.0))
    assert heatmap.window_s == 3600.0  # drawn when the service answers: 15 s columns
    qtbot.waitUntil(lambda: heatmap.resolution_s == 15.0, timeout=5_000)
    window_combo.setCurrentIndex(window_combo.findData(60.0))  # 1 s columns: quick to pass
    assert heatmap.window_s == 60.0
    qtbot.waitUntil(lambda: heatmap.resolution_s == 1.0, timeout=5_000)
    plots.parentWidget().raise_()  # the Plots tab: hidden plots do not draw
    qtbot.waitUntil(lambda: not math.isnan(plots.shown_until_s), timeout=10_000)

    qtbot.mouseClick(pause_button, Qt.MouseButton.LeftButton)
    assert heatmap.paused and plots.paused
    frozen = heatmap.shown.copy()
    heatmap_until_s, plots_until_s = heatmap.shown_until_s, plots.shown_until_s
    plots_view = plots.plots["efficiency"].item.getViewBox().viewRange()[0]
    # Frames keep coming: wait until the history is past the columns shown and the views
    # have been handed a frame since.
    qtbot.waitUntil(lambda: history.latest_s > max(heatmap_until_s, plots_until_s) + 1.0,
                    timeout=10_000)  # fmt: skip
    with qtbot.waitSignal(run_view.run_mode.history, timeout=5000):
        pass
    assert heatmap.shown_until_s == heatmap_until_s
    assert (heatmap.shown == frozen).all()  # paused: frames do not move the picture
    assert plots.shown_until_s == plots_until_s
    assert plots.plots["efficiency"].item.getViewBox().viewRange()[0] == plots_view

    qtbot.mouseClick(pause_button, Qt.MouseButton.LeftButton)
    assert not heatmap.paused and not plots.paused and pause_button.text() == "Pause"
    newest_end_s = math.floor(history.latest_s) + 1.0  # resumed: both show the newest column
    qtbot.waitUntil(lambda: heatmap.shown_until_s >= newest_end_s > heatmap_until_s,
                    timeout=5_000)  # fmt: skip
    assert plots.shown_until_s == newest_end_s > plots_until_s
    assert plots.plots["efficiency"].item.getViewBox().viewRange()[0][1] == newest_end_s


def test_dock_layout_of_the_run_view_is_restored_on_the_next_start(qtbot) -> None:
    first = open_demo(qtbot)
    first.run_action.trigger()
    heatmap_dock = first.run_view.heatmap.parentWidget()
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, heatmap_dock)
    first.close()  # enters Design and saves the layout
    first.deleteLater()

    second = open_demo(qtbot)
    second.run_action.trigger()
    dock = second.run_view.heatmap.parentWidget()
    assert second.dockWidgetArea(dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    close(second)


# --- Control room ---------------------------------------------------------------------------


def test_wall_layout_is_remembered_and_offered_again(qtbot) -> None:
    create_application()
    chosen = WallLayout(screen="", panels=["plan", "plots"], rotating=True, rotate_s=45)
    chosen.save()
    assert WallLayout.load() == chosen
    dialog = ControlRoomDialog(WallLayout.load())
    qtbot.addWidget(dialog)
    assert [k for k, box in dialog.panel_boxes.items() if box.isChecked()] == ["plan", "plots"]
    assert dialog.chosen().rotating and dialog.chosen().rotate_s == 45
    QSettings().remove("controlRoom")


def test_control_room_tiles_every_panel_and_follows_the_run(running: MainWindow, qtbot) -> None:
    main = running
    main.show_control_room(WallLayout(panels=list(PANELS), rotating=False))
    wall = main.control_room
    assert wall is not None and wall.isFullScreen()
    assert wall.stack.count() == 1 and all(wall.panels[k].isVisible() for k in PANELS)
    assert wall.plots.graphics.backgroundBrush().color().lightness() < 40  # dark
    # Readable from 5 m: every label at least 24 px high, the KPI figures at least 48 px, the
    # plots' and heatmap's own text as large; nothing to click on a wall.
    wall_pt = wall.font().pointSizeF()
    for label in wall.findChildren(QLabel):
        if label.isVisible() and label.text():
            assert QFontInfo(label.font()).pixelSize() >= 24, label.text()
    assert not [w for w in wall.findChildren(QAbstractButton) + wall.findChildren(QComboBox)
                if w.isVisible()]  # fmt: skip
    assert wall.plots.plots["heat"].item.getAxis("left").style["tickFont"].pointSizeF() == wall_pt
    assert wall.heatmap.rack_axis.style["tickFont"].pointSizeF() == wall_pt
    qtbot.waitUntil(lambda: bool(wall.kpis.models), timeout=10_000)  # a tile per model served
    tokens = wall.kpis.tiles[facility_model_key(wall.kpis.models[0], "tokens_per_s")]
    assert tokens.value.text().endswith("tok/s")
    assert tokens.caption.font().pointSizeF() == wall.kpis.tiles["pue"].caption.font().pointSizeF()
    qtbot.waitUntil(lambda: wall.heatmap.shown is not None, timeout=10_000)
    wall.showNormal()  # a 1080p wall (the offscreen screen is smaller)
    wall.resize(1920, 1080)
    qtbot.waitUntil(lambda: wall.plan_view.viewport().width() > 900, timeout=5_000)
    assert all(QFontInfo(tile.value.font()).pixelSize() >= 48 for tile in wall.kpis.tiles.values())
    if SCREENSHOTS:
        wall.grab().save(str(Path(SCREENSHOTS) / "wall-tiled.png"))
    wall.showFullScreen()
    main.run_view.select_gpu("A02", 3)
    assert wall.heatmap.selection.getRegion()[0] == main.run_view.history.rows_of_rack["A02"][3]
    # One screen: the wall covers the desk, which stops painting and redrawing meanwhile ...
    assert main.run_view.desk_covered and not main.updatesEnabled()
    desk = main.run_view.heatmap
    covered_until_s = desk.shown_until_s
    qtbot.waitUntil(lambda: wall.heatmap.shown_until_s >= covered_until_s + 2 * desk.resolution_s,
                    timeout=10_000)  # fmt: skip
    assert desk.shown_until_s == covered_until_s
    qtbot.keyClick(wall, Qt.Key.Key_Escape)
    assert main.control_room is None and wall not in main.run_view.extra_views
    assert main.run_view.running  # leaving the wall leaves Run on the desk
    # ... and catches up with the run when the wall leaves.
    assert main.updatesEnabled() and not main.run_view.desk_covered
    wall_until_s = wall.heatmap.shown_until_s  # the desk asks for what it missed, at once
    qtbot.waitUntil(lambda: desk.shown_until_s >= wall_until_s, timeout=2_000)


def test_control_room_rotates_one_panel_at_a_time(running: MainWindow, qtbot) -> None:
    running.show_control_room(WallLayout(panels=["kpis", "heatmap"], rotating=True, rotate_s=5))
    wall = running.control_room
    assert wall.stack.count() == 2 and wall.rotation.isActive()
    assert wall.rotation.interval() == 5000
    first = wall.stack.currentIndex()
    qtbot.keyClick(wall, Qt.Key.Key_Space)
    assert wall.stack.currentIndex() == (first + 1) % 2
    assert WallLayout.load().panels == ["kpis", "heatmap"]  # remembered for next time
    wall.close()
    QSettings().remove("controlRoom")


def test_in_run_a_cdu_is_labelled_with_its_live_heat_share_and_design_comes_back(
    qtbot,
) -> None:
    """Run shows live state: a CDU's label is its loop's live heat as a share of its capacity,
    not the design's figure; back in Design the design's figure returns."""
    window = open_demo(qtbot)
    try:
        cdu = window.scene.items_by_id["CDU-A1"]
        design_lines = list(cdu.lines)
        shown: list = []
        window.run_view.run_mode.live.connect(shown.append)
        window.run_action.trigger()
        qtbot.waitUntil(lambda: any("L-A1" in live.loop_heat_kw for live in shown),
                        timeout=30_000)  # fmt: skip
        live = next(live for live in reversed(shown) if "L-A1" in live.loop_heat_kw)
        capacity_kw = window.run_view.loop_capacity["L-A1"].capacity_kw
        assert cdu.lines == ["CDU-A1", f"{live.loop_heat_kw['L-A1'] / capacity_kw:.0%}"]
        assert "live heat" in window.scene.tooltip_for("CDU-A1")
        window.design_action.trigger()
        assert cdu.lines == design_lines
    finally:
        close(window)


def test_in_run_the_plan_shows_live_state_measured_against_the_design(qtbot) -> None:
    """No design outlines in Run; each loop and feed beside its measured figure against the
    designed one, the full sentence on hover before the design's own figures; racks show both
    power readings; tokens per model. Back in Design, the design's plan returns."""
    window = open_demo(qtbot)
    try:
        scene, figures = window.scene, window.document.figures
        cdu, feed = scene.items_by_id["CDU-B2"], scene.items_by_id["FEED-A"]
        assert cdu.status == "near"  # the design's problem: CDU-B2 near its capacity
        design_feed_lines = list(feed.lines)
        shown: list = []
        window.run_view.run_mode.live.connect(shown.append)
        window.run_action.trigger()
        qtbot.waitUntil(lambda: bool(shown) and "L-B2" in shown[-1].loop_heat_kw
                        and "FEED-A" in shown[-1].feed_load_kw, timeout=30_000)  # fmt: skip
        live = shown[-1]
        assert cdu.status is None  # in Run an outline is an alarm's, never a design problem

        loop = AgainstDesign("L-B2", figures.loops["L-B2"].heat_kw, live.loop_heat_kw["L-B2"])
        note = scene.notes["L-B2"]
        assert note.text.endswith(loop.line()) and note.flagged == loop.off_design
        tip = scene.tooltip_for("L-B2").split("<br>")
        assert tip[1].startswith("live heat")
        assert tip[2].startswith(loop.sentence())
        assert tip[3].startswith("design: heat") and all(t.startswith("design:") for t in tip[3:])

        load_kw = live.feed_load_kw["FEED-A"]
        fed = AgainstDesign("FEED-A", figures.feeds["FEED-A"].load_kw, load_kw)
        assert feed.lines == ["FEED-A", f"{load_kw / 1500.0:.0%}"]  # live share of capacity
        assert scene.notes["FEED-A"].text.endswith(fed.line())
        assert fed.sentence() in scene.tooltip_for("FEED-A")

        rack = scene.tooltip_for("A01")
        assert "rack power (BMS)" in rack and ", GPUs " in rack
        assert rack.index("rack power (BMS)") < rack.index("design: IT")

        panel = window.run_view.live_panel
        # Llama 2 70B, Llama 3.1 405B, and the decode-heavy chat of two H100 racks.
        qtbot.waitUntil(lambda: len(panel.models) == 3, timeout=5_000)
        assert sorted(panel.models) == sorted({f.workload for f in figures.racks.values()})
        if SCREENSHOTS:
            window.resize(1920, 1080)
            window.plan_view.fit_hall()
            qtbot.wait(300)  # one more frame drawn at this size
            window.grab().save(str(Path(SCREENSHOTS) / "run_live_against_design.png"))

        window.design_action.trigger()
        assert cdu.status == "near" and feed.lines == design_feed_lines
        assert not scene.notes and scene.tooltip_for("L-B2").startswith("<b>Loop L-B2</b>")
    finally:
        close(window)


def test_it_power_from_only_some_racks_gives_no_pue(running: MainWindow) -> None:
    """A BMS reading some racks only: IT power says how many it sums, and no PUE is made of it
    (the whole hall's heat over part of its power would read far too high)."""
    run_view = running.run_view
    design = run_view.design
    aggregator = LiveAggregator(design)
    simulator = FacilitySimulator(design, seed=1)
    keys, values = simulator.keys, simulator.step(1.0)
    values[[i for i, k in enumerate(keys) if k.startswith(("gpu/", "facility/"))]] = np.nan
    whole = run_view.facility_figures(aggregator.update(keys, values, "util_pct"))
    assert whole["it_power_racks"] == whole["racks"] and "pue" in whole
    values[keys.index("rack/A01/power_kw")] = np.nan
    part = run_view.facility_figures(aggregator.update(keys, values, "util_pct"))
    assert part["it_power_racks"] == part["racks"] - 1 and "pue" not in part


def test_a_click_on_a_gpus_alarm_finds_that_gpu_in_every_view(running: MainWindow) -> None:
    from factoryfloor.backend.service.alarms.evaluator import alarm_id
    from factoryfloor.backend.service.alarms.series_index import gpu_subject
    from factoryfloor.backend.service.messages import AlarmShown
    from factoryfloor.backend.telemetry.placement import host_gpu

    main = running
    rack = next(r for r in main.run_view.design.racks if r.id == "B03")
    host = host_gpu(rack, 5)
    alarm = AlarmShown(alarm_id("gpu-slowdown", gpu_subject(host.node, host.index)), "B03",
                       "low", "unacknowledged", "91 °C, over 89 °C", 91.0, 0.0)  # fmt: skip
    main.run_view.alarm_panel.alarm_chosen.emit(alarm)
    assert main.scene.items_by_id["B03"].isSelected()
    assert (main.run_view.rack_detail.rack_id, main.run_view.rack_detail.gpu_index) == ("B03", 5)
    row = main.run_view.history.rows_of_rack["B03"].start + 5
    assert main.run_view.heatmap.selection.getRegion() == (row, row + 1)
