"""Whether the audit log is as it was written: each line's ``prev`` against the hash of the line
before it, from the first line to the last.

A line deleted, edited or moved breaks the chain at the line after it (or at itself, if it no
longer reads as an entry), and the check names that line and its time, so whoever reads the
report knows where to look in a copy or a backup. Lines written before the chain began (no
``prev``) are counted apart: they are read, but cannot be vouched for; one without ``prev`` after
the chain began is a break. The file is read line by line, so a log of millions of entries is
checked in constant memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factoryfloor.backend.service.audit import (
    GENESIS,
    AuditError,
    line_hash,
    numbered_lines,
    parse_line,
)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What ``verify`` found: ``broken_line`` None if every chained line follows the one before."""

    entries: int
    """Lines read, up to and including the broken one."""
    unchained: int
    """Lines at the start written before the chain began."""
    broken_line: int | None = None
    """The first line (from 1) whose chain breaks."""
    broken_time: str = ""
    """Its time, where it still reads as an entry."""
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_line is None

    def describe(self, when: Callable[[float], str] | None = None) -> str:
        """One sentence for the operator: intact with how many entries, or where it breaks
        (its time as ``when`` words epoch seconds; None: as the log has it, ISO-8601 UTC)."""
        if self.broken_line is None:
            older = (f"; the first {self.unchained:,} were written before entries were chained "
                     "and cannot be vouched for" if self.unchained else "")  # fmt: skip
            return f"The audit log is intact: {self.entries:,} entries{older}."
        at = self.broken_time
        if at and when is not None:
            at = when(datetime.fromisoformat(at).timestamp())
        at = f" (written {at})" if at else ""
        return f"The audit log has been altered at line {self.broken_line}{at}: {self.reason}."


def verify(path: Path) -> ChainCheck:
    """Walk the log at ``path`` (an absent one is intact and empty); OSError if unreadable."""
    if not path.exists():
        return ChainCheck(0, 0)
    before: bytes | None = None
    """The line before this one; None at the first."""
    chained = False
    unchained = 0
    count = 0
    for number, line in numbered_lines(path):
        count += 1
        try:
            entry = parse_line(line, path, number)
        except AuditError as error:
            return ChainCheck(count, unchained, number, "", error.reason)
        expected = GENESIS if before is None else line_hash(before)
        broken = ""
        if not entry.prev:
            if chained:
                broken = "it carries no hash of the line before, though the lines before do"
            unchained += 1
        elif entry.prev != expected and before is None:
            broken = "it is not the first entry written: the lines before it were deleted"
        elif entry.prev != expected:
            broken = (f"it does not follow line {number - 1}: that line was edited, or lines "
                      "between them were deleted or moved")  # fmt: skip
        if broken:
            return ChainCheck(count, unchained, number, entry.time, broken)
        chained = chained or bool(entry.prev)
        before = line
    return ChainCheck(count, unchained)
