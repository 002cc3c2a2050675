"""Scrubbing back in Run mode: the plan, the tiles, the plots and the heatmap show the chosen
moment as the service recorded it, the label says which moment it is, and Live returns."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from demo_window import close, open_demo

from factoryfloor.widgets.time_control import SPAN_S, TimeControl, ago_text

SCREENSHOTS = os.environ.get("FACTORYFLOOR_SCREENSHOTS")


def tile_kw(window) -> float:
    text = window.run_view.live_panel.tiles["it_power_kw"].value.text()
    return float(text.split()[0].replace(",", ""))


@pytest.fixture
def running(qtbot):
    window = open_demo(qtbot)
    window.run_action.trigger()
    history = window.run_view.run_mode.recorded

    # 6 s of readings recorded, so there is a past to go back to
    def six_seconds_recorded() -> bool:
        values = history.series_window(["facility/it_power_kw"], 6.0).values
        return values.size == 6 and bool(np.isfinite(values).all())

    qtbot.waitUntil(six_seconds_recorded, timeout=30_000)
    yield window
    close(window)


def test_a_chosen_moment_is_shown_everywhere_and_live_returns(running, qtbot) -> None:
    window = running
    control = window.run_view.time_control
    run_mode = window.run_view.run_mode
    moment_s = time.time() - 4.0
    recorded = window.run_view.history.series_window(["facility/it_power_kw"], 1.0, moment_s)
    expected_kw = float(recorded.values[-1, 0])
    shown: list[object] = []
    run_mode.live.connect(shown.append)
    control.choose(moment_s)

    assert control.label.text().startswith("Showing ") and "4 s ago" in control.label.text()
    assert window.run_view.plots._paused and window.run_view.heatmap.paused
    heatmap = window.run_view.heatmap  # drawn when the service's answer comes
    qtbot.waitUntil(lambda: abs(heatmap.shown_until_s - moment_s) <= 1.0, timeout=5_000)
    caption = window.run_view.live_panel.tiles["it_power_kw"].caption.text()
    assert caption == f"IT power (at {time.strftime('%H:%M:%S', time.localtime(moment_s))})"
    qtbot.waitUntil(lambda: bool(shown), timeout=10_000)
    # The service's record of that second, as the window recorded it: same frames, same mean.
    assert tile_kw(window) == pytest.approx(expected_kw, rel=0.02)
    count = len(shown)
    qtbot.wait(1200)  # a live frame would redraw the tiles within the heartbeat
    assert len(shown) == count, "live frames drawn over the chosen moment"
    if SCREENSHOTS:
        window.grab().save(str(Path(SCREENSHOTS) / "time-control.png"))

    control.live_button.click()
    assert control.label.text() == "Live" and not window.run_view.plots._paused
    assert window.run_view.live_panel.tiles["it_power_kw"].caption.text() == "IT power (live)"
    qtbot.waitUntil(lambda: len(shown) > count, timeout=5_000)


def test_the_slider_chooses_how_far_back(qtbot) -> None:
    control = TimeControl()
    qtbot.addWidget(control)
    chosen: list[object] = []
    control.moment_chosen.connect(chosen.append)
    control.slider.setValue(SPAN_S - 600)  # ten minutes back, as a drag let go there
    assert chosen and chosen[-1] == pytest.approx(time.time() - 600, abs=2)
    assert "10 min ago" in control.label.text()
    control.slider.setValue(SPAN_S)
    assert chosen[-1] is None and control.label.text() == "Live"
    assert ago_text(3 * 3600 + 20 * 60) == "3 h 20 min"
