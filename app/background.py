"""Run blocking work (file I/O, recomputes of large halls) off the Qt thread.

Results and errors come back on the GUI thread through a queued signal, so callbacks may touch
widgets; they always run from the event loop, never inside ``submit``. Pattern after Orange3's
``concurrent`` helpers, without partial results for now.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal


class BackgroundTasks(QObject):
    _finished = Signal(object, object)  # (future, callbacks)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="factoryfloor-io")
        # Queued even when the work is already done at submit(): then add_done_callback runs the
        # emit on this thread, and a direct call would run the callbacks inside submit(),
        # before the caller has finished its own set-up.
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def submit(
        self,
        work: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> Future:
        future = self._executor.submit(work)
        future.add_done_callback(lambda done: self._finished.emit(done, (on_done, on_error)))
        return future

    def _deliver(self, future: Future, callbacks: tuple[Callable, Callable]) -> None:
        on_done, on_error = callbacks
        if future.cancelled():  # shut down before it ran: nobody waits for it any more
            return
        error = future.exception()
        if error is not None:
            on_error(error)
        else:
            on_done(future.result())

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
