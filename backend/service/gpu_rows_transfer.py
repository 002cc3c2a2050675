"""GPU rows on the wire: a view's ``GpuRowsQuery`` as a ``QueryGpuRows`` command, answered from
the service's live history as a ``GpuRowsSent`` envelope and two raw arrays (the worst values
and the GPU row of each), as ``history_transfer`` sends the history."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from factoryfloor.backend.service.client import ServiceClient
from factoryfloor.backend.service.messages import GpuRowsSent, QueryGpuRows
from factoryfloor.backend.telemetry.gpu_rows import (
    GpuRows,
    GpuRowsAnswered,
    GpuRowsQuery,
    GpuRowsQueryError,
    answer,
    no_readings,
)
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.backend.telemetry.protocol import Refused, Reply


def gpu_rows_reply(request: QueryGpuRows, history: LiveHistory) -> tuple[Reply, list[bytes]]:
    """The service's answer to ``request``, and the arrays after its envelope; a refusal that
    names the field for a query out of range. The service runs it off its loop (a whole hall of
    131,072 GPUs takes 150 ms), so a frame may be recorded while it reads: at worst the newest
    column is read half old, half new, and a view reads that column again on its next frame."""
    try:
        rows = answer(history, request.query)
    except GpuRowsQueryError as error:
        return Refused(request.msg_id, f"GPU rows: {error}"), []
    columns, reduced = rows.values.shape
    return GpuRowsSent(request.msg_id, columns, reduced), [
        np.ascontiguousarray(rows.values, np.float32).tobytes(),
        np.ascontiguousarray(rows.gpu_rows, np.int32).tobytes(),
    ]


class GpuRowsTransferError(ValueError):
    """Parts that do not match their envelope or the query: the answer is dropped."""


def read_gpu_rows(query: GpuRowsQuery, reply: GpuRowsSent, parts: list[bytes]) -> GpuRows:
    shape = (query.columns, query.reduced_rows)
    if (reply.columns, reply.rows) != shape or len(parts) != 2:
        raise GpuRowsTransferError(
            f"GPU rows: {reply.columns} x {reply.rows} in {len(parts)} parts, the query asked "
            f"for {shape[0]} x {shape[1]}"
        )
    values = np.frombuffer(parts[0], np.float32)
    gpu_rows = np.frombuffer(parts[1], np.int32)
    if values.size != shape[0] * shape[1] or gpu_rows.size != values.size:
        raise GpuRowsTransferError(f"GPU rows: {values.size} values and {gpu_rows.size} rows, "
                                   f"expected {shape[0] * shape[1]}")  # fmt: skip
    return GpuRows(query, values.reshape(shape), gpu_rows.reshape(shape))


class ServiceGpuRows:
    """A ``GpuRowsSource`` over a window's link to its service: each ``ask`` is a command, and
    its answer comes when the window next polls the link. ``link`` says which link is current
    (an embedded service restarted has a new one). With no link, or a silent one, the answer is
    at once that no GPU has a reading: the views show the gap rather than the last picture
    held; so are the questions still open on a link that is gone (``link_lost``). A refused
    or malformed answer is passed to ``on_problem`` and never answered."""

    def __init__(self, link: Callable[[], ServiceClient | None],
                 on_problem: Callable[[str], None] = lambda _: None) -> None:  # fmt: skip
        self._link = link
        self._on_problem = on_problem
        self._open: dict[int, tuple[GpuRowsQuery, GpuRowsAnswered]] = {}
        """Questions sent and not yet answered, by number."""
        self._asked = 0

    def ask(self, query: GpuRowsQuery, on_answer: GpuRowsAnswered) -> None:
        link = self._link()
        if link is None or link.silent:
            on_answer(no_readings(query))
            return

        self._asked += 1
        number = self._asked
        self._open[number] = (query, on_answer)

        def take(reply: Reply, parts: list[bytes]) -> None:
            if self._open.pop(number, None) is None:
                return  # answered already, as lost
            if isinstance(reply, Refused):
                self._on_problem(reply.reason)
            elif isinstance(reply, GpuRowsSent):
                try:
                    rows = read_gpu_rows(query, reply, parts)
                except GpuRowsTransferError as error:
                    self._on_problem(str(error))
                    return
                on_answer(rows)

        link.send(QueryGpuRows(query), take)

    def link_lost(self) -> None:
        """The link the open questions went on is gone (the service died): they are answered
        now, with no readings, instead of never."""
        questions, self._open = self._open, {}
        for query, on_answer in questions.values():
            on_answer(no_readings(query))
