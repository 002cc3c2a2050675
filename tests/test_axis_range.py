"""Steady y ranges for the live plots: they move only when the data needs it."""

from __future__ import annotations

import math

import pytest

from factoryfloor.widgets.axis_range import nice_step, steady_range


def test_steps_are_one_two_five() -> None:
    assert nice_step(4.0) == 1.0
    assert nice_step(6.0) == 2.0
    assert nice_step(13.0) == 5.0
    assert nice_step(3_000.0) == 1_000.0


def test_a_new_range_is_rounded_out_and_holds_the_data() -> None:
    low, high = steady_range(412.0, 655.0)
    assert low < 412.0 - 5.0 and high > 655.0 + 5.0  # padded, so no curve lies on the axis
    assert low % 100.0 == 0.0 and high % 100.0 == 0.0
    assert steady_range(0.0, 3.2) == (0.0, 4.0)  # never below zero for non-negative data


def test_the_range_stays_put_while_the_data_moves_inside_it() -> None:
    shown = steady_range(412.0, 655.0)
    assert steady_range(430.0, 640.0, shown) == shown
    assert steady_range(401.0, 699.0, shown) == shown


def test_the_range_moves_when_the_data_leaves_it_or_shrinks_within_it() -> None:
    shown = (400.0, 700.0)
    assert steady_range(412.0, 720.0, shown) != shown  # out of the top
    grown = steady_range(412.0, 720.0, shown)
    assert grown[0] <= 412.0 and grown[1] >= 720.0
    shrunk = steady_range(500.0, 520.0, shown)  # 20 of 300: a quiet curve would look flat
    assert shrunk != shown and shrunk[0] <= 500.0 and shrunk[1] >= 520.0
    assert shrunk[1] - shrunk[0] < 100.0


def test_flat_data_gets_a_band_around_it_and_no_data_keeps_the_view() -> None:
    low, high = steady_range(30.0, 30.0)
    assert low < 30.0 < high
    assert steady_range(-5.0, -5.0)[0] < -5.0  # negative data is not clamped at zero
    assert steady_range(math.nan, math.nan, (0.0, 1.0)) is None


@pytest.mark.parametrize("low, high", [(0.001, 0.0013), (1e6, 2.5e6), (17.2, 17.9)])
def test_any_magnitude_gives_a_range_that_holds_the_data(low: float, high: float) -> None:
    new_low, new_high = steady_range(low, high)
    assert new_low <= low and high <= new_high
    assert (high - low) >= 0.25 * (new_high - new_low)
