"""The service's side of control: the desk built on the running design's sources, and its
answers to windows' control requests.

The desk is rebuilt whenever the sources are (a design applied), since the GPUs and the BMS it
reaches are theirs; commands under way on the old sources are stopped, and say so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.alarms.evaluator import ConditionChange
from factoryfloor.backend.service.alarms.series_index import parse_gpu_subject
from factoryfloor.backend.service.control.commands import CommandProgress
from factoryfloor.backend.service.control.desk import Audit, CommandRefused, ControlDesk
from factoryfloor.backend.service.control.executors import FacilityControl, GpuControl
from factoryfloor.backend.service.control.facility_executor import facility_control
from factoryfloor.backend.service.control.gpu_executors import gpu_controls
from factoryfloor.backend.service.messages import (
    CommandPreviewed,
    CommandSent,
    CommandUpdated,
    GetCommands,
    PreviewCommand,
    SendCommand,
)
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.telemetry.placement import GpuPlacement
from factoryfloor.backend.telemetry.protocol import Accepted, Message, Refused, Reply
from factoryfloor.backend.telemetry.runner import Source

ControlRequest = PreviewCommand | SendCommand | GetCommands


def control_executors(
    sources: Sequence[Source],
) -> tuple[list[GpuControl], FacilityControl | None]:
    """What reaches the equipment behind the running sources: the GPUs each GPU source reads,
    and the BMS the MQTT source reads (the simulator's own BMS when it runs alone)."""
    return gpu_controls(sources), facility_control(sources)


def entity_finder(design: Design) -> Callable[[str], str]:
    """The plan entity of a command's target: a GPU's rack (its host where the plan places it
    nowhere), a CDU or rack itself."""
    placement = GpuPlacement(design)

    def entity_of(target: str) -> str:
        gpu = parse_gpu_subject(target)
        if gpu is None:
            return target
        spot = placement.place(*gpu)
        return gpu[0] if spot is None else spot.rack_id

    return entity_of


class ControlLink:
    def __init__(
        self,
        audit: Audit,
        notify: Callable[[Message], Awaitable[None]],
        tell_one: Callable[[bytes, Message], Awaitable[None]],
        raise_alarm: Callable[[ConditionChange], Awaitable[None]],
    ) -> None:
        self._audit, self._notify, self._tell_one = audit, notify, tell_one
        self._raise_alarm = raise_alarm
        self.desk: ControlDesk | None = None

    async def use(self, design: Design, gpus: Sequence[GpuControl],
                  facility: FacilityControl | None) -> None:  # fmt: skip
        """Control the GPUs and BMS of the design's sources from now on."""
        await self.close()
        self.desk = ControlDesk(
            gpus, facility, audit=self._audit,
            tell=self._tell, raise_alarm=self._raise_alarm, entity_of=entity_finder(design),
        )  # fmt: skip

    async def _tell(self, progress: CommandProgress) -> None:
        await self._notify(CommandUpdated(progress))

    async def answer(self, identity: bytes, user: str, role: Role,
                     request: ControlRequest) -> Reply:  # fmt: skip
        desk = self.desk
        if desk is None:
            return Refused(request.msg_id, "the service is starting: no control yet")
        match request:
            case PreviewCommand(command=command):
                preview = await desk.preview(command, role)
                return CommandPreviewed(request.msg_id, preview.description,
                                        preview.minimum_role.value, role.value, preview.allowed,
                                        preview.results, preview.notes)  # fmt: skip
            case SendCommand(command=command):
                try:
                    progress = await desk.send(command, user or "viewer", role)
                except CommandRefused as refused:
                    return Refused(request.msg_id, str(refused))
                return CommandSent(request.msg_id, progress)
            case GetCommands():
                for progress in desk.recent:
                    await self._tell_one(identity, CommandUpdated(progress))
                return Accepted(request.msg_id)

    async def close(self) -> None:
        if self.desk is not None:
            await self.desk.close()
            self.desk = None
