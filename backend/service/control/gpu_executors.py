"""Which executors carry GPU commands in a running service: NVML for the GPUs of the service's
own host, the simulator for its simulated GPUs. GPUs of other hosts are reached by neither (a
node agent will carry the same commands to its host), and the control desk says so."""

from __future__ import annotations

from collections.abc import Sequence

from factoryfloor.backend.service.control.executors import GpuControl
from factoryfloor.backend.service.control.nvml_control import NvmlGpuControl
from factoryfloor.backend.service.control.sim_gpu_control import SimulatedGpuControl
from factoryfloor.backend.telemetry.runner import Source
from factoryfloor.backend.telemetry.sources.nvml_source import NvmlSource
from factoryfloor.backend.telemetry.sources.simulator import SimulatorSource


def gpu_controls(sources: Sequence[Source]) -> list[GpuControl]:
    """An executor for each GPU source among the service's ``sources``, in their order."""
    controls: list[GpuControl] = []
    for source in sources:
        if isinstance(source, NvmlSource):
            controls.append(NvmlGpuControl(source))
        elif isinstance(source, SimulatorSource):
            controls.append(SimulatedGpuControl(source.simulator))
    return controls
