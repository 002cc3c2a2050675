"""A live history on the wire: the service's ``LiveHistory`` handed to a window that starts Run,
as raw arrays after a ``HistorySent`` envelope (no per-value encoding: at 16,384 GPUs that is
hundreds of megabytes of numbers; as bytes it is a copy)."""

from __future__ import annotations

import numpy as np

from factoryfloor.backend.service.messages import HistorySent
from factoryfloor.backend.telemetry.history import HistoryExport, LiveHistory


def history_reply(msg_id: str, history: LiveHistory,
                  with_gpus: bool = True) -> tuple[HistorySent, list[bytes]]:  # fmt: skip
    """The reply to ``GetHistory``, and the arrays that follow its envelope (without the
    per-GPU ones unless ``with_gpus``)."""
    recorded = history.export()
    if not with_gpus:
        recorded = HistoryExport(recorded.series_keys, recorded.series, {})
    reply = HistorySent(msg_id, tuple(recorded.series_keys), tuple(recorded.gpus),
                        tuple(t.columns for t in history.tiers), len(history.gpu_rows))  # fmt: skip
    parts: list[bytes] = []
    for bucket, data in recorded.series:
        parts += [bucket.astype(np.int64).tobytes(), data.astype(np.float32).tobytes()]
    for tiers in recorded.gpus.values():
        for bucket, data in tiers:
            parts += [bucket.astype(np.int64).tobytes(), data.astype(np.float16).tobytes()]
    return reply, parts


class HistoryTransferError(ValueError):
    """Parts that do not match their envelope: the window starts with no past rather than a
    wrong one."""


def read_history(reply: HistorySent, parts: list[bytes]) -> HistoryExport:
    tiers = len(reply.tier_columns)
    expected = 2 * tiers * (1 + len(reply.quantities))
    if len(parts) != expected:
        raise HistoryTransferError(f"history: {len(parts)} parts, the reply names {expected}")
    arrays = iter(parts)

    def tier_list(width: int, dtype: type) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for columns in reply.tier_columns:
            bucket = np.frombuffer(next(arrays), np.int64)
            data = np.frombuffer(next(arrays), dtype)
            if len(bucket) != columns or data.size != columns * width:
                raise HistoryTransferError(
                    f"history: a tier of {len(bucket)} columns and "
                    f"{data.size} values, expected {columns} x {width}"
                )
            out.append((bucket, data.reshape(columns, width)))
        return out

    series = tier_list(len(reply.series_keys), np.float32)
    gpus = {quantity: tier_list(reply.gpu_rows, np.float16) for quantity in reply.quantities}
    return HistoryExport(list(reply.series_keys), series, gpus)
