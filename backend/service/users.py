"""The service's users: names, roles and salted password hashes in one file on disk.

``users.json`` in the service's data folder holds, for each user name, a role and an Argon2id
hash (``argon2-cffi``: salted, memory-hard, its parameters written into the hash itself). It is
replaced atomically and kept 0600, so a crash mid-write leaves the old file or the new one, and
other accounts on the machine cannot read the hashes. A file that does not parse is refused with
the file and the field named, and is never written over: every change reads the file first, and
a change to a damaged file fails before anything is written.

Signing in answers an unknown user and a wrong password with the same :class:`SignInRefused`
message, after the same work (an unknown name is checked against a stand-in hash), so neither
the reply nor its timing tells which names exist. A hash made with older parameters is replaced
by one with the current ones when its user next signs in. Every attempt, and every change to the
users, goes to the audit log beside the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from platformdirs import user_data_path
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

from factoryfloor.backend.design.design_file import (
    MAX_FILE_BYTES,
    atomic_write_text,
    validate_model,
)
from factoryfloor.backend.service.audit import AuditLog
from factoryfloor.backend.service.roles import Role

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; changes there are not serialised
    fcntl = None  # type: ignore[assignment]

USERS_FILE = "users.json"
AUDIT_FILE = "audit.jsonl"
SCHEMA_VERSION = 1
MIN_PASSWORD_LENGTH = 8
"""NIST SP 800-63B's floor for a password a user chooses."""

USER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""As design ids: a name is typed in sign-in boxes and read in the audit log."""
_USER_NAME = re.compile(USER_NAME_PATTERN)

SIGN_IN_REFUSED = "sign-in refused: unknown user name or wrong password"


def default_data_folder() -> Path:
    """Where a service keeps its users and history unless told otherwise: the platform's data
    folder for FactoryFloor (``$XDG_DATA_HOME/factoryfloor``, ``~/.local/share/factoryfloor`` on
    Linux)."""
    return user_data_path("factoryfloor")


class UserError(ValueError):
    """A change to the users that cannot be made: the message says why, naming the user."""


class SignInRefused(Exception):
    """Unknown user or wrong password; the message is the same for both."""

    def __init__(self) -> None:
        super().__init__(SIGN_IN_REFUSED)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role


def _argon2_hash(text: str) -> str:
    if not text.startswith("$argon2"):
        raise PydanticCustomError(
            "argon2_hash", "must be an Argon2 hash as 'factoryfloor users' writes it"
        )
    return text


class _Account(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Role
    password_hash: Annotated[str, AfterValidator(_argon2_hash)]


class _UsersDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: Literal[1]
    users: dict[Annotated[str, StringConstraints(pattern=USER_NAME_PATTERN)], _Account]


class UserStore:
    """The users of the service whose data folder is ``folder``.

    Each call reads the file afresh, so a user the command line adds is seen by a running
    service at the next sign-in, and changes are made under a lock on ``users.json.lock`` (on
    POSIX) so two changes at once cannot lose one of them."""

    def __init__(self, folder: Path, hasher: PasswordHasher | None = None) -> None:
        self.folder = folder
        self.path = folder / USERS_FILE
        self.audit = AuditLog(folder / AUDIT_FILE)
        self._hasher = hasher or PasswordHasher()
        self._stand_in_hash: str | None = None

    def users(self) -> list[User]:
        """Every user, by name. Raises DesignFileError if the file is damaged."""
        accounts = self._read()
        return [User(name, accounts[name].role) for name in sorted(accounts)]

    def add(self, name: str, password: str, role: Role, actor: str) -> User:
        """A new user; UserError if the name is taken or not allowed, or the password short."""
        with self._audited(actor, "user.add", name, role.value), self._locked():
            _check_name(name)
            _check_password(password)
            accounts = self._read()
            if name in accounts:
                raise UserError(f"user {name!r} already exists")
            accounts[name] = _Account(role=role, password_hash=self._hasher.hash(password))
            self._write(accounts)
        return User(name, role)

    def remove(self, name: str, actor: str) -> None:
        with self._audited(actor, "user.remove", name), self._locked():
            accounts = self._read()
            if accounts.pop(name, None) is None:
                raise UserError(f"no user {name!r}")
            self._write(accounts)

    def set_password(self, name: str, password: str, actor: str) -> None:
        with self._audited(actor, "user.passwd", name), self._locked():
            _check_password(password)
            accounts = self._read()
            if name not in accounts:
                raise UserError(f"no user {name!r}")
            accounts[name] = self._with_password(accounts[name], password)
            self._write(accounts)

    def sign_in(self, name: str, password: str, actor: str) -> User:
        """The user ``name`` if ``password`` is theirs, else SignInRefused; audited either way.
        A users file that cannot be read raises its own error (DesignFileError, OSError), also
        audited: the service must say that, not that the password was wrong."""
        stand_in = self._stand_in()  # made before the first answer, known user or not
        try:
            account = self._read().get(name)
        except (ValueError, OSError) as error:
            self.audit.record(actor, "sign_in", name, "refused", _one_line(error))
            raise
        try:
            self._hasher.verify(account.password_hash if account else stand_in, password)
        except (VerificationError, InvalidHashError):
            reason = "wrong password" if account else "unknown user"
            self.audit.record(actor, "sign_in", name, "refused", reason)
            raise SignInRefused() from None
        if account is None:  # the stand-in's password is random and never returned
            raise SignInRefused()
        self.audit.record(actor, "sign_in", name, "ok", account.role.value)
        if self._hasher.check_needs_rehash(account.password_hash):
            # A new hash that cannot be written leaves the old one, which still verifies.
            with contextlib.suppress(ValueError, OSError):
                self._rehash(name, password, actor)
        return User(name, account.role)

    def _rehash(self, name: str, password: str, actor: str) -> None:
        """Store the hash of ``password`` with the current parameters, unless the user was
        changed or removed since the sign-in read the file."""
        with self._audited(actor, "user.rehash", name), self._locked():
            accounts = self._read()
            account = accounts.get(name)
            if account is None or not self._hasher.check_needs_rehash(account.password_hash):
                return
            accounts[name] = self._with_password(account, password)
            self._write(accounts)

    def _with_password(self, account: _Account, password: str) -> _Account:
        return account.model_copy(update={"password_hash": self._hasher.hash(password)})

    def _stand_in(self) -> str:
        if self._stand_in_hash is None:
            self._stand_in_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._stand_in_hash

    def _read(self) -> dict[str, _Account]:
        try:
            with self.path.open("rb") as file:
                raw = file.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return {}
        document: _UsersDocument = validate_model(_UsersDocument, raw, str(self.path), "users file")
        return dict(document.users)

    def _write(self, accounts: dict[str, _Account]) -> None:
        document = _UsersDocument(schema_version=SCHEMA_VERSION, users=accounts)
        atomic_write_text(self.path, document.model_dump_json(indent=2) + "\n", mode=0o600)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if fcntl is None:
            yield
            return
        fd = os.open(self.path.with_name(USERS_FILE + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _audited(self, actor: str, action: str, subject: str, detail: str = "") -> Iterator[None]:
        """Log the change wrapped: ``ok``, or ``refused`` with the reason, before re-raising."""
        try:
            yield
        except (ValueError, OSError) as error:
            self.audit.record(actor, action, subject, "refused", _one_line(error))
            raise
        self.audit.record(actor, action, subject, "ok", detail)


def _one_line(error: Exception) -> str:
    """The error's message as one line, for the audit log."""
    return " ".join(str(error).split())


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")


def _check_name(name: str) -> None:
    if not _USER_NAME.match(name):
        raise UserError(
            f"user name {name!r} not allowed: 1 to 64 letters, digits, _ . -, "
            "starting with a letter or digit"
        )
