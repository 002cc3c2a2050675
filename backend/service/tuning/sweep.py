"""A tokens-per-joule sweep of one group of GPUs, as a state machine with no I/O.

The group is whole racks (tokens are counted per inference server, so a single GPU's tokens/s
cannot be observed). The sweep steps one lever through its range, from the top down as Zeus
does (``zeus/optimizer/power_limit.py``: 25 W steps from the maximum): at each step it waits a
warm-up, then measures the group's tokens/s and power over a measuring window, keeping each
step's mean and spread. Whoever drives it (the service's runner, or a benchmark stepping the
simulator) applies what it asks (``Apply``), tells it when the step took (``step_applied``),
feeds it the group's readings (``observe``), and restores the group's previous settings when it
says so (``Restore``), on cancel as at the end.

Windows, for tokens/s counters: inference servers count generated tokens; the rate is the
difference of two scrapes of that counter, and scrapes come every few seconds (5 s is common).
A new power limit takes hold within about a second (the GPU's 1 s power average) and a new SM
clock at once, but the first rate that reflects only the new setting needs two scrapes that
both follow the change, plus a few seconds for the batch in flight to drain at the old speed:
the warm-up is two scrape intervals and a settle (15 s at 5 s scrapes). The measuring window
holds six scrapes (30 s), enough rates for a spread that tells noise from a real difference of
a few per cent, while a 20-step sweep still ends in about a quarter of an hour. Both are
settings, for sites that scrape faster or slower.

The lever: a power limit only saves energy where it bites. A group that draws well below its
limits at the start (decode-heavy serving is memory-bound and draws a fraction of its cap) would
show a flat curve for every limit above its draw, so it is swept by its locked SM clock instead,
which lowers its draw whatever the cap (``choose_lever``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from factoryfloor.backend.service.power.curves import PowerCurve

Lever = Literal["power_limit", "sm_clock"]
Phase = Literal["applying", "warming", "measuring", "done", "cancelled"]


@dataclass(frozen=True, slots=True)
class SweepSettings:
    scrape_interval_s: float = 5.0
    """How often the group's token counters are scraped."""
    warmup_s: float = 15.0
    """After a step took: two scrapes and a settle before its readings count."""
    measure_s: float = 30.0
    """The measuring window: six scrapes."""
    power_step_w: float = 25.0
    clock_step_mhz: float = 105.0
    """Seven 15 MHz clock bins: about as many clock steps as 25 W steps over a GPU's range."""
    floor_fraction: float = 0.95
    """The recommendation keeps tokens/s at or above this share of the unconstrained rate (the
    first step's): Zeus's maximum-slowdown constraint."""
    clock_lever_below: float = 0.8
    """A group drawing less than this share of its limits sweeps the clock."""
    early_stop: bool = True
    """Stop once two steps in a row measure under the floor: lower settings only slow more."""

    def __post_init__(self) -> None:
        for name in ("scrape_interval_s", "warmup_s", "measure_s", "power_step_w",
                     "clock_step_mhz"):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ValueError(f"tuner settings: {name} must be above 0")
        if not 0 < self.floor_fraction <= 1:
            raise ValueError("tuner settings: floor_fraction must be in (0, 1]")

    def step_of(self, lever: Lever) -> float:
        """The step of ``lever``: W for the power limit, MHz for the clock."""
        return self.power_step_w if lever == "power_limit" else self.clock_step_mhz


def choose_lever(power_w: float, limits_w: float, settings: SweepSettings) -> Lever:
    """``sm_clock`` when the group (``power_w`` drawn, ``limits_w`` its GPUs' limits summed)
    draws too little for a cap to bite; otherwise ``power_limit``, which keeps the GPU's own
    clock management and is what most sites already control."""
    return "sm_clock" if power_w < settings.clock_lever_below * limits_w else "power_limit"


def lever_levels(top: float, bottom: float, step: float) -> tuple[float, ...]:
    """The lever's settings from ``top`` down by ``step``, none below ``bottom``."""
    if bottom > top:
        raise ValueError(f"lever range {bottom:g}-{top:g}: bottom above top")
    count = int(np.floor((top - bottom) / step + 1e-9)) + 1
    return tuple(float(top - i * step) for i in range(count))


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step's measurements: the group's tokens/s and power, mean and standard deviation
    over the measuring window's readings."""

    setting: float
    tokens_per_s: float
    tokens_per_s_sd: float
    power_w: float
    power_w_sd: float
    readings: int

    @property
    def tokens_per_j(self) -> float:
        return self.tokens_per_s / self.power_w if self.power_w > 0 else 0.0

    @property
    def tokens_per_j_sd(self) -> float:
        """The spread of tokens per joule, the two relative spreads added in quadrature."""
        if self.tokens_per_s <= 0 or self.power_w <= 0:
            return 0.0
        relative = np.hypot(self.tokens_per_s_sd / self.tokens_per_s,
                            self.power_w_sd / self.power_w)  # fmt: skip
        return float(self.tokens_per_j * relative)


@dataclass(frozen=True, slots=True)
class Apply:
    """Set the lever of every GPU of the group to ``setting`` (W or MHz)."""

    lever: Lever
    setting: float


@dataclass(frozen=True, slots=True)
class Restore:
    """Put the group back as it was before the sweep (``Previous``)."""


@dataclass(frozen=True, slots=True)
class Previous:
    """The group's settings before the sweep, what cancel and the end restore: each GPU's power
    limit, keyed by GPU name (``gpu_name``). A clock sweep ends with the clocks unlocked: a
    GPU's lock cannot be read back (NVML reports the clock it runs at, not the lock), so a
    group is swept by its clock only when none of it is locked."""

    limits_w: dict[str, float]


Action = Apply | Restore


@dataclass(slots=True)
class Sweep:
    """One group's sweep. ``start`` asks for the first step; each ``observe`` may ask for the
    next, or to restore when the sweep is over; ``cancel`` at any step asks to restore."""

    group: str
    gpu_count: int
    lever: Lever
    levels: tuple[float, ...]
    previous: Previous
    settings: SweepSettings = field(default_factory=SweepSettings)
    phase: Phase = "applying"
    step: int = 0
    results: list[StepResult] = field(default_factory=list)
    _since_s: float = 0.0
    _tokens: list[float] = field(default_factory=list)
    _power: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError(f"sweep of {self.group}: no lever settings to step through")

    def start(self) -> Apply:
        return Apply(self.lever, self.levels[0])

    @property
    def setting(self) -> float:
        return self.levels[self.step]

    def step_applied(self, now_s: float) -> None:
        """The step asked for took (read back): its warm-up starts now."""
        if self.phase == "applying":
            self.phase, self._since_s = "warming", now_s

    def observe(self, now_s: float, tokens_per_s: float, power_w: float) -> Action | None:
        """The group's readings at ``now_s``; what to do next, if anything. Readings that are
        not finite (a rack not heard yet) are skipped."""
        if self.phase == "warming" and now_s - self._since_s >= self.settings.warmup_s:
            self.phase, self._since_s = "measuring", now_s
        if self.phase != "measuring":
            return None
        if np.isfinite(tokens_per_s) and np.isfinite(power_w):
            self._tokens.append(tokens_per_s)
            self._power.append(power_w)
        if now_s - self._since_s < self.settings.measure_s or not self._tokens:
            return None
        self.results.append(_summary(self.setting, self._tokens, self._power))
        self._tokens, self._power = [], []
        if self.step + 1 >= len(self.levels) or self._stopped_early():
            self.phase = "done"
            return Restore()
        self.step += 1
        self.phase = "applying"
        return Apply(self.lever, self.setting)

    def cancel(self) -> Restore:
        self.phase = "cancelled"
        return Restore()

    def _stopped_early(self) -> bool:
        if not self.settings.early_stop or len(self.results) < 3:
            return False
        floor = self.floor_tokens_per_s
        return all(r.tokens_per_s < floor for r in self.results[-2:])

    @property
    def floor_tokens_per_s(self) -> float:
        """The throughput floor: a share of the first (unconstrained) step's tokens/s."""
        if not self.results:
            return float("nan")
        return self.settings.floor_fraction * self.results[0].tokens_per_s

    def recommendation(self) -> StepResult | None:
        """The measured step with the best tokens per joule whose tokens/s is at or above the
        floor; None before the first step is measured."""
        floor = self.floor_tokens_per_s
        eligible = [r for r in self.results if r.tokens_per_s >= floor]
        return max(eligible, key=lambda r: r.tokens_per_j, default=None)

    def curve(self) -> PowerCurve:
        """What was measured, as the grid planner's curve. A power-limit sweep's points are its
        limits; a clock sweep's are the per-GPU power each clock held the group to (a clock
        lock is a power limit the work cannot exceed), points that did not lower the power
        left out so the limits ascend."""
        if not self.results:
            raise ValueError(f"sweep of {self.group}: nothing measured yet")
        points = sorted(self.results, key=lambda r: r.setting)
        if self.lever == "sm_clock":
            kept: list[StepResult] = []
            for r in points:
                per_gpu_w = r.power_w / self.gpu_count
                if not kept or per_gpu_w > kept[-1].power_w / self.gpu_count:
                    kept.append(r)
            points = kept
            limits = [r.power_w / self.gpu_count for r in points]
        else:
            limits = [r.setting for r in points]
        return PowerCurve(self.group, self.gpu_count, np.array(limits),
                          np.array([r.power_w for r in points]),
                          np.array([r.tokens_per_s for r in points]))  # fmt: skip


def _summary(setting: float, tokens: list[float], power: list[float]) -> StepResult:
    t, p = np.asarray(tokens), np.asarray(power)
    return StepResult(setting, float(t.mean()), float(t.std()), float(p.mean()), float(p.std()),
                      len(t))  # fmt: skip
