"""Xid critical errors through NVML's event API, as the NVML source's worker calls it.

NVML reports Xid errors only as events: an event set is created once, each GPU is registered on
it for ``nvmlEventTypeXidCriticalError`` when its handle is found, and every round drains the
set without blocking (``nvmlEventSetWait_v2(set, 0)`` until it says Timeout, NVML's "no event").
Each event's ``eventData`` is the Xid code. The source counts them per GPU (``xid_total``) and
keeps the last code (``xid``); NVML itself keeps no count.

A driver or GPU without events (NotSupported, an old library without the functions, no
permission) only loses the two Xid series: everything else is read as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pynvml

from factoryfloor.backend.design.nvml_codes import XID_CODE, XID_COUNT

XID_QUANTITIES = (XID_CODE, XID_COUNT)

MAX_EVENTS_PER_ROUND = 1024
"""A storm of events is drained over several rounds, never in one unbounded loop."""


def create_event_set(nvml: Any) -> Any:
    """On the worker: a new event set (raises what NVML raised)."""
    return nvml.nvmlEventSetCreate()


def watch_xid(nvml: Any, handle: Any, event_set: Any) -> None:
    """On the worker: ``handle``'s Xid critical errors go to ``event_set`` from now on."""
    nvml.nvmlDeviceRegisterEvents(handle, pynvml.nvmlEventTypeXidCriticalError, event_set)


@dataclass(slots=True)
class XidDrain:
    """What one drain found: ``(GPU index, Xid code)`` in the order NVML reported them, and the
    error that stopped it early, if any (Timeout, the normal end, is not an error)."""

    xids: list[tuple[int, int]] = field(default_factory=list)
    error: pynvml.NVMLError | None = None


def drain_xids(nvml: Any, event_set: Any) -> XidDrain:
    """On the worker: every event waiting in ``event_set``, without waiting for more."""
    drained = XidDrain()
    for _ in range(MAX_EVENTS_PER_ROUND):
        try:
            event = nvml.nvmlEventSetWait_v2(event_set, 0)
            if event.eventType & pynvml.nvmlEventTypeXidCriticalError:
                drained.xids.append((nvml.nvmlDeviceGetIndex(event.device), int(event.eventData)))
        except pynvml.NVMLError_Timeout:
            break
        except pynvml.NVMLError as error:
            drained.error = error
            break
    return drained


def close_then_shutdown(nvml: Any, event_set: Any) -> None:
    """On the worker: free the event set (if any), then shut NVML down whatever freeing said."""
    try:
        if event_set is not None:
            nvml.nvmlEventSetFree(event_set)
    finally:
        nvml.nvmlShutdown()
