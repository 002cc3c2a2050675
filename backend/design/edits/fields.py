"""Edits of items' fields: ``set_field`` (one field of a whole selection, as the Properties
panel sets it) and its shortcuts for racks, ``plumb`` (cooling loop) and ``assign_feed``
(power feed).

Every value is validated as strictly as a design file and checked against the cross-entity
rules before an Edit exists, with all problems reported at once. Setting ``id`` renames, and
whatever names the item (racks name their loop and feed, a loop its CDU) follows in the same
edit, so a rename never leaves a reference dangling.
"""

from __future__ import annotations

from collections.abc import Sequence

from factoryfloor.backend.design.design_file import FieldProblem
from factoryfloor.backend.design.edits.core import (
    SECTIONS,
    Change,
    Edit,
    EditError,
    Index,
    Item,
    Section,
    check_references,
    replace,
    subject_of,
    validated,
)
from factoryfloor.backend.design.model import Design

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
    "nodes": "GPU hosts",
}
"""Field names as the Edit menu shows them; a field not listed shows its name, spaced."""

_REFERRERS: dict[Section, tuple[Section, str]] = {
    "loops": ("racks", "loop_id"),
    "feeds": ("racks", "feed_id"),
    "cdus": ("loops", "cdu_id"),
}
"""Which field of which section names an item of a section (nothing names a rack)."""


def _rename_cascade(index: Index, section: Section, renames: dict[str, str]) -> list[Change]:
    """Replacements that keep references pointing at renamed items."""
    if section not in _REFERRERS:
        return []
    referring, field = _REFERRERS[section]
    return [
        replace(Item(referring, i, entity), **{field: renames[getattr(entity, field)]})
        for i, entity in enumerate(getattr(index.design, referring))
        if getattr(entity, field) in renames
    ]


def _set_field(index: Index, items: list[Item], field: str, value: object, label: str) -> Edit:
    """Validate ``field = value`` on every item (all problems reported at once), cascade a
    rename, then check the cross-entity rules. Items may be of several kinds (a rack and a CDU
    share their position fields)."""
    changes: list[Change] = []
    problems: list[FieldProblem] = []
    for item in items:
        data = {**item.entity.model_dump(), field: value}
        try:
            after = validated(item.section, item.entity.id, data)
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
    return check_references(index.design, Edit(label, tuple(changes)))


def set_field(design: Design, ids: Sequence[str], field: str, value: object) -> Edit:
    """Set one field on several items (a multi-selection's property editor).

    Each result is validated as strictly as a design file (``racks[A01].it_power_kw: must be
    greater than or equal to 0 (got -5.0)``) and against the cross-entity rules (GPU model,
    loop, feed and CDU must exist, ids unique). Setting ``id`` renames, and references to the
    item follow in the same edit. Setting a CDU's x or y is a raw field edit: its pipe stays
    (``move`` drags it).
    """
    index = Index(design)
    items = index.require(ids, SECTIONS, "edited")
    subject = subject_of(items)
    if field == "id":
        label = f"Rename {subject} to {value}"
    else:
        label = f"Set {_FIELD_NAMES.get(field, field.replace('_', ' '))} of {subject}"
    return _set_field(index, items, field, value, label)


def plumb(design: Design, rack_ids: Sequence[str], loop_id: str | None) -> Edit:
    """Connect racks to a cooling loop, or (None) disconnect them from theirs."""
    index = Index(design)
    items = index.require(rack_ids, ("racks",), "plumbed")
    subject = subject_of(items)
    label = f"Plumb {subject} to {loop_id}" if loop_id else f"Unplumb {subject}"
    return _set_field(index, items, "loop_id", loop_id, label)


def assign_feed(design: Design, rack_ids: Sequence[str], feed_id: str | None) -> Edit:
    """Connect racks to a power feed, or (None) disconnect them from theirs."""
    index = Index(design)
    items = index.require(rack_ids, ("racks",), "connected to power")
    subject = subject_of(items)
    label = f"Connect {subject} to {feed_id}" if feed_id else f"Disconnect {subject} from power"
    return _set_field(index, items, "feed_id", feed_id, label)
