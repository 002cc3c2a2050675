"""Plain-text report of a design's figures, as printed by ``factoryfloor check``."""

from __future__ import annotations

from collections.abc import Sequence

from backend.figures import DesignFigures, Problem
from backend.model import Design

SEVERITY_LABEL = {"over": "OVER", "near": "NEAR", "info": "NOTE"}


def fmt(value: float | None, digits: int = 1) -> str:
    """A number with thousands separators, or ``n/a`` where the figure is unknown."""
    return "n/a" if value is None else f"{value:,.{digits}f}"


def fmt_pct(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{fraction:.0%}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int) -> str:
    """Columns padded to fit; columns from index ``numeric_from`` on are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i >= numeric_from else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def facility_rows(figures: DesignFigures) -> list[tuple[str, str]]:
    """(label, value with unit) pairs of the facility totals; the summary panel shows the same."""
    f = figures.facility
    return [
        ("Racks", f"{f.rack_count:,}"),
        ("GPUs", f"{f.gpu_count:,}"),
        ("IT power", f"{fmt(f.it_power_kw)} kW"),
        ("Heat to liquid", f"{fmt(f.heat_to_liquid_kw)} kW ({fmt_pct(f.liquid_share)})"),
        ("Heat to air", f"{fmt(f.heat_to_air_kw)} kW"),
        ("Coolant flow", f"{fmt(f.coolant_flow_lpm)} L/min"),
        ("Cooling plant power", f"{fmt(f.cooling_power_kw)} kW"),
        ("Electrical losses", f"{fmt(f.electrical_loss_kw)} kW"),
        ("Facility power", f"{fmt(f.facility_power_kw)} kW"),
        ("PUE (estimate)", fmt(f.pue, 2)),
    ]


def format_report(design: Design, figures: DesignFigures, source: str) -> str:
    racks = [
        [
            r.rack_id,
            r.gpu_model,
            rack.loop_id or "-",
            rack.feed_id or "-",
            str(r.gpu_count),
            fmt(r.it_power_kw),
            fmt(r.heat_to_liquid_kw),
            fmt(r.heat_to_air_kw),
            fmt(r.tokens_per_s, 0),
            fmt(r.tokens_per_j, 2),
        ]
        for rack, r in ((rack, figures.racks[rack.id]) for rack in design.racks)
    ]
    loops = [
        [
            lp.loop_id,
            lp.cdu_id,
            lp.fluid,
            str(len(lp.rack_ids)),
            fmt(lp.heat_kw),
            fmt(lp.cdu_capacity_kw),
            fmt_pct(lp.heat_utilisation),
            fmt(lp.delta_t_k),
            fmt(lp.supply_temp_c),
            fmt(lp.return_temp_c),
            fmt(lp.flow_lpm),
            fmt(lp.cdu_rated_flow_lpm),
            fmt_pct(lp.flow_utilisation),
            fmt(lp.pipe_length_m),
        ]
        for lp in figures.loops.values()
    ]
    feeds = [
        [
            fd.feed_id,
            str(len(fd.rack_ids)),
            fmt(fd.load_kw),
            fmt(fd.capacity_kw),
            fmt(fd.margin_kw),
            fmt_pct(fd.utilisation),
        ]
        for fd in figures.feeds.values()
    ]
    workloads = [
        [
            w.workload,
            f"{w.gpu_count:,}",
            fmt(w.tokens_per_s, 0),
            fmt(w.it_power_kw),
            fmt(w.tokens_per_j_it, 3),
            fmt(w.tokens_per_j_facility, 3),
        ]
        for w in figures.facility.workloads
    ]
    label_width = max(len(label) for label, _ in facility_rows(figures))
    parts = [
        f"{design.name}  ({source})",
        "",
        "RACKS",
        format_table(
            [
                "rack",
                "GPU model",
                "loop",
                "feed",
                "GPUs",
                "IT kW",
                "liquid kW",
                "air kW",
                "tokens/s",
                "tok/J",
            ],
            racks,
            numeric_from=4,
        ),
        "",
        "COOLING LOOPS",
        format_table(
            [
                "loop",
                "CDU",
                "fluid",
                "racks",
                "heat kW",
                "CDU kW",
                "heat %",
                "dT K",
                "supply C",
                "return C",
                "flow L/min",
                "rated L/min",
                "flow %",
                "pipe m",
            ],
            loops,
            numeric_from=3,
        ),
        "",
        "POWER FEEDS",
        format_table(
            ["feed", "racks", "load kW", "capacity kW", "margin kW", "load %"],
            feeds,
            numeric_from=1,
        ),
        "",
        "FACILITY",
        *(f"{label.ljust(label_width)}  {value}" for label, value in facility_rows(figures)),
        "",
        "TOKEN CAPACITY (per reference workload; different workloads are not added)",
        format_table(
            ["workload", "GPUs", "tokens/s", "IT kW", "tok/J IT", "tok/J facility"],
            workloads,
            numeric_from=1,
        ),
        "",
        format_problems(figures.problems),
    ]
    return "\n".join(parts) + "\n"


def format_problems(problems: Sequence[Problem]) -> str:
    over = sum(1 for p in problems if p.severity == "over")
    if over:
        verdict = f"RESULT: {over} item(s) over capacity"
    else:
        verdict = "RESULT: valid and within capacity"
    lines = [f"{SEVERITY_LABEL[p.severity]}  {p.entity_id}: {p.message}" for p in problems]
    return "\n".join(["PROBLEMS" if lines else "PROBLEMS: none", *lines, "", verdict])
