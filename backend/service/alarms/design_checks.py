"""Checks against the design's own limits, and of readings that cannot all be true.

The limits come from the plan, not from a number typed into a rule: a loop's heat against its
CDU's capacity, its flow against what that heat needs at the loop's design delta-T (the flow
formula of ``design.fluids``), a feed's load against its capacity, a rack's heat to air against
the design's air-cooling limit. Plausibility sets two measurements of one thing against each
other: the heat a coolant stream carries (flow x dT x density x heat capacity) against the
power it should be carrying away, and a CDU's flow against the sum of its racks' flows.

Per-entity figures are sums of rack readings by ``bincount``: one numpy pass per check however
large the hall.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from factoryfloor.backend.design.alarm_rules import DesignLimitRule, PlausibilityRule
from factoryfloor.backend.design.fluids import properties, required_flow_lpm
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.alarms.series_index import SeriesIndex
from factoryfloor.backend.service.alarms.view import SnapshotView, Verdicts

SECONDS_PER_MINUTE = 60.0


class _Plan:
    """The design's racks, loops and feeds as arrays, and their series' columns."""

    def __init__(self, design: Design, index: SeriesIndex) -> None:
        cdus = {cdu.id: cdu for cdu in design.cdus}
        self.loops = [loop for loop in design.loops if loop.cdu_id in cdus]
        self.loop_ids = [loop.id for loop in self.loops]
        self.cdu_ids = [loop.cdu_id for loop in self.loops]
        loop_at = {loop_id: i for i, loop_id in enumerate(self.loop_ids)}
        self.feed_ids = [feed.id for feed in design.feeds]
        feed_at = {feed_id: i for i, feed_id in enumerate(self.feed_ids)}
        self.feed_capacity_kw = np.array([feed.capacity_kw for feed in design.feeds])
        racks = design.racks
        self.rack_ids = [rack.id for rack in racks]
        self.rack_loop = np.array([loop_at.get(r.loop_id or "", -1) for r in racks], np.int64)
        self.rack_feed = np.array([feed_at.get(r.feed_id or "", -1) for r in racks], np.int64)
        self.liquid_fraction = np.array([rack.liquid_fraction for rack in racks])
        self.max_air_kw = design.assumptions.max_air_kw_per_rack
        loop_cdus = [cdus[loop.cdu_id] for loop in self.loops]
        self.capacity_kw = np.array([cdu.capacity_kw for cdu in loop_cdus])
        mean_temps = [
            cdu.supply_temp_c + loop.design_delta_t_k / 2
            for cdu, loop in zip(loop_cdus, self.loops, strict=True)
        ]
        self.flow_per_kw = np.array([
            required_flow_lpm(1.0, loop.design_delta_t_k, cdu.fluid, mean)
            for cdu, loop, mean in zip(loop_cdus, self.loops, mean_temps, strict=True)
        ])  # fmt: skip
        """L/min each loop needs per kW, at its design delta-T (the formula is linear in heat)."""
        self.loop_kw_per_lpm_k = np.array([
            _kw_per_lpm_k(cdu.fluid, mean)
            for cdu, mean in zip(loop_cdus, mean_temps, strict=True)
        ])  # fmt: skip
        self.rack_kw_per_lpm_k = np.append(self.loop_kw_per_lpm_k, np.nan)[self.rack_loop]
        """Per rack, its loop's figure; NaN for a rack on no loop (index -1 takes the NaN)."""
        self.rack_cols = {
            q: index.entity_columns("rack", self.rack_ids, q)
            for q in ("power_kw", "flow_lpm", "supply_temp_c", "return_temp_c")
        }
        self.cdu_cols = {
            q: index.entity_columns("cdu", self.cdu_ids, q)
            for q in ("heat_kw", "flow_lpm", "supply_temp_c", "return_temp_c")
        }
        self.loop_heat_cols = index.entity_columns("loop", self.loop_ids, "heat_kw")

    def loop_heat(self, view: SnapshotView) -> tuple[np.ndarray, np.ndarray]:
        """Each loop's measured heat: its own series, else its CDU's."""
        own, own_ok = view.gather(self.loop_heat_cols)
        cdu, cdu_ok = view.gather(self.cdu_cols["heat_kw"])
        return np.where(own_ok, own, cdu), own_ok | cdu_ok

    def rack(self, view: SnapshotView, quantity: str) -> tuple[np.ndarray, np.ndarray]:
        return view.gather(self.rack_cols[quantity])

    def per_group(
        self, groups: np.ndarray, size: int, values: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sum of ``values`` per group, and whether every member of the group had one."""
        member = groups >= 0
        sums = np.bincount(groups[member], np.where(valid, values, 0.0)[member], size)
        missing = np.bincount(groups[member], (~valid)[member], size)
        members = np.bincount(groups[member], minlength=size)
        return sums, (missing == 0) & (members > 0)


def _kw_per_lpm_k(fluid: str, mean_temp_c: float) -> float:
    """kW carried per L/min per kelvin of rise: density x heat capacity / 60."""
    density_kg_per_l, cp = properties(fluid, mean_temp_c)  # type: ignore[arg-type]
    return density_kg_per_l * cp / SECONDS_PER_MINUTE


class PlanCheck:
    """A design-limit or plausibility rule over the plan's loops, feeds or racks."""

    def __init__(self, rule: DesignLimitRule | PlausibilityRule, plan: _Plan) -> None:
        self.rule = rule
        self.plan = plan

    def verdicts(self, view: SnapshotView) -> Verdicts:
        rule = self.rule
        name = rule.limit if isinstance(rule, DesignLimitRule) else rule.check
        return getattr(self, f"_{name}")(view)

    def _over(
        self,
        subjects: list[str],
        value: np.ndarray,
        limit: np.ndarray,
        known: np.ndarray,
        describe: Callable[[int], str],
    ) -> Verdicts:
        margin = self.rule.margin if isinstance(self.rule, DesignLimitRule) else 0.0
        over = value > limit * (1.0 + margin)
        return Verdicts(subjects, subjects, known & over, known & ~over, value, describe)

    def _loop_heat_over_cdu(self, view: SnapshotView) -> Verdicts:
        plan = self.plan
        heat, known = plan.loop_heat(view)
        return self._over(plan.loop_ids, heat, plan.capacity_kw, known, lambda i: (
            f"{plan.loop_ids[i]}: {heat[i]:,.0f} kW, over {plan.cdu_ids[i]}'s "
            f"{plan.capacity_kw[i]:,.0f} kW"
        ))  # fmt: skip

    def _loop_flow_below_need(self, view: SnapshotView) -> Verdicts:
        plan = self.plan
        heat, heat_ok = plan.loop_heat(view)
        flow, flow_ok = view.gather(plan.cdu_cols["flow_lpm"])
        need = heat * plan.flow_per_kw
        margin = self.rule.margin if isinstance(self.rule, DesignLimitRule) else 0.0
        known = heat_ok & flow_ok
        short = flow < need * (1.0 - margin)
        return Verdicts(plan.loop_ids, plan.loop_ids, known & short, known & ~short, flow,
                        lambda i: f"{plan.loop_ids[i]}: {flow[i]:,.0f} L/min, under the "
                        f"{need[i]:,.0f} L/min its {heat[i]:,.0f} kW needs")  # fmt: skip

    def _feed_over_capacity(self, view: SnapshotView) -> Verdicts:
        plan = self.plan
        power, ok = plan.rack(view, "power_kw")
        load, _ = plan.per_group(plan.rack_feed, len(plan.feed_ids), power, ok)
        member = plan.rack_feed >= 0
        known = np.bincount(plan.rack_feed[member], ok[member], len(plan.feed_ids)) > 0
        return self._over(plan.feed_ids, load, plan.feed_capacity_kw, known, lambda i: (
            f"{plan.feed_ids[i]}: {load[i]:,.0f} kW, over its "
            f"{plan.feed_capacity_kw[i]:,.0f} kW capacity"
        ))  # fmt: skip

    def _rack_air_over_limit(self, view: SnapshotView) -> Verdicts:
        plan = self.plan
        power, ok = plan.rack(view, "power_kw")
        air = power * (1.0 - plan.liquid_fraction)
        limit = np.full(len(air), plan.max_air_kw)
        return self._over(plan.rack_ids, air, limit, ok, lambda i: (
            f"{plan.rack_ids[i]}: {air[i]:,.1f} kW to air, over the "
            f"{plan.max_air_kw:,.0f} kW air-cooling limit"
        ))  # fmt: skip

    def _mismatch(
        self,
        subjects: list[str],
        measured: np.ndarray,
        expected: np.ndarray,
        known: np.ndarray,
        describe: Callable[[int], str],
    ) -> Verdicts:
        assert isinstance(self.rule, PlausibilityRule)
        larger = np.maximum(np.abs(measured), np.abs(expected))
        judged = known & (larger >= self.rule.floor)
        off = np.abs(measured - expected) > self.rule.tolerance * larger
        return Verdicts(subjects, subjects, judged & off, known & ~(judged & off), measured,
                        describe)  # fmt: skip

    def _rack_heat_balance(self, view: SnapshotView) -> Verdicts:
        plan = self.plan
        power, power_ok = plan.rack(view, "power_kw")
        flow, flow_ok = plan.rack(view, "flow_lpm")
        supply, supply_ok = plan.rack(view, "supply_temp_c")
        ret, ret_ok = plan.rack(view, "return_temp_c")
        carried = flow * (ret - supply) * plan.rack_kw_per_lpm_k
        expected = power * plan.liquid_fraction
        known = power_ok & flow_ok & supply_ok & ret_ok & np.isfinite(plan.rack_kw_per_lpm_k)
        return self._mismatch(plan.rack_ids, carried, expected, known, lambda i: (
            f"{plan.rack_ids[i]}: liquid carries {carried[i]:,.1f} kW (flow x dT), "
            f"{expected[i]:,.1f} kW expected from its {power[i]:,.1f} kW"
        ))  # fmt: skip

    def _loop_heat_balance(self, view: SnapshotView) -> Verdicts:
        plan = self.plan
        flow, flow_ok = view.gather(plan.cdu_cols["flow_lpm"])
        supply, supply_ok = view.gather(plan.cdu_cols["supply_temp_c"])
        ret, ret_ok = view.gather(plan.cdu_cols["return_temp_c"])
        power, power_ok = plan.rack(view, "power_kw")
        expected, racks_ok = plan.per_group(
            plan.rack_loop, len(plan.loop_ids), power * plan.liquid_fraction, power_ok
        )
        carried = flow * (ret - supply) * plan.loop_kw_per_lpm_k
        known = flow_ok & supply_ok & ret_ok & racks_ok
        return self._mismatch(plan.loop_ids, carried, expected, known, lambda i: (
            f"{plan.loop_ids[i]}: {plan.cdu_ids[i]} carries {carried[i]:,.0f} kW (flow x dT), "
            f"its racks put {expected[i]:,.0f} kW into the liquid"
        ))  # fmt: skip

    def _cdu_flow_vs_racks(self, view: SnapshotView) -> Verdicts:
        plan = self.plan
        flow, flow_ok = view.gather(plan.cdu_cols["flow_lpm"])
        rack_flow, rack_ok = plan.rack(view, "flow_lpm")
        racks, racks_ok = plan.per_group(plan.rack_loop, len(plan.loop_ids), rack_flow, rack_ok)
        return self._mismatch(plan.cdu_ids, flow, racks, flow_ok & racks_ok, lambda i: (
            f"{plan.cdu_ids[i]}: {flow[i]:,.0f} L/min, its racks {racks[i]:,.0f} L/min"
        ))  # fmt: skip


def plan_checks(
    rules: list[DesignLimitRule | PlausibilityRule], design: Design, index: SeriesIndex
) -> list[PlanCheck]:
    plan = _Plan(design, index)
    return [PlanCheck(rule, plan) for rule in rules]
