"""Replay of the NVML trace recorded on a real H100, behind pynvml's own function names.

Why it exists: NVML code must be tested where no GPU exists, and the simulator wants GPUs that
behave like a measured one rather than like a formula. ``NvmlTraceReplay`` is a drop-in for the
``pynvml`` module as far as ``NvmlSource`` (and anything written the same way) is concerned: the
same function names and constants, the same ctypes structures where pynvml returns structures,
and the *real* ``pynvml.NVMLError_*`` classes, so ``except pynvml.NVMLError_NotSupported`` works
unchanged against the replay.

How time maps to samples:

- A clock you control gives seconds into the trace (``TraceClock`` for tests and stepping,
  ``wall_clock()`` for live replay, the default). GPU ``i`` reads the trace at
  ``clock() + phase_offsets_s[i]``, so many GPUs can replay the same run out of step.
- **Step, not interpolation**: a reading is the last recorded sample at or before that time.
  NVML itself reports held values that change at its own sample rate, and interpolating would
  invent values the GPU never reported (a clock of 1162.5 MHz, half a clock-event bit, a
  temperature between integer degrees). Times before 0 read the first sample.
- **Looping**: the trace repeats every ``period_s`` (last sample time plus one 4 Hz interval).
  Energy keeps counting across loops: each loop adds the recorded energy span plus the last
  sample's power over the closing interval, so ``energy_j`` never steps backwards.

What the trace did not record:

- Instant power (field ``NVML_FI_DEV_POWER_INSTANT``) is served as the recorded ``power_mw``,
  which is NVML's 1 s average: an H100 does support the field, so reporting it unsupported
  would misdescribe the GPU; the approximation lags load steps by about a second.
- PCIe throughput, clocks other than SM and memory, aggregate ECC counters and any other field
  id have no recorded values and raise (or return) ``NotSupported`` rather than invented values.
- Fan speed and NvLink state raise the error the trace recorded for them (``Not Supported``).
- Workload power profiles were not recorded: their calls raise ``NotSupported``.
- Events: the trace has none. The event calls behave as NVML's do (an event set, GPUs
  registered on it, ``nvmlEventSetWait_v2`` raising ``Timeout`` when nothing is waiting), and a
  test injects an Xid with ``inject_xid``: it reaches every event set its GPU is registered on
  for Xid errors, as the driver's would, and none other.

With ``recorded_costs=True`` each call also takes as long as it took on the real H100
(``call_cost_us``: about 1-7 us for cheap reads, 3 ms for energy, 20 ms for PCIe), so pollers
and benchmarks meet the real cost profile without a GPU. It spins rather than sleeps: a driver
call keeps a core busy, and sleeps are far coarser than microseconds. Unlike the library's
ctypes calls the spin holds the GIL (other threads get it at the interpreter's 5 ms switch
interval); yielding it every turn made calls overshoot their cost severalfold on a busy machine.

The power limit is state: ``nvmlDeviceSetPowerManagementLimit`` checks the recorded constraints
(``InvalidArgument`` outside them, as the real driver does) and later reads return the new value.
It does not cap the replayed power; the recorded run is replayed as it happened. Locked SM
clocks are state too: ``nvmlDeviceSetGpuLockedClocks`` checks the supported clocks
(``InvalidArgument`` outside them or for a minimum above the maximum), and the SM clock read
back is the recorded clock held inside the locked range until ``nvmlDeviceResetGpuLockedClocks``.
The trace did not record the supported clocks: the replay offers the recorded memory clock and
SM clocks from ``MIN_SM_CLOCK_MHZ`` (the lowest the H100 ran at, idle, in the trace) to the
recorded maximum in ``SM_CLOCK_STEP_MHZ`` steps (the recorded clocks' spacing).

Refusals and loss, for tests of control paths: ``refuse_control(index, error)`` makes GPU
``index`` answer every change (limit, clock lock, clock reset) with that pynvml error, as a
non-root user (``NVMLError_NoPermission``) or a GPU without the feature
(``NVMLError_NotSupported``) meets it; ``lose(index)`` makes every call on that GPU, handle
lookups included, raise ``NVMLError_GpuIsLost``, as a GPU fallen off the bus does.
"""

from __future__ import annotations

import bisect
import functools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvml

SAMPLE_INTERVAL_S = 0.25
"""The trace's nominal sample interval (4 Hz); closes the loop from last sample to first."""

MIN_SM_CLOCK_MHZ = 345
"""The lowest SM clock the replay offers to lock: the recorded H100's idle clock."""
SM_CLOCK_STEP_MHZ = 15
"""The spacing of the SM clocks the replay offers: every recorded clock lies on this grid."""


def load_trace(path: str | Path) -> dict[str, Any]:
    """The recorded trace as stored (``static``, ``call_cost_us``, ``series_4hz``, ...)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


class TraceClock:
    """Seconds into the trace, moved only by its owner: tests and steppers set exact times."""

    def __init__(self, t_s: float = 0.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s

    def advance(self, dt_s: float) -> None:
        self.t_s += dt_s


def wall_clock(speed: float = 1.0) -> Callable[[], float]:
    """Seconds since this call, times ``speed``: a live replay that plays in real time."""
    start_s = time.monotonic()
    return lambda: (time.monotonic() - start_s) * speed


@dataclass(frozen=True, slots=True)
class ReplayHandle:
    """What ``nvmlDeviceGetHandleByIndex`` returns: the GPU's index, nothing else needed."""

    index: int


@functools.cache
def _error_codes_by_text() -> dict[str, int]:
    """NVML error text -> code, from pynvml's own classes, to turn recorded errors back into
    the exceptions the library raises."""
    codes = (getattr(pynvml, name) for name in dir(pynvml) if name.startswith("NVML_ERROR_"))
    return {str(pynvml.NVMLError(code)): code for code in codes}


def recorded_error(entry: Mapping[str, str]) -> pynvml.NVMLError:
    """The pynvml exception for a recorded ``{"nvml_error": "Not Supported"}`` entry."""
    code = _error_codes_by_text().get(entry["nvml_error"], pynvml.NVML_ERROR_UNKNOWN)
    return pynvml.NVMLError(code)


_FIELD_COST_LABELS = {
    pynvml.NVML_FI_DEV_MEMORY_TEMP: "MEMORY_TEMP",
    pynvml.NVML_FI_DEV_POWER_INSTANT: "POWER_INSTANT",
    pynvml.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION: "TOTAL_ENERGY",
}
"""How the trace labels field-value call costs; other fields are charged as MEMORY_TEMP."""


def recorded_cost_us(costs_us: Mapping[str, float], name: str, args: Sequence[Any]) -> float:
    """What call ``name(*args)`` cost on the recorded H100. Field values are charged per field
    asked for; other calls recorded for one argument only (``ClockInfo(SM)``) cost that for
    every argument; calls the trace did not time cost nothing extra."""
    if name == "nvmlDeviceGetFieldValues":
        labels = (_FIELD_COST_LABELS.get(field_id, "MEMORY_TEMP") for field_id in args[1])
        return sum(costs_us[f"{name}({label})"] for label in labels)
    return next((cost for label, cost in costs_us.items() if label.split("(")[0] == name), 0.0)


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    """What ``nvmlEventSetWait_v2`` returns: the members of pynvml's ``c_nvmlEventData_t``."""

    device: ReplayHandle
    eventType: int
    eventData: int
    gpuInstanceId: int = 0xFFFFFFFF
    computeInstanceId: int = 0xFFFFFFFF


class ReplayEventSet:
    """An event set: the event types each GPU is registered for, and the events waiting."""

    def __init__(self) -> None:
        self.registered: dict[int, int] = {}
        self.waiting: list[ReplayEvent] = []
        self.ready = threading.Condition()


def _spin(until_s: float) -> None:
    while time.perf_counter() < until_s:
        pass


def _unique_uuid(recorded: str, index: int) -> str:
    """GPU 0 keeps the recorded UUID; the others get its last group replaced by their index."""
    return recorded if index == 0 else f"{recorded.rsplit('-', 1)[0]}-{index:012x}"


class NvmlTraceReplay:
    """The recorded H100, ``gpu_count`` times, answering pynvml calls (see the module doc)."""

    NVML_SUCCESS = pynvml.NVML_SUCCESS
    NVML_ERROR_NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_TEMPERATURE_THRESHOLD_SHUTDOWN = pynvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN
    NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
    NVML_CLOCK_SM = pynvml.NVML_CLOCK_SM
    NVML_CLOCK_MEM = pynvml.NVML_CLOCK_MEM
    NVML_FI_DEV_MEMORY_TEMP = pynvml.NVML_FI_DEV_MEMORY_TEMP
    NVML_FI_DEV_POWER_INSTANT = pynvml.NVML_FI_DEV_POWER_INSTANT
    NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION = pynvml.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION
    NVML_MEMORY_ERROR_TYPE_CORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
    NVML_VOLATILE_ECC = pynvml.NVML_VOLATILE_ECC
    NVML_PCIE_UTIL_TX_BYTES = pynvml.NVML_PCIE_UTIL_TX_BYTES
    NVML_PCIE_UTIL_RX_BYTES = pynvml.NVML_PCIE_UTIL_RX_BYTES

    def __init__(
        self,
        trace: Mapping[str, Any],
        gpu_count: int = 1,
        phase_offsets_s: Sequence[float] | None = None,
        clock: Callable[[], float] | None = None,
        recorded_costs: bool = False,
    ) -> None:
        offsets_s = [0.0] * gpu_count if phase_offsets_s is None else list(phase_offsets_s)
        if len(offsets_s) != gpu_count:
            raise ValueError(f"{len(offsets_s)} phase offsets for {gpu_count} GPUs")
        self.static: Mapping[str, Any] = trace["static"]
        self._series: Sequence[Mapping[str, Any]] = trace["series_4hz"]
        self._times_s = [row["t"] for row in self._series]
        self.period_s = self._times_s[-1] + SAMPLE_INTERVAL_S
        first, last = self._series[0], self._series[-1]
        self._energy_per_loop_mj = (
            last["energy_mj"] - first["energy_mj"] + last["power_mw"] * SAMPLE_INTERVAL_S
        )
        self.gpu_count = gpu_count
        self.phase_offsets_s = offsets_s
        self.clock = clock if clock is not None else wall_clock()
        self._limits_mw = [int(self.static["power_limit_mw"])] * gpu_count
        self._locked_mhz: list[tuple[int, int] | None] = [None] * gpu_count
        self._refusals: dict[int, type[pynvml.NVMLError]] = {}
        self._lost: set[int] = set()
        self._event_sets: list[ReplayEventSet] = []
        self._init_count = 0
        if recorded_costs:
            self._charge_recorded_costs(trace["call_cost_us"])

    def _charge_recorded_costs(self, costs_us: Mapping[str, float]) -> None:
        """Wrap each timed call the replay has so it lasts its recorded cost (its own work
        included); timed calls it does not offer (running processes) stay absent."""
        for name in {label.split("(")[0] for label in costs_us} & set(dir(self)):
            setattr(self, name, self._costed(costs_us, name, getattr(self, name)))

    @staticmethod
    def _costed(
        costs_us: Mapping[str, float], name: str, call: Callable[..., Any]
    ) -> Callable[..., Any]:
        def costed(*args: Any) -> Any:
            until_s = time.perf_counter() + recorded_cost_us(costs_us, name, args) / 1e6
            try:
                return call(*args)
            finally:
                _spin(until_s)

        return costed

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> NvmlTraceReplay:
        return cls(load_trace(path), **options)

    # -- where each GPU is in the trace ---------------------------------------------------------

    def trace_time_s(self, index: int) -> float:
        """Seconds into the (unlooped) trace that GPU ``index`` reads now, never negative."""
        return max(self.clock() + self.phase_offsets_s[index], 0.0)

    def _row(self, handle: ReplayHandle) -> Mapping[str, Any]:
        """The recorded sample GPU ``handle`` reports now (step: last sample at or before)."""
        self._device(handle)
        in_loop_s = self.trace_time_s(handle.index) % self.period_s
        return self._series[bisect.bisect_right(self._times_s, in_loop_s) - 1]

    def _energy_mj(self, handle: ReplayHandle) -> int:
        loops = int(self.trace_time_s(handle.index) // self.period_s)
        return int(self._row(handle)["energy_mj"] + loops * self._energy_per_loop_mj)

    def _static(self) -> Mapping[str, Any]:
        """The recorded static values, once initialised (NVML answers nothing before init)."""
        if self._init_count == 0:
            raise pynvml.NVMLError_Uninitialized()
        return self.static

    def _device(self, handle: ReplayHandle) -> Mapping[str, Any]:
        """The recorded static values, for a GPU still on the bus."""
        static = self._static()
        if handle.index in self._lost:
            raise pynvml.NVMLError_GpuIsLost()
        return static

    def _change(self, handle: ReplayHandle) -> Mapping[str, Any]:
        """The recorded static values, for a change GPU ``handle`` accepts (else its refusal)."""
        static = self._device(handle)
        refusal = self._refusals.get(handle.index)
        if refusal is not None:
            raise refusal()
        return static

    # -- what tests make of a GPU ---------------------------------------------------------------

    def refuse_control(self, index: int, error: type[pynvml.NVMLError]) -> None:
        """GPU ``index`` answers every change with ``error`` (see the module doc)."""
        self._refusals[index] = error

    def lose(self, index: int) -> None:
        """GPU ``index`` falls off the bus: every call on it raises ``GpuIsLost``."""
        self._lost.add(index)

    # -- system ---------------------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self._init_count += 1

    def nvmlShutdown(self) -> None:
        if self._init_count == 0:
            raise pynvml.NVMLError_Uninitialized()
        self._init_count -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return str(self._static()["driver"])

    def nvmlSystemGetNVMLVersion(self) -> str:
        return str(self._static()["nvml_version"])

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return int(self._static()["cuda_driver_version"])

    def nvmlDeviceGetCount(self) -> int:
        self._static()
        return self.gpu_count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> ReplayHandle:
        self._static()
        if not 0 <= index < self.gpu_count:
            raise pynvml.NVMLError_InvalidArgument()
        self._device(ReplayHandle(index))
        return ReplayHandle(index)

    # -- identity and limits (static part of the trace) -----------------------------------------

    def nvmlDeviceGetName(self, handle: ReplayHandle) -> str:
        return str(self._device(handle)["name"])

    def nvmlDeviceGetUUID(self, handle: ReplayHandle) -> str:
        return _unique_uuid(str(self._device(handle)["uuid"]), handle.index)

    def nvmlDeviceGetMaxClockInfo(self, handle: ReplayHandle, clock_type: int) -> int:
        names = {self.NVML_CLOCK_SM: "max_clock_sm_mhz", self.NVML_CLOCK_MEM: "max_clock_mem_mhz"}
        return int(self._recorded(self._device(handle), names.get(clock_type)))

    def nvmlDeviceGetTemperatureThreshold(self, handle: ReplayHandle, threshold: int) -> int:
        names = {
            self.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN: "temp_slowdown_c",
            self.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN: "temp_shutdown_c",
        }
        return int(self._recorded(self._device(handle), names.get(threshold)))

    def nvmlDeviceGetFanSpeed(self, handle: ReplayHandle) -> int:
        raise recorded_error(self._device(handle)["fan_speed"])

    def nvmlDeviceGetNvLinkState(self, handle: ReplayHandle, link: int) -> int:
        raise recorded_error(self._device(handle)["nvlink_state_0"])

    def nvmlDeviceGetPowerManagementLimit(self, handle: ReplayHandle) -> int:
        self._device(handle)
        return self._limits_mw[handle.index]

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: ReplayHandle) -> int:
        return self.nvmlDeviceGetPowerManagementLimit(handle)

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: ReplayHandle) -> int:
        return int(self._device(handle)["power_default_limit_mw"])

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: ReplayHandle) -> list[int]:
        return [int(mw) for mw in self._device(handle)["power_limit_constraints_mw"]]

    def nvmlDeviceSetPowerManagementLimit(self, handle: ReplayHandle, limit: int) -> None:
        """As measured as root: accepted within the constraints, ``InvalidArgument`` outside."""
        self._change(handle)
        low_mw, high_mw = self.nvmlDeviceGetPowerManagementLimitConstraints(handle)
        if not low_mw <= limit <= high_mw:
            raise pynvml.NVMLError_InvalidArgument()
        self._limits_mw[handle.index] = int(limit)

    # -- clocks ---------------------------------------------------------------------------------

    def nvmlDeviceGetSupportedMemoryClocks(self, handle: ReplayHandle) -> list[int]:
        return [int(self._device(handle)["max_clock_mem_mhz"])]

    def nvmlDeviceGetSupportedGraphicsClocks(
        self, handle: ReplayHandle, memoryClockMHz: int
    ) -> list[int]:
        """Highest first, as NVML lists them (see the module doc: assumed, not recorded)."""
        static = self._device(handle)
        if memoryClockMHz != int(static["max_clock_mem_mhz"]):
            raise pynvml.NVMLError_InvalidArgument()
        top = int(static["max_clock_sm_mhz"])
        return list(range(top, MIN_SM_CLOCK_MHZ - 1, -SM_CLOCK_STEP_MHZ))

    def nvmlDeviceSetGpuLockedClocks(
        self, handle: ReplayHandle, minGpuClockMHz: int, maxGpuClockMHz: int
    ) -> None:
        self._change(handle)
        top = int(self._device(handle)["max_clock_sm_mhz"])
        if not MIN_SM_CLOCK_MHZ <= minGpuClockMHz <= maxGpuClockMHz <= top:
            raise pynvml.NVMLError_InvalidArgument()
        self._locked_mhz[handle.index] = (int(minGpuClockMHz), int(maxGpuClockMHz))

    def nvmlDeviceResetGpuLockedClocks(self, handle: ReplayHandle) -> None:
        self._change(handle)
        self._locked_mhz[handle.index] = None

    # -- workload power profiles ------------------------------------------------------------------

    def nvmlDeviceWorkloadPowerProfileGetProfilesInfo(
        self, handle: ReplayHandle, info: Any
    ) -> None:
        self._device(handle)
        raise pynvml.NVMLError_NotSupported()  # not recorded: see the module doc

    def nvmlDeviceWorkloadPowerProfileGetCurrentProfiles(
        self, handle: ReplayHandle, current: Any
    ) -> None:
        self._device(handle)
        raise pynvml.NVMLError_NotSupported()  # not recorded: see the module doc

    def nvmlDeviceWorkloadPowerProfileSetRequestedProfiles(
        self, handle: ReplayHandle, requested: Any
    ) -> None:
        self._change(handle)
        raise pynvml.NVMLError_NotSupported()  # not recorded: see the module doc

    def nvmlDeviceWorkloadPowerProfileClearRequestedProfiles(
        self, handle: ReplayHandle, requested: Any
    ) -> None:
        self._change(handle)
        raise pynvml.NVMLError_NotSupported()  # not recorded: see the module doc

    # -- the recorded series ----------------------------------------------------------------------

    def nvmlDeviceGetUtilizationRates(self, handle: ReplayHandle) -> pynvml.c_nvmlUtilization_t:
        row = self._row(handle)
        return pynvml.c_nvmlUtilization_t(gpu=row["gpu_util_pct"], memory=row["mem_util_pct"])

    def nvmlDeviceGetMemoryInfo(
        self, handle: ReplayHandle, version: int | None = None
    ) -> pynvml.c_nvmlMemory_t:
        used = int(self._row(handle)["mem_used_bytes"])
        total = int(self.static["memory_total_bytes"])
        return pynvml.c_nvmlMemory_t(total=total, free=total - used, used=used)

    def nvmlDeviceGetTemperature(self, handle: ReplayHandle, sensor: int) -> int:
        if sensor != self.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError_InvalidArgument()
        return int(self._row(handle)["temp_gpu_c"])

    def nvmlDeviceGetPowerUsage(self, handle: ReplayHandle) -> int:
        return int(self._row(handle)["power_mw"])

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: ReplayHandle) -> int:
        return self._energy_mj(handle)

    def nvmlDeviceGetClockInfo(self, handle: ReplayHandle, clock_type: int) -> int:
        """The recorded clock; the SM clock held inside its locked range, if locked."""
        names = {self.NVML_CLOCK_SM: "clock_sm_mhz", self.NVML_CLOCK_MEM: "clock_mem_mhz"}
        mhz = int(self._recorded(self._row(handle), names.get(clock_type)))
        locked = self._locked_mhz[handle.index]
        if clock_type == self.NVML_CLOCK_SM and locked is not None:
            return min(max(mhz, locked[0]), locked[1])
        return mhz

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: ReplayHandle) -> int:
        return int(self._row(handle)["clocks_event_reasons"])

    def nvmlDeviceGetPerformanceState(self, handle: ReplayHandle) -> int:
        return int(self._row(handle)["pstate"])

    def nvmlDeviceGetTotalEccErrors(
        self, handle: ReplayHandle, error_type: int, counter_type: int
    ) -> int:
        """The recorded volatile total, whichever error type is asked (the trace does not say
        which it counted, and it is 0 throughout); aggregate counters were not recorded."""
        column = "ecc_vol_total" if counter_type == self.NVML_VOLATILE_ECC else None
        return int(self._recorded(self._row(handle), column))

    def nvmlDeviceGetPcieThroughput(self, handle: ReplayHandle, counter: int) -> int:
        self._row(handle)
        raise pynvml.NVMLError_NotSupported()  # not recorded: see the module doc

    def nvmlDeviceGetFieldValues(
        self, handle: ReplayHandle, fieldIds: Iterable[int | tuple[int, int]]
    ) -> Any:
        """A ctypes array of ``c_nvmlFieldValue_t``, like pynvml's: the call succeeds and each
        entry carries its own ``nvmlReturn``, NotSupported for fields the trace has no value of."""
        self._device(handle)
        ids = list(fieldIds)
        entries = (pynvml.c_nvmlFieldValue_t * len(ids))()
        now_us = int(time.time() * 1e6)
        for entry, field_id in zip(entries, ids, strict=True):
            entry.fieldId = field_id if isinstance(field_id, int) else field_id[0]
            entry.timestamp = now_us
            self._fill_field(handle, entry)
        return entries

    def _fill_field(self, handle: ReplayHandle, entry: pynvml.c_nvmlFieldValue_t) -> None:
        if entry.fieldId == self.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION:
            entry.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
            entry.value.ullVal = self._energy_mj(handle)
            return
        column = {
            self.NVML_FI_DEV_MEMORY_TEMP: "temp_mem_c",
            self.NVML_FI_DEV_POWER_INSTANT: "power_mw",
        }.get(entry.fieldId)
        if column is None:
            entry.nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
            return
        entry.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
        entry.value.uiVal = int(self._row(handle)[column])

    # -- events -----------------------------------------------------------------------------------

    def nvmlEventSetCreate(self) -> ReplayEventSet:
        self._static()
        event_set = ReplayEventSet()
        self._event_sets.append(event_set)
        return event_set

    def nvmlDeviceRegisterEvents(
        self, handle: ReplayHandle, eventTypes: int, eventSet: ReplayEventSet
    ) -> None:
        self._static()
        with eventSet.ready:
            eventSet.registered[handle.index] = eventSet.registered.get(handle.index, 0) | int(
                eventTypes
            )

    def nvmlEventSetWait_v2(self, eventSet: ReplayEventSet, timeoutms: int) -> ReplayEvent:
        """The oldest event waiting; waits up to ``timeoutms`` for one, then raises Timeout."""
        self._static()
        with eventSet.ready:
            if not eventSet.waiting and (
                timeoutms <= 0
                or not eventSet.ready.wait_for(lambda: eventSet.waiting, timeoutms / 1000.0)
            ):
                raise pynvml.NVMLError_Timeout()
            return eventSet.waiting.pop(0)

    def nvmlEventSetFree(self, eventSet: ReplayEventSet) -> None:
        self._static()
        self._event_sets.remove(eventSet)

    def nvmlDeviceGetIndex(self, handle: ReplayHandle) -> int:
        self._static()
        return handle.index

    def inject_xid(self, index: int, xid: int) -> int:
        """GPU ``index`` reports Xid ``xid``: queued on every event set it is registered on for
        Xid errors. How many sets it reached (0: nobody is listening, and it is lost, as with
        the driver)."""
        kind = pynvml.nvmlEventTypeXidCriticalError
        reached = 0
        for event_set in list(self._event_sets):
            with event_set.ready:
                if event_set.registered.get(index, 0) & kind:
                    event_set.waiting.append(ReplayEvent(ReplayHandle(index), kind, xid))
                    event_set.ready.notify_all()
                    reached += 1
        return reached

    @staticmethod
    def _recorded(values: Mapping[str, Any], name: str | None) -> Any:
        """``values[name]``, or NVML's NotSupported when the trace has no such column."""
        if name is None or name not in values:
            raise pynvml.NVMLError_NotSupported()
        return values[name]
