"""Control through a real ``factoryfloor serve``: every command checked against the sender's
role before anything is read or sent, previewed with its targets' old values, and every
attempt, refused ones too, in the audit log."""

from __future__ import annotations

from alarm_service import ask, settle
from service_process import ServiceProcess

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.service.audit import AuditLog
from factoryfloor.backend.service.client import ServiceClient
from factoryfloor.backend.service.control.commands import (
    CommandProgress,
    IsolateRack,
    SetCduSupplyTemp,
    SetPowerLimit,
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
