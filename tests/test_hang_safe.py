"""The hang-safe worker on its own, with plain Python functions standing in for a library:
answers and errors reach the caller, a stuck call is reported once and never blocks the loop,
a caller chooses to wait or to give up, and progress within a job is not mistaken for a hang.
Stuck calls block on events the test sets; every wait is bounded."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from factoryfloor.backend.telemetry.sources.hang_safe import DriverHungError, HangSafeWorker

WAIT_S = 10.0
"""Upper bound on every wait: generous for a loaded CI machine, reached only on failure."""


class Reports:
    """What the worker reported, in order."""

    def __init__(self) -> None:
        self.hung: list[str] = []
        self.returned_s: list[float] = []


def make_worker(reports: Reports, timeout_s: float, name: str = "test-worker") -> HangSafeWorker:
    return HangSafeWorker(
        thread_name=name,
        library="the library",
        timeout_s=timeout_s,
        on_hung=reports.hung.append,
        on_returned=reports.returned_s.append,
    )


def threads_named(name: str) -> int:
    return sum(t.name == name for t in threading.enumerate())


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.002)


@pytest.mark.asyncio
async def test_answers_and_errors_reach_the_caller_in_submission_order_on_one_thread() -> None:
    worker = make_worker(Reports(), timeout_s=WAIT_S, name="order-worker")
    ran_on: list[str] = []

    def note(value: int) -> int:
        ran_on.append(threading.current_thread().name)
        return value * 2

    def fail() -> None:
        raise ValueError("refused")

    try:
        answers = await asyncio.gather(*(worker.call(f"job {i}", note, i) for i in range(5)))
        with pytest.raises(ValueError, match="refused"):
            await worker.call("failing job", fail)
    finally:
        worker.close()
    assert answers == [0, 2, 4, 6, 8]
    assert ran_on == ["order-worker"] * 5
    await until(lambda: threads_named("order-worker") == 0)  # close ends the thread


@pytest.mark.asyncio
async def test_a_stuck_call_is_reported_once_waiters_wait_and_givers_up_fail_at_once() -> None:
    reports = Reports()
    worker = make_worker(reports, timeout_s=0.2, name="stuck-worker")
    release = threading.Event()
    try:
        waiting = asyncio.create_task(worker.call("stuck read", release.wait, WAIT_S))
        await until(lambda: reports.hung == ["stuck read"])
        assert worker.hung and not waiting.done()
        async with asyncio.timeout(1.0):  # refused up front, not after another timeout
            with pytest.raises(DriverHungError, match="the library is stuck in an earlier call"):
                await worker.call("control", lambda: None, give_up_on_hang=True)
        queued = asyncio.create_task(worker.call("queued read", lambda: "late answer"))
        assert threads_named("stuck-worker") == 1  # no second thread while one is stuck
        release.set()
        assert await waiting is True
        assert await queued == "late answer"
    finally:
        release.set()
        worker.close()
    assert reports.hung == ["stuck read"]  # once, however many calls met it
    assert len(reports.returned_s) == 1 and reports.returned_s[0] > 0
    assert not worker.hung


@pytest.mark.asyncio
async def test_a_call_that_gives_up_fails_after_the_timeout_with_its_outcome_unknown() -> None:
    reports = Reports()
    worker = make_worker(reports, timeout_s=0.2)
    release = threading.Event()
    try:
        with pytest.raises(DriverHungError, match=r"set limit: no answer in 0\.2 s; outcome"):
            await worker.call("set limit", release.wait, WAIT_S, give_up_on_hang=True)
        assert reports.hung == ["set limit"] and worker.hung
        release.set()
        assert await worker.call("next", lambda: 1) == 1  # the same thread carries on
    finally:
        release.set()
        worker.close()
    assert len(reports.returned_s) == 1 and not worker.hung


@pytest.mark.asyncio
async def test_steps_each_within_the_timeout_are_progress_not_a_hang() -> None:
    reports = Reports()
    worker = make_worker(reports, timeout_s=0.6)
    steps = 12

    def many_steps() -> float:
        started_s = time.monotonic()
        for step in range(steps):
            worker.progress(f"step {step}")
            time.sleep(0.1)  # a slow but healthy library call
        return time.monotonic() - started_s

    try:
        took_s = await worker.call("many steps", many_steps)
    finally:
        worker.close()
    assert took_s > 0.6  # the whole job outlasted the timeout ...
    assert reports.hung == []  # ... but no one step did


@pytest.mark.asyncio
async def test_a_forgotten_hang_is_reported_again_by_the_next_call_that_meets_it() -> None:
    reports = Reports()
    worker = make_worker(reports, timeout_s=0.2)
    release = threading.Event()
    try:
        stuck = asyncio.create_task(worker.call("stuck read", release.wait, WAIT_S))
        await until(lambda: len(reports.hung) == 1)
        stuck.cancel()  # its caller leaves; the call stays stuck in the library
        worker.forget_hang()
        assert not worker.hung
        after = asyncio.create_task(worker.call("init", lambda: "ok"))
        await until(lambda: len(reports.hung) == 2)
        assert reports.hung == ["stuck read", "stuck read"]  # what the worker is stuck in
        release.set()
        assert await after == "ok"
    finally:
        release.set()
        worker.close()
        await asyncio.gather(stuck, return_exceptions=True)
    assert len(reports.returned_s) == 1
