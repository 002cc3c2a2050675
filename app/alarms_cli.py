"""``factoryfloor alarms``: the alarms as the journal holds them, without a window or a service.

Reads the alarm journal in the service's data folder (``<data>/alarms.sqlite3``; the platform's
data folder unless ``--data`` says otherwise), running or stopped: by default the alarms an
operator would see, highest priority first; ``--journal`` the entries (``--since``/``--until``,
``--entity``, ``--priority``, ``--state`` narrow them); ``--csv FILE`` writes those entries as
CSV; ``--report`` the alarm performance report over ``--since`` to ``--until``. Times are as for
``factoryfloor export`` (ISO-8601, or ``-1h``, ``-2d`` before now). ``--service HOST:PORT`` asks
a running service for the alarms it shows instead (its key from ``--service-key``, else pinned,
else, on this machine, the data folder's). Exit codes: 0 done, 1 no journal in the folder, 2 bad
options or a journal that cannot be read, 3 the service refused or did not answer.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from factoryfloor.app.export_cli import (
    OptionError,
    add_record_options,
    parse_time,
    relative_times_joined,
    values_joined,
)
from factoryfloor.backend.design.alarm_rules import PRIORITIES
from factoryfloor.backend.design.report import format_table
from factoryfloor.backend.service.address import AddressError, parse_address
from factoryfloor.backend.service.alarm_desk import alarm_shown
from factoryfloor.backend.service.alarms.journal import FILE_NAME, AlarmJournal, JournalQuery
from factoryfloor.backend.service.alarms.journal import write_csv as write_journal_csv
from factoryfloor.backend.service.alarms.report import format_report, journal_report
from factoryfloor.backend.service.alarms.states import AlarmState
from factoryfloor.backend.service.alarms.system import shown_alarms
from factoryfloor.backend.service.client import ServiceAddress, ServiceClient
from factoryfloor.backend.service.keys import ServiceKeyError, resolve_service_key
from factoryfloor.backend.service.messages import AlarmShown
from factoryfloor.backend.service.users import default_data_folder

EXIT_OK = 0
EXIT_NO_JOURNAL = 1
EXIT_INVALID = 2
EXIT_NO_SERVICE = 3
SERVICE_TIMEOUT_S = 10.0
_TIME_OPTIONS = ("--since", "--until")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factoryfloor alarms",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    add_record_options(parser)
    parser.add_argument(
        "--journal",
        action="store_true",
        help="print the journal's entries instead of the alarms shown now",
    )
    parser.add_argument("--entity", help="only entries of this rack, CDU, loop, feed or host")
    parser.add_argument("--priority", choices=PRIORITIES)
    parser.add_argument(
        "--state",
        choices=[s.value for s in AlarmState],
        help="only entries that moved an alarm to this state",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="print the alarm performance report over --since to --until",
    )
    parser.add_argument(
        "--service", metavar="HOST:PORT", help="print the alarms a running service shows now"
    )
    parser.add_argument(
        "--service-key", metavar="KEY", help="the service's public key (needed once per service)"
    )
    return parser  # fmt: skip


def _when(time_s: float) -> str:
    return datetime.fromtimestamp(time_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def print_shown(alarms: Sequence[AlarmShown]) -> None:
    rows = [[a.priority, a.state, _when(a.changed_s), a.message or a.alarm_id] for a in alarms]
    print(format_table(["priority", "state", "since", "alarm"], rows, numeric_from=99))
    print(f"{len(alarms)} alarm(s) shown")


def from_service(args: argparse.Namespace) -> int:
    """The alarms a running service shows, asked as a viewer."""
    try:
        host, port = parse_address(args.service)
        key = resolve_service_key(host, port, args.service_key, None,
                                  args.data or default_data_folder())  # fmt: skip
    except (AddressError, ServiceKeyError) as error:
        raise OptionError(str(error)) from None
    client = ServiceClient(ServiceAddress(host, port, key))
    try:
        deadline = time.monotonic() + SERVICE_TIMEOUT_S
        while client.alarms is None and not client.refused:
            if (left_s := deadline - time.monotonic()) <= 0:
                break
            client.wait(left_s)
            client.poll()
        if client.alarms is None:
            why = client.refused or f"no answer in {SERVICE_TIMEOUT_S:g} s"
            print(f"factoryfloor alarms: the service at {host}:{port}: {why}", file=sys.stderr)
            return EXIT_NO_SERVICE
        if client.alarms.flood:
            print("ALARM FLOOD: more than 10 new alarms in the last 10 minutes")
        print_shown(client.alarms.alarms)
    finally:
        client.close()
    return EXIT_OK


def run(args: argparse.Namespace, now_s: float) -> int:
    if args.service is not None:
        return from_service(args)
    since = None if args.since is None else parse_time(args.since, "--since", now_s)
    until = now_s if args.until is None else parse_time(args.until, "--until", now_s)
    path = (args.data or default_data_folder()) / FILE_NAME
    if not path.exists():
        print(f"factoryfloor alarms: no alarm journal at {path}", file=sys.stderr)
        return EXIT_NO_JOURNAL
    journal = AlarmJournal(path, read_only=True)
    try:
        query = JournalQuery(since, until, args.entity, args.priority, args.state)
        if args.report:
            print(format_report(journal_report(journal, query, until)), end="")
        elif args.csv is not None:
            with args.csv.open("w", encoding="utf-8", newline="") as out:
                rows = write_journal_csv(journal.search(query), out)
            print(f"Wrote {rows:,} journal entries to {args.csv}")
        elif args.journal:
            rows = [[_when(t.time_s), t.alarm_id, t.priority, t.event,
                     f"{t.old_state.value} -> {t.new_state.value}", t.user or "-", t.message,
                     t.note] for t in journal.search(query)]  # fmt: skip
            print(format_table(["time", "alarm", "priority", "event", "state", "user",
                                "message", "note"], rows, numeric_from=99))  # fmt: skip
        else:
            print_shown([alarm_shown(a, False) for a in shown_alarms(journal.restore().values())])
    finally:
        journal.close()
    return EXIT_OK


def main(argv: list[str]) -> int:
    args = _parser().parse_args(
        values_joined(relative_times_joined(argv, _TIME_OPTIONS), ("--service-key",))
    )
    try:
        return run(args, time.time())
    except OptionError as error:
        print(f"factoryfloor alarms: {error}", file=sys.stderr)
        return EXIT_INVALID
    except (OSError, sqlite3.Error) as error:
        print(f"factoryfloor alarms: {error}", file=sys.stderr)
        return EXIT_INVALID
