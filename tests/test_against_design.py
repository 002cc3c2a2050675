"""Measured against designed: the words on the plan and the off-design flag."""

from __future__ import annotations

from factoryfloor.backend.telemetry.against_design import (
    OFF_DESIGN_FRACTION,
    AgainstDesign,
    against_design,
)


def test_a_loop_reads_as_measured_against_designed() -> None:
    loop = AgainstDesign("L-B2", designed_kw=449.0, measured_kw=472.0)
    assert loop.line() == "472 kW, +5 % vs design"
    assert loop.sentence() == "L-B2: designed 449 kW, measured 472 kW, +5 %"
    assert not loop.off_design


def test_off_design_beyond_the_set_share_either_way() -> None:
    assert OFF_DESIGN_FRACTION == 0.10
    assert AgainstDesign("F", 1000.0, 1101.0).off_design
    assert not AgainstDesign("F", 1000.0, 1099.0).off_design
    low = AgainstDesign("F", 1000.0, 650.0)
    assert low.off_design and low.line() == "650 kW, -35 % vs design"
    nothing_designed = AgainstDesign("F", 0.0, 12.0)
    assert nothing_designed.off_design and nothing_designed.line() == "12 kW, none designed"


def test_only_entities_with_a_reading_are_compared() -> None:
    compared = against_design({"L1": 90.0, "L9": 5.0}, {"L1": 100.0, "L2": 100.0})
    assert list(compared) == ["L1"]
    assert compared["L1"].sentence() == "L1: designed 100 kW, measured 90 kW, -10 %"
