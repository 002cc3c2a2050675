"""Control through a real ``factoryfloor serve``: every command checked against the sender's
role before anything is read or sent, previewed with its targets' old values, and every
attempt, refused ones too, in the audit log."""

from __future__ import annotations

import os
from pathlib import Path

from alarm_service import alarm_window, ask, settle
from service_process import ServiceProcess

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.service.audit import AuditLog
from factoryfloor.backend.service.client import CUT_SHORT_REASON, ServiceClient
from factoryfloor.backend.service.control.commands import (
    NOT_KEPT_OVER_REBOOT,
    CommandProgress,
    IsolateRack,
    SetCduSupplyTemp,
    SetPowerLimit,
    TargetResult,
)
from factoryfloor.backend.service.control.scope import entity_gpus
from factoryfloor.backend.service.messages import (
    CommandPreviewed,
    CommandSent,
    PreviewCommand,
    SendCommand,
)
from factoryfloor.backend.service.users import AUDIT_FILE
from factoryfloor.backend.telemetry.protocol import Refused

SCREENSHOTS = os.environ.get("FACTORYFLOOR_SCREENSHOTS")
pytest_plugins = ["window_fixtures"]


def control_audit(service: ServiceProcess) -> list[tuple[str, str, str, str]]:
    entries = AuditLog(service.data / AUDIT_FILE).entries()
    return [(e.actor, e.action, e.subject, e.outcome) for e in entries
            if e.action.startswith("control.")]  # fmt: skip


def test_a_viewer_is_told_which_role_a_command_needs_and_is_refused_and_audited(
    service, attach
) -> None:
    gpus = entity_gpus(load_design(service.design), "A01")
    limit = SetPowerLimit(gpus=gpus, limit_w=450.0)
    vic = attach("vic")
    assert settle(lambda: vic.welcome is not None, vic)
    preview = ask(vic, PreviewCommand(limit))
    assert isinstance(preview, CommandPreviewed)
    assert (preview.minimum_role, preview.your_role, preview.allowed) == (
        "operator", "viewer", False)  # fmt: skip
    assert preview.description == f"power limit 450 W on {len(gpus)} GPUs on A01"
    refused = ask(vic, SendCommand(limit))
    assert isinstance(refused, Refused)
    assert refused.reason.endswith("a viewer may not (needs operator or above)")

    olga = attach("olga")
    assert settle(lambda: olga.welcome is not None, olga)
    setpoint = ask(olga, SendCommand(SetCduSupplyTemp(cdu_id="CDU-A1", temp_c=30.0)))
    assert isinstance(setpoint, Refused)
    assert setpoint.reason.endswith("an operator may not (needs engineer or above)")
    assert control_audit(service) == [
        ("vic", "control.power_limit", preview.description, "refused"),
        ("olga", "control.cdu_supply_temp", "CDU-A1 supply temperature setpoint 30 °C",
         "refused"),
    ]  # fmt: skip


def test_a_setpoint_and_an_isolation_are_confirmed_and_every_window_sees_them(
    service, attach
) -> None:
    """Offline, the simulated facility's BMS answers: an engineer's CDU setpoint and an
    operator's rack isolation end confirmed, read back, in both windows and the audit log."""
    eve, vic = attach("eve"), attach("vic")
    assert settle(lambda: eve.welcome is not None and vic.welcome is not None, eve, vic)
    sent = ask(eve, SendCommand(SetCduSupplyTemp(cdu_id="CDU-A1", temp_c=30.0)))
    assert isinstance(sent, CommandSent) and sent.progress.results[0].state == "sent"
    command_id = sent.progress.command_id

    def finished(client: ServiceClient) -> CommandProgress | None:
        progress = client.commands.get(command_id)
        return progress if progress is not None and progress.finished_s else None

    assert settle(lambda: finished(eve) and finished(vic), eve, vic)
    assert finished(vic) == finished(eve)
    result = finished(vic).results[0]
    assert (result.target, result.state, result.new_value, result.read_back) == (
        "CDU-A1", "confirmed", 30.0, 30.0)  # fmt: skip

    olga = attach("olga")
    assert settle(lambda: olga.welcome is not None, olga)
    isolate = ask(olga, SendCommand(IsolateRack(rack_id="A01", circuit="liquid")))
    assert isinstance(isolate, CommandSent)
    assert settle(lambda: (p := olga.commands.get(isolate.progress.command_id)) is not None
                  and p.state == "confirmed", olga)  # fmt: skip
    assert control_audit(service)[-2:] == [
        ("eve", "control.cdu_supply_temp", "CDU-A1", "confirmed"),
        ("olga", "control.rack_isolation", "A01", "confirmed"),
    ]


def test_a_racks_power_limit_is_confirmed_gpu_by_gpu_and_out_of_range_is_never_sent(
    service, attach
) -> None:
    gpus = entity_gpus(load_design(service.design), "A01")
    olga, vic = attach("olga"), attach("vic")
    assert settle(lambda: olga.welcome is not None and vic.welcome is not None, olga, vic)
    too_low = ask(olga, PreviewCommand(SetPowerLimit(gpus=gpus[:1], limit_w=20.0)))
    assert isinstance(too_low, CommandPreviewed) and too_low.results[0].state == "refused"
    assert too_low.results[0].reason.startswith("out of range:")
    refused = ask(olga, SendCommand(SetPowerLimit(gpus=gpus[:1], limit_w=20.0)))
    assert isinstance(refused, Refused) and "nothing sent: out of range" in refused.reason

    sent = ask(olga, SendCommand(SetPowerLimit(gpus=gpus, limit_w=900.0)))
    assert isinstance(sent, CommandSent)
    assert sent.progress.notes == (NOT_KEPT_OVER_REBOOT,)
    command_id = sent.progress.command_id
    assert settle(lambda: all((p := c.commands.get(command_id)) is not None and p.finished_s
                              for c in (olga, vic)), olga, vic)  # fmt: skip
    progress = vic.commands[command_id]
    assert progress == olga.commands[command_id]
    assert {r.state for r in progress.results} == {"confirmed"}
    assert {r.read_back for r in progress.results} == {900.0}
    assert len(progress.results) == len(gpus)
    audited = [e for e in control_audit(service) if e[1] == "control.power_limit"]
    assert audited[0] == ("olga", "control.power_limit", "A01 GPU 0", "refused")
    assert len(audited) == 1 + len(gpus)


def test_a_window_confirms_a_power_limit_from_the_plan_and_its_commands_dock_shows_it(
    qtbot, windows, service
) -> None:
    """Right-click A01, Set GPU power limit…: the dialog shows the service's preview (every GPU's
    limit now, the value asked, the role needed), Send, and the Commands dock lists the command
    confirmed on every GPU."""
    olga = alarm_window(qtbot, windows, service, "olga")
    view = olga.run_view.plan_view
    rack = olga.run_view.scene.items_by_id["A01"]
    view.customContextMenuRequested.emit(view.mapFromScene(rack.sceneBoundingRect().center()))
    menu = olga.run_view.plan_menu
    assert menu is not None
    next(a for a in menu.actions() if a.text() == "Set GPU power limit…").trigger()
    dialog = olga.run_view.control.dialog
    assert dialog is not None
    dialog.value.setValue(800.0)
    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=10_000)
    assert dialog.table.item(0, 2).text() == "800"
    assert dialog.role.text().startswith("operator or above; you are signed in as operator")
    assert "do not survive a reboot" in dialog.notes.text()
    if SCREENSHOTS:
        dialog.grab().save(str(Path(SCREENSHOTS) / "control-confirm.png"))
    dialog.send_button.click()
    panel = olga.run_view.control.panel
    qtbot.waitUntil(lambda: panel.list.rowCount() == 1
                    and panel.list.item(0, 3).text() == "Confirmed", timeout=15_000)  # fmt: skip
    assert panel.list.item(0, 4).text() == "72 confirmed"
    assert olga.run_view.command_dock.isVisible()
    panel.list.selectRow(0)
    assert panel.targets.item(0, 3).text() == "800"
    if SCREENSHOTS:
        olga.grab().save(str(Path(SCREENSHOTS) / "control-commands.png"))


def test_a_command_under_way_when_the_service_is_killed_ends_unconfirmed_in_the_window(
    service, attach
) -> None:
    """The restarted service knows nothing of it: the window says its outcome is unknown rather
    than showing it "sent" for ever. A command that had finished keeps its outcome."""
    olga = attach("olga")
    assert settle(lambda: olga.welcome is not None and olga.frame() is not None, olga)
    sent = TargetResult("A01 GPU 0", "sent", 700.0, 600.0)
    under_way = CommandProgress("c1", "olga", "power limit 600 W on A01 GPU 0", (sent,), 1.0)
    finished = CommandProgress("c0", "olga", "power limit 650 W on A01 GPU 1",
                               (TargetResult("A01 GPU 1", "confirmed", 700.0, 650.0, 650.0),),
                               0.5, 0.6)  # fmt: skip
    olga.commands = {
        "c0": finished,
        "c1": under_way,
    }  # as the last notices before the kill left them
    first_id = olga.welcome.service_id
    service.kill()
    service.start()
    assert settle(lambda: olga.welcome.service_id != first_id, olga)
    ended = olga.commands["c1"]
    assert ended.state == "unconfirmed" and ended.finished_s is not None
    assert ended.results[0].reason == CUT_SHORT_REASON
    assert olga.commands["c0"] == finished


def test_a_window_signed_in_before_its_first_frame_signs_in_again_to_a_restarted_service(
    service, attach
) -> None:
    olga = attach("olga")
    assert settle(lambda: olga.welcome is not None, olga)
    first_id = olga.welcome.service_id
    service.kill()
    service.start()
    assert settle(lambda: olga.welcome.service_id != first_id, olga)
    assert olga.welcome.role == "operator"  # signed in again, not left a viewer
