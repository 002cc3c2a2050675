"""The design figures as CSV, for spreadsheets and scripts.

Long ("tidy") format, one figure per row: ``section, entity, quantity, unit, value``. Values are
plain numbers (no thousands separators; rounded to 6 decimals, far below any measurement's
precision, to drop float noise) so a spreadsheet can compute with them, and every row names its
unit; empty value = unknown.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from factoryfloor.backend.design.figures import DesignFigures

Row = tuple[str, str, str, str, float | int | str | None]


def figure_rows(figures: DesignFigures) -> Iterator[Row]:
    f = figures.facility
    for quantity, unit, value in (
        ("racks", "", f.rack_count),
        ("gpus", "", f.gpu_count),
        ("it_power", "kW", f.it_power_kw),
        ("heat_to_liquid", "kW", f.heat_to_liquid_kw),
        ("heat_to_air", "kW", f.heat_to_air_kw),
        ("coolant_flow", "L/min", f.coolant_flow_lpm),
        ("cooling_power", "kW", f.cooling_power_kw),
        ("electrical_loss", "kW", f.electrical_loss_kw),
        ("facility_power", "kW", f.facility_power_kw),
        ("pue_estimate", "", f.pue),
    ):
        yield ("facility", "facility", quantity, unit, value)
    for w in f.workloads:
        yield ("workload", w.workload, "tokens_per_s", "tok/s", w.tokens_per_s)
        yield ("workload", w.workload, "tokens_per_j_it", "tok/J", w.tokens_per_j_it)
        yield ("workload", w.workload, "tokens_per_j_facility", "tok/J", w.tokens_per_j_facility)
    for lp in figures.loops.values():
        for quantity, unit, value in (
            ("cdu", "", lp.cdu_id),
            ("fluid", "", lp.fluid),
            ("heat", "kW", lp.heat_kw),
            ("cdu_capacity", "kW", lp.cdu_capacity_kw),
            ("heat_utilisation", "fraction", lp.heat_utilisation),
            ("flow", "L/min", lp.flow_lpm),
            ("cdu_rated_flow", "L/min", lp.cdu_rated_flow_lpm),
            ("flow_utilisation", "fraction", lp.flow_utilisation),
            ("supply_temp", "C", lp.supply_temp_c),
            ("return_temp", "C", lp.return_temp_c),
            ("pipe_length", "m", lp.pipe_length_m),
        ):
            yield ("loop", lp.loop_id, quantity, unit, value)
    for fd in figures.feeds.values():
        yield ("feed", fd.feed_id, "load", "kW", fd.load_kw)
        yield ("feed", fd.feed_id, "capacity", "kW", fd.capacity_kw)
        yield ("feed", fd.feed_id, "utilisation", "fraction", fd.utilisation)
    for r in figures.racks.values():
        yield ("rack", r.rack_id, "it_power", "kW", r.it_power_kw)
        yield ("rack", r.rack_id, "heat_to_liquid", "kW", r.heat_to_liquid_kw)
        yield ("rack", r.rack_id, "heat_to_air", "kW", r.heat_to_air_kw)
        yield ("rack", r.rack_id, "tokens_per_s", "tok/s", r.tokens_per_s)
        yield ("rack", r.rack_id, "tokens_per_j", "tok/J", r.tokens_per_j)
    for p in figures.problems:
        yield ("problem", p.entity_id, p.severity, "", p.message)


def figures_csv(figures: DesignFigures) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "entity", "quantity", "unit", "value"])
    for section, entity, quantity, unit, value in figure_rows(figures):
        if isinstance(value, float):
            value = round(value, 6)
        writer.writerow([section, entity, quantity, unit, "" if value is None else value])
    return out.getvalue()
