"""One colour language for capacity status, shared by the plan, the tables and the problems list.

Colour is never the only cue: problem rows also carry a text label and plan items a marker, so
the plan stays readable for colour-blind operators and on washed-out wall displays.
"""

from __future__ import annotations

from PySide6.QtGui import QColor

OK = QColor("#2e7d32")
NEAR = QColor("#ef8c00")
OVER = QColor("#c62828")
INFO = QColor("#546e7a")
OFF_DESIGN = QColor("#6a1b9a")
"""Run mode: measured off the design's figure, a colour no capacity status or alarm uses."""

SEVERITY_COLOURS = {"over": OVER, "near": NEAR, "info": INFO}


def utilisation_colour(utilisation: float, near_fraction: float) -> QColor:
    """Green below the design's warning margin, amber within it, red above capacity."""
    if utilisation > 1.0:
        return OVER
    if utilisation >= near_fraction:
        return NEAR
    return OK
