"""The GUI-backend protocol: every message survives the wire, and whatever does not read as
one message of this version is refused with a reason, never misread."""

from __future__ import annotations

import json
import pickle
from dataclasses import fields, is_dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factoryfloor.backend.service import embedded, messages
from factoryfloor.backend.service.flex import messages as grid_messages
from factoryfloor.backend.service.messages import (
    ApplyDesign,
    DesignApplied,
    Hello,
    HistorySent,
    Welcome,
)
from factoryfloor.backend.service.roles import ROLE_NAMES
from factoryfloor.backend.service.tuning import messages as tuning_messages
from factoryfloor.backend.telemetry import protocol
from factoryfloor.backend.telemetry.protocol import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    Accepted,
    EventsRaised,
    KeysAdded,
    Message,
    Notification,
    ProtocolError,
    Refused,
    Reply,
    Request,
    Result,
    Stop,
    decode,
    encode,
)
from factoryfloor.backend.telemetry.sink import SourceEvent

TEXT = st.text(max_size=30)
IDS = st.one_of(st.none(), TEXT)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
EVENTS = st.builds(SourceEvent, TEXT, st.sampled_from(["status", "rejected", "dropped"]), TEXT,
                   TEXT, st.floats(allow_nan=False, allow_infinity=False))  # fmt: skip
MESSAGES = st.one_of(
    st.builds(Stop, msg_id=TEXT),
    st.builds(Accepted, IDS, msg_id=TEXT),
    st.builds(Refused, IDS, TEXT, msg_id=TEXT),
    st.builds(Result, IDS, JSON_VALUES, msg_id=TEXT),
    st.builds(Hello, TEXT, TEXT, TEXT, TEXT),
    st.builds(
        Welcome, IDS, TEXT, st.sampled_from(ROLE_NAMES), TEXT, st.integers(0), st.integers(0)
    ),
    st.builds(ApplyDesign, TEXT, st.integers(0)),
    st.builds(
        HistorySent,
        IDS,
        st.lists(TEXT, max_size=3).map(tuple),
        st.lists(TEXT, max_size=3).map(tuple),
        st.lists(st.integers(1), max_size=3).map(tuple),
        st.integers(0),
    ),
    st.builds(DesignApplied, st.integers(0), TEXT),
    st.builds(KeysAdded, st.integers(min_value=0), st.lists(TEXT, max_size=5).map(tuple)),
    st.builds(EventsRaised, st.lists(EVENTS, max_size=3).map(tuple)),
)


@given(MESSAGES)
def test_every_message_type_reads_back_as_itself(message: Message) -> None:
    assert decode(encode(message)) == message  # dataclass equality: same type, same fields


def test_every_message_type_defined_is_listed_under_its_own_name() -> None:
    """A type left out of MESSAGE_TYPES could be sent but never read."""
    defined = {
        cls
        for module in (protocol, messages, embedded, tuning_messages, grid_messages)
        for cls in vars(module).values()
        if isinstance(cls, type) and is_dataclass(cls) and issubclass(cls, Message)
    } - {Message, Request, Reply, Notification}
    assert set(MESSAGE_TYPES.values()) == defined
    assert all(name == cls.msg_type for name, cls in MESSAGE_TYPES.items())


def test_messages_get_ids_of_their_own_and_replies_name_the_request() -> None:
    stop = Stop()
    reply = decode(encode(Accepted(stop.msg_id)))
    assert stop.msg_id != Stop().msg_id
    assert isinstance(reply, Accepted) and reply.in_reply_to == stop.msg_id
    assert reply.msg_id != stop.msg_id


def envelope(message: Message) -> dict:
    return json.loads(encode(message))


def refusal(data: bytes | dict) -> ProtocolError:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    with pytest.raises(ProtocolError) as caught:
        decode(raw)
    return caught.value


@pytest.mark.parametrize("version", [PROTOCOL_VERSION + 1, 0, "1", 1.0, True, None])
def test_a_message_of_another_version_is_refused_naming_both_versions(version) -> None:
    stop = Stop()
    wire = envelope(stop)
    wire["header"]["version"] = version
    error = refusal(wire)
    assert error.msg_id == stop.msg_id
    assert f"version {version!r}" in error.reason
    assert f"speaks version {PROTOCOL_VERSION}" in error.reason


def test_the_version_is_checked_before_the_type_or_the_content() -> None:
    """A later version may have other types and fields: those must not be what is reported."""
    wire = {"header": {"version": PROTOCOL_VERSION + 1, "msg_type": "acknowledge_alarm",
                       "msg_id": "a1"}, "content": {"alarm_id": 7}}  # fmt: skip
    assert "version" in refusal(wire).reason


def test_an_unknown_message_type_is_refused_by_name() -> None:
    wire = {"header": {"version": PROTOCOL_VERSION, "msg_type": "acknowledge_alarm",
                       "msg_id": "a1"}, "content": {"alarm_id": 7}}  # fmt: skip
    error = refusal(wire)
    assert (error.msg_id, error.reason) == ("a1", "unknown message type 'acknowledge_alarm'")


def with_content(message: Message, **changes) -> dict:
    wire = envelope(message)
    wire["content"].update(changes)
    return wire


def without(message: Message, field: str) -> dict:
    wire = envelope(message)
    del wire["content"][field]
    return wire


EXPLODED = {"source": "mqtt", "kind": "exploded", "subject": "s", "detail": "", "time_s": 0.0}
MALFORMED = {
    "not JSON": (b"\xff\x00stop", None, "not JSON"),
    "a pickled tuple": (pickle.dumps(("stop",)), None, "not JSON"),
    "nested past all reason": (b"[" * 100_000 + b"]" * 100_000, None, "not JSON"),
    "a JSON list": (b'["stop"]', None, "no header"),
    "no message id": (
        {"header": {"version": PROTOCOL_VERSION, "msg_type": "stop"}, "content": {}},
        None,
        "no msg_id",
    ),
    "no content": (
        {"header": {"version": PROTOCOL_VERSION, "msg_type": "stop", "msg_id": "s1"}},
        "s1",
        "malformed stop message",
    ),
    "a field the type lacks": (
        with_content(Stop(msg_id="s2"), force=True),
        "s2",
        "malformed stop message: force",
    ),
    "a field of the wrong type": (
        with_content(KeysAdded(0, ("a",), msg_id="k1"), keys=["a", 2]),
        "k1",
        "malformed keys_added message: keys.1",
    ),
    "a missing field": (
        without(Refused("s1", "why", msg_id="r1"), "reason"),
        "r1",
        "malformed refused message: reason",
    ),
    "an event of no known kind": (
        with_content(EventsRaised((), msg_id="e1"), events=[EXPLODED]),
        "e1",
        "malformed events_raised message: events.0.kind",
    ),
}


@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_input_is_refused_with_a_reason(case) -> None:
    data, msg_id, reason = case
    error = refusal(data)
    assert error.msg_id == msg_id
    assert reason in error.reason


def test_the_header_holds_version_type_and_id_and_the_content_every_other_field() -> None:
    """The header's layout is what lets any version read who sent what, and refuse it."""
    event = SourceEvent("nvml", "status", "GPU 0", "running", 1.5)
    message = EventsRaised((event,))
    wire = envelope(message)
    assert wire["header"] == {"version": PROTOCOL_VERSION, "msg_type": "events_raised",
                              "msg_id": message.msg_id}  # fmt: skip
    assert set(wire["content"]) == {f.name for f in fields(message)} - {"msg_id"}
