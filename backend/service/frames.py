"""A frame on the wire: the latest reading of every series, as the service publishes it.

Parts after the topic: a JSON header, then the times (float64), values (float32), DSX
qualities (uint8) and stale flags (bool) of the first ``count`` series as raw bytes, in the
order of the service's keys. The window takes numpy views of the received bytes: no parsing,
no copy (at 16,384 GPUs x 6 quantities a frame is 1.4 MB). ``keys_count`` in the header tells a
window that new series appeared before their keys reached it, so it asks for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from factoryfloor.backend.service.messages import TOPIC_FRAME
from factoryfloor.backend.telemetry.store import Snapshot

_ARRAYS = (("times_s", np.float64), ("values", np.float32), ("qualities", np.uint8),
           ("stale", np.bool_))  # fmt: skip


@dataclass(frozen=True, slots=True)
class FrameHeader:
    seq: int
    sent_s: float
    """Service clock when the frame was made: the window measures the link's latency by it."""
    count: int
    service_id: str
    design_version: int


@dataclass(frozen=True, slots=True)
class Frame:
    """The latest reading of every series the service knows, as parallel arrays. ``keys`` is
    the same list object from frame to frame until the keys change, so views that map keys to
    columns notice a change by identity instead of comparing strings."""

    keys: list[str]
    times_s: np.ndarray
    values: np.ndarray
    qualities: np.ndarray
    stale: np.ndarray

    def value(self, key: str) -> float | None:
        try:
            index = self.keys.index(key)
        except ValueError:
            return None
        return float(self.values[index])


def frame_parts(header: FrameHeader, snap: Snapshot) -> list[bytes]:
    """The multipart message of one frame (topic first)."""
    head = json.dumps({"seq": header.seq, "sent_s": header.sent_s, "count": header.count,
                       "service_id": header.service_id,
                       "design_version": header.design_version}).encode()  # fmt: skip
    arrays = [np.ascontiguousarray(getattr(snap, name), dtype) for name, dtype in _ARRAYS]
    return [TOPIC_FRAME, head, *(array.tobytes() for array in arrays)]


class FrameError(ValueError):
    """A frame that does not read as one: the window skips it and says why once."""


def read_frame(
    parts: list[bytes], known: int, keys_for: Callable[[int], list[str]]
) -> tuple[FrameHeader, Frame]:
    """The header and the frame in ``parts`` (topic first), limited to the ``known`` keys: a
    series whose key has not arrived yet is left out until it has. ``keys_for(count)`` gives
    the keys of the first ``count`` series."""
    if len(parts) != 2 + len(_ARRAYS) or parts[0] != TOPIC_FRAME:
        raise FrameError(f"a frame has {2 + len(_ARRAYS)} parts, this one {len(parts)}")
    try:
        head = json.loads(parts[1])
        header = FrameHeader(int(head["seq"]), float(head["sent_s"]), int(head["count"]),
                             str(head["service_id"]), int(head["design_version"]))  # fmt: skip
    except (ValueError, KeyError, TypeError) as error:
        raise FrameError(f"unreadable frame header: {error}") from None
    count = min(header.count, known)
    arrays = []
    for part, (name, dtype) in zip(parts[2:], _ARRAYS, strict=True):
        array = np.frombuffer(part, dtype)
        if len(array) != header.count:
            raise FrameError(f"frame {header.seq}: {name} has {len(array)} entries, "
                             f"the header says {header.count}")  # fmt: skip
        arrays.append(array[:count])
    return header, Frame(keys_for(count), *arrays)
