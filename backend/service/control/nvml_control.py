"""GPU control through NVML on the service's own host: power limits and locked SM clocks.

Every call runs on the NVML source's worker thread, as its polls do (``NvmlSource.on_gpu``), so
a driver call that hangs never blocks the service: it fails as ``unconfirmed`` (the outcome is
unknown) instead. Each change is read back (the enforced power limit, the SM clock) and the
read-back is what is returned. Values outside what the GPU allows are refused here, before
anything is sent, with the range in the reason; the driver's own refusals become
``ControlFailure`` kinds in words an operator can act on (``failure``).

Only the GPUs of the source's own host are reached; other hosts' GPUs go through their node
agents. Beyond ``GpuControl``, NVML's workload power profiles (``nvml_profiles``) can be read,
requested and withdrawn, with the same discipline, where the driver offers them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pynvml

from factoryfloor.backend.service.control.executors import ControlFailure, ValueRange
from factoryfloor.backend.service.control.nvml_profiles import (
    PowerProfiles,
    change_profiles,
    profile_ids,
    read_profiles,
)
from factoryfloor.backend.service.control.ranges import out_of_range, refuse_outside
from factoryfloor.backend.telemetry.placement import HostGpu
from factoryfloor.backend.telemetry.sources.hang_safe import DriverHungError
from factoryfloor.backend.telemetry.sources.nvml_fields import GPU_GONE_ERRORS
from factoryfloor.backend.telemetry.sources.nvml_source import (
    GpuUnreachable,
    NvmlSource,
    PowerLimitError,
)

T = TypeVar("T")

NEEDS_ROOT = "needs root (Administrator on Windows)"


def failure(error: BaseException | None, allowed: str = "") -> ControlFailure:
    """What an NVML error (or an unreachable or hung GPU) means for a change; ``allowed`` is the
    range in words (``200-700 W``), named when the value was out of it."""
    if isinstance(error, pynvml.NVMLError_NoPermission):
        return ControlFailure("no_permission", NEEDS_ROOT)
    if isinstance(error, pynvml.NVMLError_NotSupported | pynvml.NVMLError_FunctionNotFound):
        return ControlFailure("not_supported", "not supported by this GPU or its driver")
    if isinstance(error, pynvml.NVMLError_InvalidArgument):
        return out_of_range(allowed)
    if isinstance(error, GPU_GONE_ERRORS):
        return ControlFailure("gpu_lost", f"GPU lost ({error})")
    if isinstance(error, GpuUnreachable) and error.lost:
        return ControlFailure("gpu_lost", "GPU lost")
    if isinstance(error, DriverHungError):
        return ControlFailure("unconfirmed", f"{error}; whether it took is unknown")
    return ControlFailure("error", str(error))


# -- on the NVML worker ---------------------------------------------------------------------------


def _power_limit(nvml: Any, handle: Any) -> tuple[float, ValueRange]:
    low_mw, high_mw = nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle)
    enforced_mw = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
    return enforced_mw / 1000.0, ValueRange(low_mw / 1000.0, high_mw / 1000.0)


def _clock_range(nvml: Any, handle: Any) -> ValueRange:
    """The lowest and highest SM clock the GPU lists, over all its memory clocks."""
    clocks = [mhz for memory_mhz in nvml.nvmlDeviceGetSupportedMemoryClocks(handle)
              for mhz in nvml.nvmlDeviceGetSupportedGraphicsClocks(handle, memory_mhz)]  # fmt: skip
    if not clocks:
        raise pynvml.NVMLError_NotSupported()
    return ValueRange(float(min(clocks)), float(max(clocks)))


def _sm_clock(nvml: Any, handle: Any) -> float:
    return float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))


def _lock_clocks(nvml: Any, handle: Any, min_mhz: int, max_mhz: int) -> float:
    nvml.nvmlDeviceSetGpuLockedClocks(handle, min_mhz, max_mhz)
    return _sm_clock(nvml, handle)


def _reset_clocks(nvml: Any, handle: Any) -> float:
    nvml.nvmlDeviceResetGpuLockedClocks(handle)
    return _sm_clock(nvml, handle)


# -- the executor ---------------------------------------------------------------------------------


class NvmlGpuControl:
    """``GpuControl`` for the GPUs the NVML source reads (its host only)."""

    def __init__(self, source: NvmlSource) -> None:
        self._source = source

    def reaches(self, gpu: HostGpu) -> bool:
        return gpu.node == self._source.node and 0 <= gpu.index < self._source.gpu_count

    async def power_limit(self, gpu: HostGpu) -> tuple[float, ValueRange]:
        return await self._call(gpu, "read power limit", _power_limit)

    async def set_power_limit(self, gpu: HostGpu, limit_w: float) -> float:
        _, allowed = await self.power_limit(gpu)
        refuse_outside(allowed, limit_w, limit_w, "W")
        try:
            return await self._source.set_power_limit(gpu.index, limit_w)
        except PowerLimitError as error:
            raise failure(error.__cause__, allowed.words("W")) from error

    async def clock_range(self, gpu: HostGpu) -> ValueRange:
        return await self._call(gpu, "read supported clocks", _clock_range)

    async def lock_clocks(self, gpu: HostGpu, min_mhz: float, max_mhz: float) -> float:
        allowed = await self.clock_range(gpu)
        refuse_outside(allowed, min_mhz, max_mhz, "MHz")
        args, words = (round(min_mhz), round(max_mhz)), allowed.words("MHz")
        return await self._call(gpu, "lock SM clock", _lock_clocks, *args, allowed=words)

    async def reset_clocks(self, gpu: HostGpu) -> float:
        return await self._call(gpu, "reset SM clock", _reset_clocks)

    async def power_profiles(self, gpu: HostGpu) -> PowerProfiles:
        """The workload power profiles the GPU offers, and those requested and enforced."""
        return await self._call(gpu, "read power profiles", read_profiles)

    async def change_power_profiles(
        self, gpu: HostGpu, names: tuple[str, ...], withdraw: bool = False
    ) -> PowerProfiles:
        """Request profiles ``names`` (or withdraw them); the profiles read back afterwards.
        Profiles the GPU does not offer are refused before anything is sent."""
        offered = (await self.power_profiles(gpu)).offered
        missing = [name for name in names if name not in offered]
        if missing:
            offers = ", ".join(offered) or "none"
            raise ControlFailure("out_of_range", f"no power profile {missing[0]!r}: this GPU "
                                                 f"offers {offers}")  # fmt: skip
        what = "withdraw power profiles" if withdraw else "request power profiles"
        return await self._call(gpu, what, change_profiles, profile_ids(names), withdraw)

    async def _call(
        self, gpu: HostGpu, what: str, call: Callable[..., T], *args: Any, allowed: str = ""
    ) -> T:
        if gpu.node != self._source.node:
            raise ControlFailure("error", f"{gpu.node} is not this host ({self._source.node})")
        try:
            return await self._source.on_gpu(gpu.index, f"{what} of GPU {gpu.index}", call, *args)
        except (pynvml.NVMLError, DriverHungError, GpuUnreachable) as error:
            raise failure(error, allowed) from error
