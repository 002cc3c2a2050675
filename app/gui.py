"""Start the Qt application on a design file."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow


def create_application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("FactoryFloor")
    app.setApplicationName("FactoryFloor")
    app.setStyle("Fusion")
    return app


def run_gui(path: Path) -> int:
    app = create_application()
    window = MainWindow()
    window.show()
    window.start(path)
    return app.exec()
