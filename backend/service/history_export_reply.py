"""A window's export of recorded history, made by the service and sent back as the file's bytes.

The window names the series, the time range, the step and the format; the service writes the
export with ``history_export`` into a temporary folder of its own, off its loop, and replies
with the file. An export too large to send to a window is refused with what to do instead.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from factoryfloor.backend.service.history_export import (
    FORMATS,
    ExportError,
    ExportSummary,
    choose_series,
    export,
)
from factoryfloor.backend.service.history_query import HistoryReader

MAX_EXPORT_BYTES = 256 * 1024 * 1024


def export_bytes(folder: Path, patterns: Sequence[str], start_s: float, end_s: float,
                 step_s: float, kind: str) -> tuple[bytes, ExportSummary]:  # fmt: skip
    """The export's file as bytes, and what it holds; ExportError says why there is none."""
    if kind not in FORMATS:
        raise ExportError(f"format {kind!r}: choose one of {', '.join(FORMATS)}")
    reader = HistoryReader(folder)
    try:
        keys = choose_series(reader, patterns)
        with tempfile.TemporaryDirectory(prefix="factoryfloor-export-") as scratch:
            summary = export(reader, keys, start_s, end_s, Path(scratch) / f"history.{kind}",
                             kind, step_s)  # type: ignore[arg-type]  # fmt: skip
            size = summary.path.stat().st_size
            if size > MAX_EXPORT_BYTES:
                raise ExportError(
                    f"the export is {size / 1e6:,.0f} MB, more than a window takes "
                    f"({MAX_EXPORT_BYTES / 1e6:,.0f} MB): choose fewer series or a longer step, "
                    "or run 'factoryfloor export' on the service's machine"
                )
            return summary.path.read_bytes(), summary
    finally:
        reader.close()
