"""A real ``factoryfloor serve`` on a hall with one alarm that fires at once (rack A01 drawing
over 1 kW), with an operator, a viewer and an engineer, and windows attached to it.

Its fixtures (``service``, ``attach``) are loaded for every test by ``conftest``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from service_process import DEMO, ServiceProcess

from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.service.client import Credentials, ServiceClient
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.service.users import UserStore
from factoryfloor.backend.telemetry.protocol import Reply, Request

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


def settle(predicate: Callable[[], object], *clients: ServiceClient,
           timeout_s: float = 30.0) -> bool:  # fmt: skip
    """Read what the service sends the clients until ``predicate`` holds."""
    deadline = time.monotonic() + timeout_s
    while (left_s := deadline - time.monotonic()) > 0:
        for client in clients:
            client.poll()
        if predicate():
            return True
        clients[0].wait(min(left_s, 0.1))
    return False


def ask(client: ServiceClient, request: Request) -> Reply:
    """Send ``request`` and read until its reply comes."""
    answers: list[Reply] = []
    client.send(request, lambda reply, _parts: answers.append(reply))
    assert settle(lambda: answers, client)
    return answers[0]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    process = alarm_service(tmp_path)
    yield process
    process.stop()


@pytest.fixture
def attach(service: ServiceProcess) -> Iterator[Callable[[str], ServiceClient]]:
    clients: list[ServiceClient] = []

    def attach(user: str) -> ServiceClient:
        client = ServiceClient(service.address, Credentials(user, PASSWORD))
        clients.append(client)
        return client

    yield attach
    for client in clients:
        client.close()


def search_and_wait(qtbot, view) -> None:
    """Press a record view's Search (journal, audit log) with its filters filled, and wait
    for the service's answer: the rows go, then the count line says what came."""
    view.table.setRowCount(0)
    view.count.setText("")
    view.search_button.click()
    qtbot.waitUntil(lambda: view.count.text() != "", timeout=10_000)
