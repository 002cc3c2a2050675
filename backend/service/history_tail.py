"""The tail file: the seconds not yet in a day file, so that a kill -9 loses at most one.

Each second the recorder appends one frame, a 4-byte length and a zstd frame, and writes it
straight to the file (no buffer in the process), so a killed process leaves it in the page
cache. When the minute is committed to the day files the tail is emptied. On start the
recorder reads the tail's whole frames (a frame cut short by the kill is dropped), commits them
and empties it.

Two kinds of frame: the series that joined the catalogue (their ids and keys, before any second
that uses them), and a second: its time, design version and the value of every series id,
NaN where nothing good was read.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zstandard

_SECOND = b"S"
_SERIES = b"K"
_SECOND_HEAD = struct.Struct("<dq")
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class TailSecond:
    time_s: float
    design_version: int
    values: np.ndarray
    """float32 by series id."""


@dataclass(frozen=True, slots=True)
class TailSeries:
    entries: list[tuple[int, str]]
    """(id, key) of series new to the catalogue."""


class TailLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("ab", buffering=0)
        self._compressor = zstandard.ZstdCompressor(level=1)

    def add_series(self, entries: list[tuple[int, str]]) -> None:
        self._append(_SERIES + json.dumps(entries).encode())

    def add_second(self, time_s: float, design_version: int, values: np.ndarray) -> None:
        self._append(_SECOND + _SECOND_HEAD.pack(time_s, design_version) + values.tobytes())

    def _append(self, payload: bytes) -> None:
        frame = self._compressor.compress(payload)
        self._file.write(_LENGTH.pack(len(frame)) + frame)

    def clear(self) -> None:
        self._file.truncate(0)

    def close(self) -> None:
        self._file.close()


def read_tail(path: Path) -> list[TailSecond | TailSeries]:
    """The whole frames of a tail file, in order; a frame cut short (or not a frame) ends it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    decompressor = zstandard.ZstdDecompressor()
    frames: list[TailSecond | TailSeries] = []
    offset = 0
    while offset + _LENGTH.size <= len(data):
        (size,) = _LENGTH.unpack_from(data, offset)
        start = offset + _LENGTH.size
        if start + size > len(data):
            break
        try:
            payload = decompressor.decompress(data[start : start + size])
        except zstandard.ZstdError:
            break
        offset = start + size
        if payload[:1] == _SERIES:
            frames.append(TailSeries([(int(i), str(k)) for i, k in json.loads(payload[1:])]))
        elif payload[:1] == _SECOND:
            time_s, version = _SECOND_HEAD.unpack_from(payload, 1)
            values = np.frombuffer(payload[1 + _SECOND_HEAD.size :], np.float32)
            frames.append(TailSecond(time_s, version, values))
    return frames
