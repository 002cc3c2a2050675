"""The main window on the demo hall: plan, figures and problems as an engineer sees them."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_window import open_demo
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.design.design_file import load_design, save_design
from factoryfloor.resources import demo_path
from factoryfloor.widgets.floor_plan import LIQUID_RACK_FILL
from factoryfloor.widgets.plan_items import LoopItem, RackItem
from factoryfloor.widgets.status_colours import NEAR, OK


@pytest.fixture
def window(qtbot) -> MainWindow:
    main = open_demo(qtbot)
    qtbot.addWidget(main)
    return main


def test_demo_opens_with_its_figures(window: MainWindow) -> None:
    # Demo: 16 GB200 racks at 132 kW + 10 H100 racks at 20.4 kW = 2,112 + 204 = 2,316 kW IT.
    assert window.figures_panel.tiles["IT power"].value.text() == "2,316.0 kW"
    # Liquid: 16 x 132 x 0.85 = 1,795.2 kW, which is 1,795.2 / 2,316 = 78 % of the heat.
    assert window.figures_panel.tiles["Heat to liquid"].value.text() == "1,795.2 kW (78%)"
    assert window.figures_panel.tiles["Racks"].value.text() == "26"
    assert "Hall 1" in window.windowTitle() and "built-in demo" in window.windowTitle()
    loops = window.figures_panel.table_model("Loops")
    assert [row.entity_id for row in loops.rows] == ["L-A1", "L-A2", "L-B1", "L-B2"]
    assert [row.status for row in loops.rows] == [None, None, None, "near"]


def test_plan_draws_every_item_to_scale(window: MainWindow) -> None:
    racks = [item for item in window.scene.items() if isinstance(item, RackItem)]
    assert len(racks) == 26
    a01 = window.scene.items_by_id["A01"]
    # 0.6 m x 1.2 m footprint, in scene metres.
    footprint = a01.mapRectToScene(a01.rect())
    assert (footprint.width(), footprint.height()) == pytest.approx((0.6, 1.2))
    assert footprint.center().x() == pytest.approx(3.8) and footprint.center().y() == 3.0
    assert window.scene.floor_rect.width() == pytest.approx(12.5)


def test_near_capacity_loop_is_flagged_on_the_plan(window: MainWindow) -> None:
    near_loop = window.scene.items_by_id["L-B2"]
    ok_loop = window.scene.items_by_id["L-A1"]
    assert isinstance(near_loop, LoopItem) and isinstance(ok_loop, LoopItem)
    assert near_loop.pen().color() == NEAR
    assert ok_loop.pen().color() == OK
    assert window.scene.items_by_id["CDU-B2"].status == "near"
    assert window.scene.items_by_id["CDU-A1"].status is None


def test_rendered_plan_shows_racks_in_their_colour(window: MainWindow, qtbot, tmp_path) -> None:
    """Grab the plan as pixels: a liquid rack's body is drawn in the liquid-rack colour where
    the plan says it stands."""
    window.plan_view.fit_hall()
    image = window.plan_view.viewport().grab().toImage()
    image.save(str(tmp_path / "plan.png"))
    rack = window.scene.items_by_id["A05"]
    # A point in the rack's body, below its label and front band.
    body = rack.mapToScene(0.0, 0.45)
    pixel = window.plan_view.mapFromScene(body)
    assert QColor(image.pixel(pixel)).name() == LIQUID_RACK_FILL.name()


def test_clicking_a_problem_selects_its_culprit(window: MainWindow, qtbot) -> None:
    panel = window.problems_panel
    item = panel.topLevelItem(0)
    assert item.text(1) == "L-B2"
    rect = panel.visualItemRect(item)
    qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert [i.entity_id for i in window.scene.selectedItems()] == ["L-B2"]


def test_clicking_a_table_row_selects_it_on_the_plan(window: MainWindow, qtbot) -> None:
    tabs = window.figures_panel.tabs
    tabs.setCurrentIndex(2)  # Feeds
    view = tabs.currentWidget()
    rect = view.visualRect(view.model().index(2, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert [i.entity_id for i in window.scene.selectedItems()] == ["FEED-C"]


def test_a_bad_file_is_reported_and_the_open_design_stays(
    window: MainWindow, qtbot, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(demo_path().read_text().replace('"capacity_kw": 480.0', '"capacity_kw": -1'))
    with qtbot.waitSignal(window.files.open_failed, timeout=10_000) as blocker:
        window.open_file(bad)
    assert "cdus[3].capacity_kw" in blocker.args[0]
    assert window.document is not None and window.document.path == demo_path()
    assert window.figures_panel.tiles["IT power"].value.text() == "2,316.0 kW"


def test_opening_another_file_replaces_the_figures(
    window: MainWindow, qtbot, tmp_path: Path
) -> None:
    design = load_design(demo_path())
    design.racks = [rack for rack in design.racks if not rack.id.startswith("C")]
    smaller = tmp_path / "liquid-only.json"
    save_design(design, smaller)
    with qtbot.waitSignal(window.design_shown, timeout=10_000):
        window.open_file(smaller)
    # Without the ten 20.4 kW air racks: 2,316 - 204 = 2,112 kW.
    assert window.figures_panel.tiles["IT power"].value.text() == "2,112.0 kW"
    assert "C01" not in window.scene.items_by_id
