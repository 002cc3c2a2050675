"""The NVML telemetry source: every local GPU's readings, and its power limit, through NVML.

Built around what NVML does on a real H100 (design notes, section 4):

- NVML is blocking C and a call can hang inside the driver, so *every* NVML call (init, polls,
  control, shutdown) runs in one dedicated worker thread and the asyncio loop only ever awaits
  futures. The thread is a daemon rather than a ``ThreadPoolExecutor`` worker because executor
  threads are joined at interpreter exit: one call stuck in the driver would hang the backend's
  exit as well.
- A watchdog times the worker's progress: a GPU's reads (or a single control call) taking
  longer than ``call_timeout_s`` is reported as "driver call hung". The budget is per GPU, not
  per round, so a host with 64 GPUs and 20 ms PCIe reads is not mistaken for a hung driver.
  Polling then waits, without blocking the loop, for that call to return; no second thread is
  ever started while one is stuck in the driver (it would most likely get stuck too, and they
  would pile up). When the call returns, the same worker carries on and that is reported.
  Control calls do not wait: they fail at once with an error saying the outcome is unknown.
- Cheap fields (1-7 us each) are read at ``fast_hz``; expensive ones (energy about 3 ms, PCIe
  throughput about 20 ms per direction, power-limit reads about 0.1 ms) at ``slow_hz``, every
  ``round(fast_hz / slow_hz)``-th round, the first round included.
- Every field is optional. NotSupported (and a missing function or permission) drops that
  field for that GPU, reported once; other read errors skip the reading and are reported once
  per GPU, field and error. GpuIsLost / Unknown / ResetRequired mark the GPU lost; the others
  keep reporting and the lost one is retried (handle included) on every slow round.
- Each round's readings, all GPUs together, go to the sink in one ``write`` call: per-call
  overhead dominates ingest, and one timestamp per GPU read is exact enough at 4 Hz.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pynvml
from factoryfloor.backend.telemetry.sink import SourceEvent, TelemetrySink

CLOCK_EVENT_REASONS: tuple[tuple[int, str], ...] = (
    (0x1, "idle"),
    (0x2, "application clocks"),
    (0x4, "SW power cap"),
    (0x8, "HW slowdown"),
    (0x10, "sync boost"),
    (0x20, "SW thermal"),
    (0x40, "HW thermal"),
    (0x80, "power brake"),
    (0x100, "display clock"),
)
"""NVML's clock-event reason bits (``nvmlClocksEventReason*``) and the names shown for them."""

_KNOWN_REASON_BITS = sum(bit for bit, _ in CLOCK_EVENT_REASONS)

GPU_GONE_ERRORS: tuple[type[pynvml.NVMLError], ...] = (
    pynvml.NVMLError_GpuIsLost,
    pynvml.NVMLError_Unknown,
    pynvml.NVMLError_ResetRequired,
)
"""Errors after which a GPU answers nothing until it is found again: it is marked lost."""

UNAVAILABLE_ERRORS: dict[type[pynvml.NVMLError], str] = {
    pynvml.NVMLError_NotSupported: "not supported",
    pynvml.NVMLError_FunctionNotFound: "not supported",
    pynvml.NVMLError_NoPermission: "not permitted",
}
"""Errors that will not go away by asking again: the field is dropped for that GPU."""


def decode_clock_event_reasons(mask: int) -> list[str]:
    """Names of the reasons set in an NVML clock-event mask, lowest bit first. Bits this table
    does not know (newer drivers add some) come last as one hex item, never silently dropped."""
    names = [name for bit, name in CLOCK_EVENT_REASONS if mask & bit]
    unknown = mask & ~_KNOWN_REASON_BITS
    if unknown:
        names.append(f"unknown 0x{unknown:x}")
    return names


class PowerLimitError(RuntimeError):
    """A power-limit change that did not happen, or whose outcome is unknown. The message
    names the GPU, the limit asked for and the range NVML allows, for operators and the audit
    log; the same facts are attributes for code."""

    def __init__(
        self,
        node: str,
        index: int,
        requested_w: float,
        allowed_w: tuple[float, float] | None,
        reason: str,
    ) -> None:
        self.node = node
        self.index = index
        self.requested_w = requested_w
        self.allowed_w = allowed_w
        self.reason = reason
        allowed = (
            f"allowed {allowed_w[0]:g}-{allowed_w[1]:g} W" if allowed_w else "allowed range unknown"
        )
        limit = f"GPU {index} on {node}: power limit {requested_w:g} W"
        super().__init__(f"{limit}: {reason}; {allowed}")


class DriverHungError(RuntimeError):
    """An NVML call gave no answer within the watchdog's time; its outcome is unknown."""


# -- what is read, and how -------------------------------------------------------------------

Reader = Callable[[Any, Any, list[float]], None]
"""``(nvml, handle, values)``: appends one value per quantity of its field, in sink units, and
only after its NVML call succeeded, so a failed read never leaves part of a field behind.
Appending into the round's column, rather than returning tuples, keeps the source's own cost
per reading to a function call (see bench/nvml_cost.py)."""

_VALUE_MEMBERS = {
    pynvml.NVML_VALUE_TYPE_DOUBLE: "dVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_INT: "uiVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG: "ulVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: "ullVal",
    pynvml.NVML_VALUE_TYPE_SIGNED_LONG_LONG: "sllVal",
    pynvml.NVML_VALUE_TYPE_SIGNED_INT: "siVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_SHORT: "usVal",
}
"""Which member of NVML's value union holds a field value of each value type."""


def _field_value(nvml: Any, handle: Any, field_id: int) -> float:
    """One NVML field value. The call itself succeeds for unsupported fields; the entry's own
    return code says so, and is raised as the matching pynvml error like any other call."""
    (entry,) = nvml.nvmlDeviceGetFieldValues(handle, [field_id])
    if entry.nvmlReturn != pynvml.NVML_SUCCESS:
        raise pynvml.NVMLError(entry.nvmlReturn)
    return getattr(entry.value, _VALUE_MEMBERS[entry.valueType])


def _utilisation(nvml: Any, handle: Any, values: list[float]) -> None:
    rates = nvml.nvmlDeviceGetUtilizationRates(handle)
    values += (rates.gpu, rates.memory)


def _memory(nvml: Any, handle: Any, values: list[float]) -> None:
    info = nvml.nvmlDeviceGetMemoryInfo(handle)
    values += (info.used, info.total)


def _gpu_temp(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))


def _mem_temp(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(_field_value(nvml, handle, nvml.NVML_FI_DEV_MEMORY_TEMP))


def _power_1s_avg(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)


def _power_instant(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(_field_value(nvml, handle, nvml.NVML_FI_DEV_POWER_INSTANT) / 1000.0)


def _sm_clock(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))


def _mem_clock(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM))


def _clock_events(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetCurrentClocksEventReasons(handle))


def _pstate(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPerformanceState(handle))


def _ecc_volatile(nvml: Any, handle: Any, values: list[float]) -> None:
    """Uncorrected (double-bit) errors since driver load: the count that means lost data
    (Xid 48); corrected errors are routine and would drown it."""
    uncorrected, volatile = nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC
    values.append(nvml.nvmlDeviceGetTotalEccErrors(handle, uncorrected, volatile))


def _energy(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0)


def _pcie_tx(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPcieThroughput(handle, nvml.NVML_PCIE_UTIL_TX_BYTES))


def _pcie_rx(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPcieThroughput(handle, nvml.NVML_PCIE_UTIL_RX_BYTES))


def _power_limit(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000.0)


def _power_limit_range(nvml: Any, handle: Any, values: list[float]) -> None:
    low_mw, high_mw = nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle)
    values += (low_mw / 1000.0, high_mw / 1000.0)


@dataclass(frozen=True, slots=True)
class Field:
    """One NVML read and the sink quantities it yields (``gpu/{node}/{index}/{quantity}``)."""

    quantities: tuple[str, ...]
    read: Reader
    slow: bool = False
    """Expensive to read: polled at ``slow_hz`` instead of ``fast_hz``."""

    @property
    def label(self) -> str:
        return ", ".join(self.quantities)


FIELDS: tuple[Field, ...] = (
    Field(("util_pct", "mem_util_pct"), _utilisation),
    Field(("mem_used_bytes", "mem_total_bytes"), _memory),
    Field(("temp_c",), _gpu_temp),
    Field(("mem_temp_c",), _mem_temp),
    Field(("power_w",), _power_1s_avg),
    Field(("power_instant_w",), _power_instant),
    Field(("sm_clock_mhz",), _sm_clock),
    Field(("mem_clock_mhz",), _mem_clock),
    Field(("clock_event_reasons",), _clock_events),
    Field(("pstate",), _pstate),
    Field(("ecc_volatile_total",), _ecc_volatile),
    Field(("energy_j",), _energy, slow=True),
    Field(("pcie_tx_kbps",), _pcie_tx, slow=True),
    Field(("pcie_rx_kbps",), _pcie_rx, slow=True),
    Field(("power_limit_w",), _power_limit, slow=True),
    Field(("power_limit_min_w", "power_limit_max_w"), _power_limit_range, slow=True),
)
"""Everything polled, in the order read. PCIe throughput is in KB/s, as NVML reports it."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """The fields to read on one GPU and their series keys, built once per change (a field
    dropped), so a round that reads everything just appends the ready-made ``keys``."""

    fields: tuple[Field, ...]
    field_keys: tuple[tuple[str, ...], ...]
    keys: tuple[str, ...]

    @classmethod
    def of(cls, subject: str, fields: Sequence[Field]) -> _Plan:
        field_keys = tuple(tuple(f"{subject}/{q}" for q in f.quantities) for f in fields)
        return cls(tuple(fields), field_keys, tuple(k for keys in field_keys for k in keys))

    def keys_read(
        self, failures: Sequence[tuple[Field, pynvml.NVMLError]], lost: bool
    ) -> list[str]:
        """Keys of the fields that yielded values: all but the failed, none from a loss on."""
        failed = {field for field, _ in failures}
        stop = failures[-1][0] if lost else None
        keys: list[str] = []
        for field, field_keys in zip(self.fields, self.field_keys, strict=True):
            if field is stop:
                break
            if field not in failed:
                keys += field_keys
        return keys


# -- the worker thread and what runs on it ---------------------------------------------------


class _Job:
    """One call for the worker. Its answer reaches the loop through ``future``; ``abandoned``
    keeps a job nobody waits for any more from running late; ``returned`` says the worker
    finished it, whatever the waiter did meanwhile."""

    __slots__ = ("abandoned", "args", "fn", "future", "loop", "returned", "watchdog", "what")

    def __init__(self, what: str, fn: Callable[..., Any], args: tuple) -> None:
        self.what, self.fn, self.args = what, fn, args
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future = self.loop.create_future()
        self.abandoned = self.returned = False
        self.watchdog: asyncio.TimerHandle | None = None

    def deliver(self, result: Any, error: BaseException | None) -> None:
        """On the loop: hand the worker's answer to the waiter, if it is still waiting."""
        self.returned = True
        if self.future.done():
            return
        if error is None:
            self.future.set_result(result)
        else:
            self.future.set_exception(error)


class _Worker:
    """The one thread that makes NVML calls, one job at a time in submission order. It notes
    what it is doing and since when, so the watchdog on the loop can tell slow from stuck."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.doing = ""
        self.since_s: float | None = None
        """``time.monotonic()`` of the last progress; None while idle."""
        threading.Thread(target=self._serve, name="nvml-worker", daemon=True).start()

    def submit(self, what: str, fn: Callable[..., Any], args: tuple) -> _Job:
        job = _Job(what, fn, args)
        self._jobs.put(job)
        return job

    def progress(self, doing: str) -> None:
        self.doing, self.since_s = doing, time.monotonic()

    def close(self) -> None:
        """The thread exits after the job in hand, if any."""
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            if job.abandoned:
                continue
            self.progress(job.what)
            result, error = None, None
            try:
                result = job.fn(*job.args)
            except BaseException as caught:  # delivered to the waiter, raised there
                error = caught
            self.since_s = None
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
                job.loop.call_soon_threadsafe(job.deliver, result, error)


@dataclass(frozen=True, slots=True)
class _GpuPoll:
    """What one round asks of one GPU; ``handle`` None means find the GPU first."""

    index: int
    handle: Any
    plan: _Plan
    label: str
    """What the watchdog reports if this GPU's reads hang."""


@dataclass(slots=True)
class _GpuOutcome:
    """Anything about one GPU's reads the loop must act on (a GPU with nothing to report
    has none): a handle newly found, failed fields, or the GPU gone (its error last in
    ``failures`` too)."""

    index: int
    handle: Any
    failures: list[tuple[Field, pynvml.NVMLError]]
    lost: pynvml.NVMLError | None = None


@dataclass(slots=True)
class _Round:
    """A round's readings as the sink's columns, and the GPUs with something to report."""

    keys: list[str]
    times_s: list[float]
    values: list[float]
    outcomes: list[_GpuOutcome]


def _read_round(nvml: Any, polls: Sequence[_GpuPoll], progress: Callable[[str], None]) -> _Round:
    """On the worker: every GPU's fields, appended to one set of columns."""
    result = _Round([], [], [], [])
    for poll in polls:
        progress(poll.label)
        outcome = _read_gpu(nvml, poll, result)
        if outcome is not None:
            result.outcomes.append(outcome)
    return result


def _read_gpu(nvml: Any, poll: _GpuPoll, out: _Round) -> _GpuOutcome | None:
    """One GPU's fields into ``out``. A read that fails skips only its own quantities, unless
    it says the GPU is gone (readings taken before that are kept: they were real)."""
    handle, outcome = poll.handle, None
    if handle is None:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(poll.index)
        except pynvml.NVMLError as error:
            return _GpuOutcome(poll.index, None, [], lost=error)
        outcome = _GpuOutcome(poll.index, handle, [])
    read_s, values = time.time(), out.values
    first = len(values)
    for field in poll.plan.fields:
        try:
            field.read(nvml, handle, values)
        except pynvml.NVMLError as error:
            outcome = outcome or _GpuOutcome(poll.index, handle, [])
            outcome.failures.append((field, error))
            if isinstance(error, GPU_GONE_ERRORS):
                outcome.lost = error
                break
    if outcome is None or not outcome.failures:
        out.keys += poll.plan.keys
    else:
        out.keys += poll.plan.keys_read(outcome.failures, outcome.lost is not None)
    out.times_s += itertools.repeat(read_s, len(values) - first)
    return outcome


def _open_nvml(nvml: Any) -> tuple[str, int]:
    """On the worker: init; (driver version, GPU count). Handles come with the first round."""
    nvml.nvmlInit()
    return nvml.nvmlSystemGetDriverVersion(), nvml.nvmlDeviceGetCount()


def _allowed_range_w(nvml: Any, handle: Any) -> tuple[float, float] | None:
    try:
        low_mw, high_mw = nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle)
    except pynvml.NVMLError:
        return None
    return low_mw / 1000.0, high_mw / 1000.0


def _refusal(error: pynvml.NVMLError) -> str:
    if isinstance(error, pynvml.NVMLError_NoPermission):
        return f"refused ({error}): changing a power limit needs root (Administrator on Windows)"
    if isinstance(error, pynvml.NVMLError_InvalidArgument):
        return f"rejected ({error}): outside the allowed range"
    return f"failed ({error})"


def _set_power_limit(nvml: Any, node: str, index: int, handle: Any, watts: float) -> float:
    """On the worker: write the limit, then read back what the driver applied (it may round,
    and the limit does not survive a reboot, so the read-back is the truth)."""
    try:
        nvml.nvmlDeviceSetPowerManagementLimit(handle, round(watts * 1000.0))
        return nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000.0
    except pynvml.NVMLError as error:
        allowed_w = _allowed_range_w(nvml, handle)
        raise PowerLimitError(node, index, watts, allowed_w, _refusal(error)) from error


# -- the source ----------------------------------------------------------------------------------


class _Gpu:
    """One GPU's polling state. Owned by the loop; the worker only reads the polls it is sent,
    which are rebuilt (not changed) when the handle or the fields change."""

    def __init__(self, node: str, index: int) -> None:
        self.index = index
        self.subject = f"gpu/{node}/{index}"
        self.handle: Any = None
        self.lost = False
        self.reported: set[tuple[Field, type]] = set()
        self._fields = list(FIELDS)
        self._rebuild()

    def key(self, quantity: str) -> str:
        return f"{self.subject}/{quantity}"

    def set_handle(self, handle: Any) -> None:
        if handle is not self.handle:
            self.handle = handle
            self._rebuild()

    def drop(self, field: Field) -> None:
        self._fields.remove(field)
        self._rebuild()

    def poll(self, slow: bool) -> _GpuPoll | None:
        """This round's request, or None: a GPU without a handle is only tried on slow rounds."""
        if self.handle is None and not slow:
            return None
        return self._polls[slow]

    def _rebuild(self) -> None:
        fast = _Plan.of(self.subject, [f for f in self._fields if not f.slow])
        full = _Plan.of(self.subject, self._fields)
        label = f"GPU {self.index}"
        self._polls = (
            _GpuPoll(self.index, self.handle, fast, label),
            _GpuPoll(self.index, self.handle, full, label),
        )


class NvmlSource:
    """Polls every GPU NVML sees and writes ``gpu/{node}/{index}/{quantity}`` series.

    ``nvml`` is whatever provides the NVML API: the real ``pynvml`` module by default, or
    ``NvmlTraceReplay`` (the recorded H100) where no GPU exists. ``run()`` reports why it cannot
    start (no library, no driver, no GPU) as a status and returns; otherwise it polls until
    cancelled.
    """

    name = "nvml"

    def __init__(
        self,
        sink: TelemetrySink,
        node: str = "local",
        fast_hz: float = 4.0,
        slow_hz: float = 0.2,
        call_timeout_s: float = 2.0,
        nvml: Any = pynvml,
    ) -> None:
        if not (fast_hz > 0 and slow_hz > 0 and call_timeout_s > 0):
            raise ValueError("fast_hz, slow_hz and call_timeout_s must be positive")
        self._sink = sink
        self._node = node
        self._period_s = 1.0 / fast_hz
        self._slow_every = max(1, round(fast_hz / slow_hz))
        self._call_timeout_s = call_timeout_s
        self._nvml = nvml
        self._worker: _Worker | None = None
        self._gpus: list[_Gpu] = []
        self._hung_since_s: float | None = None

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> None:
        """Init, then poll until cancelled; on the way out, NVML is shut down unless a call is
        still stuck in the driver (then the stuck worker is kept for the next run, not doubled)."""
        self._hung_since_s = None
        self._worker = self._worker or _Worker()
        initialised = False
        try:
            initialised = await self._open()
            await self._poll_forever()
        finally:
            await self._close(initialised)

    async def _open(self) -> bool:
        """Init NVML and learn the GPUs; False if NVML could not be initialised at all."""
        try:
            driver, count = await self._call("init", _open_nvml, self._nvml)
        except pynvml.NVMLError as error:
            self._status(self._node, _init_failure(error))
            return False
        self._gpus = [_Gpu(self._node, index) for index in range(count)]
        if count == 0:
            self._status(self._node, f"no GPU: driver {driver} sees none")
        else:
            plural = "s" if count != 1 else ""
            self._status(self._node, f"ok: {count} GPU{plural}, driver {driver}")
        return True

    async def _close(self, initialised: bool) -> None:
        """Shut NVML down and end the worker, unless the worker is stuck in the driver: then
        it is left alone (a daemon thread) and reused by the next run."""
        self._gpus = []
        worker = self._worker
        if worker is None or self._hung_since_s is not None:
            return
        if initialised:
            with contextlib.suppress(pynvml.NVMLError, DriverHungError):  # leaving anyway
                await self._call("shutdown", self._nvml.nvmlShutdown, give_up_on_hang=True)
        if self._hung_since_s is None:
            worker.close()
            self._worker = None

    async def _poll_forever(self) -> None:
        """Rounds at ``fast_hz`` on a fixed schedule (no drift); a round that overruns delays
        the next, and after a long stall missed rounds are skipped rather than burst."""
        loop = asyncio.get_running_loop()
        next_s = loop.time()
        round_number = 0
        while self._gpus:
            await self._poll_round(slow=round_number % self._slow_every == 0)
            round_number += 1
            next_s += self._period_s
            now_s = loop.time()
            if next_s < now_s - self._period_s:  # fell behind: skip missed rounds, no burst
                next_s = now_s
            if next_s > now_s:  # (when behind, awaiting the round already let others run)
                await asyncio.sleep(next_s - now_s)

    # -- polling ------------------------------------------------------------------------------

    async def _poll_round(self, slow: bool) -> None:
        polls = [p for gpu in self._gpus if (p := gpu.poll(slow)) is not None]
        if not polls:
            return
        worker = self._worker
        assert worker is not None
        result: _Round = await self._call("poll", _read_round, self._nvml, polls, worker.progress)
        if result.keys:
            self._sink.write(result.keys, result.times_s, result.values)
        for outcome in result.outcomes:
            self._settle(self._gpus[outcome.index], outcome)

    def _settle(self, gpu: _Gpu, outcome: _GpuOutcome) -> None:
        """Apply one GPU's outcome to its state, reporting each change once."""
        if outcome.lost is not None:
            if not gpu.lost:
                retry_s = self._period_s * self._slow_every
                self._status(gpu.subject, f"GPU lost: {outcome.lost}; retrying every {retry_s:g} s")
            gpu.lost = True
            gpu.set_handle(None)
            return
        if gpu.lost:
            self._status(gpu.subject, "GPU recovered")
        gpu.lost = False
        gpu.set_handle(outcome.handle)
        for field, error in outcome.failures:
            self._field_failed(gpu, field, error)

    def _field_failed(self, gpu: _Gpu, field: Field, error: pynvml.NVMLError) -> None:
        unavailable = UNAVAILABLE_ERRORS.get(type(error))
        if unavailable is not None:
            gpu.drop(field)
            self._status(gpu.subject, f"{unavailable}: {field.label} ({error})")
        elif (field, type(error)) not in gpu.reported:
            gpu.reported.add((field, type(error)))
            self._status(gpu.subject, f"read failed: {field.label} ({error})")

    # -- control ------------------------------------------------------------------------------

    async def set_power_limit(self, index: int, watts: float) -> float:
        """Set GPU ``index``'s power limit; returns the limit the driver applied, read back, in W.
        Raises ``PowerLimitError`` (GPU, limit, allowed range, reason) when it was not applied
        or when the driver did not answer in time (then whether it applied is unknown)."""
        gpu = self._controllable(index, watts)
        what = f"set power limit of GPU {index}"
        args = (self._nvml, self._node, index, gpu.handle, watts)
        try:
            applied_w = await self._call(what, _set_power_limit, *args, give_up_on_hang=True)
        except DriverHungError as error:
            raise PowerLimitError(self._node, index, watts, None, str(error)) from error
        self._sink.write([gpu.key("power_limit_w")], [time.time()], [applied_w])
        return applied_w

    def _controllable(self, index: int, watts: float) -> _Gpu:
        if not math.isfinite(watts):
            reason = "not a number of watts"
        elif not 0 <= index < len(self._gpus):
            reason = "no such GPU, or NVML not running"
        elif self._gpus[index].handle is None:
            reason = "GPU lost"
        else:
            return self._gpus[index]
        raise PowerLimitError(self._node, index, watts, None, reason)

    # -- the watchdog ---------------------------------------------------------------------------

    async def _call(
        self, what: str, fn: Callable[..., Any], *args: Any, give_up_on_hang: bool = False
    ) -> Any:
        """Run ``fn(*args)`` on the worker and await it without blocking the loop. If the worker
        is stuck for ``call_timeout_s``: report it once, then either wait it out (polling: it
        resumes when the driver answers) or give up at once (``DriverHungError``)."""
        if give_up_on_hang and self._hung_since_s is not None:
            raise DriverHungError(f"{what}: NVML is stuck in an earlier call; outcome unknown")
        worker = self._worker
        assert worker is not None
        job = worker.submit(what, fn, args)
        job.watchdog = job.loop.call_later(
            self._call_timeout_s, self._watch, worker, job, give_up_on_hang
        )
        try:
            return await job.future
        finally:
            job.abandoned = True  # a job given up on before it started never runs late
            if job.watchdog is not None:
                job.watchdog.cancel()
            if job.returned:
                self._hang_over()

    def _watch(self, worker: _Worker, job: _Job, give_up: bool) -> None:
        """The watchdog: a timer per call, re-armed while the worker makes progress (a GPU
        done, a control call started); once it has been on one step for ``call_timeout_s``,
        the hang is reported, and a ``give_up`` call fails instead of waiting."""
        if job.future.done():
            return
        since_s = worker.since_s
        stuck_s = 0.0 if since_s is None else time.monotonic() - since_s
        if stuck_s < self._call_timeout_s:
            wait_s = self._call_timeout_s - stuck_s
            job.watchdog = job.loop.call_later(wait_s, self._watch, worker, job, give_up)
            return
        if self._hung_since_s is None:
            self._hung_since_s = time.monotonic()
            self._status(
                self._node,
                f"driver call hung: {worker.doing} gave no answer in {self._call_timeout_s:g} s; "
                "NVML calls paused until it returns",
            )
        if give_up:
            timeout_s = self._call_timeout_s
            job.future.set_exception(
                DriverHungError(f"{job.what}: no answer in {timeout_s:g} s; outcome unknown")
            )

    def _hang_over(self) -> None:
        if self._hung_since_s is not None:
            hung_s = time.monotonic() - self._hung_since_s
            self._hung_since_s = None
            self._status(self._node, f"driver call returned after {hung_s:.1f} s; polling again")

    def _status(self, subject: str, detail: str) -> None:
        self._sink.event(SourceEvent(self.name, "status", subject, detail))


def _init_failure(error: pynvml.NVMLError) -> str:
    """The status for an init that failed: the states an operator can act on, named plainly."""
    if isinstance(error, pynvml.NVMLError_LibraryNotFound):
        return f"no library: the NVIDIA driver's NVML library is not installed ({error})"
    if isinstance(error, pynvml.NVMLError_DriverNotLoaded):
        return f"no driver: the NVIDIA kernel driver is not loaded ({error})"
    return f"init failed: {error}"
