"""DSX Flex load targets: the envelope and its signature checked before anything is read, and
a real service on a real Mosquitto proposing, applying and removing caps for a signed target
while refusing (and journaling) unsigned and tampered ones."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from alarm_service import PASSWORD, ask, settle
from broker import Mosquitto
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey
from service_process import DEMO, ServiceProcess

from factoryfloor.backend.service.client import Credentials, ServiceClient
from factoryfloor.backend.service.flex.envelope import FlexError, build_event, read_event
from factoryfloor.backend.service.flex.events import load_targets
from factoryfloor.backend.service.flex.messages import ApplyGridProposal, FeedGridView
from factoryfloor.backend.service.flex.settings import GridSettings
from factoryfloor.backend.service.flex.signing import KeyRing, SignatureRefused
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.service.users import AUDIT_FILE, UserStore
from factoryfloor.backend.telemetry.protocol import Accepted

pytest_plugins = ["broker"]

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


# --- The envelope and the signature ---------------------------------------------------------


def test_an_event_missing_an_attribute_or_unsigned_is_refused_naming_the_field() -> None:
    good = json.loads(
        build_event(ISV, "grid.loadtarget.set.v1", "loadtarget", "a.b.c", time.time())
    )
    for name, value, words in (("traceparent", None, "traceparent: missing"),
                               ("data", json.dumps(target(100)), "data: not a JWS compact"),
                               ("source", "//grid/v2/isv/x", "source:"),
                               ("specversion", "1.0", "specversion:")):  # fmt: skip
        event = dict(good)
        if value is None:
            del event[name]
        else:
            event[name] = value
        with pytest.raises(FlexError, match=f"^{TOPIC}: {words}"):
            read_event(TOPIC, json.dumps(event).encode())


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_signatures_are_verified_per_source_and_refused_when_bad_expired_or_unknown(
    tmp_path: Path, algorithm: str
) -> None:
    isv, ours, ring = keys(tmp_path)
    signer = isv if algorithm == "ES256" else ours
    if algorithm == "RS256":  # trust our own RSA key as a second source, to check RS256
        ring.trusted["//grid/v1/isv/other"] = ring.trusted[ISV].__class__.import_key_set(
            {"keys": [ours.as_dict(private=False)]})  # fmt: skip
    source = ISV if algorithm == "ES256" else "//grid/v1/isv/other"
    now = time.time()
    compact = signed(signer, target(500))
    assert ring.verify(source, compact, now, now) == target(500)
    header, _payload, signature = compact.split(".")
    tampered = f"{header}.{signed(signer, target(9000)).split('.')[1]}.{signature}"
    with pytest.raises(SignatureRefused, match="bad signature"):
        ring.verify(source, tampered, now, now)
    with pytest.raises(SignatureRefused, match="expired"):
        ring.verify(source, compact, now - 3600, now)
    with pytest.raises(SignatureRefused, match="no key is trusted"):
        ring.verify("//grid/v1/isv/stranger", compact, now, now)
    stranger = ECKey.generate_key("P-256", parameters={"kid": "who"}, private=True)
    with pytest.raises(SignatureRefused, match="unknown key"):
        ring.verify(source, signed(stranger, target(500)), now, now)
    # What FactoryFloor publishes is signed with its own key and verifies with its public half.
    assert jws.deserialize_compact(ring.sign({"a": 1}), ours).payload == b'{"a": 1}'


def test_load_targets_read_in_watts_and_a_null_constraint_lifts() -> None:
    found = load_targets(target(1.5), TOPIC, 100.0, "c1")[0]
    assert (found.limit_w, found.feed_tags, found.start_s) == (1500.0, (TAG,), 100.0)
    assert load_targets(target(None), TOPIC, 100.0, "c1")[0].limit_w is None
    with pytest.raises(FlexError, match=r"load_constraint\.unit"):
        load_targets({"targets": [{"interval": {}, "load_constraint": {"value": 1, "unit": "hp"}}]},
                     TOPIC, 0.0, "c")  # fmt: skip


def test_feed_tags_mapped_to_a_feed_the_design_lacks_are_named(tmp_path: Path) -> None:
    from factoryfloor.backend.design.design_file import load_design

    (tmp_path / "grid.json").write_text(json.dumps({"feed_tags": {"main-z": "FEED-Z"}}))
    with pytest.raises(ValueError, match=r"feed_tags\.main-z: 'FEED-Z' is not a feed"):
        GridSettings.load(tmp_path / "grid.json", load_design(DEMO))


# --- Through a real service and a real broker ----------------------------------------------


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


def test_a_signed_target_is_met_with_caps_published_and_lifted_and_forged_ones_are_refused(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    isv, ours, _ = keys(data)
    tree = json.loads(DEMO.read_text(encoding="utf-8"))
    tree["telemetry"] = {"simulate": True, "mqtt": {"host": mosquitto.host,
                                                     "port": mosquitto.port}}  # fmt: skip
    design = tmp_path / "hall.json"
    design.write_text(json.dumps(tree), encoding="utf-8")
    UserStore(data).add("olga", PASSWORD, Role.OPERATOR, "test")
    service = ServiceProcess(design, data).start()
    recorder = Recorder(mosquitto, RSAKey.import_key(ours.as_dict(private=False)))
    publisher = mosquitto.publisher()
    client = ServiceClient(service.address, Credentials("olga", PASSWORD))

    def send(payload: str | dict, correlation: str = "") -> None:
        data_field = payload if isinstance(payload, str) else json.dumps(payload)
        event = build_event(ISV, "grid.loadtarget.set.v1", "loadtarget", data_field,
                            time.time(), correlation)  # fmt: skip
        publisher.publish(TOPIC, event, qos=1)

    try:
        assert settle(lambda: client.grid is not None and client.grid.connected
                      and feed_view(client).load_w, client)  # fmt: skip
        load_w = feed_view(client).load_w
        limit_kw = round(0.9 * load_w / 1000.0, 1)
        # Unsigned (plain JSON in data) and tampered: refused, listed and audited; no target.
        send(target(limit_kw))
        good = signed(isv, target(limit_kw))
        header, _, signature = good.split(".")
        send(f"{header}.{signed(isv, target(1.0)).split('.')[1]}.{signature}")
        assert settle(lambda: len(client.grid.refusals) == 2, client)
        reasons = [r.reason for r in client.grid.refusals]
        assert "not a JWS compact serialisation" in reasons[0]
        assert "bad signature" in reasons[1]
        assert feed_view(client).target_w is None
        audit = (data / AUDIT_FILE).read_text(encoding="utf-8")
        assert audit.count('"grid.event"') == 2 and "bad signature" in audit
        # Signed: a proposal, losing no more tokens than uniform capping.
        send(good, "4a6f1c9e-8b1d-4c55-9f0e-2b7d6c1e0a11")
        assert settle(lambda: feed_view(client).tokens_lost_per_s is not None, client)
        view = feed_view(client)
        assert view.target_w == pytest.approx(limit_kw * 1000.0)
        assert view.caps and not view.applied
        assert view.tokens_lost_per_s <= view.uniform_tokens_lost_per_s + 1e-6
        assert isinstance(ask(client, ApplyGridProposal(FEED)), Accepted)
        assert settle(lambda: recorder.seen, client)
        applied = recorder.seen[0]
        assert (applied["action"], applied["feed_tag"]) == ("applied", TAG)
        assert applied["breach_id"] == "4a6f1c9e-8b1d-4c55-9f0e-2b7d6c1e0a11"
        codes = {r["resource_id"]: r["code"] for r in applied["results"]}
        capped = [r for r in applied["results"] if r["code"] == "applied"]
        assert capped and all(r["applied_power"]["unit"] == "watt" for r in capped)
        assert set(codes) == {c.rack_id for c in view.caps} | {
            r for r, code in codes.items() if code == "skipped"}  # fmt: skip
        # The feed comes down to its target once the caps bite.
        met = settle(lambda: feed_view(client).applied and feed_view(client).compliant, client,
                     timeout_s=30)  # fmt: skip
        assert met, feed_view(client)
        # Lifted: the limits from before are back, and "reverted" is published.
        send(signed(isv, target(None)))
        assert settle(lambda: len(recorder.seen) == 2, client)
        reverted = recorder.seen[1]
        assert reverted["action"] == "reverted"
        assert all(r["code"] == "applied" for r in reverted["results"])
        assert {r["applied_power"]["value"] for r in reverted["results"]} != {
            r["applied_power"]["value"] for r in capped}  # fmt: skip
        assert settle(lambda: not feed_view(client).applied, client)
    finally:
        client.close()
        recorder.close()
        publisher.close()
        service.stop()
