"""GPU control through NVML, against the recorded H100 with the library's own errors: changes
are read back, out-of-range values are refused before anything is sent, and every refusal the
driver gives becomes a failure kind with words an operator can act on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pynvml
import pytest

from factoryfloor.backend.service.control.executors import ControlFailure, ValueRange
from factoryfloor.backend.service.control.nvml_control import NEEDS_ROOT, NvmlGpuControl
from factoryfloor.backend.service.control.nvml_profiles import (
    PowerProfiles,
    mask_of,
    names_in,
    profile_ids,
)
from factoryfloor.backend.telemetry.placement import HostGpu
from factoryfloor.backend.telemetry.sink import RecordingSink
from factoryfloor.backend.telemetry.sources.nvml_source import NvmlSource
from factoryfloor.backend.telemetry.sources.nvml_trace import (
    NvmlTraceReplay,
    TraceClock,
    load_trace,
)

TRACE = load_trace(Path(__file__).resolve().parents[1] / "resources" / "h100_nvml_trace.json")
NODE = "gpu-host-1"
GPU0, GPU1 = HostGpu(NODE, 0), HostGpu(NODE, 1)
MATMUL_S = 14.3
"""Seconds into the trace where the H100 runs its matmul, power-capped at 1,425 MHz."""


class CountingChanges(NvmlTraceReplay):
    """The replay, counting the changes that reach the driver."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.changes = 0

    def nvmlDeviceSetPowerManagementLimit(self, handle: Any, limit: int) -> None:
        self.changes += 1
        super().nvmlDeviceSetPowerManagementLimit(handle, limit)

    def nvmlDeviceSetGpuLockedClocks(self, handle: Any, low: int, high: int) -> None:
        self.changes += 1
        super().nvmlDeviceSetGpuLockedClocks(handle, low, high)


@asynccontextmanager
async def control(
    gpu_count: int = 2, cls: type[CountingChanges] = CountingChanges, call_timeout_s: float = 5.0
) -> AsyncIterator[tuple[NvmlGpuControl, Any]]:
    """A running NVML source on the replayed H100s, and the executor over it."""
    nvml = cls(TRACE, gpu_count=gpu_count, clock=TraceClock(MATMUL_S))
    sink = RecordingSink()
    source = NvmlSource(
        sink, node=NODE, fast_hz=50, slow_hz=5, call_timeout_s=call_timeout_s, nvml=nvml
    )
    task = asyncio.create_task(source.run())
    try:
        async with asyncio.timeout(10):
            while source.gpu_count < gpu_count or not sink.readings:
                await asyncio.sleep(0.002)
        yield NvmlGpuControl(source), nvml
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def failure_of(call: Any) -> ControlFailure:
    with pytest.raises(ControlFailure) as failed:
        await call
    return failed.value


@pytest.mark.asyncio
async def test_a_power_limit_is_set_and_the_enforced_limit_read_back() -> None:
    async with control() as (gpus, _):
        assert await gpus.power_limit(GPU1) == (700.0, ValueRange(200.0, 700.0))
        assert await gpus.set_power_limit(GPU1, 450.0) == 450.0
        assert await gpus.power_limit(GPU1) == (450.0, ValueRange(200.0, 700.0))
        assert (await gpus.power_limit(GPU0))[0] == 700.0  # the other GPU is untouched


@pytest.mark.asyncio
@pytest.mark.parametrize(("limit_w"), [150.0, 900.0, float("nan")])
async def test_a_limit_out_of_range_is_refused_with_the_range_and_never_sent(limit_w) -> None:
    async with control() as (gpus, nvml):
        failed = await failure_of(gpus.set_power_limit(GPU0, limit_w))
        assert (failed.kind, failed.reason) == (
            "out_of_range",
            "out of range: this GPU allows 200-700 W",
        )
        assert nvml.changes == 0
        assert (await gpus.power_limit(GPU0))[0] == 700.0


@pytest.mark.asyncio
async def test_clocks_lock_within_the_supported_range_and_reset() -> None:
    async with control() as (gpus, nvml):
        assert await gpus.clock_range(GPU0) == ValueRange(345.0, 1980.0)
        assert await gpus.lock_clocks(GPU0, 1200.0, 1200.0) == 1200.0
        assert await gpus.lock_clocks(GPU0, 900.0, 1410.0) == 1410.0
        assert await gpus.reset_clocks(GPU0) == 1425.0  # as recorded
        for low, high in [(200.0, 1000.0), (1000.0, 2100.0)]:
            failed = await failure_of(gpus.lock_clocks(GPU0, low, high))
            assert (failed.kind, failed.reason) == (
                "out_of_range", "out of range: this GPU allows 345-1980 MHz")  # fmt: skip
        failed = await failure_of(gpus.lock_clocks(GPU0, 1500.0, 1000.0))
        assert failed.kind == "out_of_range" and "lowest value above highest" in failed.reason
        assert nvml.changes == 2


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (pynvml.NVMLError_NoPermission, "no_permission", "needs root (Administrator on Windows)"),
        (pynvml.NVMLError_NotSupported, "not_supported", "not supported by this GPU or its driver"),
        (pynvml.NVMLError_Unknown, "gpu_lost", "GPU lost (Unknown Error)"),
        (pynvml.NVMLError_InsufficientPower, "error", "Insufficient External Power"),
    ],
    ids=["not-root", "not-supported", "unknown", "other"],
)
async def test_a_gpu_that_refuses_every_change_says_why(
    error: type, kind: str, reason: str
) -> None:
    async with control() as (gpus, nvml):
        nvml.refuse_control(1, error)
        for change in (gpus.set_power_limit(GPU1, 500.0), gpus.lock_clocks(GPU1, 1000.0, 1000.0),
                       gpus.reset_clocks(GPU1)):  # fmt: skip
            failed = await failure_of(change)
            assert (failed.kind, failed.reason) == (kind, reason)
        assert await gpus.set_power_limit(GPU0, 500.0) == 500.0  # GPU 0 still obeys


@pytest.mark.asyncio
async def test_the_driver_s_own_range_refusal_names_the_range() -> None:
    """A driver that refuses a value inside the constraints it reported (a limit it cannot hold,
    a clock it will not lock) is out of range all the same, and says which range it gave."""

    async with control(cls=Stricter) as (gpus, _):
        failed = await failure_of(gpus.set_power_limit(GPU0, 400.0))
    assert (failed.kind, failed.reason) == (
        "out_of_range",
        "out of range: this GPU allows 200-700 W",
    )


class Stricter(CountingChanges):
    def nvmlDeviceSetPowerManagementLimit(self, handle: Any, limit: int) -> None:
        raise pynvml.NVMLError_InvalidArgument()


class HangingLock(CountingChanges):
    """Locking clocks blocks in the driver until ``release`` is set."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.release = threading.Event()

    def nvmlDeviceSetGpuLockedClocks(self, handle: Any, low: int, high: int) -> None:
        self.release.wait(10)  # bounded: a failing test must not leave it stuck
        super().nvmlDeviceSetGpuLockedClocks(handle, low, high)


@pytest.mark.asyncio
async def test_a_change_stuck_in_the_driver_is_unconfirmed_not_waited_for() -> None:
    async with control(cls=HangingLock, call_timeout_s=0.2) as (gpus, nvml):
        try:
            failed = await failure_of(gpus.lock_clocks(GPU0, 1000.0, 1000.0))
        finally:
            nvml.release.set()
    assert failed.kind == "unconfirmed" and failed.reason.endswith("whether it took is unknown")


@pytest.mark.asyncio
async def test_a_lost_gpu_fails_every_call_as_lost_and_the_others_still_answer() -> None:
    async with control() as (gpus, nvml):
        nvml.lose(0)
        for call in (gpus.power_limit(GPU0), gpus.set_power_limit(GPU0, 500.0),
                     gpus.clock_range(GPU0), gpus.lock_clocks(GPU0, 900.0, 900.0),
                     gpus.reset_clocks(GPU0)):  # fmt: skip
            failed = await failure_of(call)
            assert failed.kind == "gpu_lost" and failed.reason.startswith("GPU lost")
        assert await gpus.lock_clocks(GPU1, 900.0, 900.0) == 900.0


@pytest.mark.asyncio
async def test_only_this_host_s_gpus_are_reached() -> None:
    async with control(gpu_count=2) as (gpus, _):
        assert gpus.reaches(GPU0) and gpus.reaches(GPU1)
        assert not gpus.reaches(HostGpu(NODE, 2))
        assert not gpus.reaches(HostGpu("other-host", 0))
        failed = await failure_of(gpus.set_power_limit(HostGpu("other-host", 0), 500.0))
        assert failed.kind == "error" and "not this host" in failed.reason


# -- workload power profiles ----------------------------------------------------------------------


def test_profile_names_and_nvml_masks_convert_both_ways() -> None:
    names = ("max_p", "memory_bound", "llm_inference", "profile 200")
    mask = mask_of(profile_ids(names))
    assert list(mask.mask)[:2] == [1 << 0 | 1 << 3 | 1 << 6, 0] and mask.mask[6] == 1 << 8
    assert names_in(mask) == names
    with pytest.raises(ValueError, match="unknown power profile 'turbo'"):
        profile_ids(["turbo"])


class Profiled(CountingChanges):
    """A GPU whose driver offers four workload power profiles and enforces what is requested,
    except ``max_q`` while ``max_p`` is (they conflict)."""

    OFFERED = (0, 1, 3, 6)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.requested: set[int] = set()

    def nvmlDeviceWorkloadPowerProfileGetProfilesInfo(self, handle: Any, info: Any) -> None:
        self._device(handle)
        info._obj.perfProfilesMask = mask_of(self.OFFERED)

    def nvmlDeviceWorkloadPowerProfileGetCurrentProfiles(self, handle: Any, current: Any) -> None:
        self._device(handle)
        enforced = self.requested - ({1} if 0 in self.requested else set())
        current._obj.requestedProfilesMask = mask_of(self.requested)
        current._obj.enforcedProfilesMask = mask_of(enforced)

    def nvmlDeviceWorkloadPowerProfileSetRequestedProfiles(self, handle: Any, asked: Any) -> None:
        self._change(handle)
        self.requested |= set(profile_ids(names_in(asked._obj.requestedProfilesMask)))

    def nvmlDeviceWorkloadPowerProfileClearRequestedProfiles(self, handle: Any, asked: Any) -> None:
        self._change(handle)
        self.requested -= set(profile_ids(names_in(asked._obj.requestedProfilesMask)))


@pytest.mark.asyncio
async def test_power_profiles_are_requested_read_back_and_withdrawn() -> None:
    async with control(cls=Profiled) as (gpus, _):
        offered = ("max_p", "max_q", "memory_bound", "llm_inference")
        assert await gpus.power_profiles(GPU0) == PowerProfiles(offered, (), ())
        both = await gpus.change_power_profiles(GPU0, ("max_p", "max_q"))
        assert (both.requested, both.enforced) == (("max_p", "max_q"), ("max_p",))
        left = await gpus.change_power_profiles(GPU0, ("max_p",), withdraw=True)
        assert (left.requested, left.enforced) == (("max_q",), ("max_q",))
        failed = await failure_of(gpus.change_power_profiles(GPU0, ("max_q", "hpc")))
        offers = ", ".join(offered)
        assert (failed.kind, failed.reason) == (
            "out_of_range", f"no power profile 'hpc': this GPU offers {offers}")  # fmt: skip


@pytest.mark.asyncio
async def test_power_profiles_refused_by_the_recorded_h100_and_without_root() -> None:
    async with control() as (gpus, _):  # the trace did not record any
        assert (await failure_of(gpus.power_profiles(GPU0))).kind == "not_supported"
    async with control(cls=Profiled) as (gpus, nvml):
        nvml.refuse_control(0, pynvml.NVMLError_NoPermission)
        failed = await failure_of(gpus.change_power_profiles(GPU0, ("llm_inference",)))
        assert (failed.kind, failed.reason) == ("no_permission", NEEDS_ROOT)
