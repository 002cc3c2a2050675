"""One NVML poll round, as it runs on the worker thread: every GPU's fields into one batch.

The loop hands the worker a ``GpuPoll`` per GPU (what to read, already keyed) and gets back a
``RoundReadings``: the readings as the sink's parallel columns, for one ``write`` call (per-call
overhead dominates ingest, and one timestamp per GPU read is exact enough at 4 Hz), and a
``GpuOutcome`` for each GPU with something the loop must act on. The worker only reads what it
is sent; all polling state stays on the loop.

A read that fails skips only its own quantities; one that says the GPU is gone ends that GPU's
reads, keeping the readings taken before it (they were real). A GPU whose handle is found is
registered for Xid events on the source's event set, and each round ends by draining that set
(``nvml_events``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pynvml

from factoryfloor.backend.telemetry.series import gpu_prefix
from factoryfloor.backend.telemetry.sources.nvml_events import XidDrain, drain_xids, watch_xid
from factoryfloor.backend.telemetry.sources.nvml_fields import GPU_GONE_ERRORS, Field


@dataclass(frozen=True, slots=True)
class GpuReads:
    """The fields a round reads on one GPU, in order, with their series keys. Built once per
    change (a field dropped), so a round that reads everything just appends the ready-made
    ``keys``."""

    fields: tuple[Field, ...]
    field_keys: tuple[tuple[str, ...], ...]
    keys: tuple[str, ...]

    @classmethod
    def of(cls, node: str, index: int, fields: Sequence[Field]) -> GpuReads:
        prefix = gpu_prefix(node, index)
        field_keys = tuple(tuple(prefix + q for q in f.quantities) for f in fields)
        return cls(tuple(fields), field_keys, tuple(k for keys in field_keys for k in keys))

    def keys_read(self, failures: Sequence[FieldFailure], lost: bool) -> list[str]:
        """Keys of the fields that yielded values: all but the failed, none from a loss on."""
        failed = {failure.field for failure in failures}
        stop = failures[-1].field if lost else None
        keys: list[str] = []
        for field, field_keys in zip(self.fields, self.field_keys, strict=True):
            if field is stop:
                break
            if field not in failed:
                keys += field_keys
        return keys


@dataclass(frozen=True, slots=True)
class FieldFailure:
    """A field whose read raised, and what it raised."""

    field: Field
    error: pynvml.NVMLError


@dataclass(frozen=True, slots=True)
class GpuPoll:
    """What one round asks of one GPU; ``handle`` None means find the GPU first."""

    index: int
    handle: Any
    reads: GpuReads
    label: str
    """What the watchdog reports if this GPU's reads hang."""


@dataclass(slots=True)
class GpuOutcome:
    """Anything about one GPU's reads the loop must act on (a GPU with nothing to report
    has none): a handle newly found (and whether it was registered for Xid events), failed
    fields, or the GPU gone (its error last in ``failures`` too, unless finding the GPU
    failed)."""

    index: int
    handle: Any
    failures: list[FieldFailure]
    lost: pynvml.NVMLError | None = None
    watching_xid: bool = False
    xid_refused: pynvml.NVMLError | None = None


@dataclass(slots=True)
class RoundReadings:
    """A round's readings as the sink's columns, the GPUs with something to report, and the
    Xid events drained (None without an event set)."""

    keys: list[str]
    times_s: list[float]
    values: list[float]
    outcomes: list[GpuOutcome]
    xids: XidDrain | None = None


def read_round(
    nvml: Any, polls: Sequence[GpuPoll], progress: Callable[[str], None], event_set: Any = None
) -> RoundReadings:
    """On the worker: every GPU's fields, appended to one set of columns, then the Xid events
    waiting in ``event_set`` (if any). ``progress`` is told each GPU as its reads start, so the
    watchdog's budget is per GPU, not per round: a host with 64 GPUs and 20 ms PCIe reads is
    not mistaken for a hung driver."""
    result = RoundReadings([], [], [], [])
    for poll in polls:
        progress(poll.label)
        outcome = _read_gpu(nvml, poll, result, event_set)
        if outcome is not None:
            result.outcomes.append(outcome)
    if event_set is not None:
        progress("Xid events")
        result.xids = drain_xids(nvml, event_set)
    return result


def _read_gpu(nvml: Any, poll: GpuPoll, out: RoundReadings, event_set: Any) -> GpuOutcome | None:
    """One GPU's fields into ``out``, all stamped with the time its reads began; a GPU newly
    found is registered for Xid events first."""
    handle, outcome = poll.handle, None
    if handle is None:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(poll.index)
        except pynvml.NVMLError as error:
            return GpuOutcome(poll.index, None, [], lost=error)
        outcome = GpuOutcome(poll.index, handle, [])
        if event_set is not None:
            try:
                watch_xid(nvml, handle, event_set)
                outcome.watching_xid = True
            except pynvml.NVMLError as error:
                outcome.xid_refused = error
    read_s, values = time.time(), out.values
    first = len(values)
    for field in poll.reads.fields:
        try:
            field.read(nvml, handle, values)
        except pynvml.NVMLError as error:
            outcome = outcome or GpuOutcome(poll.index, handle, [])
            outcome.failures.append(FieldFailure(field, error))
            if isinstance(error, GPU_GONE_ERRORS):
                outcome.lost = error
                break
    if outcome is None or not outcome.failures:
        out.keys += poll.reads.keys
    else:
        out.keys += poll.reads.keys_read(outcome.failures, outcome.lost is not None)
    out.times_s += itertools.repeat(read_s, len(values) - first)
    return outcome
