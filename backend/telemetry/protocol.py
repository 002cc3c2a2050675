"""The messages between a window and its service: one envelope, versioned and typed.

Every message is a frozen dataclass with an id of its own. On the wire (the service's sockets,
and the pipe to an embedded service) it travels as JSON in a fixed envelope, after the Jupyter
kernel protocol's header::

    {"header": {"version": 2, "msg_type": "stop", "msg_id": "..."}, "content": {...}}

JSON rather than pickles, so neither end ever builds objects the other chose: bytes that do not
read as one of this version's message types, with its fields (no more, no fewer) of their
types, are refused with a reason, never misread.

There are three kinds of message:

- ``Request``: from a window to the service, which answers each one it reads with one reply.
- ``Reply``: from the service; ``in_reply_to`` is the request's ``msg_id``. ``Accepted`` (being
  done, nothing to return), ``Refused`` (with the reason; also the answer to anything
  unreadable, or to a message the service does not take), or ``Result`` (done, with the answer).
- ``Notification``: from the service on its own, never answered: new series keys, source
  events, a design applied.

Versions: the header has the same three fields in every version, so either end can always tell
what it was sent, and from which version. ``PROTOCOL_VERSION`` must match exactly (a window is
told both versions when it does not); it goes up when an existing message's fields or meaning
change. A new message type needs no new version: an end that does not know it refuses it by
name. A new command (acknowledging an alarm, a control action, a history query) is a
``Request`` subclass, ``register``-ed, and a case in the service's handler.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import ConfigDict, JsonValue, TypeAdapter, ValidationError

from factoryfloor.backend.telemetry.sink import SourceEvent

PROTOCOL_VERSION = 2
"""2: the window attaches to a service over ZeroMQ (``backend.service.messages``); 1 read a
shared-memory frame table."""


def new_msg_id() -> str:
    """A random id: unique across both processes, and across restarts."""
    return uuid.uuid4().hex


class ProtocolError(ValueError):
    """Bytes that do not read as a message of this protocol version.

    ``msg_id`` is the message's own id when that much could be read, so the refusal can still
    be matched to the request; None when it could not."""

    def __init__(self, reason: str, msg_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.msg_id = msg_id


@dataclass(frozen=True, slots=True)
class Message:
    """Anything that crosses between a window and its service."""

    msg_type: ClassVar[str]
    """The header's name for this type: the key of ``MESSAGE_TYPES``."""
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")
    """Fields the type does not have make a message malformed, rather than being dropped."""
    msg_id: str = field(default_factory=new_msg_id, kw_only=True)


@dataclass(frozen=True, slots=True)
class Request(Message):
    """Sent by a window; the service answers it with one ``Reply``."""


@dataclass(frozen=True, slots=True)
class Reply(Message):
    """The service's answer to one request."""

    in_reply_to: str | None
    """The request's ``msg_id``; None only when a refused message had no readable id."""


@dataclass(frozen=True, slots=True)
class Notification(Message):
    """Sent by the service on its own; not answered."""


# --- Requests -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stop(Request):
    """Stop the sources and exit (a window to the service it embeds, over their pipe)."""

    msg_type: ClassVar[str] = "stop"


# --- Replies ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accepted(Reply):
    """The request is being carried out; it has nothing to return."""

    msg_type: ClassVar[str] = "accepted"


@dataclass(frozen=True, slots=True)
class Refused(Reply):
    """The request was not carried out (unreadable, another version, unknown or not taken)."""

    msg_type: ClassVar[str] = "refused"
    reason: str


@dataclass(frozen=True, slots=True)
class Result(Reply):
    """The request was carried out, and this is its answer."""

    msg_type: ClassVar[str] = "result"
    value: JsonValue


# --- Notifications ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeysAdded(Notification):
    """Series keys for the frames' columns from ``start`` on (earlier ones never move)."""

    msg_type: ClassVar[str] = "keys_added"
    start: int
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventsRaised(Notification):
    """Source events (status changes, rejected payloads, dropped readings) since the last."""

    msg_type: ClassVar[str] = "events_raised"
    events: tuple[SourceEvent, ...]


@dataclass(frozen=True, slots=True)
class BackendFailed(Notification):
    """The service is exiting on an error it could not serve past: why, for the operator."""

    msg_type: ClassVar[str] = "backend_failed"
    reason: str


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.msg_type: cls
    for cls in (
        Stop,
        Accepted,
        Refused,
        Result,
        KeysAdded,
        EventsRaised,
        BackendFailed,
    )
}
_ADAPTERS: dict[type[Message], TypeAdapter] = {
    cls: TypeAdapter(cls) for cls in MESSAGE_TYPES.values()
}


def register(*classes: type[Message]) -> None:
    """Add message types defined by a higher layer (the service's link to its windows), so
    they travel in the same envelope and are checked the same way."""
    for cls in classes:
        if MESSAGE_TYPES.get(cls.msg_type, cls) is not cls:
            raise ValueError(f"message type {cls.msg_type!r} is registered already")
        MESSAGE_TYPES[cls.msg_type] = cls
        _ADAPTERS[cls] = TypeAdapter(cls)


def encode(message: Message) -> bytes:
    """The message as the bytes of one JSON envelope."""
    content = _ADAPTERS[type(message)].dump_python(message, mode="json")
    header = {"version": PROTOCOL_VERSION, "msg_type": message.msg_type,
              "msg_id": content.pop("msg_id")}  # fmt: skip
    return json.dumps({"header": header, "content": content}, separators=(",", ":")).encode()


def decode(data: bytes) -> Message:
    """The message in ``data``; ProtocolError, with the reason, if it does not read as one of
    this version's messages. The version is checked before the type and the content."""
    try:
        envelope = json.loads(data)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past all reason
        raise ProtocolError("not a protocol message: not JSON") from None
    header = envelope.get("header") if isinstance(envelope, dict) else None
    if not isinstance(header, dict):
        raise ProtocolError("not a protocol message: no header")
    msg_id = header.get("msg_id")
    msg_id = msg_id if isinstance(msg_id, str) else None
    version = header.get("version")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r} is not spoken here: this end speaks "
                            f"version {PROTOCOL_VERSION}", msg_id)  # fmt: skip
    if msg_id is None:
        raise ProtocolError("malformed header: no msg_id")
    msg_type = header.get("msg_type")
    cls = MESSAGE_TYPES.get(msg_type) if isinstance(msg_type, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {msg_type!r}", msg_id)
    content = envelope.get("content")
    if not isinstance(content, dict) or "msg_id" in content:
        raise ProtocolError(f"malformed {msg_type} message: content is not its fields", msg_id)
    try:
        return _ADAPTERS[cls].validate_python({**content, "msg_id": msg_id})
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'content'}: {e['msg']}"
                             for e in error.errors())  # fmt: skip
        raise ProtocolError(f"malformed {msg_type} message: {problems}", msg_id) from None
