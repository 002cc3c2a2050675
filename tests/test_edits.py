"""Edits of a design: what each builder does, and that every edit undoes and redoes exactly.

Most tests use ``small_design``, a hall small enough to check by hand; the property test and the
drag in a big hall use generated halls. ``apply_checked`` is the contract every edit must keep:
after ``apply`` the design passes ``reference_problems``, ``revert`` gives back the design
before (``==``, list order included), and applying again gives the same design after.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factoryfloor.backend.design import edits
from factoryfloor.backend.design.design_file import FieldProblem, reference_problems
from factoryfloor.backend.design.edits import Change, Edit, EditError, snap_m
from factoryfloor.backend.design.model import (
    Cdu,
    CoolingLoop,
    Design,
    Floor,
    GpuModel,
    PowerFeed,
    Rack,
)
from factoryfloor.backend.design.synthetic import generate_hall

GB200 = GpuModel(
    id="GB200-NVL72",
    name="NVIDIA GB200 NVL72 rack (72 GPUs)",
    gpu_power_w=1200,
    system_power_per_gpu_w=1833,
    liquid_cooled=True,
)
H100 = GpuModel(
    id="H100-SXM",
    name="NVIDIA HGX H100 (8-GPU system)",
    gpu_power_w=700,
    system_power_per_gpu_w=1275,
)


def rack(rack_id: str, x_m: float, y_m: float, **fields: object) -> Rack:
    values: dict[str, object] = {
        "gpu_model": "GB200-NVL72",
        "gpu_count": 72,
        "it_power_kw": 132.0,
        "liquid_fraction": 0.85,
    }
    return Rack(id=rack_id, x_m=x_m, y_m=y_m, **{**values, **fields})


def small_design() -> Design:
    """A 12 x 8 m floor. Row A (y 2): CDU-A at x 1 serving loop L-A, racks A01-A03 at x 2, 2.6,
    3.2 on L-A and feed F1. Row B (y 5): CDU-B at x 1 serving no loop, air racks B01-B03 on F1
    and no loop. Feed F1 at (6, 7)."""
    air = {"gpu_model": "H100-SXM", "gpu_count": 8, "it_power_kw": 10.2, "liquid_fraction": 0.0}
    return Design(
        name="small",
        floor=Floor(width_m=12.0, depth_m=8.0),
        gpu_models=[GB200, H100],
        racks=[
            rack("A01", 2.0, 2.0, loop_id="L-A", feed_id="F1"),
            rack("A02", 2.6, 2.0, loop_id="L-A", feed_id="F1"),
            rack("A03", 3.2, 2.0, loop_id="L-A", feed_id="F1"),
            rack("B01", 2.0, 5.0, feed_id="F1", **air),
            rack("B02", 2.6, 5.0, feed_id="F1", **air),
            rack("B03", 3.2, 5.0, feed_id="F1", **air),
        ],
        cdus=[
            Cdu(id=cdu_id, x_m=1.0, y_m=y_m, capacity_kw=600, rated_flow_lpm=900, supply_temp_c=30)
            for cdu_id, y_m in (("CDU-A", 2.0), ("CDU-B", 5.0))
        ],
        loops=[
            CoolingLoop(
                id="L-A", cdu_id="CDU-A", design_delta_t_k=10, route=[(1.0, 2.7), (3.2, 2.7)]
            )
        ],
        feeds=[PowerFeed(id="F1", x_m=6.0, y_m=7.0, capacity_kw=1000)],
    )


def apply_checked(design: Design, edit: Edit) -> Design:
    """Apply ``edit`` and check the contract: a valid result, exact undo, exact redo."""
    before = design.model_copy(deep=True)
    edit.apply(design)
    assert reference_problems(design) == []
    after = design.model_copy(deep=True)
    edit.revert(design)
    assert design == before
    edit.apply(design)
    assert design == after
    return design


def by_id(design: Design, entity_id: str) -> Rack | Cdu | CoolingLoop | PowerFeed:
    for section in edits.SECTIONS:
        for entity in getattr(design, section):
            if entity.id == entity_id:
                return entity
    raise KeyError(entity_id)


def ids(design: Design, section: edits.Section) -> list[str]:
    return [entity.id for entity in getattr(design, section)]


def problems_of(error: pytest.ExceptionInfo[EditError]) -> list[tuple[str, str]]:
    return [(problem.path, problem.reason) for problem in error.value.problems]


# --- Edit and Change ----------------------------------------------------------------------------


def test_a_change_needs_an_entity() -> None:
    with pytest.raises(ValueError, match="before or after"):
        Change("racks", None, None, 0)


def test_history_keeps_its_own_copies() -> None:
    design = small_design()
    edit = edits.set_field(design, ["A01"], "it_power_kw", 100.0)
    original = design.racks[0].model_copy()
    design.racks[0].it_power_kw = 1.0  # a later in-place change must not reach history
    assert edit.changes[0].before == original
    edit.apply(design)
    assert design.racks[0] is not edit.changes[0].after
    design.racks[0].it_power_kw = 2.0
    edit.revert(design)
    assert design.racks[0] == original


def test_mixed_edit_restores_list_order() -> None:
    """Deletions and insertions at several positions, plus a replacement: apply then revert
    rebuilds each list exactly, and revert then apply too."""
    design = small_design()
    new_a, new_b = rack("N1", 1.0, 1.0), rack("N2", 1.0, 1.5)
    edit = Edit(
        "mixed",
        (
            Change("racks", design.racks[1], None, 1),
            Change("racks", design.racks[4], None, 4),
            Change("racks", None, new_a, 0),
            Change("racks", None, new_b, 3),
            Change("racks", design.racks[2], design.racks[2].model_copy(update={"x_m": 9.0}), 2),
        ),
    )
    apply_checked(design, edit)
    assert ids(design, "racks") == ["N1", "A01", "A03", "N2", "B01", "B03"]
    assert design.racks[2].x_m == 9.0
    edit.revert(design)
    assert design == small_design()


def test_touched_ids_name_an_item_before_and_after_a_rename() -> None:
    edit = edits.set_field(small_design(), ["F1"], "id", "FEED-1")
    assert edit.touched_ids == {"F1", "FEED-1", "A01", "A02", "A03", "B01", "B02", "B03"}


def test_builders_never_change_the_design() -> None:
    design = small_design()
    edits.move(design, ["A01", "CDU-A"], 1.0, 1.0)
    edits.delete(design, ["CDU-A", "F1"])
    edits.set_field(design, ["L-A"], "id", "L-1")
    edits.new_loop(design, "CDU-B", ["B01"])
    edits.duplicate(design, ["A01"])
    assert design == small_design()


# --- Positions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value_m", "grid_m", "expected_m"),
    [
        (1.24, 0.5, 1.0),
        (1.25, 0.5, 1.5),  # ties go up
        (0.29, 0.1, 0.3),  # exactly 0.3, not 0.30000000000000004
        (7.77, 0.0, 7.77),
        (7.77, -1.0, 7.77),
    ],
)
def test_snap(value_m: float, grid_m: float, expected_m: float) -> None:
    assert snap_m(value_m, grid_m) == expected_m


def test_move_one_rack() -> None:
    design = small_design()
    edit = edits.move(design, ["A01"], 1.0, 0.5)
    apply_checked(design, edit)
    assert (design.racks[0].x_m, design.racks[0].y_m) == (3.0, 2.5)
    assert edit.label == "Move A01"
    assert edit.touched_ids == {"A01"}


def test_move_labels_name_the_selection() -> None:
    design = small_design()
    assert edits.move(design, ["A01", "A02", "B01"], 1.0, 0.0).label == "Move 3 racks"
    assert edits.move(design, ["A01", "CDU-B"], 1.0, 0.0).label == "Move 2 items"
    assert edits.move(design, ["CDU-A", "CDU-B"], 1.0, 0.0).label == "Move 2 CDUs"


def test_move_on_a_grid_snaps_the_first_item_and_keeps_offsets() -> None:
    design = small_design()
    apply_checked(design, edits.move(design, ["A02", "A01"], 0.33, 0.1, grid_m=0.25))
    a01, a02 = design.racks[0], design.racks[1]
    assert (a02.x_m, a02.y_m) == (3.0, 2.0)  # 2.93 snaps to 3.0; 2.1 snaps back to 2.0
    assert (a01.x_m, a01.y_m) == (2.4, 2.0)  # 0.6 m left of A02, as before


def test_move_stops_the_group_at_the_floor_edge() -> None:
    design = small_design()
    apply_checked(design, edits.move(design, ["A01", "A03", "F1"], -100.0, 100.0))
    assert [(r.x_m, r.y_m) for r in (design.racks[0], design.racks[2])] == [(0.0, 3.0), (1.2, 3.0)]
    assert (design.feeds[0].x_m, design.feeds[0].y_m) == (4.0, 8.0)


def test_a_move_that_changes_nothing_has_no_changes() -> None:
    design = small_design()
    assert edits.move(design, ["A01"], 0.0, 0.0).changes == ()
    assert edits.move(design, ["A01"], 0.01, 0.0, grid_m=0.5).changes == ()  # snaps back
    edits.move(design, ["F1"], 0.0, 5.0).apply(design)
    assert edits.move(design, ["F1"], 0.0, 1.0).changes == ()  # already at the wall


def test_moving_a_cdu_drags_the_start_of_its_pipe() -> None:
    design = small_design()
    edit = edits.move(design, ["CDU-A"], 0.5, -0.5)
    apply_checked(design, edit)
    assert (design.cdus[0].x_m, design.cdus[0].y_m) == (1.5, 1.5)
    assert design.loops[0].route == [(1.5, 2.2), (3.2, 2.7)]
    assert edit.touched_ids == {"CDU-A", "L-A"}


def test_a_dragged_pipe_point_stays_on_the_floor() -> None:
    design = small_design()
    design.loops[0].route[0] = (0.2, 2.7)
    apply_checked(design, edits.move(design, ["CDU-A"], -0.5, 0.0))
    assert design.cdus[0].x_m == 0.5
    assert design.loops[0].route[0] == (0.0, 2.7)


def test_only_placed_items_move() -> None:
    design = small_design()
    with pytest.raises(EditError) as error:
        edits.move(design, ["A01", "L-A", "nope"], 1.0, 0.0)
    assert problems_of(error) == [
        ("loops[L-A]", "loops cannot be moved"),
        ("nope", "no rack, CDU, loop or feed has this id"),
    ]


@pytest.mark.parametrize(
    ("start_deg", "degrees", "expected_deg"),
    [(0.0, 90.0, 90.0), (270.0, 180.0, 90.0), (0.0, -90.0, 270.0), (0.0, -1e-20, 0.0)],
)
def test_rotate(start_deg: float, degrees: float, expected_deg: float) -> None:
    design = small_design()
    design.racks[0].rotation_deg = start_deg
    edit = edits.rotate(design, ["A01"], degrees)
    apply_checked(design, edit)
    assert design.racks[0].rotation_deg == expected_deg
    assert (design.racks[0].x_m, design.racks[0].y_m) == (2.0, 2.0)  # turns about its centre
    assert edit.label == "Rotate A01"


def test_rotate_racks_and_cdus_together() -> None:
    design = small_design()
    edit = edits.rotate(design, ["A01", "CDU-A"])
    apply_checked(design, edit)
    assert (design.racks[0].rotation_deg, design.cdus[0].rotation_deg) == (90.0, 90.0)
    assert edit.label == "Rotate 2 items"


def test_rotate_by_whole_turns_is_a_no_op_and_feeds_do_not_turn() -> None:
    design = small_design()
    assert edits.rotate(design, ["A01"], 360.0).changes == ()
    with pytest.raises(EditError, match=r"feeds\[F1\]: power feeds cannot be rotated"):
        edits.rotate(design, ["F1"])


@pytest.mark.parametrize(
    ("edge", "expected"),
    [
        ("left", [(2.0, 2.0), (2.0, 5.0), (2.0, 7.0)]),
        ("right", [(6.0, 2.0), (6.0, 5.0), (6.0, 7.0)]),
        ("top", [(3.2, 2.0), (2.0, 2.0), (6.0, 2.0)]),
        ("bottom", [(3.2, 7.0), (2.0, 7.0), (6.0, 7.0)]),
        ("h-centre", [(4.0, 2.0), (4.0, 5.0), (4.0, 7.0)]),
        ("v-centre", [(3.2, 4.5), (2.0, 4.5), (6.0, 4.5)]),
    ],
)
def test_align_by_centres(edge: edits.AlignEdge, expected: list[tuple[float, float]]) -> None:
    design = small_design()
    edit = edits.align(design, ["A03", "B01", "F1"], edge)
    apply_checked(design, edit)
    assert [(by_id(design, i).x_m, by_id(design, i).y_m) for i in ("A03", "B01", "F1")] == expected
    assert edit.label == f"Align 3 items ({edge})"


def test_align_one_item_is_a_no_op_and_a_cdu_drags_its_pipe() -> None:
    design = small_design()
    assert edits.align(design, ["A01"], "left").changes == ()
    apply_checked(design, edits.align(design, ["CDU-A", "B02"], "right"))
    assert design.cdus[0].x_m == 2.6
    assert design.loops[0].route[0] == (2.6, 2.7)


def test_distribute_spaces_items_evenly_between_the_outermost() -> None:
    design = small_design()
    edit = edits.distribute(design, ["F1", "A03", "A01", "A02"], "x")
    apply_checked(design, edit)
    xs = [by_id(design, i).x_m for i in ("A01", "A02", "A03", "F1")]
    assert xs == pytest.approx([2.0, 2.0 + 4 / 3, 2.0 + 8 / 3, 6.0], abs=1e-9)
    assert edit.label == "Distribute 4 items along x"
    assert edit.touched_ids == {"A02", "A03"}


def test_distribute_in_y_and_too_few_items() -> None:
    design = small_design()
    apply_checked(design, edits.distribute(design, ["A01", "B01", "CDU-B"], "y"))
    # B01 and CDU-B tie at y 5: selection order puts B01 between the ends.
    assert [by_id(design, i).y_m for i in ("A01", "B01", "CDU-B")] == [2.0, 3.5, 5.0]
    assert edits.distribute(design, ["A01", "B01"], "x").changes == ()


# --- Fields -------------------------------------------------------------------------------------


def test_set_field_on_a_multi_selection() -> None:
    design = small_design()
    edit = edits.set_field(design, ["A01", "A02"], "it_power_kw", 120.5)
    apply_checked(design, edit)
    assert [r.it_power_kw for r in design.racks[:3]] == [120.5, 120.5, 132.0]
    assert edit.label == "Set IT power of 2 racks"
    assert edits.set_field(design, ["B01"], "it_power_kw", 12.0).label == "Set IT power of B01"
    assert edits.set_field(design, ["CDU-B"], "fluid", "pg25").label == "Set fluid of CDU-B"
    hosts = edits.set_field(design, ["B01"], "nodes", ["b01-n1", "b01-n2"])
    assert hosts.label == "Set GPU hosts of B01"


def test_set_field_to_the_current_value_has_no_changes() -> None:
    design = small_design()
    assert edits.set_field(design, ["A01"], "it_power_kw", 132.0).changes == ()


@pytest.mark.parametrize(
    ("ids", "field", "value", "path", "reason"),
    [
        (["A01"], "it_power_kw", -5.0, "racks[A01].it_power_kw", "greater than or equal to 0"),
        (["A01"], "it_power_kw", "5", "racks[A01].it_power_kw", "must be a valid number"),
        (["CDU-A"], "fluid", "glycol", "cdus[CDU-A].fluid", "must be 'water' or 'pg25'"),
        (["A01"], "gpu_model", "B300", "racks[A01].gpu_model", "no GPU model 'B300'"),
        (["A01"], "id", "A02", "racks[A01].id", "id 'A02' is used more than once"),
        (["A01"], "id", "H100-SXM", "racks[A01].id", "is used more than once"),
        (["A01"], "id", "A 01", "racks[A01].id", "only letters, digits, _ . -"),
        (["A01"], "loop_id", "L-Z", "racks[A01].loop_id", "no loop 'L-Z'"),
        (["A01"], "feed_id", "F9", "racks[A01].feed_id", "no power feed 'F9'"),
        (["A01"], "x_m", 20.0, "racks[A01]", "outside the 12 x 8 m floor"),
        (["A01"], "it_power", 5.0, "racks[A01].it_power", "unknown field"),
        (["L-A"], "route", [(1.0, 1.0), (13.0, 1.0)], "loops[L-A].route[1]", "outside"),
        (["B01"], "nodes", ["b1", "b2", "b3"], "racks[B01].nodes", "do not split evenly"),
        (["B01"], "nodes", ["b1", "b/2"], "racks[B01].nodes[1]", "only letters, digits"),
    ],
)
def test_set_field_refuses_impossible_values(
    ids: list[str], field: str, value: object, path: str, reason: str
) -> None:
    design = small_design()
    with pytest.raises(EditError) as error:
        edits.set_field(design, ids, field, value)
    assert isinstance(error.value, ValueError)
    assert any(p == path and reason in r for p, r in problems_of(error)), problems_of(error)
    assert design == small_design()


def test_set_field_on_items_of_several_kinds_is_one_step() -> None:
    """A rack and a CDU selected together share their position fields."""
    design = small_design()
    edit = edits.set_field(design, ["A01", "CDU-A"], "y_m", 3.0)
    edit.apply(design)
    assert [r.y_m for r in design.racks if r.id == "A01"] == [3.0]
    assert [c.y_m for c in design.cdus if c.id == "CDU-A"] == [3.0]
    edit.revert(design)
    assert design == small_design()


def test_set_field_reports_every_item_at_once() -> None:
    with pytest.raises(EditError) as error:
        edits.set_field(small_design(), ["A01", "A02"], "liquid_fraction", 1.5)
    assert [path for path, _ in problems_of(error)] == [
        "racks[A01].liquid_fraction",
        "racks[A02].liquid_fraction",
    ]


def test_a_cdu_conflict_blames_the_loop_being_edited() -> None:
    design = small_design()
    design.loops.append(CoolingLoop(id="L-B", cdu_id="CDU-B", design_delta_t_k=10))
    with pytest.raises(EditError) as error:
        edits.set_field(design, ["L-A"], "cdu_id", "CDU-B")
    assert problems_of(error) == [
        (
            "loops[L-A].cdu_id",
            "CDU 'CDU-B' already serves loop 'L-B'; a CDU serves one TCS loop",
        )
    ]


@pytest.mark.parametrize(
    ("old_id", "new_id", "references"),
    [
        ("L-A", "LOOP-A", [("racks", "loop_id", ["A01", "A02", "A03"])]),
        ("F1", "FEED-1", [("racks", "feed_id", ["A01", "A02", "A03", "B01", "B02", "B03"])]),
        ("CDU-A", "CDU-A1", [("loops", "cdu_id", ["L-A"])]),
        ("A01", "A00", []),
    ],
)
def test_rename_carries_references_along(
    old_id: str, new_id: str, references: list[tuple[edits.Section, str, list[str]]]
) -> None:
    design = small_design()
    edit = edits.set_field(design, [old_id], "id", new_id)
    apply_checked(design, edit)
    assert edit.label == f"Rename {old_id} to {new_id}"
    by_id(design, new_id)
    for section, field, referrers in references:
        assert [e.id for e in getattr(design, section) if getattr(e, field) == new_id] == referrers
    assert old_id not in {getattr(e, f) for s, f, _ in references for e in getattr(design, s)}


def test_plumb_and_assign_feed() -> None:
    design = small_design()
    edit = edits.plumb(design, ["B01", "B02"], "L-A")
    apply_checked(design, edit)
    assert [r.loop_id for r in design.racks[3:]] == ["L-A", "L-A", None]
    assert edit.label == "Plumb 2 racks to L-A"
    assert edits.plumb(design, ["A01"], None).label == "Unplumb A01"

    edit = edits.assign_feed(design, ["A01"], None)
    apply_checked(design, edit)
    assert design.racks[0].feed_id is None
    assert edit.label == "Disconnect A01 from power"
    assert edits.assign_feed(design, ["A01"], "F1").label == "Connect A01 to F1"


def test_plumb_refuses_unknown_loops_and_non_racks() -> None:
    design = small_design()
    with pytest.raises(EditError, match=r"racks\[B01\]\.loop_id: no loop 'L-X'"):
        edits.plumb(design, ["B01"], "L-X")
    with pytest.raises(EditError, match=r"cdus\[CDU-B\]: CDUs cannot be plumbed"):
        edits.plumb(design, ["CDU-B"], "L-A")
    with pytest.raises(EditError, match=r"feed_id: no power feed 'L-A'"):
        edits.assign_feed(design, ["B01"], "L-A")


# --- New items ----------------------------------------------------------------------------------


def test_add_appends_a_checked_item() -> None:
    design = small_design()
    edit = edits.add(design, rack("C01", 8.0, 2.0, loop_id="L-A"), "racks")
    apply_checked(design, edit)
    assert design.racks[-1].id == "C01"
    assert edit.label == "Add rack C01"


@pytest.mark.parametrize(
    ("entity", "section", "path", "reason"),
    [
        (rack("A01", 8.0, 2.0), "racks", "racks[A01].id", "used more than once"),
        (rack("C01", 8.0, 2.0, feed_id="F9"), "racks", "racks[C01].feed_id", "no power feed"),
        (rack("C01", 13.0, 2.0), "racks", "racks[C01]", "outside the 12 x 8 m floor"),
        (rack("C01", 8.0, 2.0), "cdus", "cdus[C01]", "a Rack cannot be added to cdus"),
        (
            Rack.model_construct(**{**rack("C01", 8.0, 2.0).model_dump(), "it_power_kw": -1.0}),
            "racks",
            "racks[C01].it_power_kw",
            "greater than or equal to 0",
        ),
    ],
)
def test_add_refuses_what_a_file_would_refuse(
    entity: edits.Entity, section: edits.Section, path: str, reason: str
) -> None:
    with pytest.raises(EditError) as error:
        edits.add(small_design(), entity, section)
    assert any(p == path and reason in r for p, r in problems_of(error)), problems_of(error)


def test_new_rack_is_prefilled_from_the_catalog() -> None:
    design = small_design()
    edit, rack_id = edits.new_rack(design, "GB200-NVL72", 8.0, 3.0)
    apply_checked(design, edit)
    new = design.racks[-1]
    assert (rack_id, edit.label) == ("R001", "Add rack R001")
    assert (new.id, new.x_m, new.y_m, new.gpu_model) == ("R001", 8.0, 3.0, "GB200-NVL72")
    assert (new.gpu_count, new.it_power_kw, new.liquid_fraction) == (72, 132.0, 0.85)
    assert (new.loop_id, new.feed_id) == (None, None)

    edit, rack_id = edits.new_rack(design, "H100-SXM", 99.0, -3.0)
    apply_checked(design, edit)
    new = design.racks[-1]
    assert rack_id == "R002"
    assert (new.x_m, new.y_m) == (12.0, 0.0)  # clamped to the floor
    assert (new.gpu_count, new.it_power_kw, new.liquid_fraction) == (8, 10.2, 0.0)


def test_new_rack_needs_a_model_the_design_carries() -> None:
    with pytest.raises(EditError) as error:
        edits.new_rack(small_design(), "B200-SXM", 1.0, 1.0)
    assert problems_of(error) == [
        ("racks[R001].gpu_model", "no GPU model 'B200-SXM' in gpu_models")
    ]


def test_new_ids_continue_their_series() -> None:
    """Deleting R001 does not free its id: an old report naming R001 means the deleted rack."""
    design = small_design()
    for _ in range(2):
        apply_checked(design, edits.new_rack(design, "GB200-NVL72", 1.0, 1.0)[0])
    apply_checked(design, edits.delete(design, ["R001"]))
    assert edits.new_rack(design, "GB200-NVL72", 1.0, 1.0)[1] == "R003"


def test_new_cdu_and_new_feed() -> None:
    design = small_design()
    edit, cdu_id = edits.new_cdu(design, 10.0, 1.0)
    apply_checked(design, edit)
    assert cdu_id == "CDU-01"
    assert design.cdus[-1] == Cdu(
        id="CDU-01",
        x_m=10.0,
        y_m=1.0,
        capacity_kw=600.0,
        rated_flow_lpm=900.0,
        supply_temp_c=30.0,
        fluid="water",
    )
    assert edits.new_cdu(design, 10.0, 1.0)[1] == "CDU-02"

    edit, feed_id = edits.new_feed(design, 11.0, 7.5)
    apply_checked(design, edit)
    assert feed_id == "FEED-01"
    assert design.feeds[-1] == PowerFeed(id="FEED-01", x_m=11.0, y_m=7.5, capacity_kw=1000.0)
    assert edit.label == "Add power feed FEED-01"


def test_duplicate_racks_keep_their_loop_and_feed() -> None:
    design = small_design()
    edit = edits.duplicate(design, ["A03", "A02"])
    apply_checked(design, edit)
    copies = design.racks[-2:]
    assert [(r.id, r.x_m, r.y_m) for r in copies] == [("A04", 3.8, 2.0), ("A05", 3.2, 2.0)]
    assert all((r.loop_id, r.feed_id) == ("L-A", "F1") for r in copies)
    assert copies[0].it_power_kw == design.racks[2].it_power_kw
    assert edit.label == "Duplicate 2 racks"


def test_duplicate_cdus_and_feeds() -> None:
    design = small_design()
    apply_checked(design, edits.duplicate(design, ["CDU-A", "F1"], dx_m=0.0, dy_m=2.0))
    # F1 at y 7 can go 1 m before the wall; the group keeps its shape, so CDU-A's copy too.
    assert (design.feeds[-1].id, design.feeds[-1].y_m) == ("F2", 8.0)
    assert (design.cdus[-1].id, design.cdus[-1].y_m) == ("CDU-A-2", 3.0)
    assert "CDU-A-2" not in {loop.cdu_id for loop in design.loops}


def test_duplicate_ids_fit_the_model() -> None:
    design = small_design()
    long_id = "X" * 64
    apply_checked(design, edits.add(design, rack(long_id, 8.0, 2.0), "racks"))
    apply_checked(design, edits.duplicate(design, [long_id]))
    assert design.racks[-1].id == "X" * 63 + "2"  # the stem is cut to fit 64 characters


def test_delete_a_rack_keeps_the_order_of_the_rest() -> None:
    design = small_design()
    edit = edits.delete(design, ["A02", "B02"])
    apply_checked(design, edit)
    assert ids(design, "racks") == ["A01", "A03", "B01", "B03"]
    assert edit.label == "Delete 2 racks"


def test_delete_a_cdu_takes_its_loop_and_unplumbs_its_racks() -> None:
    design = small_design()
    edit = edits.delete(design, ["CDU-A"])
    apply_checked(design, edit)
    assert ids(design, "cdus") == ["CDU-B"]
    assert design.loops == []
    assert [r.loop_id for r in design.racks] == [None] * 6
    assert edit.label == "Delete CDU-A"
    assert edit.touched_ids == {"CDU-A", "L-A", "A01", "A02", "A03"}


def test_delete_a_loop_or_feed_keeps_the_racks() -> None:
    design = small_design()
    apply_checked(design, edits.delete(design, ["L-A"]))
    assert ids(design, "cdus") == ["CDU-A", "CDU-B"]
    assert [r.loop_id for r in design.racks] == [None] * 6
    apply_checked(design, edits.delete(design, ["F1"]))
    assert [r.feed_id for r in design.racks] == [None] * 6
    assert len(design.racks) == 6


def test_delete_racks_with_their_feed_and_loop() -> None:
    design = small_design()
    edit = edits.delete(design, ["A01", "F1", "CDU-A", "L-A"])
    apply_checked(design, edit)
    assert ids(design, "racks") == ["A02", "A03", "B01", "B02", "B03"]
    assert all(r.loop_id is None and r.feed_id is None for r in design.racks)
    assert edit.label == "Delete 4 items"
    assert sum(1 for c in edit.changes if c.before and c.before.id == "A01") == 1


# --- Loops and routes ---------------------------------------------------------------------------


def test_new_loop_plumbs_the_racks_and_routes_the_pipe_behind_them() -> None:
    design = small_design()
    edit = edits.new_loop(design, "CDU-B", ["B01", "B02", "B03"], delta_t_k=8.0)
    apply_checked(design, edit)
    loop = design.loops[-1]
    assert (loop.id, loop.cdu_id, loop.design_delta_t_k) == ("L-CDU-B", "CDU-B", 8.0)
    # CDU centre, down to 0.1 m behind the racks' rear faces (5.0 + 1.2 / 2), along to B03.
    assert loop.route == [(1.0, 5.0), (1.0, 5.7), (3.2, 5.7)]
    assert [r.loop_id for r in design.racks[3:]] == ["L-CDU-B"] * 3
    assert edit.label == "New loop L-CDU-B"


def test_new_loop_takes_racks_off_their_old_loop_and_keeps_the_pipe_on_the_floor() -> None:
    design = small_design()
    design.floor.depth_m = 5.5
    design.feeds[0].y_m = 5.0
    apply_checked(design, edits.new_loop(design, "CDU-B", ["A01", "B03"]))
    assert [r.loop_id for r in design.racks] == ["L-CDU-B", "L-A", "L-A", None, None, "L-CDU-B"]
    assert design.loops[-1].route == [(1.0, 5.0), (1.0, 5.5), (3.2, 5.5)]


def test_new_loop_without_racks_and_with_a_taken_id() -> None:
    design = small_design()
    design.feeds[0].id = "L-CDU-B"
    for rack_ in design.racks:
        rack_.feed_id = "L-CDU-B"
    edit = edits.new_loop(design, "CDU-B", [])
    apply_checked(design, edit)
    assert (design.loops[-1].id, design.loops[-1].route) == ("L-CDU-B-2", [(1.0, 5.0)])


def test_new_loop_needs_a_free_cdu() -> None:
    with pytest.raises(EditError) as error:
        edits.new_loop(small_design(), "CDU-A", ["B01"])
    assert problems_of(error) == [
        ("cdus[CDU-A]", "already serves loop 'L-A'; a CDU serves one TCS loop")
    ]
    with pytest.raises(EditError, match=r"loops\[L-CDU-B\]\.design_delta_t_k"):
        edits.new_loop(small_design(), "CDU-B", ["B01"], delta_t_k=0.0)


def test_move_route_point_snaps_and_clamps() -> None:
    design = small_design()
    edit = edits.move_route_point(design, "L-A", 1, 4.07, 2.93, grid_m=0.1)
    apply_checked(design, edit)
    assert design.loops[0].route == [(1.0, 2.7), (4.1, 2.9)]
    assert edit.label == "Move pipe point of L-A"
    apply_checked(design, edits.move_route_point(design, "L-A", 0, -1.0, 9.0))
    assert design.loops[0].route[0] == (0.0, 8.0)
    assert edits.move_route_point(design, "L-A", 0, 0.0, 8.0).changes == ()


def test_insert_and_remove_route_points() -> None:
    design = small_design()
    apply_checked(design, edits.insert_route_point(design, "L-A", 0, 2.0, 2.7))
    assert design.loops[0].route == [(1.0, 2.7), (2.0, 2.7), (3.2, 2.7)]
    apply_checked(design, edits.insert_route_point(design, "L-A", 2, 3.2, 1.0))
    apply_checked(design, edits.insert_route_point(design, "L-A", -1, 1.0, 2.0))
    assert design.loops[0].route == [(1.0, 2.0), (1.0, 2.7), (2.0, 2.7), (3.2, 2.7), (3.2, 1.0)]
    edit = edits.remove_route_point(design, "L-A", 2)
    apply_checked(design, edit)
    assert design.loops[0].route == [(1.0, 2.0), (1.0, 2.7), (3.2, 2.7), (3.2, 1.0)]
    assert edit.label == "Remove pipe point of L-A"


@pytest.mark.parametrize(
    "make",
    [
        lambda d: edits.move_route_point(d, "L-A", 2, 1.0, 1.0),
        lambda d: edits.remove_route_point(d, "L-A", -1),
        lambda d: edits.insert_route_point(d, "L-A", 2, 1.0, 1.0),
    ],
)
def test_route_point_indices_are_checked(make: Callable[[Design], Edit]) -> None:
    with pytest.raises(EditError, match=r"loops\[L-A\]\.route\[-?\d\]: out of range"):
        make(small_design())


def test_routes_belong_to_loops() -> None:
    with pytest.raises(EditError, match="CDUs cannot be routed"):
        edits.remove_route_point(small_design(), "CDU-A", 0)


def test_edit_error_lists_its_problems() -> None:
    error = EditError([FieldProblem("racks[A01].x_m", "too far"), FieldProblem("a", "b")])
    assert str(error) == "racks[A01].x_m: too far\na: b"


# --- Random sequences ---------------------------------------------------------------------------

HALL = generate_hall(40)
coordinates = st.floats(min_value=-5.0, max_value=5.0, allow_nan=False)


def _random_edit(design: Design, data: st.DataObject) -> Edit | None:
    """One edit a user might make on ``design``, or None when nothing is left to pick."""
    placed = [e.id for section in edits.PLACED for e in getattr(design, section)]
    turnable = ids(design, "racks") + ids(design, "cdus")
    everything = [e.id for section in edits.SECTIONS for e in getattr(design, section)]

    def some(pool: list[str], most: int) -> list[str]:
        return data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=most, unique=True))

    pools = {
        "move": placed,
        "rotate": turnable,
        "delete": everything,
        "duplicate": placed,
        "power": ids(design, "racks"),
        "new_rack": [m.id for m in design.gpu_models],
    }
    kind = data.draw(st.sampled_from(sorted(pools)))
    pool = pools[kind]
    if not pool:
        return None
    if kind == "new_rack":
        x_m, y_m = data.draw(st.tuples(coordinates, coordinates))
        return edits.new_rack(design, data.draw(st.sampled_from(pool)), x_m * 10, y_m * 10)[0]
    if kind == "move":
        grid = data.draw(st.sampled_from([0.0, 0.1, 0.6]))
        return edits.move(
            design, some(pool, 5), data.draw(coordinates), data.draw(coordinates), grid
        )
    if kind == "rotate":
        return edits.rotate(design, some(pool, 4), data.draw(st.sampled_from([90, -90, 45.5])))
    if kind == "delete":
        return edits.delete(design, some(pool, 3))
    if kind == "duplicate":
        return edits.duplicate(
            design, some(pool, 4), data.draw(coordinates), data.draw(coordinates)
        )
    power = data.draw(st.floats(min_value=0.0, max_value=500.0, allow_nan=False))
    return edits.set_field(design, some(pool, 5), "it_power_kw", power)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_edit_sequences_undo_to_the_original(data: st.DataObject) -> None:
    design = HALL.model_copy(deep=True)
    history: list[tuple[Edit, Design]] = []
    for _ in range(data.draw(st.integers(min_value=1, max_value=12))):
        before = design.model_copy(deep=True)
        edit = _random_edit(design, data)
        if edit is None:
            continue
        assert design == before, "a builder changed the design"
        edit.apply(design)
        assert reference_problems(design) == [], edit.label
        history.append((edit, before))
    for edit, before in reversed(history):
        edit.revert(design)
        assert design == before, f"undo of {edit.label!r}"
    assert design == HALL


# --- A drag in a big hall -----------------------------------------------------------------------


def test_a_drag_of_one_rack_in_a_big_hall_moves_that_rack_alone() -> None:
    """A drag is one move per mouse move: 200 small moves of one rack in a 1,000-rack hall each
    touch that rack alone, add up exactly, and leave the hall valid. (Their speed is a
    benchmark's: bench/recompute.py prints it.)"""
    design = generate_hall(1000)
    before = design.model_copy(deep=True)
    rack_id = design.racks[500].id
    for _ in range(200):
        edit = edits.move(design, [rack_id], 0.05, 0.0)
        assert edit.touched_ids == {rack_id}
        edit.apply(design)
    assert reference_problems(design) == []
    moved, start = design.racks[500], before.racks[500]
    assert (moved.x_m, moved.y_m) == (pytest.approx(start.x_m + 200 * 0.05), start.y_m)
    assert [r for r in design.racks if r.id != rack_id] == [
        r for r in before.racks if r.id != rack_id
    ]
    assert (design.cdus, design.loops, design.feeds) == (before.cdus, before.loops, before.feeds)
