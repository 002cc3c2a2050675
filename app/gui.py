"""Start the Qt application on a design file."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.service.client import Credentials, ServiceAddress


def create_application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("FactoryFloor")
    app.setApplicationName("FactoryFloor")
    app.setStyle("Fusion")
    return app


def run_gui(path: Path, wall: bool = False, service: ServiceAddress | None = None) -> int:
    """Open ``path``, or attach to ``service`` and show its design; with ``wall``, go on to Run
    mode on the control-room wall once shown."""
    app = create_application()
    window = MainWindow()
    window.show()
    if wall:
        window.design_shown.connect(
            lambda _: window.show_control_room(), Qt.ConnectionType.SingleShotConnection
        )
    if service is not None:
        window.services.connect_to(service, Credentials())
    else:
        window.start(path)
    return app.exec()
