"""Field metadata for the properties panel, read from the model: labels, units, editors, typed
text, and validation in a design file's words."""

from __future__ import annotations

import pytest

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.field_info import (
    FRACTION_UNIT,
    describe_selection,
    display_text,
    editable_fields,
    field_spec,
    value_from_text,
    value_problems,
)
from factoryfloor.backend.design.model import Cdu, CoolingLoop, Design, GpuModel, Rack


@pytest.fixture(scope="module")
def demo() -> Design:
    return load_design("resources/demo_hall.json")


@pytest.mark.parametrize(
    ("model", "name", "label", "unit"),
    [
        (Rack, "it_power_kw", "IT power", "kW"),
        (Rack, "liquid_fraction", "Liquid fraction", FRACTION_UNIT),
        (Rack, "gpu_count", "GPU count", ""),
        (Rack, "rotation_deg", "Rotation", "°"),
        (Rack, "x_m", "X", "m"),
        (Rack, "tokens_per_s_per_gpu", "Throughput", "tok/s per GPU"),
        (Rack, "loop_id", "Cooling loop", ""),
        (Cdu, "supply_temp_c", "Supply temp", "°C"),
        (Cdu, "rated_flow_lpm", "Rated flow", "L/min"),
        (CoolingLoop, "design_delta_t_k", "Design ΔT", "K"),
        (GpuModel, "system_power_per_gpu_w", "System power per GPU", "W"),
    ],
)
def test_label_and_unit_come_from_the_field_name(model, name, label, unit) -> None:
    spec = field_spec(model, name)
    assert spec is not None
    assert (spec.label, spec.unit) == (label, unit)


def test_editor_kinds_follow_the_annotations() -> None:
    kinds = {name: spec.kind for name in Rack.model_fields if (spec := field_spec(Rack, name))}
    assert kinds["gpu_count"] == "integer"
    assert kinds["it_power_kw"] == "number"
    assert kinds["workload"] == "text"
    assert kinds["gpu_model"] == kinds["loop_id"] == "reference"
    fluid = field_spec(Cdu, "fluid")
    assert fluid is not None and (fluid.kind, fluid.options) == ("choice", ("water", "pg25"))
    liquid_cooled = field_spec(GpuModel, "liquid_cooled")
    assert liquid_cooled is not None and liquid_cooled.kind == "bool"
    loop_id = field_spec(Rack, "loop_id")
    assert loop_id is not None and loop_id.optional


def test_descriptions_are_the_field_docstrings_without_rest_markup() -> None:
    workload = field_spec(Rack, "workload")
    assert workload is not None
    assert workload.description == (
        "Override of the catalog's reference workload, with tokens_per_s_per_gpu."
    )


def test_a_route_is_drawn_on_the_plan_not_typed(demo: Design) -> None:
    assert field_spec(CoolingLoop, "route") is None
    assert [spec.name for spec in editable_fields(demo.loops[:1])] == [
        "id",
        "cdu_id",
        "design_delta_t_k",
    ]


def test_a_mixed_selection_edits_the_fields_all_share_and_never_the_id(demo: Design) -> None:
    shared = editable_fields([demo.racks[0], demo.cdus[0]])
    assert [spec.name for spec in shared] == ["x_m", "y_m", "rotation_deg", "width_m", "depth_m"]
    assert "id" not in [spec.name for spec in editable_fields(demo.racks[:2])]
    assert editable_fields([]) == []


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("it_power_kw", " 150 ", 150.0),
        ("it_power_kw", "1e3", 1000.0),
        ("it_power_kw", "abc", "abc"),
        ("it_power_kw", "", ""),
        ("gpu_count", "72", 72),
        ("gpu_count", "72.0", 72),
        ("gpu_count", "7.5", 7.5),
        ("tokens_per_s_per_gpu", "", None),
        ("workload", "  ", None),
        ("id", " A99 ", "A99"),
    ],
)
def test_typed_text_becomes_a_value_the_model_judges(name: str, text: str, value: object) -> None:
    spec = field_spec(Rack, name)
    assert spec is not None
    parsed = value_from_text(spec, text)
    assert parsed == value and type(parsed) is type(value)


def test_problems_are_worded_as_a_design_files(demo: Design) -> None:
    rack = demo.racks[0]
    assert value_problems([rack], "it_power_kw", 150.0) == []
    assert value_problems([rack], "it_power_kw", -5.0) == [
        "must be greater than or equal to 0 (got -5.0)"
    ]
    assert value_problems([rack], "it_power_kw", "abc") == ["must be a valid number (got 'abc')"]
    assert value_problems([rack], "gpu_count", 7.5) == ["must be a valid integer (got 7.5)"]
    assert value_problems([rack], "it_power_kw", float("inf")) == [
        "must be a finite number (got inf)"
    ]
    assert value_problems([demo.cdus[0]], "fluid", "oil") == [
        "must be 'water' or 'pg25' (got 'oil')"
    ]
    assert value_problems([rack], "nodes", ["a01-n1", "a01/n2"]) == [
        "must start with a letter or digit and hold only letters, digits, _ . - (got 'a01/n2')"
    ]


def test_each_kind_is_checked_by_its_own_rules(demo: Design) -> None:
    # A CDU allows 50,000 kW, a feed 100,000 kW: 60,000 suits the feed only.
    assert value_problems(demo.feeds[:1], "capacity_kw", 60_000.0) == []
    assert value_problems([demo.cdus[0], demo.feeds[0]], "capacity_kw", 60_000.0) == [
        "must be less than or equal to 50000 (got 60000.0)"
    ]
    # The same failure on many items is reported once.
    assert value_problems(demo.racks, "x_m", -1.0) == [
        "must be greater than or equal to 0 (got -1.0)"
    ]


def test_values_display_without_float_noise() -> None:
    assert display_text(132.0) == "132"
    assert display_text(0.1 + 0.2) == "0.3"
    assert display_text(72) == "72"
    assert display_text(None) == ""
    assert display_text("L-A1") == "L-A1"


def test_the_selection_is_described_as_a_person_would(demo: Design) -> None:
    assert describe_selection(demo.racks[:1]) == "Rack A01"
    assert describe_selection(demo.loops[:1]) == "Cooling loop L-A1"
    assert describe_selection(demo.racks[:3]) == "3 racks"
    assert describe_selection([*demo.racks[:2], demo.cdus[0]]) == "2 racks and 1 CDU"
    mixed = [demo.racks[0], demo.cdus[0], *demo.feeds[:2]]
    assert describe_selection(mixed) == "1 rack, 1 CDU and 2 power feeds"
    assert describe_selection([]) == ""
