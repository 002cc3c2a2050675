"""Payload decoders: good messages become readings; each malformed kind is refused with a reason."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest

from factoryfloor.backend.telemetry.sources.payloads import (
    MAX_PAYLOAD_BYTES,
    Columns,
    PayloadError,
    decode_dsx_value,
    decode_metadata,
    decode_node_gpus,
    decode_node_status,
    decode_readings,
    parse_json,
)


def encoded(document: object) -> bytes:
    return json.dumps(document).encode()


def refusal(decode: Callable[[bytes], object], payload: bytes) -> str:
    """The reason ``decode`` refuses ``payload`` with."""
    with pytest.raises(PayloadError) as refused:
        decode(payload)
    return refused.value.reason


def test_dsx_value_is_time_value_quality() -> None:
    payload = b'{"value": 22.96215, "timestamp": 1743620423000, "quality": 1}'
    assert decode_dsx_value(payload) == (1743620423.0, 22.96215, 1)
    assert decode_dsx_value(b'{"value": 3, "timestamp": 1743620423500, "quality": 7}')[1:] == (
        3.0,
        7,
    )


def test_dsx_null_value_is_nan_with_quality_zero() -> None:
    time_s, value, quality = decode_dsx_value(
        b'{"value": null, "timestamp": 1743620423000, "quality": 1}'
    )
    assert time_s == 1743620423.0 and math.isnan(value) and quality == 0


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe\x00", "not UTF-8 (invalid start byte)"),
        (b'{"value": 1', "not JSON"),
        (b"", "not JSON"),
        (b'{"value": NaN, "timestamp": 1743620423000, "quality": 1}', "NaN is not a number"),
        (b'{"value": Infinity, "timestamp": 1743620423000, "quality": 1}', "Infinity"),
        (b'{"value": -Infinity, "timestamp": 1743620423000, "quality": 1}', "-Infinity"),
        (b'{"value": 1e999, "timestamp": 1743620423000, "quality": 1}', "value: number out of"),
        (
            b'{"value": "22.9", "timestamp": 1743620423000, "quality": 1}',
            "value: expected a number",
        ),
        (b'{"value": true, "timestamp": 1743620423000, "quality": 1}', "got bool"),
        (b'{"value": 1, "timestamp": 1743620423000, "quality": 1.0}', "quality: expected an int"),
        (b'{"value": 1, "timestamp": "now", "quality": 1}', "timestamp: expected a number"),
        (b'{"value": 1, "timestamp": 1743620423, "quality": 1}', "epoch milliseconds"),
        (b'{"value": 1, "quality": 1}', "missing field 'timestamp'"),
        (b'{"timestamp": 1743620423000, "quality": 1}', "missing field 'value'"),
        (b'{"value": 1, "timestamp": 1743620423000}', "missing field 'quality'"),
        (b"[1, 2]", "payload: expected an object, got list"),
        (b"1" * 5000, "number too long"),
        (b"[" * 100_000 + b"]" * 100_000, "nesting too deep"),
    ],
)
def test_dsx_value_refusals_name_the_fault(payload: bytes, reason: str) -> None:
    assert reason in refusal(decode_dsx_value, payload)


def test_size_is_checked_before_parsing() -> None:
    """An oversized payload is refused for its size even though it is not JSON at all."""
    payload = b"\xff" * (MAX_PAYLOAD_BYTES + 1)
    assert refusal(parse_json, payload) == f"too large: over the limit of {MAX_PAYLOAD_BYTES} bytes"
    assert parse_json(b'"' + b"x" * (MAX_PAYLOAD_BYTES - 2) + b'"')


def gpu_batch(**overrides: object) -> dict:
    batch = {
        "ts": 1732300000.25,
        "seq": 1812,
        "gpus": [
            {"index": 0, "uuid": "GPU-a", "util_pct": 97, "power_w": 652.1, "temp_c": 61},
            {
                "index": 1,
                "uuid": "GPU-b",
                "power_w": None,
                "fan_rpm": 3000,
                "mem_used_bytes": 2**40,
            },
        ],
    }
    batch.update(overrides)
    return batch


def test_node_gpu_batch_gives_one_reading_per_known_quantity() -> None:
    out = Columns()
    assert decode_node_gpus(encoded(gpu_batch()), "node-17", out) == 1812
    readings = list(zip(out.keys, out.times_s, out.values, out.quality, strict=True))
    assert readings[:3] == [
        ("gpu/node-17/0/util_pct", 1732300000.25, 97.0, 1),
        ("gpu/node-17/0/power_w", 1732300000.25, 652.1, 1),
        ("gpu/node-17/0/temp_c", 1732300000.25, 61.0, 1),
    ]
    key, _, value, quality = readings[3]
    assert key == "gpu/node-17/1/power_w" and math.isnan(value) and quality == 0
    assert readings[4] == ("gpu/node-17/1/mem_used_bytes", 1732300000.25, 2.0**40, 1)
    assert len(readings) == 5, "unknown fields (fan_rpm) and the uuid are not readings"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"seq": -1}, "seq: must be at least 0"),
        ({"seq": 1.5}, "seq: expected an integer, got float"),
        ({"ts": None}, "ts: expected a number, got null"),
        ({"gpus": {"index": 0}}, "gpus: expected a list, got dict"),
        ({"gpus": [{"index": 0}, 7]}, "gpus[1]: expected an object, got int"),
        ({"gpus": [{"index": 0}, {"power_w": 1}]}, "gpus[1]: missing field 'index'"),
        ({"gpus": [{"index": 0}, {"index": 1, "temp_c": "hot"}]}, "gpus[1].temp_c: expected"),
        ({"gpus": [{"index": 0, "power_w": 1}, {"index": 1, "energy_j": 10**400}]}, "out of range"),
    ],
)
def test_node_gpu_batch_refusals_leave_no_partial_readings(overrides: dict, reason: str) -> None:
    out = Columns()
    out.append("earlier/reading", 1.0, 2.0, 1)
    with pytest.raises(PayloadError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        decode_node_gpus(encoded(gpu_batch(**overrides)), "n", out)
    assert out.keys == ["earlier/reading"] and len(out.values) == len(out.quality) == 1


def test_node_gpu_batch_missing_fields() -> None:
    for field in ("ts", "seq", "gpus"):
        document = gpu_batch()
        del document[field]
        assert refusal(lambda p: decode_node_gpus(p, "n", Columns()), encoded(document)) == (
            f"payload: missing field {field!r}"
        )


def test_plain_single_reading() -> None:
    out = Columns()
    assert decode_readings(b'{"key": "rack/A-07/power_kw", "value": 41.2, "ts": 5.5}', out) is None
    assert decode_readings(b'{"key": "a/b", "value": 1, "ts": 6, "quality": 0, "seq": 9}', out) == 9
    assert (out.keys, out.times_s, out.values, out.quality) == (
        ["rack/A-07/power_kw", "a/b"],
        [5.5, 6.0],
        [41.2, 1.0],
        [1, 0],
    )


def test_plain_batch_takes_the_batch_time_unless_a_reading_has_its_own() -> None:
    out = Columns()
    payload = encoded(
        {
            "ts": 100.0,
            "seq": 3,
            "readings": [
                {"key": "cdu/C1/flow_lpm", "value": 300},
                {"key": "cdu/C1/supply_temp_c", "value": None, "ts": 99.0, "quality": 1},
            ],
        }
    )
    assert decode_readings(payload, out) == 3
    assert out.keys == ["cdu/C1/flow_lpm", "cdu/C1/supply_temp_c"]
    assert out.times_s == [100.0, 99.0] and out.quality == [1, 0] and math.isnan(out.values[1])


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"value": 1, "ts": 1}, "payload: missing field 'key'"),
        ({"key": "no-slash", "value": 1, "ts": 1}, "payload.key: expected a series key"),
        ({"key": "a/" + "b" * 300, "value": 1, "ts": 1}, "payload.key: expected a series key"),
        ({"key": 7, "value": 1, "ts": 1}, "payload.key: expected a series key"),
        ({"key": "a/b", "value": 1}, "payload: missing field 'ts'"),
        ({"key": "a/b", "ts": 1}, "payload: missing field 'value'"),
        ({"key": "a/b", "value": [1], "ts": 1}, "payload.value: expected a number, got list"),
        ({"key": "a/b", "value": 1, "ts": 1, "quality": "good"}, "payload.quality: expected"),
        ({"key": "a/b", "value": 1, "ts": 1, "seq": "x"}, "seq: expected an integer"),
        ({"ts": 1, "readings": "none"}, "readings: expected a list, got str"),
        ({"readings": []}, "payload: missing field 'ts'"),
        ({"ts": 1, "readings": [{"key": "a/b", "value": 1}, {"key": "a/c"}]}, "readings[1]: miss"),
    ],
)
def test_plain_reading_refusals_leave_no_partial_readings(document: dict, reason: str) -> None:
    out = Columns()
    with pytest.raises(PayloadError) as refused:
        decode_readings(encoded(document), out)
    assert reason in refused.value.reason
    assert len(out) == 0 and out.values == [] and out.times_s == [] and out.quality == []


def test_metadata_and_node_status() -> None:
    assert decode_metadata(b'{"engUnit": "C", "rackLocationId": "A-07"}')["engUnit"] == "C"
    assert "expected an object" in refusal(decode_metadata, b'"C"')
    assert decode_node_status(b'{"online": true, "gpus": 8}') is True
    assert decode_node_status(b'{"online": false}') is False
    assert "true or false" in refusal(decode_node_status, b'{"online": 1}')


GPU_DECODE = lambda payload: decode_node_gpus(payload, "n", Columns())  # noqa: E731
READINGS_DECODE = lambda payload: decode_readings(payload, Columns())  # noqa: E731
GPU_OBJECT = b'{"index": 0, "power_w": 1.5}'


@pytest.mark.parametrize(
    ("decode", "payload", "key"),
    [
        (
            decode_dsx_value,
            b'{"value": 30.1, "value": 99.9, "timestamp": 1743620423000, "quality": 1}',
            "value",
        ),
        (
            decode_dsx_value,
            b'{"value": 1, "timestamp": 1743620423000, "quality": 1, "note": {"a": 1, "a": 2}}',
            "a",
        ),
        (decode_metadata, b'{"engUnit": "C", "engUnit": "F"}', "engUnit"),
        (decode_node_status, b'{"online": true, "online": false}', "online"),
        (GPU_DECODE, b'{"ts": 1.5, "ts": 2.5, "seq": 1, "gpus": [' + GPU_OBJECT + b"]}", "ts"),
        (
            GPU_DECODE,
            b'{"ts": 1.5, "seq": 1, "gpus": [' + GPU_OBJECT + b', {"index": 1, '
            b'"power_w": 2.0, "power_w": 3.0}]}',
            "power_w",
        ),
        # an unknown field is no reading, but still JSON to check
        (
            GPU_DECODE,
            b'{"ts": 1.5, "seq": 1, "gpus": [{"index": 0, "future": {"x": 1, "x": 2}}]}',
            "x",
        ),
        (READINGS_DECODE, b'{"key": "a/b", "value": 1, "value": 2, "ts": 1}', "value"),
        # two keys, like the common reading
        (
            READINGS_DECODE,
            b'{"ts": 1.0, "readings": [{"key": "a/b", "value": 1.0}, '
            b'{"key": "a/c", "key": "a/d"}]}',
            "key",
        ),
        (
            READINGS_DECODE,
            b'{"ts": 1.0, "readings": [{"key": "a/b", "value": 1.0, "value": 2.0}]}',
            "value",
        ),
        (READINGS_DECODE, b'{"ts": 1.0, "seq": 2, "seq": 3, "readings": []}', "seq"),
    ],
)
def test_an_object_with_a_key_twice_is_refused_whole(
    decode: Callable[[bytes], object], payload: bytes, key: str
) -> None:
    """Which of the two values was meant is unknown, so the message is not taken at all."""
    assert refusal(decode, payload) == f"duplicate key {key!r}"


def test_a_refused_duplicate_leaves_no_partial_readings() -> None:
    out = Columns()
    payload = b'{"ts": 1.0, "readings": [{"key": "a/b", "value": 1.0}], "ts": 2.0}'
    assert refusal(lambda p: decode_readings(p, out), payload) == "duplicate key 'ts'"
    assert len(out) == 0 and out.values == []


def test_colons_inside_strings_are_no_duplicates() -> None:
    """The check counts the text's colons against the keys; colons in strings must not fool it."""
    out = Columns()
    payload = encoded({"ts": 1.0, "readings": [{"key": "a/b:c", "value": 1.0}] * 3})
    decode_readings(payload, out)
    assert out.keys == ["a/b:c"] * 3
    metadata = {"url": "http://x:80/", "nested": [{"a": "1:2"}, {"b": {"c": ":"}}], "": 0}
    assert decode_metadata(encoded(metadata)) == metadata
    assert decode_node_gpus(
        encoded(gpu_batch(gpus=[{"index": 0, "uuid": "GPU:a", "more": {"a": [1, {"b": 2}]}}])),
        "n", out,
    ) == 1812  # fmt: skip
    assert parse_json(b'{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}')["b"][1] == {"a": 2}
