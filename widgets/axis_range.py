"""Y ranges for live plots that move only when the data needs it.

An auto-ranged axis rescales on every frame as the newest values come and go: the curves wobble,
the tick labels change, and every change makes the plot re-lay its axis and re-draw its grid
(a few milliseconds a plot, on every frame). A steady range is rounded out to a 1-2-5 step and
kept while the data stays inside it and fills a fair part of it.
"""

from __future__ import annotations

import math

PADDING = 0.05
"""Room above and below the data, as a fraction of its span, so a curve is not drawn on the
axis line."""
LEAST_FILL = 0.4
"""A kept range must be at least this full: past that, a quiet curve would read as flat."""
STEPS_PER_RANGE = 4


def nice_step(span: float) -> float:
    """The 1, 2 or 5 x 10^n step closest above ``span / STEPS_PER_RANGE``."""
    raw = span / STEPS_PER_RANGE
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1.0, 2.0, 5.0, 10.0) if m * magnitude >= raw)


def steady_range(
    low: float, high: float, current: tuple[float, float] | None = None
) -> tuple[float, float] | None:
    """The y range to show data from ``low`` to ``high``: ``current`` while it still holds the
    data and the data fills at least ``LEAST_FILL`` of it, else a new one rounded out to a nice
    step. Never below zero for data that is not (power, flow and tokens are never negative).
    None when there is no data (NaN ends): keep whatever is shown."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    if current is not None:
        current_low, current_high = current
        fits = current_low <= low and high <= current_high
        if fits and high - low >= LEAST_FILL * (current_high - current_low):
            return current
    span = high - low
    if span <= 0.0:  # flat: a band around the value, sized by its magnitude
        span = max(abs(high) * 0.1, 1.0)
    step = nice_step(span * (1.0 + 2.0 * PADDING))
    new_low = math.floor((low - span * PADDING) / step) * step
    new_high = math.ceil((high + span * PADDING) / step) * step
    if low >= 0.0:
        new_low = max(new_low, 0.0)
    return new_low, new_high
