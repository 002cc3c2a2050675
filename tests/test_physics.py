"""Design figures against arithmetic done by hand.

Each expected value is written out as the hand calculation from the formulas and tables of the
design notes (sections 1-3), so a reader can check the figure without running the code:
``V_dot [L/min] = Q [kW] * 60 / (rho [kg/L] * cp [kJ/(kg K)] * dT [K])``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import designs

from factoryfloor.backend.design.design_file import load_design, reference_problems
from factoryfloor.backend.design.figures import DesignFigures, Problem, compute_figures
from factoryfloor.backend.design.fluids import properties, required_flow_lpm
from factoryfloor.backend.design.model import (
    Assumptions,
    Cdu,
    CoolingLoop,
    Design,
    Floor,
    GpuModel,
    PowerFeed,
    Rack,
)
from factoryfloor.backend.design.synthetic import generate_hall

DEMO_PATH = Path(__file__).resolve().parent.parent / "resources" / "demo_hall.json"

LLAMA2 = "Llama 2 70B (MLPerf Inference server)"
LLAMA3 = "Llama 3.1 405B (MLPerf Inference server)"
MODELS = [
    GpuModel(
        id="H100",
        name="HGX H100",
        gpu_power_w=700,
        system_power_per_gpu_w=1275,
        tokens_per_s_per_gpu=2701,
        reference_workload=LLAMA2,
    ),
    GpuModel(
        id="GB200",
        name="GB200 NVL72",
        gpu_power_w=1200,
        system_power_per_gpu_w=1833,
        tokens_per_s_per_gpu=123,
        reference_workload=LLAMA3,
        liquid_cooled=True,
    ),
    GpuModel(
        id="GB300",
        name="GB300 NVL72",
        gpu_power_w=1400,
        system_power_per_gpu_w=1972,
        tokens_per_s_per_gpu=None,
        liquid_cooled=True,
    ),
]


def rack(rack_id: str, it_kw: float, liquid: float = 0.0, **fields: Any) -> Rack:
    """A rack at the middle of the floor; H100 x 8 unless ``fields`` say otherwise."""
    values: dict[str, Any] = {"x_m": 5.0, "y_m": 5.0, "gpu_model": "H100", "gpu_count": 8}
    values.update(fields)
    return Rack(id=rack_id, it_power_kw=it_kw, liquid_fraction=liquid, **values)


def cdu(cdu_id: str, capacity_kw: float, rated_flow_lpm: float, **fields: Any) -> Cdu:
    values: dict[str, Any] = {"x_m": 1.0, "y_m": 1.0, "supply_temp_c": 30.0, "fluid": "water"}
    values.update(fields)
    return Cdu(id=cdu_id, capacity_kw=capacity_kw, rated_flow_lpm=rated_flow_lpm, **values)


def loop(loop_id: str, cdu_id: str, delta_t_k: float = 10.0, **fields: Any) -> CoolingLoop:
    return CoolingLoop(id=loop_id, cdu_id=cdu_id, design_delta_t_k=delta_t_k, **fields)


def feed(feed_id: str, capacity_kw: float) -> PowerFeed:
    return PowerFeed(id=feed_id, x_m=0.5, y_m=0.5, capacity_kw=capacity_kw)


def design(
    racks: list[Rack],
    cdus: list[Cdu] | None = None,
    loops: list[CoolingLoop] | None = None,
    feeds: list[PowerFeed] | None = None,
    **assumptions: float,
) -> Design:
    """A 20 x 20 m hall; checked like a loaded file so the figures see only valid designs."""
    built = Design(
        name="Test hall",
        floor=Floor(width_m=20, depth_m=20),
        assumptions=Assumptions(**assumptions),
        gpu_models=MODELS,
        racks=racks,
        cdus=cdus or [],
        loops=loops or [],
        feeds=feeds or [],
    )
    assert reference_problems(built) == []
    return built


def problems_for(figures: DesignFigures, entity_id: str) -> list[Problem]:
    return [problem for problem in figures.problems if problem.entity_id == entity_id]


# Fluid properties -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fluid", "temp_c", "density_kg_per_l", "cp"),
    [
        # Table points (notes section 1).
        ("water", 20.0, 0.9982, 4.18),
        ("water", 25.0, 0.9970, 4.18),
        ("water", 40.0, 0.9922, 4.18),
        ("pg25", 20.0, 1.0237, 3.91),
        ("pg25", 25.0, 1.0215, 3.92),
        ("pg25", 40.0, 1.0143, 3.96),
        # Between points, linear: 22.5 C is half way from 20 to 25.
        ("water", 22.5, (998.2 + 0.5 * (997.0 - 998.2)) / 1000, 4.18),  # 0.9976
        ("pg25", 22.5, (1023.7 + 0.5 * (1021.5 - 1023.7)) / 1000, 3.91 + 0.5 * 0.01),
        # 35 C is two thirds of the way from 25 to 40.
        ("water", 35.0, (997.0 + 2 / 3 * (992.2 - 997.0)) / 1000, 4.18),  # 0.9938
        ("pg25", 35.0, (1021.5 + 2 / 3 * (1014.3 - 1021.5)) / 1000, 3.92 + 2 / 3 * 0.04),
        # Outside the table: held at the nearest point, never extrapolated.
        ("water", 5.0, 0.9982, 4.18),
        ("water", 60.0, 0.9922, 4.18),
        ("pg25", -5.0, 1.0237, 3.91),
        ("pg25", 55.0, 1.0143, 3.96),
    ],
)
def test_fluid_properties(fluid: str, temp_c: float, density_kg_per_l: float, cp: float) -> None:
    assert properties(fluid, temp_c) == pytest.approx((density_kg_per_l, cp), rel=1e-12)


def test_required_flow_by_hand() -> None:
    # 448.8 kW * 60 / (0.99380 kg/L * 4.18 kJ/(kg K) * 10 K) = 648.2 L/min (water, mean 35 C)
    assert required_flow_lpm(448.8, 10.0, "water", 35.0) == pytest.approx(
        448.8 * 60 / (0.9938 * 4.18 * 10), rel=1e-9
    )
    assert required_flow_lpm(448.8, 10.0, "water", 35.0) == pytest.approx(648.2, abs=0.05)
    # Same heat with PG25: 448.8 * 60 / (1.0167 * 3.94667 * 10) = 671.1 L/min
    assert required_flow_lpm(448.8, 10.0, "pg25", 35.0) == pytest.approx(671.1, abs=0.05)


@pytest.mark.parametrize(("fluid", "expected_dt_k"), [("water", 9.6), ("pg25", 10.0)])
def test_notes_check_figure_one_and_a_half_litres_per_minute_per_kw(
    fluid: str, expected_dt_k: float
) -> None:
    """1.5 L/min per kW: dT = 60 / (1.5 * rho * cp) = 9.6 K (water), 10.0 K (PG25) at 25 C."""
    # Flow scales with 1/dT, so the dT that needs 1.5 L/min for 1 kW is the flow at 1 K / 1.5.
    delta_t_k = required_flow_lpm(1.0, 1.0, fluid, 25.0) / 1.5
    assert round(delta_t_k, 1) == expected_dt_k
    # ... and that dT indeed asks for 150 L/min for a 100 kW rack.
    assert required_flow_lpm(100.0, delta_t_k, fluid, 25.0) == pytest.approx(150.0)


def test_glycol_needs_more_flow_than_water() -> None:
    # Ratio (0.9970 * 4.18) / (1.0215 * 3.92) = 4.16746 / 4.00428 = 1.0408 at 25 C.
    ratio = required_flow_lpm(100.0, 10.0, "pg25", 25.0) / required_flow_lpm(
        100.0, 10.0, "water", 25.0
    )
    assert ratio == pytest.approx((0.997 * 4.18) / (1.0215 * 3.92), rel=1e-12)
    assert ratio == pytest.approx(1.0408, abs=1e-4)


# Racks, loops, feeds ----------------------------------------------------------------------------


def small_hall(**assumptions: float) -> Design:
    """Three racks on loop L1 (CDU1, water, 30 C supply, dT 8 K) and feed F1; one air rack on F2."""
    return design(
        racks=[
            rack("R1", 100.0, 0.8, loop_id="L1", feed_id="F1", gpu_model="GB200", gpu_count=72),
            rack("R2", 50.0, 0.9, loop_id="L1", feed_id="F1", gpu_model="GB200", gpu_count=36),
            rack("R3", 20.0, 0.0, loop_id="L1", feed_id="F1"),
            rack("R4", 10.0, 0.0, feed_id="F2"),
        ],
        cdus=[cdu("CDU1", capacity_kw=200.0, rated_flow_lpm=300.0)],
        loops=[loop("L1", "CDU1", delta_t_k=8.0, route=[(1.0, 1.0), (1.0, 4.0), (5.0, 4.0)])],
        feeds=[feed("F1", 250.0), feed("F2", 100.0)],
        **assumptions,
    )


def test_rack_liquid_and_air_split() -> None:
    figures = compute_figures(small_hall())
    r1 = figures.racks["R1"]
    assert r1.heat_to_liquid_kw == pytest.approx(100.0 * 0.8)  # 80 kW to cold plates
    assert r1.heat_to_air_kw == pytest.approx(100.0 * (1 - 0.8))  # 20 kW to air
    r3 = figures.racks["R3"]
    assert (r3.heat_to_liquid_kw, r3.heat_to_air_kw) == (0.0, 20.0)


def test_loop_heat_is_the_liquid_heat_of_its_racks() -> None:
    figures = compute_figures(small_hall())
    l1 = figures.loops["L1"]
    assert l1.rack_ids == ("R1", "R2", "R3")
    assert l1.heat_kw == pytest.approx(100 * 0.8 + 50 * 0.9 + 20 * 0.0)  # 80 + 45 + 0 = 125 kW
    assert l1.pipe_length_m == pytest.approx(3.0 + 4.0)  # route: 3 m down, 4 m across


def test_loop_return_temperature_and_flow() -> None:
    l1 = compute_figures(small_hall()).loops["L1"]
    assert l1.supply_temp_c == 30.0
    assert l1.return_temp_c == pytest.approx(30.0 + 8.0)  # supply + design dT = 38 C
    # Properties at the mean 34 C: water density 997.0 + 9/15 * (992.2 - 997.0) = 994.12 kg/m3.
    # 125 kW * 60 / (0.99412 kg/L * 4.18 * 8 K) = 225.61 L/min
    assert l1.flow_lpm == pytest.approx(125 * 60 / (0.99412 * 4.18 * 8), rel=1e-9)
    assert l1.flow_lpm == pytest.approx(225.61, abs=0.01)


def test_loop_utilisation_and_margins_against_the_cdu() -> None:
    l1 = compute_figures(small_hall()).loops["L1"]
    flow = 125 * 60 / (0.99412 * 4.18 * 8)  # 225.61 L/min, as above
    assert l1.heat_utilisation == pytest.approx(125 / 200)  # 62.5 %
    assert l1.heat_margin_kw == pytest.approx(200 - 125)  # 75 kW left
    assert l1.flow_utilisation == pytest.approx(flow / 300)  # 75.2 %
    assert l1.flow_margin_lpm == pytest.approx(300 - flow)  # 74.4 L/min left
    assert l1.utilisation == pytest.approx(flow / 300)  # flow is the tighter limit here


def test_feed_load_and_margin() -> None:
    figures = compute_figures(small_hall())
    f1, f2 = figures.feeds["F1"], figures.feeds["F2"]
    assert f1.rack_ids == ("R1", "R2", "R3")
    assert f1.load_kw == pytest.approx(100 + 50 + 20)  # 170 kW of IT power
    assert f1.margin_kw == pytest.approx(250 - 170)  # 80 kW
    assert f1.utilisation == pytest.approx(170 / 250)  # 68 %
    assert (f2.load_kw, f2.margin_kw) == (10.0, 90.0)


def test_facility_totals_cooling_power_losses_and_pue() -> None:
    figures = compute_figures(
        small_hall(
            liquid_cooling_overhead=0.05,
            air_cooling_overhead=0.35,
            electrical_loss_fraction=0.04,
            other_overhead_kw=10.0,
        )
    )
    f = figures.facility
    assert (f.rack_count, f.gpu_count) == (4, 72 + 36 + 8 + 8)
    assert f.it_power_kw == pytest.approx(100 + 50 + 20 + 10)  # 180 kW
    assert f.heat_to_liquid_kw == pytest.approx(80 + 45)  # 125 kW
    assert f.heat_to_air_kw == pytest.approx(20 + 5 + 20 + 10)  # 55 kW
    assert f.liquid_share == pytest.approx(125 / 180)
    # Cooling plant: 125 kW * 0.05 + 55 kW * 0.35 = 6.25 + 19.25 = 25.5 kW
    assert f.cooling_power_kw == pytest.approx(125 * 0.05 + 55 * 0.35)
    # UPS and distribution: 180 kW * 0.04 = 7.2 kW
    assert f.electrical_loss_kw == pytest.approx(180 * 0.04)
    # Facility: 180 + 25.5 + 7.2 + 10 = 222.7 kW; PUE = 222.7 / 180 = 1.2372
    assert f.facility_power_kw == pytest.approx(222.7)
    assert f.pue == pytest.approx(222.7 / 180)
    assert f.coolant_flow_lpm == pytest.approx(figures.loops["L1"].flow_lpm)


def test_empty_hall_has_no_pue() -> None:
    f = compute_figures(design(racks=[])).facility
    assert f.it_power_kw == 0.0
    assert f.pue is None
    assert f.liquid_share is None


# Tokens -----------------------------------------------------------------------------------------


def test_rack_tokens_from_the_catalog_and_tokens_per_joule() -> None:
    figures = compute_figures(
        design(
            racks=[
                rack("ONE", 0.7, feed_id="F", gpu_count=1),
                rack("HGX", 10.2, feed_id="F", gpu_count=8),
            ],
            feeds=[feed("F", 100.0)],
        )
    )
    one = figures.racks["ONE"]
    assert one.tokens_per_s == 2701  # 1 GPU x 2,701 tok/s
    assert one.tokens_per_j == pytest.approx(2701 / 700)  # 2,701 tok/s at 700 W
    assert one.tokens_per_j == pytest.approx(3.86, abs=0.005)
    hgx = figures.racks["HGX"]
    assert hgx.tokens_per_s == 8 * 2701  # 21,608 tok/s
    assert hgx.tokens_per_j == pytest.approx(21_608 / 10_200)  # 2.12 tok/J with host power
    assert hgx.workload == LLAMA2


def test_rack_token_override_replaces_the_catalog_figure() -> None:
    figures = compute_figures(
        design(
            racks=[
                rack("SAME", 10.0, feed_id="F", tokens_per_s_per_gpu=3000.0),
                rack("OWN", 10.0, feed_id="F", tokens_per_s_per_gpu=500.0, workload="Mixtral"),
            ],
            feeds=[feed("F", 100.0)],
        )
    )
    assert figures.racks["SAME"].tokens_per_s == 8 * 3000  # override, catalog workload
    assert figures.racks["SAME"].workload == LLAMA2
    assert figures.racks["OWN"].tokens_per_s == 8 * 500
    assert figures.racks["OWN"].workload == "Mixtral"


def test_token_capacity_is_per_workload_and_never_summed() -> None:
    figures = compute_figures(
        design(
            racks=[
                rack("H1", 10.0, feed_id="F", gpu_count=8),
                rack("H2", 10.0, feed_id="F", gpu_count=8),
                rack("G1", 130.0, 1.0, loop_id="L", feed_id="F", gpu_model="GB200", gpu_count=72),
            ],
            cdus=[cdu("C", 500.0, 1000.0)],
            loops=[loop("L", "C")],
            feeds=[feed("F", 500.0)],
            other_overhead_kw=0.0,
        )
    )
    f = figures.facility
    by_name = {w.workload: w for w in f.workloads}
    assert set(by_name) == {LLAMA2, LLAMA3}  # two entries, no grand total

    llama2 = by_name[LLAMA2]
    assert llama2.gpu_count == 16
    assert llama2.tokens_per_s == 16 * 2701  # 43,216 tok/s
    assert llama2.it_power_kw == 20.0
    assert llama2.tokens_per_j_it == pytest.approx(43_216 / 20_000)  # 2.16 tok/J

    llama3 = by_name[LLAMA3]
    assert llama3.tokens_per_s == 72 * 123  # 8,856 tok/s
    assert llama3.tokens_per_j_it == pytest.approx(8_856 / 130_000)

    # PUE: IT 150 kW; cooling 130 * 0.05 + 20 * 0.35 = 13.5; losses 150 * 0.04 = 6;
    # (150 + 13.5 + 6) / 150 = 1.13
    assert f.pue == pytest.approx(169.5 / 150)
    for workload in f.workloads:
        assert workload.pue == f.pue
        assert workload.tokens_per_j_facility == pytest.approx(workload.tokens_per_j_it / 1.13)


def test_rack_without_token_figure_is_left_out_and_noted() -> None:
    figures = compute_figures(
        design(
            racks=[
                rack("N1", 130.0, 0.85, loop_id="L", feed_id="F", gpu_model="GB300", gpu_count=72),
                rack("N2", 130.0, 0.85, loop_id="L", feed_id="F", gpu_model="GB300", gpu_count=72),
                rack("H1", 10.0, feed_id="F"),
            ],
            cdus=[cdu("C", 1000.0, 1000.0)],
            loops=[loop("L", "C")],
            feeds=[feed("F", 500.0)],
        )
    )
    assert figures.racks["N1"].tokens_per_s is None
    assert figures.racks["N1"].tokens_per_j is None
    assert figures.facility.racks_without_token_figure == 2
    assert [w.workload for w in figures.facility.workloads] == [LLAMA2]
    assert figures.facility.workloads[0].gpu_count == 8  # the GB300 GPUs are not counted
    (note,) = problems_for(figures, "facility")
    assert note.severity == "info"
    assert note.message.startswith("2 rack(s) have no tokens/s figure")
    assert figures.over_capacity == ()


def test_token_override_on_a_rack_without_catalog_figure_counts_it() -> None:
    figures = compute_figures(
        design(
            racks=[
                rack(
                    "N1",
                    130.0,
                    0.85,
                    loop_id="L",
                    feed_id="F",
                    gpu_model="GB300",
                    gpu_count=72,
                    tokens_per_s_per_gpu=200.0,
                    workload="DeepSeek R1",
                )
            ],
            cdus=[cdu("C", 1000.0, 1000.0)],
            loops=[loop("L", "C")],
            feeds=[feed("F", 500.0)],
        )
    )
    assert figures.racks["N1"].tokens_per_s == 72 * 200
    assert figures.facility.racks_without_token_figure == 0
    assert [w.workload for w in figures.facility.workloads] == ["DeepSeek R1"]
    assert problems_for(figures, "facility") == []


# Problems ---------------------------------------------------------------------------------------


def one_loop(heat_kw: float, capacity_kw: float = 200.0, **assumptions: float) -> DesignFigures:
    """One all-liquid rack of ``heat_kw`` on a CDU of ``capacity_kw`` with ample flow and feed."""
    return compute_figures(
        design(
            racks=[rack("R", heat_kw, 1.0, loop_id="L", feed_id="F")],
            cdus=[cdu("C", capacity_kw, rated_flow_lpm=10_000.0)],
            loops=[loop("L", "C")],
            feeds=[feed("F", 10_000.0)],
            **assumptions,
        )
    )


def test_loop_over_cdu_capacity_is_over() -> None:
    figures = one_loop(210.0)  # 210 kW on a 200 kW CDU: 105 %
    (problem,) = figures.problems
    assert problem == Problem("over", "L", "heat 210.0 kW of 200.0 kW (105%): over capacity")
    assert figures.over_capacity == (problem,)


@pytest.mark.parametrize(
    ("heat_kw", "severity"),
    [
        (179.9, None),  # 89.95 %: below the 90 % margin
        (180.0, "near"),  # 90 % exactly: near
        (200.0, "near"),  # 100 %: at capacity, not over it
        (200.1, "over"),
    ],
)
def test_near_capacity_from_the_near_fraction(heat_kw: float, severity: str | None) -> None:
    figures = one_loop(heat_kw)
    assert [p.severity for p in problems_for(figures, "L")] == ([severity] if severity else [])


def test_near_fraction_is_the_designs_own() -> None:
    assert problems_for(one_loop(120.0), "L") == []  # 60 % with the default 0.9
    (problem,) = problems_for(one_loop(120.0, near_capacity_fraction=0.6), "L")
    assert problem.severity == "near"
    assert problem.message == "heat 120.0 kW of 200.0 kW (60%): near capacity"


def test_flow_over_rated_flow_is_over() -> None:
    # 300 kW * 60 / (0.9938 * 4.18 * 10) = 433.3 L/min through a CDU rated 400 L/min
    figures = compute_figures(
        design(
            racks=[rack("R", 300.0, 1.0, loop_id="L", feed_id="F")],
            cdus=[cdu("C", 1000.0, 400.0)],
            loops=[loop("L", "C")],
            feeds=[feed("F", 1000.0)],
        )
    )
    flow = figures.loops["L"].flow_lpm
    assert flow == pytest.approx(300 * 60 / (0.9938 * 4.18 * 10))  # 433.3 L/min
    (problem,) = figures.problems
    assert problem.severity == "over"
    assert problem.entity_id == "L"
    assert problem.message == "flow 433.3 L/min of 400.0 L/min (108%): over capacity"


def test_feed_over_and_near_capacity() -> None:
    figures = compute_figures(
        design(
            racks=[
                rack("R1", 60.0, feed_id="F1"),
                rack("R2", 55.0, feed_id="F1"),
                rack("R3", 19.0, feed_id="F2"),
            ],
            feeds=[feed("F1", 100.0), feed("F2", 20.0)],
            max_air_kw_per_rack=100.0,
        )
    )
    (f1,) = problems_for(figures, "F1")
    assert f1 == Problem("over", "F1", "load 115.0 kW of 100.0 kW (115%): over capacity")
    (f2,) = problems_for(figures, "F2")
    assert f2 == Problem("near", "F2", "load 19.0 kW of 20.0 kW (95%): near capacity")


def test_liquid_rack_on_no_loop_is_over() -> None:
    figures = compute_figures(
        design(
            racks=[rack("WET", 100.0, 0.85, feed_id="F"), rack("DRY", 20.0, 0.0, feed_id="F")],
            feeds=[feed("F", 500.0)],
        )
    )
    assert figures.problems == (
        Problem("over", "WET", "rejects 85.0 kW to liquid but is on no loop"),
    )


def test_rack_on_no_feed_is_over() -> None:
    figures = compute_figures(design(racks=[rack("LOOSE", 10.0), rack("EMPTY", 0.0)]))
    assert figures.problems == (Problem("over", "LOOSE", "draws power but is on no power feed"),)


def test_air_heat_above_the_air_cooling_limit_is_over() -> None:
    figures = compute_figures(
        design(
            racks=[
                rack("HOT", 40.0, 0.2, loop_id="L", feed_id="F"),  # 40 * 0.8 = 32 kW to air
                rack("EDGE", 30.0, 0.0, feed_id="F"),  # 30 kW to air: at the limit, allowed
            ],
            cdus=[cdu("C", 100.0, 1000.0)],
            loops=[loop("L", "C")],
            feeds=[feed("F", 500.0)],
            max_air_kw_per_rack=30.0,
        )
    )
    (problem,) = figures.problems
    assert problem.severity == "over"
    assert problem.entity_id == "HOT"
    assert "heat to air 32.0 kW exceeds the air-cooling limit of 30.0 kW" in problem.message


def test_valid_hall_has_no_problems() -> None:
    assert compute_figures(small_hall()).problems == ()


# The demo hall ----------------------------------------------------------------------------------


def test_demo_hall_is_within_capacity_with_one_loop_near() -> None:
    figures = compute_figures(load_design(DEMO_PATH))
    assert figures.over_capacity == ()
    near = {p.entity_id for p in figures.problems if p.severity == "near"}
    assert near == {"L-B2"}
    # L-B2: 4 racks x 132 kW x 0.85 = 448.8 kW on a 480 kW PG25 CDU: 93.5 %
    assert figures.loops["L-B2"].heat_kw == pytest.approx(4 * 132 * 0.85)
    assert figures.loops["L-B2"].heat_utilisation == pytest.approx(448.8 / 480)
    # L-A1: the same heat on water at a mean 35 C: 448.8 * 60 / (0.9938 * 4.18 * 10) = 648.2
    assert figures.loops["L-A1"].flow_lpm == pytest.approx(648.2, abs=0.05)


def test_demo_hall_pue_is_plausible() -> None:
    """The notes give 1.1-1.2 at hyperscale, 1.4-1.6 on average: a liquid hall sits low."""
    f = compute_figures(load_design(DEMO_PATH)).facility
    assert 1.1 <= f.pue <= 1.3
    # 16 GB200 racks of 132 kW (85 % liquid) and 10 H100 racks of 20.4 kW (air), 20 kW other:
    it_kw = 16 * 132 + 10 * 20.4  # 2,316 kW
    liquid_kw = 16 * 132 * 0.85  # 1,795.2 kW
    air_kw = it_kw - liquid_kw  # 520.8 kW
    facility_kw = it_kw + liquid_kw * 0.05 + air_kw * 0.35 + it_kw * 0.04 + 20  # 2,700.7 kW
    assert f.pue == pytest.approx(facility_kw / it_kw)  # 1.166


@pytest.mark.parametrize(
    ("racks", "per_row", "per_loop"), [(1, 20, 4), (45, 20, 4), (81, 20, 4), (30, 7, 3)]
)
def test_generated_halls_are_valid_and_within_capacity(
    racks: int, per_row: int, per_loop: int
) -> None:
    """Benchmarks and the crash test rely on generated halls being ordinary, valid designs."""
    hall = generate_hall(racks, per_row, per_loop)
    assert reference_problems(hall) == []
    figures = compute_figures(hall)
    assert figures.facility.rack_count == racks
    assert figures.over_capacity == ()
    # Every fourth row is air-cooled H100 at 20.4 kW, below the 30 kW air limit; others are
    # GB200 at up to 132 kW, 85 % to liquid, on loops of ``per_loop`` racks.
    for rack_ in hall.racks:
        on_loop = rack_.loop_id is not None
        assert on_loop == (rack_.liquid_fraction > 0)


# Any valid design -------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(generated=designs())
def test_totals_add_up_for_any_valid_design(generated: Design) -> None:
    figures = compute_figures(generated)
    f = figures.facility
    assert f.it_power_kw == pytest.approx(sum(r.it_power_kw for r in generated.racks))
    assert f.heat_to_liquid_kw + f.heat_to_air_kw == pytest.approx(f.it_power_kw)
    for loop_figures in figures.loops.values():
        on_loop = generated.racks_on_loop(loop_figures.loop_id)
        assert loop_figures.rack_ids == tuple(r.id for r in on_loop)
        expected = sum(figures.racks[r.id].heat_to_liquid_kw for r in on_loop)
        assert loop_figures.heat_kw == pytest.approx(expected)
    for feed_figures in figures.feeds.values():
        on_feed = generated.racks_on_feed(feed_figures.feed_id)
        assert feed_figures.load_kw == pytest.approx(sum(r.it_power_kw for r in on_feed))
    ids = {item.id for item in (*generated.racks, *generated.loops, *generated.feeds)}
    assert {p.entity_id for p in figures.problems} <= ids | {"facility"}


def test_rack_serving_another_workload_without_its_own_figure_has_unknown_tokens() -> None:
    """The catalog's 2,701 tok/s holds for Llama 2 70B only: a rack declared to serve another
    model, with no figure of its own, must not report 2,701 tok/s under that model's name."""
    figures = compute_figures(
        design(racks=[rack("OTHER", 10.0, feed_id="F", workload="Mixtral")], feeds=[feed("F", 50)])
    )
    assert figures.racks["OTHER"].tokens_per_s is None
    assert figures.facility.workloads == ()
    assert figures.facility.racks_without_token_figure == 1


def test_live_pue_uses_the_design_formula_on_measured_loads() -> None:
    """The Run view's PUE estimate: the same overheads applied to measured IT and liquid heat."""
    from factoryfloor.backend.design.figures import estimated_pue

    assumptions = Assumptions(liquid_cooling_overhead=0.05, air_cooling_overhead=0.35,
                              electrical_loss_fraction=0.04, other_overhead_kw=20.0)  # fmt: skip
    # 1,000 kW IT, 800 kW to liquid, 200 kW to air:
    # (1,000 + 800 x 0.05 + 200 x 0.35 + 1,000 x 0.04 + 20) / 1,000 = 1,170 / 1,000 = 1.17
    assert estimated_pue(1000.0, 800.0, assumptions) == pytest.approx(1.17)
    assert estimated_pue(0.0, 0.0, assumptions) is None
