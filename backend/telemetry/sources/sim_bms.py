"""A small DSX Exchange BMS on a real broker, for tests, benchmarks and demos of control.

It behaves as the BMS Event Bus describes one, for a design's CDUs and racks:

- retained metadata under ``{prefix}/Metadata/...`` for each CDU's measured supply temperature,
  its supply temperature setpoint (``isSetpoint``) and its ``LiquidTemperatureSpRequest``, and
  for each rack's liquid and electrical isolation status and request points; the request points
  name the integration allowed to write them (``integration``), the contract's rule;
- the values of those points under ``{prefix}/Value/...`` (retained here, so a client that
  connects later reads the state at once instead of after the 100 s re-send), and a
  ``HeartbeatTimestampBms`` every ``heartbeat_s``;
- requests on ``BMS/v1/{integration}/Value/...``, taken only from the integration the point's
  metadata names: after ``delay_s`` a rack's isolation status becomes what was asked, and a
  CDU's setpoint ramps to it at ``ramp_c_per_s`` (none: at once), the measured supply
  temperature following; with ``ignore_requests`` set it takes none of them, as a BMS in local
  override does.

This is the BMS's side of the contract, so it subscribes to request topics; FactoryFloor never
does. ``foreign_racks`` are racks whose request points the BMS offers to another integration.
Its socket sends at once (``TCP_NODELAY``): it acknowledges a request and publishes the answer
back to back, and with Nagle's algorithm the answer would wait some 40 ms for the broker's
delayed ACK of the acknowledgement (bench/control_bms.py).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import aiomqtt

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.telemetry.sources.payloads import PayloadError, decode_dsx_value
from factoryfloor.backend.telemetry.sources.payloads import encode_dsx_value as _value

HEARTBEAT_POINT = "BMS/HeartbeatTimestampBms/Sim/Heartbeat"
FOREIGN_INTEGRATION = "bms-vendor-tool"
RAMP_STEP_S = 0.1
"""How often a ramping setpoint is re-published."""
ISOLATION_STATES = [{"value": 0, "text": "Normal"}, {"value": 1, "text": "Isolated"}]


@dataclass(frozen=True, slots=True)
class _Point:
    point_id: str
    """``objectType/pointType/tagPath``."""
    metadata: dict[str, object]


def cdu_points(cdu_id: str) -> dict[str, str]:
    """The point ids of one simulated CDU, by role: ``supply``, ``setpoint``, ``request``."""
    tag = f"Sim/{cdu_id}"
    return {
        "supply": f"CDU/LiquidTemperature/{tag}/SupplyTemperature",
        "setpoint": f"CDU/LiquidTemperature/{tag}/SupplyTempSetpoint",
        "request": f"CDU/LiquidTemperatureSpRequest/{tag}/SupplyTempSpRequest",
    }


def rack_points(rack_id: str, circuit: str) -> dict[str, str]:
    """The point ids of one simulated rack's isolation on ``circuit`` (``Liquid``,
    ``Electrical``), by role: ``status``, ``request``."""
    tag = f"Sim/{rack_id}/{circuit}Isolation"
    return {
        "status": f"Rack/Rack{circuit}IsolationStatus/{tag}/Status",
        "request": f"Rack/Rack{circuit}IsolationRequest/{tag}/Request",
    }


class SimulatedBms:
    """A DSX BMS for ``cdus`` (id -> supply temperature setpoint, °C) and ``racks``; see the
    module doc. ``run`` until cancelled; ``published`` is set once the metadata and first
    values are on the broker."""

    def __init__(
        self,
        host: str,
        port: int,
        cdus: Mapping[str, float],
        racks: Collection[str],
        *,
        integration: str = "factoryfloor",
        prefix: str = "BMS/v1/PUB",
        delay_s: float = 0.2,
        ramp_c_per_s: float | None = 1.0,
        heartbeat_s: float = 10.0,
        foreign_racks: Collection[str] = (),
        client_id: str = "factoryfloor-sim-bms",
    ) -> None:
        self.ignore_requests = False
        self.requests_taken = 0
        self.published = asyncio.Event()
        self._host, self._port, self._client_id = host, port, client_id
        self._prefix = prefix
        self._integration = integration
        self._delay_s = delay_s
        self._ramp_c_per_s = ramp_c_per_s
        self._heartbeat_s = heartbeat_s
        self._values: dict[str, float] = {}
        self._points: dict[str, _Point] = {}
        self._handlers: dict[str, tuple[str, str]] = {}
        """Request point id -> (what it asks for: ``setpoint`` or ``isolation``, entity)."""
        self._supply_of: dict[str, str] = {}
        for cdu_id, supply_c in cdus.items():
            self._add_cdu(cdu_id, supply_c)
        for rack_id in racks:
            offered = FOREIGN_INTEGRATION if rack_id in foreign_racks else integration
            for circuit in ("Liquid", "Electrical"):
                self._add_rack(rack_id, circuit, offered)
        self._client: aiomqtt.Client | None = None
        self._answers: dict[str, asyncio.Task[None]] = {}
        """The answer under way per request point: a new request replaces it, as a BMS ramps
        to the latest setpoint asked for."""

    @classmethod
    def for_design(cls, design: Design, host: str, port: int, **options: Any) -> SimulatedBms:
        """A BMS for every CDU and rack of ``design``, setpoints at their design values."""
        cdus = {cdu.id: cdu.supply_temp_c for cdu in design.cdus}
        return cls(host, port, cdus, [rack.id for rack in design.racks], **options)

    def value(self, point_id: str) -> float:
        """What the BMS holds for one of its points now."""
        return self._values[point_id]

    @property
    def metadata(self) -> dict[str, dict[str, object]]:
        """Point id -> the retained metadata this BMS publishes."""
        return {point.point_id: point.metadata for point in self._points.values()}

    def _add_cdu(self, cdu_id: str, supply_c: float) -> None:
        ids = cdu_points(cdu_id)
        named = {"objectName": cdu_id, "objectId": cdu_id, "engUnit": "°C"}
        supply = named | {"processArea": "Secondary Supply"}
        self._add(ids["supply"], supply, supply_c)
        self._add(ids["setpoint"], supply | {"isSetpoint": True}, supply_c)
        request = supply | {"isSetpoint": True, "integration": self._integration}
        self._add(ids["request"], request, supply_c)
        self._handlers[ids["request"]] = ("setpoint", cdu_id)
        self._supply_of[ids["setpoint"]] = ids["supply"]

    def _add_rack(self, rack_id: str, circuit: str, offered: str) -> None:
        ids = rack_points(rack_id, circuit)
        named = {"rackLocationId": rack_id, "rackLocationName": rack_id}
        self._add(ids["status"], named | {"stateText": ISOLATION_STATES}, 0.0)
        request = named | {"stateText": ISOLATION_STATES, "integration": offered}
        self._add(ids["request"], request, 0.0)
        self._handlers[ids["request"]] = ("isolation", ids["status"])

    def _add(self, point_id: str, metadata: dict[str, object], value: float) -> None:
        self._points[point_id] = _Point(point_id, metadata)
        self._values[point_id] = value

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        root = self._prefix.rpartition("/")[0]
        no_delay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        async with aiomqtt.Client(
            self._host, self._port, identifier=self._client_id, socket_options=no_delay
        ) as client:
            self._client = client
            for point in self._points.values():
                topic = f"{self._prefix}/Metadata/{point.point_id}"
                await client.publish(topic, json.dumps(point.metadata), qos=1, retain=True)
            for point_id, value in self._values.items():
                if point_id not in self._handlers:  # the BMS publishes no value for requests
                    await self._publish_value(point_id, value)
            await client.subscribe(f"{root}/+/Value/#", qos=1)
            self.published.set()
            heartbeat = asyncio.get_running_loop().create_task(self._heartbeat())
            try:
                async for message in client.messages:
                    self._on_request(message.topic.value, message.payload, root)
            finally:  # the broker gone (MqttError) or cancelled: nothing left to answer
                for task in (heartbeat, *self._answers.values()):
                    task.cancel()

    async def _heartbeat(self) -> None:
        while True:
            await self._publish_value(HEARTBEAT_POINT, time.time())
            await asyncio.sleep(self._heartbeat_s)

    async def _publish_value(self, point_id: str, value: float) -> None:
        assert self._client is not None
        self._values[point_id] = value
        topic = f"{self._prefix}/Value/{point_id}"
        await self._client.publish(topic, _value(value, time.time()), qos=1, retain=True)

    def _on_request(self, topic: str, payload: object, root: str) -> None:
        """A request is taken only from the integration its point's metadata names."""
        integration, _, rest = topic[len(root) + 1 :].partition("/Value/")
        handler = self._handlers.get(rest)
        if handler is None or self.ignore_requests or not isinstance(payload, bytes):
            return
        if self._points[rest].metadata.get("integration") != integration:
            return
        try:
            _, value, quality = decode_dsx_value(payload)
        except PayloadError:
            return
        if quality != 1 or value != value:
            return
        self.requests_taken += 1
        what, target = handler
        answer = self._ramp(target, value) if what == "setpoint" else self._isolate(target, value)
        previous = self._answers.get(rest)
        if previous is not None:
            previous.cancel()
        self._answers[rest] = asyncio.get_running_loop().create_task(answer)

    async def _isolate(self, status_point: str, value: float) -> None:
        await asyncio.sleep(self._delay_s)
        await self._publish_value(status_point, 1.0 if value >= 0.5 else 0.0)

    async def _ramp(self, cdu_id: str, target_c: float) -> None:
        """The setpoint moves towards ``target_c`` a step at a time, then the supply follows."""
        setpoint = cdu_points(cdu_id)["setpoint"]
        await asyncio.sleep(self._delay_s)
        while (now_c := self._values[setpoint]) != target_c:
            step_c = None if self._ramp_c_per_s is None else self._ramp_c_per_s * RAMP_STEP_S
            if step_c is None or abs(target_c - now_c) <= step_c:
                next_c = target_c
            else:
                next_c = now_c + step_c if target_c > now_c else now_c - step_c
            await self._publish_value(setpoint, next_c)
            if next_c != target_c:
                await asyncio.sleep(RAMP_STEP_S)
        await self._publish_value(self._supply_of[setpoint], target_c)
