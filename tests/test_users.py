"""Who may sign in to a service, and as what: ``factoryfloor users`` as an administrator runs it
(a real subprocess, the password on standard input), and sign-in against the file it writes.

Everything is on disk in a temporary data folder: the users file, its permissions, the audit log.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

from factoryfloor.backend.service.audit import AuditEntry
from factoryfloor.backend.service.roles import ROLE_NAMES, Role, permits
from factoryfloor.backend.service.users import (
    SIGN_IN_REFUSED,
    SignInRefused,
    User,
    UserStore,
)

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
PEER = "tcp:192.0.2.7:50314"

roles = st.sampled_from(list(Role))


def factoryfloor_users(
    data: Path | None, *args: str, password: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``factoryfloor users ARGS`` with the data folder ``data``; ``password``, if given, is
    typed on standard input (``--password-stdin``)."""
    command = [sys.executable, "-m", "factoryfloor.app", "users", *args]
    if data is not None:
        command += ["--data", str(data)]
    if password is not None:
        command.append("--password-stdin")
    return subprocess.run(
        command,
        cwd=REPO,
        input="" if password is None else password + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def add(data: Path, name: str, role: str, password: str = PASSWORD) -> None:
    result = factoryfloor_users(data, "add", name, "--role", role, password=password)
    assert result.returncode == 0, result.stderr


def audit(data: Path) -> list[AuditEntry]:
    return UserStore(data).audit.entries()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A service's data folder that does not exist yet: the first change creates it."""
    return tmp_path / "service-data"


def test_a_user_added_on_the_command_line_signs_in_with_their_role(data: Path) -> None:
    add(data, "alice", "engineer")
    add(data, "olga", "operator")

    store = UserStore(data)
    assert store.sign_in("alice", PASSWORD, PEER) == User("alice", Role.ENGINEER)
    assert store.sign_in("olga", PASSWORD, PEER) == User("olga", Role.OPERATOR)
    listed = factoryfloor_users(data, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[2:]]
    assert rows == [["alice", "engineer"], ["olga", "operator"]]
    signed_in = [e for e in audit(data) if e.action == "sign_in"]
    assert [(e.actor, e.subject, e.outcome) for e in signed_in] == [
        (PEER, "alice", "ok"),
        (PEER, "olga", "ok"),
    ]


def test_wrong_password_and_unknown_user_get_the_same_refusal_and_are_logged(data: Path) -> None:
    add(data, "alice", "engineer")
    store = UserStore(data)
    saved = store.path.read_bytes()

    with pytest.raises(SignInRefused) as wrong_password:
        store.sign_in("alice", "correct horse battery!", PEER)
    with pytest.raises(SignInRefused) as unknown_user:
        store.sign_in("mallory", PASSWORD, PEER)

    assert str(wrong_password.value) == str(unknown_user.value) == SIGN_IN_REFUSED
    assert "password" in SIGN_IN_REFUSED and "user" in SIGN_IN_REFUSED
    refused = [e for e in audit(data) if e.outcome == "refused"]
    assert [(e.actor, e.action, e.subject, e.detail) for e in refused] == [
        (PEER, "sign_in", "alice", "wrong password"),
        (PEER, "sign_in", "mallory", "unknown user"),
    ]
    assert store.path.read_bytes() == saved


def test_the_password_is_stored_only_as_a_salted_argon2_hash(data: Path) -> None:
    add(data, "alice", "viewer")
    add(data, "bob", "viewer")  # the same password

    text = (data / "users.json").read_text()
    hashes = {name: user["password_hash"] for name, user in json.loads(text)["users"].items()}
    assert all(h.startswith("$argon2id$") for h in hashes.values())
    assert hashes["alice"] != hashes["bob"]  # salted
    assert PASSWORD not in text
    assert PASSWORD not in (data / "audit.jsonl").read_text()


def test_users_file_and_audit_log_are_private_to_the_service_account(data: Path) -> None:
    add(data, "alice", "engineer")
    UserStore(data).sign_in("alice", PASSWORD, PEER)

    assert stat.S_IMODE((data / "users.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "audit.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_passwd_replaces_the_password_and_remove_ends_sign_in(data: Path) -> None:
    add(data, "alice", "operator")
    new_password = "tr0ub4dor&3 again"

    changed = factoryfloor_users(data, "passwd", "alice", password=new_password)
    assert changed.returncode == 0, changed.stderr
    store = UserStore(data)
    with pytest.raises(SignInRefused):
        store.sign_in("alice", PASSWORD, PEER)
    assert store.sign_in("alice", new_password, PEER) == User("alice", Role.OPERATOR)

    removed = factoryfloor_users(data, "remove", "alice")
    assert removed.returncode == 0, removed.stderr
    with pytest.raises(SignInRefused):
        store.sign_in("alice", new_password, PEER)
    assert "No users" in factoryfloor_users(data, "list").stdout
    changes = [(e.action, e.subject, e.outcome) for e in audit(data) if e.action != "sign_in"]
    assert changes == [
        ("user.add", "alice", "ok"),
        ("user.passwd", "alice", "ok"),
        ("user.remove", "alice", "ok"),
    ]
    assert all(e.actor.startswith("local:") for e in audit(data) if e.action != "sign_in")


@pytest.mark.parametrize(
    ("args", "password", "reason"),
    [
        (["add", "alice", "--role", "viewer"], PASSWORD, "user 'alice' already exists"),
        (["add", "bob", "--role", "viewer"], "short", "password too short: at least 8"),
        (["add", "bob smith", "--role", "viewer"], PASSWORD, "user name 'bob smith' not allowed"),
        (["add", "bob", "--role", "viewer"], "", "password too short"),
        (["passwd", "bob"], PASSWORD, "no user 'bob'"),
        (["remove", "bob"], None, "no user 'bob'"),
    ],
)
def test_a_change_that_cannot_be_made_exits_1_with_the_reason_and_changes_nothing(
    data: Path, args: list[str], password: str | None, reason: str
) -> None:
    add(data, "alice", "engineer")
    saved = (data / "users.json").read_bytes()

    result = factoryfloor_users(data, *args, password=password)

    assert result.returncode == 1
    assert f"factoryfloor users {args[0]}: " in result.stderr
    assert reason in result.stderr
    assert (data / "users.json").read_bytes() == saved
    last = audit(data)[-1]
    assert (last.subject, last.outcome) == (args[1], "refused")
    assert reason in last.detail


def test_no_password_on_standard_input_is_refused(data: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "factoryfloor.app", "users", "add", "alice", "--role", "viewer",
         "--data", str(data), "--password-stdin"],
        cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "no password on standard input" in result.stderr
    assert not (data / "users.json").exists()


DAMAGED = {
    "an unknown role": (
        {"schema_version": 1, "users": {"alice": {"role": "admin", "password_hash": "$argon2id$"}}},
        "users.alice.role: must be 'viewer', 'operator' or 'engineer' (got 'admin')",
    ),
    "a missing hash": (
        {"schema_version": 1, "users": {"alice": {"role": "viewer"}}},
        "users.alice.password_hash: required field is missing",
    ),
    "a plain-text password": (
        {"schema_version": 1, "users": {"alice": {"role": "viewer", "password_hash": "hunter2"}}},
        "users.alice.password_hash: must be an Argon2 hash",
    ),
    "a newer schema": ({"schema_version": 2, "users": {}}, "schema_version: must be 1 (got 2)"),
    "cut short": ('{"schema_version": 1, "users": {"ali', "(file): Invalid JSON"),
}


@pytest.mark.parametrize("damage", DAMAGED.keys())
def test_a_damaged_users_file_is_refused_naming_file_and_field_and_never_overwritten(
    data: Path, damage: str
) -> None:
    content, problem = DAMAGED[damage]
    data.mkdir()
    users_file = data / "users.json"
    users_file.write_text(content if isinstance(content, str) else json.dumps(content))
    saved = users_file.read_bytes()

    for args, password in (
        (["list"], None),
        (["add", "bob", "--role", "engineer"], PASSWORD),
        (["passwd", "alice"], PASSWORD),
        (["remove", "alice"], None),
    ):
        result = factoryfloor_users(data, *args, password=password)
        assert result.returncode == 2, (args, result.stderr)
        assert f"{users_file}: not a valid users file" in result.stderr
        assert problem in result.stderr
        assert users_file.read_bytes() == saved
    with pytest.raises(ValueError, match="not a valid users file"):
        UserStore(data).sign_in("alice", PASSWORD, PEER)
    assert users_file.read_bytes() == saved
    last = audit(data)[-1]
    assert (last.action, last.subject, last.outcome) == ("sign_in", "alice", "refused")
    assert problem in last.detail


def test_a_hash_with_older_parameters_is_replaced_at_the_next_sign_in(data: Path) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    UserStore(data, hasher=weak).add("alice", PASSWORD, Role.ENGINEER, "local:test")
    old_hash = json.loads((data / "users.json").read_text())["users"]["alice"]["password_hash"]

    current = PasswordHasher()
    assert UserStore(data, hasher=current).sign_in("alice", PASSWORD, PEER).role is Role.ENGINEER

    new_hash = json.loads((data / "users.json").read_text())["users"]["alice"]["password_hash"]
    assert new_hash != old_hash
    assert not current.check_needs_rehash(new_hash)
    assert current.verify(new_hash, PASSWORD)
    assert ("user.rehash", "ok") in [(e.action, e.outcome) for e in audit(data)]
    assert UserStore(data).sign_in("alice", PASSWORD, PEER) == User("alice", Role.ENGINEER)


def test_users_added_at_the_same_time_are_all_kept(data: Path) -> None:
    """Eight administrators' changes at once, each through its own store (its own lock file
    handle, as separate processes have): hashing takes long enough that, unserialised, most
    would write back a file read before the others' users were in it."""
    names = [f"desk-{i}" for i in range(8)]
    start = threading.Barrier(len(names))

    def add_one(name: str) -> None:
        store = UserStore(data)
        start.wait()
        store.add(name, PASSWORD, Role.VIEWER, "local:test")

    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(add_one, names))

    assert [user.name for user in UserStore(data).users()] == names


def test_without_data_the_platform_data_folder_is_used(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    result = factoryfloor_users(None, "add", "alice", "--role", "viewer", password=PASSWORD,
                                env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    store = UserStore(tmp_path / "xdg" / "factoryfloor")
    assert store.users() == [User("alice", Role.VIEWER)]


def test_roles_are_ordered_viewer_operator_engineer() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.ENGINEER
    assert sorted(Role, reverse=True) == [Role.ENGINEER, Role.OPERATOR, Role.VIEWER]
    assert ROLE_NAMES == ("viewer", "operator", "engineer")
    assert not permits(Role.VIEWER, Role.OPERATOR)
    assert permits(Role.OPERATOR, Role.OPERATOR)
    assert not permits(Role.OPERATOR, Role.ENGINEER)


@given(roles, roles, roles)
def test_a_role_may_do_whatever_a_lesser_role_may(a: Role, b: Role, c: Role) -> None:
    assert permits(a, a)
    assert permits(Role.ENGINEER, a) and permits(a, Role.VIEWER)
    assert permits(a, b) or permits(b, a)
    if permits(a, b) and permits(b, a):
        assert a is b
    if permits(a, b) and permits(b, c):
        assert permits(a, c)
    assert permits(a, b) == (ROLE_NAMES.index(a.value) >= ROLE_NAMES.index(b.value))
