"""A failing source is reported and restarted; the others keep running."""

from __future__ import annotations

import asyncio

import pytest

from factoryfloor.backend.telemetry import runner
from factoryfloor.backend.telemetry.runner import run_sources
from factoryfloor.backend.telemetry.sink import RecordingSink


class Counter:
    name = "counter"

    def __init__(self, sink: RecordingSink):
        self.sink = sink

    async def run(self) -> None:
        value = 0.0
        while True:
            value += 1
            self.sink.write(["facility/tokens_per_s"], [value], [value])
            await asyncio.sleep(0)


class Broken:
    name = "broken"

    def __init__(self) -> None:
        self.starts = 0

    async def run(self) -> None:
        self.starts += 1
        raise RuntimeError("decoder bug")


@pytest.mark.asyncio
async def test_a_crashing_source_is_restarted_and_the_others_keep_going(monkeypatch) -> None:
    monkeypatch.setattr(runner, "RESTART_BACKOFF_S", (0.001, 0.004))
    sink = RecordingSink()
    broken = Broken()
    task = asyncio.create_task(run_sources([Counter(sink), broken], sink))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while broken.starts < 3 and loop.time() < deadline:
        await asyncio.sleep(0.001)
    readings_then = len(sink.readings)
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert broken.starts >= 3
    assert len(sink.readings) > readings_then > 0  # the counter never stopped
    failures = [e for e in sink.events if e.source == "broken"]
    assert failures and "RuntimeError: decoder bug" in failures[0].detail
    assert "restarting in" in failures[0].detail


class NothingHere:
    """Like NVML on a machine without GPUs: says so, then returns."""

    name = "nothing-here"

    def __init__(self, sink: RecordingSink) -> None:
        self.sink = sink
        self.starts = 0

    async def run(self) -> None:
        self.starts += 1


@pytest.mark.asyncio
async def test_a_source_that_finishes_on_purpose_is_not_restarted(monkeypatch) -> None:
    monkeypatch.setattr(runner, "RESTART_BACKOFF_S", (0.001, 0.004))
    sink = RecordingSink()
    idle = NothingHere(sink)
    counter = Counter(sink)
    task = asyncio.create_task(run_sources([counter, idle], sink))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while len(sink.readings) < 200 and loop.time() < deadline:
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert idle.starts == 1
    assert not [e for e in sink.events if e.source == "nothing-here"]
