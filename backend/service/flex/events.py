"""The verified payloads of DSX Flex events, typed: load targets, power-state snapshots, breach
alerts, and the enforcement results FactoryFloor publishes.

Power travels as ``{value, unit}`` with unit watt, kilowatt or megawatt; here everything is W.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from factoryfloor.backend.service.flex.envelope import FlexError, iso_time, parse_time

LOAD_TARGET_SET = "grid.loadtarget.set.v1"
POWER_STATE_STATUS = "grid.powerstate.status.v1"
POWER_BREACH_ALERT = "grid.powerbreach.alert.v1"
POWER_BREACH_ENFORCEMENT = "grid.powerbreach.enforcement.v1"
UNIT_W = {"watt": 1.0, "kilowatt": 1e3, "megawatt": 1e6}


@dataclass(frozen=True, slots=True)
class LoadTarget:
    """One requested target: feeds (empty: all), the limit in W (None: lift the constraint),
    and the interval (end None: until replaced)."""

    feed_tags: tuple[str, ...]
    limit_w: float | None
    start_s: float
    end_s: float | None
    best_effort: bool
    correlation_id: str


@dataclass(frozen=True, slots=True)
class BreachAlert:
    feed_tag: str
    status: Literal["active", "escalated", "resolved"]
    severity: Literal["warning", "critical"]
    breach_id: str
    target_w: float
    measured_w: float


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """A feed as the DSX Flex agent reports it (``powerstate.status``)."""

    feed_tag: str
    calculated_load_w: float
    compliant: bool
    in_flight: bool


def power_w(value: object, topic: str, field: str) -> float:
    """``{value, unit}`` in W; FlexError naming ``field`` otherwise."""
    if not isinstance(value, dict):
        raise FlexError(topic, field, "must be {value, unit}")
    number, unit = value.get("value"), value.get("unit")
    if isinstance(number, bool) or not isinstance(number, int | float) or number < 0:
        raise FlexError(topic, f"{field}.value", "must be a number >= 0")
    if unit not in UNIT_W:
        raise FlexError(topic, f"{field}.unit", f"{unit!r}: watt, kilowatt or megawatt")
    return float(number) * UNIT_W[unit]


def load_targets(data: dict, topic: str, now_s: float, correlation_id: str) -> list[LoadTarget]:
    """The targets of a ``grid.loadtarget.set.v1`` payload."""
    targets = data.get("targets")
    if not isinstance(targets, list) or not targets:
        raise FlexError(topic, "data.targets", "must be a non-empty list")
    found = []
    for i, target in enumerate(targets):
        at = f"data.targets[{i}]"
        if not isinstance(target, dict):
            raise FlexError(topic, at, "must be an object")
        if "load_constraint" not in target:
            raise FlexError(topic, f"{at}.load_constraint", "missing (null lifts a constraint)")
        constraint = target["load_constraint"]
        limit_w = (
            None if constraint is None else power_w(constraint, topic, f"{at}.load_constraint")
        )
        if limit_w is not None and limit_w <= 0:
            raise FlexError(topic, f"{at}.load_constraint.value", "must be above 0")
        interval = target.get("interval")
        if not isinstance(interval, dict):
            raise FlexError(topic, f"{at}.interval", "missing or not an object")
        start_s = (parse_time(interval["start_time"], topic, f"{at}.interval.start_time")
                   if "start_time" in interval else now_s)  # fmt: skip
        end_s = (parse_time(interval["end_time"], topic, f"{at}.interval.end_time")
                 if interval.get("end_time") is not None else None)  # fmt: skip
        if end_s is not None and end_s <= start_s:
            raise FlexError(topic, f"{at}.interval.end_time", "must be after start_time")
        tags = target.get("feed_tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise FlexError(topic, f"{at}.feed_tags", "must be a list of feed names")
        strategy = target.get("strategy") or {}
        best_effort = bool(strategy.get("best_effort", False))
        found.append(LoadTarget(tuple(tags), limit_w, start_s, end_s, best_effort, correlation_id))
    return found


def breach_alert(data: dict, topic: str) -> BreachAlert:
    try:
        return BreachAlert(str(data["feed_tag"]), data["status"], data["severity"],
                           str(data["breach"]["breach_id"]),
                           power_w(data["target"]["load_constraint"], topic, "data.target"),
                           power_w(data["measured_load"], topic, "data.measured_load"))  # fmt: skip
    except (KeyError, TypeError) as error:
        raise FlexError(topic, "data", f"breach alert incomplete ({error})") from None


def feed_statuses(data: dict, topic: str) -> list[FeedStatus]:
    feeds = data.get("feeds")
    if not isinstance(feeds, dict):
        raise FlexError(topic, "data.feeds", "must be an object of feed states")
    try:
        return [FeedStatus(tag, power_w(state["calculated_load"], topic,
                                        f"data.feeds.{tag}.calculated_load"),
                           bool(state["compliant"]), bool(state["in_flight"]))
                for tag, state in feeds.items()]  # fmt: skip
    except (KeyError, TypeError) as error:
        raise FlexError(topic, "data.feeds", f"feed state incomplete ({error})") from None


@dataclass(frozen=True, slots=True)
class ResourceResult:
    """One rack's part of an enforcement: applied, failed or skipped, and the power it now
    holds to (its GPUs' caps times their count)."""

    resource_id: str
    code: Literal["applied", "failed", "skipped"]
    applied_power_w: float | None
    message: str = ""


def enforcement_data(
    breach_id: str,
    feed_tag: str,
    action: Literal["applied", "reverted"],
    results: list[ResourceResult],
    time_s: float,
    diag_msg: str,
) -> dict:
    """A ``grid.powerbreach.enforcement.v1`` payload. A rack is a ``chassis`` resource (the
    contract's node, gpu or chassis); the action is a power cap."""
    codes = {r.code for r in results}
    overall = "success" if codes <= {"applied", "skipped"} else (
        "error" if "applied" not in codes else "partial")  # fmt: skip
    rows = []
    for r in results:
        row = {"resource_id": r.resource_id, "resource_type": "chassis",
               "requested_action": "power_cap", "code": r.code}  # fmt: skip
        if r.message:
            row["message"] = r.message
        if r.applied_power_w is not None:
            row["applied_power"] = {"value": round(r.applied_power_w, 1), "unit": "watt"}
        rows.append(row)
    return {"breach_id": breach_id, "feed_tag": feed_tag, "action": action, "code": overall,
            "diag_msg": diag_msg, "results": rows, "timestamp": iso_time(time_s)}  # fmt: skip
