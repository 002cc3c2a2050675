"""A real ``factoryfloor serve`` on the demo hall with a real Mosquitto for DSX Flex: a trusted
ISV's key, FactoryFloor's own signing key, ``grid.json`` mapping tag ``main-a`` to FEED-C, and
an operator; signed (or forged) load targets published to it; enforcement results recorded."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from alarm_service import PASSWORD
from broker import Mosquitto, Publisher
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey
from service_process import DEMO, ServiceProcess

from factoryfloor.backend.service.client import ServiceClient
from factoryfloor.backend.service.flex.envelope import build_event
from factoryfloor.backend.service.flex.messages import FeedGridView
from factoryfloor.backend.service.flex.signing import KeyRing
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.service.users import UserStore

ISV = "//grid/v1/isv/acme-energy"
TOPIC = "grid/v1/isv/acme-energy/loadtarget/set"
TAG = "main-a"
FEED = "FEED-C"
"""The demo feed of the H100 racks, whose workloads have power curves."""


def keys(folder: Path) -> tuple[ECKey, RSAKey, KeyRing]:
    """The ISV's EC key (its public half trusted), our RSA signing key, and the ring of both."""
    isv = ECKey.generate_key("P-256", parameters={"kid": "acme-1"}, private=True)
    ours = RSAKey.generate_key(2048, parameters={"kid": "ff-1"}, private=True)
    (folder / "acme.jwks.json").write_text(json.dumps({"keys": [isv.as_dict(private=False)]}))
    (folder / "ff.jwk.json").write_text(json.dumps(ours.as_dict(private=True)))
    (folder / "grid.json").write_text(json.dumps({
        "agent_id": "factoryfloor", "feed_tags": {TAG: FEED},
        "trusted_keys": {ISV: "acme.jwks.json"}, "signing_key": "ff.jwk.json"}))  # fmt: skip
    ring = KeyRing.from_files({ISV: folder / "acme.jwks.json"}, folder / "ff.jwk.json")
    return isv, ours, ring


def signed(key: ECKey | RSAKey, payload: dict) -> str:
    alg = "ES256" if isinstance(key, ECKey) else "RS256"
    return jws.serialize_compact({"alg": alg, "kid": key.kid}, json.dumps(payload).encode(),
                                 key, algorithms=[alg])  # fmt: skip


def target(limit_kw: float | None, end_s: float | None = None) -> dict:
    interval = {} if end_s is None else {"end_time": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_s))}  # fmt: skip
    constraint = None if limit_kw is None else {"value": limit_kw, "unit": "kilowatt"}
    return {"targets": [{"interval": interval, "feed_tags": [TAG],
                         "load_constraint": constraint}]}  # fmt: skip


class Recorder:
    """Every enforcement result published, verified with FactoryFloor's public key."""

    def __init__(self, broker: Mosquitto, public: RSAKey) -> None:
        self.seen: list[dict] = []
        self._lock = threading.Lock()
        self._public = public
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="grid-recorder")
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.subscribe("grid/v1/infra/+/powerbreach/enforcement", qos=2)
        self._client.loop_start()

    def _on_message(self, client: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        event = json.loads(message.payload)
        data = json.loads(jws.deserialize_compact(event["data"], self._public).payload)
        with self._lock:
            self.seen.append(data)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def feed_view(client: ServiceClient) -> FeedGridView | None:
    grid = client.grid
    return None if grid is None else next(f for f in grid.feeds if f.feed_id == FEED)


@dataclass
class GridService:
    service: ServiceProcess
    isv: ECKey
    ours: RSAKey
    publisher: Publisher
    data: Path

    def send(self, payload: str | dict, correlation: str = "") -> None:
        """A load target event from the ISV: ``payload`` as ``data`` (a dict: unsigned JSON)."""
        data_field = payload if isinstance(payload, str) else json.dumps(payload)
        event = build_event(ISV, "grid.loadtarget.set.v1", "loadtarget", data_field,
                            time.time(), correlation)  # fmt: skip
        self.publisher.publish(TOPIC, event, qos=1)

    def close(self) -> None:
        self.publisher.close()
        self.service.stop()


def grid_service(folder: Path, broker: Mosquitto) -> GridService:
    """Started, with olga (operator)."""
    data = folder / "data"
    data.mkdir()
    isv, ours, _ = keys(data)
    tree = json.loads(DEMO.read_text(encoding="utf-8"))
    tree["telemetry"] = {"simulate": True, "mqtt": {"host": broker.host, "port": broker.port}}
    design = folder / "hall.json"
    design.write_text(json.dumps(tree), encoding="utf-8")
    UserStore(data).add("olga", PASSWORD, Role.OPERATOR, "test")
    return GridService(ServiceProcess(design, data).start(), isv, ours, broker.publisher(), data)
