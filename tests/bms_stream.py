"""BMS metadata as a real DSX BMS published it, for tests of the mapping proposal and review.

A CDU's supply temperature comes as a constant setpoint point beside the measured feedback, and
its pump speed as an on/off fill-pump status beside the measured speed: the proposal must take
the feedback and the speed, never the setpoint or the status. A01 and CDU-B1 are named as the
demo plan names them, up to case and separators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker import Publisher

BMS = "BMS/v1/PUB"

CDU = {"objectName": "CDU B1", "objectId": "CDU-B1", "servesId": ["A01"]}
SUPPLY = CDU | {"processArea": "Secondary Supply", "engUnit": "°C"}
ON_OFF = [{"value": 0, "text": "Off"}, {"value": 1, "text": "On"}]
REAL_STREAM: dict[str, dict[str, object]] = {
    "CDU/LiquidTemperature/Hall1/CDU_B1/SupplyTempSetpoint": SUPPLY | {"isSetpoint": True},
    "CDU/LiquidTemperature/Hall1/CDU_B1/SupplyTemperature": SUPPLY,
    "CDU/PumpSpeed/Hall1/CDU_B1/FillPump/Status": CDU | {"stateText": ON_OFF},
    "CDU/PumpSpeed/Hall1/CDU_B1/Pump1/Speed": CDU | {"engUnit": "RPM"},
    "Rack/RackPower/Hall1/A01": {"rackLocationName": "A 01", "engUnit": "kW"},
    "Rack/RackLiquidFlow/Hall1/A01": {"rackLocationId": "A-01", "engUnit": "LPM"},
}
"""Point id -> retained metadata."""


def publish_real_stream(publisher: Publisher) -> None:
    """Publish ``REAL_STREAM`` retained, as the BMS keeps its metadata on the broker."""
    for point_id, fields in REAL_STREAM.items():
        publisher.publish(f"{BMS}/Metadata/{point_id}", fields, retain=True)
