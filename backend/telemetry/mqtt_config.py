"""Settings of the MQTT telemetry source, kept in the design file under ``telemetry.mqtt``.

The broker address, the topic prefixes and the mapping of BMS points to plan racks and CDUs
belong to a site, so they live with the design and travel with it. The password does not: a
design file is shared and versioned, so the password comes from the environment variable
``FACTORYFLOOR_MQTT_PASSWORD`` or from whoever starts the source.

A DSX BMS names a point by ``objectType/pointType/tagPath`` (tagPath is the vendor's and may
contain ``/``); the plan names a rack ``A-07``. :class:`PointMapping` ties the two together, and
:func:`auto_map` proposes such mappings from the BMS's retained metadata by matching
``rackLocationName``/``rackLocationId`` (racks) and ``objectName``/``objectId``/``servesId``
(CDUs) to plan ids, ignoring case and separators, so an engineer confirms a list instead of
typing hundreds of tag paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from pydantic import Field, ValidationError, model_validator

from backend.model_base import EntityId, StrictModel

PASSWORD_ENV = "FACTORYFLOOR_MQTT_PASSWORD"

EntityKind = Literal["rack", "cdu"]

QUANTITIES: dict[EntityKind, frozenset[str]] = {
    "rack": frozenset(
        ("power_kw", "supply_temp_c", "return_temp_c", "flow_lpm", "dp_kpa", "valve_pct", "leak")
    ),
    "cdu": frozenset(
        (
            "supply_temp_c",
            "return_temp_c",
            "flow_lpm",
            "pressure_kpa",
            "dp_kpa",
            "pump_rpm",
            "valve_pct",
            "heat_kw",
        )
    ),
}
"""Series quantities a BMS point may feed, per entity kind (the convention in sink.py; the
rack's ``tokens_per_s`` comes from inference servers, never from a BMS)."""

RACK_POINT_QUANTITIES: dict[str, str] = {
    "RackLiquidSupplyTemperature": "supply_temp_c",
    "RackLiquidReturnTemperature": "return_temp_c",
    "RackLiquidFlow": "flow_lpm",
    "RackLiquidDifferentialPressure": "dp_kpa",
    "RackControlValvePosition": "valve_pct",
    "RackPower": "power_kw",
    "RackLeakDetect": "leak",
}
"""DSX Rack pointTypes with a FactoryFloor quantity (setpoints, isolation and sensor-fault
points have none yet)."""

CDU_POINT_QUANTITIES: dict[str, str] = {
    "LiquidDifferentialPressure": "dp_kpa",
    "LiquidFlow": "flow_lpm",
    "LiquidPressure": "pressure_kpa",
    "ValvePosition": "valve_pct",
    "PumpSpeed": "pump_rpm",
}
"""DSX CDU pointTypes with one quantity; ``LiquidTemperature`` is supply or return by
``processArea``."""

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

_SEPARATORS = re.compile(r"[^0-9a-z]+")


def name_key(name: str) -> str:
    """How names are compared: ``Rack_A-07``, ``rack a07`` and ``RACK.A.07`` are the same."""
    return _SEPARATORS.sub("", name.lower())


def resolve_password(explicit: str | None = None) -> str | None:
    """The password given, else the one in ``FACTORYFLOOR_MQTT_PASSWORD``, else none."""
    return explicit if explicit is not None else os.environ.get(PASSWORD_ENV)


_PREFIX = re.compile(r"^[^/+#\x00]+(/[^/+#\x00]+)*$")
_NAME = re.compile(r"^[^/+#\x00]+$")


class PointMapping(StrictModel):
    """One BMS point feeding one series: ``{kind}/{entity_id}/{quantity}``."""

    object_type: str = Field(min_length=1, max_length=64, pattern=_NAME.pattern)
    """DSX objectType as in the topic, e.g. ``Rack`` or ``CDU``."""
    point_type: str = Field(min_length=1, max_length=64, pattern=_NAME.pattern)
    """DSX pointType as in the topic, e.g. ``RackLiquidSupplyTemperature``."""
    tag_path: str = Field(min_length=1, max_length=512, pattern=_PREFIX.pattern)
    """The vendor's tag path, the rest of the topic; may contain ``/``."""
    kind: EntityKind
    entity_id: EntityId
    """The plan rack or CDU the point belongs to."""
    quantity: str
    """Series quantity with its unit, e.g. ``supply_temp_c``."""

    @model_validator(mode="after")
    def _known_quantity(self) -> Self:
        if self.quantity not in QUANTITIES[self.kind]:
            known = ", ".join(sorted(QUANTITIES[self.kind]))
            raise ValueError(f"{self.quantity!r} is not a {self.kind} quantity ({known})")
        return self

    @property
    def point_id(self) -> str:
        """``objectType/pointType/tagPath``: the topic after ``{prefix}/Value/``."""
        return f"{self.object_type}/{self.point_type}/{self.tag_path}"

    @property
    def series_key(self) -> str:
        return f"{self.kind}/{self.entity_id}/{self.quantity}"


class MqttConfig(StrictModel):
    """Where the broker is, how to log in, what to subscribe to, and which BMS point is which."""

    host: str = Field(default="localhost", min_length=1, max_length=253)
    port: int = Field(default=1883, ge=1, le=65535)
    tls: bool = False
    ca_file: str | None = None
    """PEM file of the CA that signed the broker's certificate; none: the system's CAs."""
    client_cert: str | None = None
    """PEM client certificate, for brokers that authenticate clients by certificate."""
    client_key: str | None = None
    username: str | None = Field(default=None, max_length=256)
    """The password is never stored here: see ``FACTORYFLOOR_MQTT_PASSWORD``."""
    client_id: str = Field(default="factoryfloor", min_length=1, max_length=64)
    """Fixed, so the broker keeps this app's session (subscriptions, QoS 1 messages) across
    reconnects; two apps on one broker need different ids or they keep displacing each other."""
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    """MQTT version. 3.1.1 by default: the DSX Event Bus (NATS) speaks only 3.1.1 and refuses 5,
    and paho decodes MQTT 5 properties of every message at a cost that halves throughput."""
    session_expiry_s: int = Field(default=600, ge=0, le=7 * 24 * 3600)
    """0: a fresh session on every connection. Otherwise the broker keeps the session while the
    app is away: this long with MQTT 5, as long as the broker is set to with 3.1.1."""
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    bms_prefix: str | None = Field(default="BMS/v1/PUB", pattern=_PREFIX.pattern)
    """DSX BMS Event Bus publisher prefix; none: no BMS on this broker."""
    node_prefix: str | None = Field(default="factoryfloor/v1/node", pattern=_PREFIX.pattern)
    """Prefix of FactoryFloor node agents' topics; none: no node agents on this broker."""
    qos: Literal[0, 1] = 0
    """Subscription QoS. Sensor data is QoS 0 by convention; 1 trades throughput for no loss
    between broker and app (publishers must publish at QoS 1 too)."""
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)
    """Cap of the exponential backoff between connection attempts."""
    bms_heartbeat_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """The BMS sends HeartbeatTimestampBms every 10 s: longer silence is reported as BMS lost."""
    max_queued_messages: int = Field(default=200_000, ge=0, le=100_000_000)
    """Messages received but not yet processed, beyond which new ones are dropped (and counted);
    0: no limit. Bounds memory when the app falls behind a burst."""
    points: list[PointMapping] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together: give both or neither")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        check_points(self.points)
        return self


def check_points(points: Iterable[PointMapping]) -> None:
    """No point mapped twice and no series fed by two points (their readings would interleave)."""
    point_ids: set[str] = set()
    series: dict[str, str] = {}
    for point in points:
        if point.point_id in point_ids:
            raise ValueError(f"point {point.point_id!r} is mapped twice")
        point_ids.add(point.point_id)
        if point.series_key in series:
            raise ValueError(
                f"{point.series_key} is fed by both {series[point.series_key]!r} and "
                f"{point.point_id!r}"
            )
        series[point.series_key] = point.point_id


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


class _NoMatch(Exception):
    """A point auto_map cannot map; the message is the reason shown to the engineer."""


def auto_map(
    rack_ids: Iterable[str], cdu_ids: Iterable[str], metadata: Iterable[PointMetadata]
) -> AutoMapResult:
    """Propose mappings for the BMS points whose metadata names a plan rack or CDU.

    Names match ignoring case and separators (``name_key``). A point is left unmatched, with the
    reason, when its pointType has no FactoryFloor quantity, it names no plan entity or more than
    one, its unit is not the quantity's, it is on a CDU's primary (facility water) side, or an
    earlier point (in point-id order) already feeds the same series.
    """
    index = {"rack": _index(rack_ids), "cdu": _index(cdu_ids)}
    proposed: list[PointMapping] = []
    unmatched: list[Unmatched] = []
    fed: dict[str, str] = {}
    for point in sorted(metadata, key=lambda p: p.point_id):
        try:
            mapping = _map_point(point, index)
            if mapping.series_key in fed:
                raise _NoMatch(f"{mapping.series_key} is already fed by {fed[mapping.series_key]}")
        except _NoMatch as exc:
            unmatched.append(Unmatched(point, str(exc)))
            continue
        fed[mapping.series_key] = point.point_id
        proposed.append(mapping)
    return AutoMapResult(proposed, unmatched)


def _index(ids: Iterable[str]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for entity_id in ids:
        by_key.setdefault(name_key(entity_id), []).append(entity_id)
    return by_key


def _map_point(point: PointMetadata, index: Mapping[str, dict[str, list[str]]]) -> PointMapping:
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
    _check_unit(point, quantity)
    entity_id = _find_entity(names, index[kind], kind)
    try:
        return PointMapping(
            object_type=point.object_type,
            point_type=point.point_type,
            tag_path=point.tag_path,
            kind=kind,
            entity_id=entity_id,
            quantity=quantity,
        )
    except ValidationError as exc:  # e.g. a tag path longer than a design file takes
        raise _NoMatch(f"not storable in the design: {exc.errors()[0]['msg']}") from None


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
            return "supply_temp_c"
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


def _strings(fields: Mapping[str, Any], *names: str) -> list[str]:
    """The string values of the named fields, in order; list fields (servesId) contribute each."""
    found: list[str] = []
    for name in names:
        value = fields.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item:
                found.append(item)
    return found


def _check_unit(point: PointMetadata, quantity: str) -> None:
    unit = point.fields.get("engUnit")
    if not isinstance(unit, str):
        return  # state points (leak) carry stateText, not a unit
    suffix = "_" + quantity.rsplit("_", 1)[-1]
    spelled = unit.lower().replace("°", "").replace(" ", "")
    if suffix in UNITS and spelled not in UNITS[suffix]:
        raise _NoMatch(f"unit {unit!r} is not the {quantity} unit")


def _find_entity(names: list[str], index: Mapping[str, list[str]], kind: str) -> str:
    """The one plan id the first matching name names."""
    for name in names:
        candidates = index.get(name_key(name), [])
        if len(candidates) > 1:
            raise _NoMatch(f"{name!r} matches several plan {kind}s: {', '.join(candidates)}")
        if candidates:
            return candidates[0]
    shown = ", ".join(repr(name) for name in names) or "no name in the metadata"
    raise _NoMatch(f"no plan {kind} named {shown}")
