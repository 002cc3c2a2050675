"""Edits of the design's own settings: the hall (name, floor, the assumptions behind its
figures), its telemetry sources and its alarm rules.

Each builder takes the whole new value of a setting, as a settings dialog holds it, and returns
one Edit replacing it, so OK in a dialog is one undo step however many fields changed. Values
are validated as strictly as a design file, with problems at the file's paths
(``floor.width_m``, ``telemetry.mqtt.port``), and against the cross-entity rules: a floor too
small for the racks already on it, or a BMS point mapped to a rack the plan lacks, is refused
with the items named, before an Edit exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from factoryfloor.backend.design.alarm_rules import AlarmRule
from factoryfloor.backend.design.design_file import FieldProblem, problems_from_validation
from factoryfloor.backend.design.edits.core import (
    Edit,
    EditError,
    Setting,
    SettingChange,
    check_references,
)
from factoryfloor.backend.design.model import Assumptions, Design, Floor
from factoryfloor.backend.design.mqtt_settings import PointMapping
from factoryfloor.backend.design.telemetry_settings import TelemetrySettings


@dataclass(frozen=True, slots=True)
class HallSettings:
    """What the Hall Settings dialog edits, as typed: checked by :func:`set_hall`."""

    name: object
    floor: dict[str, Any]
    """``width_m`` and ``depth_m``."""
    assumptions: dict[str, Any]
    """The fields of :class:`~factoryfloor.backend.design.model.Assumptions`."""


def _validated(model: type[BaseModel], path: str, data: object) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise EditError(
            [FieldProblem(f"{path}.{p.path}", p.reason) for p in problems_from_validation(error)]
        ) from None


def _name(design: Design, value: object) -> str:
    """The design's name, checked by the model's own rule for it (on a copy of the design)."""
    try:
        checked = Design.__pydantic_validator__.validate_assignment(
            design.model_copy(), "name", value
        )
    except ValidationError as error:
        raise EditError(problems_from_validation(error)) from None
    return str(checked.name)


def _edit(design: Design, label: str, values: dict[Setting, object]) -> Edit:
    changes = tuple(
        SettingChange(setting, getattr(design, setting), value)
        for setting, value in values.items()
        if getattr(design, setting) != value
    )
    return check_references(design, Edit(label, settings=changes))


def set_hall(design: Design, hall: HallSettings) -> Edit:
    """Replace the hall's name, floor and assumptions in one edit; EditError lists every
    problem at once (``floor.width_m: must be greater than 0 (got -3.0)``), and a floor that
    would leave racks, CDUs, feeds or pipe bends outside it is refused naming them."""
    problems: list[FieldProblem] = []
    values: dict[Setting, object] = {}
    for setting, check in (
        ("name", lambda: _name(design, hall.name)),
        ("floor", lambda: _validated(Floor, "floor", hall.floor)),
        ("assumptions", lambda: _validated(Assumptions, "assumptions", hall.assumptions)),
    ):
        try:
            values[setting] = check()
        except EditError as error:
            problems += error.problems
    if problems:
        raise EditError(problems)
    return _edit(design, f"Change hall settings of {design.name}", values)


def set_telemetry(design: Design, telemetry: dict[str, Any] | TelemetrySettings) -> Edit:
    """Replace the design's telemetry sources in one edit, validated as a design file's
    ``telemetry`` section is, and refused when a BMS point or an inference server names a rack
    or CDU the plan does not have."""
    if isinstance(telemetry, TelemetrySettings):
        telemetry = telemetry.model_dump()
    settings = _validated(TelemetrySettings, "telemetry", telemetry)
    return _edit(design, "Change telemetry sources", {"telemetry": settings})


def set_bms_points(design: Design, points: Sequence[PointMapping]) -> Edit:
    """Replace the MQTT source's BMS point mapping (a reviewed proposal) in one edit; refused
    when the design has no MQTT source, a point is mapped twice, two points feed one series, or
    a point names a rack or CDU the plan does not have."""
    if design.telemetry.mqtt is None:
        raise EditError([FieldProblem("telemetry.mqtt", "no MQTT source to map BMS points for")])
    telemetry = design.telemetry.model_dump()
    telemetry["mqtt"]["points"] = [point.model_dump() for point in points]
    settings = _validated(TelemetrySettings, "telemetry", telemetry)
    count = len(points)
    label = f"Map {count} BMS point{'' if count == 1 else 's'}"
    return _edit(design, label, {"telemetry": settings})


_RULES = TypeAdapter(list[AlarmRule])


def set_alarm_rules(design: Design, rules: Sequence[dict[str, Any] | AlarmRule]) -> Edit:
    """Replace the design's alarm rules in one edit, validated as a design file's
    ``alarm_rules`` section is (``alarm_rules.2.threshold.limit: ...``); two rules with one id
    are refused, since the journal names alarms by it."""
    data = [r.model_dump() if isinstance(r, BaseModel) else r for r in rules]
    try:
        checked = _RULES.validate_python(data, strict=True)
    except ValidationError as error:
        raise EditError([FieldProblem(f"alarm_rules{p.path}", p.reason)
                         for p in problems_from_validation(error)]) from None  # fmt: skip
    seen: set[str] = set()
    for i, rule in enumerate(checked):
        if rule.id in seen:
            reason = f"rule id {rule.id!r} is used more than once"
            raise EditError([FieldProblem(f"alarm_rules[{i}].id", reason)])
        seen.add(rule.id)
    return _edit(design, "Change alarm rules", {"alarm_rules": checked})
