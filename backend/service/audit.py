"""The audit log: who did what to whom, and whether it was allowed, one JSON object a line.

Every sign-in attempt and every change to the users is appended, refused ones included, so a
guessed password or a removed account can be traced afterwards. The file is only ever appended
to (``O_APPEND``: each line is one write, whole even with several writers), created 0600 because
it names the users, and synced to disk before the action returns, so a power cut cannot lose
the record of something that happened. Passwords and hashes are never written to it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the log. ``actor`` is who asked (``local:<os user>`` for the command line,
    the peer's address for a window), ``subject`` the user acted on, ``outcome`` ``ok`` or
    ``refused``, and ``detail`` what the outcome alone does not say (the role given, or why a
    sign-in was refused: the log may tell an unknown user from a wrong password, the reply not)."""

    time: str
    actor: str
    action: str
    subject: str
    outcome: str
    detail: str = ""


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def record(
        self, actor: str, action: str, subject: str, outcome: str, detail: str = ""
    ) -> AuditEntry:
        """Append one entry, stamped now (UTC), and return it once it is on disk."""
        entry = AuditEntry(
            datetime.now(UTC).isoformat(timespec="milliseconds"),
            actor,
            action,
            subject,
            outcome,
            detail,
        )
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        return entry

    def entries(self) -> list[AuditEntry]:
        """Every entry so far, oldest first; none if nothing was logged yet."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as file:
            return [AuditEntry(**json.loads(line)) for line in file if line.strip()]
