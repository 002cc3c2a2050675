"""A telemetry backend killed under a running window: noticed at once, said on screen with the
reason, nothing shown as live, and a new backend started."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from demo_window import close, open_demo
from PySide6.QtCore import Qt

from factoryfloor.app.main_window import MainWindow
from factoryfloor.widgets.colour_scale import NO_READING_CODE
from factoryfloor.widgets.floor_plan import NO_READING_FILL

pytestmark = pytest.mark.skipif(not Path("/dev/shm").is_dir(),
                                reason="needs POSIX signals")  # fmt: skip

SCREENSHOTS = os.environ.get("FACTORYFLOOR_SCREENSHOTS")
"""A folder to save the window in the stopped state to, for a look at it."""


@pytest.fixture
def window(qtbot):
    main = open_demo(qtbot)
    yield main
    close(main)


def live_power(window: MainWindow) -> str:
    return window.run_view.live_panel.tiles["it_power_kw"].value.text()


def wait_for_live_data(window: MainWindow, qtbot) -> None:
    qtbot.waitUntil(lambda: live_power(window) not in ("-", "n/a"), timeout=30_000)


def test_a_killed_backend_is_reported_shown_as_missing_and_restarted(
    window: MainWindow, qtbot
) -> None:
    window.run_action.trigger()
    wait_for_live_data(window, qtbot)
    run_mode = window.run_view.run_mode
    client = run_mode.client
    banner = window.run_view.backend_banner
    assert not banner.isVisible()

    status_messages: list[str] = []
    window.statusBar().messageChanged.connect(status_messages.append)
    os.kill(client.process.pid, signal.SIGKILL)

    # Two frame ticks (250 ms each) on a busy machine: well within 3 s.
    qtbot.waitUntil(banner.isVisible, timeout=3_000)
    text = banner.label.text()
    assert text.startswith("Telemetry backend stopped at ")
    assert "(killed by SIGKILL)" in text and "no live readings" in text
    assert "Restarting in 1 s (attempt 1)" in text
    assert window.statusBar().currentMessage() == text  # not the last source status, as if live

    # Nothing reads as live: no figures, racks without a reading, gaps in the history.
    tiles = window.run_view.live_panel.tiles
    assert live_power(window) == "n/a"
    assert tiles["gpus_busy"].value.text() == tiles["alarms"].value.text() == "n/a"
    assert window.scene.items_by_id["A01"].brush().color() == NO_READING_FILL
    history = run_mode.recorded

    heatmap = window.run_view.heatmap

    def newest_columns_empty() -> bool:  # the newest 1 s column, once it holds no live reading
        power = history.series_window(["facility/it_power_kw"], 1.0).values
        return (
            bool(np.isnan(power[-1]).all())
            and heatmap.shown is not None
            and bool((heatmap.shown[-1] == NO_READING_CODE).all())
        )

    qtbot.waitUntil(newest_columns_empty, timeout=5_000)
    if SCREENSHOTS:
        window.grab().save(str(Path(SCREENSHOTS) / "backend-stopped.png"))

    # A new backend one second later, and live readings again.
    qtbot.waitUntil(lambda: run_mode.client is not None and run_mode.client is not client,
                    timeout=10_000)  # fmt: skip
    wait_for_live_data(window, qtbot)
    qtbot.waitUntil(lambda: not banner.isVisible(), timeout=10_000)
    assert "Telemetry backend restarted: readings are live again" in status_messages
    assert math.isfinite(float(live_power(window).split()[0].replace(",", "")))
    assert not client.alive


def test_restart_now_starts_a_new_backend_without_waiting(window: MainWindow, qtbot) -> None:
    run_mode = window.run_view.run_mode
    window.run_action.trigger()
    wait_for_live_data(window, qtbot)
    for attempt in (1, 2):  # the second wait is 2 s: restarts keep failing until a frame comes
        client = run_mode.client
        os.kill(client.process.pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: run_mode.backend_down, timeout=3_000)
        assert f"(attempt {attempt})" in window.run_view.backend_banner.label.text()
        if attempt == 1:
            qtbot.waitUntil(lambda: run_mode.client is not None, timeout=10_000)
    assert "Restarting in 2 s" in window.run_view.backend_banner.label.text()
    window.run_view.backend_banner.button.click()
    assert run_mode.client is not None
    assert "Restarting now (attempt 2)" in window.run_view.backend_banner.label.text()
    wait_for_live_data(window, qtbot)
    qtbot.waitUntil(lambda: not window.run_view.backend_banner.isVisible(), timeout=10_000)


def test_leaving_run_is_not_reported_as_a_lost_backend(window: MainWindow, qtbot) -> None:
    window.run_action.trigger()
    wait_for_live_data(window, qtbot)
    client = window.run_view.run_mode.client
    window.design_action.trigger()
    qtbot.waitUntil(lambda: not client.alive, timeout=15_000)
    client.poll()
    assert client.lost is None
    assert not window.run_view.backend_banner.isVisible()


def test_the_control_room_wall_says_so_too(window: MainWindow, qtbot) -> None:
    from factoryfloor.app.control_room import PANELS, WallLayout

    window.show_control_room(WallLayout(panels=list(PANELS), rotating=False))
    wall = window.control_room
    wait_for_live_data(window, qtbot)
    run_mode = window.run_view.run_mode
    os.kill(run_mode.client.process.pid, signal.SIGKILL)
    qtbot.waitUntil(wall.alert.isVisible, timeout=3_000)
    assert "(killed by SIGKILL)" in wall.alert.label.text()
    assert not wall.alert.button.isVisible()  # a wall is read, not clicked
    qtbot.waitUntil(lambda: wall.kpis.tiles["it_power_kw"].value.text() == "n/a", timeout=3_000)
    if SCREENSHOTS:
        wall.grab().save(str(Path(SCREENSHOTS) / "backend-stopped-wall.png"))
    qtbot.waitUntil(lambda: not wall.alert.isVisible(), timeout=30_000)
    qtbot.keyClick(wall, Qt.Key.Key_Escape)
