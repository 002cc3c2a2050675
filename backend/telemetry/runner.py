"""Runs every telemetry source on one asyncio loop, supervised.

A source is anything with a ``name`` and an ``async run()`` that goes on until cancelled, or
returns when it has nothing to do here (NVML on a machine with no GPU, having said so). If one
raises, the operator sees why (a ``status`` event) and it is restarted after a backoff, so a
bug or an unexpected error in one source never stops the others or the store.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Protocol

from factoryfloor.backend.telemetry.sink import SourceEvent, TelemetrySink

RESTART_BACKOFF_S = (1.0, 60.0)
"""First and longest wait before restarting a source that failed, doubling in between."""


class Source(Protocol):
    name: str

    async def run(self) -> None: ...


async def supervise(source: Source, sink: TelemetrySink) -> None:
    """Run ``source`` until cancelled, restarting it with jittered exponential backoff."""
    delay_s = RESTART_BACKOFF_S[0]
    while True:
        try:
            await source.run()
            return  # finished on purpose (e.g. no NVML library here); it said why itself
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any bug in one source must not stop the others
            detail = f"failed: {type(error).__name__}: {error}"
        wait_s = delay_s * random.uniform(0.8, 1.2)
        sink.event(SourceEvent(source.name, "status", source.name,
                               f"{detail}; restarting in {wait_s:.0f} s"))  # fmt: skip
        await asyncio.sleep(wait_s)
        delay_s = min(delay_s * 2, RESTART_BACKOFF_S[1])


async def run_sources(sources: Sequence[Source], sink: TelemetrySink) -> None:
    """Run all sources concurrently until cancelled."""
    async with asyncio.TaskGroup() as group:
        for source in sources:
            group.create_task(supervise(source, sink), name=f"source:{source.name}")
