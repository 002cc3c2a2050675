"""The Grid dock of a window attached to a real service: a signed grid target shows with its
cost before anything is done, on the plan too, and the operator's confirmation caps the feed."""

from __future__ import annotations

from pathlib import Path

from alarm_service import PASSWORD
from broker import Mosquitto
from grid_service import FEED, grid_service, signed, target
from PySide6.QtWidgets import QMessageBox

from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.service.client import Credentials

pytest_plugins = ["broker", "window_fixtures"]


def test_an_operator_sees_a_grid_target_and_its_cost_and_caps_the_feed_after_confirming(
    qtbot, windows: list[MainWindow], tmp_path: Path, mosquitto: Mosquitto
) -> None:
    grid = grid_service(tmp_path, mosquitto)
    try:
        window = MainWindow()
        window.resize(1600, 1000)
        window.show()
        windows.append(window)
        window.services.connect_to(grid.service.address, Credentials("olga", PASSWORD))
        panel = window.run_view.grid.panel

        def feed():
            shown = panel.grid
            return None if shown is None else next(f for f in shown.feeds if f.feed_id == FEED)

        qtbot.waitUntil(lambda: feed() is not None and feed().load_w is not None, timeout=30_000)
        grid.send(signed(grid.isv, target(round(0.9 * feed().load_w / 1000.0, 1))))
        qtbot.waitUntil(lambda: feed().tokens_lost_per_s is not None, timeout=30_000)
        row = [f.feed_id for f in panel.grid.feeds].index(FEED)
        panel.table.selectRow(row)
        cells = [panel.table.item(row, c).text() for c in range(panel.table.columnCount())]
        assert cells[2].startswith("≤ ") and "over by" in cells[4]
        assert "tok/s" in cells[5] and "tok/s" in cells[6], cells
        assert panel.caps.rowCount() > 0 and "given up" in panel.caps_note.text()
        label = window.run_view.scene.items_by_id[FEED]
        qtbot.waitUntil(lambda: "grid ≤" in " ".join(label.lines), timeout=10_000)
        window.run_view.grid_dock.show()
        window.run_view.grid_dock.raise_()
        window.grab().save(str(tmp_path / "grid.png"))
        panel.apply_button.click()
        box = window.run_view.grid.confirm
        assert box is not None and "Tokens given up" in box.text()
        apply = next(b for b in box.buttons()
                     if box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole)  # fmt: skip
        apply.click()
        qtbot.waitUntil(lambda: feed().applied is True, timeout=30_000)
        assert "olga" in panel.table.item(row, 4).text()
        assert panel.remove_button.isEnabled()
    finally:
        grid.close()
