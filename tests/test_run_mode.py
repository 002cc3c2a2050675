"""Run mode: the plan coloured by live telemetry from the backend process, and back."""

from __future__ import annotations

import pytest
from demo_window import close, open_demo
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from factoryfloor.app.main_window import MainWindow
from factoryfloor.widgets.floor_plan import LIQUID_RACK_FILL
from factoryfloor.widgets.plan_tools import ToolKind


@pytest.fixture
def window(qtbot):
    main = open_demo(qtbot)
    yield main
    close(main)


def rack_fill(window: MainWindow, rack_id: str) -> QColor:
    return window.scene.items_by_id[rack_id].brush().color()


def test_run_colours_racks_live_and_design_restores_them(window: MainWindow, qtbot) -> None:
    rack_tool = window.tools.tool_actions[ToolKind.PLACE_RACK]
    window.run_action.trigger()
    assert window.plan_view.read_only and not rack_tool.isEnabled()
    # The simulator publishes at 4 Hz; the first frame reaches the plan within seconds.
    qtbot.waitUntil(lambda: window.run_view.live_panel.tiles["it_power_kw"].value.text() != "-",
                    timeout=30_000)  # fmt: skip
    assert window.run_view.live_panel.tiles["gpus_busy"].value.text().endswith("of 1,312")
    tiles = window.run_view.live_panel.tiles
    qtbot.waitUntil(lambda: tiles["pue"].value.text() != "n/a", timeout=10_000)
    # The demo's stated overheads on live loads: a PUE a little above the design's 1.17.
    assert 1.05 < float(window.run_view.live_panel.tiles["pue"].value.text()) < 1.4
    assert rack_fill(window, "A01") != LIQUID_RACK_FILL
    assert "GPU utilisation" in window.scene.tooltip_for("A01")
    client = window.run_view.run_mode.client
    assert client is not None and client.alive

    window.design_action.trigger()
    assert rack_fill(window, "A01") == LIQUID_RACK_FILL
    assert not window.plan_view.read_only and rack_tool.isEnabled()
    qtbot.waitUntil(lambda: not client.alive, timeout=15_000)  # backend stopped


def test_choosing_another_quantity_rescales_the_legend(window: MainWindow, qtbot) -> None:
    window.run_action.trigger()
    quantity_box = window.run_view.quantity_box
    quantity_box.setCurrentIndex(quantity_box.findData("power_kw"))
    # The scale runs from 0 to the largest rack's design IT power: 132 kW (GB200 NVL72).
    assert (window.scale_bar.low, window.scale_bar.high) == (0.0, 132.0)
    assert window.scale_bar.unit == "kW"


def test_clicking_a_rack_opens_its_per_gpu_detail(window: MainWindow, qtbot) -> None:
    window.run_action.trigger()
    qtbot.waitUntil(lambda: window.run_view.live_panel.tiles["it_power_kw"].value.text() != "-",
                    timeout=30_000)  # fmt: skip
    rack = window.scene.items_by_id["C02"]
    centre = window.plan_view.mapFromScene(rack.mapToScene(0.0, 0.3))
    qtbot.mouseClick(window.plan_view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    panel = window.run_view.rack_detail
    assert panel.parentWidget().isVisible()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 16
                    and panel.table.item(0, 2).text() != "n/a", timeout=10_000)  # fmt: skip
    assert panel.title.text().startswith("Rack C02: 16 GPUs")
    assert 50 <= float(panel.table.item(0, 2).text()) <= 750  # an H100's power, in watts
    assert len(panel.plots["power_w"].getPlotItem().listDataItems()) == 16
    assert window.scene.items_by_id["C02"].isSelected()
    assert rack_fill(window, "C02") != QColor("#d5d9de")  # still coloured live, not edited


def test_a_tick_with_nothing_new_is_recorded_but_not_redrawn(window: MainWindow, qtbot) -> None:
    """At 1 Hz the 250 ms tick finds the same readings three times in four: the history holds
    them (no empty 1 s columns between readings) but the views are not redrawn for them."""
    run_mode = window.run_view.run_mode
    run_mode.simulator_hz = 1.0
    window.run_action.trigger()
    with qtbot.waitSignal(run_mode.history, timeout=30_000):
        pass
    redrawn: list[float] = []
    run_mode.history.connect(lambda history: redrawn.append(history.latest_s))
    recorded: list[float] = []
    # Ticks by hand, back to back: the loop never returns to the event loop, so the frame
    # timer cannot tick in between.
    for _ in range(8):
        run_mode.read_frame()
        recorded.append(run_mode.recorded.latest_s)
    assert len(set(recorded)) == 8  # every tick recorded, at its own time
    # Back to back: at most one new 1 Hz reading among the eight ticks, and one heartbeat if
    # a slow machine let a second pass since the last redraw.
    assert len(redrawn) <= 2
