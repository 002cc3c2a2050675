"""The control desk on the simulated facility, in one process: every command for every role
(sent only where the role permits, the equipment untouched otherwise, each attempt audited), and
a setpoint the BMS never confirms raising the "command unconfirmed" alarm, which a later
confirmed setpoint there clears."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.alarm_desk import AlarmDesk
from factoryfloor.backend.service.alarms.evaluator import ConditionChange
from factoryfloor.backend.service.audit import AuditLog
from factoryfloor.backend.service.control.commands import (
    Command,
    CommandProgress,
    IsolateRack,
    LockClocks,
    ResetClocks,
    SetCduSupplyTemp,
    SetPowerLimit,
)
from factoryfloor.backend.service.control.desk import CommandRefused, ControlDesk
from factoryfloor.backend.service.control.scope import entity_gpus
from factoryfloor.backend.service.control.sim_facility_control import SimulatedFacilityControl
from factoryfloor.backend.service.control.sim_gpu_control import SimulatedGpuControl
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo() -> Design:
    return load_design(ROOT / "resources" / "demo_hall.json")


class Facility:
    """A simulated facility with its desk, its audit log on disk and a real alarm desk."""

    def __init__(self, design: Design, folder: Path, confirm_timeout_s: float = 5.0) -> None:
        self.sim = FacilitySimulator(design)
        self.sim.step(1.0)
        self.audit = AuditLog(folder / "audit.log")
        self.alarms = AlarmDesk(folder)
        self.told: list[CommandProgress] = []
        self.facility = SimulatedFacilityControl(self.sim.plant, confirm_timeout_s)
        self.desk = ControlDesk([SimulatedGpuControl(self.sim)], self.facility,
                                audit=self.audit.record, tell=self._tell,
                                raise_alarm=self._raise)  # fmt: skip

    async def _tell(self, progress: CommandProgress) -> None:
        self.told.append(progress)

    async def _raise(self, change: ConditionChange) -> None:
        await self.alarms.condition(change)

    async def finished(self, progress: CommandProgress) -> CommandProgress:
        """The command's last word, once every target has an outcome."""
        await self.desk.drain()
        return next(p for p in reversed(self.told) if p.command_id == progress.command_id)


def commands(design: Design) -> list[Command]:
    gpus = entity_gpus(design, "A01")[:2]
    return [SetPowerLimit(gpus=gpus, limit_w=600.0), LockClocks(gpus=gpus, min_mhz=1_200.0,
            max_mhz=1_200.0), ResetClocks(gpus=gpus), SetCduSupplyTemp(cdu_id="CDU-A1",
            temp_c=30.0), IsolateRack(rack_id="A05", circuit="electrical")]  # fmt: skip


@pytest.mark.asyncio
@pytest.mark.parametrize("role", list(Role))
async def test_every_command_is_sent_only_where_the_role_permits_and_every_attempt_audited(
    demo: Design, tmp_path: Path, role: Role
) -> None:
    facility = Facility(demo, tmp_path)
    await facility.alarms.open(demo)
    sim = facility.sim
    for command in commands(demo):
        limits_before, setpoint_before = sim.power_limit_w.copy(), sim.plant.supply_setpoint_c(
            "CDU-A1")  # fmt: skip
        if role < command.minimum_role:
            with pytest.raises(CommandRefused, match=f"may not \\(needs "
                               f"{command.minimum_role.value} or above\\)"):  # fmt: skip
                await facility.desk.send(command, "someone", role)
            assert np.array_equal(sim.power_limit_w, limits_before)
            assert sim.plant.supply_setpoint_c("CDU-A1") == setpoint_before
            continue
        done = await facility.finished(await facility.desk.send(command, "someone", role))
        assert done.state == "confirmed", done
    entries = [(e.action, e.outcome) for e in facility.audit.entries()]
    expected = []
    for command in commands(demo):
        targets = len(getattr(command, "gpus", ())) or 1
        outcome = "refused" if role < command.minimum_role else "confirmed"
        expected += [(f"control.{command.kind}", outcome)] * (1 if outcome == "refused"
                                                              else targets)  # fmt: skip
    assert entries == expected
    first = facility.audit.entries()[0]
    if role >= Role.OPERATOR:  # the limit's values are the entry's own fields
        assert (first.subject, first.new_value) == ("A01 GPU 0", "600")
        assert float(first.old_value) > 600 and first.detail == "read back 600"
    assert sim.plant.isolated("A05", "electrical") == (role >= Role.OPERATOR)
    await facility.alarms.close()


@pytest.mark.asyncio
async def test_a_setpoint_the_bms_ignores_raises_the_unconfirmed_alarm_a_confirmed_one_clears(
    demo: Design, tmp_path: Path
) -> None:
    facility = Facility(demo, tmp_path, confirm_timeout_s=0.2)
    await facility.alarms.open(demo)
    facility.sim.plant.ignore_requests = True  # a BMS in local override
    setpoint = SetCduSupplyTemp(cdu_id="CDU-A1", temp_c=31.0)
    done = await facility.finished(await facility.desk.send(setpoint, "eve", Role.ENGINEER))
    assert done.state == "unconfirmed" and done.results[0].read_back is None
    shown = (await facility.alarms.shown(0.0)).alarms
    assert [(a.alarm_id, a.entity, a.priority, a.state) for a in shown] == [
        ("command-unconfirmed@CDU-A1", "CDU-A1", "medium", "unacknowledged")]  # fmt: skip
    assert shown[0].message.startswith("CDU-A1: CDU-A1 supply temperature setpoint 31 °C not "
                                       "confirmed")  # fmt: skip

    facility.sim.plant.ignore_requests = False
    done = await facility.finished(await facility.desk.send(setpoint, "eve", Role.ENGINEER))
    assert done.state == "confirmed" and math.isclose(done.results[0].read_back, 31.0)
    shown = (await facility.alarms.shown(0.0)).alarms
    assert [a.state for a in shown] == ["rtn_unacknowledged"]  # cleared, still to acknowledge
    await facility.alarms.close()
