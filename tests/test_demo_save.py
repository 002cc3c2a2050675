"""The built-in demo is FactoryFloor's own file: saving it asks for a name of the user's, and no
save ever writes into the installed package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from demo_window import close, open_demo
from PySide6.QtWidgets import QFileDialog, QMessageBox

from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.design.design_file import load_design
from factoryfloor.resources import bundled_folder, demo_path, is_bundled
from factoryfloor.widgets.plan_tools import Nudge


@pytest.fixture
def demo(qtbot) -> Iterator[MainWindow]:
    main = open_demo(qtbot)
    yield main
    if main.document is not None:
        main.document.undo_stack.setClean()  # close without the "save changes?" question
    close(main)


def save_as_dialog(qtbot, window: MainWindow) -> QFileDialog:
    dialog = window.findChild(QFileDialog, "saveAsDialog")
    assert dialog is not None, "Save did not ask for a file name"
    qtbot.waitUntil(dialog.isVisible, timeout=5000)
    return dialog


def test_ctrl_s_on_the_demo_asks_for_a_file_name_and_the_bundled_file_is_untouched(
    demo: MainWindow, qtbot, tmp_path: Path
) -> None:
    bundled = demo_path().read_bytes()
    assert "built-in demo" in demo.windowTitle()
    demo.controller.nudge(Nudge(("B03",), 0.6, 0.0))

    demo.menus.save_action.trigger()  # Ctrl+S
    dialog = save_as_dialog(qtbot, demo)
    offered = Path(dialog.selectedFiles()[0])
    assert offered.name == "demo_hall.json" and not is_bundled(offered)
    dialog.selectFile(str(tmp_path / "my hall"))
    with qtbot.waitSignal(demo.files.saved, timeout=10_000) as saved:
        dialog.accept()

    mine = tmp_path / "my hall.json"
    assert saved.args == [str(mine)]
    assert load_design(mine) == demo.document.design
    assert demo.windowTitle().startswith("Hall 1 (demo AI factory) — my hall.json")
    assert not demo.isWindowModified()
    assert demo_path().read_bytes() == bundled

    # From now on the design has a file of its own: Ctrl+S writes it without asking.
    demo.controller.nudge(Nudge(("B03",), 0.6, 0.0))
    with qtbot.waitSignal(demo.files.saved, timeout=10_000):
        demo.menus.save_action.trigger()
    assert load_design(mine) == demo.document.design
    assert demo_path().read_bytes() == bundled


def test_no_save_writes_into_the_installed_package(demo: MainWindow, qtbot) -> None:
    """Save As aimed at the package folder, by any spelling of the path, is refused with a
    message that says why; the demo, the folder and the unsaved edit are as they were."""
    bundled = demo_path().read_bytes()
    folder = sorted(bundled_folder().iterdir())
    demo.controller.nudge(Nudge(("B03",), 0.6, 0.0))
    targets = [demo_path(), bundled_folder() / "mine.json",
               bundled_folder() / "nowhere" / ".." / "demo_hall.json"]  # fmt: skip
    for target in targets:
        demo.files.save_to(target)
        boxes = [b for b in demo.findChildren(QMessageBox) if b.isVisible()]
        assert [b.windowTitle() for b in boxes] == ["Could not save design"], target
        assert "never overwritten" in boxes[0].text()
        assert str(bundled_folder()) in boxes[0].detailedText()
        boxes[0].close()
    assert demo_path().read_bytes() == bundled
    assert sorted(bundled_folder().iterdir()) == folder
    assert demo.isWindowModified()
