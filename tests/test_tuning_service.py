"""The tokens-per-joule tuner through a real ``factoryfloor serve`` on the simulated demo hall,
with short windows: a sweep measured and applied as an operator, cancelled with the previous
limits restored, and a service killed mid-sweep that restores them when it starts again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alarm_service import PASSWORD, alarm_service, ask, settle
from service_process import ServiceProcess

from factoryfloor.backend.service.audit import AuditLog
from factoryfloor.backend.service.client import Credentials, ServiceClient
from factoryfloor.backend.service.tuning.messages import (
    ApplyTuning,
    CancelTuning,
    StartTuning,
)
from factoryfloor.backend.service.tuning.record import RECORD_FILE
from factoryfloor.backend.service.users import AUDIT_FILE
from factoryfloor.backend.telemetry.protocol import Accepted, Refused


@pytest.fixture
def short_windows(monkeypatch) -> None:
    """Sweeps of a few steps of a couple of seconds each (the service reads these at start)."""
    for variable, value in (("WARMUP_S", "0.5"), ("MEASURE_S", "1.5"), ("POWER_STEP_W", "200"),
                            ("CLOCK_STEP_MHZ", "400")):  # fmt: skip
        monkeypatch.setenv(f"FACTORYFLOOR_TUNING_{variable}", value)


@pytest.fixture
def tuning_service(tmp_path: Path, short_windows) -> Iterator[ServiceProcess]:
    process = alarm_service(tmp_path)
    yield process
    process.stop()


@pytest.fixture
def clients(tuning_service) -> Iterator[dict[str, ServiceClient]]:
    made = {user: ServiceClient(tuning_service.address, Credentials(user, PASSWORD))
            for user in ("olga", "vic")}  # fmt: skip
    assert settle(lambda: all(c.welcome is not None for c in made.values()), *made.values())
    yield made
    for client in made.values():
        client.close()


def start_sweep(client: ServiceClient, request: StartTuning) -> None:
    """Ask until the service has heard every GPU of the racks (it refuses a sweep before)."""
    answers = []

    def accepted() -> bool:
        answer = ask(client, request)
        answers.append(answer)
        return isinstance(answer, Accepted)

    assert settle(accepted, client), answers[-1]


def audit(service: ServiceProcess) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.outcome) for e in AuditLog(service.data / AUDIT_FILE).entries()
            if e.action.startswith(("tuning.", "control."))]  # fmt: skip


def test_a_sweep_is_measured_shown_to_every_window_and_applied_by_an_operator(
    tuning_service, clients
) -> None:
    olga, vic = clients["olga"], clients["vic"]
    refused = ask(vic, StartTuning(("A01",)))
    assert isinstance(refused, Refused) and "operator" in refused.reason
    start_sweep(olga, StartTuning(("A01",), floor_fraction=0.9))
    assert settle(lambda: vic.tuning is not None and vic.tuning.state == "measured",
                  olga, vic, timeout_s=90)  # fmt: skip
    progress = vic.tuning
    assert progress.group == "A01" and progress.user == "olga"
    assert len(progress.results) >= 3 and progress.recommended is not None
    assert [r.setting for r in progress.results] == list(progress.levels[: len(progress.results)])
    best = next(r for r in progress.results if r.setting == progress.recommended)
    assert best.tokens_per_s >= progress.floor_tokens_per_s
    assert isinstance(ask(vic, ApplyTuning()), Refused)
    assert isinstance(ask(olga, ApplyTuning()), Accepted)
    assert settle(lambda: vic.tuning.state == "applied", vic)
    assert ("olga", "tuning.apply", "ok") in audit(tuning_service)
    assert ("vic", "tuning.apply", "refused") in audit(tuning_service)


def test_cancel_mid_sweep_puts_the_previous_limits_back(tuning_service, clients) -> None:
    olga = clients["olga"]
    start_sweep(olga, StartTuning(("A01",)))
    assert settle(lambda: olga.tuning is not None and olga.tuning.step >= 1, olga, timeout_s=60)
    lever = olga.tuning.lever
    assert isinstance(ask(olga, CancelTuning()), Accepted)
    assert settle(lambda: olga.tuning.state == "cancelled", olga, timeout_s=30)
    entries = [e for e in AuditLog(tuning_service.data / AUDIT_FILE).entries()
               if e.action.startswith("control.") and e.outcome == "confirmed"]  # fmt: skip
    stepped = "control.power_limit" if lever == "power_limit" else "control.lock_clocks"
    assert any(e.action == stepped for e in entries)  # a sweep step was set
    limits = [e for e in entries if e.action == "control.power_limit"]
    assert limits[-1].new_value == limits[0].old_value  # the limits are back to what they were
    if lever == "sm_clock":  # and the clocks unlocked after the last locked step
        actions = [e.action for e in entries]
        last = {a: i for i, a in enumerate(actions)}
        assert last["control.reset_clocks"] > last["control.lock_clocks"]
    assert not (tuning_service.data / RECORD_FILE).exists()


def test_a_service_killed_mid_sweep_restores_the_previous_limits_when_it_starts_again(
    tuning_service, clients
) -> None:
    olga = clients["olga"]
    start_sweep(olga, StartTuning(("A01",)))
    assert settle(lambda: olga.tuning is not None and olga.tuning.step >= 1, olga, timeout_s=60)
    tuning_service.kill()
    assert (tuning_service.data / RECORD_FILE).exists()  # the GPUs were left at a sweep step
    tuning_service.start()  # ready once the restore is confirmed
    assert ("olga", "tuning.restore", "ok") in audit(tuning_service)
    restored = [e for e in AuditLog(tuning_service.data / AUDIT_FILE).entries()
                if e.action == "control.power_limit"][-1]  # fmt: skip
    assert (restored.actor, restored.outcome) == ("olga", "confirmed")
    assert not (tuning_service.data / RECORD_FILE).exists()
