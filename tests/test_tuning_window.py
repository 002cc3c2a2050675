"""Tuning from the window: "Tune tokens per joule…" on a rack or loop in Run, and the dialog
following a real service's sweep live, with its recommendation applied."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alarm_service import alarm_service, alarm_window
from PySide6.QtWidgets import QMenu
from service_process import ServiceProcess
from test_tuning_service import short_windows  # noqa: F401  (a fixture)

SCREENSHOTS = os.environ.get("FACTORYFLOOR_SCREENSHOTS")
pytest_plugins = ["window_fixtures"]


@pytest.fixture
def tuning_service(tmp_path: Path, short_windows) -> Iterator[ServiceProcess]:  # noqa: F811
    process = alarm_service(tmp_path)
    yield process
    process.stop()


def test_the_dialog_follows_a_sweep_and_applies_its_recommendation(
    qtbot, windows, tuning_service
) -> None:
    window = alarm_window(qtbot, windows, tuning_service, "olga")
    tuning = window.run_view.tuning
    menu = QMenu()
    tuning.add_action(menu, "A01")
    assert [a.text() for a in menu.actions()] == ["Tune tokens per joule…"]
    dialog = tuning.open("A01", ("A01",))
    qtbot.addWidget(dialog)
    assert not dialog.apply.isEnabled()
    qtbot.waitUntil(dialog.start.isEnabled)
    dialog.start.click()
    qtbot.waitUntil(lambda: dialog.apply.isEnabled() or "every GPU" in dialog.status.text(),
                    timeout=90_000)  # fmt: skip
    if not dialog.apply.isEnabled():  # asked before the service heard every GPU: ask again
        dialog.start.click()
        qtbot.waitUntil(dialog.apply.isEnabled, timeout=90_000)
    assert dialog.status.text().startswith("Measured")
    assert dialog.recommendation.text().startswith("Recommended: ")
    assert len(dialog.per_joule.curve.getData()[0]) >= 3
    if SCREENSHOTS:
        dialog.grab().save(str(Path(SCREENSHOTS) / "tuning_dialog.png"))
    dialog.apply.click()
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Recommendation applied"),
                    timeout=30_000)  # fmt: skip
    assert not dialog.apply.isEnabled() and dialog.start.isEnabled()
