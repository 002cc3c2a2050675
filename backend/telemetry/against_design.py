"""Measured against designed: each loop's heat and each feed's load, live, set against the
figure the design expected of it.

A design-only tool cannot say whether its assumptions hold, and a monitor-only tool does not
know what was assumed; Run mode can do both. A loop carrying 10 % more heat than designed
means a rack draws more than its stated IT power or sends more of it to liquid than its liquid
fraction says, and the design's capacity margins are smaller than they look.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

OFF_DESIGN_FRACTION = 0.10
"""A loop or feed measured more than this share above or below its designed figure is flagged:
within it, load swings and meter error; beyond it, an assumption of the design is off."""


def _kw(value: float) -> str:
    return f"{value:,.0f} kW"


@dataclass(frozen=True, slots=True)
class AgainstDesign:
    entity_id: str
    designed_kw: float
    measured_kw: float

    @property
    def change(self) -> float | None:
        """(measured - designed) / designed; None when nothing was designed."""
        if self.designed_kw <= 0:
            return None
        return (self.measured_kw - self.designed_kw) / self.designed_kw

    @property
    def off_design(self) -> bool:
        change = self.change
        if change is None:
            return self.measured_kw > 0
        return abs(change) > OFF_DESIGN_FRACTION

    def _change_text(self) -> str:
        change = self.change
        if change is None:
            return "none designed"
        return f"{change:+.0%}".replace("%", " %")

    def line(self) -> str:
        """The plan's label: "472 kW, +5 % vs design"."""
        change = self.change
        if change is None:
            return f"{_kw(self.measured_kw)}, none designed"
        return f"{_kw(self.measured_kw)}, {self._change_text()} vs design"

    def sentence(self) -> str:
        """The tooltip's: "L-B2: designed 449 kW, measured 472 kW, +5 %"."""
        return (
            f"{self.entity_id}: designed {_kw(self.designed_kw)}, "
            f"measured {_kw(self.measured_kw)}, {self._change_text()}"
        )


def against_design(
    measured_kw: Mapping[str, float], designed_kw: Mapping[str, float]
) -> dict[str, AgainstDesign]:
    """Each entity with both a designed and a measured figure, in ``designed_kw`` order."""
    return {
        entity_id: AgainstDesign(entity_id, designed, measured_kw[entity_id])
        for entity_id, designed in designed_kw.items()
        if entity_id in measured_kw
    }
