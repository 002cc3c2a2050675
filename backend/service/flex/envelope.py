"""The CloudEvents 1.0.2 envelope of every DSX Flex message, in MQTT 3.1.1 structured mode: the
whole event is the PUBLISH payload as JSON, and its ``data`` a JWS compact serialisation.

Reading checks each attribute the contract requires and says which one is wrong and why, with
the topic it came on; nothing of a malformed event is used.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

SPEC_VERSION = "1.0.2"
SOURCE = re.compile(r"^//grid/v1/(isv|dsx-flex-agent|infra)/[^/]+$")
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
JWS_COMPACT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
REQUIRED = ("specversion", "id", "source", "type", "time", "datacontenttype", "subject",
            "traceparent", "data")  # fmt: skip


class FlexError(ValueError):
    """An event refused: the topic, the field and the reason, in one sentence."""

    def __init__(self, topic: str, field: str, reason: str) -> None:
        super().__init__(f"{topic}: {field}: {reason}")
        self.topic, self.field, self.reason = topic, field, reason


@dataclass(frozen=True, slots=True)
class CloudEvent:
    id: str
    source: str
    type: str
    time_s: float
    subject: str
    traceparent: str
    data: str
    """The JWS compact serialisation: verified before anything in it is read."""
    correlationid: str = ""


def parse_time(text: object, topic: str, field: str) -> float:
    """An ISO 8601 timestamp as Unix seconds (UTC when no offset is given)."""
    if not isinstance(text, str):
        raise FlexError(topic, field, "must be an ISO 8601 timestamp")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FlexError(topic, field, f"{text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso_time(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, UTC).isoformat().replace("+00:00", "Z")


def read_event(topic: str, payload: bytes) -> CloudEvent:
    """The envelope of ``payload``; FlexError naming the attribute that is wrong."""
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise FlexError(topic, "payload", f"not JSON ({error})") from None
    if not isinstance(event, dict):
        raise FlexError(topic, "payload", "must be a JSON object (a structured CloudEvent)")
    for name in REQUIRED:
        if name not in event:
            raise FlexError(topic, name, "missing (required by CloudEvents and DSX Flex)")
        if not isinstance(event[name], str):
            raise FlexError(topic, name, "must be a string")
    if event["specversion"] != SPEC_VERSION:
        raise FlexError(
            topic, "specversion", f"{event['specversion']!r}, expected {SPEC_VERSION!r}"
        )
    if event["datacontenttype"] != "application/json":
        raise FlexError(topic, "datacontenttype", "must be application/json")
    if not SOURCE.match(event["source"]):
        raise FlexError(topic, "source", f"{event['source']!r} is not //grid/v1/<role>/<id>")
    if not TRACEPARENT.match(event["traceparent"]):
        raise FlexError(topic, "traceparent", "not a W3C trace context")
    if not JWS_COMPACT.match(event["data"]):
        raise FlexError(
            topic, "data", "not a JWS compact serialisation: unsigned events are refused"
        )
    correlation = event.get("correlationid", "")
    if not isinstance(correlation, str):
        raise FlexError(topic, "correlationid", "must be a string")
    return CloudEvent(event["id"], event["source"], event["type"],
                      parse_time(event["time"], topic, "time"), event["subject"],
                      event["traceparent"], event["data"], correlation)  # fmt: skip


def build_event(source: str, event_type: str, subject: str, data_jws: str, time_s: float,
                correlationid: str = "") -> bytes:  # fmt: skip
    """A structured CloudEvent ready to publish, with a fresh id and trace context."""
    event = {
        "specversion": SPEC_VERSION,
        "id": str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": iso_time(time_s),
        "datacontenttype": "application/json",
        "subject": subject,
        "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        "data": data_jws,
    }
    if correlationid:
        event["correlationid"] = correlationid
    return json.dumps(event).encode()
