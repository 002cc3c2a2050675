"""The sources' events, bounded: the last few kept in full, every one counted.

Sources report what happens to them as ``SourceEvent``s (a broker lost, a GPU lost, a payload
rejected). A flood of rejections must neither grow memory nor hide the rare event, so the log
keeps the last ``kept`` events in order, for readers that follow along by index (the backend
process forwards new ones to the GUI once a frame; the command line prints them), and a tally
per (source, kind, subject) with the count and the last detail, for "3,412 rejected on X: ..."
summaries of what fell out of the kept window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from factoryfloor.backend.telemetry.sink import EventKind, SourceEvent

OTHER_SUBJECTS = "(other subjects)"
"""The subject under which events are tallied once ``subjects`` distinct ones are known."""


class EventKey(NamedTuple):
    """What events are tallied by."""

    source: str
    kind: EventKind
    subject: str


@dataclass(frozen=True, slots=True)
class EventTally:
    """How many events of one (source, kind, subject) there were, and the last one's detail."""

    count: int
    last_detail: str
    last_time_s: float


class KeptEvents(NamedTuple):
    """The kept events from an index on, and the index to ask from next time."""

    events: list[SourceEvent]
    next_index: int


class EventLog:
    """The last ``kept`` events, numbered from 0 in arrival order, and a tally of all of them.

    Past ``subjects`` distinct subjects, new ones are tallied together under
    ``OTHER_SUBJECTS``, so a flood of distinct topics cannot grow memory without bound.
    """

    def __init__(self, kept: int = 1000, subjects: int = 10_000) -> None:
        self._events: deque[tuple[int, SourceEvent]] = deque(maxlen=kept)
        self._total = 0
        self._tallies: dict[EventKey, EventTally] = {}
        self._subjects = subjects

    def add(self, event: SourceEvent) -> None:
        self._events.append((self._total, event))
        self._total += 1
        key = EventKey(event.source, event.kind, event.subject)
        tally = self._tallies.get(key)
        if tally is None and len(self._tallies) >= self._subjects:
            key = EventKey(event.source, event.kind, OTHER_SUBJECTS)
            tally = self._tallies.get(key)
        count = 1 if tally is None else tally.count + 1
        self._tallies[key] = EventTally(count, event.detail, event.time_s)

    def since(self, index: int) -> KeptEvents:
        """Events numbered ``index`` onwards that are still kept, and the index to ask next.

        Start from 0; events that fell out of the kept window are only in ``tallies``.
        """
        kept = list(self._events)  # one C-level copy: safe against an append on another thread
        if not kept:
            return KeptEvents([], index)
        skip = max(0, index - kept[0][0])
        return KeptEvents([event for _, event in kept[skip:]], kept[-1][0] + 1)

    def tallies(self) -> dict[EventKey, EventTally]:
        """A copy of every tally so far."""
        return dict(self._tallies)
