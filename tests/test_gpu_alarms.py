"""Alarms on what NVML says of each GPU: clock-event reasons, uncorrected ECC errors and Xid
critical errors, rule by rule on real store snapshots, then end to end from the NVML source
replaying the recorded H100 into a real store and the alarm system with its journal on disk."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from alarm_plans import Run, cleared, raised, small_hall

from factoryfloor.backend.design.alarm_rules import (
    ClockEventRule,
    CounterRule,
    XidRule,
    default_rules,
)
from factoryfloor.backend.design.design_file import DesignFileError, parse_design
from factoryfloor.backend.design.nvml_codes import describe_xid
from factoryfloor.backend.service.alarms.journal import FILE_NAME, AlarmJournal
from factoryfloor.backend.service.alarms.system import AlarmSystem
from factoryfloor.backend.telemetry.sources.nvml_source import NvmlSource
from factoryfloor.backend.telemetry.sources.nvml_trace import NvmlTraceReplay, TraceClock
from factoryfloor.backend.telemetry.store import TelemetryStore

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {rule.id: rule for rule in default_rules()}
HW_THERMAL, SW_POWER_CAP, HW_SLOWDOWN, POWER_BRAKE = 0x40, 0x4, 0x8, 0x80


def gpu(index: int, quantity: str, rack: str = "R1") -> str:
    return f"gpu/{rack}/{index}/{quantity}"


# -- the rules ------------------------------------------------------------------------------------


def test_thermal_and_hardware_slowdown_are_raised_in_words_but_a_power_cap_is_not() -> None:
    run = Run(DEFAULTS["gpu-thermal-slowdown"], DEFAULTS["gpu-hw-slowdown"])
    reasons = gpu(0, "clock_event_reasons")
    for t in range(0, 30, 5):  # held under its power limit for half a minute: routine
        assert run.at(float(t), {reasons: SW_POWER_CAP}) == []
    assert run.at(30.0, {reasons: SW_POWER_CAP | HW_THERMAL}) == []  # on-delay: 5 s
    changes = run.at(35.0, {reasons: SW_POWER_CAP | HW_THERMAL})
    assert raised(changes) == {
        "gpu-thermal-slowdown@R1 GPU 0": "R1 GPU 0: clocks held back by HW thermal"
    }
    assert changes[0].priority == "low" and changes[0].entity == "R1"
    changes = run.at(36.0, {reasons: HW_SLOWDOWN | POWER_BRAKE, gpu(1, "clock_event_reasons"): 0})
    assert raised(changes) == {}
    changes = run.at(41.0, {reasons: HW_SLOWDOWN | POWER_BRAKE})
    assert raised(changes) == {
        "gpu-hw-slowdown@R1 GPU 0": "R1 GPU 0: clocks held back by HW slowdown, power brake"
    }
    assert cleared(changes) == set()  # thermal gone since 36 s: the 10 s off-delay holds it
    assert cleared(run.at(46.0, {reasons: HW_SLOWDOWN})) == {"gpu-thermal-slowdown@R1 GPU 0"}
    assert cleared(run.at(52.0, {reasons: 0})) == set()
    changes = run.at(62.0, {reasons: 0})
    assert cleared(changes) == {"gpu-hw-slowdown@R1 GPU 0"}
    assert (
        changes[0].message == "R1 GPU 0: clocks no longer held back by HW slowdown or power brake"
    )


def test_an_uncorrected_ecc_error_is_raised_with_its_count_and_clears_after_a_quiet_hold() -> None:
    rule = DEFAULTS["gpu-ecc-uncorrected"]
    assert rule.priority == "medium" and rule.off_delay_s == 600.0
    run = Run(rule)
    ecc = gpu(3, "ecc_volatile_total")
    assert run.at(0.0, {ecc: 2.0}) == []  # counted before the service watched: the baseline
    assert run.at(1.0, {ecc: 2.0}) == []
    changes = run.at(2.0, {ecc: 3.0})
    assert raised(changes) == {
        "gpu-ecc-uncorrected@R1 GPU 3": "R1 GPU 3: uncorrected ECC error, ecc_volatile_total 3 (+1)"
    }
    assert changes[0].value == 3.0
    assert run.at(300.0, {ecc: 5.0}) == []  # still active: a second error restarts the hold
    assert run.at(301.0, {ecc: 5.0}) == []
    assert run.at(900.5, {ecc: 5.0}) == []
    changes = run.at(901.0, {ecc: 5.0})
    assert cleared(changes) == {"gpu-ecc-uncorrected@R1 GPU 3"}
    assert changes[0].message == "R1 GPU 3: no new uncorrected ECC error, ecc_volatile_total 5"
    assert run.at(1000.0, {ecc: 0.0}) == []  # a driver reload resets the volatile count
    assert set(raised(run.at(1001.0, {ecc: 1.0}))) == {"gpu-ecc-uncorrected@R1 GPU 3"}


def test_an_xid_is_raised_high_with_its_code_and_what_it_means() -> None:
    rule = DEFAULTS["gpu-xid"]
    assert rule.priority == "high"
    run = Run(rule)
    run.at(0.0, {gpu(i, q): 0.0 for i in (0, 1) for q in ("xid", "xid_total")})
    changes = run.at(1.0, {gpu(0, "xid"): 79.0, gpu(0, "xid_total"): 1.0,
                           gpu(1, "xid"): 150.0, gpu(1, "xid_total"): 2.0})  # fmt: skip
    assert raised(changes) == {
        "gpu-xid@R1 GPU 0": "R1 GPU 0: Xid 79 (GPU has fallen off the bus)",
        "gpu-xid@R1 GPU 1": "R1 GPU 1: Xid 150, 2 Xid errors since the last reading",
    }
    assert {c.priority for c in changes} == {"high"}
    assert run.at(2.0) == []  # no further error from here: clears 600 s on
    assert cleared(run.at(602.0, {gpu(0, "xid_total"): 1.0, gpu(1, "xid_total"): 2.0})) == {
        "gpu-xid@R1 GPU 0", "gpu-xid@R1 GPU 1",
    }  # fmt: skip


def test_well_known_xids_are_named_and_others_are_numbers() -> None:
    known = (13, 31, 43, 48, 63, 64, 74, 79, 92, 94, 95, 119, 120)
    assert all(describe_xid(code).startswith(f"Xid {code} (") for code in known)
    assert describe_xid(48) == "Xid 48 (double-bit ECC error: data lost in GPU memory)"
    assert describe_xid(154) == "Xid 154"


def test_a_counter_seen_again_after_new_series_join_keeps_its_baseline() -> None:
    run = Run(XidRule(id="xid", priority="high"))
    run.at(0.0, {gpu(0, "xid_total"): 0.0})
    # GPU 1 joins (the evaluator compiles its rules again) in the reading where GPU 0's count rose
    changes = run.at(1.0, {gpu(0, "xid_total"): 1.0, gpu(1, "xid_total"): 4.0})
    # GPU 1's 4 is its baseline, not an error; a source that sends no code: the error unnamed
    assert raised(changes) == {"xid@R1 GPU 0": "R1 GPU 0: Xid critical error"}


def test_gpu_rules_for_named_racks_or_hosts_watch_only_those() -> None:
    run = Run(ClockEventRule(id="hot", priority="low", reasons=["HW thermal"], entities=["R2"]),
              CounterRule(id="ecc", priority="medium", quantity="ecc_volatile_total",
                          meaning="uncorrected ECC error", entities=["R1"]))  # fmt: skip
    both = ("R1", "R2")
    run.at(0.0, {gpu(0, "ecc_volatile_total", r): 0.0 for r in both})
    changes = run.at(1.0, {**{gpu(0, "clock_event_reasons", r): HW_THERMAL for r in both},
                           **{gpu(0, "ecc_volatile_total", r): 1.0 for r in both}})  # fmt: skip
    assert set(raised(changes)) == {"hot@R2 GPU 0", "ecc@R1 GPU 0"}


def test_gpu_rules_in_a_design_file_and_bad_ones_named() -> None:
    tree = json.loads((ROOT / "resources" / "demo_hall.json").read_text(encoding="utf-8"))
    kinds = {rule["kind"] for rule in tree["alarm_rules"]}
    assert {
        "clock_events",
        "counter",
        "xid",
    } <= kinds  # shipped with the demo, as with every design
    thermal = next(r for r in tree["alarm_rules"] if r["id"] == "gpu-thermal-slowdown")
    assert thermal["reasons"] == ["SW thermal", "HW thermal"]
    assert parse_design(json.dumps(tree).encode(), "hall.json").alarm_rules == default_rules()
    thermal["reasons"] = ["HW thermal", "too hot"]
    with pytest.raises(DesignFileError, match=r"(?s)hall\.json.*alarm_rules.*reasons.*'too hot'"):
        parse_design(json.dumps(tree).encode(), "hall.json")
    thermal["reasons"] = ["HW thermal"]
    xid = next(r for r in tree["alarm_rules"] if r["kind"] == "xid")
    xid["on_delay_s"] = 5.0
    with pytest.raises(DesignFileError, match=r"(?s)alarm_rules.*xid.*on_delay_s"):
        parse_design(json.dumps(tree).encode(), "hall.json")


def test_the_default_set_keeps_most_alarms_low() -> None:
    priorities = [rule.priority for rule in default_rules()]
    assert priorities.count("low") > priorities.count("medium") > priorities.count("high")


# -- end to end: the NVML source, the store, the alarm system ------------------------------------


class Throttling(NvmlTraceReplay):
    """The recorded H100, but GPU 1 hits its thermal limit once ``hot`` is set: NVML then adds
    HW thermal to the clock-event reasons the trace recorded."""

    hot = False

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: Any) -> int:
        recorded = super().nvmlDeviceGetCurrentClocksEventReasons(handle)
        return recorded | HW_THERMAL if self.hot and handle.index == 1 else recorded


@pytest.mark.asyncio
async def test_a_gpu_in_thermal_slowdown_and_an_xid_raise_alarms_from_nvml(tmp_path) -> None:
    trace = json.loads((ROOT / "resources" / "h100_nvml_trace.json").read_text(encoding="utf-8"))
    nvml = Throttling(trace, gpu_count=2, clock=TraceClock(15.0))  # under its power cap
    store = TelemetryStore()
    system = AlarmSystem(small_hall(default_rules()), tmp_path)
    raised_at: dict[str, tuple[float, str, str]] = {}

    async def step_until(alarm_id: str, timeout_s: float = 15.0) -> tuple[float, str, str]:
        """Step the alarm system as the service does, at 4 Hz, until ``alarm_id`` is raised."""
        async with asyncio.timeout(timeout_s):
            while alarm_id not in raised_at:
                now_s = time.time()
                for t in system.step(store.snapshot("", now_s), [], now_s):
                    if t.event == "active":
                        raised_at[t.alarm_id] = (now_s, t.priority, t.message)
                await asyncio.sleep(0.25)
        return raised_at[alarm_id]

    task = asyncio.create_task(NvmlSource(store, fast_hz=20, slow_hz=2, nvml=nvml).run())
    try:
        async with asyncio.timeout(10.0):
            while "gpu/local/1/xid_total" not in store.keys(
                "gpu/local/1/"
            ):  # GPUs found and registered
                await asyncio.sleep(0.01)
        assert store.latest("gpu/local/1/clock_event_reasons").value == SW_POWER_CAP
        nvml.hot, hot_s = True, time.time()
        at_s, priority, message = await step_until("gpu-thermal-slowdown@local GPU 1")
        assert (priority, message) == ("low", "local GPU 1: clocks held back by HW thermal")
        assert at_s - hot_s >= DEFAULTS["gpu-thermal-slowdown"].on_delay_s
        assert nvml.inject_xid(0, 79) == 1
        _, priority, message = await step_until("gpu-xid@local GPU 0")
        assert (priority, message) == ("high", "local GPU 0: Xid 79 (GPU has fallen off the bus)")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        system.close()
    assert set(raised_at) == {"gpu-thermal-slowdown@local GPU 1", "gpu-xid@local GPU 0"}
    journal = AlarmJournal(tmp_path / FILE_NAME, read_only=True)
    try:
        journaled = {t.alarm_id for t in journal.search() if t.event == "active"}
    finally:
        journal.close()
    assert journaled == set(raised_at)
