"""Reversible edits of a design: what the floor-plan editor's commands do, without Qt.

An :class:`Edit` is a labelled list of :class:`Change` s, each replacing, inserting or deleting
one entity (rack, CDU, loop or feed) of a :class:`~.model.Design`. ``apply`` and
``revert`` change the design in place, so the Qt undo stack can wrap them (``redo`` applies,
``undo`` reverts) and the view can redraw only ``touched_ids``.

Builders (``move``, ``delete``, ``set_field``, ...) read a design and return an Edit; they never
change it, and they refuse an impossible request with :class:`EditError`, whose problems have
the ``path: reason`` shape of a design file's, with items named by id
(``racks[A01].it_power_kw``) because positions in a list mean nothing to a user.

After any builder's edit the design still passes
:func:`~.design_file.reference_problems`: positions are clamped to the floor, deletions
cascade, renames carry their references along, and values a user types are checked against the
model and the cross-entity rules before an Edit exists.

Builders look items up through a dict built once per call, so an edit of k items in a design of
n items costs O(n + k), never O(n k): dragging a rack in a 1,000-rack hall stays well under 1 ms.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from factoryfloor.backend.design.design_file import (
    FieldProblem,
    problems_from_validation,
    reference_problems,
)
from factoryfloor.backend.design.model import Cdu, CoolingLoop, Design, Floor, PowerFeed, Rack
from pydantic import ValidationError

Section = Literal["racks", "cdus", "loops", "feeds"]
"""The lists of a design that edits change (GPU models are catalog data, not drawn items)."""

Entity = Rack | Cdu | CoolingLoop | PowerFeed
Point = tuple[float, float]
Axis = Literal["x", "y"]
AlignEdge = Literal["left", "right", "top", "bottom", "h-centre", "v-centre"]

SECTIONS: tuple[Section, ...] = ("racks", "cdus", "loops", "feeds")
PLACED: tuple[Section, ...] = ("racks", "cdus", "feeds")
"""Sections whose items stand at a position on the plan (a loop has a route instead)."""

MODELS: dict[Section, type[Entity]] = {
    "racks": Rack,
    "cdus": Cdu,
    "loops": CoolingLoop,
    "feeds": PowerFeed,
}

_KIND_NAMES: dict[Section, tuple[str, str]] = {
    "racks": ("rack", "racks"),
    "cdus": ("CDU", "CDUs"),
    "loops": ("loop", "loops"),
    "feeds": ("power feed", "power feeds"),
}

_FIELD_NAMES = {
    "x_m": "x",
    "y_m": "y",
    "rotation_deg": "rotation",
    "width_m": "width",
    "depth_m": "depth",
    "gpu_model": "GPU model",
    "gpu_count": "GPU count",
    "it_power_kw": "IT power",
    "loop_id": "loop",
    "feed_id": "power feed",
    "tokens_per_s_per_gpu": "tokens/s per GPU",
    "capacity_kw": "capacity",
    "rated_flow_lpm": "rated flow",
    "supply_temp_c": "supply temperature",
    "cdu_id": "CDU",
    "design_delta_t_k": "design delta-T",
}
"""Field names as the Edit menu shows them; a field not listed shows its name, spaced."""

_REFERRERS: dict[Section, tuple[Section, str]] = {
    "loops": ("racks", "loop_id"),
    "feeds": ("racks", "feed_id"),
    "cdus": ("loops", "cdu_id"),
}
"""Which field of which section names an item of a section (nothing names a rack)."""

NVL72_GPUS = 72
SERVER_GPUS = 8
"""GPUs in a new rack: an NVL72 system is one 72-GPU rack, anything else one 8-GPU server."""

NEW_RACK_LIQUID_FRACTION = 0.85
"""Share of heat to liquid a new liquid-cooled rack starts with (the model's usual assumption)."""

ID_MAX_CHARS = 64
"""``EntityId``'s max_length: generated ids are cut to fit."""

ROUTE_CLEARANCE_M = 0.1
"""Gap between the racks' rear faces and the pipe run ``new_loop`` draws behind them."""

_NANOMETRE_DIGITS = 9


class EditError(ValueError):
    """An edit that cannot be made; ``problems`` says why, each with the path of the field."""

    def __init__(self, problems: Sequence[FieldProblem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True, slots=True)
class Change:
    """One entity replaced, inserted (``before`` None) or deleted (``after`` None).

    ``index`` is the position in the section's list after the edit for an insertion and before
    it for a deletion, so inserting in ascending index rebuilds a list exactly; a replacement is
    found by id and ignores it. ``before`` and ``after`` are private copies: the design's own
    objects may be changed later, and history must not change with them.
    """

    section: Section
    before: Entity | None
    after: Entity | None
    index: int

    def __post_init__(self) -> None:
        if self.before is None and self.after is None:
            raise ValueError("a change needs an entity before or after it")
        for name in ("before", "after"):
            entity = getattr(self, name)
            if entity is not None:
                object.__setattr__(self, name, _snapshot(entity))


@dataclass(frozen=True, slots=True)
class Edit:
    """A labelled, reversible set of changes; ``label`` is what the Edit menu shows.

    An edit without changes is a no-op (a move by zero): the caller can skip pushing it.
    """

    label: str
    changes: tuple[Change, ...] = ()

    def apply(self, design: Design) -> None:
        """Replacements (by id), then deletions (by id), then insertions (ascending index)."""
        _play(design, self.changes, forward=True)

    def revert(self, design: Design) -> None:
        """``apply`` with before and after swapped: undo the replacements, remove what was
        inserted, re-insert what was deleted in ascending original index."""
        _play(design, self.changes, forward=False)

    @property
    def touched_ids(self) -> frozenset[str]:
        """Ids of every entity changed, as it was and as it is (a rename gives both)."""
        return frozenset(
            entity.id
            for change in self.changes
            for entity in (change.before, change.after)
            if entity is not None
        )


def _snapshot(entity: Entity) -> Entity:
    """A private copy of ``entity``. A loop's route is the only container an entity holds, so
    only a loop needs a deep copy; the rest copy shallow, four times faster, which matters when
    a whole hall is dragged."""
    return entity.model_copy(deep=isinstance(entity, CoolingLoop))


def _play(design: Design, changes: Iterable[Change], *, forward: bool) -> None:
    replaced: dict[Section, list[tuple[Entity, Entity]]] = defaultdict(list)
    removed: dict[Section, set[str]] = defaultdict(set)
    inserted: list[tuple[int, Section, Entity]] = []
    for change in changes:
        old, new = (change.before, change.after) if forward else (change.after, change.before)
        if old is None:
            inserted.append((change.index, change.section, new))
        elif new is None:
            removed[change.section].add(old.id)
        else:
            replaced[change.section].append((old, new))

    for section, pairs in replaced.items():
        items = getattr(design, section)
        position = {item.id: i for i, item in enumerate(items)}
        for old, new in pairs:
            items[position[old.id]] = _snapshot(new)
    for section, ids in removed.items():
        items = getattr(design, section)
        items[:] = [item for item in items if item.id not in ids]
    for index, section, entity in sorted(inserted, key=lambda insertion: insertion[0]):
        getattr(design, section).insert(index, _snapshot(entity))


# --- Looking items up ---------------------------------------------------------------------------


class _Item(NamedTuple):
    section: Section
    index: int
    entity: Any
    """The Rack, Cdu, CoolingLoop or PowerFeed; ``Any`` because builders check the section."""


class _Index:
    """Where each id of one design lives; built once per builder call so lookups are O(1)."""

    def __init__(self, design: Design):
        self.design = design
        self.where: dict[str, tuple[Section, int]] = {}
        for section in SECTIONS:
            for i, entity in enumerate(getattr(design, section)):
                self.where[entity.id] = (section, i)
        self._loop_of_cdu: dict[str, _Item] | None = None

    def ids_in_use(self) -> set[str]:
        """Every id a new item must avoid; GPU model ids count (``reference_problems`` says)."""
        return set(self.where) | {model.id for model in self.design.gpu_models}

    def require(self, ids: Iterable[str], sections: Sequence[Section], verb: str) -> list[_Item]:
        """The items named by ``ids`` (in first-mention order, repeats dropped), or EditError
        naming each unknown id and each item of a section that cannot be ``verb``."""
        items: list[_Item] = []
        problems: list[FieldProblem] = []
        for entity_id in dict.fromkeys(ids):
            place = self.where.get(entity_id)
            if place is None:
                problems.append(FieldProblem(entity_id, "no rack, CDU, loop or feed has this id"))
                continue
            section, i = place
            item = _Item(section, i, getattr(self.design, section)[i])
            if section in sections:
                items.append(item)
            else:
                problems.append(_problem(item, "", f"{_KIND_NAMES[section][1]} cannot be {verb}"))
        if problems:
            raise EditError(problems)
        return items

    def require_one(self, entity_id: str, section: Section, verb: str) -> _Item:
        return self.require([entity_id], [section], verb)[0]

    def loop_of_cdu(self, cdu_id: str) -> _Item | None:
        if self._loop_of_cdu is None:
            self._loop_of_cdu = {
                loop.cdu_id: _Item("loops", i, loop) for i, loop in enumerate(self.design.loops)
            }
        return self._loop_of_cdu.get(cdu_id)


def _problem(item: _Item, field: str, reason: str) -> FieldProblem:
    """A problem at ``racks[A01].field``, or at ``racks[A01]`` for the item as a whole."""
    path = f"{item.section}[{item.entity.id}]"
    return FieldProblem(f"{path}.{field}" if field else path, reason)


def _subject(items: Sequence[_Item]) -> str:
    """How a label names a selection: ``A01``, ``3 racks`` or ``5 items``."""
    if len(items) == 1:
        return items[0].entity.id
    if len({item.section for item in items}) == 1:
        return f"{len(items)} {_KIND_NAMES[items[0].section][1]}"
    return f"{len(items)} items"


def _replace(item: _Item, **fields: object) -> Change:
    """The change setting ``fields`` on ``item``; for values computed here, not typed in."""
    return Change(item.section, item.entity, item.entity.model_copy(update=fields), item.index)


# --- Checking what a user typed -------------------------------------------------------------


def _validated(section: Section, path_id: str, data: dict[str, object]) -> Any:
    """``data`` as a model instance, checked as strictly as a design file is."""
    try:
        return MODELS[section].model_validate(data)
    except ValidationError as error:
        raise EditError(
            [
                FieldProblem(f"{section}[{path_id}].{problem.path}", problem.reason)
                for problem in problems_from_validation(error)
            ]
        ) from None


_INDEXED_PATH = re.compile(r"^(\w+)\[(\d+)\](.*)$")


def _problems_by_id(design: Design, old_ids: dict[str, str]) -> list[FieldProblem]:
    """``reference_problems`` with list positions replaced by ids (``racks[3]`` becomes
    ``racks[A01]``), so problems before and after an edit compare although positions shift;
    ``old_ids`` names renamed items by the id the user selected."""
    problems = []
    for problem in reference_problems(design):
        match = _INDEXED_PATH.match(problem.path)
        if match:
            section, i, rest = match.groups()
            entity_id = getattr(design, section)[int(i)].id
            path = f"{section}[{old_ids.get(entity_id, entity_id)}]{rest}"
            problem = FieldProblem(path, problem.reason)
        problems.append(problem)
    return problems


def _check_references(design: Design, edit: Edit) -> Edit:
    """``edit``, or EditError with the cross-entity problems it would add to ``design``.

    The rules are ``reference_problems``' own, run on a probe (the design with its lists copied,
    not its items), so an edit can never pass here and fail when the file is loaded. It costs
    two passes over the design: right for edits a user types, too slow for drags.
    """
    probe = design.model_copy(
        update={section: list(getattr(design, section)) for section in SECTIONS}
    )
    edit.apply(probe)
    touched = edit.touched_ids
    for section in SECTIONS:
        # Stable: what the edit touched goes last, where a "CDU already serves loop X" rule
        # (first come, first served) blames the item the user just edited, not its neighbour.
        getattr(probe, section).sort(key=lambda item: item.id in touched)
    old_ids = {
        change.after.id: change.before.id
        for change in edit.changes
        if change.before is not None and change.after is not None
    }
    existing = set(_problems_by_id(design, {}))
    added = [problem for problem in _problems_by_id(probe, old_ids) if problem not in existing]
    if added:
        raise EditError(list(dict.fromkeys(added)))
    return edit


# --- Positions ----------------------------------------------------------------------------------


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


def _point_on_floor(x_m: float, y_m: float, floor: Floor) -> Point:
    return _on_floor(x_m, floor.width_m), _on_floor(y_m, floor.depth_m)


def _group_delta(items: Sequence[_Item], dx_m: float, dy_m: float, floor: Floor) -> Point:
    """The shift nearest (dx, dy) that keeps every item on the floor: a group stops at a wall
    with its shape intact instead of squashing against it."""
    xs = [item.entity.x_m for item in items]
    ys = [item.entity.y_m for item in items]
    dx_m = min(max(dx_m, -min(xs)), floor.width_m - max(xs))
    dy_m = min(max(dy_m, -min(ys)), floor.depth_m - max(ys))
    return dx_m, dy_m


def _reposition(index: _Index, targets: Iterable[tuple[_Item, Point]]) -> list[Change]:
    """Changes moving each item to its target. A moved CDU drags the first point of its loop's
    route by the same amount, so the pipe stays connected; the rest of the route is the user's
    drawing and stays put."""
    floor = index.design.floor
    changes: list[Change] = []
    for item, (x_m, y_m) in targets:
        entity = item.entity
        if (x_m, y_m) == (entity.x_m, entity.y_m):
            continue
        changes.append(_replace(item, x_m=x_m, y_m=y_m))
        loop = index.loop_of_cdu(entity.id) if item.section == "cdus" else None
        if loop is not None and loop.entity.route:
            (px_m, py_m), *rest = loop.entity.route
            start = _point_on_floor(px_m + x_m - entity.x_m, py_m + y_m - entity.y_m, floor)
            changes.append(_replace(loop, route=[start, *rest]))
    return changes


def move(design: Design, ids: Sequence[str], dx_m: float, dy_m: float, grid_m: float = 0.0) -> Edit:
    """Move racks, CDUs and feeds by (dx, dy). With a grid, the first item lands on it and the
    others keep their offsets from it; the group stops at the floor's edges (the edge wins
    over the grid)."""
    index = _Index(design)
    items = index.require(ids, PLACED, "moved")
    label = f"Move {_subject(items)}"
    if not items:
        return Edit(label)
    first = items[0].entity
    dx_m = snap_m(first.x_m + dx_m, grid_m) - first.x_m
    dy_m = snap_m(first.y_m + dy_m, grid_m) - first.y_m
    dx_m, dy_m = _group_delta(items, dx_m, dy_m, design.floor)
    if dx_m == 0 and dy_m == 0:
        return Edit(label)
    targets = [
        (item, _point_on_floor(item.entity.x_m + dx_m, item.entity.y_m + dy_m, design.floor))
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


def _with_coordinate(item: _Item, axis: Axis, value_m: float) -> tuple[_Item, Point]:
    """``item`` paired with its position with one coordinate replaced."""
    x_m, y_m = item.entity.x_m, item.entity.y_m
    return item, ((value_m, y_m) if axis == "x" else (x_m, value_m))


def align(design: Design, ids: Sequence[str], edge: AlignEdge) -> Edit:
    """Line items up by their centres: ``left`` puts every centre on the leftmost one's x,
    ``h-centre`` on the middle between the leftmost and rightmost (a vertical column),
    ``v-centre`` likewise in y (a horizontal row). Centres rather than footprint edges, because
    rotated items of different sizes rarely share an edge worth lining up."""
    axis, rule = _ALIGN_RULES[edge]
    index = _Index(design)
    items = index.require(ids, PLACED, "aligned")
    label = f"Align {_subject(items)} ({edge})"
    if len(items) < 2:
        return Edit(label)
    line_m = rule([getattr(item.entity, f"{axis}_m") for item in items])
    return Edit(
        label, tuple(_reposition(index, [_with_coordinate(i, axis, line_m) for i in items]))
    )


def distribute(design: Design, ids: Sequence[str], axis: Axis) -> Edit:
    """Space items evenly along ``axis`` between the two outermost, which stay put; the others
    keep their order along the axis (ties in selection order)."""
    index = _Index(design)
    items = index.require(ids, PLACED, "distributed")
    label = f"Distribute {_subject(items)} along {axis}"
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
    index = _Index(design)
    items = index.require(ids, ("racks", "cdus"), "rotated")
    label = f"Rotate {_subject(items)}"
    if degrees % 360 == 0:
        return Edit(label)
    changes = []
    for item in items:
        angle = (item.entity.rotation_deg + degrees) % 360.0
        # A tiny negative sum modulo 360 rounds to 360.0, which the model refuses (< 360).
        changes.append(_replace(item, rotation_deg=0.0 if angle >= 360.0 else angle))
    return Edit(label, tuple(changes))


# --- Fields -------------------------------------------------------------------------------------


def _rename_cascade(index: _Index, section: Section, renames: dict[str, str]) -> list[Change]:
    """Replacements that keep references pointing at renamed items."""
    if section not in _REFERRERS:
        return []
    referring, field = _REFERRERS[section]
    return [
        _replace(_Item(referring, i, entity), **{field: renames[getattr(entity, field)]})
        for i, entity in enumerate(getattr(index.design, referring))
        if getattr(entity, field) in renames
    ]


def _set_field(index: _Index, items: list[_Item], field: str, value: object, label: str) -> Edit:
    """Validate ``field = value`` on every item (all problems reported at once), cascade a
    rename, then check the cross-entity rules. Items may be of several kinds (a rack and a CDU
    share their position fields)."""
    changes: list[Change] = []
    problems: list[FieldProblem] = []
    for item in items:
        data = {**item.entity.model_dump(), field: value}
        try:
            after = _validated(item.section, item.entity.id, data)
        except EditError as error:
            problems.extend(error.problems)
            continue
        if after != item.entity:
            changes.append(Change(item.section, item.entity, after, item.index))
    if problems:
        raise EditError(problems)
    if field == "id" and changes:
        for section in {change.section for change in changes}:
            renames = {c.before.id: c.after.id for c in changes if c.section == section}
            changes += _rename_cascade(index, section, renames)
    return _check_references(index.design, Edit(label, tuple(changes)))


def set_field(design: Design, ids: Sequence[str], field: str, value: object) -> Edit:
    """Set one field on several items (a multi-selection's property editor).

    Each result is validated as strictly as a design file (``racks[A01].it_power_kw: must be
    greater than or equal to 0 (got -5.0)``) and against the cross-entity rules (GPU model,
    loop, feed and CDU must exist, ids unique). Setting ``id`` renames, and references to the
    item follow in the same edit. Setting a CDU's x or y is a raw field edit: its pipe stays
    (``move`` drags it).
    """
    index = _Index(design)
    items = index.require(ids, SECTIONS, "edited")
    subject = _subject(items)
    if field == "id":
        label = f"Rename {subject} to {value}"
    else:
        label = f"Set {_FIELD_NAMES.get(field, field.replace('_', ' '))} of {subject}"
    return _set_field(index, items, field, value, label)


def plumb(design: Design, rack_ids: Sequence[str], loop_id: str | None) -> Edit:
    """Connect racks to a cooling loop, or (None) disconnect them from theirs."""
    index = _Index(design)
    items = index.require(rack_ids, ("racks",), "plumbed")
    subject = _subject(items)
    label = f"Plumb {subject} to {loop_id}" if loop_id else f"Unplumb {subject}"
    return _set_field(index, items, "loop_id", loop_id, label)


def assign_feed(design: Design, rack_ids: Sequence[str], feed_id: str | None) -> Edit:
    """Connect racks to a power feed, or (None) disconnect them from theirs."""
    index = _Index(design)
    items = index.require(rack_ids, ("racks",), "connected to power")
    subject = _subject(items)
    label = f"Connect {subject} to {feed_id}" if feed_id else f"Disconnect {subject} from power"
    return _set_field(index, items, "feed_id", feed_id, label)


# --- New items ----------------------------------------------------------------------------------

_NUMBERED_ID = re.compile(r"^(.*?)(\d+)$")


class _FreshIds:
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
    return _FreshIds(_Index(design).ids_in_use()).next(stem, width)


def add(design: Design, entity: Entity, section: Section) -> Edit:
    """Append ``entity`` to ``section``, checked like a loaded file: fields, unique id,
    existing references, position on the floor."""
    if not isinstance(entity, MODELS[section]):
        reason = f"a {type(entity).__name__} cannot be added to {section}"
        raise EditError([FieldProblem(f"{section}[{entity.id}]", reason)])
    checked = _validated(section, entity.id, entity.model_dump())
    change = Change(section, None, checked, len(getattr(design, section)))
    label = f"Add {_KIND_NAMES[section][0]} {checked.id}"
    return _check_references(design, Edit(label, (change,)))


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
    x_m, y_m = _point_on_floor(x_m, y_m, design.floor)
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
    x_m, y_m = _point_on_floor(x_m, y_m, design.floor)
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
    x_m, y_m = _point_on_floor(x_m, y_m, design.floor)
    feed = PowerFeed(id=_fresh_id(design, "FEED-", 2), x_m=x_m, y_m=y_m, capacity_kw=1000.0)
    return add(design, feed, "feeds"), feed.id


def duplicate(design: Design, ids: Sequence[str], dx_m: float = 0.6, dy_m: float = 0.0) -> Edit:
    """Copies of racks, CDUs and feeds, shifted by (dx, dy) as a group (stopping at the floor's
    edges) and appended to their lists. A copy's id continues its original's numbering (a copy
    of A05 in a row A01..A20 is A21: extending a row is the usual reason to copy). Rack copies
    stay on their original's loop and feed; CDU copies serve no loop (a CDU serves one)."""
    index = _Index(design)
    items = index.require(ids, PLACED, "duplicated")
    label = f"Duplicate {_subject(items)}"
    if not items:
        return Edit(label)
    dx_m, dy_m = _group_delta(items, dx_m, dy_m, design.floor)
    fresh = _FreshIds(index.ids_in_use())
    next_index = {section: len(getattr(design, section)) for section in PLACED}
    changes = []
    for item in items:
        entity = item.entity
        x_m, y_m = _point_on_floor(entity.x_m + dx_m, entity.y_m + dy_m, design.floor)
        copy = entity.model_copy(update={"id": fresh.copy_of(entity.id), "x_m": x_m, "y_m": y_m})
        changes.append(Change(item.section, None, copy, next_index[item.section]))
        next_index[item.section] += 1
    return Edit(label, tuple(changes))


# --- Deleting -----------------------------------------------------------------------------------


def delete(design: Design, ids: Sequence[str]) -> Edit:
    """Delete items and what cannot exist without them, in one edit: a CDU takes its loop with
    it; racks on a deleted loop or feed stay, unplumbed or unfed."""
    index = _Index(design)
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
                changes.append(_replace(_Item("racks", i, rack), **cleared))
    return Edit(f"Delete {_subject(items)}", tuple(changes))


# --- Cooling loops and their routes -------------------------------------------------------------


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
    on_floor = [_point_on_floor(x_m, y_m, floor) for x_m, y_m in points]
    return [point for point, _ in itertools.groupby(on_floor)]


def new_loop(design: Design, cdu_id: str, rack_ids: Sequence[str], delta_t_k: float = 10.0) -> Edit:
    """A cooling loop on a CDU that serves none yet (a CDU serves one loop), with the racks
    plumbed to it (off any loop they were on) and its pipe routed by ``_auto_route``. Its id is
    ``L-<CDU id>``, or ``L-<CDU id>-2``, ``-3``, ... if taken."""
    index = _Index(design)
    cdu = index.require_one(cdu_id, "cdus", "given a loop")
    served = index.loop_of_cdu(cdu_id)
    if served is not None:
        reason = f"already serves loop {served.entity.id!r}; a CDU serves one TCS loop"
        raise EditError([_problem(cdu, "", reason)])
    racks = index.require(rack_ids, ("racks",), "plumbed")
    loop_id = _FreshIds(index.ids_in_use()).like(f"L-{cdu_id}")
    data = {
        "id": loop_id,
        "cdu_id": cdu_id,
        "design_delta_t_k": delta_t_k,
        "route": _auto_route(cdu.entity, [rack.entity for rack in racks], design.floor),
    }
    changes = [Change("loops", None, _validated("loops", loop_id, data), len(design.loops))]
    changes += [_replace(rack, loop_id=loop_id) for rack in racks]
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
    loop = _Index(design).require_one(loop_id, "loops", "routed")
    route = list(loop.entity.route)
    if not 0 <= position < len(route) + count_extra:
        reason = f"out of range: the route has {len(route)} point(s)"
        raise EditError([_problem(loop, f"route[{position}]", reason)])
    change(route)
    if route == loop.entity.route:
        return Edit(label)
    return Edit(label, (_replace(loop, route=route),))


def move_route_point(
    design: Design, loop_id: str, point_index: int, x_m: float, y_m: float, grid_m: float = 0.0
) -> Edit:
    """Move one route point to (x, y), snapped to the grid and kept on the floor."""
    point = _point_on_floor(snap_m(x_m, grid_m), snap_m(y_m, grid_m), design.floor)

    def change(route: list[Point]) -> None:
        route[point_index] = point

    return _route_edit(design, loop_id, point_index, 0, change, f"Move pipe point of {loop_id}")


def insert_route_point(
    design: Design, loop_id: str, segment_index: int, x_m: float, y_m: float
) -> Edit:
    """Split segment ``segment_index`` (from point i to point i + 1) at (x, y), kept on the
    floor: the new point becomes ``route[segment_index + 1]``. ``-1`` adds a point before the
    first and ``len(route) - 1`` after the last, so a route can also grow at either end."""
    point = _point_on_floor(x_m, y_m, design.floor)

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
