"""A real ``factoryfloor serve`` on a hall with one alarm that fires at once (rack A01 drawing
over 1 kW), with an operator, a viewer and an engineer, and windows attached to it."""

from __future__ import annotations

import json
from pathlib import Path

from service_process import DEMO, ServiceProcess

from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.service.client import Credentials
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.service.users import UserStore

PASSWORD = "correct horse battery"
ALARM = "a01-power@A01"


def alarming_hall(folder: Path) -> Path:
    """The demo hall with one rule that fires at once: rack A01 drawing over 1 kW."""
    tree = json.loads(DEMO.read_text(encoding="utf-8"))
    tree["alarm_rules"] = [{"id": "a01-power", "kind": "threshold", "priority": "high",
                            "series": "rack", "quantity": "power_kw", "entities": ["A01"],
                            "direction": "high", "limit": 1.0}]  # fmt: skip
    design = folder / "hall.json"
    design.write_text(json.dumps(tree), encoding="utf-8")
    return design


def alarm_service(folder: Path) -> ServiceProcess:
    """Started, with olga (operator), vic (viewer) and eve (engineer)."""
    design = alarming_hall(folder)
    users = UserStore(folder / "data")
    users.add("olga", PASSWORD, Role.OPERATOR, "test")
    users.add("vic", PASSWORD, Role.VIEWER, "test")
    users.add("eve", PASSWORD, Role.ENGINEER, "test")
    return ServiceProcess(design, folder / "data").start()


def alarm_window(qtbot, windows: list[MainWindow], service: ServiceProcess,
                 user: str) -> MainWindow:  # fmt: skip
    """A window attached as ``user``, in Run, once its Alarms dock lists the alarm."""
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    windows.append(window)
    window.services.connect_to(service.address, Credentials(user, PASSWORD))
    table = window.run_view.alarm_panel.table
    qtbot.waitUntil(lambda: window.run_view.running and table.rowCount() == 1, timeout=30_000)
    return window
