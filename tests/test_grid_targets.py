"""DSX Flex load targets: the envelope and its signature checked before anything is read, and
a real service on a real Mosquitto proposing, applying and removing caps for a signed target
while refusing (and journaling) unsigned and tampered ones."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from alarm_service import PASSWORD, ask, settle
from broker import Mosquitto
from grid_service import (
    FEED,
    ISV,
    TAG,
    TOPIC,
    Recorder,
    feed_view,
    grid_service,
    keys,
    signed,
    target,
)
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey
from service_process import DEMO

from factoryfloor.backend.service.client import Credentials, ServiceClient
from factoryfloor.backend.service.flex.envelope import FlexError, build_event, read_event
from factoryfloor.backend.service.flex.events import load_targets
from factoryfloor.backend.service.flex.messages import ApplyGridProposal
from factoryfloor.backend.service.flex.settings import GridSettings
from factoryfloor.backend.service.flex.signing import SignatureRefused
from factoryfloor.backend.service.users import AUDIT_FILE
from factoryfloor.backend.telemetry.protocol import Accepted

pytest_plugins = ["broker"]

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


def test_a_signed_target_is_met_with_caps_kept_over_a_kill_and_lifted_and_forged_ones_refused(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    grid = grid_service(tmp_path, mosquitto)
    isv, send = grid.isv, grid.send
    recorder = Recorder(mosquitto, RSAKey.import_key(grid.ours.as_dict(private=False)))
    client = ServiceClient(grid.service.address, Credentials("olga", PASSWORD))
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
        audit = (grid.data / AUDIT_FILE).read_text(encoding="utf-8")
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
        # Killed while capped, started again: it still knows the target and the caps it set.
        grid.service.kill()
        client.close()
        grid.service.start()
        client = ServiceClient(grid.service.address, Credentials("olga", PASSWORD))
        assert settle(lambda: client.grid is not None and client.grid.connected, client)
        restored = feed_view(client)
        assert restored.applied and restored.applied_by == "olga"
        assert restored.target_w == pytest.approx(limit_kw * 1000.0)
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
        grid.close()
