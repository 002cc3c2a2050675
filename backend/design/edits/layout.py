"""Where items stand: the builders that move items without changing what they are (``move``,
``align``, ``distribute``, ``rotate``), and the position rules other builders share.

:func:`snap_m` puts a coordinate on the grid, :func:`point_on_floor` rounds a computed point
to the nanometre and keeps it on the floor, and :func:`group_delta` stops a group at the
floor's edges with its shape intact. New items, copies and route points are placed through the
same rules, so they live here, beside the moves that use them most.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from factoryfloor.backend.design.edits.core import (
    PLACED,
    Change,
    Edit,
    Index,
    Item,
    replace,
    subject_of,
)
from factoryfloor.backend.design.model import Design, Floor

Point = tuple[float, float]
Axis = Literal["x", "y"]
AlignEdge = Literal["left", "right", "top", "bottom", "h-centre", "v-centre"]

_NANOMETRE_DIGITS = 9


def snap_m(value_m: float, grid_m: float) -> float:
    """``value_m`` on the nearest grid line (ties go up); ``grid_m <= 0`` leaves it as is.

    Rounded to the nanometre so float noise (3 x 0.1 = 0.30000000000000004) never reaches a file.
    """
    if grid_m <= 0:
        return value_m
    return round(math.floor(value_m / grid_m + 0.5) * grid_m, _NANOMETRE_DIGITS)


def _on_floor(value_m: float, limit_m: float) -> float:
    """A computed coordinate, rounded to the nanometre and kept within 0..limit."""
    return min(max(round(value_m, _NANOMETRE_DIGITS), 0.0), limit_m)


def point_on_floor(x_m: float, y_m: float, floor: Floor) -> Point:
    """(x, y) rounded to the nanometre and kept on ``floor``."""
    return _on_floor(x_m, floor.width_m), _on_floor(y_m, floor.depth_m)


def group_delta(items: Sequence[Item], dx_m: float, dy_m: float, floor: Floor) -> Point:
    """The shift nearest (dx, dy) that keeps every item on the floor: a group stops at a wall
    with its shape intact instead of squashing against it."""
    xs = [item.entity.x_m for item in items]
    ys = [item.entity.y_m for item in items]
    dx_m = min(max(dx_m, -min(xs)), floor.width_m - max(xs))
    dy_m = min(max(dy_m, -min(ys)), floor.depth_m - max(ys))
    return dx_m, dy_m


def _reposition(index: Index, targets: Iterable[tuple[Item, Point]]) -> list[Change]:
    """Changes moving each item to its target. A moved CDU drags the first point of its loop's
    route by the same amount, so the pipe stays connected; the rest of the route is the user's
    drawing and stays put."""
    floor = index.design.floor
    changes: list[Change] = []
    for item, (x_m, y_m) in targets:
        entity = item.entity
        if (x_m, y_m) == (entity.x_m, entity.y_m):
            continue
        changes.append(replace(item, x_m=x_m, y_m=y_m))
        loop = index.loop_of_cdu(entity.id) if item.section == "cdus" else None
        if loop is not None and loop.entity.route:
            (px_m, py_m), *rest = loop.entity.route
            start = point_on_floor(px_m + x_m - entity.x_m, py_m + y_m - entity.y_m, floor)
            changes.append(replace(loop, route=[start, *rest]))
    return changes


def move(design: Design, ids: Sequence[str], dx_m: float, dy_m: float, grid_m: float = 0.0) -> Edit:
    """Move racks, CDUs and feeds by (dx, dy). With a grid, the first item lands on it and the
    others keep their offsets from it; the group stops at the floor's edges (the edge wins
    over the grid)."""
    index = Index(design)
    items = index.require(ids, PLACED, "moved")
    label = f"Move {subject_of(items)}"
    if not items:
        return Edit(label)
    first = items[0].entity
    dx_m = snap_m(first.x_m + dx_m, grid_m) - first.x_m
    dy_m = snap_m(first.y_m + dy_m, grid_m) - first.y_m
    dx_m, dy_m = group_delta(items, dx_m, dy_m, design.floor)
    if dx_m == 0 and dy_m == 0:
        return Edit(label)
    targets = [
        (item, point_on_floor(item.entity.x_m + dx_m, item.entity.y_m + dy_m, design.floor))
        for item in items
    ]
    return Edit(label, tuple(_reposition(index, targets)))


def _midrange(values: list[float]) -> float:
    return (min(values) + max(values)) / 2


_ALIGN_RULES: dict[AlignEdge, tuple[Axis, Callable[[list[float]], float]]] = {
    "left": ("x", min),
    "right": ("x", max),
    "top": ("y", min),
    "bottom": ("y", max),
    "h-centre": ("x", _midrange),
    "v-centre": ("y", _midrange),
}


def _with_coordinate(item: Item, axis: Axis, value_m: float) -> tuple[Item, Point]:
    """``item`` paired with its position with one coordinate replaced."""
    x_m, y_m = item.entity.x_m, item.entity.y_m
    return item, ((value_m, y_m) if axis == "x" else (x_m, value_m))


def align(design: Design, ids: Sequence[str], edge: AlignEdge) -> Edit:
    """Line items up by their centres: ``left`` puts every centre on the leftmost one's x,
    ``h-centre`` on the middle between the leftmost and rightmost (a vertical column),
    ``v-centre`` likewise in y (a horizontal row). Centres rather than footprint edges, because
    rotated items of different sizes rarely share an edge worth lining up."""
    axis, rule = _ALIGN_RULES[edge]
    index = Index(design)
    items = index.require(ids, PLACED, "aligned")
    label = f"Align {subject_of(items)} ({edge})"
    if len(items) < 2:
        return Edit(label)
    line_m = rule([getattr(item.entity, f"{axis}_m") for item in items])
    return Edit(
        label, tuple(_reposition(index, [_with_coordinate(i, axis, line_m) for i in items]))
    )


def distribute(design: Design, ids: Sequence[str], axis: Axis) -> Edit:
    """Space items evenly along ``axis`` between the two outermost, which stay put; the others
    keep their order along the axis (ties in selection order)."""
    index = Index(design)
    items = index.require(ids, PLACED, "distributed")
    label = f"Distribute {subject_of(items)} along {axis}"
    if len(items) < 3:
        return Edit(label)
    ordered = sorted(items, key=lambda item: getattr(item.entity, f"{axis}_m"))
    start_m = getattr(ordered[0].entity, f"{axis}_m")
    step_m = (getattr(ordered[-1].entity, f"{axis}_m") - start_m) / (len(ordered) - 1)
    targets = [
        _with_coordinate(item, axis, round(start_m + k * step_m, _NANOMETRE_DIGITS))
        for k, item in enumerate(ordered[1:-1], start=1)
    ]
    return Edit(label, tuple(_reposition(index, targets)))


def rotate(design: Design, ids: Sequence[str], degrees: float = 90.0) -> Edit:
    """Turn racks and CDUs clockwise about their own centres (positions are centres, so they
    stay put); feeds are points and have no rotation."""
    index = Index(design)
    items = index.require(ids, ("racks", "cdus"), "rotated")
    label = f"Rotate {subject_of(items)}"
    if degrees % 360 == 0:
        return Edit(label)
    changes = []
    for item in items:
        angle = (item.entity.rotation_deg + degrees) % 360.0
        # A tiny negative sum modulo 360 rounds to 360.0, which the model refuses (< 360).
        changes.append(replace(item, rotation_deg=0.0 if angle >= 360.0 else angle))
    return Edit(label, tuple(changes))
