"""The service's side of DSX Flex: the grid desk on the running design, its own connection to
the design's MQTT broker (subscribed to load targets, power-state snapshots and breach alerts;
publishing enforcement results), and its answers to windows.

The connection is the design's broker, with the same TLS and account as the BMS source but a
client id of its own (``…-grid``); without a broker in the design there is no grid link, and
the Grid panel says so. Nothing received acts by itself: events only change what is proposed,
unless an engineer enabled the policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.mqtt_settings import MqttConfig, resolve_password
from factoryfloor.backend.service.control.desk import Audit, ControlDesk
from factoryfloor.backend.service.flex.desk import GridDesk, GridRefused
from factoryfloor.backend.service.flex.live_curves import LiveCurves
from factoryfloor.backend.service.flex.messages import (
    ApplyGridProposal,
    GetGrid,
    GridRequest,
    RemoveGridCaps,
    SetGridPolicy,
)
from factoryfloor.backend.service.flex.settings import FILE_NAME, GridSettings
from factoryfloor.backend.service.flex.signing import KeyRing
from factoryfloor.backend.service.power.model_curves import rack_curves
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.telemetry.protocol import Accepted, Message, Refused, Reply
from factoryfloor.backend.telemetry.sources.mqtt_source import connect_client
from factoryfloor.backend.telemetry.store import Snapshot, TelemetryStore

log = logging.getLogger(__name__)

SUBSCRIPTIONS = ("grid/v1/isv/+/loadtarget/set", "grid/v1/dsx-flex-agent/+/powerstate/status",
                 "grid/v1/dsx-flex-agent/+/powerbreach")  # fmt: skip
"""What the grid desk reads (DSX Flex 1.7 channels): QoS 1 and 2 as the contract binds them."""
ENFORCEMENT_QOS = 2
RECONNECT_S = (1.0, 30.0)
TICK_S = 1.0
"""Intervals, the policy and the windows' view are looked at this often."""

Notify = Callable[[Message], Awaitable[None]]
TellOne = Callable[[bytes, Message], Awaitable[None]]


class GridLink:
    def __init__(self, folder: Path | None, audit: Audit, notify: Notify, tell_one: TellOne
                 ) -> None:  # fmt: skip
        self._folder, self._audit, self._notify, self._tell_one = folder, audit, notify, tell_one
        self.desk: GridDesk | None = None
        self.problem = ""
        """Why there is no grid desk (bad grid.json or keys), for the log and the windows."""
        self._task: asyncio.Task | None = None
        self._client: aiomqtt.Client | None = None
        self._ticked_s = 0.0
        self._store: TelemetryStore | None = None

    async def use(self, design: Design, store: TelemetryStore, mqtt: MqttConfig | None) -> None:
        """The desk for ``design``, connected to its broker when it has one."""
        await self.stop()
        self._store = store
        folder = self._folder
        try:
            settings = (GridSettings.load(folder / FILE_NAME, design) if folder is not None
                        else GridSettings())  # fmt: skip
            keys = KeyRing.from_files(settings.trusted_keys, settings.signing_key)
        except ValueError as error:
            self.problem = str(error)
            log.error("grid load targets off: %s", error)
            self.desk = None
            return
        self.problem = ""
        self.desk = GridDesk(design, settings, keys, LiveCurves(design, rack_curves(design)),
                             folder, self._audit)  # fmt: skip
        if mqtt is not None:
            self._task = asyncio.create_task(self._connect(mqtt))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _connect(self, config: MqttConfig) -> None:
        """Subscribe and hand every message to the desk; reconnect with jittered backoff."""
        grid_config = config.model_copy(update={"client_id": f"{config.client_id}-grid"[:64],
                                                "session_expiry_s": 0})  # fmt: skip
        delay_s = RECONNECT_S[0]
        while True:
            try:
                async with connect_client(grid_config, resolve_password()) as client:
                    await client.subscribe([(topic, 2) for topic in SUBSCRIPTIONS])
                    self._client = client
                    self._set_connected(True)
                    delay_s = RECONNECT_S[0]
                    async for message in client.messages:
                        if self.desk is not None and isinstance(message.payload, bytes):
                            self.desk.receive(message.topic.value, message.payload, time.time())
            except aiomqtt.MqttError as error:
                log.warning("grid link to %s:%d lost: %s", config.host, config.port, error)
            finally:
                self._client = None
                self._set_connected(False)
            await asyncio.sleep(delay_s * random.uniform(0.8, 1.2))
            delay_s = min(delay_s * 2, RECONNECT_S[1])

    def _set_connected(self, connected: bool) -> None:
        if self.desk is not None and self.desk.connected != connected:
            self.desk.connected = connected
            self.desk.changed = True

    async def publish(self, topic: str, payload: bytes) -> None:
        client = self._client
        if client is None:
            log.warning("not connected to the broker: %s not published", topic)
            return
        await client.publish(topic, payload, qos=ENFORCEMENT_QOS)

    async def tick(self, snapshot: Snapshot, now_s: float, control: ControlDesk | None) -> None:
        """Once a ``TICK_S``: intervals and policy; windows told when anything changed, and
        every tick while a feed has a target or caps (its load and compliance move)."""
        desk = self.desk
        if desk is None or now_s - self._ticked_s < TICK_S:
            return
        self._ticked_s = now_s
        await desk.tick(snapshot, now_s, control, self.publish)
        if desk.changed or desk.live(now_s):  # a feed under a target: its load, each tick
            desk.changed = False
            await self._notify(desk.view(snapshot, now_s))

    async def answer(self, identity: bytes, user: str, role: Role, request: GridRequest,
                     control: ControlDesk | None) -> Reply:  # fmt: skip
        desk = self.desk
        if desk is None:
            return Refused(request.msg_id, "grid load targets are off: " + (
                self.problem or "the service keeps no data folder"))  # fmt: skip
        snapshot = self._store.snapshot("", time.time()) if self._store is not None else None
        try:
            match request:
                case GetGrid():
                    await self._tell_one(identity, desk.view(snapshot, time.time()))
                    return Accepted(request.msg_id)
                case SetGridPolicy(enabled=enabled, ceiling_kw=ceiling_kw):
                    desk.set_policy(enabled, ceiling_kw, user, role)
                case ApplyGridProposal(feed_id=feed_id) | RemoveGridCaps(feed_id=feed_id):
                    if control is None or snapshot is None:
                        return Refused(
                            request.msg_id, "no control path yet: the service is starting"
                        )
                    if isinstance(request, ApplyGridProposal):
                        await desk.apply(feed_id, snapshot, user, role, control, self.publish,
                                         time.time())  # fmt: skip
                    else:
                        await desk.remove(feed_id, user, role, control, self.publish)
        except GridRefused as refused:
            return Refused(request.msg_id, str(refused))
        await self._notify(desk.view(snapshot, time.time()))
        desk.changed = False
        return Accepted(request.msg_id)
