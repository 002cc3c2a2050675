"""Proposing BMS point mappings from the BMS's retained metadata.

:func:`auto_map` matches ``rackLocationName``/``rackLocationId`` (racks) and
``objectName``/``objectId``/``servesId`` (CDUs) to plan ids, ignoring case and separators, so an
engineer confirms a list instead of typing hundreds of tag paths.

A real BMS publishes several points under one pointType for one piece of equipment: the measured
feedback, its setpoint (metadata ``isSetpoint``) and on/off status points (metadata ``stateText``).
Only the feedback is a reading: a setpoint is a constant the controller aims at and a status is an
enumerated state, so neither may feed a measured quantity, and when several points still fit one
series the one whose tag path reads as feedback wins. Every point left out says why.

Two setpoints are wanted all the same, for control: the CDU's supply temperature setpoint as
the BMS runs it (``supply_temp_sp_c``), which confirms a setpoint request, and the request
points this integration writes (``LiquidTemperatureSpRequest``, ``Rack...IsolationRequest``),
proposed only where their metadata's ``integration`` names this application.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from factoryfloor.backend.design.mqtt_settings import (
    REQUEST_QUANTITIES,
    EntityKind,
    PointMapping,
    name_key,
)

RACK_POINT_QUANTITIES: dict[str, str] = {
    "RackLiquidSupplyTemperature": "supply_temp_c",
    "RackLiquidReturnTemperature": "return_temp_c",
    "RackLiquidFlow": "flow_lpm",
    "RackLiquidDifferentialPressure": "dp_kpa",
    "RackControlValvePosition": "valve_pct",
    "RackPower": "power_kw",
    "RackLeakDetect": "leak",
    "RackLeakSensorFault": "leak_sensor_fault",
    "RackLiquidIsolationStatus": "liquid_isolated",
    "RackElectricalIsolationStatus": "electrical_isolated",
    "RackLiquidIsolationRequest": "liquid_isolation_request",
    "RackElectricalIsolationRequest": "electrical_isolation_request",
}
"""DSX Rack pointTypes with a FactoryFloor quantity (setpoints have none)."""

CDU_POINT_QUANTITIES: dict[str, str] = {
    "LiquidDifferentialPressure": "dp_kpa",
    "LiquidFlow": "flow_lpm",
    "LiquidPressure": "pressure_kpa",
    "ValvePosition": "valve_pct",
    "PumpSpeed": "pump_rpm",
    "LiquidTemperatureSpRequest": "supply_temp_sp_request_c",
}
"""DSX CDU pointTypes with one quantity; ``LiquidTemperature`` is supply or return by
``processArea``, and a measurement or the setpoint by ``isSetpoint``."""

KIND_WORDS: dict[EntityKind, str] = {"rack": "rack", "cdu": "CDU"}
"""How reasons name a kind of plan entity."""

STATE_QUANTITIES: frozenset[str] = frozenset(
    (
        "leak",
        "leak_sensor_fault",
        "liquid_isolated",
        "electrical_isolated",
        "liquid_isolation_request",
        "electrical_isolation_request",
    )
)
"""Quantities that are states, fed by points with ``stateText``; every other is a measurement."""

SETPOINT_QUANTITIES: frozenset[str] = REQUEST_QUANTITIES | {"supply_temp_sp_c"}
"""Quantities that are values asked for, fed by points that may say ``isSetpoint``."""

FEEDBACK_WORDS: frozenset[str] = frozenset(("fbk", "fb", "feedback", "pv", "actual", "measured"))
"""Tag-path words that mark a point as the measured value (process variable)."""

COMMAND_WORDS: frozenset[str] = frozenset(
    ("sp", "spt", "setpoint", "cmd", "command", "request", "req", "target")
)
"""Tag-path words that mark a point as a value asked for rather than measured."""

UNITS: dict[str, frozenset[str]] = {
    "_c": frozenset(("c", "degc", "celsius")),
    "_lpm": frozenset(("lpm", "l/min", "lmin")),
    "_kpa": frozenset(("kpa",)),
    "_pct": frozenset(("%", "pct", "percent")),
    "_kw": frozenset(("kw",)),
    "_rpm": frozenset(("rpm",)),
}
"""Spellings of ``engUnit`` (lowercase, without ``°`` and spaces) accepted for a quantity
ending in the key's unit suffix; a point in another unit (F, gpm, psi, W) is not auto-mapped."""


@dataclass(frozen=True)
class PointMetadata:
    """What a DSX metadata message says about one point (its topic names the point)."""

    object_type: str
    point_type: str
    tag_path: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def point_id(self) -> str:
        return f"{self.object_type}/{self.point_type}/{self.tag_path}"


@dataclass(frozen=True)
class Unmatched:
    point: PointMetadata
    reason: str


@dataclass(frozen=True)
class AutoMapResult:
    proposed: list[PointMapping]
    unmatched: list[Unmatched]
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each proposed point was mapped, by point id: the metadata field that named the
    entity, and what made the point the series' reading."""


@dataclass(frozen=True)
class _Candidate:
    """A point that fits a series, with how strongly its tag path says it is feedback."""

    point: PointMetadata
    mapping: PointMapping
    reason: str

    @property
    def rank(self) -> int:
        """0 reads as feedback, 1 says nothing, 2 reads as a setpoint or command."""
        words = _name_words(self.point.tag_path)
        if FEEDBACK_WORDS.intersection(words):
            return 0
        return 2 if COMMAND_WORDS.intersection(words) or "setpoint" in "".join(words) else 1


class _NoMatch(Exception):
    """A point auto_map cannot map; the message is the reason shown to the engineer."""


def auto_map(
    rack_ids: Iterable[str],
    cdu_ids: Iterable[str],
    metadata: Iterable[PointMetadata],
    integration: str | None = None,
) -> AutoMapResult:
    """Propose mappings for the BMS points whose metadata names a plan rack or CDU.

    Names match ignoring case and separators (``name_key``). A point is left unmatched, with the
    reason, when its pointType has no FactoryFloor quantity, it is a setpoint or a state point
    where a measurement is wanted, it names no plan entity or more than one, its unit is not the
    quantity's, it is on a CDU's primary (facility water) side, or another point feeds the same
    series better: one whose tag path reads as feedback (``Fbk``, ``PV``) beats one that says
    nothing, which beats one that reads as a setpoint or command; ties go to point-id order.
    With ``integration``, a request point is left out unless its metadata names that id.
    """
    index = {"rack": _index(rack_ids), "cdu": _index(cdu_ids)}
    unmatched: list[Unmatched] = []
    by_series: dict[str, list[_Candidate]] = {}
    for point in sorted(metadata, key=lambda p: p.point_id):
        try:
            mapping, reason = _map_point(point, index, integration)
        except _NoMatch as exc:
            unmatched.append(Unmatched(point, str(exc)))
            continue
        by_series.setdefault(mapping.feeds, []).append(_Candidate(point, mapping, reason))
    proposed: list[PointMapping] = []
    reasons: dict[str, str] = {}
    for feeds, candidates in by_series.items():
        best, *others = sorted(candidates, key=lambda c: c.rank)
        proposed.append(best.mapping)
        preferred = "; its tag path reads as feedback" if best.rank == 0 and others else ""
        reasons[best.point.point_id] = best.reason + preferred
        for other in others:
            reason = f"{feeds} is already fed by {best.point.point_id}{_why_not(best, other)}"
            unmatched.append(Unmatched(other.point, reason))
    proposed.sort(key=lambda m: m.point_id)
    unmatched.sort(key=lambda u: u.point.point_id)
    return AutoMapResult(proposed, unmatched, reasons)


def _why_not(best: _Candidate, other: _Candidate) -> str:
    """Why ``best`` was preferred to ``other``, when the tag paths decided it."""
    if best.rank == other.rank:
        return ""
    if best.rank == 0:
        return ", whose tag path reads as feedback"
    return ", and this tag path reads as a setpoint or command"


def _index(ids: Iterable[str]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for entity_id in ids:
        by_key.setdefault(name_key(entity_id), []).append(entity_id)
    return by_key


def _map_point(
    point: PointMetadata, index: Mapping[str, dict[str, list[str]]], integration: str | None
) -> tuple[PointMapping, str]:
    """The point's mapping and why, in words; _NoMatch says why not."""
    object_type = point.object_type.lower()
    if object_type == "rack":
        kind: EntityKind = "rack"
        quantity = _rack_quantity(point)
        names = _strings(point.fields, "rackLocationId", "rackLocationName")
    elif object_type == "cdu":
        kind = "cdu"
        quantity = _cdu_quantity(point)
        names = _strings(point.fields, "objectId", "objectName", "associateId", "servesId")
    else:
        raise _NoMatch(f"objectType {point.object_type} is not mapped to plan entities")
    _check_measured(point, quantity)
    _check_unit(point, quantity)
    if integration is not None and quantity in REQUEST_QUANTITIES:
        refusal = not_offered(point, integration)
        if refusal is not None:
            raise _NoMatch(refusal)
    entity_id, named_by = _find_entity(names, index[kind], KIND_WORDS[kind])
    reason = (
        f"{named_by} names plan {KIND_WORDS[kind]} {entity_id}; {point.point_type} is {quantity}"
    )
    try:
        mapping = PointMapping(
            object_type=point.object_type,
            point_type=point.point_type,
            tag_path=point.tag_path,
            kind=kind,
            entity_id=entity_id,
            quantity=quantity,
        )
    except ValidationError as exc:  # e.g. a tag path longer than a design file takes
        raise _NoMatch(f"not storable in the design: {exc.errors()[0]['msg']}") from None
    return mapping, reason


def _rack_quantity(point: PointMetadata) -> str:
    try:
        return RACK_POINT_QUANTITIES[point.point_type]
    except KeyError:
        raise _NoMatch(f"Rack pointType {point.point_type} has no FactoryFloor quantity") from None


def _cdu_quantity(point: PointMetadata) -> str:
    """The CDU quantity, by pointType and the ``processArea`` words (Secondary, Supply, ...)."""
    area = set(_words(point.fields.get("processArea")))
    if "primary" in area:
        raise _NoMatch("primary (facility water) side: FactoryFloor tracks the TCS side")
    if point.point_type == "LiquidTemperature":
        if "supply" in area and "return" not in area:
            return "supply_temp_sp_c" if _is_setpoint(point) else "supply_temp_c"
        if "return" in area and "supply" not in area:
            return "return_temp_c"
        raise _NoMatch("LiquidTemperature whose processArea says neither Supply nor Return")
    try:
        return CDU_POINT_QUANTITIES[point.point_type]
    except KeyError:
        raise _NoMatch(f"CDU pointType {point.point_type} has no FactoryFloor quantity") from None


def _words(value: object) -> list[str]:
    """Lowercase words of a string or a list of strings (the DSX schema leaves processArea's
    form open)."""
    texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [
        word
        for text in texts
        if isinstance(text, str)
        for word in re.findall(r"[a-z]+", text.lower())
    ]


def _strings(fields: Mapping[str, Any], *names: str) -> list[tuple[str, str]]:
    """(field, value) of the named fields' string values, in order; list fields (servesId)
    contribute each."""
    found: list[tuple[str, str]] = []
    for name in names:
        value = fields.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item:
                found.append((name, item))
    return found


def not_offered(point: PointMetadata, integration: str) -> str | None:
    """Why this integration may not write ``point``, by the DSX rule that a point is written
    only by the integration its metadata names; none when it may."""
    named = point.fields.get("integration")
    if named == integration:
        return None
    if not isinstance(named, str) or not named:
        return f"the BMS offers {point.point_id} to no integration (no integration field)"
    return f"the BMS offers {point.point_id} to integration {named!r}, not to {integration!r}"


def _is_setpoint(point: PointMetadata) -> bool:
    flag = point.fields.get("isSetpoint")
    return flag is True or (isinstance(flag, str) and flag.strip().lower() == "true")


def _check_measured(point: PointMetadata, quantity: str) -> None:
    """Refuse a setpoint for a measured quantity, and a state point for a measured quantity."""
    if _is_setpoint(point) and quantity not in SETPOINT_QUANTITIES:
        raise _NoMatch("a setpoint (isSetpoint), not a measurement")
    states = point.fields.get("stateText")
    if states is not None and quantity not in STATE_QUANTITIES:
        labels = "/".join(_state_labels(states))
        shown = f" ({labels})" if labels else ""
        raise _NoMatch(f"a state point{shown}, not a measurement: {quantity} is measured")


def _state_labels(states: object) -> list[str]:
    """The labels of a ``stateText`` list (``[{"value": 0, "text": "Off"}, ...]``)."""
    entries = states if isinstance(states, list) else []
    return [e["text"] for e in entries if isinstance(e, dict) and isinstance(e.get("text"), str)]


def _name_words(text: str) -> list[str]:
    """Lowercase words of a tag path, split at separators and camel case (``SST_Fbk``,
    ``SupplyTempSp``)."""
    return [word.lower() for word in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", text)]


def _check_unit(point: PointMetadata, quantity: str) -> None:
    unit = point.fields.get("engUnit")
    if not isinstance(unit, str):
        return  # state points (leak) carry stateText, not a unit
    suffix = "_" + quantity.rsplit("_", 1)[-1]
    spelled = unit.lower().replace("°", "").replace(" ", "")
    if suffix in UNITS and spelled not in UNITS[suffix]:
        raise _NoMatch(f"unit {unit!r} is not the {quantity} unit")


def _find_entity(
    names: list[tuple[str, str]], index: Mapping[str, list[str]], kind: str
) -> tuple[str, str]:
    """The one plan id the first matching name names, and that name as ``field 'value'``."""
    for field_name, name in names:
        candidates = index.get(name_key(name), [])
        if len(candidates) > 1:
            raise _NoMatch(f"{name!r} matches several plan {kind}s: {', '.join(candidates)}")
        if candidates:
            return candidates[0], f"{field_name} {name!r}"
    shown = ", ".join(repr(name) for _, name in names) or "no name in the metadata"
    raise _NoMatch(f"no plan {kind} named {shown}")
