"""A recording process for the history tests, run as ``python tests/history_child.py MODE DIR``.

``until-killed``: records a second at a time from ``T0`` on, and prints each second's number
once the recorder has it (in the tail), until it is killed.

``full-disk``: records two minutes, then caps the size any file of the process may grow to
(``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored, so a write past it fails with ``EFBIG`` as a full
disk fails one), records two more, lifts the cap, records a fifth, closes, and prints the
recorder's events as JSON lines.

Every reading is ``value(second, series)``, so the test can check what it reads back.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

import numpy as np

from factoryfloor.backend.service.recorder import HistoryRecorder

T0 = 1_767_225_600
"""2026-01-01 00:00 UTC."""
KEYS = [f"gpu/node{g // 8}/{g % 8}/{q}" for g in range(32) for q in ("power_w", "temp_c")]


def value(second: int, series: np.ndarray) -> np.ndarray:
    """A reading that quantises exactly to 0.1 and differs per second and series."""
    return ((second % 600) + series * 0.5).astype(np.float32)


def record(recorder: HistoryRecorder, second: int) -> None:
    count = len(KEYS)
    recorder.record(T0 + second, KEYS, value(second, np.arange(count)),
                    np.ones(count, np.uint8), np.zeros(count, bool), 1)  # fmt: skip


def until_killed(folder: Path) -> None:
    recorder = HistoryRecorder(folder)
    second = 0
    while second < 100_000:
        record(recorder, second)
        recorder.flush()
        print(second, flush=True)
        second += 1


def full_disk(folder: Path) -> None:
    recorder = HistoryRecorder(folder, queue_seconds=1_000)  # faster than real time: keep all
    for second in range(120):
        record(recorder, second)
    recorder.flush()
    largest = max(p.stat().st_size for p in folder.rglob("*.sqlite*"))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (largest, hard))
    for second in range(120, 240):
        record(recorder, second)
    recorder.flush()
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    for second in range(240, 300):
        record(recorder, second)
    recorder.close()
    for event in recorder.events_since(0).events:
        print(json.dumps({"kind": event.kind, "subject": event.subject, "detail": event.detail}))


if __name__ == "__main__":
    mode, where = sys.argv[1], Path(sys.argv[2])
    {"until-killed": until_killed, "full-disk": full_disk}[mode](where)
