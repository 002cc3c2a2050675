"""View > Alarm Journal and Report against a real ``factoryfloor serve``: the alarm raised and
acknowledged is listed, found by entity, priority and state, exported as CSV to a file, counted
in the performance report, read by a viewer, and still there after the service restarts."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from alarm_service import ALARM, alarm_window, alarming_hall, search_and_wait
from PySide6.QtGui import QAction

from factoryfloor.app.alarm_journal import NO_SERVICE, AlarmJournalDialog
from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.service.messages import JournalEntry, JournalSent
from factoryfloor.widgets.alarm_journal import AlarmJournalView

SCREENSHOTS = Path(os.environ.get("FACTORYFLOOR_SCREENSHOTS", "/tmp"))

pytest_plugins = ["window_fixtures"]


def journal_action(window: MainWindow) -> QAction:
    return next(a for a in window.findChildren(QAction)
                if a.text() == "Alarm &Journal and Report…")  # fmt: skip


def open_journal(qtbot, window: MainWindow) -> AlarmJournalDialog:
    """View > Alarm Journal and Report, once its first search is listed."""
    journal_action(window).trigger()
    dialog = window.findChild(AlarmJournalDialog)
    qtbot.waitUntil(lambda: dialog.view.table.rowCount() > 0, timeout=10_000)
    return dialog


def rows(dialog: AlarmJournalDialog) -> list[tuple[str, ...]]:
    """The listed entries' priority, entity, event, state change and user."""
    table = dialog.view.table
    return [tuple(table.item(r, c).text() for c in (1, 2, 4, 5, 6))
            for r in range(table.rowCount())]  # fmt: skip


def search(qtbot, dialog: AlarmJournalDialog, entity: str = "", priority: str = "Any priority",
           state: str = "Any state") -> list[tuple[str, ...]]:  # fmt: skip
    """Fill the filters, press Search, and wait for the service's answer."""
    view = dialog.view
    view.entity_edit.setText(entity)
    view.priority_box.setCurrentText(priority)
    view.state_box.setCurrentText(state)
    search_and_wait(qtbot, view)
    return rows(dialog)


RAISED = ("High", "A01", "active", "Normal → Unacknowledged", "system")
ACKNOWLEDGED = ("High", "A01", "acknowledge", "Unacknowledged → Acknowledged", "olga")


def test_the_journal_lists_finds_exports_and_reports_what_the_service_journaled(
    qtbot, windows, service, tmp_path
) -> None:
    olga = alarm_window(qtbot, windows, service, "olga")
    panel = olga.run_view.alarm_panel
    panel.table.selectRow(0)
    panel.note.setText("pump B swapped")
    panel.acknowledge_button.click()
    qtbot.waitUntil(lambda: panel.table.item(0, 3).text() == "Acknowledged", timeout=10_000)

    dialog = open_journal(qtbot, olga)
    view = dialog.view
    qtbot.waitUntil(lambda: len(rows(dialog)) == 2, timeout=10_000)
    assert rows(dialog) == [ACKNOWLEDGED, RAISED]  # newest first
    assert view.table.item(0, 7).text() == "pump B swapped"
    assert view.count.text() == "2 entries, newest first"

    assert search(qtbot, dialog, entity="A01") == [ACKNOWLEDGED, RAISED]
    assert search(qtbot, dialog, entity="B01") == []
    assert view.count.text() == "0 entries, newest first"
    assert search(qtbot, dialog, priority="Low") == []
    assert search(qtbot, dialog, priority="High") == [ACKNOWLEDGED, RAISED]
    assert search(qtbot, dialog, priority="High", state="To acknowledged") == [ACKNOWLEDGED]

    report = view.report
    qtbot.waitUntil(lambda: report.rate.text().startswith("1 new alarm,"), timeout=10_000)
    assert [report.priority_table.item(r, c).text() for r in range(3) for c in range(3)] == [
        "High", "100%", "5%", "Medium", "0%", "15%", "Low", "0%", "80%"]  # fmt: skip
    assert report.frequent_table.item(0, 0).text() == ALARM
    assert report.frequent_table.item(0, 1).text() == "1"
    assert report.floods.text() == "Floods (more than 10 new alarms in 10 min): 0"
    assert report.chattering.text() == "Chattering (3 or more in a minute): none"
    assert report.stale_table.rowCount() == 0

    target = tmp_path / "journal.csv"
    dialog.export(view.query(), target)
    qtbot.waitUntil(lambda: view.message.text().startswith("Exported"), timeout=10_000)
    assert view.message.text() == f"Exported 1 journal entry to {target}"  # the state filter
    with target.open(encoding="utf-8", newline="") as file:
        exported = list(csv.DictReader(file))
    assert [(e["alarm_id"], e["event"], e["new_state"], e["user"], e["note"]) for e in exported] \
        == [(ALARM, "acknowledge", "acknowledged", "olga", "pump B swapped")]  # fmt: skip

    nowhere = tmp_path / "no such folder" / "journal.csv"
    dialog.export(view.query(), nowhere)
    qtbot.waitUntil(lambda: "cannot write" in view.message.text(), timeout=10_000)
    assert view.message.text().startswith(f"{nowhere}: cannot write: ")
    assert not nowhere.exists()

    search(qtbot, dialog)
    view.tabs.setCurrentIndex(0)
    dialog.grab().save(str(SCREENSHOTS / "alarm_journal.png"))
    view.tabs.setCurrentIndex(1)
    dialog.grab().save(str(SCREENSHOTS / "alarm_report.png"))


def test_a_viewer_reads_the_journal_kept_across_a_service_restart(qtbot, windows, service) -> None:
    olga = alarm_window(qtbot, windows, service, "olga")
    panel = olga.run_view.alarm_panel
    panel.table.selectRow(0)
    panel.acknowledge_button.click()
    qtbot.waitUntil(lambda: panel.table.item(0, 3).text() == "Acknowledged", timeout=10_000)
    olga.services.disconnect()

    service.stop()
    service.start()
    vic = alarm_window(qtbot, windows, service, "vic")
    dialog = open_journal(qtbot, vic)
    listed = search(qtbot, dialog, entity="A01")
    assert listed.index(ACKNOWLEDGED) < listed.index(RAISED)
    assert dialog.view.message.text() == ""  # a viewer is not refused


def test_a_windows_own_service_answers_and_without_one_the_window_says_so(
    qtbot, windows, tmp_path
) -> None:
    create_application()
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    windows.append(window)
    with qtbot.waitSignal(window.design_shown, timeout=10_000):
        window.open_file(alarming_hall(tmp_path))
    journal_action(window).trigger()  # Design mode, attached to nothing: no journal to ask
    dialog = window.findChild(AlarmJournalDialog)
    assert dialog.view.message.text() == NO_SERVICE

    window.run_action.trigger()
    qtbot.waitUntil(lambda: window.run_view.alarm_panel.table.rowCount() == 1, timeout=30_000)
    dialog = open_journal(qtbot, window)
    assert rows(dialog) == [RAISED]
    assert dialog.view.message.text() == ""
    window.enter_design()  # closed in Design: the next window starts with the Design layout


def test_a_search_that_matched_more_than_was_sent_says_how_many_more(qtbot) -> None:
    view = AlarmJournalView()
    qtbot.addWidget(view)
    entry = JournalEntry(1.0e9, ALARM, "a01-power", "A01", "high", "active", "normal",
                         "unacknowledged", True, "A01: 3 kW", 3.0, "", "", None)  # fmt: skip
    view.show_entries(JournalSent("q1", (entry,) * 3, 2_500))
    assert view.table.rowCount() == 3
    assert view.count.text() == ("3 entries, newest first; 2,500 older ones also match: narrow "
                                 "the search or export them")  # fmt: skip
