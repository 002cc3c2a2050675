"""How a group of GPUs' tokens/s and power follow the per-GPU power limit set on all of them.

A curve is what the tokens-per-joule tuner measures on a group (a rack, the racks of a loop, a
selection), or what the model predicts for a rack's GPUs and workload when nothing was measured.
Groups are whole inference servers' worth of GPUs because tokens are counted per server: a
single GPU's tokens/s is not observable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class PowerCurve:
    """Tokens/s and power of a group at each per-GPU power limit, limits ascending.

    ``power_w`` and ``tokens_per_s`` are the whole group's; ``limit_w`` the limit each of its
    GPUs is given. A limit above what the work draws changes nothing, so the top of a
    decode-heavy group's curve is flat in both power and tokens."""

    group: str
    gpu_count: int
    limit_w: np.ndarray
    power_w: np.ndarray
    tokens_per_s: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.limit_w)
        if n < 1 or len(self.power_w) != n or len(self.tokens_per_s) != n:
            raise ValueError(f"curve {self.group}: limit_w, power_w and tokens_per_s need one "
                             f"value each per point ({n}, {len(self.power_w)}, "
                             f"{len(self.tokens_per_s)})")  # fmt: skip
        if np.any(np.diff(self.limit_w) <= 0):
            raise ValueError(f"curve {self.group}: limit_w must be strictly ascending")

    @property
    def top_power_w(self) -> float:
        """What the group draws at its highest limit: uncapped."""
        return float(self.power_w[-1])

    @property
    def top_tokens_per_s(self) -> float:
        return float(self.tokens_per_s[-1])

    def scaled(self, power_factor: float, tokens_factor: float) -> PowerCurve:
        """The same shape at another load: the model's curve matched to what the group
        measures now (its power and tokens at the limit it runs at)."""
        return PowerCurve(
            self.group,
            self.gpu_count,
            self.limit_w,
            self.power_w * power_factor,
            self.tokens_per_s * tokens_factor,
        )

    def matched(self, limit_w: float, power_w: float, tokens_per_s: float) -> PowerCurve:
        """This shape through what the group measures now at its per-GPU limit ``limit_w``:
        a model's curve (or one measured at another load) made to pass through the present
        power and tokens/s, so that a plan starts from where the group really is."""
        curve_power_w = float(np.interp(limit_w, self.limit_w, self.power_w))
        curve_tokens = float(np.interp(limit_w, self.limit_w, self.tokens_per_s))
        return self.scaled(power_w / curve_power_w if curve_power_w > 0 else 1.0,
                           tokens_per_s / curve_tokens if curve_tokens > 0 else 1.0)  # fmt: skip

    def tokens_at_power(self, power_w: float) -> float:
        """Tokens/s when the group is held to ``power_w`` (interpolated; below the curve's
        lowest power, its lowest point's tokens)."""
        order = np.argsort(self.power_w, kind="stable")
        return float(np.interp(power_w, self.power_w[order], self.tokens_per_s[order]))

    def limit_at_power(self, power_w: float) -> float:
        """The per-GPU limit that holds the group to ``power_w``; the highest limit when the
        group draws no more than that uncapped."""
        if power_w >= self.top_power_w:
            return float(self.limit_w[-1])
        order = np.argsort(self.power_w, kind="stable")
        return float(np.interp(power_w, self.power_w[order], self.limit_w[order]))
