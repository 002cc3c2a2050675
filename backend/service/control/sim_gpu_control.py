"""GPU control of the simulated facility: the same calls as on real GPUs, obeyed by the simulator.

Ranges come from each GPU's model in the catalog (``gpu_ranges``), values outside them are
refused before anything changes (with the range in the reason, as on NVML), and every change
is read back from the simulator's own state: the limit it now enforces, the SM clock it now
runs at (a capped or locked GPU slows at once, and draws accordingly from its next step).
"""

from __future__ import annotations

import numpy as np

from factoryfloor.backend.service.control.executors import ControlFailure, ValueRange
from factoryfloor.backend.service.control.ranges import refuse_outside
from factoryfloor.backend.telemetry.placement import HostGpu
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator


class SimulatedGpuControl:
    """``GpuControl`` for every GPU of a ``FacilitySimulator``."""

    def __init__(self, simulator: FacilitySimulator) -> None:
        self._sim = simulator

    def reaches(self, gpu: HostGpu) -> bool:
        return self._sim.position(gpu) is not None

    async def power_limit(self, gpu: HostGpu) -> tuple[float, ValueRange]:
        i = self._position(gpu)
        return float(self._sim.power_limit_w[i]), self._limits(i)

    async def set_power_limit(self, gpu: HostGpu, limit_w: float) -> float:
        i = self._position(gpu)
        refuse_outside(self._limits(i), limit_w, limit_w, "W")
        self._sim.set_power_limit(np.array([i]), limit_w)
        return float(self._sim.power_limit_w[i])

    async def clock_range(self, gpu: HostGpu) -> ValueRange:
        return self._clocks(self._position(gpu))

    async def lock_clocks(self, gpu: HostGpu, min_mhz: float, max_mhz: float) -> float:
        i = self._position(gpu)
        refuse_outside(self._clocks(i), min_mhz, max_mhz, "MHz")
        self._sim.lock_clocks(np.array([i]), min_mhz, max_mhz)
        return float(self._sim.sm_clock_mhz[i])

    async def reset_clocks(self, gpu: HostGpu) -> float:
        i = self._position(gpu)
        self._sim.reset_clocks(np.array([i]))
        return float(self._sim.sm_clock_mhz[i])

    def _position(self, gpu: HostGpu) -> int:
        position = self._sim.position(gpu)
        if position is None:
            raise ControlFailure("error", f"{gpu.node} GPU {gpu.index} is not in the simulation")
        return position

    def _limits(self, i: int) -> ValueRange:
        sim = self._sim
        return ValueRange(float(sim.power_limit_min_w[i]), float(sim.power_limit_max_w[i]))

    def _clocks(self, i: int) -> ValueRange:
        sim = self._sim
        return ValueRange(float(sim.sm_clock_min_mhz[i]), float(sim.sm_clock_max_mhz[i]))
