"""The trace replay answers pynvml calls with the recorded H100's values, stepping between
samples, looping with energy still counting up, and raising pynvml's own error classes."""

from __future__ import annotations

import time
from pathlib import Path

import pynvml
import pytest

from factoryfloor.backend.telemetry.sources.nvml_trace import (
    NvmlTraceReplay,
    TraceClock,
    load_trace,
    recorded_cost_us,
    recorded_error,
)

TRACE_PATH = Path(__file__).resolve().parents[1] / "resources" / "h100_nvml_trace.json"


@pytest.fixture(scope="module")
def trace() -> dict:
    return load_trace(TRACE_PATH)


def recorded_row(trace: dict, t_s: float) -> dict:
    """The sample a step replay must serve at ``t_s`` (independent of the replay's lookup)."""
    series = trace["series_4hz"]
    in_loop_s = t_s % (series[-1]["t"] + 0.25)
    return [row for row in series if row["t"] <= in_loop_s][-1]


def opened(replay: NvmlTraceReplay) -> NvmlTraceReplay:
    replay.nvmlInit()
    return replay


@pytest.mark.parametrize("t_s", [0.0, 0.1, 10.0, 14.3, 26.223, 40.0, 59.964, 60.1])
def test_each_reading_is_the_last_recorded_sample_at_or_before_the_time(trace, t_s) -> None:
    replay = opened(NvmlTraceReplay(trace, clock=TraceClock(t_s)))
    handle = replay.nvmlDeviceGetHandleByIndex(0)
    row = recorded_row(trace, t_s)
    rates = replay.nvmlDeviceGetUtilizationRates(handle)
    memory = replay.nvmlDeviceGetMemoryInfo(handle)
    assert (rates.gpu, rates.memory) == (row["gpu_util_pct"], row["mem_util_pct"])
    assert (memory.used, memory.total) == (
        row["mem_used_bytes"],
        trace["static"]["memory_total_bytes"],
    )
    assert memory.free == memory.total - memory.used
    assert replay.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU) == row["temp_gpu_c"]
    assert replay.nvmlDeviceGetPowerUsage(handle) == row["power_mw"]
    assert replay.nvmlDeviceGetTotalEnergyConsumption(handle) == row["energy_mj"]
    assert replay.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM) == row["clock_sm_mhz"]
    assert replay.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM) == row["clock_mem_mhz"]
    assert replay.nvmlDeviceGetCurrentClocksEventReasons(handle) == row["clocks_event_reasons"]
    assert replay.nvmlDeviceGetPerformanceState(handle) == row["pstate"]
    ecc = replay.nvmlDeviceGetTotalEccErrors(
        handle, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC
    )
    assert ecc == row["ecc_vol_total"]


def test_field_values_carry_their_own_return_codes(trace) -> None:
    replay = opened(NvmlTraceReplay(trace, clock=TraceClock(14.3)))
    row = recorded_row(trace, 14.3)
    fields = [
        pynvml.NVML_FI_DEV_MEMORY_TEMP,
        pynvml.NVML_FI_DEV_POWER_INSTANT,
        pynvml.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION,
        pynvml.NVML_FI_DEV_PCIE_REPLAY_COUNTER,
    ]
    mem_temp, instant, energy, unrecorded = replay.nvmlDeviceGetFieldValues(
        replay.nvmlDeviceGetHandleByIndex(0), fields
    )
    assert [e.fieldId for e in (mem_temp, instant, energy, unrecorded)] == fields
    assert (mem_temp.nvmlReturn, mem_temp.value.uiVal) == (pynvml.NVML_SUCCESS, row["temp_mem_c"])
    assert instant.value.uiVal == row["power_mw"]  # the trace holds the 1 s average only
    assert energy.valueType == pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
    assert energy.value.ullVal == row["energy_mj"]
    assert unrecorded.nvmlReturn == pynvml.NVML_ERROR_NOT_SUPPORTED


def test_looping_repeats_the_run_and_energy_keeps_counting(trace) -> None:
    clock = TraceClock()
    replay = opened(NvmlTraceReplay(trace, clock=clock))
    handle = replay.nvmlDeviceGetHandleByIndex(0)
    series = trace["series_4hz"]
    gain_mj = series[-1]["energy_mj"] - series[0]["energy_mj"] + series[-1]["power_mw"] * 0.25
    clock.t_s = 20.0
    first_loop = (
        replay.nvmlDeviceGetPowerUsage(handle),
        replay.nvmlDeviceGetTotalEnergyConsumption(handle),
    )
    clock.advance(2 * replay.period_s)
    third_loop = (
        replay.nvmlDeviceGetPowerUsage(handle),
        replay.nvmlDeviceGetTotalEnergyConsumption(handle),
    )
    assert replay.period_s == pytest.approx(series[-1]["t"] + 0.25)
    assert third_loop[0] == first_loop[0]
    assert third_loop[1] == pytest.approx(first_loop[1] + 2 * gain_mj, abs=1)

    energies = []
    for step in range(int(3 * replay.period_s / 0.25)):
        clock.t_s = step * 0.25
        energies.append(replay.nvmlDeviceGetTotalEnergyConsumption(handle))
    assert energies == sorted(energies)  # never steps back at a loop boundary


def test_gpus_replay_the_same_run_at_their_phase_offsets(trace) -> None:
    clock = TraceClock(5.0)
    replay = opened(
        NvmlTraceReplay(trace, gpu_count=3, phase_offsets_s=[0.0, 9.5, 30.0], clock=clock)
    )
    assert replay.nvmlDeviceGetCount() == 3
    for index, offset_s in enumerate(replay.phase_offsets_s):
        handle = replay.nvmlDeviceGetHandleByIndex(index)
        assert (
            replay.nvmlDeviceGetPowerUsage(handle)
            == recorded_row(trace, 5.0 + offset_s)["power_mw"]
        )
    uuids = {replay.nvmlDeviceGetUUID(replay.nvmlDeviceGetHandleByIndex(i)) for i in range(3)}
    assert len(uuids) == 3 and trace["static"]["uuid"] in uuids
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        replay.nvmlDeviceGetHandleByIndex(3)
    with pytest.raises(ValueError, match="2 phase offsets for 3 GPUs"):
        NvmlTraceReplay(trace, gpu_count=3, phase_offsets_s=[0.0, 1.0])


def test_static_values_and_recorded_errors_are_the_library_s_own(trace) -> None:
    replay = NvmlTraceReplay(trace, clock=TraceClock())
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        replay.nvmlDeviceGetCount()  # as the library: nothing answers before init
    opened(replay)
    handle = replay.nvmlDeviceGetHandleByIndex(0)
    static = trace["static"]
    assert replay.nvmlSystemGetDriverVersion() == static["driver"]
    assert replay.nvmlDeviceGetName(handle) == static["name"]
    assert (
        replay.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM) == static["max_clock_sm_mhz"]
    )
    slowdown = pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
    assert replay.nvmlDeviceGetTemperatureThreshold(handle, slowdown) == static["temp_slowdown_c"]
    with pytest.raises(pynvml.NVMLError_NotSupported):
        replay.nvmlDeviceGetFanSpeed(handle)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        replay.nvmlDeviceGetNvLinkState(handle, 0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        replay.nvmlDeviceGetPcieThroughput(handle, pynvml.NVML_PCIE_UTIL_TX_BYTES)
    assert isinstance(recorded_error({"nvml_error": "GPU is lost"}), pynvml.NVMLError_GpuIsLost)
    replay.nvmlShutdown()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        replay.nvmlDeviceGetPowerUsage(handle)


def test_the_power_limit_is_state_checked_against_the_recorded_range(trace) -> None:
    replay = opened(NvmlTraceReplay(trace, gpu_count=2, clock=TraceClock()))
    first, second = (replay.nvmlDeviceGetHandleByIndex(i) for i in range(2))
    assert replay.nvmlDeviceGetPowerManagementLimitConstraints(first) == [200_000, 700_000]
    replay.nvmlDeviceSetPowerManagementLimit(first, 450_000)
    assert replay.nvmlDeviceGetPowerManagementLimit(first) == 450_000
    assert replay.nvmlDeviceGetPowerManagementLimit(second) == 700_000
    for out_of_range_mw in (199_999, 700_001):
        with pytest.raises(pynvml.NVMLError_InvalidArgument):
            replay.nvmlDeviceSetPowerManagementLimit(first, out_of_range_mw)
    assert replay.nvmlDeviceGetPowerManagementLimit(first) == 450_000


def test_clocks_lock_within_the_offered_clocks_and_read_back_inside_the_lock(trace) -> None:
    replay = opened(NvmlTraceReplay(trace, gpu_count=1, clock=TraceClock(14.3)))  # matmul
    gpu = replay.nvmlDeviceGetHandleByIndex(0)
    (memory_mhz,) = replay.nvmlDeviceGetSupportedMemoryClocks(gpu)
    clocks = replay.nvmlDeviceGetSupportedGraphicsClocks(gpu, memory_mhz)
    assert (clocks[0], clocks[-1], clocks[0] - clocks[1]) == (1980, 345, 15)
    assert replay.nvmlDeviceGetClockInfo(gpu, pynvml.NVML_CLOCK_SM) == 1425  # as recorded
    replay.nvmlDeviceSetGpuLockedClocks(gpu, 1500, 1800)
    assert replay.nvmlDeviceGetClockInfo(gpu, pynvml.NVML_CLOCK_SM) == 1500
    for low, high in [(300, 1000), (1000, 2000), (1200, 1100)]:
        with pytest.raises(pynvml.NVMLError_InvalidArgument):
            replay.nvmlDeviceSetGpuLockedClocks(gpu, low, high)
    replay.nvmlDeviceResetGpuLockedClocks(gpu)
    assert replay.nvmlDeviceGetClockInfo(gpu, pynvml.NVML_CLOCK_SM) == 1425


def test_a_gpu_made_to_refuse_or_lost_answers_with_the_library_s_errors(trace) -> None:
    replay = opened(NvmlTraceReplay(trace, gpu_count=2, clock=TraceClock()))
    first, second = (replay.nvmlDeviceGetHandleByIndex(i) for i in range(2))
    replay.refuse_control(0, pynvml.NVMLError_NoPermission)
    with pytest.raises(pynvml.NVMLError_NoPermission):
        replay.nvmlDeviceSetPowerManagementLimit(first, 500_000)
    with pytest.raises(pynvml.NVMLError_NoPermission):
        replay.nvmlDeviceResetGpuLockedClocks(first)
    assert replay.nvmlDeviceGetPowerUsage(first) > 0  # reads still answer
    replay.lose(1)
    calls = (
        replay.nvmlDeviceGetPowerUsage,
        replay.nvmlDeviceGetName,
        replay.nvmlDeviceGetEnforcedPowerLimit,
        replay.nvmlDeviceResetGpuLockedClocks,
    )
    for call in calls:
        with pytest.raises(pynvml.NVMLError_GpuIsLost):
            call(second)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        replay.nvmlDeviceGetHandleByIndex(1)


def test_recorded_costs_make_calls_last_as_long_as_on_the_h100(trace) -> None:
    costs_us = trace["call_cost_us"]
    energy_fields = [pynvml.NVML_FI_DEV_MEMORY_TEMP, pynvml.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION]
    field_cost_us = recorded_cost_us(costs_us, "nvmlDeviceGetFieldValues", (None, energy_fields))
    assert (
        field_cost_us
        == costs_us["nvmlDeviceGetFieldValues(MEMORY_TEMP)"]
        + costs_us["nvmlDeviceGetFieldValues(TOTAL_ENERGY)"]
    )
    assert (
        recorded_cost_us(costs_us, "nvmlDeviceGetClockInfo", (None, pynvml.NVML_CLOCK_MEM))
        == (costs_us["nvmlDeviceGetClockInfo(SM)"])
    )
    assert recorded_cost_us(costs_us, "nvmlDeviceGetName", (None,)) == 0.0

    replay = opened(NvmlTraceReplay(trace, clock=TraceClock(), recorded_costs=True))
    handle = replay.nvmlDeviceGetHandleByIndex(0)
    started_s = time.perf_counter()
    replay.nvmlDeviceGetTotalEnergyConsumption(handle)
    assert time.perf_counter() - started_s >= costs_us["nvmlDeviceGetTotalEnergyConsumption"] / 1e6
    started_s = time.perf_counter()
    with pytest.raises(pynvml.NVMLError_NotSupported):  # unsupported still costs the call
        replay.nvmlDeviceGetPcieThroughput(handle, pynvml.NVML_PCIE_UTIL_TX_BYTES)
    assert time.perf_counter() - started_s >= costs_us["nvmlDeviceGetPcieThroughput"] / 1e6


def test_events_answer_as_nvml_does_and_an_injected_xid_reaches_registered_sets_only(
    trace,
) -> None:
    replay = opened(NvmlTraceReplay(trace, gpu_count=2, clock=TraceClock(0.0)))
    gpu1 = replay.nvmlDeviceGetHandleByIndex(1)
    watching, other = replay.nvmlEventSetCreate(), replay.nvmlEventSetCreate()
    replay.nvmlDeviceRegisterEvents(gpu1, pynvml.nvmlEventTypeXidCriticalError, watching)
    replay.nvmlDeviceRegisterEvents(gpu1, pynvml.nvmlEventTypeClock, other)  # not Xid errors
    with pytest.raises(pynvml.NVMLError_Timeout):  # the trace has no events
        replay.nvmlEventSetWait_v2(watching, 0)
    assert replay.inject_xid(0, 13) == 0  # GPU 0 is registered nowhere: lost, as with the driver
    assert replay.inject_xid(1, 79) == 1
    event = replay.nvmlEventSetWait_v2(watching, 0)
    assert replay.nvmlDeviceGetIndex(event.device) == 1
    assert (event.eventType, event.eventData) == (pynvml.nvmlEventTypeXidCriticalError, 79)
    with pytest.raises(pynvml.NVMLError_Timeout):  # delivered once
        replay.nvmlEventSetWait_v2(watching, 0)
    with pytest.raises(pynvml.NVMLError_Timeout):
        replay.nvmlEventSetWait_v2(other, 0)
    started_s = time.perf_counter()
    with pytest.raises(pynvml.NVMLError_Timeout):  # a wait with a timeout waits that long
        replay.nvmlEventSetWait_v2(watching, 50)
    assert time.perf_counter() - started_s >= 0.05
    replay.nvmlEventSetFree(watching)
    assert replay.inject_xid(1, 79) == 0
