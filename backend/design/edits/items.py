"""Edits that add and remove items: ``add`` (any rack, CDU, loop or feed, checked like a
loaded file), ``new_rack``, ``new_cdu`` and ``new_feed`` (prefilled at a point of the plan),
``duplicate``, and ``delete``, which takes along what cannot exist without the deleted item.

New ids come from :class:`FreshIds`, which continues a series (R007, then R008) and never
reuses a number freed by a deletion, so an id in an old report cannot name a different item;
the routes module names new loops through it too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from factoryfloor.backend.design.design_file import FieldProblem
from factoryfloor.backend.design.edits.core import (
    KIND_NAMES,
    MODELS,
    PLACED,
    SECTIONS,
    Change,
    Edit,
    EditError,
    Entity,
    Index,
    Item,
    Section,
    check_references,
    replace,
    subject_of,
    validated,
)
from factoryfloor.backend.design.edits.layout import group_delta, point_on_floor
from factoryfloor.backend.design.model import Cdu, Design, PowerFeed, Rack

NVL72_GPUS = 72
SERVER_GPUS = 8
"""GPUs in a new rack: an NVL72 system is one 72-GPU rack, anything else one 8-GPU server."""

NEW_RACK_LIQUID_FRACTION = 0.85
"""Share of heat to liquid a new liquid-cooled rack starts with (the model's usual assumption)."""

ID_MAX_CHARS = 64
"""``EntityId``'s max_length: generated ids are cut to fit."""

_NUMBERED_ID = re.compile(r"^(.*?)(\d+)$")


class FreshIds:
    """Unused ids that continue a series: after R001..R007, the next ``R`` is R008, never a
    number freed by a deletion (so an id in an old report cannot name a different item). The
    highest number of every series is found in one pass, so k new ids cost O(n + k)."""

    def __init__(self, taken: set[str]):
        self.taken = taken
        self.highest: dict[str, int] = defaultdict(int)
        for entity_id in taken:
            match = _NUMBERED_ID.match(entity_id)
            if match:
                stem, digits = match.groups()
                self.highest[stem] = max(self.highest[stem], int(digits))

    def next(self, stem: str, width: int, at_least: int = 1) -> str:
        """The next free ``stem`` + number (zero-padded to ``width``, ``at_least`` or more),
        with the stem cut so the id fits the model's limit."""
        number = max(self.highest[stem] + 1, at_least)
        while True:
            digits = f"{number:0{width}d}"
            candidate = stem[: ID_MAX_CHARS - len(digits)] + digits
            if candidate not in self.taken:
                break
            number += 1
        self.taken.add(candidate)
        self.highest[stem] = number
        return candidate

    def copy_of(self, entity_id: str) -> str:
        """A copy's id: the next number of the original's series (a copy of A05 in a row
        A01..A20 is A21); an id without a number starts a series (CDU-A gives CDU-A-2)."""
        match = _NUMBERED_ID.match(entity_id)
        if match:
            stem, digits = match.groups()
            return self.next(stem, len(digits))
        return self.next(f"{entity_id}-", 1, at_least=2)

    def like(self, base: str) -> str:
        """``base`` itself if free, else ``base-2``, ``base-3``, ..."""
        base = base[:ID_MAX_CHARS]
        if base in self.taken:
            return self.next(f"{base}-", 1, at_least=2)
        self.taken.add(base)
        return base


def _fresh_id(design: Design, stem: str, width: int) -> str:
    return FreshIds(Index(design).ids_in_use()).next(stem, width)


def add(design: Design, entity: Entity, section: Section) -> Edit:
    """Append ``entity`` to ``section``, checked like a loaded file: fields, unique id,
    existing references, position on the floor."""
    if not isinstance(entity, MODELS[section]):
        reason = f"a {type(entity).__name__} cannot be added to {section}"
        raise EditError([FieldProblem(f"{section}[{entity.id}]", reason)])
    checked = validated(section, entity.id, entity.model_dump())
    change = Change(section, None, checked, len(getattr(design, section)))
    label = f"Add {KIND_NAMES[section][0]} {checked.id}"
    return check_references(design, Edit(label, (change,)))


def new_rack(design: Design, gpu_model_id: str, x_m: float, y_m: float) -> tuple[Edit, str]:
    """A rack of catalog entry ``gpu_model_id`` at (x, y) clamped to the floor, prefilled from
    the entry: 72 GPUs for an NVL72 system, else an 8-GPU server; IT power = GPUs x system power
    per GPU (to 0.1 kW); 85 % of its heat to liquid if liquid-cooled. On no loop or feed yet
    (``plumb``, ``assign_feed``). Returns the edit and the new id (R001, R002, ...)."""
    rack_id = _fresh_id(design, "R", 3)
    model = next((m for m in design.gpu_models if m.id == gpu_model_id), None)
    if model is None:
        reason = f"no GPU model {gpu_model_id!r} in gpu_models"
        raise EditError([FieldProblem(f"racks[{rack_id}].gpu_model", reason)])
    gpu_count = NVL72_GPUS if "NVL72" in f"{model.id} {model.name}".upper() else SERVER_GPUS
    x_m, y_m = point_on_floor(x_m, y_m, design.floor)
    rack = Rack(
        id=rack_id,
        x_m=x_m,
        y_m=y_m,
        gpu_model=model.id,
        gpu_count=gpu_count,
        it_power_kw=round(gpu_count * model.system_power_per_gpu_w / 1000.0, 1),
        liquid_fraction=NEW_RACK_LIQUID_FRACTION if model.liquid_cooled else 0.0,
    )
    return add(design, rack, "racks"), rack_id


def new_cdu(design: Design, x_m: float, y_m: float) -> tuple[Edit, str]:
    """A 600 kW, 900 L/min water CDU supplying 30 C at (x, y) clamped to the floor, serving no
    loop until ``new_loop``. Returns the edit and the new id (CDU-01, CDU-02, ...)."""
    x_m, y_m = point_on_floor(x_m, y_m, design.floor)
    cdu = Cdu(
        id=_fresh_id(design, "CDU-", 2),
        x_m=x_m,
        y_m=y_m,
        capacity_kw=600.0,
        rated_flow_lpm=900.0,
        supply_temp_c=30.0,
        fluid="water",
    )
    return add(design, cdu, "cdus"), cdu.id


def new_feed(design: Design, x_m: float, y_m: float) -> tuple[Edit, str]:
    """A 1,000 kW power feed at (x, y) clamped to the floor. Returns the edit and the new id
    (FEED-01, FEED-02, ...)."""
    x_m, y_m = point_on_floor(x_m, y_m, design.floor)
    feed = PowerFeed(id=_fresh_id(design, "FEED-", 2), x_m=x_m, y_m=y_m, capacity_kw=1000.0)
    return add(design, feed, "feeds"), feed.id


def duplicate(design: Design, ids: Sequence[str], dx_m: float = 0.6, dy_m: float = 0.0) -> Edit:
    """Copies of racks, CDUs and feeds, shifted by (dx, dy) as a group (stopping at the floor's
    edges) and appended to their lists. A copy's id continues its original's numbering (a copy
    of A05 in a row A01..A20 is A21: extending a row is the usual reason to copy). Rack copies
    stay on their original's loop and feed; CDU copies serve no loop (a CDU serves one)."""
    index = Index(design)
    items = index.require(ids, PLACED, "duplicated")
    label = f"Duplicate {subject_of(items)}"
    if not items:
        return Edit(label)
    dx_m, dy_m = group_delta(items, dx_m, dy_m, design.floor)
    fresh = FreshIds(index.ids_in_use())
    next_index = {section: len(getattr(design, section)) for section in PLACED}
    changes = []
    for item in items:
        entity = item.entity
        x_m, y_m = point_on_floor(entity.x_m + dx_m, entity.y_m + dy_m, design.floor)
        copy = entity.model_copy(update={"id": fresh.copy_of(entity.id), "x_m": x_m, "y_m": y_m})
        changes.append(Change(item.section, None, copy, next_index[item.section]))
        next_index[item.section] += 1
    return Edit(label, tuple(changes))


# --- Deleting -----------------------------------------------------------------------------------


def delete(design: Design, ids: Sequence[str]) -> Edit:
    """Delete items and what cannot exist without them, in one edit: a CDU takes its loop with
    it; racks on a deleted loop or feed stay, unplumbed or unfed."""
    index = Index(design)
    items = index.require(ids, SECTIONS, "deleted")
    doomed = {item.entity.id: item for item in items}
    for item in items:
        loop = index.loop_of_cdu(item.entity.id) if item.section == "cdus" else None
        if loop is not None:
            doomed[loop.entity.id] = loop
    changes = [Change(item.section, item.entity, None, item.index) for item in doomed.values()]
    if any(item.section in ("loops", "feeds") for item in doomed.values()):
        for i, rack in enumerate(design.racks):
            cleared = {
                field: None for field in ("loop_id", "feed_id") if getattr(rack, field) in doomed
            }
            if cleared and rack.id not in doomed:
                changes.append(replace(Item("racks", i, rack), **cleared))
    return Edit(f"Delete {subject_of(items)}", tuple(changes))
