"""The MQTT source against a real Mosquitto: ingest, bad input, reconnects, TLS and login.

Every wait polls the sink with a deadline (``eventually``); nothing asserts after a fixed sleep.
The mapping and auto-matching of BMS points are tested here too, without a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import ValidationError

from factoryfloor.backend.design.mqtt_settings import (
    PASSWORD_ENV,
    MqttConfig,
    PointMapping,
    name_key,
)
from factoryfloor.backend.telemetry.series import entity_key
from factoryfloor.backend.telemetry.sink import RecordingSink, SourceEvent
from factoryfloor.backend.telemetry.sources.bms_mapping import PointMetadata, auto_map
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource, backoff_s

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher, TlsFiles

pytest_plugins = ["broker"]

WAIT_S = 10.0
BMS = "BMS/v1/PUB"
NODE = "factoryfloor/v1/node"
SUPPLY_POINT = "Rack/RackLiquidSupplyTemperature/site1/hall2/row3/rackA07"
T0_MS = 1_743_620_423_000


class CountingSink(RecordingSink):
    """A RecordingSink that also remembers how many readings each write call carried."""

    def __init__(self) -> None:
        super().__init__()
        self.write_sizes: list[int] = []

    def write(self, keys, times_s, values, quality=None) -> None:  # type: ignore[no-untyped-def]
        self.write_sizes.append(len(keys))
        super().write(keys, times_s, values, quality)

    def statuses(self, starting: str = "") -> list[SourceEvent]:
        """Status events whose detail starts with ``starting``."""
        return [e for e in self.events if e.kind == "status" and e.detail.startswith(starting)]


async def eventually(check: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``check`` until it is true, failing with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


def config_for(broker: Mosquitto, **overrides: object) -> MqttConfig:
    """Settings for a test broker: quick reconnects, a client id of its own."""
    settings: dict[str, object] = {
        "host": broker.host,
        "port": broker.port,
        "client_id": "factoryfloor-test",
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.2,
    }
    settings.update(overrides)
    return MqttConfig.model_validate(settings)


def rack_point(tag_path: str, entity_id: str) -> PointMapping:
    """A rack supply temperature point."""
    return PointMapping(
        object_type="Rack",
        point_type="RackLiquidSupplyTemperature",
        tag_path=tag_path,
        kind="rack",
        entity_id=entity_id,
        quantity="supply_temp_c",
    )


def dsx(value: float | None, timestamp_ms: int = T0_MS, quality: int = 1) -> dict:
    return {"value": value, "timestamp": timestamp_ms, "quality": quality}


def gpu_batch(seq: int, ts: float = 1_732_300_000.25, gpus: int = 8) -> dict:
    return {
        "ts": ts,
        "seq": seq,
        "gpus": [
            {"index": i, "uuid": f"GPU-{i}", "util_pct": 97, "power_w": 652.1 + i, "temp_c": 61}
            for i in range(gpus)
        ],
    }


@contextlib.asynccontextmanager
async def running(
    source: MqttSource, sink: CountingSink, connected: int = 1
) -> AsyncIterator[None]:
    """Run the source until the block ends, entering once it has connected and subscribed."""
    task = asyncio.create_task(source.run())
    try:
        await eventually(
            lambda: len(sink.statuses("connected")) >= connected or task.done(), "connected"
        )
        if task.done():
            task.result()
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def sink() -> CountingSink:
    return CountingSink()


# -- ingest -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_dsx_value_is_written_under_its_mapped_series(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    config = config_for(mosquitto, points=[rack_point(SUPPLY_POINT.split("/", 2)[2], "A-07")])
    async with running(MqttSource(config, sink), sink):
        publisher.publish(f"{BMS}/Value/{SUPPLY_POINT}", dsx(22.96))
        await eventually(lambda: "rack/A-07/supply_temp_c" in sink.latest(), "the reading")
    assert sink.latest()["rack/A-07/supply_temp_c"] == (T0_MS / 1000, 22.96, 1)


@pytest.mark.asyncio
async def test_node_gpu_batches_become_many_readings_written_in_batches(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    messages = 50
    source = MqttSource(config_for(mosquitto), sink)
    async with running(source, sink):
        batches = [gpu_batch(seq, ts=1_732_300_000.0 + seq) for seq in range(messages)]
        publisher.publish_many(f"{NODE}/node-17/gpus", batches)
        await eventually(lambda: len(sink.readings) == messages * 8 * 3, "every GPU reading")
    latest = sink.latest()
    assert latest["gpu/node-17/3/power_w"] == (1_732_300_049.0, 655.1, 1)
    assert latest["gpu/node-17/0/util_pct"][1:] == (97.0, 1)
    assert "gpu/node-17/0/uuid" not in latest
    assert len(sink.write_sizes) < messages, "messages were written one by one, not in batches"
    assert source.stats.dropped == {}


@pytest.mark.asyncio
async def test_plain_single_and_batched_readings(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    topic = f"{NODE}/gateway-1/readings"
    async with running(MqttSource(config_for(mosquitto), sink), sink):
        publisher.publish(topic, {"key": "cdu/CDU-1/flow_lpm", "value": 310.5, "ts": 100.0})
        publisher.publish(
            topic,
            {
                "ts": 200.0,
                "readings": [
                    {"key": "rack/A-01/power_kw", "value": 41.0},
                    {"key": "rack/A-02/power_kw", "value": None, "ts": 199.5},
                ],
            },
        )
        await eventually(lambda: len(sink.readings) == 3, "three readings")
    latest = sink.latest()
    assert latest["cdu/CDU-1/flow_lpm"] == (100.0, 310.5, 1)
    assert latest["rack/A-01/power_kw"] == (200.0, 41.0, 1)
    time_s, value, quality = latest["rack/A-02/power_kw"]
    assert (time_s, math.isnan(value), quality) == (199.5, True, 0)


MALFORMED: dict[str, tuple[bytes, str]] = {
    "bad-utf8": (b'{"value": 1, "name": "\xff\xfe"}', "not UTF-8"),
    "not-json": (b'{"value": 22.9, ', "not JSON"),
    "nan": (b'{"value": NaN, "timestamp": 1743620423000, "quality": 1}', "NaN is not a number"),
    "huge": (b'{"pad": "' + b"x" * 300_000 + b'"}', "too large"),
    "wrong-type": (
        b'{"value": "22.9", "timestamp": 1743620423000, "quality": 1}',
        "value: expected",
    ),
    "missing": (b'{"value": 22.9, "quality": 1}', "missing field 'timestamp'"),
    "duplicate": (
        b'{"value": 30.1, "value": 99.9, "timestamp": 1743620423000, "quality": 1}',
        "duplicate key 'value'",
    ),
}


@pytest.mark.asyncio
async def test_malformed_payloads_are_counted_per_topic_and_good_ones_still_arrive(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    points = [rack_point(f"t/{name}", f"R-{name}") for name in [*MALFORMED, "null"]]
    source = MqttSource(config_for(mosquitto, points=points), sink)
    async with running(source, sink):
        for name, (payload, _) in MALFORMED.items():
            publisher.publish(f"{BMS}/Value/Rack/RackLiquidSupplyTemperature/t/{name}", payload)
        publisher.publish(f"{BMS}/Value/Rack/RackLiquidSupplyTemperature/t/null", dsx(None))
        for name in MALFORMED:
            publisher.publish(f"{BMS}/Value/Rack/RackLiquidSupplyTemperature/t/{name}", dsx(20.5))
        await eventually(lambda: len(sink.readings) == len(MALFORMED) + 1, "the good readings")
        await eventually(lambda: len(rejections(sink)) == len(MALFORMED), "every rejection")

    for name, (_, reason) in MALFORMED.items():
        topic = f"{BMS}/Value/Rack/RackLiquidSupplyTemperature/t/{name}"
        [event] = [e for e in rejections(sink) if e.subject == topic]
        assert reason in event.detail and "(1 so far)" in event.detail
        [(counted_reason, count)] = [
            (r, n) for (t, r), n in source.stats.rejected.items() if t == topic
        ]
        assert reason in counted_reason and count == 1
        assert sink.latest()[f"rack/R-{name}/supply_temp_c"][1:] == (20.5, 1)
    null_time_s, null_value, null_quality = sink.latest()["rack/R-null/supply_temp_c"]
    assert math.isnan(null_value) and null_quality == 0 and null_time_s == T0_MS / 1000


def rejections(sink: CountingSink) -> list[SourceEvent]:
    return [e for e in sink.events if e.kind == "rejected"]


@pytest.mark.asyncio
async def test_a_node_batch_with_a_key_twice_is_rejected_whole(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    topic = f"{NODE}/node-17/gpus"
    source = MqttSource(config_for(mosquitto), sink)
    async with running(source, sink):
        good = json.dumps(gpu_batch(1, gpus=2)).encode()
        publisher.publish(topic, good.replace(b'"temp_c": 61}]', b'"temp_c": 61, "temp_c": 99}]'))
        publisher.publish(topic, gpu_batch(2, gpus=1))
        await eventually(lambda: len(sink.readings) == 3, "the good batch")
        await eventually(lambda: len(rejections(sink)) == 1, "the rejection")
    assert {key for key, *_ in sink.readings} == {
        "gpu/node-17/0/util_pct", "gpu/node-17/0/power_w", "gpu/node-17/0/temp_c"
    }  # fmt: skip
    assert source.stats.rejected == {(topic, "duplicate key 'temp_c'"): 1}


@pytest.mark.asyncio
async def test_sequence_gaps_are_counted_as_dropped_but_repeats_and_restarts_are_not(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    topic = f"{NODE}/node-3/gpus"
    source = MqttSource(config_for(mosquitto), sink)
    async with running(source, sink):
        for seq in (10, 11, 14, 14, 15, 0, 1):  # 12 and 13 lost; 14 repeated; agent restarted
            publisher.publish(topic, gpu_batch(seq, gpus=1))
        await eventually(lambda: len(sink.readings) == 7 * 3, "all batches")
        await eventually(lambda: any(e.kind == "dropped" for e in sink.events), "a drop event")
    assert source.stats.dropped == {(topic, "sequence gap"): 2}
    [event] = [e for e in sink.events if e.kind == "dropped"]
    assert (event.subject, event.detail) == (topic, "2 missing: sequence gap (2 so far)")


@pytest.mark.asyncio
async def test_node_status_is_reported_and_a_restarted_agent_counts_its_sequence_anew(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    topic = f"{NODE}/node-4/gpus"
    source = MqttSource(config_for(mosquitto), sink)
    async with running(source, sink):
        publisher.publish(topic, gpu_batch(500, gpus=1))
        publisher.publish(f"{NODE}/node-4/status", {"online": True, "gpus": 8})
        for seq in (3, 6):  # the restarted agent's 4 and 5 are lost
            publisher.publish(topic, gpu_batch(seq, gpus=1))
        publisher.publish(f"{NODE}/node-4/status", {"online": False})
        await eventually(lambda: sink.statuses("offline"), "the last will")
    assert [e.detail for e in sink.events if e.subject == "node node-4"] == ["online", "offline"]
    assert source.stats.dropped == {(topic, "sequence gap"): 2}


@pytest.mark.asyncio
async def test_unmapped_point_is_reported_once_and_counted(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    source = MqttSource(config_for(mosquitto), sink)
    async with running(source, sink):
        for _ in range(5):
            publisher.publish(f"{BMS}/Value/{SUPPLY_POINT}", dsx(22.0))
        await eventually(lambda: source.stats.unmapped[SUPPLY_POINT] == 5, "five messages")
    assert len(sink.statuses("unmapped")) == 1
    assert SUPPLY_POINT in sink.statuses("unmapped")[0].detail
    assert sink.readings == []


@pytest.mark.asyncio
async def test_retained_metadata_feeds_auto_map_and_accepted_mappings_take_effect(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    metadata = {"rackLocationName": "Rack a07", "rackLocationId": "a_07", "engUnit": "C"}
    publisher.publish(f"{BMS}/Metadata/{SUPPLY_POINT}", metadata, retain=True)
    source = MqttSource(config_for(mosquitto), sink)
    async with running(source, sink):
        await eventually(lambda: source.metadata, "the retained metadata")
        proposal = source.propose_mapping(rack_ids=["A-06", "A-07"], cdu_ids=[])
        assert [m.feeds for m in proposal.proposed] == ["rack A-07 supply_temp_c"]
        source.set_points(proposal.proposed)
        publisher.publish(f"{BMS}/Value/{SUPPLY_POINT}", dsx(23.5))
        await eventually(lambda: "rack/A-07/supply_temp_c" in sink.latest(), "the mapped value")


@pytest.mark.asyncio
async def test_bms_heartbeat_loss_and_return_are_reported(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    heartbeat = f"{BMS}/Value/System/HeartbeatTimestampBms/bms1"
    source = MqttSource(config_for(mosquitto, bms_heartbeat_timeout_s=0.3), sink)
    async with running(source, sink):
        publisher.publish(heartbeat, dsx(T0_MS))
        await eventually(lambda: sink.statuses("BMS lost"), "BMS lost")
        publisher.publish(heartbeat, dsx(T0_MS + 10_000))
        await eventually(lambda: sink.statuses("BMS heartbeat back"), "heartbeat back")
    assert len(sink.statuses("BMS lost")) == 1


@pytest.mark.asyncio
async def test_full_incoming_queue_drops_are_counted(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    """A long batch window lets the burst pile up past the limit before the drain runs."""
    source = MqttSource(config_for(mosquitto, max_queued_messages=10), sink, batch_window_s=0.5)
    topic = f"{NODE}/node-1/readings"
    async with running(source, sink):
        burst = [{"key": "rack/A-01/power_kw", "value": i, "ts": 1.0 + i} for i in range(200)]
        publisher.publish_many(topic, burst)
        await eventually(
            lambda: len(sink.readings) + sum(source.stats.dropped.values()) == 200,
            "every message ingested or counted as dropped",
        )
    [(subject, reason)] = source.stats.dropped
    assert subject == f"{mosquitto.host}:{mosquitto.port}" and "incoming queue full" in reason
    assert any(e.kind == "dropped" and "incoming queue full" in e.detail for e in sink.events)


# -- connection ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_broker_restart_reconnects_resubscribes_and_fresh_readings_arrive(
    mosquitto: Mosquitto, sink: CountingSink
) -> None:
    topic = f"{NODE}/gateway-1/readings"
    source = MqttSource(config_for(mosquitto), sink)
    async with running(source, sink):
        before = mosquitto.publisher()
        before.publish(topic, {"key": "rack/A-01/power_kw", "value": 40.0, "ts": time.time()})
        await eventually(lambda: len(sink.readings) == 1, "the reading before the restart")
        before.close()

        mosquitto.stop()
        await eventually(lambda: sink.statuses("reconnecting"), "reconnecting")
        mosquitto.start()  # same port, no sessions: subscriptions are gone
        await eventually(lambda: source.stats.connections == 2, "the second connection")

        after = mosquitto.publisher()
        after.publish(topic, {"key": "rack/A-01/power_kw", "value": 42.0, "ts": time.time()})
        await eventually(lambda: len(sink.readings) == 2, "the reading after the restart")
        after.close()

    [(_, stale_s, *_), (_, fresh_s, value, _)] = sink.readings
    assert fresh_s > stale_s and value == 42.0
    details = [e.detail for e in sink.statuses()]
    lost = next(d for d in details if d.startswith("reconnecting"))
    assert "connection lost" in lost or "disconnected" in lost
    plaintext = "plaintext: readings and password travel unencrypted"
    assert details[:3] == ["connecting", "connected", plaintext]
    assert details[-2:] == ["connected", plaintext]


@pytest.mark.asyncio
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_persistent_session_keeps_qos1_messages_published_while_away(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink, protocol: str
) -> None:
    config = config_for(mosquitto, qos=1, session_expiry_s=60, protocol=protocol)
    topic = f"{NODE}/gateway-1/readings"
    async with running(MqttSource(config, sink), sink):
        pass  # subscribed; the broker keeps the session after this disconnect
    publisher.publish(topic, {"key": "rack/A-01/power_kw", "value": 7.0, "ts": 1.0}, qos=1)
    async with running(MqttSource(config, sink), sink, connected=2):
        await eventually(lambda: len(sink.readings) == 1, "the message queued while away")


@pytest.mark.asyncio
async def test_tls_with_the_test_ca(
    tls_mosquitto: Mosquitto, tls_files: TlsFiles, sink: CountingSink
) -> None:
    config = config_for(tls_mosquitto, tls=True, ca_file=str(tls_files.ca_cert))
    async with running(MqttSource(config, sink), sink):
        tls_publisher = tls_mosquitto.publisher()
        tls_publisher.publish(
            f"{NODE}/n1/readings", {"key": "rack/A/power_kw", "value": 1, "ts": 1}
        )
        await eventually(lambda: sink.readings, "a reading over TLS")
        tls_publisher.close()


@pytest.mark.asyncio
async def test_tls_with_a_wrong_ca_fails_with_a_clear_status(
    tls_mosquitto: Mosquitto, untrusted_ca: Path, sink: CountingSink
) -> None:
    config = config_for(tls_mosquitto, tls=True, ca_file=str(untrusted_ca))
    task = asyncio.create_task(MqttSource(config, sink).run())
    try:
        await eventually(lambda: sink.statuses("reconnecting"), "a failed attempt")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    detail = sink.statuses("reconnecting")[0].detail
    assert "TLS: broker certificate rejected" in detail
    assert not sink.statuses("connected")


@pytest.mark.asyncio
async def test_login_with_password_from_the_environment_and_a_wrong_one(
    password_mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch, sink: CountingSink
) -> None:
    assert password_mosquitto.credentials is not None
    user, password = password_mosquitto.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    config = config_for(password_mosquitto, username=user)
    assert "password" not in config.model_dump()
    async with running(MqttSource(config, sink), sink):
        pass

    refused = CountingSink()
    task = asyncio.create_task(MqttSource(config, refused, password="wrong").run())
    try:
        await eventually(lambda: refused.statuses("reconnecting"), "a refused login")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    detail = refused.statuses("reconnecting")[0].detail
    assert "broker refused the connection" in detail
    assert "user name or password" in detail or "authori" in detail


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    rng = random.Random(1)
    delays = [backoff_s(failures, 1.0, 30.0, rng) for failures in range(12)]
    assert all(0.5 * min(30.0, 2.0**n) <= d <= min(30.0, 2.0**n) for n, d in enumerate(delays))
    assert max(delays) <= 30.0 and delays[-1] >= 15.0


# -- configuration and auto-mapping -------------------------------------------------------------


def metadata(object_type: str, point_type: str, tag_path: str, **fields: object) -> PointMetadata:
    return PointMetadata(object_type, point_type, tag_path, fields)


def test_names_match_ignoring_case_and_separators() -> None:
    assert name_key("Rack_A-07") == name_key("rack a07") == name_key("RACK.A.07") == "racka07"


def test_auto_map_racks_and_cdus_by_name() -> None:
    def cdu(point_type: str, tag_path: str, **fields: object) -> PointMetadata:
        return metadata("CDU", point_type, f"c/1/{tag_path}", **fields)

    points: Sequence[PointMetadata] = [
        metadata("Rack", "RackPower", "s/r7", rackLocationName="A 07", engUnit="kW"),
        metadata("Rack", "RackLiquidFlow", "s/r7", rackLocationName="nope", rackLocationId="a_07"),
        metadata("Rack", "RackLeakDetect", "s/r7/leak", rackLocationId="A-07", stateText=[]),
        cdu("LiquidTemperature", "sst", objectId="cdu_b1", processArea="Secondary Supply"),
        cdu("LiquidTemperature", "srt", objectName="CDU B1", processArea=["Secondary", "Return"]),
        cdu("PumpSpeed", "pump", associateId="CDU-B1", engUnit="RPM"),
        cdu("LiquidFlow", "flow", objectId="x", servesId=["CDU-B1"], engUnit="LPM"),
        cdu("ValvePosition", "valve", objectId="CDU-B1", engUnit="%"),
    ]
    result = auto_map(["A-07", "A-08"], ["CDU-B1"], points)
    assert result.unmatched == []
    assert {(m.point_id, entity_key(m.kind, m.entity_id, m.quantity)) for m in result.proposed} == {
        ("Rack/RackPower/s/r7", "rack/A-07/power_kw"),
        ("Rack/RackLiquidFlow/s/r7", "rack/A-07/flow_lpm"),
        ("Rack/RackLeakDetect/s/r7/leak", "rack/A-07/leak"),
        ("CDU/LiquidTemperature/c/1/sst", "cdu/CDU-B1/supply_temp_c"),
        ("CDU/LiquidTemperature/c/1/srt", "cdu/CDU-B1/return_temp_c"),
        ("CDU/PumpSpeed/c/1/pump", "cdu/CDU-B1/pump_rpm"),
        ("CDU/LiquidFlow/c/1/flow", "cdu/CDU-B1/flow_lpm"),
        ("CDU/ValvePosition/c/1/valve", "cdu/CDU-B1/valve_pct"),
    }


def test_auto_map_says_why_points_are_left_unmatched() -> None:
    points = [
        metadata("Rack", "RackPower", "a", rackLocationName="Z-99", engUnit="kW"),
        metadata("Rack", "RackPower", "b", rackLocationName="A-07", engUnit="W"),
        metadata("Rack", "RackLiquidSupplyTemperature", "b2", rackLocationId="A-07", engUnit="°F"),
        metadata("Rack", "RackLeakSensorFault", "c", rackLocationName="A-07"),
        metadata("Rack", "RackPower", "d", rackLocationName="B7", engUnit="kW"),
        metadata("CDU", "LiquidTemperature", "e", objectId="CDU-B1", processArea="Primary Supply"),
        metadata("CDU", "LiquidTemperature", "f", objectId="CDU-B1", processArea="Secondary"),
        metadata("Rack", "RackPower", "g", rackLocationName="A 07", engUnit="kW"),
        metadata("Rack", "RackPower", "h", rackLocationName="a07", engUnit="kW"),
        metadata("Pump", "PumpSpeed", "i", objectId="P1"),
        metadata("Rack", "RackPower", "j" * 600, rackLocationName="A-07", engUnit="kW"),
    ]
    result = auto_map(["A-07", "B-7", "B_7"], ["CDU-B1"], points)
    reasons = {u.point.tag_path: u.reason for u in result.unmatched}
    assert [m.tag_path for m in result.proposed] == ["g"]
    assert "no plan rack named 'Z-99'" in reasons["a"]
    assert "unit 'W'" in reasons["b"] and "unit '°F'" in reasons["b2"]
    assert "no FactoryFloor quantity" in reasons["c"]
    assert "several plan racks" in reasons["d"]
    assert "primary" in reasons["e"]
    assert "neither Supply nor Return" in reasons["f"]
    assert "already fed by Rack/RackPower/g" in reasons["h"]
    assert "Pump" in reasons["i"]
    assert "not storable in the design" in reasons["j" * 600]


def test_config_rejects_mistakes_and_never_holds_a_password() -> None:
    point = rack_point("x/y", "A-07")
    with pytest.raises(ValidationError, match="mapped twice"):
        MqttConfig(points=[point, point])
    with pytest.raises(ValidationError, match="fed by both"):
        MqttConfig(points=[point, rack_point("x/z", "A-07")])
    with pytest.raises(ValidationError, match="not a rack quantity"):
        PointMapping.model_validate({**point.model_dump(), "quantity": "pump_rpm"})
    with pytest.raises(ValidationError, match="go together"):
        MqttConfig(client_cert="c.pem")
    with pytest.raises(ValidationError):
        MqttConfig.model_validate({"password": "secret"})
    with pytest.raises(ValidationError):
        MqttConfig(bms_prefix="BMS/#")
    assert point.point_id == "Rack/RackLiquidSupplyTemperature/x/y"


@pytest.mark.asyncio
async def test_plaintext_off_loopback_is_refused_unless_allowed_and_plaintext_is_said(
    mosquitto: Mosquitto, sink: CountingSink
) -> None:
    remote = config_for(mosquitto, host="broker.site.example")
    await asyncio.wait_for(MqttSource(remote, sink).run(), timeout=WAIT_S)  # returns, no attempt
    [refusal] = sink.statuses("refused")
    assert "plaintext to broker.site.example is off loopback" in refusal.detail
    assert "telemetry.mqtt.tls" in refusal.detail and "allow_plaintext" in refusal.detail
    assert not sink.statuses("connecting")
    assert MqttConfig().allow_plaintext is False

    on_loopback = CountingSink()
    async with running(MqttSource(config_for(mosquitto), on_loopback), on_loopback):
        await eventually(
            lambda: on_loopback.statuses("plaintext: readings"), "the plaintext notice"
        )


@pytest.mark.asyncio
async def test_a_certificate_for_another_host_is_named_as_such(
    misnamed_tls_mosquitto: Mosquitto, sink: CountingSink
) -> None:
    """The broker's certificate, from the trusted CA, names broker.other.example, not 127.0.0.1."""
    broker = misnamed_tls_mosquitto
    assert broker.tls is not None
    config = config_for(broker, tls=True, ca_file=str(broker.tls.ca_cert))
    task = asyncio.create_task(MqttSource(config, sink).run())
    try:
        await eventually(lambda: sink.statuses("reconnecting"), "a failed attempt")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    detail = sink.statuses("reconnecting")[0].detail
    assert "TLS: the certificate names another host" in detail and "127.0.0.1" in detail
    assert "ca_file" not in detail
