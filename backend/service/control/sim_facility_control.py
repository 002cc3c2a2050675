"""CDU setpoints and rack isolation on the simulated facility, when there is no BMS.

The simulator's plant (``sim_plant``) is the BMS here: it takes a request at once, unless told
to ignore requests, and what it then holds is the read-back, judged exactly as a real BMS's
points are (``facility_points``). The plant then moves: a CDU's supply temperature follows its
new setpoint over the next minutes, an isolated rack's power and heat are gone from the next
step on.
"""

from __future__ import annotations

import asyncio

from factoryfloor.backend.service.control.commands import FacilityCommand, SetCduSupplyTemp
from factoryfloor.backend.service.control.executors import ControlFailure
from factoryfloor.backend.service.control.facility_points import facility_request
from factoryfloor.backend.telemetry.sources.sim_plant import SimulatedPlant


class SimulatedFacilityControl:
    """``FacilityControl`` over a simulator's plant (``FacilitySimulator.plant``)."""

    def __init__(self, plant: SimulatedPlant, confirm_timeout_s: float = 60.0) -> None:
        self._plant = plant
        self.confirm_timeout_s = confirm_timeout_s
        """How long to wait before calling a request unconfirmed (the plant answers at once,
        or, told to ignore requests, never)."""

    def current(self, command: FacilityCommand) -> float | None:
        plant = self._plant
        if isinstance(command, SetCduSupplyTemp):
            known = plant.has_cdu(command.cdu_id)
            return plant.supply_setpoint_c(command.cdu_id) if known else None
        if not plant.has_rack(command.rack_id):
            return None
        return 1.0 if plant.isolated(command.rack_id, command.circuit) else 0.0

    async def request(self, command: FacilityCommand, timeout_s: float) -> float:
        request = facility_request(command)
        if self.current(command) is None:
            raise ControlFailure(
                "not_writable", f"{request.target} is not in the simulated facility"
            )
        if not self._plant.ignore_requests:
            if isinstance(command, SetCduSupplyTemp):
                self._plant.set_supply_setpoint(command.cdu_id, command.temp_c)
            else:
                self._plant.set_isolated(command.rack_id, command.circuit, command.isolated)
        if not request.reached(self.current(command)):
            await asyncio.sleep(timeout_s)  # as long as a real BMS is given to confirm
        read_back = self.current(command)
        if request.reached(read_back):
            return read_back  # type: ignore[return-value]
        raise request.unconfirmed(read_back, timeout_s)
