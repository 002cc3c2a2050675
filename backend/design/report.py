"""Plain-text report of a design's figures, as printed by ``factoryfloor check``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from factoryfloor.backend.design.figures import DesignFigures, Problem
from factoryfloor.backend.design.model import Design

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


@dataclass(frozen=True, slots=True)
class FigureTable:
    """Rows of figures with their headers; rows are keyed by the entity they describe."""

    title: str
    headers: tuple[str, ...]
    numeric_from: int
    """Columns from this index on hold numbers (right-aligned)."""
    rows: list[tuple[str, list[str]]]


def rack_table(design: Design, figures: DesignFigures) -> FigureTable:
    rows = []
    for rack in design.racks:
        r = figures.racks[rack.id]
        cells = [
            r.rack_id, r.gpu_model, rack.loop_id or "-", rack.feed_id or "-", str(r.gpu_count),
            fmt(r.it_power_kw), fmt(r.heat_to_liquid_kw), fmt(r.heat_to_air_kw),
            fmt(r.tokens_per_s, 0), fmt(r.tokens_per_j, 2),
        ]  # fmt: skip
        rows.append((rack.id, cells))
    headers = ("rack", "GPU model", "loop", "feed", "GPUs", "IT kW", "liquid kW", "air kW",
               "tokens/s", "tok/J")  # fmt: skip
    return FigureTable("RACKS", headers, 4, rows)


def loop_table(figures: DesignFigures) -> FigureTable:
    rows = [
        (lp.loop_id, [
            lp.loop_id, lp.cdu_id, lp.fluid, str(len(lp.rack_ids)), fmt(lp.heat_kw),
            fmt(lp.cdu_capacity_kw), fmt_pct(lp.heat_utilisation), fmt(lp.delta_t_k),
            fmt(lp.supply_temp_c), fmt(lp.return_temp_c), fmt(lp.flow_lpm),
            fmt(lp.cdu_rated_flow_lpm), fmt_pct(lp.flow_utilisation), fmt(lp.pipe_length_m),
        ])
        for lp in figures.loops.values()
    ]  # fmt: skip
    headers = ("loop", "CDU", "fluid", "racks", "heat kW", "CDU kW", "heat %", "dT K",
               "supply C", "return C", "flow L/min", "rated L/min", "flow %", "pipe m")  # fmt: skip
    return FigureTable("COOLING LOOPS", headers, 3, rows)


def feed_table(figures: DesignFigures) -> FigureTable:
    rows = [
        (fd.feed_id, [fd.feed_id, str(len(fd.rack_ids)), fmt(fd.load_kw), fmt(fd.capacity_kw),
                      fmt(fd.margin_kw), fmt_pct(fd.utilisation)])
        for fd in figures.feeds.values()
    ]  # fmt: skip
    headers = ("feed", "racks", "load kW", "capacity kW", "margin kW", "load %")
    return FigureTable("POWER FEEDS", headers, 1, rows)


def workload_table(figures: DesignFigures) -> FigureTable:
    rows = [
        (w.workload, [w.workload, f"{w.gpu_count:,}", fmt(w.tokens_per_s, 0),
                      fmt(w.it_power_kw), fmt(w.tokens_per_j_it, 3),
                      fmt(w.tokens_per_j_facility, 3)])
        for w in figures.facility.workloads
    ]  # fmt: skip
    headers = ("workload", "GPUs", "tokens/s", "IT kW", "tok/J IT", "tok/J facility")
    return FigureTable(
        "TOKEN CAPACITY (per reference workload; different workloads are not added)",
        headers,
        1,
        rows,
    )


def _format_section(table: FigureTable) -> str:
    body = format_table(table.headers, [cells for _, cells in table.rows], table.numeric_from)
    return f"{table.title}\n{body}\n"


def format_report(design: Design, figures: DesignFigures, source: str) -> str:
    label_width = max(len(label) for label, _ in facility_rows(figures))
    facility = "\n".join(
        f"{label.ljust(label_width)}  {value}" for label, value in facility_rows(figures)
    )
    parts = [
        f"{design.name}  ({source})\n",
        _format_section(rack_table(design, figures)),
        _format_section(loop_table(figures)),
        _format_section(feed_table(figures)),
        f"FACILITY\n{facility}\n",
        _format_section(workload_table(figures)),
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
