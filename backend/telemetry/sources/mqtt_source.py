"""The MQTT telemetry source: DSX BMS points and FactoryFloor node agents, into a TelemetrySink.

One ``MqttSource`` keeps one broker connection for as long as ``run()`` runs. It never gives up
and never stops on bad input: broker and network trouble become status events and a reconnect
with exponential backoff and jitter (aiomqtt has no reconnect of its own); malformed payloads,
sequence gaps and messages dropped for want of room become counted, throttled events.
While nothing listens at the broker's address (a restart) attempts come at least every
``UNREACHABLE_RETRY_S``, so the first reading follows the broker's return within about a second;
the backoff starts over once a connection has delivered a message, so a flapping broker does not
grow it either. Off loopback, plaintext is refused unless the design allows it explicitly
(``allow_plaintext``), and every plaintext connection is said as such in a status event.

Why it is built the way it is (measurements in design notes section 9 and bench/mqtt_ingest.py):

- Per-message overhead dominates ingest, so messages are drained in batches and every batch
  goes to the sink in one ``write``. aiomqtt's ``async for message in client.messages`` costs
  a task and a wait per message; instead aiomqtt is handed our own queue class through its
  public ``queue_type`` parameter, whose ``put_nowait`` appends to a :class:`MessageInbox`.
  Since that queue never hands anything out, ``client.messages`` only ever ends by raising on
  disconnect, which is how the connection loop waits for a disconnect without private fields.
- aiomqtt does not tell whether the broker kept our session, so every connection subscribes
  again: with a kept session that changes nothing (MQTT 5 is even asked not to resend retained
  metadata), without one (a restarted broker) it restores everything.
- MQTT 3.1.1 is the default: the DSX Event Bus is NATS, which speaks 3.1.1 only, and paho
  parses MQTT 5 properties on every message at about twice the per-message cost.
- Routing is by topic string, cached, because a site's topics are few and repeat endlessly.
- A topic is all the authority a message has (``topic_authority``): a node's messages write only
  that node's GPU series, a BMS value only the series its point is mapped to; anything else is
  refused and counted per topic and reason, like a malformed payload.
- The source's connection also carries what this application publishes (``publish``: BMS
  requests at QoS 1, so they leave from the same client id the broker already admits); it
  never subscribes to a request topic, and nothing it receives is ever obeyed.
- The BMS heartbeat (``HeartbeatTimestampBms``, every 10 s) is watched; silence longer than the
  configured timeout is reported as BMS lost. Whether a series is stale is the store's call,
  made from the reading timestamps written here.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from factoryfloor.backend.design.mqtt_settings import (
    MqttConfig,
    PointMapping,
    check_points,
    plaintext_refusal,
    resolve_password,
)
from factoryfloor.backend.telemetry.series import entity_key
from factoryfloor.backend.telemetry.sink import EventKind, SourceEvent, TelemetrySink
from factoryfloor.backend.telemetry.sources.bms_mapping import (
    AutoMapResult,
    PointMetadata,
    auto_map,
)
from factoryfloor.backend.telemetry.sources.mqtt_diagnosis import (
    ConnectionDiagnosis,
    DiagnosingClient,
    certificate_rejected,
)
from factoryfloor.backend.telemetry.sources.payloads import (
    Columns,
    PayloadError,
    decode_dsx_value,
    decode_metadata,
    decode_node_gpus,
    decode_node_status,
    decode_readings,
)
from factoryfloor.backend.telemetry.sources.topic_authority import NodeSeries

SOURCE = "mqtt"
HEARTBEAT_POINT = "HeartbeatTimestampBms"
TICK_S = 1.0
"""How often, with no messages, the heartbeat is checked and throttled counts are reported."""
REPORT_INTERVAL_S = 1.0
"""At most one event per second per (subject, reason) for rejections and drops."""
UNREACHABLE_RETRY_S = 0.5
"""Longest wait between attempts while nothing listens at the broker's address: such an attempt
costs one refused TCP handshake, and a broker back from a restart is met within about this long
instead of after a backoff grown while it was down."""
MAX_BATCH_MESSAGES = 5_000
"""Messages ingested per batch at most, so a backlog never blocks the loop for long."""
MAX_BATCH_READINGS = 5_000
"""Readings decoded per batch, near enough (a batch ends after the message that reaches it):
a backlog of node batches of hundreds of readings each would otherwise make batches of
hundreds of thousands and block the loop for seconds. 5,000 readings take some 10 ms to
decode and store, and 25 to 50 ms when all their series are new (bench/fleet_join.py), while
the store's fixed cost per write is already negligible."""
ROUTE_CACHE_LIMIT = 100_000
NAMES_TRACKED = 100_000
"""Topics, BMS points and (topic, reason) pairs the source keeps state for: sequence numbers,
metadata, counts. Past it, a flood of made-up names is counted under ``OTHER_NAMES`` (or, for
sequence numbers and metadata, not tracked) instead of growing memory without bound."""
OTHER_NAMES = "(other topics)"
SEQ_RESTART_WINDOW = 1_000
"""A sequence number this far below the last one (or 0) is a restarted publisher, not a repeat."""
SUBSCRIPTION_REFUSED = 0x80
"""The granted QoS of a refused subscription (MQTT 3.1.1 SUBACK; MQTT 5 has reason codes)."""
CONNECTED_TLS = "connected (TLS)"
CONNECTED_PLAINTEXT = "connected (plaintext, not encrypted)"
PROTOCOLS = {"3.1.1": aiomqtt.ProtocolVersion.V311, "5": aiomqtt.ProtocolVersion.V5}
_NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_CERT_FAILURE = re.compile(r"certificate verify failed: ([^(]+)")

Handler = Callable[[bytes, Columns], None]


class MessageInbox:
    """Messages aiomqtt received, waiting to be ingested a batch at a time.

    ``queue_type`` is the class to give ``aiomqtt.Client(queue_type=...)``: every message aiomqtt
    queues lands here. With a ``limit``, messages beyond it are dropped and counted, never
    silently lost.
    """

    def __init__(self, limit: int = 0) -> None:
        self._messages: list[aiomqtt.Message] = []
        self._ready = asyncio.Event()
        self._limit = limit
        self.dropped = 0
        inbox = self

        class _IntoInbox(asyncio.Queue):  # type: ignore[type-arg]
            def put_nowait(self, item: aiomqtt.Message) -> None:
                inbox.put(item)

        self.queue_type: type[asyncio.Queue[aiomqtt.Message]] = _IntoInbox

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, message: aiomqtt.Message) -> None:
        if self._limit and len(self._messages) >= self._limit:
            self.dropped += 1
            return
        self._messages.append(message)
        self._ready.set()

    async def wait(self, timeout_s: float) -> None:
        """Until a message is waiting or ``timeout_s`` has passed."""
        if self._messages:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()

    def put_back(self, messages: list[aiomqtt.Message]) -> None:
        """Return messages taken but not ingested, to be taken first next time."""
        if messages:
            self._messages[:0] = messages
            self._ready.set()

    def take(self, limit: int) -> list[aiomqtt.Message]:
        """Up to ``limit`` of the oldest messages, removed from the inbox."""
        messages = self._messages
        if len(messages) <= limit:
            self._messages = []
            self._ready.clear()
            return messages
        batch = messages[:limit]
        del messages[:limit]
        return batch


class _Tally:
    """Counts per (subject, reason), reported as events at most once per interval each, so a
    publisher gone wrong cannot flood the operator's event list; the counts stay exact."""

    def __init__(
        self,
        kind: EventKind,
        totals: Counter[tuple[str, str]],
        describe: Callable[[str, int, int], str],
    ) -> None:
        self.kind = kind
        self.totals = totals
        self._describe = describe
        self._unreported: Counter[tuple[str, str]] = Counter()
        self._reported_at_s: dict[tuple[str, str], float] = {}

    def add(self, subject: str, reason: str, count: int = 1) -> None:
        item = (subject, reason)
        if item not in self.totals and len(self.totals) >= NAMES_TRACKED:
            item = (OTHER_NAMES, reason)
        self.totals[item] += count
        self._unreported[item] += count

    def report(self, now_s: float, emit: Callable[[EventKind, str, str], None]) -> None:
        for item, count in list(self._unreported.items()):
            if now_s - self._reported_at_s.get(item, -REPORT_INTERVAL_S) >= REPORT_INTERVAL_S:
                emit(self.kind, item[0], self._describe(item[1], count, self.totals[item]))
                self._reported_at_s[item] = now_s
                del self._unreported[item]


@dataclass
class MqttStats:
    """Running counts, for the status panel and for tests."""

    messages: int = 0
    readings: int = 0
    connections: int = 0
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Payloads refused, per (topic, reason)."""
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Messages lost, per (topic or broker, reason): sequence gaps and a full incoming queue."""
    unmapped: Counter[str] = field(default_factory=Counter)
    """Messages per unmapped BMS point id."""


def subscription_refused(code: object) -> bool:
    """A SUBACK code refusing the subscription (3.1.1: 0x80; MQTT 5: a failure reason code)."""
    return code == SUBSCRIPTION_REFUSED or bool(getattr(code, "is_failure", False))


def backoff_s(failures: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: half the capped delay fixed, half random, so a broker
    restart is not met by every client at the same instant."""
    ceiling = min(max_s, min_s * 2.0**failures)
    return ceiling / 2.0 + rng.uniform(0.0, ceiling / 2.0)


def is_refused(exc: BaseException | None) -> bool:
    """The attempt met a closed port: nothing listens at the broker's address (yet). Seen in
    the error or what caused it (a diagnosis is raised from aiomqtt's own error)."""
    while exc is not None:
        if isinstance(exc, ConnectionRefusedError) or "connection refused" in str(exc).lower():
            return True
        exc = exc.__cause__
    return False


def describe_error(exc: BaseException) -> str:
    """One line an operator can act on, for a failed connection attempt or a lost connection."""
    text = str(exc)
    if isinstance(exc, ConnectionDiagnosis):
        return text
    certificate = _CERT_FAILURE.search(text)
    if certificate:
        reason = certificate.group(1).strip()
        if "mismatch" in reason:  # the probe that names the certificate's hosts found nothing
            return f"TLS: the broker's certificate is for another host ({reason})"
        return certificate_rejected(reason)
    if isinstance(exc, MqttConnectError):
        hint = " (try protocol 3.1.1)" if "protocol version" in str(exc.rc).lower() else ""
        return f"broker refused the connection: {exc.rc}{hint}"
    if exc.__cause__ is not None:
        return f"connection lost: {exc.__cause__}"
    return text or type(exc).__name__


def connect_client(
    config: MqttConfig,
    password: str | None,
    queue_type: type[asyncio.Queue[aiomqtt.Message]] | None = None,
) -> DiagnosingClient:
    """A client for the broker ``config`` names, logged in as it says (``password`` only with a
    user name); the source's, and a connection check's with a config of its own."""
    persistent = config.session_expiry_s > 0
    session: dict[str, Any]
    if config.protocol == "5":
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = config.session_expiry_s
        session = {"clean_start": not persistent, "properties": properties}
    else:
        session = {"clean_session": not persistent}
    return DiagnosingClient(
        config.host,
        config.port,
        username=config.username,
        password=password if config.username is not None else None,
        identifier=config.client_id,
        queue_type=queue_type,
        protocol=PROTOCOLS[config.protocol],
        keepalive=config.keepalive_s,
        tls_context=tls_context(config),
        **session,
    )


def tls_context(config: MqttConfig) -> ssl.SSLContext | None:
    """Read afresh on every attempt, so fixing a certificate file needs no restart; none for
    plaintext, which off loopback needs ``allow_plaintext`` (else nothing is sent)."""
    if not config.tls:
        refusal = plaintext_refusal(config)
        if refusal is not None:
            raise ConnectionDiagnosis(refusal)
        return None
    try:
        context = ssl.create_default_context(cafile=config.ca_file)
        if config.client_cert is not None:
            context.load_cert_chain(config.client_cert, config.client_key)
    except OSError as exc:  # missing file, or not PEM (ssl.SSLError)
        files = ", ".join(f for f in (config.ca_file, config.client_cert, config.client_key) if f)
        raise aiomqtt.MqttError(f"TLS: cannot load {files}: {exc}") from None
    return context


class MqttSource:
    """DSX BMS values and node-agent readings from one broker into ``sink``; see the module doc.

    ``password`` overrides ``FACTORYFLOOR_MQTT_PASSWORD``. ``batch_window_s`` is how long the
    drain waits after the first message of a batch for more to arrive (latency for CPU).
    """

    name = "mqtt"

    def __init__(
        self,
        config: MqttConfig,
        sink: TelemetrySink,
        password: str | None = None,
        *,
        batch_window_s: float = 0.005,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.stats = MqttStats()
        self._sink = sink
        self._password = resolve_password(password)
        self._batch_window_s = batch_window_s
        self._rng = rng or random.Random()
        self._broker = f"{config.host}:{config.port}"
        self._inbox = MessageInbox(config.max_queued_messages)
        self._queue_drops_reported = 0
        self._routes: dict[str, Handler] = {}
        self._series_by_point: dict[str, str] = {}
        self.set_points(config.points)
        self._metadata: dict[str, PointMetadata] = {}
        self._last_seq: dict[str, int] = {}
        self._rejected = _Tally(
            "rejected", self.stats.rejected, lambda why, new, total: f"{why} ({total} so far)"
        )
        self._dropped = _Tally(
            "dropped",
            self.stats.dropped,
            lambda why, new, total: f"{new} missing: {why} ({total} so far)",
        )
        self._connected_since_s: float | None = None
        self._delivered = False
        """The current connection has delivered a message: the broker works, reset the backoff."""
        self._heartbeat_s = 0.0
        self._bms_lost = False
        self._client_now: aiomqtt.Client | None = None
        """The client while connected and subscribed, for ``publish``."""

    # -- public API --------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, subscribe and ingest until cancelled; trouble is reported, never raised."""
        self._inbox = MessageInbox(self.config.max_queued_messages)  # bound to this loop
        self._queue_drops_reported = 0
        self._connected_since_s = None
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._drain_forever())
            await self._connect_forever()

    def set_points(self, points: Sequence[PointMapping]) -> None:
        """Use a new BMS point mapping from the next message on (e.g. accepted proposals);
        ValueError if a point is mapped twice or two points feed one series."""
        check_points(points)
        self._points = tuple(points)
        self._series_by_point = {
            point.point_id: entity_key(point.kind, point.entity_id, point.quantity)
            for point in points
        }
        self._routes.clear()

    @property
    def metadata(self) -> list[PointMetadata]:
        """The metadata of every BMS point seen so far (retained, so all of them soon after
        connecting)."""
        return list(self._metadata.values())

    @property
    def sink(self) -> TelemetrySink:
        """Where readings go (a ``FeedbackSink`` where control reads the BMS's answers)."""
        return self._sink

    @property
    def points(self) -> tuple[PointMapping, ...]:
        """The BMS point mapping in use (the design's, or the last ``set_points``)."""
        return self._points

    def point_metadata(self, point_id: str) -> PointMetadata | None:
        """The retained metadata of one BMS point (``objectType/pointType/tagPath``), if seen."""
        return self._metadata.get(point_id)

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Publish over the source's connection, returning once the broker has it (QoS 1: its
        PUBACK); ``aiomqtt.MqttError`` when not connected or the connection fails meanwhile."""
        client = self._client_now
        if client is None:
            raise aiomqtt.MqttError(f"not connected to the broker at {self._broker}")
        await client.publish(topic, payload, qos=qos)

    def propose_mapping(self, rack_ids: Iterable[str], cdu_ids: Iterable[str]) -> AutoMapResult:
        """``auto_map`` over the metadata seen, for the points not mapped yet."""
        unmapped = [m for m in self._metadata.values() if m.point_id not in self._series_by_point]
        return auto_map(rack_ids, cdu_ids, unmapped)

    # -- connection --------------------------------------------------------------------------

    async def _connect_forever(self) -> None:
        failures = 0
        reported = ""
        while True:
            if not reported:
                self._status(self._broker, "connecting")
            error = "disconnected"
            unreachable = False
            self._delivered = False
            try:
                await self._connect_once()
            except (aiomqtt.MqttError, OSError, ValueError) as exc:  # ValueError: bad host name
                error = describe_error(exc)  # (ssl errors are OSErrors)
                unreachable = is_refused(exc)
            self._connected_since_s = None
            failures = 1 if self._delivered else failures + 1
            config = self.config
            delay_s = backoff_s(
                failures - 1, config.reconnect_min_s, config.reconnect_max_s, self._rng
            )
            detail = f"reconnecting in {delay_s:.1f} s: {error}"
            if unreachable:
                delay_s = min(
                    delay_s, self._rng.uniform(UNREACHABLE_RETRY_S / 2, UNREACHABLE_RETRY_S)
                )
                detail = (
                    f"reconnecting as soon as it listens (every {UNREACHABLE_RETRY_S} s): {error}"
                )
            if detail != reported:  # said once while the broker stays down, not twice a second
                self._status(self._broker, detail)
            reported = detail if unreachable else ""
            await asyncio.sleep(delay_s)

    async def _connect_once(self) -> None:
        """One connection, from connect to disconnect (which raises MqttError)."""
        async with self._client() as client:
            await self._subscribe(client)
            self.stats.connections += 1
            self._connected_since_s = time.monotonic()
            self._status(self._broker, CONNECTED_TLS if self.config.tls else CONNECTED_PLAINTEXT)
            self._client_now = client
            try:
                async for _ in client.messages:  # never yields: MessageInbox takes every message
                    pass
            finally:
                self._client_now = None

    def _client(self) -> DiagnosingClient:
        return connect_client(self.config, self._password, self._inbox.queue_type)

    def _subscriptions(self) -> list[str]:
        bms, node = self.config.bms_prefix, self.config.node_prefix
        topics = [f"{bms}/Value/#", f"{bms}/Metadata/#"] if bms else []
        if node:
            topics += [f"{node}/+/gpus", f"{node}/+/readings", f"{node}/+/status"]
        return topics

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        """Subscribe to everything; with MQTT 5, retained messages come only for subscriptions
        the broker did not already have (3.1.1 resends them: metadata is simply read again)."""
        qos = self.config.qos
        subscription: int | SubscribeOptions = qos
        if self.config.protocol == "5":
            subscription = SubscribeOptions(
                qos=qos, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
            )
        topics = self._subscriptions()
        granted = await client.subscribe([(topic, subscription) for topic in topics])
        for topic, code in zip(topics, granted, strict=True):
            if subscription_refused(code):
                self._status(topic, f"subscription refused by the broker ({code})")

    # -- ingest ------------------------------------------------------------------------------

    async def _drain_forever(self) -> None:
        while True:
            await self._inbox.wait(TICK_S)
            if 0 < len(self._inbox) < MAX_BATCH_MESSAGES and self._batch_window_s > 0:
                await asyncio.sleep(self._batch_window_s)  # let a batch build up
            messages = self._inbox.take(MAX_BATCH_MESSAGES)
            if messages:
                self._ingest(messages)
            self._tick(time.monotonic())
            if len(self._inbox):
                await asyncio.sleep(0)  # a backlog: let the socket readers run between batches

    def _ingest(self, messages: list[aiomqtt.Message]) -> None:
        """Decode a batch and write its readings to the sink in one call; once it holds
        ``MAX_BATCH_READINGS``, the messages left go back to the inbox for the next batch."""
        out = Columns()
        routes = self._routes
        taken = 0
        for message in messages:
            taken += 1
            topic = message.topic.value
            handler = routes.get(topic) or self._add_route(topic)
            try:
                handler(message.payload, out)  # type: ignore[arg-type]
            except PayloadError as exc:
                self._rejected.add(topic, exc.reason)
            if len(out) >= MAX_BATCH_READINGS:
                self._inbox.put_back(messages[taken:])
                break
        self.stats.messages += taken
        self._delivered = True
        if out:
            self.stats.readings += len(out)
            self._sink.write(out.keys, out.times_s, out.values, out.quality)

    def _tick(self, now_s: float) -> None:
        """Heartbeat watch and throttled reports; runs after every batch and every TICK_S."""
        new_drops = self._inbox.dropped - self._queue_drops_reported
        if new_drops:
            self._queue_drops_reported = self._inbox.dropped
            reason = f"incoming queue full ({self.config.max_queued_messages} messages)"
            self._dropped.add(self._broker, reason, new_drops)
        self._rejected.report(now_s, self._emit)
        self._dropped.report(now_s, self._emit)
        self._watch_heartbeat(now_s)

    def _watch_heartbeat(self, now_s: float) -> None:
        if self._connected_since_s is None or not self.config.bms_prefix or self._bms_lost:
            return
        silent_s = now_s - max(self._heartbeat_s, self._connected_since_s)
        if silent_s > self.config.bms_heartbeat_timeout_s:
            self._bms_lost = True
            self._status("BMS", f"BMS lost: no {HEARTBEAT_POINT} for {silent_s:.0f} s")

    # -- routing -----------------------------------------------------------------------------

    def _add_route(self, topic: str) -> Handler:
        if len(self._routes) >= ROUTE_CACHE_LIMIT:
            self._routes.clear()
        handler = self._route(topic)
        self._routes[topic] = handler
        return handler

    def _route(self, topic: str) -> Handler:
        bms, node = self.config.bms_prefix, self.config.node_prefix
        if bms and topic.startswith(bms + "/"):
            return self._bms_route(topic, topic[len(bms) + 1 :])
        if node and topic.startswith(node + "/"):
            return self._node_route(topic, topic[len(node) + 1 :])
        return partial(_refuse, "topic under none of the configured prefixes")

    def _bms_route(self, topic: str, rest: str) -> Handler:
        message_type, _, point_id = rest.partition("/")
        parts = point_id.split("/", 2)
        if len(parts) < 3 or not all(parts):
            return partial(_refuse, "topic does not end in objectType/pointType/tagPath")
        if message_type == "Metadata":
            return partial(self._on_metadata, PointMetadata(*parts))
        if message_type != "Value":
            return partial(_refuse, f"unknown BMS message type {message_type!r}")
        if parts[1] == HEARTBEAT_POINT:
            return self._on_heartbeat
        series_key = self._series_by_point.get(point_id)
        if series_key is None:
            return partial(self._on_unmapped, topic, point_id)
        return partial(_on_bms_value, series_key)

    def _node_route(self, topic: str, rest: str) -> Handler:
        node_id, _, message_type = rest.partition("/")
        if not _NODE_ID.match(node_id):
            return partial(_refuse, f"node id {node_id!r} is not a valid id")
        if message_type == "gpus":
            return partial(self._on_gpus, topic, node_id)
        if message_type == "readings":
            return partial(self._on_readings, topic, NodeSeries(node_id))
        if message_type == "status":
            return partial(self._on_node_status, node_id)
        return partial(_refuse, f"unknown node message type {message_type!r}")

    # -- handlers ----------------------------------------------------------------------------

    def _on_metadata(self, point: PointMetadata, payload: bytes, out: Columns) -> None:
        fields = decode_metadata(payload)
        if point.point_id not in self._metadata and len(self._metadata) >= NAMES_TRACKED:
            raise PayloadError(f"metadata of {NAMES_TRACKED:,} points kept already")
        self._metadata[point.point_id] = PointMetadata(
            point.object_type, point.point_type, point.tag_path, fields
        )

    def _on_heartbeat(self, payload: bytes, out: Columns) -> None:
        decode_dsx_value(payload)  # a malformed heartbeat is no sign of life
        self._heartbeat_s = time.monotonic()
        if self._bms_lost:
            self._bms_lost = False
            self._status("BMS", "BMS heartbeat back")

    def _on_unmapped(self, topic: str, point_id: str, payload: bytes, out: Columns) -> None:
        first = point_id not in self.stats.unmapped
        if first and len(self.stats.unmapped) >= NAMES_TRACKED:
            self.stats.unmapped[OTHER_NAMES] += 1
            return
        self.stats.unmapped[point_id] += 1
        if first:
            self._status(topic, f"unmapped BMS point {point_id}: not in telemetry.mqtt.points")

    def _on_gpus(self, topic: str, node_id: str, payload: bytes, out: Columns) -> None:
        self._check_sequence(topic, decode_node_gpus(payload, node_id, out))

    def _on_readings(self, topic: str, node: NodeSeries, payload: bytes, out: Columns) -> None:
        """A node's plain readings, refused whole if one of them is not the node's to write."""
        start = len(out)
        seq = decode_readings(payload, out)
        refusal = node.refusal(out.keys[start:])
        if refusal is not None:
            out.truncate(start)
            raise PayloadError(refusal)
        self._check_sequence(topic, seq)

    def _on_node_status(self, node_id: str, payload: bytes, out: Columns) -> None:
        online = decode_node_status(payload)
        if online:  # a (re)started agent counts its sequence from anew
            for message_type in ("gpus", "readings"):
                self._last_seq.pop(f"{self.config.node_prefix}/{node_id}/{message_type}", None)
        self._status(f"node {node_id}", "online" if online else "offline")

    def _check_sequence(self, topic: str, seq: int | None) -> None:
        """Count messages missing between consecutive sequence numbers of one topic."""
        if seq is None:
            return
        last = self._last_seq.get(topic)
        if last is None and len(self._last_seq) >= NAMES_TRACKED:
            return
        if last is not None and seq <= last and seq != 0 and last - seq < SEQ_RESTART_WINDOW:
            return  # a repeat (QoS 1 redelivery) or a late message: keep the high-water mark
        if last is not None and seq > last + 1:
            self._dropped.add(topic, "sequence gap", seq - last - 1)
        self._last_seq[topic] = seq

    # -- events ------------------------------------------------------------------------------

    def _status(self, subject: str, detail: str) -> None:
        self._emit("status", subject, detail)

    def _emit(self, kind: EventKind, subject: str, detail: str) -> None:
        self._sink.event(SourceEvent(SOURCE, kind, subject, detail))


def _on_bms_value(series_key: str, payload: bytes, out: Columns) -> None:
    time_s, value, quality = decode_dsx_value(payload)
    out.append(series_key, time_s, value, quality)


def _refuse(reason: str, payload: bytes, out: Columns) -> None:
    raise PayloadError(reason)
