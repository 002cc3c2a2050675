"""``factoryfloor audit``: the audit log printed, exported or checked, without a window or a
service.

Reads the audit log in the service's data folder (``<data>/audit.jsonl``; the platform's data
folder unless ``--data`` says otherwise), running or stopped: the entries ``--since``/``--until``,
``--user``, ``--action`` (an action such as ``alarm.acknowledge``, or its family: ``alarm``)
and ``--result`` (``ok``, ``refused``, ``failed``, ``unconfirmed``...) match, oldest first;
``--csv FILE`` writes them as CSV instead; ``--verify`` checks that no line was deleted, edited or
moved since it was written (the hash chain). Times are as for ``factoryfloor export`` (ISO-8601,
or ``-1h``, ``-2d`` before now). Exit codes: 0 done (with ``--verify``: intact), 1 no audit log in
the folder, 2 bad options or a log that cannot be read, 3 the log was altered (the message names
the first line that breaks the chain).
"""

from __future__ import annotations

import argparse
import sys
import time

from factoryfloor.app.export_cli import (
    OptionError,
    add_record_options,
    parse_time,
    relative_times_joined,
)
from factoryfloor.backend.design.report import format_table
from factoryfloor.backend.service.audit import AuditError, AuditLog
from factoryfloor.backend.service.audit_chain import verify
from factoryfloor.backend.service.audit_query import AuditQuery, search, write_csv
from factoryfloor.backend.service.users import AUDIT_FILE, default_data_folder

EXIT_OK = 0
EXIT_NO_LOG = 1
EXIT_INVALID = 2
EXIT_ALTERED = 3
_TIME_OPTIONS = ("--since", "--until")
COLUMNS = ("time", "user", "action", "scope", "result", "old", "new", "reason")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factoryfloor audit",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    add_record_options(parser)
    parser.add_argument("--user", metavar="U", help="only what this user did")
    parser.add_argument(
        "--action",
        metavar="A",
        help="only this action (alarm.acknowledge) or family (alarm, control)",
    )
    parser.add_argument(
        "--result", metavar="R", help="only this result: ok, refused, failed, unconfirmed..."
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check that no entry was deleted, edited or moved (exit 3 if one was)",
    )
    return parser  # fmt: skip


def run(args: argparse.Namespace, now_s: float) -> int:
    since = None if args.since is None else parse_time(args.since, "--since", now_s)
    until = None if args.until is None else parse_time(args.until, "--until", now_s)
    path = (args.data or default_data_folder()) / AUDIT_FILE
    if not path.exists():
        print(f"factoryfloor audit: no audit log at {path}", file=sys.stderr)
        return EXIT_NO_LOG
    if args.verify:
        check = verify(path)
        print(f"{path}: {check.describe()}", file=sys.stdout if check.intact else sys.stderr)
        return EXIT_OK if check.intact else EXIT_ALTERED
    query = AuditQuery(since, until, args.user, args.action, args.result)
    entries, _ = search(AuditLog(path).entries(), query)
    if args.csv is not None:
        with args.csv.open("w", encoding="utf-8", newline="") as out:
            rows = write_csv(entries, out)
        print(f"Wrote {_entries(rows)} to {args.csv}")
        return EXIT_OK
    rows = [[e.time, e.actor, e.action, e.subject, e.outcome, e.old_value or "-",
             e.new_value or "-", e.detail] for e in entries]  # fmt: skip
    print(format_table(list(COLUMNS), rows, numeric_from=99))
    print(_entries(len(entries)))
    return EXIT_OK


def _entries(count: int) -> str:
    return f"{count:,} audit {'entry' if count == 1 else 'entries'}"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(relative_times_joined(argv, _TIME_OPTIONS))
    try:
        return run(args, time.time())
    except (OptionError, AuditError, OSError) as error:
        print(f"factoryfloor audit: {error}", file=sys.stderr)
        return EXIT_INVALID
