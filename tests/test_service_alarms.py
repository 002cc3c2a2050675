"""Alarms in a real ``factoryfloor serve``: raised with no window attached, journaled, the same in
every window, acknowledged by an operator and refused to a viewer (with the reason, audited),
kept across kill -9, printed by ``factoryfloor alarms --service``, and shown in a window's
Alarms dock where an operator acknowledges them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from alarm_service import ALARM, PASSWORD, alarm_window, alarming_hall, ask, settle
from service_process import DEMO, ServiceProcess

from factoryfloor.app.control_room import PANELS, WallLayout
from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.service.alarms.journal import FILE_NAME, AlarmJournal
from factoryfloor.backend.service.audit import AuditLog
from factoryfloor.backend.service.client import Credentials, ServiceClient
from factoryfloor.backend.service.messages import ActOnAlarm, AlarmShown, ApplyDesign
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.service.users import AUDIT_FILE, UserStore
from factoryfloor.backend.telemetry.protocol import Refused

RAISED = re.compile(r"alarm raised \(high\): A01: [\d.]+ kW, over the 1\.0 kW limit")
SCREENSHOTS = Path(os.environ.get("FACTORYFLOOR_SCREENSHOTS", "/tmp"))

pytest_plugins = ["window_fixtures"]


def shown(client: ServiceClient) -> AlarmShown | None:
    alarms = client.alarms.alarms if client.alarms is not None else ()
    return next((a for a in alarms if a.alarm_id == ALARM), None)


def journal_states(data: Path) -> list[tuple[str, str, str, str]]:
    journal = AlarmJournal(data / FILE_NAME, read_only=True)
    try:
        return [(t.event, t.new_state.value, t.user, t.note) for t in journal.search()]
    finally:
        journal.close()


def test_the_service_raises_the_alarm_with_no_window_and_journals_it(service) -> None:
    assert service.wait_for_output(RAISED, 30.0), "".join(service.log[-20:])
    assert journal_states(service.data) == [("active", "unacknowledged", "", "")]


def test_two_windows_see_the_acknowledgement_a_viewer_is_refused_and_both_are_audited(
    service, attach
) -> None:
    olga, vic = attach("olga"), attach("vic")
    assert settle(lambda: shown(olga) and shown(vic), olga, vic)
    assert shown(olga) == shown(vic)
    assert shown(vic).state == "unacknowledged" and shown(vic).priority == "high"
    assert re.fullmatch(r"A01: [\d.]+ kW, over the 1\.0 kW limit", shown(vic).message)
    assert olga.alarms.active() == [shown(olga).message]

    refused = ask(vic, ActOnAlarm(ALARM, "acknowledge"))
    assert isinstance(refused, Refused)
    assert refused.reason == (f"{ALARM}: a viewer may not acknowledge alarms (needs operator "
                              "or above)")  # fmt: skip
    assert not isinstance(ask(olga, ActOnAlarm(ALARM, "acknowledge", "crew on the way")), Refused)
    assert settle(lambda: shown(vic).state == shown(olga).state == "acknowledged", olga, vic)

    entries = AuditLog(service.data / AUDIT_FILE).entries()
    audited = [(e.actor, e.action, e.subject, e.outcome) for e in entries
               if e.action.startswith("alarm.")]  # fmt: skip
    assert audited == [("vic", "alarm.acknowledge", f"alarm {ALARM}", "refused"),
                       ("olga", "alarm.acknowledge", f"alarm {ALARM}", "ok")]  # fmt: skip
    assert journal_states(service.data)[-1] == ("acknowledge", "acknowledged", "olga",
                                                 "crew on the way")  # fmt: skip


def test_a_design_applied_is_evaluated_from_then_on(service, attach) -> None:
    eve = attach("eve")
    assert settle(lambda: shown(eve), eve)
    tree = json.loads(service.design.read_text(encoding="utf-8"))
    tree["alarm_rules"][0]["limit"] = 1e9  # A01 can never draw that
    assert not isinstance(ask(eve, ApplyDesign(json.dumps(tree), 1)), Refused)
    # Cleared before anyone acknowledged it: it stays listed until someone does.
    assert settle(lambda: shown(eve).state == "rtn_unacknowledged", eve)
    assert eve.alarms.active() == []


def alarms_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "factoryfloor.app", "alarms", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_an_acknowledgement_survives_kill_9_and_the_cli_asks_the_service(service, attach) -> None:
    olga = attach("olga")
    assert settle(lambda: shown(olga), olga)
    assert not isinstance(ask(olga, ActOnAlarm(ALARM, "acknowledge")), Refused)
    service.kill()  # SIGKILL: nothing flushed on the way out
    olga.close()

    assert journal_states(service.data)[-1][:3] == ("acknowledge", "acknowledged", "olga")
    service.start()
    printed = alarms_cli("--service", f"127.0.0.1:{service.port}",
                         "--service-key", service.public_key)  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert re.search(r"high\s+acknowledged\s+\S+\s+A01: [\d.]+ kW, over the 1\.0 kW limit",
                     printed.stdout), printed.stdout  # fmt: skip
    assert "1 alarm(s) shown" in printed.stdout


def test_the_cli_names_a_service_that_does_not_answer(tmp_path) -> None:
    printed = alarms_cli("--service", "127.0.0.1:1", "--service-key", "x" * 40,
                         "--data", str(tmp_path))  # fmt: skip
    assert printed.returncode == 3
    assert "the service at 127.0.0.1:1: no answer in 10 s" in printed.stderr


def test_the_alarms_dock_shows_the_alarm_and_an_operator_acknowledges_it(
    qtbot, windows, service
) -> None:
    olga = alarm_window(qtbot, windows, service, "olga")
    vic = alarm_window(qtbot, windows, service, "vic")
    panel = olga.run_view.alarm_panel
    assert [panel.table.item(0, c).text() for c in (0, 1, 3)] == ["High", "A01", "Unacknowledged"]
    assert panel.table.item(0, 2).text().startswith("A01: ")
    tile = olga.run_view.live_panel.tiles["alarms"]
    qtbot.waitUntil(lambda: tile.value.text() == "1", timeout=10_000)
    assert tile.toolTip() == panel.table.item(0, 2).text()

    olga.run_view.alarm_panel.grab().save(str(SCREENSHOTS / "alarms_dock_new.png"))
    vic.run_view.alarm_panel.table.selectRow(0)
    vic.run_view.alarm_panel.acknowledge_button.click()
    answer = vic.run_view.alarm_panel.answer
    qtbot.waitUntil(lambda: "a viewer may not acknowledge alarms" in answer.text(),
                    timeout=10_000)  # fmt: skip

    panel.table.selectRow(0)
    panel.note.setText("pump B swapped")
    panel.acknowledge_button.click()
    for window in (olga, vic):
        table = window.run_view.alarm_panel.table
        qtbot.waitUntil(lambda t=table: t.item(0, 3).text() == "Acknowledged", timeout=10_000)
    assert panel.answer.text() == "" and panel.note.text() == ""
    assert not panel.acknowledge_button.isEnabled()  # nothing left to acknowledge
    olga.run_view.alarm_dock.raise_()
    olga.run_view.alarm_panel.grab().save(str(SCREENSHOTS / "alarms_dock.png"))
    olga.grab().save(str(SCREENSHOTS / "alarms_window.png"))

    panel.table.cellClicked.emit(0, 1)
    assert [i.entity_id for i in olga.run_view.scene.selectedItems()] == ["A01"]

    olga.show_control_room(WallLayout(panels=list(PANELS), rotating=False))
    wall = olga.control_room
    assert wall.alarms.table.item(0, 3).text() == "Acknowledged"
    assert not wall.alarms.acknowledge_button.isVisible()  # a wall is read, not clicked
    wall.resize(1920, 1080)
    wall.grab().save(str(SCREENSHOTS / "alarms_wall.png"))

    panel.table.selectRow(0)
    panel.shelve_for.setCurrentText("1 h")
    panel.shelve_button.click()
    for window in (olga, vic):
        table = window.run_view.alarm_panel.table
        qtbot.waitUntil(lambda t=table: t.rowCount() == 0, timeout=10_000)
    qtbot.waitUntil(lambda: tile.value.text() == "0", timeout=10_000)
    assert wall.alarms.table.rowCount() == 0
    wall.close()
    event, state, user, _ = journal_states(service.data)[-1]
    assert (event, state, user) == ("shelve", "shelved", "olga")


def test_a_windows_own_service_raises_alarms_and_keeps_no_journal_after_run(
    qtbot, windows, tmp_path, monkeypatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the window's own service keeps its journal
    create_application()
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    windows.append(window)
    with qtbot.waitSignal(window.design_shown, timeout=10_000):
        window.open_file(alarming_hall(tmp_path))
    window.run_action.trigger()
    panel = window.run_view.alarm_panel
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=30_000)
    assert [p.parent.name[:10] for p in scratch.glob(f"*/{FILE_NAME}")] == ["ff-alarms-"]
    # Acknowledged from the plan: a right-click on the blinking rack (the local user is an
    # engineer).
    view = window.run_view.plan_view
    rack = window.run_view.scene.items_by_id["A01"]
    view.customContextMenuRequested.emit(view.mapFromScene(rack.sceneBoundingRect().center()))
    menu = window.run_view.plan_menu
    assert menu is not None
    acknowledge = next(a for a in menu.actions() if a.text().startswith("Acknowledge"))
    assert acknowledge.text() == "Acknowledge 1 alarm at A01"
    acknowledge.trigger()
    qtbot.waitUntil(lambda: panel.table.item(0, 3).text() == "Acknowledged", timeout=10_000)
    view.customContextMenuRequested.emit(view.mapFromScene(rack.sceneBoundingRect().center()))
    acknowledge = next(a for a in window.run_view.plan_menu.actions()
                       if a.text().startswith("Acknowledge"))  # fmt: skip
    assert not acknowledge.isEnabled()  # nothing left waiting

    window.enter_design()
    qtbot.waitUntil(lambda: not list(scratch.glob("ff-alarms-*")), timeout=15_000)


FLOOD_RACKS = [f"A0{i}" for i in range(1, 8)]
"""Seven racks of 72 GPUs: 504 alarms at once."""


def flooding_hall(folder: Path) -> Path:
    """The demo hall with one rule that every GPU of seven racks breaks at once: drawing any
    power at all (the simulator's GPUs never draw less than their idle 10 %)."""
    tree = json.loads(DEMO.read_text(encoding="utf-8"))
    tree["alarm_rules"] = [{"id": "gpu-drawing", "kind": "threshold", "priority": "low",
                            "series": "gpu", "quantity": "power_w", "entities": FLOOD_RACKS,
                            "direction": "high", "limit": 0.0}]  # fmt: skip
    design = folder / "hall.json"
    design.write_text(json.dumps(tree), encoding="utf-8")
    return design


def test_a_flood_of_500_alarms_reaches_a_window_and_every_one_is_journaled_across_kill_9(
    tmp_path,
) -> None:
    expected = sum(r["gpu_count"] for r in json.loads(DEMO.read_text(encoding="utf-8"))["racks"]
                   if r["id"] in FLOOD_RACKS)  # fmt: skip
    assert expected == 504
    UserStore(tmp_path / "data").add("olga", PASSWORD, Role.OPERATOR, "test")
    service = ServiceProcess(flooding_hall(tmp_path), tmp_path / "data").start()
    try:
        olga = ServiceClient(service.address, Credentials("olga", PASSWORD))
        try:
            assert settle(lambda: olga.alarms and len(olga.alarms.alarms) == expected, olga,
                          timeout_s=60.0), "".join(service.log[-20:])  # fmt: skip
            assert olga.alarms.flood  # the window puts its flood banner up
            shown_ids = {a.alarm_id for a in olga.alarms.alarms}
            assert {a.entity for a in olga.alarms.alarms} == set(FLOOD_RACKS)
            assert {a.state for a in olga.alarms.alarms} == {"unacknowledged"}
        finally:
            olga.close()
        service.kill()  # SIGKILL: whatever a window was told is already on disk
    finally:
        service.stop()
    journal = AlarmJournal(service.data / FILE_NAME, read_only=True)
    try:
        raised_ids = [t.alarm_id for t in journal.search() if t.event == "active"]
    finally:
        journal.close()
    assert len(raised_ids) == expected and set(raised_ids) == shown_ids
