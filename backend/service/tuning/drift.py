"""Whether an applied tuning still holds: the group's tokens per joule, measured window by
window, against what the sweep measured at that setting (no I/O).

The band is 10 % or three of that step's spreads, whichever is wider: the spread alone would
flag ordinary batch-mix noise, while a 10 % change is as large as the gain a sweep usually
finds, so a setting chosen for another workload may now be far from the best.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from factoryfloor.backend.service.tuning.sweep import StepResult

DRIFT_BAND = 0.10
"""The least relative change of tokens per joule that counts as drift."""
DRIFT_SPREADS = 3.0


@dataclass(slots=True)
class DriftWatch:
    expected: StepResult
    """The applied step, as the sweep measured it."""
    since_s: float
    """When the current window started (the first: after the applied setting's warm-up)."""
    window_s: float
    _tokens: list[float] = field(default_factory=list)
    _power: list[float] = field(default_factory=list)

    @property
    def band(self) -> float:
        relative_sd = self.expected.tokens_per_j_sd / max(self.expected.tokens_per_j, 1e-12)
        return max(DRIFT_BAND, DRIFT_SPREADS * relative_sd)

    def observe(self, now_s: float, tokens_per_s: float, power_w: float) -> float | None:
        """The relative change of tokens per joule when a window ends outside the band; None
        otherwise. Readings that are not finite are skipped."""
        if now_s < self.since_s:
            return None
        if np.isfinite(tokens_per_s) and np.isfinite(power_w) and power_w > 0:
            self._tokens.append(tokens_per_s)
            self._power.append(power_w)
        if now_s - self.since_s < self.window_s or not self._tokens:
            return None
        measured = float(np.mean(self._tokens) / np.mean(self._power))
        self.since_s, self._tokens, self._power = now_s, [], []
        change = measured / self.expected.tokens_per_j - 1.0
        return change if abs(change) > self.band else None
