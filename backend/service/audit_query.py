"""The audit log searched: entries by time, user, action and result, and written as CSV.

The log is JSON lines read from the start (a year of control actions and sign-ins is a few tens
of megabytes, read in well under a second), so a search is a filter over the entries as they are
read, keeping the newest ``limit`` for a window and counting the rest.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from typing import IO

from factoryfloor.backend.service.audit import AuditEntry

CSV_COLUMNS = tuple(f.name for f in fields(AuditEntry))


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """What to search for; every field left None matches everything."""

    since_s: float | None = None
    until_s: float | None = None
    user: str | None = None
    """Who acted, exactly as the log names them (``olga``, ``local:root``)."""
    action: str | None = None
    """An action (``alarm.acknowledge``) or its family (``alarm``, ``control``, ``user``)."""
    result: str | None = None
    """The outcome: ``ok``, ``refused``, ``failed``, ``unconfirmed``..."""
    limit: int | None = None
    newest_first: bool = False
    """Newest entries first (and ``limit`` keeps the newest): what a window lists."""

    def matches(self, entry: AuditEntry) -> bool:
        if self.since_s is not None or self.until_s is not None:
            time_s = entry.time_s
            if self.since_s is not None and time_s < self.since_s:
                return False
            if self.until_s is not None and time_s > self.until_s:
                return False
        if self.action is not None and entry.action != self.action \
                and not entry.action.startswith(self.action + "."):  # fmt: skip
            return False
        return (self.user is None or entry.actor == self.user) and (
            self.result is None or entry.outcome == self.result
        )


def search(entries: Iterable[AuditEntry], query: AuditQuery) -> tuple[list[AuditEntry], int]:
    """The entries ``query`` matches in its order (at most ``limit``: the newest), and how many
    more matched than are returned."""
    kept: deque[AuditEntry] = deque(maxlen=query.limit)
    matched = 0
    for entry in entries:
        if query.matches(entry):
            kept.append(entry)
            matched += 1
    found = list(reversed(kept)) if query.newest_first else list(kept)
    return found, matched - len(found)


def write_csv(entries: Iterable[AuditEntry], out: IO[str]) -> int:
    """The entries as CSV with a header row (the log's own field names, ``prev`` the chain's
    hash, so a copy can be checked against the log); returns rows written."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for entry in entries:
        writer.writerow(astuple(entry))
        count += 1
    return count
