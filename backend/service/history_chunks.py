"""The history's chunk: a block of up to 256 series of one quantity over some rows of time.

A chunk is what the history stores and reads as one piece (docs/history-storage.md): the rows
(seconds for the raw tier, bucket starts for the downsampled ones) of one block of series,
each array compressed on its own with zstd, so a query decompresses whole arrays straight into
numpy and does no work per reading until it reduces them.

Values are stored as integer counts of their quantity's step, chosen per quantity (the last
``/`` segment of a key, ``gpu/node1/0/power_w`` is ``power_w``) from its unit suffix: a step
finer than any source reports, and a width that holds the quantity's range. A reading beyond
that range is stored as the nearest value the width holds. A quantity with no known unit
suffix (byte counts, energy counters, token rates, bit masks) is stored as float32 as it was
received: exact, at 4 bytes a value before compression. A missing reading is a sentinel (the
integer type's lowest value, or NaN for float32), and reads back as NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import zstandard

BLOCK_SERIES = 256
"""Series per block: a rack's GPUs are a handful of blocks, the fleet's one quantity 64."""
COMPRESSION_LEVEL = 3


@dataclass(frozen=True, slots=True)
class Quantisation:
    """How one quantity's values are stored: ``dtype`` counts of ``step`` (float32: as is)."""

    dtype: type[np.generic]
    step: float

    def encode(self, values: np.ndarray) -> np.ndarray:
        """float values (NaN: missing) as stored; beyond the type's range: its nearest end."""
        if self.dtype is np.float32:
            return values.astype(np.float32)
        info = np.iinfo(self.dtype)
        # float32 holds every int16 count exactly; int32 counts need float64 (the range's ends
        # would round past it).
        wide = np.float32 if info.bits <= 16 else np.float64
        with np.errstate(invalid="ignore"):
            counts = np.round(values.astype(wide) / wide(self.step))
            np.clip(counts, info.min + 1, info.max, out=counts)
        counts[np.isnan(counts)] = info.min
        return counts.astype(self.dtype)

    def decode(self, stored: np.ndarray) -> np.ndarray:
        """float32 values, NaN where the reading was missing."""
        if self.dtype is np.float32:
            return stored.astype(np.float32)
        values = stored.astype(np.float32)
        values *= np.float32(self.step)
        values[stored == np.iinfo(self.dtype).min] = np.nan
        return values


_BY_SUFFIX: tuple[tuple[str, Quantisation], ...] = (
    ("_pct", Quantisation(np.int16, 0.1)),  # 0.1 %: utilisation, valve position
    ("_c", Quantisation(np.int16, 0.1)),  # 0.1 C, up to 3,276 C
    ("_mhz", Quantisation(np.int16, 1.0)),  # 1 MHz, up to 32 GHz
    ("_rpm", Quantisation(np.int16, 1.0)),
    ("_kw", Quantisation(np.int32, 0.001)),  # 1 W, up to 2 GW: a rack or the facility
    ("_w", Quantisation(np.int16, 0.1)),  # 0.1 W, up to 3,276 W: a GPU
    ("_lpm", Quantisation(np.int32, 0.01)),
    ("_kpa", Quantisation(np.int32, 0.01)),
)
AS_RECEIVED = Quantisation(np.float32, 1.0)
"""Quantities with no known unit suffix: float32, exact."""
_EXACT: dict[str, Quantisation] = {
    "leak": Quantisation(np.int16, 1.0),
    "pstate": Quantisation(np.int16, 1.0),
}


def quantity_of(key: str) -> str:
    """The quantity a series key ends in: ``gpu/node1/0/power_w`` -> ``power_w``."""
    return key.rsplit("/", 1)[-1]


def quantisation(quantity: str) -> Quantisation:
    """How ``quantity``'s values are stored."""
    if quantity in _EXACT:
        return _EXACT[quantity]
    for suffix, stored in _BY_SUFFIX:
        if quantity.endswith(suffix):
            return stored
    return AS_RECEIVED


@dataclass(frozen=True, slots=True)
class Chunk:
    """The rows of one block over some span of time, decoded.

    ``times_ms`` are each row's time in milliseconds from the chunk's start. ``mean`` is the
    reading itself in the raw tier, the bucket mean in the others; ``min``/``max`` are present
    in the tiers that keep them. Each array is (rows, series of the block), float32, NaN where
    nothing was recorded."""

    times_ms: np.ndarray
    mean: np.ndarray
    min: np.ndarray | None = None
    max: np.ndarray | None = None

    @property
    def width(self) -> int:
        return self.mean.shape[1]

    def arrays(self) -> list[np.ndarray | None]:
        return [self.mean, self.min, self.max]

    def widened(self, width: int) -> Chunk:
        """The same rows with NaN columns added up to ``width`` series (a block grows as keys
        join it)."""
        if width <= self.width:
            return self
        return Chunk(self.times_ms, *(_pad(a, width) for a in self.arrays()))

    def merged(self, newer: Chunk) -> Chunk:
        """This chunk's rows with ``newer``'s, in time order; a row at the same time is newer's
        (a chunk written again after a restart, or a tier's bucket rewritten)."""
        width = max(self.width, newer.width)
        old, new = self.widened(width), newer.widened(width)
        keep = ~np.isin(old.times_ms, new.times_ms)
        times = np.concatenate([old.times_ms[keep], new.times_ms])
        order = np.argsort(times, kind="stable")
        parts = []
        for old_array, new_array in zip(old.arrays(), new.arrays(), strict=True):
            if old_array is None or new_array is None:
                parts.append(None)
            else:
                parts.append(np.concatenate([old_array[keep], new_array])[order])
        return Chunk(times[order], *parts)


def _pad(array: np.ndarray | None, width: int) -> np.ndarray | None:
    if array is None:
        return None
    padded = np.full((array.shape[0], width), np.nan, np.float32)
    padded[:, : array.shape[1]] = array
    return padded


@dataclass(frozen=True, slots=True)
class EncodedChunk:
    """A chunk as stored: compressed arrays (``min``/``max`` None where the tier has none)."""

    rows: int
    width: int
    times: bytes
    mean: bytes
    min: bytes | None
    max: bytes | None


class ChunkCodec:
    """Compresses chunks of one quantity and back. One per thread: zstd contexts are not
    shared between threads."""

    def __init__(self) -> None:
        self._compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL)
        self._decompressor = zstandard.ZstdDecompressor()

    def encode(self, chunk: Chunk, stored: Quantisation) -> EncodedChunk:
        def pack(array: np.ndarray) -> bytes:
            return self._compressor.compress(np.ascontiguousarray(stored.encode(array)))

        return EncodedChunk(
            rows=len(chunk.times_ms),
            width=chunk.width,
            times=self._compressor.compress(chunk.times_ms.astype(np.int64).tobytes()),
            mean=pack(chunk.mean),
            min=None if chunk.min is None else pack(chunk.min),
            max=None if chunk.max is None else pack(chunk.max),
        )

    def decode(self, encoded: EncodedChunk, stored: Quantisation) -> Chunk:
        shape = (encoded.rows, encoded.width)

        def unpack(blob: bytes | None) -> np.ndarray | None:
            if blob is None:
                return None
            raw = np.frombuffer(self._decompressor.decompress(blob), stored.dtype)
            return stored.decode(raw.reshape(shape))

        return Chunk(
            self.times_ms(encoded), unpack(encoded.mean), unpack(encoded.min), unpack(encoded.max)
        )

    def times_ms(self, encoded: EncodedChunk) -> np.ndarray:
        """Only the rows' times, in milliseconds from the chunk's start."""
        return np.frombuffer(self._decompressor.decompress(encoded.times), np.int64)

    def decode_columns(
        self, encoded: EncodedChunk, stored: Quantisation, columns: Sequence[int],
        extremes: bool = True,
    ) -> Chunk:  # fmt: skip
        """Only the given columns of the block (a query's series), in that order; a column the
        chunk is too narrow for (the series joined later) reads as NaN. Without ``extremes``
        the min and max arrays are not decoded."""
        if not extremes:
            encoded = replace(encoded, min=None, max=None)
        chunk = self.decode(encoded, stored).widened(max(columns, default=-1) + 1)
        if list(columns) == list(range(chunk.width)):
            return chunk
        picked = [None if a is None else a[:, columns] for a in chunk.arrays()]
        return Chunk(chunk.times_ms, *picked)  # type: ignore[arg-type]
