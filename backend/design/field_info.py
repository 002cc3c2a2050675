"""What an editor needs to know about an entity's fields, read from the model itself.

Labels and units come from the field names (``it_power_kw`` is "IT power" in kW) and
descriptions from the fields' docstrings, so a field added to the model appears in the
properties panel with no second list to keep in step; only labels no rule can spell are listed
here. Typed values are checked by the model's own validation and reported in a design file's
words, so the editor and a loaded file never disagree about what is valid. Qt-free: the panel
is one view of it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from factoryfloor.backend.design.design_file import problems_from_validation
from factoryfloor.backend.design.model import Cdu, CoolingLoop, GpuModel, PowerFeed, Rack

Item = Rack | Cdu | CoolingLoop | PowerFeed | GpuModel
"""What a properties editor edits: the items drawn on the plan, and catalog entries."""

Kind = Literal["number", "integer", "text", "names", "choice", "reference", "bool"]
"""How a field is edited: typed (number, integer, text, names separated by commas), picked
(choice, reference), ticked."""

UNITS: dict[str, str] = {
    "_per_s_per_gpu": "tok/s per GPU",
    "_lpm": "L/min",
    "_deg": "°",
    "_kw": "kW",
    "_w": "W",
    "_m": "m",
    "_c": "°C",
    "_k": "K",
}
"""Unit suffixes of field names (no suffix is the end of another, so order does not matter)."""

FRACTION_UNIT = "(0\N{EN DASH}1)"
"""A ``..._fraction`` keeps the word in its label; the unit says it is not a percentage."""

LABELS: dict[str, str] = {
    "design_delta_t_k": "Design ΔT",
    "tokens_per_s_per_gpu": "Throughput",
    "loop_id": "Cooling loop",
    "feed_id": "Power feed",
    "cdu_id": "CDU",
    "nodes": "GPU hosts",
}
"""Labels the spelling rule (unit cut, acronyms upper-cased) cannot produce."""

ACRONYMS: dict[str, str] = {"id": "ID", "it": "IT", "gpu": "GPU", "cdu": "CDU"}

REFERENCES = frozenset({"gpu_model", "loop_id", "feed_id", "cdu_id"})
"""Fields naming another item by id: picked from the ids that exist, never typed."""

NAME_LISTS = frozenset({"nodes"})
"""List fields of names without spaces, typed as one line separated by commas (a rack's GPU
hosts). Other lists (a catalog entry's sources, a loop's route) are not one value."""

NONE_TEXT: dict[str, str] = {
    "tokens_per_s_per_gpu": "(catalog)",
    "workload": "(catalog)",
    "nodes": "(one host, named like the rack)",
}
"""What an empty optional field (or list of names) means where it is not plain "(none)"."""

KIND_NAMES: dict[type[BaseModel], tuple[str, str]] = {
    Rack: ("rack", "racks"),
    Cdu: ("CDU", "CDUs"),
    CoolingLoop: ("cooling loop", "cooling loops"),
    PowerFeed: ("power feed", "power feeds"),
    GpuModel: ("GPU model", "GPU models"),
}
"""Singular and plural of each kind of item, in the order a mixed selection lists them."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One editable field as a user sees it."""

    name: str
    label: str
    unit: str
    description: str
    kind: Kind
    optional: bool
    """None is allowed: empty text or "(none)" stands for it."""
    options: tuple[str, ...] = ()
    """The allowed values of a ``choice`` (a Literal); references get theirs from the design."""

    @property
    def none_text(self) -> str:
        return NONE_TEXT.get(self.name, "(none)")

    @property
    def empty_text(self) -> str:
        """What an empty text field shows in grey: what leaving it empty means."""
        return self.none_text if self.optional or self.kind == "names" else ""


def field_label(name: str) -> str:
    """``it_power_kw`` -> ``IT power``: the name without its unit, acronyms upper-cased."""
    if name in LABELS:
        return LABELS[name]
    stem = next((name.removesuffix(s) for s in UNITS if name.endswith(s)), name)
    words = [ACRONYMS.get(word, word) for word in stem.split("_")]
    return " ".join(words)[:1].upper() + " ".join(words)[1:]


def field_unit(name: str) -> str:
    if name.endswith("fraction"):
        return FRACTION_UNIT
    return next((unit for suffix, unit in UNITS.items() if name.endswith(suffix)), "")


def field_spec(model: type[BaseModel], name: str) -> FieldSpec | None:
    """How ``model.name`` is edited, or None where it is not one value (a loop's route is a
    polyline, drawn on the plan; a catalog entry's sources are a list of citations)."""
    info = model.model_fields[name]
    members = get_args(info.annotation) if _is_union(info.annotation) else (info.annotation,)
    optional = NoneType in members
    # ``EntityId | None`` keeps EntityId's Annotated wrapper; its constraints are the model's.
    types = [_bare(member) for member in members if member is not NoneType]
    if len(types) != 1:
        return None
    (annotation,) = types
    options: tuple[str, ...] = ()
    kind: Kind
    if get_origin(annotation) is Literal:
        kind, options = "choice", tuple(get_args(annotation))
    elif annotation is bool:
        kind = "bool"
    elif annotation is int:
        kind = "integer"
    elif annotation is float:
        kind = "number"
    elif annotation is str:
        kind = "reference" if name in REFERENCES else "text"
    elif name in NAME_LISTS:
        kind = "names"
    else:
        return None
    # Docstrings are reST for code readers; a tooltip shows ``tokens_per_s_per_gpu`` bare.
    description = (info.description or "").replace("``", "")
    return FieldSpec(
        name, field_label(name), field_unit(name), description, kind, optional, options
    )


def editable_fields(entities: Sequence[Item]) -> list[FieldSpec]:
    """The fields every selected entity has, in the first one's order. ``id`` only for a single
    entity: giving several items one id can never be valid."""
    if not entities:
        return []
    kinds = {type(entity) for entity in entities}
    first = type(entities[0])
    specs = []
    for name in first.model_fields:
        if name == "id" and len(entities) > 1:
            continue
        if all(name in kind.model_fields for kind in kinds):
            spec = field_spec(first, name)
            if spec is not None:
                specs.append(spec)
    return specs


def value_from_text(spec: FieldSpec, text: str) -> Any:
    """What typed ``text`` means for a typed field: a number where it parses as one (``72.0``
    is the integer 72), None for empty text where None is allowed, else the text itself, which
    validation then refuses in the model's words (``must be a valid number (got 'abc')``)."""
    text = text.strip()
    if not text and spec.optional:
        return None
    if spec.kind == "names":
        return [name for name in re.split(r"[\s,]+", text) if name]
    if spec.kind not in ("number", "integer"):
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if spec.kind == "number":
        return number
    return int(number) if number.is_integer() else number


def value_problems(entities: Sequence[Item], name: str, value: object) -> list[str]:
    """Why ``name = value`` is invalid for the selected entities (empty if it is valid), checked
    as strictly as a design file. One check per kind of entity: a field's rules never depend on
    the entity's other fields, so a 1,000-rack selection costs one validation per keystroke."""
    reasons: list[str] = []
    for entity in {type(entity): entity for entity in entities}.values():
        try:
            type(entity).model_validate({**entity.model_dump(), name: value})
        except ValidationError as error:
            reasons += [
                problem.reason
                for problem in problems_from_validation(error)
                if problem.path.split(".")[0].split("[")[0] == name  # nodes[1] is nodes'
                and problem.reason not in reasons
            ]
    return reasons


def display_text(value: object) -> str:
    """A value as a field shows it: ``132`` not ``132.0``, ``0.3`` not ``0.30000000000000004``,
    empty for None."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, float):
        return format(value, ".15g")
    return str(value)


def describe_selection(entities: Sequence[Item]) -> str:
    """``Rack A01``, ``3 racks``, ``2 racks and 1 CDU``; empty for no selection."""
    if len(entities) == 1:
        singular = KIND_NAMES[type(entities[0])][0]
        return f"{singular[:1].upper()}{singular[1:]} {entities[0].id}"
    counts = Counter(type(entity) for entity in entities)
    parts = [
        f"{counts[kind]} {names[0] if counts[kind] == 1 else names[1]}"
        for kind, names in KIND_NAMES.items()
        if counts[kind]
    ]
    return " and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else "".join(parts)


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, UnionType)


def _bare(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
