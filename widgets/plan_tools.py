"""The plan editor's tools, and the intents it emits: what the user asked for, as typed values.

The editor view changes nothing itself; each intent here is one request the application turns
into a backend edit. Positions and offsets are in floor metres, before any snapping to the grid
(the application snaps, so the edit and its undo agree on where things went).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from factoryfloor.widgets.plan_items import EquipmentKind


class ToolKind(enum.Enum):
    """The editor's tools, one per button of the tool bar."""

    SELECT = enum.auto()
    """Click, shift-click or rubber-band to select; drag to move; arrow keys nudge."""
    PLACE_RACK = enum.auto()
    PLACE_CDU = enum.auto()
    PLACE_FEED = enum.auto()
    DRAW_LOOP = enum.auto()
    """Click a CDU, then the racks its loop serves; Enter or a double-click finishes."""
    ASSIGN_FEED = enum.auto()
    """Click a power feed, then the racks it feeds; Enter or a double-click finishes."""

    @property
    def placed(self) -> EquipmentKind | None:
        """What a click on the floor places with this tool; None for the other tools."""
        return _PLACED.get(self)

    @property
    def connection_source(self) -> EquipmentKind | None:
        """What the picked racks are connected to (a CDU's loop, a feed); None for the other
        tools."""
        return _CONNECTION_SOURCES.get(self)


_PLACED = {
    ToolKind.PLACE_RACK: EquipmentKind.RACK,
    ToolKind.PLACE_CDU: EquipmentKind.CDU,
    ToolKind.PLACE_FEED: EquipmentKind.FEED,
}
_CONNECTION_SOURCES = {
    ToolKind.DRAW_LOOP: EquipmentKind.CDU,
    ToolKind.ASSIGN_FEED: EquipmentKind.FEED,
}


@dataclass(frozen=True, slots=True)
class Tool:
    kind: ToolKind
    gpu_model: str = ""
    """Catalog id of the racks ``PLACE_RACK`` places; empty for every other tool."""


SELECT = Tool(ToolKind.SELECT)


@dataclass(frozen=True, slots=True)
class Placement:
    """Place a new rack, CDU or feed at a point of the floor."""

    kind: EquipmentKind
    gpu_model: str
    """Catalog id of a rack's GPU model; empty for a CDU or feed."""
    x_m: float
    y_m: float


@dataclass(frozen=True, slots=True)
class Connection:
    """Connect racks to a CDU (on its loop, a new one if it serves none) or to a power feed."""

    source: EquipmentKind
    """``CDU`` or ``FEED``."""
    source_id: str
    rack_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Nudge:
    """Move equipment by a step (an arrow key: the grid, or ten grid steps with Shift)."""

    ids: tuple[str, ...]
    dx_m: float
    dy_m: float


@dataclass(frozen=True, slots=True)
class DragOffset:
    """How far the mouse has moved since a drag of the selection started."""

    total_dx_m: float
    total_dy_m: float


@dataclass(frozen=True, slots=True)
class FloorPoint:
    x_m: float
    y_m: float


@dataclass(frozen=True, slots=True)
class Bend:
    """One point of a loop's pipe route, by its index along the route."""

    loop_id: str
    index: int


@dataclass(frozen=True, slots=True)
class NewBend:
    """A point to add to a loop's route on segment ``segment`` (which joins points ``segment``
    and ``segment + 1``)."""

    loop_id: str
    segment: int
    x_m: float
    y_m: float
