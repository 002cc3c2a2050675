"""CDU setpoints and rack isolation through a real Mosquitto and the simulated DSX BMS.

FactoryFloor's side runs as the service runs it: the MQTT source ingesting through a
``FeedbackSink``, and ``MqttFacilityControl`` publishing over the source's connection. A
subscriber of our own records every request that reaches the broker; "nothing was published" is
asserted by publishing a marker over the same connection afterwards and seeing it arrive alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiomqtt
import paho.mqtt.client as mqtt
import pytest
from pydantic import ValidationError
from test_mqtt_source import CountingSink, config_for, eventually, running

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.service.control.bms_control import MqttFacilityControl
from factoryfloor.backend.service.control.commands import IsolateRack, SetCduSupplyTemp
from factoryfloor.backend.service.control.executors import ControlFailure
from factoryfloor.backend.telemetry.feedback import FeedbackSink
from factoryfloor.backend.telemetry.sources.bms_mapping import PointMetadata, auto_map
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.backend.telemetry.sources.sim_bms import (
    FOREIGN_INTEGRATION,
    SimulatedBms,
    cdu_points,
    rack_points,
)

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher

pytest_plugins = ["broker"]

OURS = "BMS/v1/factoryfloor/Value"
MARKER = "test/marker"
CDUS = {"CDU-1": 30.0}
RACKS = ["A-01", "A-02"]


class Recorder:
    """Every message on the integrations' request topics (and the marker), as the broker
    delivers them."""

    def __init__(self, broker: Mosquitto) -> None:
        self.messages: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-recorder")
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.connect(broker.host, broker.port)
        self._client.subscribe([("BMS/v1/+/Value/#", 1), (MARKER, 1)])
        self._client.loop_start()
        assert self._subscribed.wait(5.0), "the recorder's subscription was not acknowledged"

    def _on_message(self, client: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.startswith("BMS/v1/PUB/"):
            return  # the BMS's own points
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def seen(self) -> list[tuple[str, dict]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass
class Facility:
    bms: SimulatedBms
    source: MqttSource
    control: MqttFacilityControl
    sink: CountingSink
    recorder: Recorder

    async def nothing_else_published(self) -> list[tuple[str, dict]]:
        """What the broker delivered before a marker sent now over the source's connection."""
        await self.source.publish(MARKER, b'{"marker": true}')
        await eventually(lambda: (MARKER, {"marker": True}) in self.recorder.seen(), "marker")
        return self.recorder.seen()[:-1]


@contextlib.asynccontextmanager
async def facility(broker: Mosquitto, **bms_options: object) -> AsyncIterator[Facility]:
    """The simulated BMS on ``broker``, and FactoryFloor mapped to it by ``auto_map`` over the
    BMS's own metadata (without the integration check, so the foreign racks' request points are
    mapped too: whether they may be written is the control's call)."""
    bms = SimulatedBms(broker.host, broker.port, CDUS, RACKS, delay_s=0.05, **bms_options)  # type: ignore[arg-type]
    recorder = Recorder(broker)
    points = auto_map(RACKS, list(CDUS), metadata_of(bms)).proposed
    sink = CountingSink()
    feedback = FeedbackSink(sink)
    source = MqttSource(config_for(broker, points=points), feedback)
    control = MqttFacilityControl(source, feedback)
    bms_task = asyncio.create_task(bms.run())
    try:
        await bms.published.wait()
        async with running(source, sink):
            await eventually(lambda: len(source.metadata) == len(bms.metadata), "the metadata")
            await eventually(lambda: control.current(setpoint(0.0)) == 30.0, "the setpoint")
            yield Facility(bms, source, control, sink, recorder)
    finally:
        bms_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):  # broker stopped
            await bms_task
        recorder.close()


def metadata_of(bms: SimulatedBms) -> list[PointMetadata]:
    return [PointMetadata(*pid.split("/", 2), fields) for pid, fields in bms.metadata.items()]


def setpoint(temp_c: float) -> SetCduSupplyTemp:
    return SetCduSupplyTemp(cdu_id="CDU-1", temp_c=temp_c)


def request_topic(point_id: str) -> str:
    return f"{OURS}/{point_id}"


# -- through the broker ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_cdu_setpoint_is_confirmed_once_the_bms_setpoint_has_ramped_to_it(
    mosquitto: Mosquitto,
) -> None:
    async with facility(mosquitto, ramp_c_per_s=20.0) as site:
        read_back = await site.control.request(setpoint(27.5), timeout_s=10.0)
        assert read_back == pytest.approx(27.5, abs=0.1)
        assert site.control.current(setpoint(27.5)) == pytest.approx(27.5, abs=0.1)
        sent = await site.nothing_else_published()
    [(topic, payload)] = sent
    assert topic == request_topic(cdu_points("CDU-1")["request"])
    assert payload["value"] == 27.5 and payload["quality"] == 1
    assert payload["timestamp"] > 1e12, "DSX timestamps are epoch milliseconds"
    ramp = [v for key, _, v, _ in site.sink.readings if key == "cdu/CDU-1/supply_temp_sp_c"]
    assert any(27.6 < v < 29.9 for v in ramp), f"confirmed before the ramp ran: {ramp}"


@pytest.mark.asyncio
async def test_a_setpoint_the_bms_ignores_is_unconfirmed_after_the_timeout(
    mosquitto: Mosquitto,
) -> None:
    async with facility(mosquitto) as site:
        site.bms.ignore_requests = True
        with pytest.raises(ControlFailure) as failure:
            await site.control.request(setpoint(25.0), timeout_s=0.3)
        sent = await site.nothing_else_published()
    assert failure.value.kind == "unconfirmed"
    assert failure.value.reason == (
        "CDU CDU-1: the BMS's supply_temp_sp_c reads 30 °C 0.3 s after asking for 25 °C"
    )
    assert [topic for topic, _ in sent] == [request_topic(cdu_points("CDU-1")["request"])]
    assert site.bms.requests_taken == 0


@pytest.mark.asyncio
async def test_a_point_offered_to_another_integration_is_never_written(
    mosquitto: Mosquitto,
) -> None:
    async with facility(mosquitto, foreign_racks=["A-02"]) as site:
        with pytest.raises(ControlFailure) as failure:
            await site.control.request(IsolateRack(rack_id="A-02"), timeout_s=5.0)
        sent = await site.nothing_else_published()
    assert failure.value.kind == "not_writable"
    point = rack_points("A-02", "Liquid")["request"]
    assert failure.value.reason == (
        f"rack A-02: the BMS offers {point} to integration {FOREIGN_INTEGRATION!r},"
        " not to 'factoryfloor'"
    )
    assert sent == [] and site.bms.requests_taken == 0


@pytest.mark.asyncio
async def test_rack_isolation_is_confirmed_by_its_status_point_and_released_again(
    mosquitto: Mosquitto,
) -> None:
    async with facility(mosquitto) as site:
        isolate = IsolateRack(rack_id="A-01", circuit="electrical", isolated=True)
        assert site.control.current(isolate) == 0.0
        assert await site.control.request(isolate, timeout_s=10.0) == 1.0
        status = rack_points("A-01", "Electrical")["status"]
        assert site.bms.value(status) == 1.0
        assert site.control.current(IsolateRack(rack_id="A-01", circuit="liquid")) == 0.0
        release = IsolateRack(rack_id="A-01", circuit="electrical", isolated=False)
        assert await site.control.request(release, timeout_s=10.0) == 0.0
        sent = await site.nothing_else_published()
    request = request_topic(rack_points("A-01", "Electrical")["request"])
    assert [(topic, payload["value"]) for topic, payload in sent] == [
        (request, 1.0),
        (request, 0.0),
    ]


@pytest.mark.asyncio
async def test_request_topics_received_are_never_acted_on(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    """Someone else's request on our integration's topic, and the BMS's echo of a request:
    FactoryFloor publishes nothing in answer, and the echo is only a reading."""
    async with facility(mosquitto) as site:
        site.bms.ignore_requests = True  # the BMS's answer is not ours to test here
        cdu_request = cdu_points("CDU-1")["request"]
        publisher.publish(request_topic(cdu_request), {"value": 12.0, "timestamp": 1, "quality": 1})
        echo = {"value": 12.0, "timestamp": 1_743_620_423_000, "quality": 1}
        publisher.publish(f"BMS/v1/PUB/Value/{cdu_request}", echo, qos=1)
        key = "cdu/CDU-1/supply_temp_sp_request_c"
        await eventually(lambda: key in site.sink.latest(), "the echo, as a reading")
        sent = await site.nothing_else_published()
        assert site.control.current(setpoint(12.0)) == 30.0
    assert [topic for topic, _ in sent] == [request_topic(cdu_request)]


@pytest.mark.asyncio
async def test_a_request_while_the_broker_is_away_fails_as_not_sent(mosquitto: Mosquitto) -> None:
    async with facility(mosquitto) as site:
        mosquitto.stop()
        await eventually(lambda: site.sink.statuses("reconnecting"), "the source noticing")
        with pytest.raises(ControlFailure) as failure:
            await site.control.request(setpoint(25.0), timeout_s=5.0)
    assert failure.value.kind == "error"
    assert failure.value.reason == (
        f"CDU CDU-1: not sent: not connected to the broker at {mosquitto.host}:{mosquitto.port}"
    )


# -- settings and mapping, without a broker -------------------------------------------------------


def test_request_points_are_proposed_only_where_the_bms_offers_them_to_us() -> None:
    bms = SimulatedBms("localhost", 1883, CDUS, RACKS, foreign_racks=["A-02"])
    result = auto_map(RACKS, list(CDUS), metadata_of(bms), integration="factoryfloor")
    feeds = {m.feeds for m in result.proposed}
    assert {
        "cdu CDU-1 supply_temp_c",
        "cdu CDU-1 supply_temp_sp_c",
        "cdu CDU-1 supply_temp_sp_request_c",
        "rack A-01 liquid_isolation_request",
        "rack A-01 electrical_isolated",
        "rack A-02 liquid_isolated",
    } <= feeds
    assert "rack A-02 liquid_isolation_request" not in feeds
    reasons = {u.point.point_id: u.reason for u in result.unmatched}
    point = rack_points("A-02", "Electrical")["request"]
    assert reasons[point] == (
        f"the BMS offers {point} to integration {FOREIGN_INTEGRATION!r}, not to 'factoryfloor'"
    )


def test_integration_id_and_confirmation_timeout_are_checked() -> None:
    config = MqttConfig()
    assert (config.integration, config.confirm_timeout_s) == ("factoryfloor", 60.0)
    assert config.integration_prefix == "BMS/v1/factoryfloor"
    assert MqttConfig(bms_prefix=None).integration_prefix is None
    with pytest.raises(ValidationError, match="'a/b' is not a DSX integration id"):
        MqttConfig(integration="a/b")
    with pytest.raises(ValidationError, match="the BMS's own publisher id"):
        MqttConfig(integration="PUB")
    with pytest.raises(ValidationError, match="confirm_timeout_s"):
        MqttConfig(confirm_timeout_s=0)


def test_a_simulated_bms_for_the_demo_hall_offers_every_cdu_and_rack_to_us() -> None:
    """Every CDU and rack of a design gets its request and confirming points mapped from the
    simulated BMS's metadata alone, as a demo needs."""
    demo = load_design(Path(__file__).resolve().parents[1] / "resources" / "demo_hall.json")
    bms = SimulatedBms.for_design(demo, "localhost", 1883)
    result = auto_map([r.id for r in demo.racks], [c.id for c in demo.cdus], metadata_of(bms))
    feeds = {m.feeds for m in result.proposed}
    for cdu in demo.cdus:
        assert {f"cdu {cdu.id} supply_temp_sp_c", f"cdu {cdu.id} supply_temp_sp_request_c"} <= feeds
    for rack in demo.racks:
        for circuit in ("liquid", "electrical"):
            assert {
                f"rack {rack.id} {circuit}_isolated",
                f"rack {rack.id} {circuit}_isolation_request",
            } <= feeds
    assert result.unmatched == []
