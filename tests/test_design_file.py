"""Design files: what is saved loads back unchanged, and a bad file says exactly what is wrong.

An engineer fixes a rejected file by hand, so every problem must be listed with its path in one
go; and whatever bytes a file holds, loading either gives a design or a DesignFileError.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import designs

from factoryfloor.backend.design.design_file import (
    MAX_FILE_BYTES,
    DesignFileError,
    design_to_json,
    load_design,
    parse_design,
    save_design,
)
from factoryfloor.backend.design.model import SCHEMA_VERSION, Design

DEMO_PATH = Path(__file__).resolve().parent.parent / "resources" / "demo_hall.json"
DEMO_BYTES = DEMO_PATH.read_bytes()
DEMO_TREE: dict[str, Any] = json.loads(DEMO_BYTES)


def demo_tree() -> dict[str, Any]:
    """A fresh, mutable copy of the demo file's JSON tree."""
    return copy.deepcopy(DEMO_TREE)


def encode(tree: Any) -> bytes:
    return json.dumps(tree, indent=2).encode()


def problems_of(raw: bytes) -> dict[str, str]:
    """path -> reason of every problem ``parse_design`` reports; fails if the file is accepted."""
    with pytest.raises(DesignFileError) as caught:
        parse_design(raw, "hall.json")
    problems = caught.value.problems
    assert problems, "a DesignFileError must list at least one problem"
    return {problem.path: problem.reason for problem in problems}


# (a) Round trip ---------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(design=designs())
def test_json_round_trip_gives_the_same_design(design: Design) -> None:
    assert parse_design(design_to_json(design).encode("utf-8"), "generated.json") == design


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(design=designs())
def test_saved_file_loads_as_the_same_design(design: Design, tmp_path: Path) -> None:
    path = tmp_path / "design.json"
    save_design(design, path)
    assert load_design(path) == design


def test_demo_file_round_trips_through_save(tmp_path: Path) -> None:
    demo = load_design(DEMO_PATH)
    path = tmp_path / "copy.json"
    save_design(demo, path)
    assert load_design(path) == demo
    assert json.loads(path.read_bytes()) == DEMO_TREE


# (b) Bad files ----------------------------------------------------------------------------------


def test_every_bad_field_is_listed_with_its_path() -> None:
    tree = demo_tree()
    tree["racks"][1]["it_power_kw"] = -5.0
    tree["cdus"][0]["fluid"] = "glycol"
    tree["floor"]["width_m"] = 0
    problems = problems_of(encode(tree))
    assert set(problems) == {"racks[1].it_power_kw", "cdus[0].fluid", "floor.width_m"}
    assert "-5.0" in problems["racks[1].it_power_kw"]
    assert "'water'" in problems["cdus[0].fluid"] and "'pg25'" in problems["cdus[0].fluid"]


def test_a_scrape_interval_per_endpoint_is_kept_and_bounded() -> None:
    tree = demo_tree()
    endpoint = {"url": "http://10.0.0.5:8000/metrics", "server_kind": "vllm"}
    tree["telemetry"]["metrics"] = [endpoint | {"scrape_interval_s": 5.0}, endpoint]
    metrics = parse_design(encode(tree), "hall.json").telemetry.metrics
    assert [m.scrape_interval_s for m in metrics] == [5.0, 1.0]  # 1 s unless said
    tree["telemetry"]["metrics"] = [endpoint | {"scrape_interval_s": 0.01}]
    problems = problems_of(encode(tree))
    assert "greater than or equal to 0.1" in problems["telemetry.metrics[0].scrape_interval_s"]


def test_unknown_field_is_refused() -> None:
    tree = demo_tree()
    tree["racks"][0]["colour"] = "red"
    problems = problems_of(encode(tree))
    assert list(problems) == ["racks[0].colour"]
    assert "unknown field" in problems["racks[0].colour"]


def test_missing_field_is_refused() -> None:
    tree = demo_tree()
    del tree["racks"][2]["gpu_count"]
    del tree["floor"]["depth_m"]
    problems = problems_of(encode(tree))
    assert problems == {
        "racks[2].gpu_count": "required field is missing",
        "floor.depth_m": "required field is missing",
    }


def test_quoted_number_is_refused() -> None:
    tree = demo_tree()
    tree["racks"][0]["it_power_kw"] = "132.0"
    tree["racks"][0]["gpu_count"] = "72"
    problems = problems_of(encode(tree))
    assert set(problems) == {"racks[0].it_power_kw", "racks[0].gpu_count"}
    assert "'132.0'" in problems["racks[0].it_power_kw"]


@pytest.mark.parametrize(
    ("section", "index", "field", "value", "named"),
    [
        ("racks", 0, "loop_id", "L-ZZ", "no loop 'L-ZZ'"),
        ("racks", 3, "feed_id", "FEED-Z", "no power feed 'FEED-Z'"),
        ("racks", 5, "gpu_model", "MI300X", "no GPU model 'MI300X'"),
        ("loops", 2, "cdu_id", "CDU-Z9", "no CDU 'CDU-Z9'"),
    ],
)
def test_dangling_reference_is_refused(
    section: str, index: int, field: str, value: str, named: str
) -> None:
    tree = demo_tree()
    tree[section][index][field] = value
    problems = problems_of(encode(tree))
    assert list(problems) == [f"{section}[{index}].{field}"]
    assert problems[f"{section}[{index}].{field}"].startswith(named)


def test_duplicate_ids_are_refused_within_and_across_sections() -> None:
    tree = demo_tree()
    tree["racks"][1]["id"] = tree["racks"][0]["id"]  # two racks A01
    tree["feeds"][0]["id"] = tree["cdus"][2]["id"]  # a feed named like a CDU
    problems = problems_of(encode(tree))
    # The renamed feed also leaves racks pointing at a feed that no longer exists.
    duplicates = {path for path, reason in problems.items() if "more than once" in reason}
    assert duplicates == {"racks[0].id", "racks[1].id", "cdus[2].id", "feeds[0].id"}


def test_two_loops_on_one_cdu_are_refused() -> None:
    tree = demo_tree()
    tree["loops"][1]["cdu_id"] = tree["loops"][0]["cdu_id"]
    problems = problems_of(encode(tree))
    assert list(problems) == ["loops[1].cdu_id"]
    assert "already serves loop 'L-A1'" in problems["loops[1].cdu_id"]


def test_items_outside_the_floor_are_refused() -> None:
    tree = demo_tree()
    width, depth = tree["floor"]["width_m"], tree["floor"]["depth_m"]
    tree["racks"][4]["x_m"] = width + 0.5
    tree["cdus"][1]["y_m"] = depth + 0.01
    tree["feeds"][2]["x_m"] = width  # on the edge: allowed
    problems = problems_of(encode(tree))
    assert set(problems) == {"racks[4]", "cdus[1]"}
    assert f"outside the {width:g} x {depth:g} m floor" in problems["racks[4]"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_refused(constant: str) -> None:
    raw = DEMO_BYTES.replace(b'"it_power_kw": 132.0', f'"it_power_kw": {constant}'.encode(), 1)
    problems = problems_of(raw)
    assert list(problems) == ["(file)"]
    assert constant.lstrip("-") in problems["(file)"]


def test_number_too_large_for_a_float_is_refused() -> None:
    raw = DEMO_BYTES.replace(b'"it_power_kw": 132.0', b'"it_power_kw": 1e400', 1)
    problems = problems_of(raw)
    assert list(problems) == ["racks[0].it_power_kw"]
    assert "finite" in problems["racks[0].it_power_kw"]


def test_file_that_is_not_utf8_is_refused() -> None:
    offset = DEMO_BYTES.index(b"Hall 1")
    raw = DEMO_BYTES[:offset] + b"\xff" + DEMO_BYTES[offset + 1 :]
    assert problems_of(raw) == {"(file)": f"not UTF-8 text (bad byte at offset {offset})"}


def test_file_that_is_not_json_names_line_and_column() -> None:
    raw = b'{\n  "schema_version": 1\n  "name": "Hall"\n}\n'  # missing comma on line 2
    reason = problems_of(raw)["(file)"]
    assert reason.startswith("not valid JSON")
    assert "line 3, column 3" in reason


def test_empty_file_is_not_json() -> None:
    assert problems_of(b"")["(file)"].startswith("not valid JSON")


@pytest.mark.parametrize("raw", [b"[]", b'"hall"', b"42", b"null"])
def test_top_level_json_that_is_not_an_object(raw: bytes) -> None:
    assert problems_of(raw) == {"(file)": "must be a JSON object"}


def test_schema_version_missing() -> None:
    tree = demo_tree()
    del tree["schema_version"]
    reason = problems_of(encode(tree))["schema_version"]
    assert "missing" in reason and "FactoryFloor design file" in reason


@pytest.mark.parametrize("version", ["1", 1.0, True, None, [1]])
def test_schema_version_must_be_a_whole_number(version: Any) -> None:
    tree = demo_tree()
    tree["schema_version"] = version
    assert "whole number" in problems_of(encode(tree))["schema_version"]


def test_newer_schema_version_asks_for_an_upgrade() -> None:
    tree = demo_tree()
    tree["schema_version"] = SCHEMA_VERSION + 1
    reason = problems_of(encode(tree))["schema_version"]
    assert "newer FactoryFloor" in reason and "Upgrade" in reason


@pytest.mark.parametrize("version", [0, -1])
def test_schema_version_below_one_is_refused(version: int) -> None:
    tree = demo_tree()
    tree["schema_version"] = version
    assert problems_of(encode(tree)) == {"schema_version": f"must be 1 or more (got {version})"}


def test_file_larger_than_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as file:
        file.truncate(MAX_FILE_BYTES * 2)  # sparse: costs no disk
    with pytest.raises(DesignFileError) as caught:
        load_design(path)
    (problem,) = caught.value.problems
    assert problem.path == "(file)"
    assert f"{MAX_FILE_BYTES + 1:,} bytes is larger than" in problem.reason


def test_file_of_exactly_the_limit_is_parsed() -> None:
    raw = b"{}".ljust(MAX_FILE_BYTES)  # whitespace padding: valid JSON, no schema_version
    assert list(problems_of(raw)) == ["schema_version"]


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hall with spaces.json"
    tree = demo_tree()
    tree["racks"][7]["liquid_fraction"] = 1.5
    path.write_bytes(encode(tree))
    with pytest.raises(DesignFileError) as caught:
        load_design(path)
    text = str(caught.value)
    assert caught.value.source == str(path)
    assert text.startswith(f"{path}: not a valid design (1 problem(s))")
    assert "racks[7].liquid_fraction: " in text


def test_unreadable_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_design(tmp_path / "absent.json")


# (c) Fuzz: nothing but a Design or a DesignFileError ------------------------------------------


def parse_or_refuse(raw: bytes) -> None:
    """Parse ``raw``; any exception other than DesignFileError fails the test."""
    try:
        design = parse_design(raw, "fuzzed.json")
    except DesignFileError as error:
        assert error.problems
        assert all(problem.path and problem.reason for problem in error.problems)
    else:
        assert isinstance(design, Design)


@st.composite
def byte_corruptions(draw: st.DrawFn) -> bytes:
    """The demo file with a few bytes flipped, inserted or deleted, and maybe truncated."""
    raw = bytearray(DEMO_BYTES)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "replace"]))
        at = draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 16))]
        else:
            raw[at] = draw(st.sampled_from(b'{}[],:"\\0123456789.eE+-ntfu \n'))
        if not raw:
            break
    if raw and draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return bytes(raw)


def value_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every value in a JSON tree, containers included (the root excluded)."""
    found = [path] if path else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += value_paths(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += value_paths(child, (*path, i))
    return found


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -1, 1e308, -0.0, 5e-324, 2**63, "", "1", "NaN", "water"])
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def json_kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


@st.composite
def tree_mutations(draw: st.DrawFn) -> bytes:
    """The demo tree with one to three values replaced by JSON values of another kind."""
    tree = demo_tree()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(value_paths(tree)))
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        old = parent[path[-1]]
        parent[path[-1]] = draw(
            JSON_VALUES.filter(lambda new, old=old: json_kind(new) != json_kind(old))
        )
    return json.dumps(tree).encode()


@settings(max_examples=300, deadline=None)
@given(raw=byte_corruptions())
def test_corrupted_bytes_give_a_design_or_a_design_file_error(raw: bytes) -> None:
    parse_or_refuse(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(raw=tree_mutations())
def test_mutated_values_give_a_design_or_a_design_file_error(raw: bytes) -> None:
    parse_or_refuse(raw)


def test_file_with_a_utf8_byte_order_mark_loads() -> None:
    """Some Windows editors add a BOM when saving; the design itself is fine."""
    raw = b"\xef\xbb\xbf" + encode(demo_tree())
    assert parse_design(raw, "hall.json") == parse_design(encode(demo_tree()), "hall.json")


def test_pipe_route_outside_the_floor_is_refused() -> None:
    tree = demo_tree()
    tree["loops"][1]["route"][2] = [99.0, 3.8]
    problems = problems_of(encode(tree))
    assert "outside" in problems["loops[1].route[2]"]


def test_telemetry_must_name_racks_and_cdus_the_plan_has() -> None:
    tree = demo_tree()
    tree["telemetry"]["metrics"] = [{"url": "http://10.0.0.5:8000/metrics", "rack_id": "Z99"}]
    tree["telemetry"]["mqtt"] = {"points": [{
        "object_type": "rack", "point_type": "RackLiquidSupplyTemperature", "tag_path": "Hall1/A01",
        "kind": "rack", "entity_id": "A01", "quantity": "supply_temp_c"}, {
        "object_type": "cdu", "point_type": "LiquidTemperature", "tag_path": "Hall1/CDU-X",
        "kind": "cdu", "entity_id": "CDU-X", "quantity": "supply_temp_c"}]}  # fmt: skip
    problems = problems_of(encode(tree))
    assert problems == {
        "telemetry.metrics[0].rack_id": "no rack 'Z99'",
        "telemetry.mqtt.points[1].entity_id": "no cdu 'CDU-X'",
    }


def test_gpu_hosts_stand_in_one_rack_each_with_an_equal_share_of_its_gpus() -> None:
    tree = demo_tree()
    racks = tree["racks"]  # A01 and A02 hold 72 GPUs each
    racks[0]["nodes"] = [f"a01-tray{n}" for n in range(18)]
    racks[1]["nodes"] = ["a02-n1", "a02-n2", "a02-n3", "a02-n4", "A01-TRAY3"]
    assert problems_of(encode(tree)) == {
        "racks[1].nodes": "72 GPUs do not split evenly over 5 nodes",
        "racks[1].nodes[4]": "node 'A01-TRAY3' is already in rack A01",
    }


def test_a_gpu_host_is_named_as_telemetry_names_it() -> None:
    tree = demo_tree()
    tree["racks"][2]["nodes"] = ["a03.hall1.example", "bad/host"]
    assert list(problems_of(encode(tree))) == ["racks[2].nodes[1]"]
