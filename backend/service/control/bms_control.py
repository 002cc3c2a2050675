"""CDU setpoints and rack isolation through a DSX Exchange BMS over MQTT.

The DSX BMS Event Bus lets an integration write a few points
(``BMS/v1/{integration}/Value/{objectType}/{pointType}/{tagPath}``, the usual
``{value, timestamp, quality}`` payload), and its rule is that an integration writes only the
points whose retained metadata names it in ``integration``, at exactly the metadata's tag path.
So a request is published only when the MQTT source has seen that metadata and it names this
application's id (``telemetry.mqtt.integration``); otherwise the command fails as not writable
and nothing leaves. A request goes at QoS 1 over the source's own connection.

A request is confirmed only by the BMS's own point (``mqtt_settings.CONFIRMED_BY``) reaching the
value asked for, read through :class:`FeedbackSink` as the source ingests it; the wait ends with
the confirming message, or after the timeout as unconfirmed. Nothing here subscribes to a
request topic, and nothing received ever causes a publish: only ``request`` publishes, and only
the service's control desk calls it, for an operator's command.
"""

from __future__ import annotations

import asyncio
import time

import aiomqtt

from factoryfloor.backend.design.mqtt_settings import PointMapping
from factoryfloor.backend.service.control.commands import FacilityCommand
from factoryfloor.backend.service.control.executors import ControlFailure
from factoryfloor.backend.service.control.facility_points import FacilityRequest, facility_request
from factoryfloor.backend.telemetry.feedback import FeedbackSink
from factoryfloor.backend.telemetry.sink import GOOD
from factoryfloor.backend.telemetry.sources.bms_mapping import not_offered
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource
from factoryfloor.backend.telemetry.sources.payloads import encode_dsx_value

REQUEST_QOS = 1
"""Commands are QoS 1 (design notes, section 5): the broker acknowledges every request."""


class MqttFacilityControl:
    """``FacilityControl`` over the DSX BMS Event Bus: ``source`` must write into ``feedback``
    (``MqttSource(config, FeedbackSink(store))``), whose readings confirm the requests."""

    def __init__(self, source: MqttSource, feedback: FeedbackSink) -> None:
        self._source = source
        self._feedback = feedback

    @property
    def confirm_timeout_s(self) -> float:
        """How long the BMS has to confirm, from the design (``telemetry.mqtt``)."""
        return self._source.config.confirm_timeout_s

    def current(self, command: FacilityCommand) -> float | None:
        return self._read_back(facility_request(command).feedback_key)

    async def request(self, command: FacilityCommand, timeout_s: float) -> float:
        request = facility_request(command)
        topic = self._topic(request)
        self._check_confirmable(request)
        answer = self._feedback.next_reading(request.feedback_key)
        try:
            payload = encode_dsx_value(request.value, time.time())
            await self._source.publish(topic, payload, qos=REQUEST_QOS)
        except aiomqtt.MqttError as exc:
            answer.cancel()
            raise ControlFailure("error", f"{request.target}: not sent: {exc}") from None
        return await self._confirmation(request, answer, timeout_s)

    def _topic(self, request: FacilityRequest) -> str:
        """The request topic, once the BMS's metadata offers the point to this integration;
        ``ControlFailure("not_writable")`` otherwise."""
        config = self._source.config
        prefix = config.integration_prefix
        if prefix is None:
            raise ControlFailure("not_writable", "no BMS on this broker (no bms_prefix)")
        point = self._mapped(request, request.quantity)
        if point is None:
            raise ControlFailure(
                "not_writable",
                f"{request.target}: no {request.point_type} point is mapped"
                " (review the BMS mapping in the MQTT settings)",
            )
        metadata = self._source.point_metadata(point.point_id)
        if metadata is None:
            raise ControlFailure(
                "not_writable",
                f"{request.target}: the BMS has published no metadata for {point.point_id},"
                " so it offers it to no integration",
            )
        refusal = not_offered(metadata, config.integration)
        if refusal is not None:
            raise ControlFailure("not_writable", f"{request.target}: {refusal}")
        return f"{prefix}/Value/{point.point_id}"

    def _check_confirmable(self, request: FacilityRequest) -> None:
        """A request nothing could confirm is not sent: it would always end unconfirmed."""
        if self._mapped(request, request.feedback_quantity) is None:
            raise ControlFailure(
                "error",
                f"{request.target}: no BMS point feeds {request.feedback_quantity}, so nothing"
                " would confirm the request (review the BMS mapping in the MQTT settings)",
            )

    def _mapped(self, request: FacilityRequest, quantity: str) -> PointMapping | None:
        for point in self._source.points:
            if (point.kind, point.entity_id, point.quantity) == (
                request.kind,
                request.entity_id,
                quantity,
            ):
                return point
        return None

    async def _confirmation(
        self, request: FacilityRequest, answer: asyncio.Future[None], timeout_s: float
    ) -> float:
        """Wait for the confirming point to read the value asked for; each new reading of it
        is checked, and the value it holds already counts (a BMS publishes on change only)."""
        key = request.feedback_key
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    read_back = self._read_back(key)
                    if request.reached(read_back):
                        return read_back  # type: ignore[return-value]
                    await answer
                    answer = self._feedback.next_reading(key)
        except TimeoutError:
            raise request.unconfirmed(self._read_back(key), timeout_s) from None
        finally:
            answer.cancel()  # no-op once done

    def _read_back(self, key: str) -> float | None:
        """The confirming point's last good reading; none before one or while it is bad."""
        reading = self._feedback.latest(key)
        return reading.value if reading is not None and reading.quality == GOOD else None
