"""The NVML source against the recorded H100 trace, with the library's own errors injected:
readings match the trace, slow fields are read less often, every failure is a status and never
a crash, and a hung driver call never blocks the asyncio loop. The last test uses the real
pynvml: where no GPU exists it checks the source says why and returns; where one does, it
checks real readings arrive."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pynvml
import pytest

from factoryfloor.backend.design.nvml_codes import decode_clock_event_reasons
from factoryfloor.backend.telemetry.sink import RecordingSink
from factoryfloor.backend.telemetry.sources.nvml_source import NvmlSource, PowerLimitError
from factoryfloor.backend.telemetry.sources.nvml_trace import (
    NvmlTraceReplay,
    TraceClock,
    load_trace,
)

TRACE_PATH = Path(__file__).resolve().parents[1] / "resources" / "h100_nvml_trace.json"
TRACE = load_trace(TRACE_PATH)
WAIT_S = 10.0
"""Upper bound on every wait: generous for a loaded CI machine, reached only on failure."""


def recorded_row(t_s: float) -> dict:
    series = TRACE["series_4hz"]
    in_loop_s = t_s % (series[-1]["t"] + 0.25)
    return [row for row in series if row["t"] <= in_loop_s][-1]


def recorded_energy_mj(t_s: float) -> float:
    """Energy keeps counting across loops: each adds the recorded span and the closing 0.25 s."""
    first, last = TRACE["series_4hz"][0], TRACE["series_4hz"][-1]
    loops = t_s // (last["t"] + 0.25)
    loop_gain_mj = last["energy_mj"] - first["energy_mj"] + last["power_mw"] * 0.25
    return recorded_row(t_s)["energy_mj"] + loops * loop_gain_mj


class Counting:
    """The NVML provider seen through a call counter: every ``nvml*`` call is counted."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if not name.startswith("nvml"):
            return value

        def counted(*args: Any) -> Any:
            self.calls[name] += 1
            return value(*args)

        return counted


class BatchSink(RecordingSink):
    """Also keeps each write as one batch, with the NVML call counts at that moment."""

    def __init__(self, counting: Counting | None = None) -> None:
        super().__init__()
        self.batches: list[dict[str, float]] = []
        self.calls_at_write: list[Counter[str]] = []
        self._counting = counting

    def write(self, keys, times_s, values, quality=None) -> None:
        super().write(keys, times_s, values, quality)
        self.batches.append(dict(zip(keys, values, strict=True)))
        if self._counting is not None:
            self.calls_at_write.append(Counter(self._counting.calls))

    def statuses(self, subject: str | None = None) -> list[str]:
        return [e.detail for e in self.events if subject in (None, e.subject)]


async def until(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Wait, bounded, until ``condition()`` holds (checked between loop iterations)."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.002)


@asynccontextmanager
async def running(source: NvmlSource) -> AsyncIterator[asyncio.Task]:
    task = asyncio.create_task(source.run())
    try:
        yield task
    finally:
        task.cancel()
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(task, return_exceptions=True)


def replay(gpu_count: int = 2, t_s: float = 0.0, cls: type = NvmlTraceReplay, **kw: Any) -> Any:
    offsets_s = [17.0 * i for i in range(gpu_count)]
    return cls(TRACE, gpu_count=gpu_count, phase_offsets_s=offsets_s, clock=TraceClock(t_s), **kw)


def nvml_workers() -> int:
    return sum(t.name == "nvml-worker" for t in threading.enumerate())


# -- readings -------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("t_s", [0.0, 14.3, 26.223, 55.0])
async def test_readings_match_the_trace_in_sink_units(t_s: float) -> None:
    nvml = replay(gpu_count=2, t_s=t_s)
    sink = BatchSink()
    async with running(NvmlSource(sink, fast_hz=100, slow_hz=10, nvml=nvml)):
        await until(lambda: len(sink.batches) >= 2)
    first = sink.batches[0]  # a slow round: every field
    for index, offset_s in enumerate(nvml.phase_offsets_s):
        row, key = recorded_row(t_s + offset_s), f"gpu/local/{index}/".__add__
        assert first[key("power_w")] == row["power_mw"] / 1000
        assert first[key("power_instant_w")] == row["power_mw"] / 1000
        assert first[key("energy_j")] == pytest.approx(recorded_energy_mj(t_s + offset_s) / 1000)
        assert first[key("temp_c")] == row["temp_gpu_c"]
        assert first[key("mem_temp_c")] == row["temp_mem_c"]
        assert first[key("util_pct")] == row["gpu_util_pct"]
        assert first[key("mem_util_pct")] == row["mem_util_pct"]
        assert first[key("mem_used_bytes")] == row["mem_used_bytes"]
        assert first[key("mem_total_bytes")] == TRACE["static"]["memory_total_bytes"]
        assert first[key("sm_clock_mhz")] == row["clock_sm_mhz"]
        assert first[key("mem_clock_mhz")] == row["clock_mem_mhz"]
        assert first[key("clock_event_reasons")] == row["clocks_event_reasons"]
        assert first[key("pstate")] == row["pstate"]
        assert first[key("ecc_volatile_total")] == row["ecc_vol_total"]
        assert first[key("power_limit_w")] == 700.0
        assert (first[key("power_limit_min_w")], first[key("power_limit_max_w")]) == (200.0, 700.0)
        assert (first[key("xid")], first[key("xid_total")]) == (0, 0)  # registered, none yet
    assert sink.statuses("local") == ["ok: 2 GPUs, driver 580.159.04"]
    times = {t for _, t, _, _ in sink.readings[: len(first)]}
    assert len(times) == 3  # one timestamp per GPU read, and one for the Xid events drained


@pytest.mark.asyncio
async def test_each_round_is_one_write_and_slow_fields_are_read_less_often() -> None:
    nvml = Counting(replay(gpu_count=3))
    sink = BatchSink(nvml)
    workers_before = nvml_workers()
    async with running(NvmlSource(sink, fast_hz=200, slow_hz=20, nvml=nvml)):
        await until(lambda: len(sink.batches) >= 25)
    assert nvml.calls["nvmlShutdown"] == 1  # cancelled: NVML shut down, worker ended
    await until(lambda: nvml_workers() == workers_before)
    calls = sink.calls_at_write[24]  # after round 25: rounds 0, 10 and 20 were slow
    assert calls["nvmlDeviceGetUtilizationRates"] == 25 * 3
    assert calls["nvmlDeviceGetPowerUsage"] == 25 * 3
    assert calls["nvmlDeviceGetTotalEnergyConsumption"] == 3 * 3
    assert calls["nvmlDeviceGetPowerManagementLimit"] == 3 * 3
    assert calls["nvmlDeviceGetHandleByIndex"] == 3  # found once, reused
    slow_key = "gpu/local/2/energy_j"
    assert [slow_key in batch for batch in sink.batches[:11]] == [True] + [False] * 9 + [True]
    assert all(len({k.split("/")[2] for k in batch}) == 3 for batch in sink.batches[:25])


def test_clock_event_reasons_decode_to_names() -> None:
    assert decode_clock_event_reasons(0) == []
    assert decode_clock_event_reasons(0x1) == ["idle"]
    assert decode_clock_event_reasons(0x4) == ["SW power cap"]  # the trace's matmul phase
    assert decode_clock_event_reasons(0x48) == ["HW slowdown", "HW thermal"]
    assert decode_clock_event_reasons(0x1FF) == [
        "idle", "application clocks", "SW power cap", "HW slowdown", "sync boost",
        "SW thermal", "HW thermal", "power brake", "display clock",
    ]  # fmt: skip
    assert decode_clock_event_reasons(0x1000 | 0x20) == ["SW thermal", "unknown 0x1000"]


# -- optional fields ----------------------------------------------------------------------------


class NoMemoryTemperature(NvmlTraceReplay):
    """A GPU whose memory temperature field is unsupported (its entry's return code says so)."""

    def nvmlDeviceGetFieldValues(self, handle: Any, fieldIds: Sequence[int]) -> Any:
        entries = super().nvmlDeviceGetFieldValues(handle, fieldIds)
        for entry in entries:
            if entry.fieldId == pynvml.NVML_FI_DEV_MEMORY_TEMP:
                entry.nvmlReturn = pynvml.NVML_ERROR_NOT_SUPPORTED
        return entries


@pytest.mark.asyncio
async def test_unsupported_fields_are_absent_reported_once_and_not_asked_again() -> None:
    nvml = Counting(replay(gpu_count=2, cls=NoMemoryTemperature))
    sink = BatchSink(nvml)
    async with running(NvmlSource(sink, fast_hz=200, slow_hz=50, nvml=nvml)):
        await until(lambda: len(sink.batches) >= 12)  # three slow rounds
    keys = {key for batch in sink.batches for key in batch}
    for index in (0, 1):
        subject = f"gpu/local/{index}"
        assert not {f"{subject}/{q}" for q in ("pcie_tx_kbps", "pcie_rx_kbps", "mem_temp_c")} & keys
        assert f"{subject}/power_instant_w" in keys  # the same call's other field still works
        assert sorted(sink.statuses(subject)) == [
            "not supported: mem_temp_c (Not Supported)",
            "not supported: pcie_rx_kbps (Not Supported)",
            "not supported: pcie_tx_kbps (Not Supported)",
        ]
    assert sink.calls_at_write[11]["nvmlDeviceGetPcieThroughput"] == 2 * 2  # once per direction


class FlakyTemperature(NvmlTraceReplay):
    """GPU 0's temperature read times out on its 3rd to 6th call, then works again."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.reads = 0

    def nvmlDeviceGetTemperature(self, handle: Any, sensor: int) -> int:
        self.reads += handle.index == 0
        if handle.index == 0 and 3 <= self.reads <= 6:
            raise pynvml.NVMLError_Timeout()
        return super().nvmlDeviceGetTemperature(handle, sensor)


@pytest.mark.asyncio
async def test_a_transient_read_error_skips_that_reading_and_is_reported_once() -> None:
    sink = BatchSink()
    nvml = replay(gpu_count=2, cls=FlakyTemperature)
    async with running(NvmlSource(sink, fast_hz=200, slow_hz=20, nvml=nvml)):
        await until(lambda: len(sink.batches) >= 10)
    has_temp = ["gpu/local/0/temp_c" in batch for batch in sink.batches[:10]]
    assert has_temp == [True, True, False, False, False, False, True, True, True, True]
    assert all("gpu/local/0/power_w" in batch for batch in sink.batches[:10])
    failed = [s for s in sink.statuses("gpu/local/0") if not s.startswith("not supported")]
    assert failed == ["read failed: temp_c (Timeout)"]


# -- Xid events -----------------------------------------------------------------------------------


def xid_of(sink: BatchSink, index: int) -> tuple[float, float] | None:
    """(last code, count) the source last wrote for GPU ``index``, None if it writes none."""
    latest = sink.latest()
    code, count = (latest.get(f"gpu/local/{index}/{q}") for q in ("xid", "xid_total"))
    return None if code is None or count is None else (code[1], count[1])


@pytest.mark.asyncio
async def test_xid_errors_are_counted_per_gpu_with_the_last_code() -> None:
    nvml = Counting(replay(gpu_count=3))
    sink = BatchSink()
    async with running(NvmlSource(sink, fast_hz=200, slow_hz=20, nvml=nvml)):
        await until(lambda: all(xid_of(sink, i) == (0, 0) for i in range(3)))  # registered
        assert nvml.inner.inject_xid(1, 79) == 1
        assert nvml.inner.inject_xid(1, 48) == 1
        assert nvml.inner.inject_xid(2, 13) == 1
        await until(lambda: xid_of(sink, 1) == (48, 2) and xid_of(sink, 2) == (13, 1))
        rounds = len(sink.batches)
        await until(lambda: len(sink.batches) >= rounds + 3)
        assert [xid_of(sink, i) for i in range(3)] == [(0, 0), (48, 2), (13, 1)]  # counted once
    assert nvml.calls["nvmlDeviceRegisterEvents"] == 3  # once per GPU found
    assert nvml.calls["nvmlEventSetFree"] == 1 and nvml.calls["nvmlShutdown"] == 1
    assert nvml.inner.inject_xid(1, 79) == 0  # the set is freed: nobody listens any more
    assert not [s for s in sink.statuses() if "Xid" in s or "xid" in s]


class NoXidEvents(NvmlTraceReplay):
    """A GPU (or a driver) without Xid events: registering raises ``error``."""

    def __init__(self, *args: Any, error: type, refuse: str, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.error, self.refuse = error, refuse

    def nvmlEventSetCreate(self) -> Any:
        if self.refuse == "set":
            raise self.error()
        return super().nvmlEventSetCreate()

    def nvmlDeviceRegisterEvents(self, handle: Any, eventTypes: int, eventSet: Any) -> None:
        if self.refuse == "gpu" and handle.index == 1:
            raise self.error()
        super().nvmlDeviceRegisterEvents(handle, eventTypes, eventSet)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "refuse", "status"),
    [
        (pynvml.NVMLError_NotSupported, "gpu", "not supported: xid, xid_total (Not Supported)"),
        (pynvml.NVMLError_NoPermission, "gpu",
         "not permitted: xid, xid_total (Insufficient Permissions)"),
        (pynvml.NVMLError_FunctionNotFound, "set",
         "not supported: Xid events (Function Not Found)"),
    ],
    ids=["gpu-not-supported", "gpu-not-permitted", "old-library"],
)  # fmt: skip
async def test_without_xid_events_only_the_xid_series_are_missing(
    error: type, refuse: str, status: str
) -> None:
    sink = BatchSink()
    nvml = replay(gpu_count=2, cls=NoXidEvents, error=error, refuse=refuse)
    async with running(NvmlSource(sink, fast_hz=200, slow_hz=20, nvml=nvml)):
        await until(lambda: len(sink.batches) >= 10)
    subject = "local" if refuse == "set" else "gpu/local/1"
    assert status in sink.statuses(subject)
    assert sink.statuses().count(status) == 1  # reported once, not every round
    assert xid_of(sink, 1) is None
    assert xid_of(sink, 0) == (None if refuse == "set" else (0, 0))
    assert all("gpu/local/1/temp_c" in batch for batch in sink.batches[:10])  # the rest is read


# -- lost GPUs ------------------------------------------------------------------------------------


class LosingGpu(NvmlTraceReplay):
    """GPU ``lose_index`` raises ``error`` after ``good_calls`` utilisation reads, and cannot be
    found again, until ``healed`` is set."""

    def __init__(self, *args: Any, error: type, lose_index: int, good_calls: int, **kw: Any):
        super().__init__(*args, **kw)
        self.error, self.lose_index, self.good_calls = error, lose_index, good_calls
        self.healed = False
        self._reads = 0

    def _check(self, index: int) -> None:
        if index == self.lose_index and self._reads >= self.good_calls and not self.healed:
            raise self.error()

    def nvmlDeviceGetUtilizationRates(self, handle: Any) -> Any:
        self._check(handle.index)
        self._reads += handle.index == self.lose_index
        return super().nvmlDeviceGetUtilizationRates(handle)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        self._check(index)
        return super().nvmlDeviceGetHandleByIndex(index)


@pytest.mark.asyncio
@pytest.mark.parametrize("error", [pynvml.NVMLError_GpuIsLost, pynvml.NVMLError_Unknown])
async def test_a_lost_gpu_is_reported_once_the_others_keep_reporting_and_it_is_retried(
    error: type,
) -> None:
    nvml = Counting(replay(gpu_count=3, cls=LosingGpu, error=error, lose_index=1, good_calls=3))
    sink = BatchSink(nvml)
    lost_subject = "gpu/local/1"

    def gpus_in(batch: dict[str, float]) -> set[str]:
        return {key.split("/")[2] for key in batch}

    async with running(NvmlSource(sink, fast_hz=200, slow_hz=20, nvml=nvml)):
        await until(lambda: len(sink.batches) >= 35)  # lost in round 3; slow rounds 10, 20, 30
        assert gpus_in(sink.batches[2]) == {"0", "1", "2"}
        assert all(gpus_in(batch) == {"0", "2"} for batch in sink.batches[3:35])
        gpu_statuses = [s for s in sink.statuses(lost_subject) if s.startswith("GPU")]
        assert len(gpu_statuses) == 1 and gpu_statuses[0].startswith("GPU lost: ")
        assert str(error()) in gpu_statuses[0]
        retries = sink.calls_at_write[34]["nvmlDeviceGetHandleByIndex"] - 3
        assert retries == 3  # at the slow rate only
        nvml.inner.healed = True
        healed_at = len(sink.batches)
        await until(lambda: "GPU recovered" in sink.statuses(lost_subject))
        await until(lambda: len(sink.batches) >= healed_at + 12)
    assert gpus_in(sink.batches[-1]) == {"0", "1", "2"}
    assert sink.statuses(lost_subject)[-1] == "GPU recovered"
    assert sum(s.startswith("GPU") for s in sink.statuses(lost_subject)) == 2


# -- init ---------------------------------------------------------------------------------------


class FailingInit(NvmlTraceReplay):
    def __init__(self, *args: Any, error: type, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.error = error

    def nvmlInit(self) -> None:
        raise self.error()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("nvml", "status"),
    [
        (replay(cls=FailingInit, error=pynvml.NVMLError_LibraryNotFound), "no library"),
        (replay(cls=FailingInit, error=pynvml.NVMLError_DriverNotLoaded), "no driver"),
        (replay(cls=FailingInit, error=pynvml.NVMLError_LibRmVersionMismatch), "init failed"),
        (replay(gpu_count=0), "no GPU"),
    ],
    ids=["no-library", "no-driver", "version-mismatch", "no-gpu"],
)
async def test_init_failures_are_a_status_and_run_returns(nvml: Any, status: str) -> None:
    sink = BatchSink()
    workers_before = nvml_workers()
    async with asyncio.timeout(WAIT_S):
        await NvmlSource(sink, nvml=nvml).run()
    assert [s.split(":")[0] for s in sink.statuses()] == [status]
    assert sink.readings == []
    await until(lambda: nvml_workers() == workers_before)  # its worker thread ended


# -- control --------------------------------------------------------------------------------------


class NotRoot(NvmlTraceReplay):
    def nvmlDeviceSetPowerManagementLimit(self, handle: Any, limit: int) -> None:
        raise pynvml.NVMLError_NoPermission()


@pytest.mark.asyncio
async def test_set_power_limit_writes_reads_back_and_explains_refusals() -> None:
    sink = BatchSink()
    source = NvmlSource(sink, fast_hz=100, slow_hz=10, nvml=replay(gpu_count=2))
    async with running(source):
        await until(lambda: len(sink.batches) >= 1)
        assert await source.set_power_limit(1, 450) == 450.0
        assert sink.latest()["gpu/local/1/power_limit_w"][1] == 450.0
        with pytest.raises(PowerLimitError) as refused:
            await source.set_power_limit(0, 900)
        rounds_then = len(sink.batches)
        await until(lambda: len(sink.batches) > rounds_then + 10)  # still polling
    assert str(refused.value) == (
        "GPU 0 on local: power limit 900 W: rejected (Invalid Argument): outside the allowed "
        "range; allowed 200-700 W"
    )
    assert (refused.value.index, refused.value.allowed_w) == (0, (200.0, 700.0))
    limit_key = "gpu/local/1/power_limit_w"
    set_at = sink.batches.index({limit_key: 450.0})
    polled = [batch[limit_key] for batch in sink.batches[set_at + 1 :] if limit_key in batch]
    assert polled and set(polled) == {450.0}  # later slow rounds read back the same


@pytest.mark.asyncio
async def test_set_power_limit_without_root_and_without_nvml_says_why() -> None:
    sink = BatchSink()
    source = NvmlSource(sink, fast_hz=100, slow_hz=10, nvml=replay(gpu_count=1, cls=NotRoot))
    with pytest.raises(PowerLimitError, match="no such GPU, or NVML not running"):
        await source.set_power_limit(0, 500)
    async with running(source):
        await until(lambda: len(sink.batches) >= 1)
        with pytest.raises(PowerLimitError) as refused:
            await source.set_power_limit(0, 500)
        with pytest.raises(PowerLimitError, match=r"GPU 3 on local: .*no such GPU"):
            await source.set_power_limit(3, 500)
    assert "refused (Insufficient Permissions): changing a power limit needs root" in str(
        refused.value
    )
    assert str(refused.value).endswith("allowed 200-700 W")


# -- the watchdog ---------------------------------------------------------------------------------


class HangingPowerRead(NvmlTraceReplay):
    """GPU 0's power read blocks (once ``hang`` is set) until ``release`` is set."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.hang, self.release = threading.Event(), threading.Event()

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        if handle.index == 0 and self.hang.is_set():
            self.hang.clear()
            self.release.wait(WAIT_S)  # bounded: a failing test must not leave it stuck
        return super().nvmlDeviceGetPowerUsage(handle)


@pytest.mark.asyncio
async def test_a_hung_call_trips_the_watchdog_and_the_loop_keeps_running() -> None:
    nvml = replay(gpu_count=2, cls=HangingPowerRead)
    sink = BatchSink()
    source = NvmlSource(sink, fast_hz=100, slow_hz=10, call_timeout_s=0.5, nvml=nvml)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    hung = "driver call hung: GPU 0 gave no answer in 0.5 s; NVML calls paused until it returns"
    ticking = asyncio.create_task(ticker())
    try:
        async with running(source):
            await until(lambda: len(sink.batches) >= 2)
            workers = nvml_workers()
            nvml.hang.set()
            await until(lambda: hung in sink.statuses("local"))
            ticks_at_hang, rounds_at_hang = ticks, len(sink.batches)
            await until(lambda: ticks >= ticks_at_hang + 20)  # the loop is not blocked
            async with asyncio.timeout(1.0):  # control gives up at once, not after a timeout
                with pytest.raises(PowerLimitError, match="stuck in an earlier call"):
                    await source.set_power_limit(1, 500)
            assert len(sink.batches) == rounds_at_hang  # nothing polled while stuck
            assert nvml_workers() == workers  # and no second thread started
            nvml.release.set()
            await until(lambda: any("driver call returned" in s for s in sink.statuses()))
            await until(lambda: len(sink.batches) >= rounds_at_hang + 5)
    finally:
        nvml.release.set()
        ticking.cancel()
    assert sink.statuses("local")[-1].startswith("driver call returned after")
    assert sink.statuses("local")[-1].endswith("s; polling again")


class HangingPowerReadNotingInits(HangingPowerRead):
    """Also notes the thread of every ``nvmlInit``."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.init_threads: list[int] = []

    def nvmlInit(self) -> None:
        self.init_threads.append(threading.get_ident())
        super().nvmlInit()


@pytest.mark.asyncio
async def test_a_run_stopped_during_a_hang_leaves_its_worker_to_the_next_run() -> None:
    nvml = Counting(replay(gpu_count=1, cls=HangingPowerReadNotingInits))
    sink = BatchSink()
    source = NvmlSource(sink, fast_hz=100, slow_hz=10, call_timeout_s=0.3, nvml=nvml)
    hung = "driver call hung: GPU 0 gave no answer in 0.3 s; NVML calls paused until it returns"
    try:
        async with running(source):
            await until(lambda: len(sink.batches) >= 1)
            nvml.inner.hang.set()
            await until(lambda: hung in sink.statuses("local"))
        assert nvml.calls["nvmlShutdown"] == 0  # it would only queue behind the stuck call
        async with running(source):
            await until(lambda: sink.statuses("local").count(hung) == 2)  # the new run says so
            nvml.inner.release.set()
            rounds_then = len(sink.batches)
            await until(lambda: len(sink.batches) >= rounds_then + 5)
    finally:
        nvml.inner.release.set()
    assert nvml.calls["nvmlShutdown"] == 1
    first, second = nvml.inner.init_threads
    assert first == second  # the stuck worker was kept and reused, not doubled
    statuses = sink.statuses("local")
    assert len(statuses) == 5 and statuses[0].startswith("ok: ") and statuses[4] == statuses[0]
    assert statuses[1:3] == [hung, hung]
    assert statuses[3].startswith("driver call returned after")


class HangingSetLimit(NvmlTraceReplay):
    """Setting a power limit blocks until ``release`` is set (bounded)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.release = threading.Event()

    def nvmlDeviceSetPowerManagementLimit(self, handle: Any, limit: int) -> None:
        self.release.wait(WAIT_S)
        super().nvmlDeviceSetPowerManagementLimit(handle, limit)


@pytest.mark.asyncio
async def test_a_hung_control_call_fails_with_its_outcome_unknown_and_polling_resumes() -> None:
    nvml = replay(gpu_count=1, cls=HangingSetLimit)
    sink = BatchSink()
    source = NvmlSource(sink, fast_hz=100, slow_hz=10, call_timeout_s=0.5, nvml=nvml)
    try:
        async with running(source):
            await until(lambda: len(sink.batches) >= 1)
            async with asyncio.timeout(WAIT_S):
                with pytest.raises(PowerLimitError) as unknown:
                    await source.set_power_limit(0, 400)
            assert "set power limit of GPU 0: no answer in 0.5 s; outcome unknown" in str(
                unknown.value
            )
            assert any("driver call hung: set power limit of GPU 0" in s for s in sink.statuses())
            nvml.release.set()
            rounds_then = len(sink.batches)
            await until(lambda: len(sink.batches) >= rounds_then + 12)
    finally:
        nvml.release.set()
    assert sink.statuses("local")[-1].startswith("driver call returned after")
    limits = [batch["gpu/local/0/power_limit_w"] for batch in sink.batches[rounds_then:] if
              "gpu/local/0/power_limit_w" in batch]  # fmt: skip
    assert limits and set(limits) == {400.0}  # it did apply, late: the read-back shows it


# -- the real library -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_real_nvml_says_why_it_cannot_start_or_delivers_real_readings(
    record_property: Callable[[str, object], None],
) -> None:
    """Adapts to the machine: without a GPU, run() must report why and return; with one,
    real readings must arrive. The path taken is printed and recorded as a test property."""
    sink = BatchSink()
    task = asyncio.create_task(NvmlSource(sink, fast_hz=20, slow_hz=5).run())
    try:
        await until(lambda: task.done() or len(sink.batches) >= 2, timeout_s=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    status = sink.statuses("local")[0]
    if not sink.batches:
        assert status.startswith(("no library", "no driver", "no GPU")), status
        path = f"no GPU here: {status}"
    else:
        assert status.startswith("ok: ")
        latest = sink.batches[-1]
        assert 0 < latest["gpu/local/0/temp_c"] < 110
        assert 0 < latest["gpu/local/0/power_w"] < 2000
        assert latest["gpu/local/0/mem_total_bytes"] > 1e9
        path = f"real GPU readings: {status}; {len(latest)} readings in the last round"
    print(f"real NVML path: {path}")
    record_property("nvml_path", path)
