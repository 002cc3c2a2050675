"""Decoding of MQTT telemetry payloads into reading columns, refusing anything malformed.

Payloads come from devices we do not control, so every decoder checks the size before parsing
(a 100 MB message must not reach the JSON parser), insists on UTF-8 JSON without NaN, Infinity
or an object with a key twice, and checks each field's type. A refusal is a
:class:`PayloadError` whose ``reason`` is one short sentence naming the field at fault (or the
duplicated key); the source counts it per topic and carries on.

Readings are appended straight into :class:`Columns`, the parallel lists a ``TelemetrySink``
takes, because ingest runs at tens of thousands of readings per second and one tuple or object
per reading would cost more than the decoding itself. A decoder that fails half way through a
message truncates what it appended, so a message is taken whole or not at all.

Formats (times are epoch seconds unless the field name says otherwise):

- DSX BMS Event Bus value: ``{"value": 22.96, "timestamp": 1743620423000, "quality": 1}``,
  ``timestamp`` in epoch milliseconds; a null value is a reading of NaN with quality 0.
- Node agent GPU batch: ``{"ts": 1732300000.25, "seq": 1812, "gpus": [{"index": 0, "uuid":
  "GPU-...", "util_pct": 97, "power_w": 652.1, ...}]}``: one reading per known quantity per GPU,
  keyed ``gpu/{node}/{index}/{quantity}``; unknown fields are ignored so that newer agents can
  send more; null is NaN with quality 0.
- Plain readings, a series key each: one ``{"key": "gpu/node-17/0/power_w", "value": 641.2,
  "ts": 1732300000.25, "quality": 1}``
  (``quality`` optional, default 1; ``seq`` optional) or a batch ``{"ts": ..., "seq": ...,
  "readings": [{"key": ..., "value": ..., "ts": ..., "quality": ...}, ...]}`` whose readings
  may leave out ``ts`` (the batch's) and ``quality``. Here a key need only look like one; which
  keys a topic may write is the source's rule (``topic_authority``: a node, its own GPUs').
- Node status (the agent's birth message and last will): ``{"online": true|false, ...}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

from factoryfloor.backend.telemetry.series import gpu_prefix
from factoryfloor.backend.telemetry.sink import GOOD

MAX_PAYLOAD_BYTES = 256 * 1024
"""Larger messages are refused unread: no telemetry message needs more."""

MAX_KEY_CHARS = 200
BAD = 0
"""Quality of a reading the publisher says it has no valid value for (null)."""

EPOCH_MS_RANGE = (1e11, 1e13)
"""1973 to 2286 in epoch milliseconds; outside it, a DSX timestamp was sent in s or us."""

GPU_QUANTITIES = frozenset(
    (
        "util_pct",
        "mem_util_pct",
        "mem_used_bytes",
        "mem_total_bytes",
        "temp_c",
        "mem_temp_c",
        "power_w",
        "power_instant_w",
        "energy_j",
        "sm_clock_mhz",
        "mem_clock_mhz",
        "clock_event_reasons",
        "pstate",
        "ecc_volatile_total",
        "power_limit_w",
        "power_limit_min_w",
        "power_limit_max_w",
        "pcie_tx_kbps",
        "pcie_rx_kbps",
    )
)
"""The ``gpu/{node}/{index}/{quantity}`` quantities of the series-key convention (sink.py)."""


_T = TypeVar("_T")


class PayloadError(ValueError):
    """A payload refused; ``reason`` says why in words an operator can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Columns:
    """Readings as the parallel lists ``TelemetrySink.write`` takes."""

    keys: list[str] = field(default_factory=list)
    times_s: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.keys)

    def append(self, key: str, time_s: float, value: float, quality: int) -> None:
        self.keys.append(key)
        self.times_s.append(time_s)
        self.values.append(value)
        self.quality.append(quality)

    def truncate(self, length: int) -> None:
        """Drop everything after the first ``length`` readings (undo a half-decoded message)."""
        del self.keys[length:], self.times_s[length:], self.values[length:]
        del self.quality[length:]


def _refuse_constant(name: str) -> NoReturn:
    raise PayloadError(f"{name} is not a number JSON allows")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise PayloadError(f"duplicate key {name!r}")
            seen.add(name)
    return document


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_STRICT_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates
)
"""Slower than ``_DECODER`` by a Python call per object, so only for ``_check_keys``'s doubts."""


_UNACCEPTED = "not JSON this decoder accepts (number too long or nesting too deep)"


def _parse(payload: bytes) -> tuple[Any, str]:
    """The document and its text: size checked first, then UTF-8, then syntax; keys unchecked.

    Reasons name no sizes or offsets, so that one broken publisher adds up under one reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"too large: over the limit of {MAX_PAYLOAD_BYTES} bytes")
    try:
        text = payload.decode()
    except UnicodeDecodeError as exc:
        raise PayloadError(f"not UTF-8 ({exc.reason})") from None
    try:
        return _DECODER.decode(text), text
    except PayloadError:
        raise
    except json.JSONDecodeError as exc:
        raise PayloadError(f"not JSON ({exc.msg})") from None
    except (ValueError, RecursionError):  # an integer of over 4,300 digits; nesting too deep
        raise PayloadError(_UNACCEPTED) from None


def _check_keys(text: str, keys_seen: int) -> None:
    """Refuse the document in ``text`` if one of its objects has a key twice.

    A decoded object keeps the last of a duplicated key, so duplicates show as fewer keys than
    the text has. Each key is followed by one colon, and colons elsewhere are only inside
    strings, so the text's colons are at least its keys; ``keys_seen`` is the sum of the
    lengths of some of the decoded objects (distinct ones), at most the decoded keys. If the
    two are equal every key of the text is in a decoded object, and there is no duplicate. If
    not (a colon in a string, an object the caller did not count, or a duplicate), the text is
    parsed again with a hook that looks at every object's keys: exact, but slower, so it is
    only for these doubtful cases."""
    if text.count(":") != keys_seen:
        try:
            _STRICT_DECODER.decode(text)
        except RecursionError:  # nested almost as deep as _DECODER allows
            raise PayloadError(_UNACCEPTED) from None


def _duplicates_first(text: str, refusal: PayloadError) -> PayloadError:
    """A decoder that checks the keys after the fields (counting them on the way) refuses a
    document with a key twice for that, not for whatever field check failed first."""
    if not refusal.reason.startswith("duplicate key"):
        _check_keys(text, -1)
    return refusal


def _key_count(value: object) -> int:
    """How many keys the objects in a decoded document have, all told."""
    kind = type(value)
    if kind is dict:
        count, value = len(value), value.values()  # type: ignore[attr-defined]
    elif kind is list:
        count = 0
    else:
        return 0
    for item in value:  # type: ignore[attr-defined]
        if type(item) is dict or type(item) is list:
            count += _key_count(item)
    return count


def parse_json(payload: bytes) -> Any:
    """The JSON document in ``payload``: size checked first, then UTF-8, then syntax, then that
    no object has a key twice (JSON that does is malformed; which value was meant is unknown).

    Reasons name no sizes or offsets, so that one broken publisher adds up under one reason."""
    document, text = _parse(payload)
    _check_all_keys(document, text)
    return document


def _check_all_keys(document: object, text: str) -> None:
    if type(document) is dict and text.count(":") == len(document):
        return  # the common flat object: its keys are all the text has
    try:
        keys_seen = _key_count(document)
    except RecursionError:  # nested almost as deep as _DECODER allows: _check_keys decides
        keys_seen = -1
    _check_keys(text, keys_seen)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _object(document: object, what: str) -> dict[str, Any]:
    if type(document) is not dict:
        raise PayloadError(f"{what}: expected an object, got {_type_name(document)}")
    return document


def _required(document: dict[str, Any], name: str, what: str) -> Any:
    try:
        return document[name]
    except KeyError:
        raise PayloadError(f"{what}: missing field {name!r}") from None


def _number(value: object, what: str) -> float:
    """A finite float from a JSON number (true and false are not numbers here)."""
    kind = type(value)
    if kind is int:
        try:
            value = float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise PayloadError(f"{what}: number out of range") from None
    elif kind is not float:
        raise PayloadError(f"{what}: expected a number, got {_type_name(value)}")
    if value - value != 0.0:  # type: ignore[operator]  # inf (JSON 1e999) or nan
        raise PayloadError(f"{what}: number out of range")
    return value  # type: ignore[return-value]


def _integer(value: object, what: str, minimum: int | None = 0) -> int:
    if type(value) is not int:
        raise PayloadError(f"{what}: expected an integer, got {_type_name(value)}")
    if minimum is not None and value < minimum:
        raise PayloadError(f"{what}: must be at least {minimum}")
    return value


def _value_and_quality(value: object, quality: int, what: str) -> tuple[float, int]:
    """A reading's value; null (the publisher has no valid value) is NaN with quality BAD."""
    if value is None:
        return math.nan, BAD
    return _number(value, what), quality


def _all_or_nothing(out: Columns, fill: Callable[..., _T], *args: Any) -> _T:
    """``fill(*args, out)``, undoing its partial output if it refuses the message."""
    start = len(out)
    try:
        return fill(*args, out)
    except PayloadError:
        out.truncate(start)
        raise
    except OverflowError:
        out.truncate(start)
        raise PayloadError("a number is out of range") from None


def decode_dsx_value(payload: bytes) -> tuple[float, float, int]:
    """(time_s, value, quality) of a DSX BMS Event Bus value message."""
    document = _object(parse_json(payload), "payload")
    timestamp_ms = _number(_required(document, "timestamp", "payload"), "timestamp")
    if not EPOCH_MS_RANGE[0] <= timestamp_ms <= EPOCH_MS_RANGE[1]:
        raise PayloadError("timestamp: expected epoch milliseconds (years 1973 to 2286)")
    quality = _integer(_required(document, "quality", "payload"), "quality", minimum=None)
    value, quality = _value_and_quality(_required(document, "value", "payload"), quality, "value")
    return timestamp_ms / 1000.0, value, quality


def encode_dsx_value(value: float, time_s: float, quality: int = GOOD) -> bytes:
    """A DSX BMS Event Bus value message, as this integration's requests and the simulated BMS
    publish it (``decode_dsx_value`` reads it back)."""
    document = {"value": value, "timestamp": round(time_s * 1000.0), "quality": quality}
    return json.dumps(document).encode()


def decode_metadata(payload: bytes) -> dict[str, Any]:
    """The fields of a DSX metadata message (a JSON object; which fields matter is auto_map's)."""
    return _object(parse_json(payload), "payload")


def decode_node_status(payload: bytes) -> bool:
    """Whether a node agent's birth or last-will message says it is online."""
    online = _required(_object(parse_json(payload), "payload"), "online", "payload")
    if type(online) is not bool:
        raise PayloadError(f"online: expected true or false, got {_type_name(online)}")
    return online


def decode_node_gpus(payload: bytes, node_id: str, out: Columns) -> int:
    """Append a node agent's GPU batch to ``out``; returns the batch's sequence number."""
    document, text = _parse(payload)
    try:
        return _all_or_nothing(out, _append_gpus, _object(document, "payload"), text, node_id)
    except PayloadError as exc:
        raise _duplicates_first(text, exc) from None


def _append_gpus(document: dict[str, Any], text: str, node_id: str, out: Columns) -> int:
    time_s = _number(_required(document, "ts", "payload"), "ts")
    seq = _integer(_required(document, "seq", "payload"), "seq")
    gpus = _required(document, "gpus", "payload")
    if type(gpus) is not list:
        raise PayloadError(f"gpus: expected a list, got {_type_name(gpus)}")
    keys, times_s, values, qualities = out.keys, out.times_s, out.values, out.quality
    keys_seen = len(document)
    for position, gpu in enumerate(gpus):
        what = f"gpus[{position}]"
        gpu = _object(gpu, what)
        keys_seen += len(gpu)
        prefix = gpu_prefix(node_id, _integer(_required(gpu, "index", what), what + ".index"))
        for name, raw in gpu.items():
            if name not in GPU_QUANTITIES:
                continue
            kind = type(raw)
            if kind is float and raw - raw == 0.0:  # the common cases, checked inline for speed
                value, quality = raw, GOOD
            elif kind is int:  # float() of an int beyond 1e308 raises OverflowError
                value, quality = float(raw), GOOD
            else:
                value, quality = _value_and_quality(raw, GOOD, f"{what}.{name}")
            keys.append(prefix + name)
            times_s.append(time_s)
            values.append(value)
            qualities.append(quality)
    _check_keys(text, keys_seen)
    return seq


def decode_readings(payload: bytes, out: Columns) -> int | None:
    """Append one plain reading or a batch of them to ``out``; returns ``seq`` if present."""
    document, text = _parse(payload)
    try:
        document = _object(document, "payload")
        seq = document.get("seq")
        if seq is not None:
            seq = _integer(seq, "seq")
        if "readings" in document:
            _all_or_nothing(out, _append_batch, document, text)
        else:
            _check_all_keys(document, text)
            _append_reading(document, None, "payload", out)
    except PayloadError as exc:
        raise _duplicates_first(text, exc) from None
    return seq


def _append_batch(document: dict[str, Any], text: str, out: Columns) -> None:
    """The readings of a batch. Those with just a series key and a finite float value, the
    common case, are checked inline (a third of the cost); any other goes through
    ``_append_reading``, which takes it or names what is wrong with it. The keys are counted
    for ``_check_keys`` without a step per common reading: each has two."""
    batch_time_s = _number(_required(document, "ts", "payload"), "ts")
    readings = document["readings"]
    if type(readings) is not list:
        raise PayloadError(f"readings: expected a list, got {_type_name(readings)}")
    keys, times_s, values, qualities = out.keys, out.times_s, out.values, out.quality
    start, others, other_keys = len(keys), 0, 0
    for position, reading in enumerate(readings):
        if type(reading) is dict and len(reading) == 2:
            key = reading.get("key")
            value = reading.get("value")
            if (
                type(key) is str
                and type(value) is float
                and value - value == 0.0
                and "/" in key
                and len(key) <= MAX_KEY_CHARS
            ):
                keys.append(key)
                times_s.append(batch_time_s)
                values.append(value)
                qualities.append(GOOD)
                continue
        what = f"readings[{position}]"
        _append_reading(_object(reading, what), batch_time_s, what, out)
        others += 1
        other_keys += len(reading)
    _check_keys(text, len(document) + 2 * (len(keys) - start - others) + other_keys)


def _append_reading(
    reading: dict[str, Any], default_time_s: float | None, what: str, out: Columns
) -> None:
    key = _required(reading, "key", what)
    if type(key) is not str or not 0 < len(key) <= MAX_KEY_CHARS or "/" not in key:
        raise PayloadError(f"{what}.key: expected a series key such as 'rack/A-07/power_kw'")
    raw_time = reading.get("ts", default_time_s)
    if raw_time is None:
        raise PayloadError(f"{what}: missing field 'ts'")
    time_s = _number(raw_time, f"{what}.ts")
    quality = _integer(reading.get("quality", GOOD), f"{what}.quality", minimum=None)
    value, quality = _value_and_quality(_required(reading, "value", what), quality, f"{what}.value")
    out.append(key, time_s, value, quality)
