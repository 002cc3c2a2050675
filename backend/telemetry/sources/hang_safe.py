"""Blocking calls into a library that can hang, made from asyncio without blocking the loop.

Some C libraries block, and a call can hang inside the driver for seconds or for good (NVML is
the case that shaped this module). ``HangSafeWorker`` runs such calls one at a time, in
submission order, on one dedicated thread; the asyncio loop only ever awaits futures. Nothing
here knows which library it calls.

- The thread is a daemon rather than a ``ThreadPoolExecutor`` worker because executor threads
  are joined at interpreter exit: one call stuck in the driver would hang the process's exit
  as well.
- A watchdog on the loop times the worker's *progress*, not whole calls: a job made of many
  steps (one per GPU, say) calls ``progress`` before each, and only one step lasting longer
  than ``timeout_s`` counts as a hang, so a long job of many slow but healthy steps is not
  mistaken for a hung driver.
- A hang is reported once (``on_hung``). No second thread is ever started while one is stuck
  in the driver: it would most likely get stuck too, and they would pile up. Each call says
  what to do meanwhile: wait until the library answers (the default: a poll that resumes by
  itself), or give up (``give_up_on_hang``: a control call whose caller must not wait): fail
  with ``DriverHungError``, its outcome unknown, as soon as the hang is seen, and at once
  while one is known. Once the stuck call returns, the same thread carries on, and the next
  call to return reports how long the hang lasted (``on_returned``).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any


class DriverHungError(RuntimeError):
    """A call gave no answer within the watchdog's time; whether it took effect is unknown."""


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


class HangSafeWorker:
    """One daemon thread that makes a library's blocking calls, and the watchdog that tells a
    slow call from a stuck one.

    ``library`` names what is called, in error messages ("NVML is stuck in an earlier call").
    ``on_hung(doing)`` is told, once per hang, what the worker was doing when it stopped
    progressing; ``on_returned(hung_s)`` is told how long the hang lasted once it is over.
    Both run on the loop of the call that met the hang. Each call answers on its own loop, so a
    worker kept stuck past one ``asyncio.run`` can serve the next.
    """

    def __init__(
        self,
        *,
        thread_name: str,
        library: str,
        timeout_s: float,
        on_hung: Callable[[str], None],
        on_returned: Callable[[float], None],
    ) -> None:
        self._library = library
        self._timeout_s = timeout_s
        self._on_hung = on_hung
        self._on_returned = on_returned
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._hung_since_s: float | None = None
        self._doing = ""
        self._progress_s: float | None = None
        """``time.monotonic()`` of the worker's last progress; None while idle."""
        threading.Thread(target=self._serve, name=thread_name, daemon=True).start()

    @property
    def hung(self) -> bool:
        """A hang has been reported and its call has not been seen to return yet."""
        return self._hung_since_s is not None

    async def call(
        self, what: str, fn: Callable[..., Any], *args: Any, give_up_on_hang: bool = False
    ) -> Any:
        """Run ``fn(*args)`` on the worker and await it without blocking the loop; ``what``
        names it in reports. If the worker is stuck for ``timeout_s``: report it once, then
        either wait it out, or (``give_up_on_hang``) raise ``DriverHungError`` at once; such a
        call is refused up front while a hang is known."""
        if give_up_on_hang and self._hung_since_s is not None:
            raise DriverHungError(
                f"{what}: {self._library} is stuck in an earlier call; outcome unknown"
            )
        job = _Job(what, fn, args)
        self._jobs.put(job)
        job.watchdog = job.loop.call_later(self._timeout_s, self._watch, job, give_up_on_hang)
        try:
            return await job.future
        finally:
            job.abandoned = True  # a job given up on before it started never runs late
            if job.watchdog is not None:
                job.watchdog.cancel()
            if job.returned:
                self._hang_over()

    def progress(self, doing: str) -> None:
        """On the worker, from inside a job: a new step starts, with a fresh ``timeout_s``;
        ``doing`` is what a hang in it is reported as."""
        self._doing, self._progress_s = doing, time.monotonic()

    def forget_hang(self) -> None:
        """Treat a hang already reported as news: the next call that meets it reports it
        again. For a new period of use of a worker kept stuck from the last one, whose
        reports should stand on their own."""
        self._hung_since_s = None

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
            self._progress_s = None
            with contextlib.suppress(RuntimeError):  # loop closed: nobody is waiting any more
                job.loop.call_soon_threadsafe(job.deliver, result, error)

    def _watch(self, job: _Job, give_up: bool) -> None:
        """The watchdog: a timer per call, re-armed while the worker makes progress (a step
        done, a job started); once it has been on one step for ``timeout_s``, the hang is
        reported, and a ``give_up`` call fails instead of waiting."""
        if job.future.done():
            return
        progress_s = self._progress_s
        stuck_s = 0.0 if progress_s is None else time.monotonic() - progress_s
        if stuck_s < self._timeout_s:
            wait_s = self._timeout_s - stuck_s
            job.watchdog = job.loop.call_later(wait_s, self._watch, job, give_up)
            return
        if self._hung_since_s is None:
            self._hung_since_s = time.monotonic()
            self._on_hung(self._doing)
        if give_up:
            job.future.set_exception(
                DriverHungError(f"{job.what}: no answer in {self._timeout_s:g} s; outcome unknown")
            )

    def _hang_over(self) -> None:
        if self._hung_since_s is not None:
            hung_s = time.monotonic() - self._hung_since_s
            self._hung_since_s = None
            self._on_returned(hung_s)
