"""Design figures: what a plan means for power, cooling and tokens.

``compute_figures`` turns a :class:`~.model.Design` into per-rack, per-loop and per-feed
figures, facility totals and a list of problems. It is pure and fast (one pass over the racks) so
the editor can call it on every drag; the ``check`` command and the summary panel read the same
result.

Token capacity is reported per reference workload: a Llama 2 70B figure and a Llama 3.1 405B
figure measure different work and are never summed. Tokens per joule at facility level divide
by the IT power of the racks serving that workload times the estimated PUE.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Literal

from factoryfloor.backend.design.fluids import required_flow_lpm
from factoryfloor.backend.design.model import Assumptions, Design, Fluid

Severity = Literal["over", "near", "info"]
"""``over``: over capacity or unserved, fails ``check``; ``near``: within the warning margin."""


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    entity_id: str
    message: str


@dataclass(slots=True)
class RackFigures:
    """Per-rack figures; a plain (not frozen) dataclass because one is built per rack per edit,
    and frozen construction costs twice as much."""

    rack_id: str
    gpu_model: str
    gpu_count: int
    it_power_kw: float
    heat_to_liquid_kw: float
    heat_to_air_kw: float
    workload: str
    tokens_per_s: float | None
    """None when neither the catalog nor the rack gives a per-GPU figure."""

    @property
    def tokens_per_j(self) -> float | None:
        if self.tokens_per_s is None or self.it_power_kw <= 0:
            return None
        return self.tokens_per_s / (self.it_power_kw * 1000.0)


@dataclass(slots=True)
class LoopFigures:
    loop_id: str
    cdu_id: str
    rack_ids: tuple[str, ...]
    fluid: Fluid
    heat_kw: float
    delta_t_k: float
    supply_temp_c: float
    return_temp_c: float
    flow_lpm: float
    cdu_capacity_kw: float
    cdu_rated_flow_lpm: float
    pipe_length_m: float

    @property
    def heat_utilisation(self) -> float:
        return self.heat_kw / self.cdu_capacity_kw

    @property
    def flow_utilisation(self) -> float:
        return self.flow_lpm / self.cdu_rated_flow_lpm

    @property
    def heat_margin_kw(self) -> float:
        return self.cdu_capacity_kw - self.heat_kw

    @property
    def flow_margin_lpm(self) -> float:
        return self.cdu_rated_flow_lpm - self.flow_lpm

    @property
    def utilisation(self) -> float:
        """The tighter of heat and flow: what limits the loop."""
        return max(self.heat_utilisation, self.flow_utilisation)


@dataclass(frozen=True, slots=True)
class FeedFigures:
    feed_id: str
    rack_ids: tuple[str, ...]
    load_kw: float
    capacity_kw: float

    @property
    def utilisation(self) -> float:
        return self.load_kw / self.capacity_kw

    @property
    def margin_kw(self) -> float:
        return self.capacity_kw - self.load_kw


@dataclass(frozen=True, slots=True)
class WorkloadFigures:
    """Token capacity of the racks that serve one reference workload."""

    workload: str
    tokens_per_s: float
    it_power_kw: float
    gpu_count: int
    pue: float | None

    @property
    def tokens_per_j_it(self) -> float | None:
        return self.tokens_per_s / (self.it_power_kw * 1000.0) if self.it_power_kw > 0 else None

    @property
    def tokens_per_j_facility(self) -> float | None:
        per_j_it = self.tokens_per_j_it
        return per_j_it / self.pue if per_j_it is not None and self.pue else None


@dataclass(frozen=True, slots=True)
class FacilityFigures:
    rack_count: int
    gpu_count: int
    it_power_kw: float
    heat_to_liquid_kw: float
    heat_to_air_kw: float
    coolant_flow_lpm: float
    cooling_power_kw: float
    electrical_loss_kw: float
    other_overhead_kw: float
    workloads: tuple[WorkloadFigures, ...]
    racks_without_token_figure: int

    @property
    def facility_power_kw(self) -> float:
        return (
            self.it_power_kw
            + self.cooling_power_kw
            + self.electrical_loss_kw
            + self.other_overhead_kw
        )

    @property
    def pue(self) -> float | None:
        """Estimated PUE from the design's stated overheads; None for an empty hall."""
        return self.facility_power_kw / self.it_power_kw if self.it_power_kw > 0 else None

    @property
    def liquid_share(self) -> float | None:
        total = self.heat_to_liquid_kw + self.heat_to_air_kw
        return self.heat_to_liquid_kw / total if total > 0 else None


@dataclass(frozen=True, slots=True)
class DesignFigures:
    racks: dict[str, RackFigures]
    loops: dict[str, LoopFigures]
    feeds: dict[str, FeedFigures]
    facility: FacilityFigures
    problems: tuple[Problem, ...] = field(default=())

    @property
    def over_capacity(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "over")


def polyline_length_m(points: list[tuple[float, float]]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(points))


def _capacity_check(
    problems: list[Problem],
    entity_id: str,
    what: str,
    used: float,
    capacity: float,
    unit: str,
    near_fraction: float,
) -> None:
    """Flag ``used`` against ``capacity`` as over, or near within the design's margin."""
    utilisation = used / capacity
    if utilisation < near_fraction:
        return
    severity: Severity = "over" if utilisation > 1.0 else "near"
    detail = f"{what} {used:,.1f} {unit} of {capacity:,.1f} {unit} ({utilisation:.0%})"
    problems.append(Problem(severity, entity_id, f"{detail}: {severity} capacity"))


def overheads_kw(it_kw: float, liquid_kw: float, assumptions: Assumptions) -> tuple[float, float]:
    """(cooling plant kW, electrical losses kW) for an IT load and its heat to liquid, from the
    design's stated overheads; the rest of the IT heat goes to air. Design and live figures
    both use it, so the live PUE estimate is the design's formula on measured loads."""
    air_kw = it_kw - liquid_kw
    cooling_kw = (
        liquid_kw * assumptions.liquid_cooling_overhead + air_kw * assumptions.air_cooling_overhead
    )
    return cooling_kw, it_kw * assumptions.electrical_loss_fraction


def estimated_pue(it_kw: float, liquid_kw: float, assumptions: Assumptions) -> float | None:
    if it_kw <= 0:
        return None
    cooling_kw, electrical_kw = overheads_kw(it_kw, liquid_kw, assumptions)
    return (it_kw + cooling_kw + electrical_kw + assumptions.other_overhead_kw) / it_kw


def compute_figures(design: Design) -> DesignFigures:
    """All design figures of ``design``; expects a design that passed file validation."""
    assumptions = design.assumptions
    near = assumptions.near_capacity_fraction
    catalog = {model.id: model for model in design.gpu_models}
    problems: list[Problem] = []

    racks: dict[str, RackFigures] = {}
    loop_heat_kw: dict[str, float] = defaultdict(float)
    loop_racks: dict[str, list[str]] = defaultdict(list)
    feed_load_kw: dict[str, float] = defaultdict(float)
    feed_racks: dict[str, list[str]] = defaultdict(list)
    workload_tokens: dict[str, list[float]] = {}  # workload -> [tokens/s, IT kW, GPUs]
    gpu_count = 0
    it_kw = liquid_kw = air_kw = 0.0
    racks_without_tokens = 0

    for rack in design.racks:
        model = catalog[rack.gpu_model]
        liquid = rack.it_power_kw * rack.liquid_fraction
        air = rack.it_power_kw - liquid
        workload = rack.workload or model.reference_workload or model.name
        per_gpu = rack.tokens_per_s_per_gpu
        if per_gpu is None and rack.workload in (None, model.reference_workload):
            # The catalog figure holds only for the catalog's workload: a rack serving another
            # model without its own figure has unknown token capacity, not a mislabelled one.
            per_gpu = model.tokens_per_s_per_gpu
        tokens = None if per_gpu is None else per_gpu * rack.gpu_count
        racks[rack.id] = RackFigures(
            rack.id, model.id, rack.gpu_count, rack.it_power_kw, liquid, air, workload, tokens
        )
        gpu_count += rack.gpu_count
        it_kw += rack.it_power_kw
        liquid_kw += liquid
        air_kw += air
        if tokens is None:
            racks_without_tokens += 1
        else:
            sums = workload_tokens.setdefault(workload, [0.0, 0.0, 0])
            sums[0] += tokens
            sums[1] += rack.it_power_kw
            sums[2] += rack.gpu_count

        if rack.loop_id is not None:
            loop_heat_kw[rack.loop_id] += liquid
            loop_racks[rack.loop_id].append(rack.id)
        elif liquid > 0:
            problems.append(
                Problem("over", rack.id, f"rejects {liquid:,.1f} kW to liquid but is on no loop")
            )
        if rack.feed_id is not None:
            feed_load_kw[rack.feed_id] += rack.it_power_kw
            feed_racks[rack.feed_id].append(rack.id)
        elif rack.it_power_kw > 0:
            problems.append(Problem("over", rack.id, "draws power but is on no power feed"))
        if air > assumptions.max_air_kw_per_rack:
            problems.append(
                Problem(
                    "over",
                    rack.id,
                    f"heat to air {air:,.1f} kW exceeds the air-cooling limit of "
                    f"{assumptions.max_air_kw_per_rack:,.1f} kW per rack",
                )
            )

    cdus = {cdu.id: cdu for cdu in design.cdus}
    loops: dict[str, LoopFigures] = {}
    flow_total_lpm = 0.0
    for loop in design.loops:
        cdu = cdus[loop.cdu_id]
        heat = loop_heat_kw.get(loop.id, 0.0)
        mean_temp_c = cdu.supply_temp_c + loop.design_delta_t_k / 2.0
        flow = required_flow_lpm(heat, loop.design_delta_t_k, cdu.fluid, mean_temp_c)
        flow_total_lpm += flow
        figures = LoopFigures(
            loop.id,
            cdu.id,
            tuple(loop_racks.get(loop.id, ())),
            cdu.fluid,
            heat,
            loop.design_delta_t_k,
            cdu.supply_temp_c,
            cdu.supply_temp_c + loop.design_delta_t_k,
            flow,
            cdu.capacity_kw,
            cdu.rated_flow_lpm,
            polyline_length_m(loop.route),
        )
        loops[loop.id] = figures
        _capacity_check(problems, loop.id, "heat", heat, cdu.capacity_kw, "kW", near)
        _capacity_check(problems, loop.id, "flow", flow, cdu.rated_flow_lpm, "L/min", near)

    feeds: dict[str, FeedFigures] = {}
    for feed in design.feeds:
        load = feed_load_kw.get(feed.id, 0.0)
        feeds[feed.id] = FeedFigures(
            feed.id, tuple(feed_racks.get(feed.id, ())), load, feed.capacity_kw
        )
        _capacity_check(problems, feed.id, "load", load, feed.capacity_kw, "kW", near)

    cooling_kw, electrical_kw = overheads_kw(it_kw, liquid_kw, assumptions)
    facility = FacilityFigures(
        rack_count=len(design.racks),
        gpu_count=gpu_count,
        it_power_kw=it_kw,
        heat_to_liquid_kw=liquid_kw,
        heat_to_air_kw=air_kw,
        coolant_flow_lpm=flow_total_lpm,
        cooling_power_kw=cooling_kw,
        electrical_loss_kw=electrical_kw,
        other_overhead_kw=assumptions.other_overhead_kw,
        workloads=(),
        racks_without_token_figure=racks_without_tokens,
    )
    pue = facility.pue
    workloads = tuple(
        WorkloadFigures(name, tokens, power, int(gpus), pue)
        for name, (tokens, power, gpus) in sorted(workload_tokens.items())
    )
    facility = replace(facility, workloads=workloads)
    if racks_without_tokens:
        problems.append(
            Problem(
                "info",
                "facility",
                f"{racks_without_tokens} rack(s) have no tokens/s figure: set one per rack "
                "to include them in token capacity",
            )
        )
    return DesignFigures(racks, loops, feeds, facility, tuple(problems))
