"""Main windows opened by a test and closed after it, detached from any service first.

Use from a test module with ``pytest_plugins = ["window_fixtures"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow


@pytest.fixture
def windows(qtbot) -> Iterator[list[MainWindow]]:
    create_application()
    opened: list[MainWindow] = []
    yield opened
    for window in opened:
        window.services.disconnect()
        window.close()
        window.deleteLater()
