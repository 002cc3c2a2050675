"""How a simulated GPU runs under a power limit or a locked SM clock: its clock, power and speed.

A small model, vectorised over every GPU of a hall, with the shape power-capping studies measure
rather than a fit to one of them:

- **Clock and voltage.** ``r`` is the SM clock over the GPU's highest. The voltage follows the
  clock down to a floor (``VOLTAGE_FLOOR_CLOCK_RATIO``) and stays there below it, so the SMs'
  power, proportional to f x V^2, falls as r^3 above that knee and only as r below it.
- **Speed.** A workload spends a share ``c`` of its time (``compute_bound``) limited by the SMs,
  which scales with the clock, and the rest waiting on memory, which does not:
  ``speed(r) = 1 / (c / r + 1 - c)`` (Amdahl over the roofline's two sides). Prefill is
  compute-bound (``COMPUTE_BOUND_PREFILL``), decode memory-bound (``COMPUTE_BOUND_DECODE``).
- **Power.** ``idle + load x (TDP - idle) x [s x sm(r) + (1 - s) x speed(r)]``: a share ``s``
  (``SM_POWER_SHARE``) of the load's power is the SMs', the rest (memory, interconnect) follows
  the bytes moved, i.e. the speed.
- **A locked clock** caps ``r`` at the lock's upper clock. **A power limit** lowers ``r``, by
  bisection, to the highest clock whose power fits (the SW power cap reason, 0x4, is set while
  it bites), never below the GPU's lowest clock; at that clock power is clipped to the limit.
  The limit wins over a lock, as the driver's does. The lock's lower clock is not modelled (a
  busy GPU runs at its upper clock; idle clocks are not simulated).

What follows, and is what the studies report: tokens/s stays nearly flat as the limit comes
down from the maximum (the steep top of the voltage curve buys little speed), then falls about
in proportion below the knee (Zeus, You et al., NSDI 2023, throughput vs power limit; Samsi et
al., arXiv 2310.03003: LLaMA on A100, 250 -> 175 W for 6-7 % more latency; ML.ENERGY
leaderboard, arXiv 2505.06371). Memory-bound decode barely slows when its clock is locked low
while its power falls a lot, so its tokens per joule improve ("The Illusion of Power Capping in
LLM Decode", arXiv 2605.11999: locking SM clocks recovers up to 32 % of decode energy at
minimal throughput loss); a power cap above what decode draws changes nothing. The knee sits
where the recorded H100 held its 700 W limit through a bf16 matmul: about 1,400 of 1,980 MHz.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from factoryfloor.backend.design.model import GpuModel

VOLTAGE_FLOOR_CLOCK_RATIO = 0.7
"""Below this share of the highest clock the voltage stops falling (the knee): about 1,400 of
1,980 MHz, where the recorded H100 held its 700 W limit through a bf16 matmul."""
SM_POWER_SHARE = 0.6
"""Share of a busy GPU's power above idle drawn by the SMs (the rest by memory and links)."""
COMPUTE_BOUND_PREFILL = 0.9
COMPUTE_BOUND_DECODE = 0.25
"""Share of the time a workload is limited by the SMs rather than by memory."""
BISECTION_STEPS = 10
"""Clock search steps under a power limit: 1/1,024 of the clock range, about 1.6 MHz on an H100,
finer than the 15 MHz steps its clocks move in."""

H100_POWER_LIMITS_W = (200.0, 700.0)
H100_SM_CLOCKS_MHZ = (345.0, 1980.0)
"""The recorded H100's ranges, for a catalog model that gives none (power scaled to its TDP)."""


@dataclass(frozen=True, slots=True)
class GpuRanges:
    """A GPU model's power limits (W) and SM clocks (MHz): the catalog's, or the fallback."""

    power_limit_min_w: float
    power_limit_max_w: float
    sm_clock_min_mhz: float
    sm_clock_max_mhz: float


def gpu_ranges(model: GpuModel) -> GpuRanges:
    """What ``model`` allows; missing figures from the H100's, its limits scaled to the TDP."""
    scale = model.gpu_power_w / H100_POWER_LIMITS_W[1]
    return GpuRanges(
        model.power_limit_min_w or H100_POWER_LIMITS_W[0] * scale,
        model.power_limit_max_w or model.gpu_power_w,
        model.sm_clock_min_mhz or H100_SM_CLOCKS_MHZ[0],
        model.sm_clock_max_mhz or H100_SM_CLOCKS_MHZ[1],
    )


def compute_bound(decode_share: np.ndarray) -> np.ndarray:
    """How compute-bound a mix of prefill and decode is (decode share 0-1)."""
    return COMPUTE_BOUND_PREFILL + (COMPUTE_BOUND_DECODE - COMPUTE_BOUND_PREFILL) * decode_share


def speed(clock_ratio: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Throughput at ``clock_ratio`` of the highest clock, relative to it."""
    return 1.0 / (bound / clock_ratio + (1.0 - bound))


def busy_power(clock_ratio: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Power above idle at ``clock_ratio``, relative to the load's power at the highest clock."""
    voltage = np.maximum(clock_ratio, VOLTAGE_FLOOR_CLOCK_RATIO)
    sm = clock_ratio * voltage**2
    return SM_POWER_SHARE * sm + (1.0 - SM_POWER_SHARE) * speed(clock_ratio, bound)


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Per GPU: SM clock over its highest, power (W), speed relative to unconstrained, and
    whether the power limit holds the clock down."""

    clock_ratio: np.ndarray
    power_w: np.ndarray
    speed: np.ndarray
    power_capped: np.ndarray


@dataclass(frozen=True, slots=True)
class GpuDemand:
    """What the GPUs are asked to run, and what holds them: per GPU arrays."""

    idle_w: np.ndarray
    tdp_w: np.ndarray
    load: np.ndarray
    """0-1: the share of the TDP above idle the work draws at the highest clock."""
    bound: np.ndarray
    """``compute_bound`` of the work."""
    limit_w: np.ndarray
    min_ratio: np.ndarray
    """The lowest SM clock over the highest."""
    max_ratio: np.ndarray
    """The locked upper clock over the highest (1 when unlocked)."""

    def power_w(self, clock_ratio: np.ndarray) -> np.ndarray:
        busy_w = self.load * (self.tdp_w - self.idle_w)
        return self.idle_w + busy_w * busy_power(clock_ratio, self.bound)

    def take(self, which: np.ndarray) -> GpuDemand:
        """The demand of the GPUs ``which`` only."""
        return GpuDemand(**{f.name: getattr(self, f.name)[which] for f in fields(self)})


def operating_point(demand: GpuDemand) -> OperatingPoint:
    """Where each GPU runs (see the module doc)."""
    ratio = demand.max_ratio.copy()
    capped = demand.power_w(ratio) > demand.limit_w
    if capped.any():
        (which,) = np.nonzero(capped)
        held = demand.take(which)
        low, high = held.min_ratio, held.max_ratio
        for _ in range(BISECTION_STEPS):
            middle = 0.5 * (low + high)
            fits = held.power_w(middle) <= held.limit_w
            low, high = np.where(fits, middle, low), np.where(fits, high, middle)
        ratio[which] = low
    power_w = np.minimum(demand.power_w(ratio), demand.limit_w)
    return OperatingPoint(ratio, power_w, speed(ratio, demand.bound), capped)
