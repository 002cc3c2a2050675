"""The service as a real process (``factoryfloor serve``) with windows' links attached: same
frames for every window, sign-in and roles, protocol versions, design versions, a service that
dies and comes back, and a window that dies mid-request."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq
from service_process import DEMO, ServiceProcess

from factoryfloor.backend.design.design_file import design_to_json, load_design
from factoryfloor.backend.service.audit import AuditLog
from factoryfloor.backend.service.client import Credentials, ServiceClient
from factoryfloor.backend.service.keys import KeyPair
from factoryfloor.backend.service.messages import ApplyDesign, GetDesign, Hello
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.service.users import AUDIT_FILE, SIGN_IN_REFUSED, UserStore
from factoryfloor.backend.telemetry.protocol import (
    PROTOCOL_VERSION,
    Accepted,
    Refused,
    Reply,
    decode,
    encode,
)

PASSWORD = "correct horse battery"


def wait_until(predicate: Callable[[], object], *clients: ServiceClient,
               timeout_s: float = 30.0) -> bool:  # fmt: skip
    """Poll the clients until ``predicate`` holds (the windows' timers do this)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for client in clients:
            client.poll()
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def design_file(tmp_path: Path) -> Path:
    path = tmp_path / "hall.json"
    shutil.copy(DEMO, path)
    return path


@pytest.fixture
def service(tmp_path: Path, design_file: Path) -> Iterator[ServiceProcess]:
    data = tmp_path / "data"
    users = UserStore(data)
    users.add("ana", PASSWORD, Role.OPERATOR, "test")
    users.add("eve", PASSWORD, Role.ENGINEER, "test")
    process = ServiceProcess(design_file, data).start()
    yield process
    process.stop()


@pytest.fixture
def attach(service: ServiceProcess) -> Iterator[Callable[..., ServiceClient]]:
    clients: list[ServiceClient] = []

    def attach(user: str = "", password: str = "") -> ServiceClient:
        client = ServiceClient(service.address, Credentials(user, password))
        clients.append(client)
        return client

    yield attach
    for client in clients:
        client.close()


def test_two_windows_see_the_same_frames(attach) -> None:
    first, second = attach(), attach()
    seen: dict[int, dict[int, bytes]] = {0: {}, 1: {}}

    def record() -> bool:
        for n, client in enumerate((first, second)):
            frame, header = client.frame(), client._header
            if frame is not None and len(frame.keys) > 5000:
                seen[n][header.seq] = frame.values.tobytes()
        return len(set(seen[0]) & set(seen[1])) >= 3

    assert wait_until(record, first, second)
    common = set(seen[0]) & set(seen[1])
    assert all(seen[0][seq] == seen[1][seq] for seq in common)
    assert first.keys[:5000] == second.keys[:5000]
    assert first.welcome.role == second.welcome.role == "viewer"


def test_sign_in_gives_the_users_role_and_a_wrong_password_is_refused_and_logged(
    attach, service: ServiceProcess
) -> None:
    ana, wrong, nobody = attach("ana", PASSWORD), attach("ana", "not her password"), attach()
    assert wait_until(lambda: ana.welcome and wrong.refused and nobody.welcome, ana, wrong, nobody)
    assert (ana.welcome.user, ana.welcome.role) == ("ana", "operator")
    assert wrong.refused == SIGN_IN_REFUSED and wrong.welcome is None
    assert wait_until(lambda: wrong.frame() is not None, wrong, timeout_s=1.5) is False
    assert (nobody.welcome.user, nobody.welcome.role) == ("", "viewer")
    entries = AuditLog(service.data / AUDIT_FILE).entries()
    sign_ins = sorted((e.subject, e.outcome, e.detail) for e in entries if e.action == "sign_in")
    assert sign_ins == [("ana", "ok", "operator"), ("ana", "refused", "wrong password")]


class RawWindow:
    """A window's command socket spoken to byte for byte, as no FactoryFloor window would."""

    def __init__(self, service: ServiceProcess) -> None:
        keys = KeyPair.generate()
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.curve_serverkey = service.public_key.encode()
        self.socket.curve_publickey = keys.public.encode()
        self.socket.curve_secretkey = keys.secret.encode()
        self.socket.linger = 0
        self.socket.connect(f"tcp://127.0.0.1:{service.port}")

    def ask(self, data: bytes) -> bytes:
        self.socket.send(data)
        assert self.socket.poll(30_000), "no reply from the service"
        return self.socket.recv_multipart()[0]

    def close(self) -> None:
        self.socket.close()


def test_a_window_of_another_protocol_version_is_told_both_versions(
    service: ServiceProcess,
) -> None:
    window = RawWindow(service)
    try:
        wire = json.loads(encode(Hello("old window")))
        wire["header"]["version"] = PROTOCOL_VERSION + 1
        reply = decode(window.ask(json.dumps(wire).encode()))
        assert isinstance(reply, Refused)
        assert reply.reason == (f"protocol version {PROTOCOL_VERSION + 1} is not spoken here: "
                                f"this end speaks version {PROTOCOL_VERSION}")  # fmt: skip
        assert isinstance(decode(window.ask(b"\xff not JSON")), Refused)  # and it still serves
        assert decode(window.ask(encode(GetDesign()))).msg_type == "design_sent"
    finally:
        window.close()


def test_a_window_of_another_version_reads_the_refusal_with_both_versions() -> None:
    from factoryfloor.backend.service.client import foreign_version_reason

    wire = json.loads(encode(Refused("x", "protocol version 2 is not spoken here: this end "
                                          "speaks version 3")))  # fmt: skip
    wire["header"]["version"] = PROTOCOL_VERSION + 1
    reason = foreign_version_reason(json.dumps(wire).encode())
    assert reason.startswith(f"the service speaks protocol version {PROTOCOL_VERSION + 1} and "
                             f"this window version {PROTOCOL_VERSION}")  # fmt: skip


def apply(client: ServiceClient, design_json: str, base_version: int) -> Reply:
    replies: list[Reply] = []
    client.send(ApplyDesign(design_json, base_version), lambda reply, _: replies.append(reply))
    assert wait_until(lambda: replies, client)
    return replies[0]


def test_only_an_engineer_applies_a_design_and_every_window_follows(
    attach, service: ServiceProcess, design_file: Path
) -> None:
    ana, eve, wall = attach("ana", PASSWORD), attach("eve", PASSWORD), attach()
    assert wait_until(lambda: ana.welcome and eve.welcome and wall.frame(), ana, eve, wall)
    design = load_design(design_file).model_copy(update={"name": "Hall B, revised"})
    text = design_to_json(design)

    refused = apply(ana, text, 1)
    assert isinstance(refused, Refused)
    assert refused.reason == ("applying a design needs the engineer role; this window is "
                              "signed in as operator")  # fmt: skip
    bad = apply(eve, text.replace('"name": "Hall B, revised"', '"name": 7'), 1)
    assert isinstance(bad, Refused) and "name" in bad.reason

    assert isinstance(apply(eve, text, 1), Accepted)
    assert wait_until(lambda: wall.design_applied and wall.design_version == 2, wall)
    assert (wall.design_applied[0].version, wall.design_applied[0].user) == (2, "eve")
    assert load_design(design_file).name == "Hall B, revised"  # a restart runs it too
    assert (service.data / "designs" / "000002.json").exists()
    stale = apply(eve, text, 1)
    assert isinstance(stale, Refused) and "version 2 has been applied since" in stale.reason
    applied = [(e.actor, e.outcome) for e in AuditLog(service.data / AUDIT_FILE).entries()
               if e.action == "design.apply"]  # fmt: skip
    assert applied[0] == ("ana", "refused") and ("eve", "ok") in applied


def test_a_window_sees_its_service_die_at_once_and_reattaches_when_it_returns(
    attach, service: ServiceProcess
) -> None:
    ana = attach("ana", PASSWORD)
    assert wait_until(lambda: ana.frame() is not None, ana)
    first_id = ana._header.service_id
    service.kill()
    killed_s = time.monotonic()
    assert wait_until(lambda: ana.silent, ana, timeout_s=10)
    assert time.monotonic() - killed_s < 1.0, "the window took a second or more to notice"
    assert ana.frame() is None
    service.start()  # same port, same data folder: same key
    assert wait_until(lambda: ana.frame() is not None and len(ana.frame().keys) > 5000, ana)
    assert ana._header.service_id != first_id
    assert wait_until(lambda: ana.welcome.service_id != first_id, ana)
    assert ana.welcome.role == "operator"  # signed in again by itself


def test_a_window_that_dies_mid_request_leaves_the_service_serving(
    attach, service: ServiceProcess
) -> None:
    for _ in range(5):
        window = RawWindow(service)
        window.socket.send(encode(GetDesign()))
        window.close()  # gone before the reply
    survivor = attach()
    assert wait_until(lambda: survivor.frame() is not None, survivor)
    assert service.process.poll() is None


def test_sigterm_stops_the_service_cleanly(service: ServiceProcess) -> None:
    assert service.stop() == 0
    assert any("stopped" in line for line in service.log)


def test_a_window_guessing_passwords_is_answered_ever_more_slowly(
    service: ServiceProcess,
) -> None:
    window = RawWindow(service)
    try:
        took_s = []
        for guess in range(5):
            started = time.monotonic()
            reply = decode(window.ask(encode(Hello("guesser", "ana", f"guess {guess}"))))
            took_s.append(time.monotonic() - started)
            assert isinstance(reply, Refused) and reply.reason == SIGN_IN_REFUSED
        assert took_s[3] >= 1.0 and took_s[4] >= 2.0  # the 4th waits 1 s, the 5th 2 s
        assert max(took_s[:3]) < 1.0  # a mistyped password or two costs nothing
    finally:
        window.close()
