"""What every edit builder shares: the :class:`Edit` itself, looking items up, and checking
what a user typed.

An :class:`Edit` is a labelled list of :class:`Change` s, each replacing, inserting or deleting
one entity (rack, CDU, loop or feed) of a design, and of :class:`SettingChange` s, each
replacing a design-wide setting whole (name, floor, assumptions, telemetry). ``apply`` and
``revert`` change the design in place, so the Qt undo stack can wrap them (``redo`` applies,
``undo`` reverts) and the view can redraw only ``touched_ids`` (or everything, after a setting
changed).

An :class:`Index` is built once per builder call, so a builder finds each item in O(1).
:func:`validated` and :func:`check_references` check values a user types as strictly as a
design file is checked and against the same cross-entity rules, so an edit can never pass here
and fail when the file is loaded.

The three live together because they lean on each other: looking up an unknown id raises
:class:`EditError`, and the reference check plays an :class:`Edit` on a probe of the design.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ValidationError

from factoryfloor.backend.design.design_file import (
    FieldProblem,
    problems_from_validation,
    reference_problems,
)
from factoryfloor.backend.design.model import Cdu, CoolingLoop, Design, PowerFeed, Rack

Section = Literal["racks", "cdus", "loops", "feeds"]
"""The lists of a design that edits change (GPU models are catalog data, not drawn items)."""

Setting = Literal["name", "floor", "assumptions", "telemetry", "alarm_rules"]
"""The design-wide settings an edit may replace whole: the hall's name and floor, the
assumptions behind its figures, where its live readings come from, and its alarm rules."""

Entity = Rack | Cdu | CoolingLoop | PowerFeed

SECTIONS: tuple[Section, ...] = ("racks", "cdus", "loops", "feeds")
PLACED: tuple[Section, ...] = ("racks", "cdus", "feeds")
"""Sections whose items stand at a position on the plan (a loop has a route instead)."""

MODELS: dict[Section, type[Entity]] = {
    "racks": Rack,
    "cdus": Cdu,
    "loops": CoolingLoop,
    "feeds": PowerFeed,
}

KIND_NAMES: dict[Section, tuple[str, str]] = {
    "racks": ("rack", "racks"),
    "cdus": ("CDU", "CDUs"),
    "loops": ("loop", "loops"),
    "feeds": ("power feed", "power feeds"),
}
"""How labels and problems name one item of a section, and several."""


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
class SettingChange:
    """One design-wide setting replaced whole (``before`` and ``after`` are private copies)."""

    setting: Setting
    before: object
    after: object

    def __post_init__(self) -> None:
        for name in ("before", "after"):
            object.__setattr__(self, name, _copy_setting(getattr(self, name)))


def _copy_setting(value: object) -> object:
    """A deep copy of a setting (a model, a list of models, or the name, which is
    immutable)."""
    if isinstance(value, list):
        return [_copy_setting(item) for item in value]
    return value.model_copy(deep=True) if isinstance(value, BaseModel) else value


@dataclass(frozen=True, slots=True)
class Edit:
    """A labelled, reversible set of changes; ``label`` is what the Edit menu shows.

    An edit without changes is a no-op (a move by zero): the caller can skip pushing it.
    """

    label: str
    changes: tuple[Change, ...] = ()
    settings: tuple[SettingChange, ...] = ()
    """Design-wide settings replaced (hall settings, telemetry sources), applied after the
    entity changes."""

    def apply(self, design: Design) -> None:
        """Replacements (by id), then deletions (by id), then insertions (ascending index),
        then settings."""
        _play(design, self.changes, forward=True)
        for change in self.settings:
            setattr(design, change.setting, _copy_setting(change.after))

    def revert(self, design: Design) -> None:
        """``apply`` with before and after swapped: undo the replacements, remove what was
        inserted, re-insert what was deleted in ascending original index, restore settings."""
        for change in self.settings:
            setattr(design, change.setting, _copy_setting(change.before))
        _play(design, self.changes, forward=False)

    @property
    def is_empty(self) -> bool:
        """Nothing changes: pushing it would only add an undo step that does nothing."""
        return not self.changes and not self.settings

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


class Item(NamedTuple):
    section: Section
    index: int
    entity: Any
    """The Rack, Cdu, CoolingLoop or PowerFeed; ``Any`` because builders check the section."""


class Index:
    """Where each id of one design lives; built once per builder call so lookups are O(1)."""

    def __init__(self, design: Design):
        self.design = design
        self.where: dict[str, tuple[Section, int]] = {}
        for section in SECTIONS:
            for i, entity in enumerate(getattr(design, section)):
                self.where[entity.id] = (section, i)
        self._loop_of_cdu: dict[str, Item] | None = None

    def ids_in_use(self) -> set[str]:
        """Every id a new item must avoid; GPU model ids count (``reference_problems`` says)."""
        return set(self.where) | {model.id for model in self.design.gpu_models}

    def require(self, ids: Iterable[str], sections: Sequence[Section], verb: str) -> list[Item]:
        """The items named by ``ids`` (in first-mention order, repeats dropped), or EditError
        naming each unknown id and each item of a section that cannot be ``verb``."""
        items: list[Item] = []
        problems: list[FieldProblem] = []
        for entity_id in dict.fromkeys(ids):
            place = self.where.get(entity_id)
            if place is None:
                problems.append(FieldProblem(entity_id, "no rack, CDU, loop or feed has this id"))
                continue
            section, i = place
            item = Item(section, i, getattr(self.design, section)[i])
            if section in sections:
                items.append(item)
            else:
                problems.append(problem_at(item, "", f"{KIND_NAMES[section][1]} cannot be {verb}"))
        if problems:
            raise EditError(problems)
        return items

    def require_one(self, entity_id: str, section: Section, verb: str) -> Item:
        return self.require([entity_id], [section], verb)[0]

    def loop_of_cdu(self, cdu_id: str) -> Item | None:
        if self._loop_of_cdu is None:
            self._loop_of_cdu = {
                loop.cdu_id: Item("loops", i, loop) for i, loop in enumerate(self.design.loops)
            }
        return self._loop_of_cdu.get(cdu_id)


def problem_at(item: Item, field: str, reason: str) -> FieldProblem:
    """A problem at ``racks[A01].field``, or at ``racks[A01]`` for the item as a whole."""
    path = f"{item.section}[{item.entity.id}]"
    return FieldProblem(f"{path}.{field}" if field else path, reason)


def subject_of(items: Sequence[Item]) -> str:
    """How a label names a selection: ``A01``, ``3 racks`` or ``5 items``."""
    if len(items) == 1:
        return items[0].entity.id
    if len({item.section for item in items}) == 1:
        return f"{len(items)} {KIND_NAMES[items[0].section][1]}"
    return f"{len(items)} items"


def replace(item: Item, **fields: object) -> Change:
    """The change setting ``fields`` on ``item``; for values a builder computes, not typed in."""
    return Change(item.section, item.entity, item.entity.model_copy(update=fields), item.index)


# --- Checking what a user typed -------------------------------------------------------------


def validated(section: Section, path_id: str, data: dict[str, object]) -> Any:
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


def check_references(design: Design, edit: Edit) -> Edit:
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
