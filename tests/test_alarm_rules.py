"""Alarm rules in the design file, and the evaluator on real store snapshots, kind by kind.

Every test writes readings into a real TelemetryStore and evaluates its ``snapshot``, as the
service will; the messages asserted are what an operator reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alarm_plans import Feed, Run, cleared, raised, small_hall

from factoryfloor.backend.design import edits
from factoryfloor.backend.design.alarm_rules import (
    DesignLimitRule,
    HeartbeatRule,
    PlausibilityRule,
    QualityRule,
    RateRule,
    SourceOfflineRule,
    StaleRule,
    StateRule,
    ThresholdRule,
    default_rules,
)
from factoryfloor.backend.design.design_file import DesignFileError, load_design, parse_design
from factoryfloor.backend.design.edits import EditError
from factoryfloor.backend.design.model import SCHEMA_VERSION
from factoryfloor.backend.service.alarms.annunciation import Annunciation
from factoryfloor.backend.service.alarms.states import AlarmState
from factoryfloor.backend.service.alarms.system import AlarmSystem
from factoryfloor.backend.telemetry.sink import SourceEvent

DEMO = Path(__file__).resolve().parent.parent / "resources" / "demo_hall.json"


# -- rules in the design file -------------------------------------------------------------------


def test_a_design_file_without_rules_gets_the_default_set_and_keeps_its_schema() -> None:
    tree = json.loads(DEMO.read_bytes())
    del tree["alarm_rules"]  # as every file written before alarms existed
    design = parse_design(json.dumps(tree).encode(), "old.json")
    assert design.alarm_rules == default_rules() == load_design(DEMO).alarm_rules
    assert design.schema_version == SCHEMA_VERSION == 1
    priorities = {rule.id: rule.priority for rule in design.alarm_rules}
    assert priorities["rack-leak"] == "high"


def test_rules_saved_in_a_file_load_back_and_bad_ones_are_named() -> None:
    tree = json.loads(DEMO.read_bytes())
    tree["alarm_rules"] = [
        {"kind": "threshold", "id": "hot", "priority": "high", "series": "rack",
         "quantity": "supply_temp_c", "direction": "high", "limit": 40, "deadband": 1},
    ]  # fmt: skip
    design = parse_design(json.dumps(tree).encode(), "hall.json")
    assert [rule.id for rule in design.alarm_rules] == ["hot"]
    tree["alarm_rules"].append(dict(tree["alarm_rules"][0], priority="urgent"))
    tree["alarm_rules"].append(dict(tree["alarm_rules"][0]))
    with pytest.raises(DesignFileError) as caught:
        parse_design(json.dumps(tree).encode(), "hall.json")
    text = str(caught.value)
    assert "alarm_rules[1].threshold.priority" in text
    tree["alarm_rules"].pop(1)
    with pytest.raises(DesignFileError, match=r"alarm_rules\[1\].id: rule id 'hot' is used"):
        parse_design(json.dumps(tree).encode(), "hall.json")


# -- series rules --------------------------------------------------------------------------------


def test_threshold_with_on_delay_deadband_and_off_delay() -> None:
    run = Run(ThresholdRule(id="slow", priority="low", series="gpu", quantity="temp_c",
                            direction="high", limit=89.0, deadband=3.0, on_delay_s=5.0,
                            off_delay_s=2.0))  # fmt: skip
    key = "gpu/R1/0/temp_c"
    assert run.at(0.0, {key: 91.0}) == []
    assert run.at(4.0, {key: 91.0}) == []
    changes = run.at(5.0, {key: 90.5})
    assert raised(changes) == {"slow@R1 GPU 0": "R1 GPU 0: 90.5 °C, over the 89.0 °C limit"}
    assert changes[0].entity == "R1"  # the GPU's rack, found by the design's placement
    assert run.at(6.0, {key: 87.0}) == []  # inside the deadband: still hot
    assert run.at(7.0, {key: 85.0}) == []  # below it, but the off-delay holds
    assert cleared(run.at(9.0, {key: 85.0})) == {"slow@R1 GPU 0"}


def test_low_threshold_and_rate_of_change() -> None:
    run = Run(
        ThresholdRule(id="low-flow", priority="medium", series="rack", quantity="flow_lpm",
                      direction="low", limit=50.0),
        RateRule(id="rising", priority="low", series="rack", quantity="supply_temp_c",
                 max_per_min=5.0),
    )  # fmt: skip
    assert run.at(0.0, {"rack/R1/flow_lpm": 120.0, "rack/R1/supply_temp_c": 30.0}) == []
    changes = run.at(30.0, {"rack/R1/flow_lpm": 40.0, "rack/R1/supply_temp_c": 35.0})
    assert raised(changes) == {
        "low-flow@R1": "R1: 40.0 L/min, under the 50.0 L/min limit",
        "rising@R1": "R1: changing +10.0 °C/min, faster than 5.0 °C/min",
    }
    assert cleared(run.at(90.0, {"rack/R1/supply_temp_c": 36.0})) == {"rising@R1"}


def test_stale_and_bad_quality_readings() -> None:
    run = Run(
        StaleRule(id="stale", priority="low", series="rack", quantity="*"),
        QualityRule(id="quality", priority="low", series="rack", quantity="*"),
    )
    run.at(0.0, {"rack/R1/power_kw": 100.0})
    changes = run.at(1.0, {"rack/R2/power_kw": 100.0}, quality=0)
    assert raised(changes) == {"quality@R2 power_kw": "R2 power_kw: reading quality 0, not good"}
    # BMS points are re-sent at least every 100 s: stale after 200 s without one
    assert raised(run.at(200.5)) == {"stale@R1 power_kw": "R1 power_kw: no reading, stale"}
    changes = run.at(202.0, {"rack/R1/power_kw": 100.0, "rack/R2/power_kw": 100.0})
    assert cleared(changes) == {"stale@R1 power_kw", "quality@R2 power_kw"}


def test_leak_sensor_fault_and_isolation_states() -> None:
    rules = [r for r in default_rules() if isinstance(r, StateRule)]
    run = Run(*rules)
    changes = run.at(
        0.0,
        {
            "rack/R1/leak": 1.0,
            "rack/R2/leak": 0.0,
            "rack/R2/leak_sensor_fault": 1.0,
            "rack/R1/liquid_isolated": 1.0,
        },
    )
    assert raised(changes) == {
        "rack-leak@R1": "R1: leak detected",
        "rack-leak-sensor-fault@R2": "R2: leak sensor fault",
        "rack-liquid-isolated@R1": "R1: liquid isolated",
    }
    assert {c.alarm_id: c.priority for c in changes}["rack-leak@R1"] == "high"


def test_a_node_offline_and_the_bms_heartbeat_lost() -> None:
    run = Run(
        SourceOfflineRule(id="offline", priority="medium", on_delay_s=10.0),
        HeartbeatRule(id="heartbeat", priority="high"),
    )
    down = SourceEvent("mqtt", "status", "node n1", "offline", 0.0)
    lost = SourceEvent("mqtt", "status", "BMS", "BMS lost: no HeartbeatTimestampBms for 31 s")
    assert raised(run.at(0.0, events=[down, lost])) == {
        "heartbeat@BMS": "BMS heartbeat lost (BMS lost: no HeartbeatTimestampBms for 31 s)"
    }
    assert raised(run.at(10.0)) == {"offline@mqtt: node n1": "mqtt: node n1: offline"}
    back = [
        SourceEvent("mqtt", "status", "node n1", "online"),
        SourceEvent("mqtt", "status", "BMS", "BMS heartbeat back"),
    ]
    assert cleared(run.at(11.0, events=back)) == {"offline@mqtt: node n1", "heartbeat@BMS"}


# -- the design's own limits ---------------------------------------------------------------------


def test_limits_from_the_design() -> None:
    run = Run(*(DesignLimitRule(id=limit, priority="high", limit=limit) for limit in (
        "loop_heat_over_cdu", "loop_flow_below_need", "feed_over_capacity", "rack_air_over_limit"
    )))  # fmt: skip
    changes = run.at(0.0, {
        "loop/L-1/heat_kw": 315.0, "cdu/CDU-1/flow_lpm": 300.0,
        "rack/R1/power_kw": 210.0, "rack/R2/power_kw": 60.0,
    })  # fmt: skip
    assert raised(changes) == {
        "loop_heat_over_cdu@L-1": "L-1: 315 kW, over CDU-1's 300 kW",
        # 315 kW at 10 K in water at 35 C: 315 * 60 / (0.9946 * 4.18 * 10) = 455 L/min
        "loop_flow_below_need@L-1": "L-1: 300 L/min, under the 455 L/min its 315 kW needs",
        "feed_over_capacity@F-1": "F-1: 270 kW, over its 250 kW capacity",
        "rack_air_over_limit@R1": "R1: 31.5 kW to air, over the 30 kW air-cooling limit",
    }
    changes = run.at(1.0, {"loop/L-1/heat_kw": 250.0, "cdu/CDU-1/flow_lpm": 400.0,
                           "rack/R1/power_kw": 150.0})  # fmt: skip
    assert cleared(changes) == {
        "loop_heat_over_cdu@L-1", "loop_flow_below_need@L-1", "feed_over_capacity@F-1",
        "rack_air_over_limit@R1",
    }  # fmt: skip


def test_plausibility_heat_balance_and_a_cdu_flow_that_disagrees_with_its_racks() -> None:
    run = Run(*(PlausibilityRule(id=check, priority="low", check=check) for check in (
        "rack_heat_balance", "loop_heat_balance", "cdu_flow_vs_racks")))  # fmt: skip
    balanced = {
        # 100 kW, 85 % to liquid = 85 kW = flow x 10 K x 0.9946 kg/L x 4.18 / 60: 122.7 L/min
        "rack/R1/power_kw": 100.0, "rack/R1/flow_lpm": 122.7,
        "rack/R1/supply_temp_c": 30.0, "rack/R1/return_temp_c": 40.0,
        "rack/R2/power_kw": 100.0, "rack/R2/flow_lpm": 122.7,
        "rack/R2/supply_temp_c": 30.0, "rack/R2/return_temp_c": 40.0,
        "cdu/CDU-1/flow_lpm": 245.4, "cdu/CDU-1/supply_temp_c": 30.0,
        "cdu/CDU-1/return_temp_c": 40.0,
    }  # fmt: skip
    assert run.at(0.0, balanced) == []
    # a real DSX stream had a CDU reporting 0 L/min while its racks reported 250
    changes = run.at(1.0, {"cdu/CDU-1/flow_lpm": 0.0, "rack/R1/return_temp_c": 34.0})
    assert raised(changes) == {
        "cdu_flow_vs_racks@CDU-1": "CDU-1: 0 L/min, its racks 245 L/min",
        "loop_heat_balance@L-1": "L-1: CDU-1 carries 0 kW (flow x dT), its racks put 170 kW "
        "into the liquid",
        "rack_heat_balance@R1": "R1: liquid carries 34.0 kW (flow x dT), 85.0 kW expected "
        "from its 100.0 kW",
    }


# -- the system: suppression, floods, chattering --------------------------------------------------


def test_an_isolated_racks_alarms_are_suppressed_by_design_but_not_its_leak(tmp_path) -> None:
    feed = Feed()
    rules = [r for r in default_rules() if isinstance(r, StateRule)]
    rules.append(
        ThresholdRule(
            id="hot",
            priority="medium",
            series="rack",
            quantity="supply_temp_c",
            direction="high",
            limit=45.0,
        )
    )
    system = AlarmSystem(small_hall(rules), tmp_path)
    feed.write(0.0, {"rack/R1/supply_temp_c": 50.0, "rack/R1/leak": 1.0})
    system.step(feed.snapshot(0.0), [], 0.0)
    feed.write(1.0, {"rack/R1/liquid_isolated": 1.0})
    system.step(feed.snapshot(1.0), [], 1.0)
    states = {a.alarm_id: a.state for a in system.alarms.values()}
    assert states["hot@R1"] is AlarmState.SUPPRESSED
    assert states["rack-leak@R1"] is AlarmState.UNACKNOWLEDGED
    feed.write(2.0, {"rack/R1/liquid_isolated": 0.0})
    system.step(feed.snapshot(2.0), [], 2.0)
    assert system.alarms["hot@R1"].state is AlarmState.UNACKNOWLEDGED  # still hot: seen again
    system.close()


def test_a_flood_is_more_than_ten_new_alarms_in_ten_minutes(tmp_path) -> None:
    feed = Feed()
    system = AlarmSystem(small_hall(default_rules()[:1], racks=12), tmp_path)
    for i in range(1, 12):
        feed.write(i * 50.0, {f"rack/R{i}/leak": 1.0})
        system.step(feed.snapshot(i * 50.0), [], i * 50.0)
        assert (system.annunciation.flood is not None) == (i == 11)
    flood = system.annunciation.flood
    assert flood is not None and len(flood.alarms) == 11 and flood.start_s == 50.0
    system.step(feed.snapshot(700.0), [], 700.0)
    assert system.annunciation.flood is None and system.annunciation.floods[0].end_s == 700.0
    system.close()


def test_three_activations_in_a_minute_is_chattering() -> None:
    annunciation = Annunciation()
    for t in (0.0, 20.0, 40.0):
        annunciation.observe(t, ["leak@R1"])
    annunciation.observe(45.0, ["leak@R2"])
    assert annunciation.chattering == {"leak@R1"}
    annunciation.observe(101.0, [])
    assert annunciation.chattering == set()


def test_an_engineer_changes_the_rules_in_one_undoable_edit() -> None:
    design = load_design(DEMO)
    before = list(design.alarm_rules)
    tighter = [r.model_dump() for r in before]
    tighter[0]["priority"] = "medium"
    edit = edits.set_alarm_rules(design, tighter)
    edit.apply(design)
    assert design.alarm_rules[0].priority == "medium"
    edit.revert(design)
    assert design.alarm_rules == before
    bad = [dict(tighter[0], on_delay_s=-1.0), tighter[0]]
    with pytest.raises(EditError) as caught:
        edits.set_alarm_rules(design, bad)
    assert "alarm_rules[0].state.on_delay_s" in str(caught.value.problems[0])
    with pytest.raises(EditError, match="rule id 'rack-leak' is used more than once"):
        edits.set_alarm_rules(design, [tighter[0], tighter[0]])


def test_a_rule_for_named_racks_or_hosts_watches_only_those() -> None:
    run = Run(
        ThresholdRule(id="r2-power", priority="medium", series="rack", quantity="power_kw",
                      direction="high", limit=100.0, entities=["R2"]),
        ThresholdRule(id="host-hot", priority="low", series="gpu", quantity="temp_c",
                      direction="high", limit=80.0, entities=["R1"]),
    )  # fmt: skip
    changes = run.at(0.0, {"rack/R1/power_kw": 150.0, "rack/R2/power_kw": 150.0,
                           "gpu/R1/0/temp_c": 85.0, "gpu/R2/0/temp_c": 85.0})  # fmt: skip
    assert set(raised(changes)) == {"r2-power@R2", "host-hot@R1 GPU 0"}
