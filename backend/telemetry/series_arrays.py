"""The telemetry store's storage: flat numpy columns, one row per series and one slot per ring
reading, grown by copying into larger ones.

Flat columns rather than an array per series keep a batch write to a few vectorised gathers
and scatters whatever the number of series, and a snapshot of every latest reading to one copy
per column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np


def _column(table: Literal["series", "ring"], dtype: type, empty: float = 0) -> dict[str, Any]:
    """Field metadata: which table an array belongs to, its dtype, its never-written value."""
    return {"table": table, "dtype": dtype, "empty": empty}


@dataclass(slots=True)
class SeriesArrays:
    """Every array the store owns: one row per series, then the rings' slots.

    Declared as columns so that making and growing them is one loop over the fields. The ring
    columns are left as ``np.zeros`` made them (lazily zeroed pages), so capacity not yet used
    costs address space rather than memory; only the small per-series table is filled.
    """

    # per series (one row each)
    latest_t_s: np.ndarray = field(metadata=_column("series", np.float64, math.nan))
    latest_v: np.ndarray = field(metadata=_column("series", np.float32, math.nan))
    latest_q: np.ndarray = field(metadata=_column("series", np.uint8))
    stale_after_s: np.ndarray = field(metadata=_column("series", np.float64, math.inf))
    raw_offset: np.ndarray = field(metadata=_column("series", np.int64))
    raw_cap: np.ndarray = field(metadata=_column("series", np.int64, 1))
    raw_written: np.ndarray = field(metadata=_column("series", np.int64))
    """Readings ever written: the ring's next slot is ``raw_written % raw_cap``."""
    # full-rate rings, series after series (``raw_offset``, ``raw_cap``)
    raw_t_s: np.ndarray = field(metadata=_column("ring", np.float64))
    raw_v: np.ndarray = field(metadata=_column("ring", np.float32))
    raw_q: np.ndarray = field(metadata=_column("ring", np.uint8))

    @classmethod
    def create(cls, series_rows: int, raw_slots: int) -> SeriesArrays:
        lengths = {"series": series_rows, "ring": raw_slots}
        arrays = {}
        for column in fields(cls):
            meta = column.metadata
            array = np.zeros(lengths[meta["table"]], meta["dtype"])
            if meta["empty"] != 0:
                array.fill(meta["empty"])
            arrays[column.name] = array
        return cls(**arrays)

    def grown(self, series_rows: int, raw_slots: int) -> SeriesArrays:
        """A larger copy; the old arrays stay valid for readers still holding them."""
        new = SeriesArrays.create(series_rows, raw_slots)
        for column in fields(self):
            old = getattr(self, column.name)
            getattr(new, column.name)[: len(old)] = old
        return new

    @property
    def series_rows(self) -> int:
        return len(self.latest_t_s)

    @property
    def raw_slots(self) -> int:
        return len(self.raw_t_s)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, column.name).nbytes for column in fields(self))
