"""``factoryfloor export``: a time range of the recorded history, as CSV or Parquet, without Qt.

Reads the history in the service's data folder (``<data>/history``; the platform's data folder
unless ``--data`` says otherwise), running or stopped. Times are ISO-8601 (``2026-12-04T00:50``,
UTC unless it names an offset) or relative to now (``-1h``, ``-30m``, ``-2d``, ``-90s``,
``now``). Exit codes: 0 written, 1 nothing to export (the message says why), 2 bad options or a
history that cannot be read.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from factoryfloor.backend.service.history_export import (
    FORMATS,
    ExportError,
    choose_series,
    export,
)
from factoryfloor.backend.service.history_query import HistoryReader
from factoryfloor.backend.service.recorder import history_folder
from factoryfloor.backend.service.users import default_data_folder

EXIT_OK = 0
EXIT_NOTHING = 1
EXIT_INVALID = 2
_UNITS_S = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([smhd])$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


class OptionError(ValueError):
    """An option that cannot be used: the message names it and says why."""


def parse_time(text: str, option: str, now_s: float) -> float:
    """Epoch seconds of ``text``: ISO-8601 (UTC unless it has an offset), ``now``, or ``-N``
    followed by s, m, h or d before now."""
    text = text.strip()
    if text == "now":
        return now_s
    relative = _RELATIVE.match(text)
    if relative:
        return now_s - float(relative.group(1)) * _UNITS_S[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OptionError(
            f"{option} {text!r}: not a time; give ISO-8601 such as "
            "2026-12-04T00:50Z, or a time before now such as -1h, -30m, -2d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def add_record_options(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--since``, ``--until`` and ``--csv``: what every command that reads one of
    the service's records (the alarm journal, the audit log) takes alike."""
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help=f"the service's data folder (default: {default_data_folder()})",
    )
    parser.add_argument("--since", metavar="T", help="entries from T (default: all)")
    parser.add_argument("--until", metavar="T", help="entries up to T (default: now)")
    parser.add_argument(
        "--csv", type=Path, metavar="FILE", help="write the matching entries to FILE as CSV"
    )


def parse_step(text: str) -> float:
    """Seconds of ``--step``: a number of seconds or one with s, m, h or d."""
    found = _DURATION.match(text.strip())
    if not found or float(found.group(1)) <= 0:
        raise OptionError(f"--step {text!r}: not a duration; give seconds (15) or 15s, 1m, 1h")
    return float(found.group(1)) * _UNITS_S[found.group(2) or "s"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factoryfloor export", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help=f"the service's data folder (default: {default_data_folder()})",
    )
    parser.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="T",
        help="start of the range: ISO-8601 (UTC) or relative, e.g. -1h",
    )
    parser.add_argument(
        "--to", dest="end", default="now", metavar="T", help="end of the range (default: now)"
    )
    parser.add_argument(
        "--series",
        nargs="+",
        default=[],
        metavar="PATTERN",
        help="keys, patterns (gpu/*/power_w) or key prefixes (rack/A-07); default: every series",
    )
    parser.add_argument(
        "--step",
        default="1s",
        metavar="S",
        help="one row per step, the mean of its readings (default 1s: every "
        "reading); 1m and coarser read the downsampled history",
    )
    parser.add_argument(
        "--format", choices=FORMATS, help="csv or parquet (default: from the file name, else csv)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    return parser


def run(args: argparse.Namespace, now_s: float) -> int:
    start_s = parse_time(args.start, "--from", now_s)
    end_s = parse_time(args.end, "--to", now_s)
    if not end_s > start_s:
        raise OptionError(f"--from {args.start} is not before --to {args.end}: empty range")
    step_s = parse_step(args.step)
    data = args.data or default_data_folder()
    history = history_folder(data)
    if not data.is_dir():
        raise OptionError(f"--data {data}: no such folder")
    if not history.is_dir():
        raise OptionError(f"--data {data}: no history recorded there (no {history} folder)")
    kind = args.format or ("parquet" if args.output.suffix == ".parquet" else "csv")
    reader = HistoryReader(history)
    try:
        keys = choose_series(reader, args.series)
        summary = export(reader, keys, start_s, end_s, args.output, kind, step_s)
    finally:
        reader.close()
    for path, reason in reader.unreadable.items():
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"Wrote {summary.rows:,} rows of {summary.series:,} series to {summary.path}")
    return EXIT_OK


def relative_times_joined(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """``--from -1h`` as ``--from=-1h`` for each of ``options``: argparse would take ``-1h``
    for an option."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] in options and _RELATIVE.match(arg):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def values_joined(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """``--service-key -Ab3...`` as ``--service-key=-Ab3...`` for each of ``options``, which
    always take a value: a key may begin with "-", which argparse would take for an option."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] in options:
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str]) -> int:
    args = _parser().parse_args(relative_times_joined(argv, ("--from", "--to")))
    try:
        return run(args, time.time())
    except OptionError as error:
        print(f"factoryfloor export: {error}", file=sys.stderr)
        return EXIT_INVALID
    except ExportError as error:
        print(f"factoryfloor export: {error}", file=sys.stderr)
        return EXIT_NOTHING
    except OSError as error:
        print(f"factoryfloor export: {error}", file=sys.stderr)
        return EXIT_INVALID
