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
from factoryfloor.backend.telemetry.series_arrays import SeriesArrays
from factoryfloor.backend.telemetry.sink import RecordingSink, SourceEvent
from factoryfloor.backend.telemetry.sources import mqtt_source
from factoryfloor.backend.telemetry.sources.bms_mapping import PointMetadata, auto_map
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource, backoff_s
from factoryfloor.backend.telemetry.sources.topic_authority import NOT_FROM_A_NODE
from factoryfloor.backend.telemetry.store import TelemetryStore

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


class StatusStore(TelemetryStore):
    """The real store, with ``CountingSink.statuses`` to wait on."""

    def statuses(self, starting: str = "") -> list[SourceEvent]:
        kept = self.events_since(0).events
        return [e for e in kept if e.kind == "status" and e.detail.startswith(starting)]


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
    source: MqttSource, sink: CountingSink | StatusStore, connected: int = 1
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
    topic = f"{NODE}/node-9/readings"
    async with running(MqttSource(config_for(mosquitto), sink), sink):
        publisher.publish(topic, {"key": "gpu/node-9/0/temp_c", "value": 61.5, "ts": 100.0})
        publisher.publish(
            topic,
            {
                "ts": 200.0,
                "readings": [
                    {"key": "gpu/node-9/1/power_w", "value": 641.0},
                    {"key": "gpu/node-9/2/power_w", "value": None, "ts": 199.5},
                ],
            },
        )
        await eventually(lambda: len(sink.readings) == 3, "three readings")
    latest = sink.latest()
    assert latest["gpu/node-9/0/temp_c"] == (100.0, 61.5, 1)
    assert latest["gpu/node-9/1/power_w"] == (200.0, 641.0, 1)
    time_s, value, quality = latest["gpu/node-9/2/power_w"]
    assert (time_s, math.isnan(value), quality) == (199.5, True, 0)


SPOOFED: dict[str, tuple[str, str]] = {  # key published by node "intruder" -> refusal reason
    "facility/tokens_per_s": ("facility/tokens_per_s", "facility series are computed here"),
    "rack power": ("rack/A-01/power_kw", "rack series come from mapped BMS points"),
    "loop heat": ("loop/L1/heat_kw", "loop series are computed here"),
    "cdu flow": ("cdu/CDU-1/flow_lpm", "CDU series come from mapped BMS points"),
    "token rate": ("tokens/h:8000/m/tokens_per_s", "token rates come from inference servers"),
    "another node's GPU": ("gpu/node-17/0/power_w", "may write only its own GPU series"),
    "crafted key": ("../../etc/passwd/x", "not a well-formed series key"),
    "GPU index spelled twice": ("gpu/intruder/00/power_w", "not a well-formed series key"),
    "unknown quantity": ("gpu/intruder/0/fan_rpm", "not a GPU quantity this version knows"),
}


@pytest.mark.asyncio
async def test_a_node_topic_writes_only_that_nodes_gpu_series(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink
) -> None:
    """A stranger on the broker cannot set facility, rack, loop, CDU or token figures, nor
    another node's GPUs, nor invent keys; what nodes legitimately send still arrives."""
    intruder = f"{NODE}/intruder/readings"
    source = MqttSource(config_for(mosquitto), sink)
    async with running(source, sink):
        for key, _ in SPOOFED.values():
            publisher.publish(intruder, {"key": key, "value": 1e12, "ts": 100.0})
        mixed = [
            {"key": "gpu/intruder/0/power_w", "value": 1.0},
            {"key": "rack/A-01/leak", "value": 1.0},
        ]
        publisher.publish(intruder, {"ts": 100.0, "readings": mixed})
        publisher.publish(intruder, {"key": "gpu/intruder/3/power_w", "value": 420.0, "ts": 101.0})
        publisher.publish(f"{NODE}/node-17/gpus", gpu_batch(1, gpus=1))
        await eventually(lambda: len(sink.readings) == 4, "the legitimate readings")
        await eventually(
            lambda: sum(source.stats.rejected.values()) == len(SPOOFED) + 1, "every refusal"
        )
        await eventually(lambda: len(rejections(sink)) >= len({r for _, r in SPOOFED.values()}),
                         "the refusal events")  # fmt: skip
    assert set(sink.latest()) == {
        "gpu/intruder/3/power_w", "gpu/node-17/0/util_pct", "gpu/node-17/0/power_w",
        "gpu/node-17/0/temp_c",
    }  # fmt: skip
    assert sink.latest()["gpu/node-17/0/power_w"][1] == 652.1
    refused = {reason: count for (topic, reason), count in source.stats.rejected.items()}
    assert {topic for topic, _ in source.stats.rejected} == {intruder}
    for name, (_, reason) in SPOOFED.items():
        assert any(reason in counted for counted in refused), name
    assert sum(n for r, n in refused.items() if "rack series" in r) == 2  # alone and in a batch
    details = {e.detail for e in rejections(sink) if e.subject == intruder}
    assert any(d.startswith("a node may write only its own GPU series") for d in details)


@pytest.mark.asyncio
async def test_a_flood_of_made_up_topics_is_counted_in_bounded_memory(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refusals and unmapped BMS points are counted per topic up to a limit, then together."""
    monkeypatch.setattr(mqtt_source, "NAMES_TRACKED", 3)
    source = MqttSource(config_for(mosquitto), sink)
    async with running(source, sink):
        for n in range(10):
            spoof = {"key": "facility/it_power_kw", "value": 1, "ts": 1}
            publisher.publish(f"{NODE}/x{n}/readings", spoof)
            publisher.publish(f"{BMS}/Value/Rack/RackPower/t{n}", dsx(1.0))
        await eventually(lambda: source.stats.messages == 20, "every message")
    assert sum(source.stats.rejected.values()) == 10 and len(source.stats.rejected) == 4
    assert source.stats.rejected[mqtt_source.OTHER_NAMES, NOT_FROM_A_NODE["facility"]] == 7
    assert sum(source.stats.unmapped.values()) == 10 and len(source.stats.unmapped) == 4
    assert source.stats.unmapped[mqtt_source.OTHER_NAMES] == 7


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
async def test_a_flood_of_new_node_ids_is_held_to_the_series_limit(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    """300 nodes of 8 GPUs (7,200 series) come online into a store that may hold 1,000: it
    holds 1,000, counts every reading it refused, takes memory for 1,000 only, and the series
    it holds keep updating."""
    store = StatusStore(max_series=1_000)
    source = MqttSource(config_for(mosquitto), store)
    nodes = [f"node-{n:04d}" for n in range(300)]
    async with running(source, store):
        for node in nodes:
            publisher.publish(f"{NODE}/{node}/gpus", gpu_batch(1))
        await eventually(lambda: source.stats.readings == 300 * 24, "every node's batch")
        publisher.publish(f"{NODE}/node-0000/gpus", gpu_batch(2, ts=1_732_300_001.0))
        await eventually(
            lambda: store.latest("gpu/node-0000/7/temp_c")[0] == 1_732_300_001.0, "an update"
        )
    assert len(store) == 1_000 and store.readings_over_limit == 300 * 24 - 1_000
    assert store.nbytes == SeriesArrays.bytes_for(1_000, 1_000 * 64)  # 885 kB, for 1,000 series
    refusals = [e for e in store.events_since(0).events if e.kind == "rejected"]
    assert refusals and all(e.source == "store" for e in refusals)
    assert refusals[0].subject == "gpu/node-0041/5/power_w"  # 41 x 24 + 16 = 1,000 series
    assert "1,000 series (telemetry.max_series in the design)" in refusals[0].detail


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
        burst = [{"key": "gpu/node-1/0/power_w", "value": i, "ts": 1.0 + i} for i in range(200)]
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
        before.publish(topic, {"key": "gpu/gateway-1/0/power_w", "value": 40.0, "ts": time.time()})
        await eventually(lambda: len(sink.readings) == 1, "the reading before the restart")
        before.close()

        mosquitto.stop()
        await eventually(lambda: sink.statuses("reconnecting"), "reconnecting")
        mosquitto.start()  # same port, no sessions: subscriptions are gone
        await eventually(lambda: source.stats.connections == 2, "the second connection")

        after = mosquitto.publisher()
        after.publish(topic, {"key": "gpu/gateway-1/0/power_w", "value": 42.0, "ts": time.time()})
        await eventually(lambda: len(sink.readings) == 2, "the reading after the restart")
        after.close()

    [(_, stale_s, *_), (_, fresh_s, value, _)] = sink.readings
    assert fresh_s > stale_s and value == 42.0
    details = [e.detail for e in sink.statuses()]
    lost = next(d for d in details if d.startswith("reconnecting"))
    assert "connection lost" in lost or "disconnected" in lost
    connected = mqtt_source.CONNECTED_PLAINTEXT
    assert details[:2] == ["connecting", connected] and details[-1] == connected


@pytest.mark.asyncio
@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
async def test_persistent_session_keeps_qos1_messages_published_while_away(
    mosquitto: Mosquitto, publisher: Publisher, sink: CountingSink, protocol: str
) -> None:
    config = config_for(mosquitto, qos=1, session_expiry_s=60, protocol=protocol)
    topic = f"{NODE}/gateway-1/readings"
    async with running(MqttSource(config, sink), sink):
        pass  # subscribed; the broker keeps the session after this disconnect
    publisher.publish(topic, {"key": "gpu/gateway-1/0/power_w", "value": 7.0, "ts": 1.0}, qos=1)
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
            f"{NODE}/n1/readings", {"key": "gpu/n1/0/power_w", "value": 1, "ts": 1}
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
        metadata("Rack", "RackLeakSensorFault", "s/r7/lsf", rackLocationId="A-07", stateText=[]),
        metadata(
            "Rack", "RackLiquidIsolationStatus", "s/r7/iso", rackLocationId="A-07", stateText=[]
        ),
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
        ("Rack/RackLeakSensorFault/s/r7/lsf", "rack/A-07/leak_sensor_fault"),
        ("Rack/RackLiquidIsolationStatus/s/r7/iso", "rack/A-07/liquid_isolated"),
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
        metadata("Rack", "RackLiquidDifferentialPressureSp", "c", rackLocationName="A-07"),
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


def test_auto_map_takes_a_cdus_measured_feedback_and_its_setpoint_apart_never_pump_status() -> None:
    """A CDU as a DSX BMS publishes it: supply temperature as setpoint and feedback, pump speed
    beside the fill pump's on/off status, all under the pointTypes FactoryFloor maps. The
    setpoint feeds its own series (it confirms setpoint requests), never the measured one."""
    cdu = {"objectName": "CDU B1", "objectId": "CDU-B1", "servesId": ["A-07"]}
    supply = {**cdu, "processArea": "Secondary Supply", "engUnit": "°C"}
    on_off = [{"value": 0, "text": "Off"}, {"value": 1, "text": "On"}]
    points = [
        metadata(
            "CDU",
            "LiquidTemperature",
            "Hall1/CDU_B1/SupplyTempSetpoint",
            **supply,
            isSetpoint=True,
        ),
        metadata("CDU", "LiquidTemperature", "Hall1/CDU_B1/SupplyTemperature", **supply),
        metadata("CDU", "PumpSpeed", "Hall1/CDU_B1/FillPump/Status", **cdu, stateText=on_off),
        metadata("CDU", "PumpSpeed", "Hall1/CDU_B1/Pump1/Speed", **cdu, engUnit="RPM"),
    ]
    result = auto_map(["A-07"], ["CDU-B1"], points)
    assert {m.feeds: m.tag_path for m in result.proposed} == {
        "cdu CDU-B1 supply_temp_c": "Hall1/CDU_B1/SupplyTemperature",
        "cdu CDU-B1 supply_temp_sp_c": "Hall1/CDU_B1/SupplyTempSetpoint",
        "cdu CDU-B1 pump_rpm": "Hall1/CDU_B1/Pump1/Speed",
    }
    reasons = {u.point.tag_path: u.reason for u in result.unmatched}
    assert reasons == {
        "Hall1/CDU_B1/FillPump/Status": "a state point (Off/On), not a measurement: "
        "pump_rpm is measured",
    }


def test_auto_map_prefers_the_point_whose_tag_path_reads_as_feedback() -> None:
    """Without isSetpoint in the metadata, the tag path decides: Fbk beats a plain name, which
    beats Sp, whatever order the point ids sort in."""
    rack = {"rackLocationName": "A-07", "engUnit": "C"}
    points = [
        metadata("Rack", "RackLiquidSupplyTemperature", "A07/TS_Sp", **rack),
        metadata("Rack", "RackLiquidSupplyTemperature", "A07/TS", **rack),
        metadata("Rack", "RackLiquidSupplyTemperature", "A07/TS_Fbk", **rack),
        metadata("Rack", "RackLiquidReturnTemperature", "A07/ReturnTempSetPoint", **rack),
        metadata("Rack", "RackLiquidReturnTemperature", "A07/ReturnTemp", **rack),
        metadata(
            "Rack",
            "RackLeakDetect",
            "A07/Leak",
            rackLocationName="A-07",
            stateText=[{"value": 0, "text": "NoLeak"}, {"value": 1, "text": "Leak"}],
        ),
    ]
    result = auto_map(["A-07"], [], points)
    assert {m.feeds: m.tag_path for m in result.proposed} == {
        "rack A-07 supply_temp_c": "A07/TS_Fbk",
        "rack A-07 return_temp_c": "A07/ReturnTemp",
        "rack A-07 leak": "A07/Leak",
    }
    reasons = {u.point.tag_path: u.reason for u in result.unmatched}
    fed_by = "already fed by Rack/RackLiquidSupplyTemperature/A07/TS_Fbk"
    assert fed_by in reasons["A07/TS"] and fed_by in reasons["A07/TS_Sp"]
    assert reasons["A07/TS"].endswith("whose tag path reads as feedback")
    assert reasons["A07/ReturnTempSetPoint"].endswith(
        "this tag path reads as a setpoint or command"
    )
    assert (
        "already fed by Rack/RackLiquidReturnTemperature/A07/ReturnTemp"
        in reasons["A07/ReturnTempSetPoint"]
    )


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
