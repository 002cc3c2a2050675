"""The NVML telemetry source: every local GPU's readings, and its power limit, through NVML.

Built around what NVML does on a real H100 (design notes, section 4):

- NVML is blocking C and a call can hang inside the driver, so *every* NVML call (init, polls,
  control, shutdown) runs on one ``HangSafeWorker`` thread and the asyncio loop only ever
  awaits futures. A GPU's reads (or a single control call) taking longer than
  ``call_timeout_s`` is reported as "driver call hung". Polling then waits, without blocking
  the loop, for that call to return, and reports when it does; control calls do not wait: they
  fail with an error saying the outcome is unknown (at once while a hang is known).
- Cheap fields are read at ``fast_hz``; expensive ones (``Field.slow``: energy, PCIe, power
  limits) at ``slow_hz``, every ``round(fast_hz / slow_hz)``-th round, the first round included.
- Every field is optional. NotSupported (and a missing function or permission) drops that
  field for that GPU, reported once; other read errors skip the reading and are reported once
  per GPU, field and error. GpuIsLost / Unknown / ResetRequired mark the GPU lost; the others
  keep reporting and the lost one is retried (handle included) on every slow round.
- Each round's readings, all GPUs together, go to the sink in one ``write`` call
  (``nvml_round``).
- Xid critical errors come as NVML events: each GPU is registered on one event set when found,
  and each round drains it without blocking; every GPU registered reports ``xid`` (the last
  code, 0 for none yet) and ``xid_total`` (counted since the source started) each round
  (``nvml_events``). Events NotSupported drop only those two series.

What is read and how is the field table, ``nvml_fields``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import pynvml

from factoryfloor.backend.design.nvml_codes import XID_CODE, XID_COUNT
from factoryfloor.backend.telemetry.series import gpu_key, gpu_subject
from factoryfloor.backend.telemetry.sink import SourceEvent, TelemetrySink
from factoryfloor.backend.telemetry.sources.hang_safe import DriverHungError, HangSafeWorker
from factoryfloor.backend.telemetry.sources.nvml_events import (
    XID_QUANTITIES,
    close_then_shutdown,
    create_event_set,
)
from factoryfloor.backend.telemetry.sources.nvml_fields import FIELDS, UNAVAILABLE_ERRORS, Field
from factoryfloor.backend.telemetry.sources.nvml_round import (
    GpuOutcome,
    GpuPoll,
    GpuReads,
    RoundReadings,
    read_round,
)

T = TypeVar("T")


class PowerLimitRange(NamedTuple):
    """The power limits NVML allows a GPU, in W."""

    min_w: float
    max_w: float


class PowerLimitError(RuntimeError):
    """A power-limit change that did not happen, or whose outcome is unknown. The message
    names the GPU, the limit asked for and the range NVML allows, for operators and the audit
    log; the same facts are attributes for code."""

    def __init__(
        self,
        node: str,
        index: int,
        requested_w: float,
        allowed_w: PowerLimitRange | None,
        reason: str,
    ) -> None:
        self.node = node
        self.index = index
        self.requested_w = requested_w
        self.allowed_w = allowed_w
        self.reason = reason
        allowed = (
            f"allowed {allowed_w.min_w:g}-{allowed_w.max_w:g} W"
            if allowed_w
            else "allowed range unknown"
        )
        limit = f"GPU {index} on {node}: power limit {requested_w:g} W"
        super().__init__(f"{limit}: {reason}; {allowed}")


# -- what runs on the worker, besides the rounds --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Opened:
    """What NVML reports once initialised: the event set for Xid errors, or why there is
    none."""

    driver_version: str
    gpu_count: int
    event_set: Any
    events_refused: pynvml.NVMLError | None


def _open_nvml(nvml: Any) -> _Opened:
    """On the worker: init, and what NVML sees. Handles come with the first round."""
    nvml.nvmlInit()
    driver, count = nvml.nvmlSystemGetDriverVersion(), nvml.nvmlDeviceGetCount()
    try:
        return _Opened(driver, count, create_event_set(nvml), None)
    except pynvml.NVMLError as error:
        return _Opened(driver, count, None, error)


def _allowed_range_w(nvml: Any, handle: Any) -> PowerLimitRange | None:
    try:
        low_mw, high_mw = nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle)
    except pynvml.NVMLError:
        return None
    return PowerLimitRange(low_mw / 1000.0, high_mw / 1000.0)


def _refusal(error: pynvml.NVMLError) -> str:
    if isinstance(error, pynvml.NVMLError_NoPermission):
        return f"refused ({error}): changing a power limit needs root (Administrator on Windows)"
    if isinstance(error, pynvml.NVMLError_InvalidArgument):
        return f"rejected ({error}): outside the allowed range"
    return f"failed ({error})"


def _set_power_limit(nvml: Any, handle: Any, node: str, index: int, watts: float) -> float:
    """On the worker: write the limit, then read back the limit the driver enforces (it may
    round, another limit may be lower, and the limit does not survive a reboot, so the
    read-back is the truth)."""
    try:
        nvml.nvmlDeviceSetPowerManagementLimit(handle, round(watts * 1000.0))
        return nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0
    except pynvml.NVMLError as error:
        allowed_w = _allowed_range_w(nvml, handle)
        raise PowerLimitError(node, index, watts, allowed_w, _refusal(error)) from error


class GpuUnreachable(RuntimeError):
    """A control call for a GPU the source cannot reach now: no such index, NVML not running,
    or the GPU lost (``lost``)."""

    def __init__(self, reason: str, lost: bool = False) -> None:
        super().__init__(reason)
        self.lost = lost


# -- the source ----------------------------------------------------------------------------------


class _Gpu:
    """One GPU's polling state. Owned by the loop; the worker only reads the polls it is sent,
    which are rebuilt (not changed) when the handle or the fields change."""

    def __init__(self, node: str, index: int) -> None:
        self.node = node
        self.index = index
        self.subject = gpu_subject(node, index)
        self.handle: Any = None
        self.lost = False
        self.reported: set[tuple[Field | str, type]] = set()
        self.watching_xid = False
        self.last_xid = 0
        self.xid_total = 0
        self.xid_keys = (self.key(XID_CODE), self.key(XID_COUNT))
        self._fields = list(FIELDS)
        self._rebuild()

    def key(self, quantity: str) -> str:
        return gpu_key(self.node, self.index, quantity)

    def set_handle(self, handle: Any) -> None:
        if handle is not self.handle:
            self.handle = handle
            self._rebuild()

    def drop(self, field: Field) -> None:
        self._fields.remove(field)
        self._rebuild()

    def poll(self, slow: bool) -> GpuPoll | None:
        """This round's request, or None: a GPU without a handle is only tried on slow rounds."""
        if self.handle is None and not slow:
            return None
        return self._polls[slow]

    def _rebuild(self) -> None:
        fast = GpuReads.of(self.node, self.index, [f for f in self._fields if not f.slow])
        full = GpuReads.of(self.node, self.index, self._fields)
        label = f"GPU {self.index}"
        self._polls = (
            GpuPoll(self.index, self.handle, fast, label),
            GpuPoll(self.index, self.handle, full, label),
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
        self._worker: HangSafeWorker | None = None
        self._gpus: list[_Gpu] = []
        self._event_set: Any = None
        self._drain_reported: set[type] = set()

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> None:
        """Init, then poll until cancelled; on the way out, NVML is shut down unless a call is
        still stuck in the driver (then the stuck worker is kept for the next run, not doubled)."""
        if self._worker is None:
            self._worker = HangSafeWorker(
                thread_name="nvml-worker",
                library="NVML",
                timeout_s=self._call_timeout_s,
                on_hung=self._report_hung,
                on_returned=self._report_returned,
            )
        else:  # still stuck from the last run: this run reports the hang as its own
            self._worker.forget_hang()
        initialised = False
        try:
            initialised = await self._open()
            await self._poll_forever()
        finally:
            await self._close(initialised)

    async def _open(self) -> bool:
        """Init NVML and learn the GPUs; False if NVML could not be initialised at all."""
        try:
            opened: _Opened = await self._running_worker().call("init", _open_nvml, self._nvml)
        except pynvml.NVMLError as error:
            self._status(self._node, _init_failure(error))
            return False
        count, driver = opened.gpu_count, opened.driver_version
        self._gpus = [_Gpu(self._node, index) for index in range(count)]
        self._event_set = opened.event_set
        if opened.events_refused is not None:
            self._status(self._node, _unavailable("Xid events", opened.events_refused))
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
        event_set, self._event_set = self._event_set, None
        worker = self._worker
        if worker is None or worker.hung:
            return
        if initialised:
            with contextlib.suppress(pynvml.NVMLError, DriverHungError):  # leaving anyway
                await worker.call("shutdown", close_then_shutdown, self._nvml, event_set,
                                  give_up_on_hang=True)  # fmt: skip
        if not worker.hung:
            worker.close()
            self._worker = None

    def _running_worker(self) -> HangSafeWorker:
        """The worker: made at the start of ``run``, ended once NVML is shut down (or kept,
        stuck, for the next run)."""
        worker = self._worker
        assert worker is not None, "NVML calls are made only while the source runs"
        return worker

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
        worker = self._running_worker()
        result: RoundReadings = await worker.call(
            "poll", read_round, self._nvml, polls, worker.progress, self._event_set
        )
        for outcome in result.outcomes:
            self._settle(self._gpus[outcome.index], outcome)
        if result.xids is not None:
            self._add_xids(result)
        if result.keys:
            self._sink.write(result.keys, result.times_s, result.values)

    def _add_xids(self, result: RoundReadings) -> None:
        """Count the Xid events drained, and add each registered GPU's Xid series to the
        round's readings, stamped with the drain's time: the count is written every round, not
        only when it changes, so it never goes stale between errors."""
        assert result.xids is not None
        for index, code in result.xids.xids:
            if 0 <= index < len(self._gpus):
                gpu = self._gpus[index]
                gpu.last_xid, gpu.xid_total = code, gpu.xid_total + 1
        error = result.xids.error
        if error is not None and type(error) not in self._drain_reported:
            self._drain_reported.add(type(error))
            self._status(self._node, f"read failed: Xid events ({error})")
        first = len(result.values)
        for gpu in self._gpus:
            if gpu.watching_xid:
                result.keys += gpu.xid_keys
                result.values += (gpu.last_xid, gpu.xid_total)
        result.times_s += [time.time()] * (len(result.values) - first)

    def _settle(self, gpu: _Gpu, outcome: GpuOutcome) -> None:
        """Apply one GPU's outcome to its state, reporting each change once."""
        if outcome.lost is not None:
            if not gpu.lost:
                retry_s = self._period_s * self._slow_every
                self._status(gpu.subject, f"GPU lost: {outcome.lost}; retrying every {retry_s:g} s")
            gpu.lost = True
            gpu.watching_xid = False  # a handle found again is registered again
            gpu.set_handle(None)
            return
        if gpu.lost:
            self._status(gpu.subject, "GPU recovered")
        gpu.lost = False
        gpu.set_handle(outcome.handle)
        gpu.watching_xid |= outcome.watching_xid
        if outcome.xid_refused is not None:
            self._xid_refused(gpu, outcome.xid_refused)
        for failure in outcome.failures:
            self._field_failed(gpu, failure.field, failure.error)

    def _field_failed(self, gpu: _Gpu, field: Field, error: pynvml.NVMLError) -> None:
        if type(error) in UNAVAILABLE_ERRORS:
            gpu.drop(field)
            self._status(gpu.subject, _unavailable(field.label, error))
        elif (field, type(error)) not in gpu.reported:
            gpu.reported.add((field, type(error)))
            self._status(gpu.subject, f"read failed: {field.label} ({error})")

    def _xid_refused(self, gpu: _Gpu, error: pynvml.NVMLError) -> None:
        """Registering for Xid events failed: that GPU has no Xid series (asked again only if
        its handle is found again), reported once per error."""
        if ("xid", type(error)) not in gpu.reported:
            gpu.reported.add(("xid", type(error)))
            self._status(gpu.subject, _unavailable(", ".join(XID_QUANTITIES), error))

    # -- control ------------------------------------------------------------------------------

    @property
    def node(self) -> str:
        """The host whose GPUs this source reads (and may change)."""
        return self._node

    @property
    def gpu_count(self) -> int:
        """How many GPUs NVML listed when the source started (0 while not running)."""
        return len(self._gpus)

    async def on_gpu(self, index: int, what: str, call: Callable[..., T], *args: Any) -> T:
        """Run ``call(nvml, handle, *args)`` for GPU ``index`` on the NVML worker, as every NVML
        call runs, without waiting on a hung driver: ``DriverHungError`` then says the outcome
        is unknown. ``GpuUnreachable`` when the GPU is not there to ask; NVML's own errors as
        raised."""
        if not 0 <= index < len(self._gpus):
            raise GpuUnreachable("no such GPU, or NVML not running")
        gpu = self._gpus[index]
        if gpu.lost:
            raise GpuUnreachable("GPU lost", lost=True)
        if gpu.handle is None:
            raise GpuUnreachable("GPU not found yet: NVML is starting")
        return await self._running_worker().call(
            what, call, self._nvml, gpu.handle, *args, give_up_on_hang=True
        )

    async def set_power_limit(self, index: int, watts: float) -> float:
        """Set GPU ``index``'s power limit; returns the limit the driver enforces, read back, in
        W. Raises ``PowerLimitError`` (GPU, limit, allowed range, reason; the cause is the NVML
        error, ``GpuUnreachable`` or ``DriverHungError``) when it was not applied or when the
        driver did not answer in time (then whether it applied is unknown)."""
        if not math.isfinite(watts):
            raise PowerLimitError(self._node, index, watts, None, "not a number of watts")
        what = f"set power limit of GPU {index}"
        try:
            applied_w = await self.on_gpu(index, what, _set_power_limit, self._node, index, watts)
        except (DriverHungError, GpuUnreachable) as error:
            raise PowerLimitError(self._node, index, watts, None, str(error)) from error
        self._sink.write([self._gpus[index].key("power_limit_w")], [time.time()], [applied_w])
        return applied_w

    # -- reports --------------------------------------------------------------------------------

    def _report_hung(self, doing: str) -> None:
        self._status(
            self._node,
            f"driver call hung: {doing} gave no answer in {self._call_timeout_s:g} s; "
            "NVML calls paused until it returns",
        )

    def _report_returned(self, hung_s: float) -> None:
        self._status(self._node, f"driver call returned after {hung_s:.1f} s; polling again")

    def _status(self, subject: str, detail: str) -> None:
        self._sink.event(SourceEvent(self.name, "status", subject, detail))


def _unavailable(what: str, error: pynvml.NVMLError) -> str:
    """``not supported: mem_temp_c (Not Supported)``: what an unavailable read is reported as;
    errors that are not in ``UNAVAILABLE_ERRORS`` are ``failed``."""
    return f"{UNAVAILABLE_ERRORS.get(type(error), 'failed')}: {what} ({error})"


def _init_failure(error: pynvml.NVMLError) -> str:
    """The status for an init that failed: the states an operator can act on, named plainly."""
    if isinstance(error, pynvml.NVMLError_LibraryNotFound):
        return f"no library: the NVIDIA driver's NVML library is not installed ({error})"
    if isinstance(error, pynvml.NVMLError_DriverNotLoaded):
        return f"no driver: the NVIDIA kernel driver is not loaded ({error})"
    return f"init failed: {error}"
