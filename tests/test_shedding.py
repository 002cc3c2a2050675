"""The cap planner against brute force and against uniform capping, on random curves."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from factoryfloor.backend.service.power.curves import PowerCurve
from factoryfloor.backend.service.power.shedding import token_aware_caps, uniform_caps, upper_hull

TOLERANCE = 1e-6


@st.composite
def curves(draw: st.DrawFn, concave: bool) -> PowerCurve:
    """A group's curve: power rising with the limit; tokens rising with power, concave (the
    model's shape) or not (measuring noise, a knee in the wrong place)."""
    n = draw(st.integers(2, 6))
    # A step of 0 W: a limit above what the work draws (decode's flat top).
    step = st.one_of(st.just(0.0), st.floats(5, 200))
    steps_w = draw(st.lists(step, min_size=n - 1, max_size=n - 1))
    gains = draw(st.lists(st.floats(0, 10), min_size=n - 1, max_size=n - 1))
    if concave:  # slopes falling: tokens per watt of each step, in descending order
        gains = sorted(gains, reverse=True)
    power_w = draw(st.floats(50, 500)) + np.concatenate([[0.0], np.cumsum(steps_w)])
    tokens = draw(st.floats(0, 1000)) + np.concatenate(
        [[0.0], np.cumsum(np.multiply(gains, steps_w))]
    )
    return PowerCurve("g", 8, np.arange(n, dtype=float) * 25 + 200, power_w, tokens)


def hall(concave: bool, size: int = 5) -> st.SearchStrategy[list[PowerCurve]]:
    return st.lists(curves(concave), min_size=1, max_size=size)


def budget(groups: list[PowerCurve], share: float) -> float:
    low = sum(float(c.power_w.min()) for c in groups)
    high = sum(c.top_power_w for c in groups)
    return low - 20 + share * (high - low + 40)


@settings(max_examples=200, deadline=None)
@given(hall(concave=False), st.floats(0, 1))
def test_budget_is_met_or_the_shortfall_is_exact(groups: list[PowerCurve], share: float) -> None:
    target_w = budget(groups, share)
    floor_w = sum(float(c.power_w.min()) for c in groups)
    for plan in (token_aware_caps(groups, target_w), uniform_caps(groups, target_w)):
        assert plan.power_w <= max(target_w, floor_w) + TOLERANCE
        assert abs(plan.shortfall_w - max(floor_w - target_w, 0.0)) < TOLERANCE
        for cap, curve in zip(plan.caps, groups, strict=True):
            assert curve.power_w.min() - TOLERANCE <= cap.power_w <= curve.top_power_w + TOLERANCE


@settings(max_examples=200, deadline=None)
@given(hall(concave=False), st.floats(0, 1))
def test_token_aware_never_loses_more_than_uniform(groups: list[PowerCurve], share: float) -> None:
    target_w = budget(groups, share)
    aware, uniform = token_aware_caps(groups, target_w), uniform_caps(groups, target_w)
    assert aware.tokens_per_s >= uniform.tokens_per_s - TOLERANCE


def grid_optimum(groups: list[PowerCurve], budget_w: float, points: int) -> float:
    """Most tokens/s of any choice of powers on a fine grid of each curve within the budget."""
    grids = [np.linspace(c.power_w.min(), c.top_power_w, points) for c in groups]
    best = -np.inf
    for powers in itertools.product(*grids):
        if sum(powers) <= budget_w + TOLERANCE:
            best = max(best, sum(c.tokens_at_power(p) for c, p in zip(groups, powers, strict=True)))
    return best


@settings(max_examples=60, deadline=None)
@given(hall(concave=True, size=3), st.floats(0.05, 1))
def test_on_concave_curves_token_aware_is_at_least_the_grid_optimum(
    groups: list[PowerCurve], share: float
) -> None:
    target_w = budget(groups, share)
    brute = grid_optimum(groups, target_w, 40)
    if brute > -np.inf:
        assert token_aware_caps(groups, target_w).tokens_per_s >= brute - TOLERANCE


@settings(max_examples=60, deadline=None)
@given(hall(concave=False, size=3), st.floats(0.05, 1))
def test_on_other_curves_token_aware_is_within_one_hull_gap_of_the_grid_optimum(
    groups: list[PowerCurve], share: float
) -> None:
    """Planned on each curve's hull, the plan is off the curve on one group at most: it loses
    no more than the largest gap between a curve and its hull."""
    target_w = budget(groups, share)
    brute = grid_optimum(groups, target_w, 40)
    gap = max(hull_gap(c) for c in groups)
    if brute > -np.inf:
        assert token_aware_caps(groups, target_w).tokens_per_s >= brute - gap - TOLERANCE


def hull_gap(curve: PowerCurve) -> float:
    hull_p, hull_t = upper_hull(curve.power_w, curve.tokens_per_s)
    grid = np.linspace(hull_p[0], hull_p[-1], 400)
    return float(np.max(np.interp(grid, hull_p, hull_t) - [curve.tokens_at_power(p) for p in grid]))
