"""On-delay and off-delay over many subjects at once: a condition must hold ``on_delay_s``
before it counts as active, and be gone ``off_delay_s`` before it counts as clear.

Each update takes, per subject, whether the condition is now met (``raise_``), now clearly not
met (``clear``), or neither (no valid reading, or inside a deadband: the raw condition holds as
it was). It returns the subjects whose debounced state changed, so the caller does Python work
only for those.
"""

from __future__ import annotations

import numpy as np


class Debouncer:
    def __init__(self, subjects: list[str], on_delay_s: float, off_delay_s: float) -> None:
        self.subjects = list(subjects)  # a copy: the caller's list may grow in place
        self.on_delay_s = on_delay_s
        self.off_delay_s = off_delay_s
        count = len(subjects)
        self.raw = np.zeros(count, bool)
        self.since_s = np.zeros(count)
        self.active = np.zeros(count, bool)

    def resized(self, subjects: list[str]) -> Debouncer:
        """The same state for a new list of subjects (new series joined): subjects kept keep
        their state, so no alarm is raised or cleared by the list changing."""
        if subjects == self.subjects:
            return self
        new = Debouncer(subjects, self.on_delay_s, self.off_delay_s)
        where = {subject: i for i, subject in enumerate(self.subjects)}
        pairs = [(j, where[s]) for j, s in enumerate(subjects) if s in where]
        if pairs:
            to, frm = np.array(pairs).T
            new.raw[to], new.since_s[to], new.active[to] = (
                self.raw[frm],
                self.since_s[frm],
                self.active[frm],
            )
        return new

    def update(self, raise_: np.ndarray, clear: np.ndarray, time_s: float) -> np.ndarray:
        """Indices of the subjects whose debounced state flipped at ``time_s``."""
        if len(raise_) != len(self.raw) or len(clear) != len(self.raw):
            raise ValueError(f"{len(raise_)} verdicts for {len(self.raw)} subjects")
        raw = np.where(raise_, True, np.where(clear, False, self.raw))
        self.since_s[raw != self.raw] = time_s
        self.raw = raw
        held_s = time_s - self.since_s
        turn_on = raw & ~self.active & (held_s >= self.on_delay_s)
        turn_off = ~raw & self.active & (held_s >= self.off_delay_s)
        flipped = np.flatnonzero(turn_on | turn_off)
        self.active[flipped] = ~self.active[flipped]
        return flipped
