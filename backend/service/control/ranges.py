"""Refusing a value outside what a GPU allows, before it is sent, in the words every executor
uses: ``out of range: this GPU allows 200-700 W``."""

from __future__ import annotations

from factoryfloor.backend.service.control.executors import ControlFailure, ValueRange


def out_of_range(allowed: str) -> ControlFailure:
    """The failure for a value outside ``allowed`` (the range in words; "" when unknown)."""
    return ControlFailure(
        "out_of_range", f"out of range: this GPU allows {allowed}" if allowed else "out of range"
    )


def refuse_outside(allowed: ValueRange, low: float, high: float, unit: str) -> None:
    """Raise ``out_of_range`` unless ``low`` to ``high`` (one value: both the same) lies within
    ``allowed``; a number that is not one (NaN) is out of every range."""
    words = allowed.words(unit)
    if low > high:
        raise ControlFailure("out_of_range", f"lowest value above highest ({words} allowed)")
    if not (allowed.holds(low) and allowed.holds(high)):
        raise out_of_range(words)
