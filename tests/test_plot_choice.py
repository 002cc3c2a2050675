"""What the Run view's time plots choose to show, without Qt: the loops nearest capacity and
how long that choice holds, the GPU curves per "Per" choice and their caps, the series read."""

from __future__ import annotations

import math

import pytest

from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.backend.telemetry.series import mean_key
from factoryfloor.widgets.plot_choice import (
    FACILITY_TOKENS_KEY,
    FACILITY_TOKENS_PER_J_KEY,
    LOOP_CHOICE_HOLD_S,
    MAX_CURVES,
    MAX_GPU_CURVES,
    MAX_LOOP_CURVES,
    LoopChoice,
    choose_gpu_curves,
    format_value,
    plan_series,
    token_curves,
    window_label,
)

T0_S = 1_750_000_000.0
LOOPS = 20
"""More than ``MAX_LOOP_CURVES``: the plots must choose."""


def loop_capacities(count: int) -> dict[str, tuple[str, float]]:
    """Loops L00.. on CDUs C00.., capacities 100, 200, 100, 200, ... kW."""
    return {f"L{n:02d}": (f"C{n:02d}", 100.0 if n % 2 == 0 else 200.0) for n in range(count)}


def heat_at_load(loads: dict[str, float], capacities: dict[str, tuple[str, float]]):
    """Heat readings (kW) putting each loop at its load (a fraction of its CDU's capacity)."""
    return {loop: load * capacities[loop][1] for loop, load in loads.items()}


@pytest.fixture
def capacities() -> dict[str, tuple[str, float]]:
    return loop_capacities(LOOPS)


def test_a_small_hall_plots_every_loop_and_never_chooses() -> None:
    capacities = loop_capacities(5)
    choice = LoopChoice(capacities)
    assert choice.plotted == list(capacities) and not choice.chooses
    assert choice.cdus == ["C00", "C01", "C02", "C03", "C04"] and choice.note == ""
    overloaded = heat_at_load(dict.fromkeys(capacities, 1.5), capacities)
    assert not choice.follow(overloaded, T0_S)
    assert choice.plotted == list(capacities)


def test_the_loops_nearest_capacity_are_plotted_in_design_order(capacities) -> None:
    choice = LoopChoice(capacities)
    assert choice.chooses and choice.plotted == list(capacities)[:MAX_LOOP_CURVES]  # no reading
    # Nearest capacity is a fraction of it, not kW: the even loops' CDUs reject 100 kW, the
    # odd ones' 200 kW, so L00 at 60 kW is at 60 % and L11 at 60 kW only at 30 %.
    loads = {loop: 0.3 for loop in capacities} | {"L19": 0.95}
    loads |= {f"L{n:02d}": 0.6 + n / 100 for n in range(0, LOOPS, 2)}
    loads |= {"L01": 0.62, "L03": 0.61, "L05": 0.7, "L07": 0.9, "L09": 0.8}
    heat = heat_at_load(loads, capacities)
    assert heat["L00"] == heat["L11"]
    assert choice.follow(heat, T0_S)
    assert choice.plotted == [loop for loop in capacities if loads[loop] > 0.3]
    assert len(choice.plotted) == MAX_LOOP_CURVES
    assert "L00" in choice.plotted and "L11" not in choice.plotted
    assert choice.cdus == [capacities[loop][0] for loop in choice.plotted]
    assert choice.note == f" · {MAX_LOOP_CURVES} of {LOOPS} loops, nearest capacity"


def test_loops_with_no_reading_are_left_out_first(capacities) -> None:
    choice = LoopChoice(capacities)
    heat = heat_at_load(dict.fromkeys(capacities, 0.1), capacities)
    silent = ["L00", "L01", "L02", "L03"]
    heat.update(dict.fromkeys(silent, math.nan))
    assert choice.follow(heat, T0_S)
    assert choice.plotted == [loop for loop in capacities if loop not in silent]


def test_the_choice_holds_for_10_s_unless_a_loop_goes_over_capacity(capacities) -> None:
    choice = LoopChoice(capacities)
    first = {loop: 0.9 if int(loop[1:]) < MAX_LOOP_CURVES else 0.1 for loop in capacities}
    choice.follow(heat_at_load(first, capacities), T0_S)
    chosen = list(choice.plotted)
    assert chosen == list(capacities)[:MAX_LOOP_CURVES]
    # The readings swap: the hidden loops are now the nearest capacity (95 %, not over).
    swapped = {loop: 1.0 - load + 0.05 if load < 0.5 else 0.1 for loop, load in first.items()}
    heat = heat_at_load(swapped, capacities)
    for now_s in (T0_S + 1.0, T0_S + LOOP_CHOICE_HOLD_S - 0.1):
        assert not choice.follow(heat, now_s)
        assert choice.plotted == chosen  # the curves keep their owners meanwhile
    assert choice.follow(heat, T0_S + LOOP_CHOICE_HOLD_S)
    assert set(choice.plotted) >= {"L16", "L17", "L18", "L19"}
    rechosen_s = T0_S + LOOP_CHOICE_HOLD_S
    # A hidden loop over its CDU's capacity is plotted at once, hold or not.
    hidden = next(loop for loop in capacities if loop not in choice.plotted)
    over = heat | {hidden: 1.2 * capacities[hidden][1]}
    assert choice.follow(over, rechosen_s + 1.0)
    assert hidden in choice.plotted and len(choice.plotted) == MAX_LOOP_CURVES
    # ... which starts a new hold: the next change waits for it.
    assert not choice.follow(heat_at_load(first, capacities), rechosen_s + 2.0)
    assert hidden in choice.plotted


def test_a_plotted_loop_keeps_its_place_through_a_near_tie(capacities) -> None:
    choice = LoopChoice(capacities)
    loads = {loop: 0.5 + int(loop[1:]) / 1000 for loop in capacities}  # L19 highest
    choice.follow(heat_at_load(loads, capacities), T0_S)
    last_in = min(choice.plotted, key=loads.get)
    first_out = max((lp for lp in capacities if lp not in choice.plotted), key=loads.get)
    loads[first_out] = loads[last_in] + 0.01  # ahead, by less than the 2 % margin
    assert not choice.follow(heat_at_load(loads, capacities), T0_S + LOOP_CHOICE_HOLD_S)
    assert last_in in choice.plotted and first_out not in choice.plotted
    loads[first_out] = loads[last_in] + 0.03  # ahead by more: it takes the place
    assert choice.follow(heat_at_load(loads, capacities), T0_S + 2 * LOOP_CHOICE_HOLD_S)
    assert first_out in choice.plotted and last_in not in choice.plotted


def test_loop_curves_name_each_loop_and_its_cdus_series() -> None:
    curves = LoopChoice(loop_capacities(2)).curves()
    assert curves["heat"].names == ("L00", "L01")
    assert curves["heat"].keys == ("loop/L00/heat_kw", "loop/L01/heat_kw")
    assert curves["coolant"].names == ("C00 supply", "C00 return", "C01 supply", "C01 return")
    assert curves["coolant"].keys[:2] == ("cdu/C00/supply_temp_c", "cdu/C00/return_temp_c")
    assert curves["flow"].names == ("C00", "C01")
    assert curves["flow"].keys == ("cdu/C00/flow_lpm", "cdu/C01/flow_lpm")
    shared = LoopChoice({"L0": ("C0", 100.0), "L1": ("C0", 100.0)})
    assert shared.cdus == ["C0"]  # a CDU serving two loops is plotted once


@pytest.fixture(scope="module")
def large_history() -> LiveHistory:
    """512 racks in 32 rows; no frame is needed to know what there is to plot."""
    return LiveHistory(generate_hall(512, racks_per_row=16))


def test_per_rack_shows_the_first_64_racks_and_always_the_selected_one(large_history) -> None:
    racks = large_history.group_names("rack")
    curves = choose_gpu_curves(large_history, "util_pct", "rack", None)
    assert list(curves.names) == racks[:MAX_CURVES] and curves.pinned == -1
    assert curves.gpu_rows is None
    assert curves.keys[0] == mean_key("rack", racks[0], "util_pct")
    assert curves.title == "GPU utilisation, mean per rack · 64 of 512 racks (Row or Hall: all)"
    assert curves.unit == "%"
    selected = racks[-1]
    curves = choose_gpu_curves(large_history, "power_w", "rack", selected)
    assert len(curves.names) == MAX_CURVES and curves.names[-1] == selected
    assert curves.pinned == MAX_CURVES - 1
    assert curves.keys[-1] == mean_key("rack", selected, "power_w")
    inside = choose_gpu_curves(large_history, "util_pct", "rack", racks[3])
    assert inside.names == tuple(racks[:MAX_CURVES]) and inside.pinned == 3


def test_per_row_and_per_hall_show_every_group(large_history) -> None:
    rows = choose_gpu_curves(large_history, "temp_c", "row", "R000-00")
    assert len(rows.names) == 32 and rows.pinned == -1  # the selected rack is no row
    assert rows.title == "GPU temperature, mean per row" and rows.unit == "°C"
    hall = choose_gpu_curves(large_history, "temp_c", "hall", None)
    assert hall.names == ("Hall",) and hall.title == "GPU temperature, hall mean"
    assert hall.keys == (mean_key("hall", "Hall", "temp_c"),)


def test_per_gpu_shows_the_selected_racks_gpus_up_to_72() -> None:
    design = generate_hall(4, racks_per_row=4)
    history = LiveHistory(design)
    none = choose_gpu_curves(history, "power_w", "gpu", None)
    assert none.names == () and none.gpu_rows == ()
    assert none.title == "GPU power per GPU: select a rack on the plan"
    rack = design.racks[2].id
    curves = choose_gpu_curves(history, "power_w", "gpu", rack)
    assert curves.gpu_rows == tuple(history.rows_of_rack[rack]) and curves.keys == ()
    assert curves.names[:2] == ("GPU 0", "GPU 1") and len(curves.names) == 72
    assert curves.title == f"GPU power per GPU of rack {rack}"
    big = design.racks[2].model_copy(update={"gpu_count": 144})
    history = LiveHistory(design.model_copy(update={"racks": [*design.racks[:2], big]}))
    curves = choose_gpu_curves(history, "power_w", "gpu", big.id)
    assert len(curves.names) == MAX_GPU_CURVES
    assert curves.gpu_rows == tuple(history.rows_of_rack[big.id])[:MAX_GPU_CURVES]
    assert curves.title.endswith(f" · {MAX_GPU_CURVES} of 144 GPUs")


def test_one_read_takes_every_plots_series_in_its_own_columns(large_history) -> None:
    loops = LoopChoice(loop_capacities(3))
    gpu = choose_gpu_curves(large_history, "util_pct", "row", "R000-00")
    plan = plan_series(gpu, loops, "R000-00")
    assert list(plan.columns) == ["gpu", "heat", "coolant", "flow", "tokens", "efficiency"]
    taken = {key: plan.keys[columns] for key, columns in plan.columns.items()}
    assert taken["gpu"] == gpu.keys
    assert taken["heat"] == loops.curves()["heat"].keys
    assert taken["coolant"] == loops.curves()["coolant"].keys
    assert taken["tokens"] == (FACILITY_TOKENS_KEY, "rack/R000-00/tokens_per_s")
    assert taken["efficiency"] == (FACILITY_TOKENS_PER_J_KEY,)
    assert len(plan.keys) == sum(len(keys) for keys in taken.values())
    per_gpu = plan_series(choose_gpu_curves(large_history, "util_pct", "gpu", "R000-00"),
                          loops, "R000-00")  # fmt: skip
    assert "gpu" not in per_gpu.columns  # read from the per-GPU history instead
    assert per_gpu.keys == plan.keys[len(gpu.keys) :]


def test_tokens_show_the_selected_rack_beside_the_facility() -> None:
    assert token_curves(None).names == ("facility",)
    assert token_curves("B03").names == ("facility", "rack B03")
    assert token_curves("B03").keys == (FACILITY_TOKENS_KEY, "rack/B03/tokens_per_s")


@pytest.mark.parametrize(("span_s", "label"), [(60.0, "1 min"), (300.0, "5 min"),
                                               (900.0, "15 min"), (3600.0, "1 h"),
                                               (86_400.0, "24 h")])  # fmt: skip
def test_window_labels(span_s: float, label: str) -> None:
    assert window_label(span_s) == label


@pytest.mark.parametrize(("value", "text"), [(1234.4, "1,234 kW"), (56.78, "56.8 kW"),
                                             (0.12345, "0.123 kW"), (-250.0, "-250 kW"),
                                             (math.nan, "n/a"), (math.inf, "n/a")])  # fmt: skip
def test_readings_are_formatted_to_their_magnitude(value: float, text: str) -> None:
    assert format_value(value, "kW") == text
