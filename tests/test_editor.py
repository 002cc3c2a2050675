"""The floor-plan editor driven as a user drives it: real mouse and key events on the plan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from factoryfloor.app.autosave import AUTOSAVE_INTERVAL_S
from factoryfloor.app.file_commands import ExportFormat
from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.design.design_file import load_design, parse_design
from factoryfloor.resources import demo_path
from factoryfloor.widgets.plan_items import LoopItem
from factoryfloor.widgets.plan_tools import Nudge, ToolKind
from factoryfloor.widgets.properties_panel import FieldEdit
from factoryfloor.widgets.status_colours import OVER

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def editor_window(autosave_interval_s: float = AUTOSAVE_INTERVAL_S) -> Iterator[MainWindow]:
    """A shown main window, closed afterwards without the "save changes?" question (pytest-qt's
    own closing would run before any fixture teardown could mark the document clean)."""
    create_application()
    main = MainWindow(autosave_interval_s)
    main.resize(1400, 900)
    main.show()
    try:
        yield main
    finally:
        if main.document is not None:
            main.document.undo_stack.setClean()
        main.close()
        main.deleteLater()


@pytest.fixture
def window(qtbot) -> Iterator[MainWindow]:
    with editor_window() as main:
        with qtbot.waitSignal(main.design_shown, timeout=10_000):
            main.open_file(demo_path())
        main.tools.grid_box.setValue(0.6)
        main.plan_view.setFocus()
        yield main


def recovery_file(pid: int) -> Path:
    """Where the FactoryFloor running as process ``pid`` keeps its unsaved changes."""
    return Path(os.environ["XDG_DATA_HOME"]) / "factoryfloor" / "recovery" / f"{pid}.recovery.json"


def at(window: MainWindow, x_m: float, y_m: float):
    return window.plan_view.mapFromScene(QPointF(x_m, y_m))


def rack(window: MainWindow, rack_id: str):
    return next(r for r in window.document.design.racks if r.id == rack_id)


def drag(qtbot, window: MainWindow, start: tuple[float, float], end: tuple[float, float]) -> None:
    viewport = window.plan_view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(window, *start))
    steps = 5
    for i in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * i / steps
        y = start[1] + (end[1] - start[1]) * i / steps
        qtbot.mouseMove(viewport, pos=at(window, x, y))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(window, *end))


def test_place_a_rack_with_the_palette(window: MainWindow, qtbot) -> None:
    window.tools.tool_actions[ToolKind.PLACE_RACK].trigger()
    index = window.tools.gpu_model_box.findData("H100-SXM")
    window.tools.gpu_model_box.setCurrentIndex(index)
    # Click at (10.1, 10.3) m: the rack lands on the 0.6 m grid at (10.2, 10.2).
    viewport = window.plan_view.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at(window, 10.1, 10.3))
    new = window.document.design.racks[-1]
    assert new.gpu_model == "H100-SXM"
    assert (new.x_m, new.y_m) == pytest.approx((10.2, 10.2))
    assert new.id in window.scene.items_by_id
    assert window.figures_panel.tiles["Racks"].value.text() == "27"
    assert window.isWindowModified()


def test_drag_snaps_to_the_grid_and_undoes_in_one_step(window: MainWindow, qtbot) -> None:
    start = rack(window, "C05")
    assert (start.x_m, start.y_m) == (5.9, 8.8)
    # Drag by (+1.05, +0.95) m: 5.9 + 1.05 = 6.95 snaps to 4.2 + ... the nearest 0.6 m line, 7.2;
    # 8.8 + 0.95 = 9.75 snaps to 9.6.
    drag(qtbot, window, (5.9, 8.9), (6.95, 9.85))
    moved = rack(window, "C05")
    assert (moved.x_m, moved.y_m) == pytest.approx((7.2, 9.6))
    assert window.document.undo_stack.count() == 1
    assert window.menus.undo_action.text() == "&Undo Move C05"
    qtbot.keyClick(window.plan_view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    back = rack(window, "C05")
    assert (back.x_m, back.y_m) == (5.9, 8.8)
    assert not window.isWindowModified()
    redo = window.menus.redo_action.shortcut()[0]  # the platform's own redo keys
    qtbot.keyClick(window.plan_view, redo.key(), redo.keyboardModifiers())
    assert (rack(window, "C05").x_m, rack(window, "C05").y_m) == pytest.approx((7.2, 9.6))


def test_arrow_keys_nudge_the_selection_by_the_grid(window: MainWindow, qtbot) -> None:
    window.select_entity("C01")
    qtbot.keyClick(window.plan_view, Qt.Key.Key_Right)
    qtbot.keyClick(window.plan_view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    moved = rack(window, "C01")
    # 3.5 + 0.6 = 4.1 snaps to 4.2; 8.8 + 6.0 = 14.8 is off the 11 m floor: held at the wall.
    assert moved.x_m == pytest.approx(4.2)
    assert moved.y_m == pytest.approx(11.0)


def test_rubber_band_selects_a_row(window: MainWindow, qtbot) -> None:
    viewport = window.plan_view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(window, 3.0, 8.0))
    qtbot.mouseMove(viewport, pos=at(window, 7.0, 9.7))
    qtbot.mouseMove(viewport, pos=at(window, 10.0, 9.7))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(window, 10.0, 9.7))
    assert sorted(window.scene.selected_ids()) == [f"C{i:02d}" for i in range(1, 11)]


def test_draw_a_loop_from_a_cdu_to_racks(window: MainWindow, qtbot) -> None:
    window.select_entity("L-A1")
    qtbot.keyClick(window.plan_view, Qt.Key.Key_Delete)
    assert "L-A1" not in window.scene.items_by_id
    unplumbed = {p.entity_id for p in window.document.figures.problems if p.severity == "over"}
    assert unplumbed == {"A01", "A02", "A03", "A04"}

    window.tools.tool_actions[ToolKind.DRAW_LOOP].trigger()
    viewport = window.plan_view.viewport()
    for x_m in (3.2, 3.8, 4.4, 5.0, 5.6):  # CDU-A1, then A01..A04
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=at(window, x_m, 3.2))
    qtbot.keyClick(window.plan_view, Qt.Key.Key_Return)

    loop = next(lp for lp in window.document.design.loops if lp.cdu_id == "CDU-A1")
    assert {r.id for r in window.document.design.racks_on_loop(loop.id)} == {
        "A01", "A02", "A03", "A04"}  # fmt: skip
    assert len(loop.route) >= 2
    assert not [p for p in window.document.figures.problems if p.severity == "over"]
    assert isinstance(window.scene.items_by_id[loop.id], LoopItem)


def test_dragging_a_bend_reroutes_the_pipe(window: MainWindow, qtbot) -> None:
    window.tools.grid_box.setValue(0.0)  # grid off: the bend goes exactly where it is dropped
    window.select_entity("L-A1")
    route = window.document.design.loops[0].route
    x_m, y_m = route[2]
    drag(qtbot, window, (x_m, y_m), (x_m + 1.2, y_m + 0.6))
    # Dropped where the mouse was released, to within a pixel (about 0.02 m at this zoom).
    assert window.document.design.loops[0].route[2] == pytest.approx((x_m + 1.2, y_m + 0.6),
                                                                     abs=0.02)  # fmt: skip
    assert window.document.undo_stack.count() == 1


def test_editing_a_property_updates_figures_and_overlay(window: MainWindow, qtbot) -> None:
    window.select_entity("CDU-A1")
    window.controller.set_field(FieldEdit(("CDU-A1",), "capacity_kw", 400.0))
    # L-A1 carries 448.8 kW: over a 400 kW CDU.
    assert window.scene.items_by_id["L-A1"].pen().color() == OVER
    assert any(p.entity_id == "L-A1" and p.severity == "over"
               for p in window.document.figures.problems)  # fmt: skip
    window.plan_view.fit_hall()
    image = window.plan_view.viewport().grab().toImage()
    pipe = window.document.design.loops[0].route[-1]
    pixel = window.plan_view.mapFromScene(QPointF(pipe[0] - 0.3, pipe[1]))
    assert image.pixelColor(pixel).name() == OVER.name()


def test_save_reopen_and_compare(window: MainWindow, qtbot, tmp_path: Path) -> None:
    window.controller.nudge(Nudge(("B03",), 0.6, 0.0))
    window.controller.set_field(FieldEdit(("C02",), "it_power_kw", 18.5))
    path = tmp_path / "edited.json"
    with qtbot.waitSignal(window.files.saved, timeout=10_000):
        window.files.save_to(path)
    assert not window.isWindowModified()
    assert window.windowTitle().startswith("Hall 1 (demo AI factory) — edited.json")
    assert load_design(path) == window.document.design
    edited = window.document.design.model_copy(deep=True)
    with qtbot.waitSignal(window.design_shown, timeout=10_000):
        window.open_file(path)
    assert window.document.design == edited
    assert window.document.path == path


def test_exports_write_png_svg_and_csv(window: MainWindow, qtbot, tmp_path: Path) -> None:
    window.files.export_to(ExportFormat.PNG, tmp_path / "plan.png")
    window.files.export_to(ExportFormat.SVG, tmp_path / "plan.svg")
    assert (tmp_path / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "plan.svg").read_text()
    assert "<svg" in svg and "A01" in svg
    window.files.export_to(ExportFormat.CSV, tmp_path / "figures.csv")
    qtbot.waitUntil(lambda: (tmp_path / "figures.csv").exists(), timeout=5000)
    lines = (tmp_path / "figures.csv").read_text().splitlines()
    assert lines[0] == "section,entity,quantity,unit,value"
    assert "facility,facility,it_power,kW,2316.0" in lines


def test_autosave_writes_unsaved_changes_after_its_interval(qtbot) -> None:
    """Nobody saves: once the interval has passed, the unsaved nudge is in the recovery file on
    disk, with the file it came from; a normal close removes the recovery file."""
    autosave = recovery_file(os.getpid())
    with editor_window(autosave_interval_s=0.2) as window:
        with qtbot.waitSignal(window.design_shown, timeout=10_000):
            window.open_file(demo_path())
        window.tools.grid_box.setValue(0.6)
        window.select_entity("C01")
        window.plan_view.setFocus()
        qtbot.keyClick(window.plan_view, Qt.Key.Key_Right)  # 3.5 + 0.6 snaps to 4.2
        qtbot.waitUntil(autosave.exists, timeout=10_000)
        header, _, body = autosave.read_text(encoding="utf-8").partition("\n")
        assert json.loads(header)["original_path"] == str(demo_path())
        recovered = parse_design(body.encode(), str(autosave))
        assert next(r for r in recovered.racks if r.id == "C01").x_m == pytest.approx(4.2)
        assert recovered == window.document.design
    assert not autosave.exists()


def test_autosave_writes_a_newly_opened_document_at_its_first_edit(qtbot, tmp_path) -> None:
    """A second document whose undo stack reaches the same position as the first one's did at
    the last write is still written: what is unsaved is a different design."""
    autosave = recovery_file(os.getpid())
    other = tmp_path / "other.json"
    other.write_bytes(demo_path().read_bytes())
    with editor_window() as window:
        for path, rack_id in ((demo_path(), "C01"), (other, "C02")):
            with qtbot.waitSignal(window.design_shown, timeout=10_000):
                window.open_file(path)
            window.tools.grid_box.setValue(0.6)
            window.select_entity(rack_id)
            window.plan_view.setFocus()
            qtbot.keyClick(window.plan_view, Qt.Key.Key_Right)
            window.autosave.write()
            qtbot.waitUntil(lambda path=path: autosave.exists() and json.loads(
                autosave.read_text(encoding="utf-8").partition("\n")[0]
            )["original_path"] == str(path), timeout=10_000)  # fmt: skip
            window.document.undo_stack.setClean()  # open the next one without a question
    assert not autosave.exists()


CHILD = """
import os, sys
from factoryfloor.resources import demo_path
from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow
from factoryfloor.widgets.plan_tools import Nudge
app = create_application()
window = MainWindow()
window.show()
window.tools.grid_box.setValue(0.6)
def edit(_path):
    window.controller.nudge(Nudge(("A01",), 0.6, 0.0))
    window.autosave.write()
window.design_shown.connect(edit)
window.open_file(demo_path())
app.exec()
"""


def test_unsaved_changes_are_offered_after_a_crash(qtbot) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT,
                             env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    autosave = recovery_file(child.pid)
    deadline = time.monotonic() + 30
    while not autosave.exists() and time.monotonic() < deadline and child.poll() is None:
        qtbot.wait(50)
    assert autosave.exists(), "the child never autosaved"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)

    with editor_window() as window:
        with qtbot.waitSignal(window.recovery_offer.recovery_offered, timeout=5000):
            window.start(demo_path())
        question = window.findChild(QMessageBox, "recoveryQuestion")
        recover = next(b for b in question.buttons() if b.text() == "Recover")
        with qtbot.waitSignal(window.design_shown, timeout=10_000):
            qtbot.mouseClick(recover, Qt.MouseButton.LeftButton)
        a01 = rack(window, "A01")
        # The unsaved nudge survived the crash: 3.8 + 0.6 = 4.4 m, snapped to the 0.6 m grid.
        assert a01.x_m == pytest.approx(4.2)
        assert window.document.path == demo_path()
        assert window.isWindowModified()
        assert not autosave.exists()
        # Recovered, it is still the built-in demo: Save asks for a name of the user's own.
        window.files.save()
        dialog = window.findChild(QFileDialog, "saveAsDialog")
        qtbot.waitUntil(dialog.isVisible, timeout=5000)
        dialog.reject()
