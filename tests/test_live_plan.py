"""The plan in Run mode from one frame of the simulated demo hall: live state only, each loop and
feed against the design, and what has no reading says so."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from factoryfloor.app.gui import create_application
from factoryfloor.app.live_plan import LivePlan
from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.figures import compute_figures
from factoryfloor.backend.telemetry.against_design import AgainstDesign
from factoryfloor.backend.telemetry.live_figures import LiveAggregator
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator
from factoryfloor.resources import demo_path
from factoryfloor.widgets.floor_plan import NO_READING_LOOP, FloorPlanScene
from factoryfloor.widgets.plan_items import PlanNote
from factoryfloor.widgets.status_colours import OFF_DESIGN


def painted(note: PlanNote) -> QImage:
    box = note.boundingRect()
    image = QImage(int(box.width()) + 1, int(box.height()) + 1, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.translate(-box.topLeft())
    note.paint(painter, QStyleOptionGraphicsItem())
    painter.end()
    return image


def off_design_share(image: QImage) -> float:
    """The share of the image's pixels in the off-design colour."""
    pixels = [image.pixelColor(x, y) for x in range(image.width()) for y in range(image.height())]
    return sum(1 for p in pixels if p == OFF_DESIGN) / len(pixels)


@pytest.fixture
def plan(qtbot):
    """(scene showing the demo, LivePlan, the design, a frame's keys and values)."""
    create_application()
    design = load_design(demo_path())
    figures = compute_figures(design)
    scene = FloorPlanScene()
    scene.show_design(design, figures)
    simulator = FacilitySimulator(design, seed=5)
    values = simulator.step(1.0).astype(np.float32)
    return scene, LivePlan(design, figures), design, simulator.keys, values


def test_what_has_no_reading_shows_no_design_figure(plan) -> None:
    """A loop with no heat reading is grey (its design colour would read as live), its CDU reads
    n/a; a feed with a rack not reporting has no measured load, so no note either."""
    scene, live_plan, design, keys, values = plan
    rack = design.racks_on_feed("FEED-B")[0].id
    gone = [i for i, k in enumerate(keys)
            if k == "loop/L-A1/heat_kw" or k == f"rack/{rack}/power_kw"
            or k.startswith(f"gpu/{rack}/")]  # fmt: skip
    values[gone] = np.nan
    live = LiveAggregator(design).update(keys, values, "util_pct")
    live_plan.show(scene, live, {}, "GPU utilisation", "%")
    assert scene.items_by_id["L-A1"].pen().color() == NO_READING_LOOP
    assert scene.items_by_id["CDU-A1"].lines == ["CDU-A1", "n/a"]
    assert "L-A1" not in scene.notes and "L-A2" in scene.notes
    assert scene.items_by_id["FEED-B"].lines == ["FEED-B", "n/a"]
    assert "FEED-B" not in scene.notes
    assert "not every rack on it reports power" in scene.tooltip_for("FEED-B")
    assert scene.items_by_id[rack].lines == [rack, "n/a"]
    assert scene.items_by_id["A01"].lines[1].endswith(" kW")  # its measured power


def test_a_note_is_flagged_only_off_design(plan) -> None:
    scene, _, _, _, _ = plan
    scene.show_against_design({"L-B2": AgainstDesign("L-B2", 449.0, 472.0),
                               "FEED-A": AgainstDesign("FEED-A", 1000.0, 1200.0)})  # fmt: skip
    within, off = scene.notes["L-B2"], scene.notes["FEED-A"]
    assert within.text == "472 kW, +5 % vs design" and not within.flagged
    assert off.text == "◆ 1,200 kW, +20 % vs design" and off.flagged
    assert off_design_share(painted(off)) > 0.5  # filled in the off-design colour
    assert off_design_share(painted(within)) == 0
    scene.clear_live()
    assert not scene.notes and within.scene() is None
