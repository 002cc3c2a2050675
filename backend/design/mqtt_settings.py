"""Settings of the MQTT telemetry source, kept in the design file under ``telemetry.mqtt``.

The broker address, the topic prefixes and the mapping of BMS points to plan racks and CDUs
belong to a site, so they live with the design and travel with it. The password does not: a
design file is shared and versioned, so the password comes from the environment variable
``FACTORYFLOOR_MQTT_PASSWORD`` or from whoever starts the source.

A DSX BMS names a point by ``objectType/pointType/tagPath`` (tagPath is the vendor's and may
contain ``/``); the plan names a rack ``A-07``. :class:`PointMapping` ties the two together;
``telemetry.sources.bms_mapping`` proposes such mappings from the BMS's retained metadata.

The same mapping names the points FactoryFloor writes as a DSX integration (CDU setpoint and
rack isolation requests, :data:`REQUEST_QUANTITIES`) beside the BMS's own points that confirm
them (:data:`CONFIRMED_BY`). ``integration`` is the id the BMS's metadata must name for a request
point before anything is published to it, and ``confirm_timeout_s`` how long the BMS has to
confirm a request.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from factoryfloor.backend.design.model_base import EntityId, StrictModel

PASSWORD_ENV = "FACTORYFLOOR_MQTT_PASSWORD"

EntityKind = Literal["rack", "cdu"]

QUANTITIES: dict[EntityKind, frozenset[str]] = {
    "rack": frozenset(
        (
            "power_kw",
            "supply_temp_c",
            "return_temp_c",
            "flow_lpm",
            "dp_kpa",
            "valve_pct",
            "leak",
            "leak_sensor_fault",
            "liquid_isolated",
            "electrical_isolated",
            "liquid_isolation_request",
            "electrical_isolation_request",
        )
    ),
    "cdu": frozenset(
        (
            "supply_temp_c",
            "supply_temp_sp_c",
            "supply_temp_sp_request_c",
            "return_temp_c",
            "flow_lpm",
            "pressure_kpa",
            "dp_kpa",
            "pump_rpm",
            "valve_pct",
            "heat_kw",
        )
    ),
}
"""Series quantities a BMS point may feed, per entity kind (the convention in sink.py; the
rack's ``tokens_per_s`` comes from inference servers, never from a BMS)."""

REQUEST_QUANTITIES: frozenset[str] = frozenset(
    ("supply_temp_sp_request_c", "liquid_isolation_request", "electrical_isolation_request")
)
"""Quantities of the points this integration writes (DSX ``LiquidTemperatureSpRequest``,
``RackLiquidIsolationRequest``, ``RackElectricalIsolationRequest``). Mapped like any point, so
the review proposes them and the design keeps them; the BMS's echo of a request, where it
publishes one, feeds the series as a reading of what was asked."""

CONFIRMED_BY: dict[str, str] = {
    "supply_temp_sp_request_c": "supply_temp_sp_c",
    "liquid_isolation_request": "liquid_isolated",
    "electrical_isolation_request": "electrical_isolated",
}
"""The quantity of the BMS's own point that confirms each request: the CDU's supply temperature
setpoint as the BMS runs it (a ``LiquidTemperature`` point with ``isSetpoint``, supply side),
not the measured supply temperature, which follows the setpoint only as fast as the plant can;
a rack's isolation status."""


_SEPARATORS = re.compile(r"[^0-9a-z]+")


def name_key(name: str) -> str:
    """How names are compared: ``Rack_A-07``, ``rack a07`` and ``RACK.A.07`` are the same."""
    return _SEPARATORS.sub("", name.lower())


def resolve_password(explicit: str | None = None) -> str | None:
    """The password given, else the one in ``FACTORYFLOOR_MQTT_PASSWORD``, else none."""
    return explicit if explicit is not None else os.environ.get(PASSWORD_ENV)


_PREFIX = re.compile(r"^[^/+#\x00]+(/[^/+#\x00]+)*$")
_NAME = re.compile(r"^[^/+#\x00]+$")
_INTEGRATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
BMS_PUBLISHER = "PUB"
"""The BMS's own segment of the DSX topics (``BMS/v1/PUB``): no integration may take it."""


class PointMapping(StrictModel):
    """One BMS point feeding one series: ``{kind}/{entity_id}/{quantity}``; for a request point
    (:data:`REQUEST_QUANTITIES`), also the point this integration publishes the request to."""

    object_type: str = Field(min_length=1, max_length=64, pattern=_NAME.pattern)
    """DSX objectType as in the topic, e.g. ``Rack`` or ``CDU``."""
    point_type: str = Field(min_length=1, max_length=64, pattern=_NAME.pattern)
    """DSX pointType as in the topic, e.g. ``RackLiquidSupplyTemperature``."""
    tag_path: str = Field(min_length=1, max_length=512, pattern=_PREFIX.pattern)
    """The vendor's tag path, the rest of the topic; may contain ``/``."""
    kind: EntityKind
    entity_id: EntityId
    """The plan rack or CDU the point belongs to."""
    quantity: str
    """Series quantity with its unit, e.g. ``supply_temp_c``."""

    @model_validator(mode="after")
    def _known_quantity(self) -> Self:
        if self.quantity not in QUANTITIES[self.kind]:
            known = ", ".join(sorted(QUANTITIES[self.kind]))
            raise ValueError(f"{self.quantity!r} is not a {self.kind} quantity ({known})")
        return self

    @property
    def point_id(self) -> str:
        """``objectType/pointType/tagPath``: the topic after ``{prefix}/Value/``."""
        return f"{self.object_type}/{self.point_type}/{self.tag_path}"

    @property
    def feeds(self) -> str:
        """The series the point feeds, in words: ``rack A-07 supply_temp_c``."""
        return f"{self.kind} {self.entity_id} {self.quantity}"


class MqttConfig(StrictModel):
    """Where the broker is, how to log in, what to subscribe to, and which BMS point is which."""

    host: str = Field(default="localhost", min_length=1, max_length=253)
    port: int = Field(default=1883, ge=1, le=65535)
    tls: bool = False
    allow_plaintext: bool = False
    """Connect without TLS to a broker on another machine. Off by default: readings, commands
    and the password would cross the network unencrypted. A broker on this machine (localhost,
    127.0.0.0/8, ::1) is always allowed plaintext."""
    ca_file: str | None = None
    """PEM file of the CA that signed the broker's certificate; none: the system's CAs."""
    client_cert: str | None = None
    """PEM client certificate, for brokers that authenticate clients by certificate."""
    client_key: str | None = None
    username: str | None = Field(default=None, max_length=256)
    """The password is never stored here: see ``FACTORYFLOOR_MQTT_PASSWORD``."""
    client_id: str = Field(default="factoryfloor", min_length=1, max_length=64)
    """Fixed, so the broker keeps this app's session (subscriptions, QoS 1 messages) across
    reconnects; two apps on one broker need different ids or they keep displacing each other."""
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    """MQTT version. 3.1.1 by default: the DSX Event Bus (NATS) speaks only 3.1.1 and refuses 5,
    and paho decodes MQTT 5 properties of every message at a cost that halves throughput."""
    session_expiry_s: int = Field(default=600, ge=0, le=7 * 24 * 3600)
    """0: a fresh session on every connection. Otherwise the broker keeps the session while the
    app is away: this long with MQTT 5, as long as the broker is set to with 3.1.1."""
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    bms_prefix: str | None = Field(default="BMS/v1/PUB", pattern=_PREFIX.pattern)
    """DSX BMS Event Bus publisher prefix; none: no BMS on this broker."""
    node_prefix: str | None = Field(default="factoryfloor/v1/node", pattern=_PREFIX.pattern)
    """Prefix of FactoryFloor node agents' topics; none: no node agents on this broker."""
    qos: Literal[0, 1] = 0
    """Subscription QoS. Sensor data is QoS 0 by convention; 1 trades throughput for no loss
    between broker and app (publishers must publish at QoS 1 too)."""
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)
    """Cap of the exponential backoff between connection attempts."""
    bms_heartbeat_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """The BMS sends HeartbeatTimestampBms every 10 s: longer silence is reported as BMS lost."""
    max_queued_messages: int = Field(default=200_000, ge=0, le=100_000_000)
    """Messages received but not yet processed, beyond which new ones are dropped (and counted);
    0: no limit. Bounds memory when the app falls behind a burst."""
    points: list[PointMapping] = Field(default_factory=list)
    integration: str = "factoryfloor"
    """This application's DSX integration id: requests go to ``BMS/v1/{integration}/Value/...``,
    and only to points whose retained metadata names this id in its ``integration`` field."""
    confirm_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    """How long the BMS has to confirm a request with its own point before the command is
    reported unconfirmed (a CDU ramps its setpoint; a valve takes seconds to close)."""

    @field_validator("integration")
    @classmethod
    def _integration_id(cls, value: str) -> str:
        if not _INTEGRATION.match(value):
            raise ValueError(
                f"integration {value!r} is not a DSX integration id: 1-64 letters, digits,"
                " '_', '.' or '-', starting with a letter or digit (it is a topic segment)"
            )
        if value == BMS_PUBLISHER:
            raise ValueError(f"integration {value!r} is the BMS's own publisher id, not ours")
        return value

    @property
    def integration_prefix(self) -> str | None:
        """Where this integration's requests go: the BMS prefix with the BMS's own segment
        replaced by the integration id (``BMS/v1/PUB`` -> ``BMS/v1/factoryfloor``); none
        without a BMS on this broker."""
        if self.bms_prefix is None:
            return None
        parent, _, _ = self.bms_prefix.rpartition("/")
        return f"{parent}/{self.integration}" if parent else self.integration

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together: give both or neither")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        check_points(self.points)
        return self


def is_loopback(host: str) -> bool:
    """The broker is on this machine, where plaintext crosses no network. Only ``localhost`` and
    loopback addresses count: any other name might resolve anywhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plaintext_refusal(config: MqttConfig) -> str | None:
    """Why ``config`` may not connect, when it asks for plaintext off loopback without saying
    ``allow_plaintext``; none when it may."""
    if config.tls or config.allow_plaintext or is_loopback(config.host):
        return None
    return (
        f"plaintext to {config.host} is refused off loopback: set telemetry.mqtt.tls true"
        " (or telemetry.mqtt.allow_plaintext true to accept unencrypted telemetry)"
    )


def check_points(points: Iterable[PointMapping]) -> None:
    """No point mapped twice and no series fed by two points (their readings would interleave)."""
    point_ids: set[str] = set()
    series: dict[str, str] = {}
    for point in points:
        if point.point_id in point_ids:
            raise ValueError(f"point {point.point_id!r} is mapped twice")
        point_ids.add(point.point_id)
        if point.feeds in series:
            raise ValueError(
                f"{point.feeds} is fed by both {series[point.feeds]!r} and {point.point_id!r}"
            )
        series[point.feeds] = point.point_id
