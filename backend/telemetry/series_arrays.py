"""The telemetry store's storage: flat numpy columns, one row per series and one slot per ring
reading, reserved once for the most series the store may hold.

Flat columns rather than an array per series keep a batch write to a few vectorised gathers
and scatters whatever the number of series, and a snapshot of every latest reading to one copy
per column.

Every column is reserved at its full length up front with ``np.zeros``, whose pages the
operating system maps only when first written: a row or ring costs memory once its series
arrives, not before, and adding series never copies (copying grown arrays stalled ingest for
up to seconds when thousands of series arrived at once, and made the untouched capacity of the
old arrays resident).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np


def _column(table: Literal["series", "ring"], dtype: type) -> dict[str, Any]:
    """Field metadata: which table an array belongs to, and its dtype."""
    return {"table": table, "dtype": dtype}


@dataclass(slots=True)
class SeriesArrays:
    """Every array the store owns: one row per series, then the rings' slots.

    Declared as columns so that making them and adding up their sizes is one loop over the
    fields. Rows are zero until the store registers their series.
    """

    # per series (one row each)
    latest_t_s: np.ndarray = field(metadata=_column("series", np.float64))
    latest_v: np.ndarray = field(metadata=_column("series", np.float32))
    latest_q: np.ndarray = field(metadata=_column("series", np.uint8))
    expected_hz: np.ndarray = field(metadata=_column("series", np.float64))
    stale_after_s: np.ndarray = field(metadata=_column("series", np.float64))
    raw_offset: np.ndarray = field(metadata=_column("series", np.int64))
    raw_cap: np.ndarray = field(metadata=_column("series", np.int64))
    raw_written: np.ndarray = field(metadata=_column("series", np.int64))
    """Readings ever written: the ring's next slot is ``raw_written % raw_cap``."""
    # full-rate rings, series after series (``raw_offset``, ``raw_cap``)
    raw_t_s: np.ndarray = field(metadata=_column("ring", np.float64))
    raw_v: np.ndarray = field(metadata=_column("ring", np.float32))
    raw_q: np.ndarray = field(metadata=_column("ring", np.uint8))

    @classmethod
    def reserve(cls, series_rows: int, raw_slots: int) -> SeriesArrays:
        """Columns for ``series_rows`` series and ``raw_slots`` ring readings, all zero pages."""
        lengths = {"series": series_rows, "ring": raw_slots}
        return cls(**{
            column.name: np.zeros(lengths[column.metadata["table"]], column.metadata["dtype"])
            for column in fields(cls)
        })  # fmt: skip

    @staticmethod
    def bytes_for(series_rows: int, raw_slots: int) -> int:
        """What ``series_rows`` rows and ``raw_slots`` ring slots take."""
        per_table = {"series": 0, "ring": 0}
        for column in fields(SeriesArrays):
            per_table[column.metadata["table"]] += np.dtype(column.metadata["dtype"]).itemsize
        return series_rows * per_table["series"] + raw_slots * per_table["ring"]
