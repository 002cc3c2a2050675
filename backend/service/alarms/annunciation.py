"""Flood and chattering, as ISA-18.2 defines them (design notes, section 6).

A flood is more than ``FLOOD_COUNT`` new alarms (alarms becoming active and unacknowledged)
within ``FLOOD_WINDOW_S``; it ends when the count in the window falls back. An alarm chatters
when it becomes active ``CHATTER_COUNT`` times or more within ``CHATTER_WINDOW_S``. Both are
judged from the times of new alarms only, passed in, so the same code serves the live service and
the report over a journal.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

FLOOD_COUNT = 10
FLOOD_WINDOW_S = 600.0
CHATTER_COUNT = 3
CHATTER_WINDOW_S = 60.0


@dataclass(slots=True)
class Flood:
    start_s: float
    end_s: float | None
    """None while it lasts."""
    alarms: list[str]
    """The new alarms that made it, in order: what the display groups."""


class Annunciation:
    """Watches new alarms for floods and chattering."""

    def __init__(self) -> None:
        self._recent: deque[tuple[float, str]] = deque()
        self._per_alarm: dict[str, deque[float]] = defaultdict(deque)
        self.floods: list[Flood] = []
        self.chattering: set[str] = set()

    @property
    def flood(self) -> Flood | None:
        """The flood going on, if one is."""
        return self.floods[-1] if self.floods and self.floods[-1].end_s is None else None

    def observe(self, time_s: float, new_alarms: Iterable[str]) -> None:
        """Alarms newly raised at ``time_s`` (may be none: time still passes)."""
        recent = self._recent
        for alarm_id in new_alarms:
            recent.append((time_s, alarm_id))
            times = self._per_alarm[alarm_id]
            times.append(time_s)
            while times and times[0] <= time_s - CHATTER_WINDOW_S:
                times.popleft()
            if len(times) >= CHATTER_COUNT:
                self.chattering.add(alarm_id)
            if self.flood is not None:
                self.flood.alarms.append(alarm_id)
        while recent and recent[0][0] <= time_s - FLOOD_WINDOW_S:
            recent.popleft()
        if self.flood is None and len(recent) > FLOOD_COUNT:
            self.floods.append(Flood(recent[0][0], None, [a for _, a in recent]))
        elif self.flood is not None and len(recent) <= FLOOD_COUNT:
            self.flood.end_s = time_s
        for alarm_id, times in list(self._per_alarm.items()):
            while times and times[0] <= time_s - CHATTER_WINDOW_S:
                times.popleft()
            if not times:
                del self._per_alarm[alarm_id]
                self.chattering.discard(alarm_id)
