"""Edits of the design's own settings (hall, telemetry sources, BMS point mapping), and the BMS
mapping review: what a row says for each point, and what accepting the review stores.

The review is run once on metadata as a real DSX BMS published it, read back from a real
Mosquitto, where a CDU's supply temperature has a constant setpoint point beside the measured
feedback, and its pump speed an on/off fill-pump status beside the measured speed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from bms_stream import REAL_STREAM, publish_real_stream

from factoryfloor.backend.design import edits
from factoryfloor.backend.design.design_file import load_design, reference_problems
from factoryfloor.backend.design.edits import EditError, HallSettings
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.telemetry.sources.bms_mapping import PointMetadata
from factoryfloor.backend.telemetry.sources.bms_review import accepted_points, review_rows
from factoryfloor.backend.telemetry.sources.connection_check import read_bms_metadata
from factoryfloor.resources import demo_path

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher

pytest_plugins = ["broker"]


@pytest.fixture
def demo() -> Design:
    return load_design(demo_path())


def hall_of(design: Design, **changes: object) -> HallSettings:
    floor = design.floor.model_dump() | dict(changes.pop("floor", {}))  # type: ignore[call-overload]
    assumptions = design.assumptions.model_dump() | changes
    return HallSettings(design.name, floor, assumptions)


def played(design: Design, edit: edits.Edit) -> None:
    """Apply, check, revert, check, apply again: the contract every edit keeps."""
    before = design.model_copy(deep=True)
    edit.apply(design)
    after = design.model_copy(deep=True)
    assert reference_problems(design) == []
    edit.revert(design)
    assert design == before
    edit.apply(design)
    assert design == after


def test_hall_settings_change_in_one_edit_that_undoes_exactly(demo: Design) -> None:
    hall = hall_of(demo, floor={"width_m": 40.0}, near_capacity_fraction=0.8)
    edit = edits.set_hall(demo, HallSettings("Hall 2", hall.floor, hall.assumptions))
    assert edit.label == "Change hall settings of Hall 1 (demo AI factory)"
    assert [change.setting for change in edit.settings] == ["name", "floor", "assumptions"]
    played(demo, edit)
    assert demo.name == "Hall 2"
    assert demo.floor.width_m == 40.0
    assert demo.assumptions.near_capacity_fraction == 0.8


def test_unchanged_hall_settings_make_an_empty_edit(demo: Design) -> None:
    assert edits.set_hall(demo, hall_of(demo)).is_empty


def test_bad_hall_settings_name_each_field_and_reason(demo: Design) -> None:
    bad = hall_of(demo, floor={"depth_m": -2.0}, max_air_kw_per_rack=0.0)
    with pytest.raises(EditError) as error:
        edits.set_hall(demo, HallSettings("", bad.floor, bad.assumptions))
    assert [str(p) for p in error.value.problems] == [
        "name: must not be empty (got '')",
        "floor.depth_m: must be greater than 0 (got -2.0)",
        "assumptions.max_air_kw_per_rack: must be greater than 0 (got 0.0)",
    ]


def test_a_floor_too_small_for_the_racks_on_it_is_refused_naming_them(demo: Design) -> None:
    with pytest.raises(EditError) as error:
        edits.set_hall(demo, hall_of(demo, floor={"width_m": 6.0}))
    paths = [problem.path for problem in error.value.problems]
    assert "racks[A05]" in paths
    assert "outside the 6 x 11 m floor" in str(error.value)


def test_telemetry_sources_change_in_one_edit(demo: Design) -> None:
    telemetry = demo.telemetry.model_dump() | {
        "simulate": False,
        "nvml": True,
        "mqtt": {"host": "bms.example", "port": 8883, "tls": True, "username": "ff"},
        "metrics": [{"url": "http://10.0.0.5:8000/metrics", "rack_id": "A01"}],
    }
    edit = edits.set_telemetry(demo, telemetry)
    assert edit.label == "Change telemetry sources"
    played(demo, edit)
    assert demo.telemetry.mqtt is not None and demo.telemetry.mqtt.host == "bms.example"
    assert demo.telemetry.metrics[0].rack_id == "A01"


def test_bad_telemetry_sources_name_the_field_and_the_reason(demo: Design) -> None:
    telemetry = demo.telemetry.model_dump() | {
        "mqtt": {"port": 70000},
        "metrics": [{"url": "ftp://x"}, {"url": "http://x/metrics", "rack_id": "Z-99"}],
    }
    with pytest.raises(EditError) as error:
        edits.set_telemetry(demo, telemetry)
    text = str(error.value)
    assert "telemetry.mqtt.port: must be less than or equal to 65535 (got 70000)" in text
    assert (
        "telemetry.metrics[0].url: must be an http:// or https:// address (got 'ftp://x')" in text
    )
    telemetry["mqtt"] = {}
    telemetry["metrics"] = telemetry["metrics"][1:]
    with pytest.raises(EditError, match=r"telemetry.metrics\[0\].rack_id: no rack 'Z-99'"):
        edits.set_telemetry(demo, telemetry)


# -- the BMS mapping review ---------------------------------------------------------------------


def with_broker(design: Design, broker: Mosquitto, **mqtt: object) -> Design:
    config = MqttConfig.model_validate({"host": broker.host, "port": broker.port} | mqtt)
    telemetry = design.telemetry.model_copy(update={"mqtt": config})
    return design.model_copy(update={"telemetry": telemetry})


def test_the_review_of_a_real_stream_maps_feedback_and_the_supply_setpoint_never_states(
    demo: Design, mosquitto: Mosquitto, publisher: Publisher
) -> None:
    assert {"A01"} <= {r.id for r in demo.racks} and "CDU-B1" in {c.id for c in demo.cdus}
    publish_real_stream(publisher)
    design = with_broker(demo, mosquitto)
    assert design.telemetry.mqtt is not None
    metadata = read_bms_metadata(design.telemetry.mqtt)
    rows = {row.point.point_id: row for row in review_rows(design, [], metadata.points)}
    assert set(rows) == set(REAL_STREAM)
    feeds = {pid: row.mapping.feeds for pid, row in rows.items() if row.mapping is not None}
    assert feeds == {
        "CDU/LiquidTemperature/Hall1/CDU_B1/SupplyTemperature": "cdu CDU-B1 supply_temp_c",
        "CDU/LiquidTemperature/Hall1/CDU_B1/SupplyTempSetpoint": "cdu CDU-B1 supply_temp_sp_c",
        "CDU/PumpSpeed/Hall1/CDU_B1/Pump1/Speed": "cdu CDU-B1 pump_rpm",
        "Rack/RackPower/Hall1/A01": "rack A01 power_kw",
        "Rack/RackLiquidFlow/Hall1/A01": "rack A01 flow_lpm",
    }
    reasons = {pid: row.reason for pid, row in rows.items()}
    setpoint = "CDU/LiquidTemperature/Hall1/CDU_B1/SupplyTempSetpoint"
    assert reasons[setpoint] == (
        "objectId 'CDU-B1' names plan CDU CDU-B1; LiquidTemperature is supply_temp_sp_c"
    )
    assert reasons["CDU/PumpSpeed/Hall1/CDU_B1/FillPump/Status"] == (
        "a state point (Off/On), not a measurement: pump_rpm is measured"
    )
    assert reasons["Rack/RackPower/Hall1/A01"] == (
        "rackLocationName 'A 01' names plan rack A01; RackPower is power_kw"
    )
    assert reasons["CDU/PumpSpeed/Hall1/CDU_B1/Pump1/Speed"] == (
        "objectId 'CDU-B1' names plan CDU CDU-B1; PumpSpeed is pump_rpm"
    )
    assert {pid for pid, row in rows.items() if row.proposed} == set(feeds)

    accepted = set(feeds) - {"Rack/RackLiquidFlow/Hall1/A01"}  # the engineer unticks one
    points = accepted_points([], list(rows.values()), accepted)
    edit = edits.set_bms_points(design, points)
    assert edit.label == "Map 4 BMS points"
    played(design, edit)
    assert design.telemetry.mqtt is not None
    assert {p.point_id for p in design.telemetry.mqtt.points} == accepted


def test_a_second_review_keeps_the_designs_mappings_and_flags_rivals(demo: Design) -> None:
    point = PointMetadata("Rack", "RackPower", "old/A01", {"rackLocationName": "A01"})
    unseen = PointMetadata("Rack", "RackPower", "gone/A02", {"rackLocationName": "A02"})
    rival = PointMetadata("Rack", "RackPower", "new/A01", {"rackLocationName": "A01"})
    design = demo.model_copy(deep=True)
    design.telemetry.mqtt = MqttConfig()
    first = review_rows(design, [], [point, unseen])
    both = {point.point_id, unseen.point_id}
    edits.set_bms_points(design, accepted_points([], first, both)).apply(design)
    mapped = design.telemetry.mqtt.points

    rows = {row.point.point_id: row for row in review_rows(design, mapped, [point, rival])}
    assert rows[point.point_id].in_design and rows[point.point_id].proposed
    assert rows[point.point_id].reason == "in the design: feeds rack A01 power_kw"
    assert not rows[rival.point_id].proposed
    assert rows[rival.point_id].reason == (
        "rack A01 power_kw is already fed by Rack/RackPower/old/A01 in the design"
    )
    # Unticking the design's own mapping removes it; a point the review did not show stays.
    kept = accepted_points(mapped, list(rows.values()), set())
    assert [p.point_id for p in kept] == [unseen.point_id]


def test_mapping_points_needs_an_mqtt_source(demo: Design) -> None:
    with pytest.raises(EditError, match=r"telemetry\.mqtt: no MQTT source"):
        edits.set_bms_points(demo, [])
