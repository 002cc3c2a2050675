"""View > Audit Log against a real ``factoryfloor serve``: a viewer's refused acknowledgement and
power limit and an operator's accepted acknowledgement are listed with who, what, scope, old and
new state and result, found by user, action and result, exported as CSV, and verified intact,
then found altered at the line after one deleted from the file; a viewer is refused the log."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from alarm_service import ALARM, alarm_window, alarming_hall, ask, search_and_wait, settle
from PySide6.QtGui import QAction

from factoryfloor.app.audit_log import NO_SERVICE, AuditLogDialog
from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.service.control.commands import SetPowerLimit
from factoryfloor.backend.service.control.scope import entity_gpus
from factoryfloor.backend.service.messages import ActOnAlarm, SendCommand
from factoryfloor.backend.service.users import AUDIT_FILE
from factoryfloor.backend.telemetry.protocol import Refused

SCREENSHOTS = Path(os.environ.get("FACTORYFLOOR_SCREENSHOTS", "/tmp"))
VIEWER_REFUSED = ("The service sent no audit entries: reading the audit log needs the operator "
                  "role; this window is signed in as viewer")  # fmt: skip

pytest_plugins = ["window_fixtures"]


def open_audit_log(qtbot, window: MainWindow) -> AuditLogDialog:
    """View > Audit Log, once its first search is answered."""
    next(a for a in window.findChildren(QAction) if a.text() == "&Audit Log…").trigger()
    dialog = window.findChild(AuditLogDialog)
    qtbot.waitUntil(lambda: bool(dialog.view.count.text()) or dialog.view.message.text()
                    not in ("", "Searching…"), timeout=10_000)  # fmt: skip
    return dialog


def rows(dialog: AuditLogDialog) -> list[tuple[str, ...]]:
    """The listed entries' user, action, scope, result, old and new value and reason."""
    table = dialog.view.table
    return [tuple(table.item(r, c).text() for c in range(1, 8)) for r in range(table.rowCount())]


def search(qtbot, dialog: AuditLogDialog, user: str = "", action: str = "",
           result: str = "") -> list[tuple[str, ...]]:  # fmt: skip
    """Fill the filters, press Search, and wait for the service's answer."""
    view = dialog.view
    view.user_edit.setText(user)
    view.action_edit.setText(action)
    view.result_box.setCurrentText(result)
    search_and_wait(qtbot, view)
    return rows(dialog)


SUBJECT = f"alarm {ALARM}"
REFUSED = ("vic", "alarm.acknowledge", SUBJECT, "refused", "", "",
           f"{ALARM}: a viewer may not acknowledge alarms (needs operator or above)")  # fmt: skip


def accepted(qtbot, olga: MainWindow) -> None:
    panel = olga.run_view.alarm_panel
    panel.table.selectRow(0)
    panel.note.setText("crew on the way")
    panel.acknowledge_button.click()
    qtbot.waitUntil(lambda: panel.table.item(0, 3).text() == "Acknowledged", timeout=10_000)


def test_the_audit_log_lists_finds_exports_and_verifies_what_was_done(
    qtbot, windows, service, attach, tmp_path
) -> None:
    vic = attach("vic")
    assert settle(lambda: vic.alarms is not None, vic)  # signed in, the alarm listed
    assert isinstance(ask(vic, ActOnAlarm(ALARM, "acknowledge")), Refused)
    limit = SetPowerLimit(gpus=entity_gpus(load_design(service.design), "A01"), limit_w=450.0)
    assert isinstance(ask(vic, SendCommand(limit)), Refused)
    olga = alarm_window(qtbot, windows, service, "olga")
    accepted(qtbot, olga)

    dialog = open_audit_log(qtbot, olga)
    view = dialog.view
    listed = rows(dialog)
    acknowledged = listed[0]
    assert acknowledged == ("olga", "alarm.acknowledge", SUBJECT, "ok", "unacknowledged",
                            "acknowledged", "crew on the way")  # newest first  # fmt: skip
    assert REFUSED in listed
    assert ("sign_in", "olga", "ok") in [r[1:4] for r in listed]  # actor: the window
    assert [r[:2] for r in listed[-3:]] == [("test", "user.add")] * 3  # oldest last
    assert view.count.text() == f"{len(listed)} entries, newest first"
    refused_item = view.table.item(listed.index(REFUSED), 4)
    assert refused_item.background().color().name() == "#b00020"

    assert search(qtbot, dialog, action="alarm") == [acknowledged, REFUSED]
    [capped] = search(qtbot, dialog, action="control")
    assert capped[:4] == ("vic", "control.power_limit", limit.describe(), "refused")
    assert capped[6].endswith("a viewer may not (needs operator or above)")
    assert search(qtbot, dialog, user="vic", result="refused") == [capped, REFUSED]
    assert search(qtbot, dialog, user="vic", action="alarm", result="ok") == []
    assert view.count.text() == "0 entries, newest first"
    assert search(qtbot, dialog, action="user") == [r for r in listed if r[1] == "user.add"]

    view.verify_button.click()
    qtbot.waitUntil(lambda: view.chain.text().startswith("The audit log is"), timeout=10_000)
    assert view.chain.text() == f"The audit log is intact: {len(listed)} entries."

    target = tmp_path / "audit.csv"
    search(qtbot, dialog, action="alarm")
    dialog.export(view.query(), target)
    qtbot.waitUntil(lambda: view.message.text().startswith("Exported"), timeout=10_000)
    assert view.message.text() == f"Exported 2 audit entries to {target}"
    with target.open(encoding="utf-8", newline="") as file:
        exported = list(csv.DictReader(file))
    assert [(e["actor"], e["outcome"]) for e in exported] == [("vic", "refused"), ("olga", "ok")]

    nowhere = tmp_path / "no such folder" / "audit.csv"
    dialog.export(view.query(), nowhere)
    qtbot.waitUntil(lambda: "cannot write" in view.message.text(), timeout=10_000)
    assert view.message.text().startswith(f"{nowhere}: cannot write: ")

    search(qtbot, dialog)
    view.say("")
    dialog.grab().save(str(SCREENSHOTS / "audit_log.png"))

    path = service.data / AUDIT_FILE
    written = path.read_bytes().splitlines(keepends=True)
    gone = next(n for n, line in enumerate(written) if b'"refused"' in line)
    path.write_bytes(b"".join(written[:gone] + written[gone + 1 :]))  # vic's refusal erased
    view.verify_button.click()
    qtbot.waitUntil(lambda: "altered" in view.chain.text(), timeout=10_000)
    assert view.chain.text().startswith(f"The audit log has been altered at line {gone + 1} "
                                        "(written 20")  # fmt: skip
    assert f"does not follow line {gone}" in view.chain.text()
    dialog.grab().save(str(SCREENSHOTS / "audit_log_altered.png"))


def test_a_viewer_is_refused_the_audit_log_and_without_a_service_the_window_says_so(
    qtbot, windows, service, tmp_path
) -> None:
    vic = alarm_window(qtbot, windows, service, "vic")
    dialog = open_audit_log(qtbot, vic)
    assert dialog.view.message.text() == VIEWER_REFUSED
    assert dialog.view.table.rowCount() == 0
    dialog.view.verify_button.click()
    qtbot.waitUntil(lambda: "check" in dialog.view.message.text(), timeout=10_000)
    assert "reading the audit log needs the operator role" in dialog.view.message.text()

    alone = MainWindow()
    windows.append(alone)
    alone.resize(1400, 900)
    alone.show()
    with qtbot.waitSignal(alone.design_shown, timeout=10_000):
        alone.open_file(alarming_hall(tmp_path))
    next(a for a in alone.findChildren(QAction) if a.text() == "&Audit Log…").trigger()
    assert alone.findChild(AuditLogDialog).view.message.text() == NO_SERVICE
