"""Caps that hold groups of GPUs to a power budget while losing the fewest tokens.

**Token-aware**: every group starts at the lowest point of its curve; the budget left is then
spent where one more watt buys the most tokens/s, i.e. load is shed first where the marginal
tokens per watt is lowest. On each curve's upper concave hull (in power, tokens/s) this greedy
choice is the exact optimum of the continuous problem (a fractional knapsack whose items are
the hull's segments, taken in order because their slopes fall). A curve that is not concave
(measuring noise) is planned on its hull, and the tokens reported are the curve's own at the
power chosen, never the hull's. The greedy fills at most one hull segment partly, so only one
group can sit off its curve's hull, and the plan is within that one gap of the optimum; where
uniform capping happens to do better on such curves, its plan is returned, so the token-aware
plan never loses more tokens than uniform.

**Uniform proportional** capping, the comparison: every group held to the same share of its
uncapped draw (never below its lowest limit's draw), as a site-wide cap of "x % less" does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from factoryfloor.backend.service.power.curves import PowerCurve

BISECTION_STEPS = 40
"""Uniform share search: 2^-40 of the range, far below a watt at any hall size."""


@dataclass(frozen=True, slots=True)
class GroupCap:
    """One group's part of a plan: the per-GPU limit to set, and what the group then draws
    and makes. ``capped`` is False where the group keeps its highest limit (nothing sent)."""

    group: str
    limit_w: float
    power_w: float
    tokens_per_s: float
    capped: bool


@dataclass(frozen=True, slots=True)
class CapPlan:
    """Caps for every group, with the totals they lead to. ``shortfall_w`` is how far above
    the budget the groups stay even at their lowest limits (0 when the budget is met)."""

    budget_w: float
    caps: tuple[GroupCap, ...]
    power_w: float
    tokens_per_s: float
    uncapped_tokens_per_s: float
    shortfall_w: float

    @property
    def tokens_lost_per_s(self) -> float:
        return self.uncapped_tokens_per_s - self.tokens_per_s


def upper_hull(power_w: np.ndarray, tokens_per_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The upper concave hull of points (power, tokens/s), power ascending, no collinear points."""
    order = np.lexsort((-tokens_per_s, power_w))
    hull_p: list[float] = []
    hull_t: list[float] = []
    for p, t in zip(power_w[order].tolist(), tokens_per_s[order].tolist(), strict=True):
        if hull_p and p == hull_p[-1]:
            continue  # same power: the first (most tokens) is kept
        while len(hull_p) >= 2 and (
            (hull_t[-1] - hull_t[-2]) * (p - hull_p[-1])
            <= (t - hull_t[-1]) * (hull_p[-1] - hull_p[-2])
        ):
            hull_p.pop()
            hull_t.pop()
        hull_p.append(p)
        hull_t.append(t)
    return np.array(hull_p), np.array(hull_t)


def _hulls(curves: Sequence[PowerCurve]) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """Each curve's upper hull, and whether any curve has a point below its hull. Groups of
    one GPU model and workload share one model curve: each distinct curve is hulled once."""
    seen: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    hulls, off_hull = [], False
    for curve in curves:
        key = curve.power_w.tobytes() + curve.tokens_per_s.tobytes()
        if key not in seen:
            hull_p, hull_t = upper_hull(curve.power_w, curve.tokens_per_s)
            below = np.interp(curve.power_w, hull_p, hull_t) - curve.tokens_per_s
            off_hull |= bool(np.any(below > 1e-9 * max(float(hull_t.max()), 1.0)))
            seen[key] = hull_p, hull_t
        hulls.append(seen[key])
    return hulls, off_hull


def token_aware_caps(curves: Sequence[PowerCurve], budget_w: float) -> CapPlan:
    """Caps that keep the groups' total draw within ``budget_w`` with the most tokens/s."""
    hulls, off_hull = _hulls(curves)
    base_w = np.array([p[0] for p, _ in hulls])
    group_of = np.concatenate([np.full(len(p) - 1, i) for i, (p, _) in enumerate(hulls)]
                              or [np.empty(0, int)]).astype(int)  # fmt: skip
    step_w = np.concatenate([np.diff(p) for p, _ in hulls] or [np.empty(0)])
    step_tokens = np.concatenate([np.diff(t) for _, t in hulls] or [np.empty(0)])
    left_w = budget_w - float(base_w.sum())
    power_w = base_w.copy()
    if left_w > 0 and len(step_w):
        order = np.argsort(-(step_tokens / step_w), kind="stable")
        before_w = np.cumsum(step_w[order]) - step_w[order]
        taken_w = np.clip(left_w - before_w, 0.0, step_w[order])
        power_w += np.bincount(group_of[order], taken_w, len(curves))
    plan = _plan(curves, budget_w, power_w)
    if not off_hull:
        return plan  # every curve concave: the optimum
    uniform = uniform_caps(curves, budget_w)
    return plan if plan.tokens_per_s >= uniform.tokens_per_s else uniform


def uniform_caps(curves: Sequence[PowerCurve], budget_w: float) -> CapPlan:
    """Every group held to the same share of its uncapped draw, so that the total meets
    ``budget_w`` (groups at their lowest limit shed no further; the others make up for it)."""
    top_w = np.array([c.top_power_w for c in curves])
    floor_w = np.array([float(c.power_w.min()) for c in curves])

    def total_w(share: float) -> float:
        return float(np.clip(top_w * share, floor_w, top_w).sum())

    low, high = 0.0, 1.0
    if total_w(high) <= budget_w:
        low = high
    else:
        for _ in range(BISECTION_STEPS):
            middle = 0.5 * (low + high)
            low, high = (middle, high) if total_w(middle) <= budget_w else (low, middle)
    return _plan(curves, budget_w, np.clip(top_w * low, floor_w, top_w))


def _plan(curves: Sequence[PowerCurve], budget_w: float, power_w: np.ndarray) -> CapPlan:
    caps = []
    for curve, group_w in zip(curves, power_w.tolist(), strict=True):
        capped = group_w < curve.top_power_w
        caps.append(GroupCap(curve.group, curve.limit_at_power(group_w) if capped
                             else float(curve.limit_w[-1]),
                             group_w, curve.tokens_at_power(group_w), capped))  # fmt: skip
    total_w = float(power_w.sum())
    return CapPlan(
        budget_w=budget_w,
        caps=tuple(caps),
        power_w=total_w,
        tokens_per_s=sum(c.tokens_per_s for c in caps),
        uncapped_tokens_per_s=sum(c.top_tokens_per_s for c in curves),
        shortfall_w=max(total_w - budget_w, 0.0),
    )
