"""The main window on the demo hall, for tests of the Run view."""

from __future__ import annotations

from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow
from factoryfloor.resources import demo_path


def open_demo(qtbot) -> MainWindow:
    """A shown main window with the demo hall open (and unmodified, so it closes quietly)."""
    create_application()
    main = MainWindow()
    main.resize(1400, 900)
    main.show()
    with qtbot.waitSignal(main.design_shown, timeout=10_000):
        main.open_file(demo_path())
    return main


def close(main: MainWindow) -> None:
    main.enter_design()
    main.close()
    main.deleteLater()
