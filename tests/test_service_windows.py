"""Windows attached to a real ``factoryfloor serve``: the same live state in two windows, the
service's design on screen, File > Connect with a sign-in, a service that dies and returns, and
an engineer's applied design followed by every window."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox
from service_process import DEMO, ServiceProcess

from factoryfloor.app.connect_dialog import ConnectDialog
from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.design.edits import set_field
from factoryfloor.backend.service.client import Credentials, ServiceClient
from factoryfloor.backend.service.gpu_rows_transfer import ServiceGpuRows
from factoryfloor.backend.service.keys import KnownServices
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.service.users import UserStore
from factoryfloor.backend.telemetry.gpu_rows import GpuRows
from factoryfloor.widgets.floor_plan import NO_READING_FILL

PASSWORD = "correct horse battery"
SCREENSHOTS = os.environ.get("FACTORYFLOOR_SCREENSHOTS")

pytest_plugins = ["window_fixtures"]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    design = tmp_path / "hall.json"
    shutil.copy(DEMO, design)
    UserStore(tmp_path / "data").add("eve", PASSWORD, Role.ENGINEER, "test")
    process = ServiceProcess(design, tmp_path / "data").start()
    yield process
    process.stop()


def attached_window(qtbot, windows: list[MainWindow], service: ServiceProcess,
                    credentials: Credentials | None = None) -> MainWindow:  # fmt: skip
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    windows.append(window)
    window.services.connect_to(service.address, credentials or Credentials())
    qtbot.waitUntil(lambda: window.run_view.running and live(window) not in ("-", "n/a"),
                    timeout=30_000)  # fmt: skip
    return window


def live(window: MainWindow) -> str:
    return window.run_view.live_panel.tiles["it_power_kw"].value.text()


def test_two_windows_show_the_service_design_running(qtbot, windows, service) -> None:
    first = attached_window(qtbot, windows, service)
    second = attached_window(qtbot, windows, service)
    for window in (first, second):
        assert window.document.design.name == "Hall 1 (demo AI factory)"
        assert f"service 127.0.0.1:{service.port}, design version 1" in window.windowTitle()
        assert "viewer" in window.windowTitle()
    assert first.run_view.run_mode.client.keys[:100] == second.run_view.run_mode.client.keys[:100]
    if SCREENSHOTS:
        first.grab().save(str(Path(SCREENSHOTS) / "attached.png"))


def test_a_window_says_at_once_that_its_service_died_and_is_live_again_when_it_returns(
    qtbot, windows, service
) -> None:
    window = attached_window(qtbot, windows, service)
    banner = window.run_view.backend_banner
    service.kill()
    qtbot.waitUntil(banner.isVisible, timeout=5_000)
    assert f"The service at 127.0.0.1:{service.port} has not answered since" in (
        banner.label.text())  # fmt: skip
    assert not banner.button.isVisible()  # a window cannot restart a service it attached to
    assert window.run_action.isChecked()
    qtbot.waitUntil(lambda: live(window) == "n/a", timeout=3_000)
    assert window.scene.items_by_id["A01"].brush().color() == NO_READING_FILL
    if SCREENSHOTS:
        window.grab().save(str(Path(SCREENSHOTS) / "service-gone.png"))
    service.start()
    qtbot.waitUntil(lambda: not banner.isVisible(), timeout=30_000)
    qtbot.waitUntil(lambda: live(window) not in ("-", "n/a"), timeout=30_000)


def test_connect_dialog_signs_in_with_the_known_key(qtbot, windows, service, tmp_path) -> None:
    known = KnownServices(tmp_path / "known.json")
    known.pin(f"127.0.0.1:{service.port}", service.public_key)
    dialog = ConnectDialog(None, f"127.0.0.1:{service.port}", known)
    qtbot.addWidget(dialog)
    assert dialog.key_edit.text() == service.public_key  # pinned: no need to paste it again
    dialog.user_edit.setText("eve")
    dialog.accept()
    assert "password" in dialog.error_label.text()  # a user name and no password
    dialog.password_edit.setText(PASSWORD)
    dialog.accept()
    address, credentials = dialog.chosen
    assert address == service.address
    window = attached_window(qtbot, windows, service, credentials)
    qtbot.waitUntil(lambda: "signed in as eve (engineer)" in window.windowTitle(), timeout=5_000)


def test_a_wrong_password_is_refused_with_the_reason(qtbot, windows, service, monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text: warnings.append(text))
    window = MainWindow()
    windows.append(window)
    window.services.connect_to(service.address, Credentials("eve", "not her password"))
    qtbot.waitUntil(lambda: bool(warnings), timeout=15_000)
    assert warnings[0].endswith("refused this window: sign-in refused: unknown user name or "
                                "wrong password")  # fmt: skip
    assert not window.services.attached


def test_an_applied_design_is_followed_by_every_window(qtbot, windows, service, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *_: QMessageBox.StandardButton.Yes)  # fmt: skip
    eve = attached_window(qtbot, windows, service, Credentials("eve", PASSWORD))
    wall = attached_window(qtbot, windows, service)
    qtbot.waitUntil(lambda: eve.services.connection.role is Role.ENGINEER, timeout=5_000)
    assert eve.menus.apply_design_action.isEnabled()
    assert not wall.menus.apply_design_action.isEnabled()  # a viewer cannot apply
    eve.enter_design()
    eve.document.push(set_field(eve.document.design, ["A01"], "it_power_kw", 33.0))
    eve.services.apply_design()
    qtbot.waitUntil(lambda: wall.services.connection.design_version == 2, timeout=15_000)
    a01 = lambda: next(r for r in wall.document.design.racks if r.id == "A01")  # noqa: E731
    qtbot.waitUntil(lambda: a01().it_power_kw == 33.0, timeout=15_000)
    assert wall.run_view.running  # it follows the new version without leaving Run
    assert "design version 2" in wall.windowTitle()
    assert not eve.document.is_modified  # the service holds the edits now


def test_a_window_opened_on_a_running_service_shows_its_past_at_once(
    qtbot, windows, service
) -> None:
    watcher = ServiceClient(service.address)
    try:  # the service has run for a while (3 s of frames) before the window opens
        qtbot.waitUntil(lambda: watcher.poll() is not None and watcher._header is not None
                        and watcher._header.seq > 30, timeout=30_000)  # fmt: skip
    finally:
        watcher.close()
    opened_s = time.time()
    window = attached_window(qtbot, windows, service)
    history = window.run_view.history

    def past_shown() -> bool:
        recorded = history.series_window(["facility/it_power_kw"], 60.0)
        before = recorded.times_s < opened_s - 2.0
        return bool(np.isfinite(recorded.values[before]).any())

    qtbot.waitUntil(past_shown, timeout=10_000)
    heatmap = window.run_view.heatmap

    def heatmap_shows_the_past() -> bool:  # asked of the service: the window keeps no GPU's
        if heatmap.shown_values is None:
            return False
        drawn = heatmap.drawn
        buckets = np.arange(drawn.newest_bucket - drawn.columns + 1, drawn.newest_bucket + 1)
        before = (buckets + 0.5) * drawn.resolution_s < opened_s - 2.0
        return bool(np.isfinite(heatmap.shown_values[before]).any())

    qtbot.waitUntil(heatmap_shows_the_past, timeout=10_000)


def test_the_heatmap_shows_each_groups_hottest_gpu_from_the_service(qtbot, windows,
                                                                    service) -> None:  # fmt: skip
    """The window keeps no GPU's history: its heatmap asks the service for the rows it draws,
    each the hottest GPU of the GPUs it covers, and hovering names that GPU. Checked against
    every GPU of the same rows and columns, asked of the service one by one."""
    window = attached_window(qtbot, windows, service)
    run_view = window.run_view
    history, heatmap = run_view.history, run_view.heatmap
    assert not history.keep_gpus and history.nbytes == history.series.nbytes  # no GPU arrays
    run_view.quantity_box.setCurrentIndex(run_view.quantity_box.findData("temp_c"))

    def drawn_with_readings() -> bool:
        drawn = heatmap.drawn
        return (drawn is not None and drawn.quantity == "temp_c" and drawn.group > 1
                and bool(np.isfinite(heatmap.shown_values[-4:-1]).all()))  # fmt: skip

    qtbot.waitUntil(drawn_with_readings, timeout=15_000)
    run_view.plots.set_paused(True)  # the picture holds still to be pointed at
    assert heatmap.paused
    drawn = heatmap.drawn
    values, gpus = heatmap.shown_values.copy(), heatmap.shown_gpus.copy()
    answers: list[GpuRows] = []
    link = ServiceClient(service.address)
    try:
        ServiceGpuRows(lambda: link).ask(replace(drawn, group=1), answers.append)
        qtbot.waitUntil(lambda: link.poll() is not None and bool(answers), timeout=10_000)
    finally:
        link.close()
    every = answers[0].values  # (columns, GPU rows from drawn.first_row)
    closed = slice(-4, -1)  # columns whose buckets are over: the same in both answers
    short = -every.shape[1] % drawn.group  # the last group's missing rows: never the hottest
    padded = np.pad(every[closed], ((0, 0), (0, short)), constant_values=-np.inf)
    hottest = padded.reshape(3, -1, drawn.group).max(axis=2)  # NaN if one has no reading
    assert np.array_equal(values[closed], hottest, equal_nan=True)
    columns = np.arange(every.shape[0])[closed, None]
    assert np.array_equal(every[columns, gpus[closed] - drawn.first_row], values[closed])

    # Hover a pixel row whose hottest GPU is not its first: the tooltip names that GPU.
    column = heatmap.columns - 2
    band = int(np.flatnonzero(gpus[column] % drawn.group != 0)[0])
    hot_row = int(gpus[column, band])
    x_s = (drawn.newest_bucket - 1 + 0.5) * drawn.resolution_s
    y = drawn.first_row + (band + 0.5) * drawn.group  # the middle of its pixel row
    pos = heatmap.plot.mapFromScene(heatmap.view.mapViewToScene(QPointF(x_s, y)))
    viewport = heatmap.plot.viewport()
    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(viewport.mapToGlobal(pos)),
                       Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(viewport, move)
    rack_id, gpu = history.gpu_rows[hot_row]
    qtbot.waitUntil(lambda: heatmap.hover_text.startswith(f"rack {rack_id}, GPU {gpu} · "),
                    timeout=2_000)  # fmt: skip
    assert heatmap.hover_text.endswith(f"{values[column, band]:,.1f} °C")
    if SCREENSHOTS:
        window.grab().save(str(Path(SCREENSHOTS) / "heatmap-from-service.png"))


def test_a_wall_display_attaches_as_a_viewer_and_runs_on_the_wall(qtbot, windows, service):
    """``factoryfloor --wall --connect HOST:PORT``: what run_gui does with both."""
    from PySide6.QtCore import Qt

    from factoryfloor.app.control_room import PANELS, WallLayout

    window = MainWindow()
    windows.append(window)
    window.show()
    window.design_shown.connect(
        lambda _: window.show_control_room(WallLayout(panels=list(PANELS), rotating=False)),
        Qt.ConnectionType.SingleShotConnection)  # fmt: skip
    window.services.connect_to(service.address, Credentials())
    qtbot.waitUntil(lambda: window.control_room is not None, timeout=30_000)
    wall = window.control_room
    qtbot.waitUntil(lambda: wall.kpis.tiles["it_power_kw"].value.text() not in ("-", "n/a"),
                    timeout=30_000)  # fmt: skip
    assert window.services.connection.role is Role.VIEWER
    service.kill()
    qtbot.waitUntil(wall.alert.isVisible, timeout=5_000)
    assert "has not answered since" in wall.alert.label.text()
    assert not wall.alert.button.isVisible()
    wall.close()


def test_a_service_that_does_not_answer_is_named_with_the_keys_fingerprint(
    qtbot, windows, service, monkeypatch
) -> None:
    """A wrong key fails CURVE's handshake without a word: the window says what it can."""
    from factoryfloor.backend.service.client import ServiceAddress
    from factoryfloor.backend.service.keys import KeyPair, fingerprint

    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text: warnings.append(text))
    window = MainWindow()
    windows.append(window)
    window.services.attach_timeout_s = 2.0
    wrong = KeyPair.generate().public
    window.services.connect_to(ServiceAddress("127.0.0.1", service.port, wrong), Credentials())
    qtbot.waitUntil(lambda: bool(warnings), timeout=10_000)
    assert f"No answer from the service at 127.0.0.1:{service.port} in 2 s" in warnings[0]
    assert fingerprint(wrong) in warnings[0]
    assert not window.services.attached
