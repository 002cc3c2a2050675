"""Background work delivers its result on the GUI thread, from the event loop."""

from __future__ import annotations

import threading

from factoryfloor.app.background import BackgroundTasks


def test_result_arrives_on_the_gui_thread_after_submit_returns(qtbot) -> None:
    tasks = BackgroundTasks()
    delivered: list[tuple[int, int]] = []
    future = tasks.submit(lambda: 42, lambda r: delivered.append((r, threading.get_ident())),
                          lambda e: None)  # fmt: skip
    future.result(timeout=10)
    # Done on the worker, yet not delivered: the callback waits for the event loop, so a caller
    # that connects signals after submit() never misses the result.
    assert delivered == []
    qtbot.waitUntil(lambda: bool(delivered), timeout=5000)
    assert delivered == [(42, threading.get_ident())]
    tasks.shutdown()


def test_errors_arrive_as_exceptions_on_the_gui_thread(qtbot) -> None:
    tasks = BackgroundTasks()
    errors: list[BaseException] = []

    def fail() -> None:
        raise OSError("disk gone")

    tasks.submit(fail, lambda r: None, errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert isinstance(errors[0], OSError) and "disk gone" in str(errors[0])
    tasks.shutdown()


def test_work_cancelled_at_shutdown_is_dropped_quietly(qtbot) -> None:
    """Closing the window cancels queued work; its callbacks must not run, nor raise."""
    tasks = BackgroundTasks()
    release = threading.Event()
    calls: list[str] = []
    tasks.submit(release.wait, lambda r: calls.append("first"), lambda e: calls.append("err"))
    tasks.submit(release.wait, lambda r: calls.append("second"), lambda e: calls.append("err"))
    queued = tasks.submit(lambda: 1, lambda r: calls.append("queued"), lambda e: calls.append("e"))
    tasks.shutdown()  # the third job had not started: it is cancelled
    release.set()
    qtbot.waitUntil(lambda: sorted(calls) == ["first", "second"], timeout=5000)
    assert queued.cancelled()
