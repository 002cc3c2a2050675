"""Cooling loops and their pipe routes: ``new_loop`` puts a loop on a CDU, plumbs racks to it
and draws a first route; ``move_route_point``, ``insert_route_point`` and
``remove_route_point`` let the user refine that route point by point.

A route is the loop's pipe as drawn on the plan, a list of points kept on the floor. Its first
point also follows its CDU when the CDU moves, but that is ``move``'s doing (the layout module).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from factoryfloor.backend.design.edits.core import (
    Change,
    Edit,
    EditError,
    Index,
    problem_at,
    replace,
    validated,
)
from factoryfloor.backend.design.edits.items import FreshIds
from factoryfloor.backend.design.edits.layout import Point, point_on_floor, snap_m
from factoryfloor.backend.design.model import Cdu, Design, Floor, Rack

ROUTE_CLEARANCE_M = 0.1
"""Gap between the racks' rear faces and the pipe run ``new_loop`` draws behind them."""


def _auto_route(cdu: Cdu, racks: Sequence[Rack], floor: Floor) -> list[Point]:
    """An orthogonal pipe from the CDU's centre down (or up) to the racks' common rear line,
    behind the deepest rack (racks taken as facing -y, as drawn at 0 degrees), then along it to
    the rack farthest from the CDU in x. A deterministic starting point that the user refines
    by dragging route points, not a router."""
    points = [(cdu.x_m, cdu.y_m)]
    if racks:
        rear_m = max(rack.y_m + rack.depth_m / 2 for rack in racks) + ROUTE_CLEARANCE_M
        far = max(racks, key=lambda rack: abs(rack.x_m - cdu.x_m))
        points += [(cdu.x_m, rear_m), (far.x_m, rear_m)]
    on_floor = [point_on_floor(x_m, y_m, floor) for x_m, y_m in points]
    return [point for point, _ in itertools.groupby(on_floor)]


def new_loop(design: Design, cdu_id: str, rack_ids: Sequence[str], delta_t_k: float = 10.0) -> Edit:
    """A cooling loop on a CDU that serves none yet (a CDU serves one loop), with the racks
    plumbed to it (off any loop they were on) and its pipe routed by ``_auto_route``. Its id is
    ``L-<CDU id>``, or ``L-<CDU id>-2``, ``-3``, ... if taken."""
    index = Index(design)
    cdu = index.require_one(cdu_id, "cdus", "given a loop")
    served = index.loop_of_cdu(cdu_id)
    if served is not None:
        reason = f"already serves loop {served.entity.id!r}; a CDU serves one TCS loop"
        raise EditError([problem_at(cdu, "", reason)])
    racks = index.require(rack_ids, ("racks",), "plumbed")
    loop_id = FreshIds(index.ids_in_use()).like(f"L-{cdu_id}")
    data = {
        "id": loop_id,
        "cdu_id": cdu_id,
        "design_delta_t_k": delta_t_k,
        "route": _auto_route(cdu.entity, [rack.entity for rack in racks], design.floor),
    }
    changes = [Change("loops", None, validated("loops", loop_id, data), len(design.loops))]
    changes += [replace(rack, loop_id=loop_id) for rack in racks]
    return Edit(f"New loop {loop_id}", tuple(changes))


def _route_edit(
    design: Design,
    loop_id: str,
    position: int,
    count_extra: int,
    change: Callable[[list[Point]], None],
    label: str,
) -> Edit:
    """An edit of a loop's route by ``change`` (applied to a copy), after checking that
    ``0 <= position < len(route) + count_extra``; no change gives a no-op edit."""
    loop = Index(design).require_one(loop_id, "loops", "routed")
    route = list(loop.entity.route)
    if not 0 <= position < len(route) + count_extra:
        reason = f"out of range: the route has {len(route)} point(s)"
        raise EditError([problem_at(loop, f"route[{position}]", reason)])
    change(route)
    if route == loop.entity.route:
        return Edit(label)
    return Edit(label, (replace(loop, route=route),))


def move_route_point(
    design: Design, loop_id: str, point_index: int, x_m: float, y_m: float, grid_m: float = 0.0
) -> Edit:
    """Move one route point to (x, y), snapped to the grid and kept on the floor."""
    point = point_on_floor(snap_m(x_m, grid_m), snap_m(y_m, grid_m), design.floor)

    def change(route: list[Point]) -> None:
        route[point_index] = point

    return _route_edit(design, loop_id, point_index, 0, change, f"Move pipe point of {loop_id}")


def insert_route_point(
    design: Design, loop_id: str, segment_index: int, x_m: float, y_m: float
) -> Edit:
    """Split segment ``segment_index`` (from point i to point i + 1) at (x, y), kept on the
    floor: the new point becomes ``route[segment_index + 1]``. ``-1`` adds a point before the
    first and ``len(route) - 1`` after the last, so a route can also grow at either end."""
    point = point_on_floor(x_m, y_m, design.floor)

    def change(route: list[Point]) -> None:
        route.insert(segment_index + 1, point)

    label = f"Add pipe point to {loop_id}"
    return _route_edit(design, loop_id, segment_index + 1, 1, change, label)


def remove_route_point(design: Design, loop_id: str, point_index: int) -> Edit:
    """Remove one route point (a route may shrink to nothing: the loop stays, undrawn)."""

    def change(route: list[Point]) -> None:
        del route[point_index]

    label = f"Remove pipe point of {loop_id}"
    return _route_edit(design, loop_id, point_index, 0, change, label)
