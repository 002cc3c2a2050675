"""The audit log: who did what to what, from which value to which, and whether it was allowed
and took effect, one JSON object a line, each chained to the one before by its hash.

Every sign-in attempt, every change to the users and every action on the facility (alarms,
control) is appended, refused ones included, so a guessed password, a removed account or a
power limit nobody admits to can be traced afterwards. The file is only ever appended to
(``O_APPEND``), created 0600 because it names the users, and synced to disk before the action
returns, so a power cut cannot lose the record of something that happened. Passwords and hashes
are never written to it.

Each entry carries ``prev``, the SHA-256 of the line before it as stored (its UTF-8 bytes without
the line end; ``GENESIS`` for the first line), so a line deleted, edited or moved breaks the
chain at the line after it and :func:`verify` names that line. A chain cannot show that the last
lines were cut off or the last one edited, since nothing follows them yet; it makes every other
change detectable. Reading the last line and appending the next is one step under a lock: a
thread lock within the process, ``flock`` between processes (the service and ``factoryfloor
users`` on the same machine), so two writers never chain to the same line. Lines written before
the chain began have no ``prev``; they are still read, and ``verify`` counts them apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: one process writes, the thread lock is the whole lock
    fcntl = None  # type: ignore[assignment]

GENESIS = "0" * 64
"""What the first entry carries as the hash of the line before it: there is none."""
_TAIL_CHUNK = 4096


class AuditError(ValueError):
    """A line of the log that is not an entry: the message names the file and the line."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}, line {line}: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the log: who (``actor``: a user, ``local:<os user>`` for the command line, a
    window's address before sign-in), when (``time``, ISO-8601 UTC), what (``action``:
    ``sign_in``, ``user.add``, ``alarm.acknowledge``, ``control.power_limit``...), the scope
    (``subject``: the user, alarm, GPUs or rack acted on), the ``outcome`` (``ok``, ``refused``,
    ``sent``, ``confirmed``, ``failed``, ``unconfirmed``), the reason or what the outcome alone
    does not say (``detail``: why it was refused or failed; the log may tell an unknown user from
    a wrong password, the reply not), and the values before and after where something changed."""

    time: str
    actor: str
    action: str
    subject: str
    outcome: str
    detail: str = ""
    old_value: str = ""
    new_value: str = ""
    prev: str = ""
    """SHA-256 (hex) of the line before; "" in lines written before the chain began."""

    @property
    def time_s(self) -> float:
        return datetime.fromisoformat(self.time).timestamp()


_FIELDS = frozenset(f.name for f in fields(AuditEntry))
_REQUIRED = frozenset(("time", "actor", "action", "subject", "outcome"))
"""What every line has, those written before the chain began too."""


def line_hash(line: bytes) -> str:
    """The hash the entry after ``line`` carries (``line`` without its line end)."""
    return hashlib.sha256(line).hexdigest()


def parse_line(line: bytes, path: Path, number: int) -> AuditEntry:
    """The entry on line ``number`` of ``path``; AuditError saying why if it is not one."""
    try:
        data = json.loads(line)
    except ValueError:
        raise AuditError(path, number, "not an audit entry: not JSON") from None
    if not isinstance(data, dict):
        raise AuditError(path, number, "not an audit entry: not a JSON object")
    missing = sorted(_REQUIRED - data.keys())
    if missing:
        raise AuditError(path, number, f"not an audit entry: no {', '.join(missing)}")
    if not all(isinstance(data[k], str) for k in data.keys() & _FIELDS):
        raise AuditError(path, number, "not an audit entry: a field that is not text")
    try:
        datetime.fromisoformat(data["time"])  # checked here: a search never meets a bad time
    except ValueError:
        raise AuditError(path, number, f"time {data['time']!r} is not ISO-8601") from None
    return AuditEntry(**{k: data[k] for k in data.keys() & _FIELDS})


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each line of the log (without its line end) and its number, from 1. A blank line is not
    skipped: nothing here writes one, so it is read as what it is, a line that is no entry."""
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            yield number, line.removesuffix(b"\n")


_writing = threading.Lock()
"""One append at a time in this process, whichever AuditLog (the service's, the users') makes it."""


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, actor: str, action: str, subject: str, outcome: str, detail: str = "", *,
               old_value: str = "", new_value: str = "") -> AuditEntry:  # fmt: skip
        """Append one entry, stamped now (UTC) and chained to the last line, and return it once
        it is on disk."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _writing, self._locked_file() as fd:
            last = _last_line(fd)
            entry = AuditEntry(
                datetime.now(UTC).isoformat(timespec="milliseconds"), actor, action, subject,
                outcome, detail, old_value, new_value,
                GENESIS if last is None else line_hash(last[0]),
            )  # fmt: skip
            line = json.dumps(asdict(entry), ensure_ascii=False).encode("utf-8") + b"\n"
            if last is not None and not last[1]:  # a torn line stays, as a line of its own
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        return entry

    @contextlib.contextmanager
    def _locked_file(self) -> Iterator[int]:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
            yield fd
        finally:
            os.close(fd)

    def entries(self) -> list[AuditEntry]:
        """Every entry so far, oldest first; none if nothing was logged yet. AuditError naming
        the line if one is not an entry."""
        if not self.path.exists():
            return []
        return [parse_line(line, self.path, n) for n, line in numbered_lines(self.path)]


def _last_line(fd: int) -> tuple[bytes, bool] | None:
    """The file's last line (without its line end) and whether it ended; None if it is empty."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    ended = _read_at(fd, size - 1, 1) == b"\n"
    position = size - 1 if ended else size
    tail = b""
    while position > 0 and b"\n" not in tail:
        start = max(0, position - _TAIL_CHUNK)
        tail = _read_at(fd, start, position - start) + tail
        position = start
    return tail[tail.rfind(b"\n") + 1 :], ended


def _read_at(fd: int, offset: int, size: int) -> bytes:
    """``size`` bytes from ``offset`` (appends still go to the end: the file is ``O_APPEND``)."""
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)
