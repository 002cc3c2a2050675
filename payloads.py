"""The four DSX Flex 1.7 payloads, typed, in W and UTC: read from a verified ``data``
(``SetLoadTargetData``, ``PowerStateStatusData``, ``PowerBreachAlertData``) or written for one we
publish (``PowerBreachEnforcementData``). A bad payload is a FlexError naming its path
(``targets[0].load_constraint.unit``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from factoryfloor.backend.service.flex.envelope import FlexError, format_time, parse_time

UNIT_W = {"watt": 1.0, "kilowatt": 1e3, "megawatt": 1e6}


@dataclass(frozen=True, slots=True)
class LoadTarget:
    """One requested target: hold ``feed_tags`` (empty: every feed) to ``constraint_w`` from
    ``start`` to ``end`` (None: until replaced); ``constraint_w`` None lifts any target."""

    feed_tags: tuple[str, ...]
    constraint_w: float | None
    start: datetime
    end: datetime | None
    best_effort: bool = False


@dataclass(frozen=True, slots=True)
class LoadTargetSet:
    targets: tuple[LoadTarget, ...]


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """What the DSX Flex agent says of one feed: its own load figure and compliance."""

    calculated_load_w: float
    compliant: bool
    in_flight: bool
    event: str


@dataclass(frozen=True, slots=True)
class PowerStateStatus:
    snapshot_time: datetime
    feeds: Mapping[str, FeedStatus]


BreachStatus = Literal["active", "escalated", "resolved"]


@dataclass(frozen=True, slots=True)
class BreachAlert:
    feed_tag: str
    status: BreachStatus
    severity: Literal["warning", "critical"]
    breach_id: str
    detected_at: datetime
    correlation_id: str
    constraint_w: float
    measured_load_w: float


ResultCode = Literal["applied", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class EnforcementResult:
    """One resource (a rack's GPUs, capped together: resource_type ``chassis``)."""

    resource_id: str
    code: ResultCode
    message: str
    applied_power_w: float | None

    def to_json(self) -> dict:
        out: dict = {"resource_id": self.resource_id, "resource_type": "chassis",
                     "requested_action": "power_cap", "code": self.code, "message": self.message}  # fmt: skip
        if self.applied_power_w is not None:
            out["applied_power"] = {"value": self.applied_power_w, "unit": "watt"}
        return out


@dataclass(frozen=True, slots=True)
class Enforcement:
    breach_id: str
    feed_tag: str
    action: Literal["applied", "reverted"]
    results: tuple[EnforcementResult, ...]
    timestamp: datetime
    diag_msg: str = ""

    @property
    def code(self) -> Literal["success", "partial", "error"]:
        codes = {r.code for r in self.results}
        if "failed" not in codes:
            return "success"
        return "error" if codes == {"failed"} else "partial"

    def to_json(self) -> dict:
        return {"breach_id": self.breach_id, "feed_tag": self.feed_tag, "action": self.action,
                "code": self.code, "diag_msg": self.diag_msg,
                "results": [r.to_json() for r in self.results],
                "timestamp": format_time(self.timestamp)}  # fmt: skip


class _Reader:
    """Typed reads from a JSON payload, each error naming the topic and the path."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def fail(self, path: str, reason: str) -> FlexError:
        return FlexError(self.topic, path, reason)

    def obj(self, value: object, path: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, "not an object")
        return value

    def get(self, raw: dict, name: str, path: str) -> object:
        if name not in raw:
            raise self.fail(f"{path}.{name}".lstrip("."), "missing")
        return raw[name]

    def string(self, raw: dict, name: str, path: str) -> str:
        value = self.get(raw, name, path)
        if not isinstance(value, str):
            raise self.fail(f"{path}.{name}".lstrip("."), "not a string")
        return value

    def boolean(self, raw: dict, name: str, path: str, default: bool | None = None) -> bool:
        if default is not None and name not in raw:
            return default
        value = self.get(raw, name, path)
        if not isinstance(value, bool):
            raise self.fail(f"{path}.{name}".lstrip("."), "not true or false")
        return value

    def time(self, raw: dict, name: str, path: str) -> datetime:
        text = self.string(raw, name, path)
        try:
            return parse_time(text)
        except ValueError:
            raise self.fail(
                f"{path}.{name}".lstrip("."), f"not an ISO 8601 time: {text!r}"
            ) from None

    def power_w(self, value: object, path: str) -> float:
        raw = self.obj(value, path)
        number = self.get(raw, "value", path)
        unit = self.get(raw, "unit", path)
        if isinstance(number, bool) or not isinstance(number, int | float) or number < 0:
            raise self.fail(f"{path}.value", f"not a power >= 0: {number!r}")
        if unit not in UNIT_W:
            raise self.fail(f"{path}.unit", f"{unit!r} is not watt, kilowatt or megawatt")
        return float(number) * UNIT_W[unit]  # type: ignore[index]

    def choice(self, raw: dict, name: str, path: str, allowed: tuple[str, ...]) -> str:
        value = self.string(raw, name, path)
        if value not in allowed:
            raise self.fail(f"{path}.{name}".lstrip("."), f"{value!r} is not one of {allowed}")
        return value


def load_target_set(topic: str, raw: dict, now: datetime) -> LoadTargetSet:
    """``SetLoadTargetData``; a target without a start starts ``now``."""
    read = _Reader(topic)
    targets = read.get(raw, "targets", "")
    if not isinstance(targets, list) or not targets:
        raise read.fail("targets", "not a list of at least one target")
    out = []
    for i, item in enumerate(targets):
        path = f"targets[{i}]"
        target = read.obj(item, path)
        interval = read.obj(read.get(target, "interval", path), f"{path}.interval")
        start = (read.time(interval, "start_time", f"{path}.interval")
                 if "start_time" in interval else now)  # fmt: skip
        end = (
            read.time(interval, "end_time", f"{path}.interval") if "end_time" in interval else None
        )
        if end is not None and end <= start:
            raise read.fail(f"{path}.interval.end_time", "not after start_time")
        tags = target.get("feed_tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise read.fail(f"{path}.feed_tags", "not a list of feed identifiers")
        constraint = read.get(target, "load_constraint", path)
        constraint_w = (
            None if constraint is None else read.power_w(constraint, f"{path}.load_constraint")
        )
        if constraint_w == 0:
            raise read.fail(f"{path}.load_constraint.value", "must be > 0")
        strategy = read.obj(target.get("strategy", {}), f"{path}.strategy")
        best_effort = read.boolean(strategy, "best_effort", f"{path}.strategy", default=False)
        out.append(LoadTarget(tuple(tags), constraint_w, start, end, best_effort))
    return LoadTargetSet(tuple(out))


def power_state_status(topic: str, raw: dict) -> PowerStateStatus:
    read = _Reader(topic)
    feeds = read.obj(read.get(raw, "feeds", ""), "feeds")
    out = {}
    for tag, item in feeds.items():
        path = f"feeds.{tag}"
        state = read.obj(item, path)
        out[tag] = FeedStatus(read.power_w(read.get(state, "calculated_load", path),
                                           f"{path}.calculated_load"),
                              read.boolean(state, "compliant", path),
                              read.boolean(state, "in_flight", path),
                              read.string(state, "event", path))  # fmt: skip
    return PowerStateStatus(read.time(raw, "snapshot_time", ""), out)


def breach_alert(topic: str, raw: dict) -> BreachAlert:
    read = _Reader(topic)
    breach = read.obj(read.get(raw, "breach", ""), "breach")
    target = read.obj(read.get(raw, "target", ""), "target")
    return BreachAlert(
        read.string(raw, "feed_tag", ""),
        read.choice(raw, "status", "", ("active", "escalated", "resolved")),  # type: ignore[arg-type]
        read.choice(raw, "severity", "", ("warning", "critical")),  # type: ignore[arg-type]
        read.string(breach, "breach_id", "breach"),
        read.time(breach, "detected_at", "breach"),
        read.string(target, "correlation_id", "target"),
        read.power_w(read.get(target, "load_constraint", "target"), "target.load_constraint"),
        read.power_w(read.get(raw, "measured_load", ""), "measured_load"),
    )
