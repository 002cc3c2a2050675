"""What a facility command asks of the BMS, in the terms of its points.

A CDU setpoint and a rack isolation are each one request point the integration writes and one
point of the BMS's own that confirms it (``mqtt_settings.CONFIRMED_BY``). The BMS over MQTT and
the simulator's plant both answer in these terms, so "confirmed" means the same for either:
the confirming point reads the value asked for, within a tolerance that absorbs the float32
the store keeps and a BMS's own rounding, never a temperature a controller is still ramping to.
"""

from __future__ import annotations

from dataclasses import dataclass

from factoryfloor.backend.design.mqtt_settings import CONFIRMED_BY, EntityKind
from factoryfloor.backend.service.control.commands import FacilityCommand, SetCduSupplyTemp
from factoryfloor.backend.service.control.executors import ControlFailure
from factoryfloor.backend.telemetry.series import entity_key
from factoryfloor.backend.telemetry.sources.bms_mapping import (
    CDU_POINT_QUANTITIES,
    RACK_POINT_QUANTITIES,
)

TEMPERATURE_TOLERANCE_C = 0.1
"""A setpoint read back within this of the one asked for is confirmed."""
STATE_TOLERANCE = 0.5
"""Isolation states are 0 or 1: anything nearer the one asked for is it."""

POINT_TYPES: dict[str, str] = {
    quantity: point_type
    for table in (CDU_POINT_QUANTITIES, RACK_POINT_QUANTITIES)
    for point_type, quantity in table.items()
}
"""The DSX pointType of each quantity with a pointType of its own (requests, isolation status)."""


@dataclass(frozen=True, slots=True)
class FacilityRequest:
    """One command as the BMS sees it: which point to write with which value, and which of the
    BMS's own points must read that value for the command to be confirmed."""

    kind: EntityKind
    entity_id: str
    quantity: str
    """The request point's quantity (``supply_temp_sp_request_c``, ...)."""
    value: float

    @property
    def feedback_quantity(self) -> str:
        return CONFIRMED_BY[self.quantity]

    @property
    def feedback_key(self) -> str:
        """The series of the confirming point: ``cdu/CDU-1/supply_temp_sp_c``."""
        return entity_key(self.kind, self.entity_id, self.feedback_quantity)

    @property
    def is_temperature(self) -> bool:
        return self.quantity.endswith("_c")

    @property
    def point_type(self) -> str:
        return POINT_TYPES[self.quantity]

    @property
    def target(self) -> str:
        """The equipment, as results and reasons name it: ``CDU CDU-1``, ``rack A-07``."""
        return f"{'CDU' if self.kind == 'cdu' else 'rack'} {self.entity_id}"

    def reached(self, value: float | None) -> bool:
        """Whether a reading of the confirming point confirms the request."""
        if value is None or value != value:  # none or NaN: the BMS has no valid reading
            return False
        tolerance = TEMPERATURE_TOLERANCE_C if self.is_temperature else STATE_TOLERANCE
        return abs(value - self.value) <= tolerance

    def words(self, value: float | None) -> str:
        """A value of this request or its feedback as an operator reads it."""
        if value is None or value != value:
            return "no valid reading"
        if self.is_temperature:
            return f"{value:g} °C"
        return "isolated" if value >= STATE_TOLERANCE else "not isolated"

    def unconfirmed(self, read_back: float | None, timeout_s: float) -> ControlFailure:
        """The failure when the confirming point did not reach the value within ``timeout_s``."""
        return ControlFailure(
            "unconfirmed",
            f"{self.target}: the BMS's {self.feedback_quantity} reads {self.words(read_back)}"
            f" {timeout_s:g} s after asking for {self.words(self.value)}",
        )


def facility_request(command: FacilityCommand) -> FacilityRequest:
    """The request point and value of ``command``: a setpoint in °C, an isolation as 1 or 0."""
    if isinstance(command, SetCduSupplyTemp):
        return FacilityRequest("cdu", command.cdu_id, "supply_temp_sp_request_c", command.temp_c)
    quantity = f"{command.circuit}_isolation_request"
    return FacilityRequest("rack", command.rack_id, quantity, 1.0 if command.isolated else 0.0)
