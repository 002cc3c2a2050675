"""The grid desk on the simulated facility, in one process: the policy is an engineer's, meets a
target by itself only within its ceiling, and the caps come off when the target's interval ends."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from grid_service import FEED, ISV, TOPIC, keys, signed, target
from joserfc import jws
from test_control_desk import Facility, demo  # noqa: F401  (a fixture)

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.control.scope import rack_gpus
from factoryfloor.backend.service.flex.desk import GridDesk, GridRefused
from factoryfloor.backend.service.flex.envelope import build_event
from factoryfloor.backend.service.flex.live_curves import LiveCurves
from factoryfloor.backend.service.flex.settings import FILE_NAME, GridSettings
from factoryfloor.backend.service.power.model_curves import rack_curves
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.telemetry.store import TelemetryStore


class Grid:
    def __init__(self, design: Design, folder: Path) -> None:
        self.facility = Facility(design, folder)
        self.isv, _, ring = keys(folder)
        settings = GridSettings.load(folder / FILE_NAME, design)
        self.desk = GridDesk(design, settings, ring, LiveCurves(design, rack_curves(design)),
                             folder, self.facility.audit.record)  # fmt: skip
        self.store = TelemetryStore()
        self.published: list[dict] = []
        self.design = design

    def snapshot(self, now_s: float):
        self.facility.sim.publish(self.store, now_s, 1.0)
        return self.store.snapshot("", now_s)

    async def publish(self, topic: str, payload: bytes) -> None:
        signed_data = json.loads(payload)["data"]  # verified with FactoryFloor's own key
        verified = jws.deserialize_compact(signed_data, self.desk.keys.signing_key)
        self.published.append(json.loads(verified.payload))

    def send(self, limit_kw: float | None, end_s: float | None, now_s: float) -> None:
        data = signed(self.isv, target(limit_kw, end_s))
        self.desk.receive(TOPIC, build_event(ISV, "grid.loadtarget.set.v1", "loadtarget", data,
                                             now_s), now_s)  # fmt: skip

    def limits_w(self, rack_id: str) -> set[float]:
        rack = next(r for r in self.design.racks if r.id == rack_id)
        positions = [self.facility.sim.position(g) for g in rack_gpus(rack)]
        return set(np.round(self.facility.sim.power_limit_w[positions]).tolist())


@pytest.mark.asyncio
async def test_the_policy_meets_a_target_within_its_ceiling_and_the_caps_end_with_the_interval(
    demo: Design,  # noqa: F811
    tmp_path: Path,
) -> None:
    grid = Grid(demo, tmp_path)
    desk, control = grid.desk, grid.facility.desk
    now = time.time()
    load_w = desk.feed_load_w(grid.snapshot(now), FEED)
    assert load_w is not None
    with pytest.raises(GridRefused, match="needs engineer"):
        desk.set_policy(True, 50.0, "olga", Role.OPERATOR)
    desk.set_policy(True, 0.04 * load_w / 1000.0, "eve", Role.ENGINEER)

    # Beyond the ceiling (shed 10 % with a 4 % ceiling): proposed, not applied.
    grid.send(0.9 * load_w / 1000.0, now + 60.0, now)
    await desk.tick(grid.snapshot(now + 1), now + 1, control, grid.publish)
    assert desk.feeds[FEED].applied is None and not grid.published
    view = next(f for f in desk.view(grid.snapshot(now + 1), now + 1).feeds if f.feed_id == FEED)
    assert view.caps and view.tokens_lost_per_s <= view.uniform_tokens_lost_per_s + 1e-6

    # Within it (shed 2 %): applied by the policy, in the engineer's name.
    grid.send(0.98 * load_w / 1000.0, now + 60.0, now + 2)
    await desk.tick(grid.snapshot(now + 2), now + 2, control, grid.publish)
    applied = desk.feeds[FEED].applied
    assert applied is not None and applied.user == "policy (eve)"
    capped = [c.rack_id for c in applied.caps]
    assert capped and all(max(grid.limits_w(r)) < 700 for r in capped)
    assert grid.published[-1]["action"] == "applied"

    # The interval ends: the limits from before come back, "reverted" published.
    await desk.tick(grid.snapshot(now + 61), now + 61, control, grid.publish)
    assert desk.feeds[FEED].applied is None
    assert all(grid.limits_w(r) == {700} for r in capped)
    assert grid.published[-1]["action"] == "reverted"
    assert json.loads((tmp_path / "grid_policy.json").read_text())["by"] == "eve"


def test_the_grid_agents_power_state_shows_beside_the_feed_and_is_not_journaled(
    demo: Design,  # noqa: F811
    tmp_path: Path,
) -> None:
    grid = Grid(demo, tmp_path)
    agent = "//grid/v1/dsx-flex-agent/maxlps"
    grid.desk.keys.trusted[agent] = grid.desk.keys.trusted[ISV]  # the same signer, for the test
    now = time.time()
    state = {"snapshot_time": "2026-12-04T12:00:00Z", "feeds": {"main-a": {
        "metadata": {}, "targets": [], "calculated_load": {"value": 150, "unit": "kilowatt"},
        "in_flight": False, "event": "periodic", "compliant": False}}}  # fmt: skip
    topic = "grid/v1/dsx-flex-agent/maxlps/powerstate/status"
    grid.desk.receive(topic, build_event(agent, "grid.powerstate.status.v1", "powerstate",
                                         signed(grid.isv, state), now), now)  # fmt: skip
    view = next(f for f in grid.desk.view(None, now).feeds if f.feed_id == FEED)
    assert (view.agent_load_w, view.agent_compliant) == (150_000.0, False)
    assert not grid.desk.refusals
    audit = tmp_path / "audit.log"  # nothing journaled at all: no log written yet
    assert not audit.exists() or "powerstate" not in audit.read_text(encoding="utf-8")
