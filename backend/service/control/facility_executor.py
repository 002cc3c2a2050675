"""Which executor carries facility commands in a running service.

The BMS over MQTT where the design names a broker (its source reads through a ``FeedbackSink``,
as ``build_sources`` makes it), else the simulated facility's plant, else none: then the
control desk refuses facility commands, saying there is no BMS to send them to.
"""

from __future__ import annotations

from collections.abc import Sequence

from factoryfloor.backend.service.control.bms_control import MqttFacilityControl
from factoryfloor.backend.service.control.executors import FacilityControl
from factoryfloor.backend.service.control.sim_facility_control import SimulatedFacilityControl
from factoryfloor.backend.telemetry.feedback import FeedbackSink
from factoryfloor.backend.telemetry.runner import Source
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.backend.telemetry.sources.simulator import SimulatorSource


def facility_control(sources: Sequence[Source]) -> FacilityControl | None:
    """The executor for CDU setpoints and rack isolation among the service's ``sources``."""
    for source in sources:
        if isinstance(source, MqttSource) and isinstance(source.sink, FeedbackSink):
            return MqttFacilityControl(source, source.sink)
    for source in sources:
        if isinstance(source, SimulatorSource):
            return SimulatedFacilityControl(source.simulator.plant)
    return None
