"""What chaining the audit log costs: an entry appended by ``AuditLog.record`` (lock, read the
last line, hash it, write, fsync) against the bare append it replaced (one ``O_APPEND`` write and
an fsync of the same line), and how fast ``verify`` and a search read a long log.

Appends are dominated by the fsync, which both pay; the chain adds the lock, the read of the
last line and one SHA-256. The two are taken in turns, so a busy disk weighs on both alike.
Verify and search read a log of ``--entries`` lines written once.

Run: python bench/audit.py [--appends 300] [--entries 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from factoryfloor.backend.service.audit import GENESIS, AuditEntry, AuditLog, line_hash
from factoryfloor.backend.service.audit_chain import verify
from factoryfloor.backend.service.audit_query import AuditQuery, search


def chained_once(log: AuditLog, n: int) -> float:
    start = time.perf_counter()
    log.record("olga", "control.power_limit", f"node7 GPU {n % 8}", "confirmed",
               old_value="700 W", new_value="550 W")  # fmt: skip
    return (time.perf_counter() - start) * 1e6


def bare_once(path: Path, n: int) -> float:
    """The append as it was before the chain: one whole line, O_APPEND, fsync."""
    start = time.perf_counter()
    entry = AuditEntry(time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime()), "olga",
                       "control.power_limit", f"node7 GPU {n % 8}", "confirmed", "", "700 W",
                       "550 W")  # fmt: skip
    line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return (time.perf_counter() - start) * 1e6


def long_log(path: Path, count: int) -> None:
    """``count`` chained entries, written in one go (no fsync each: only reading is timed)."""
    before = GENESIS
    with path.open("wb") as file:
        for n in range(count):
            entry = AuditEntry(f"2026-12-04T00:{n // 6000 % 60:02d}:00.000+00:00", f"user{n % 7}",
                               "alarm.acknowledge" if n % 3 else "sign_in", f"alarm {n}",
                               "refused" if n % 10 == 0 else "ok", prev=before)  # fmt: skip
            line = json.dumps(asdict(entry), ensure_ascii=False).encode("utf-8")
            file.write(line + b"\n")
            before = line_hash(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        log, bare_path = AuditLog(Path(folder) / "chained.jsonl"), Path(folder) / "bare.jsonl"
        times = [(chained_once(log, n), bare_once(bare_path, n)) for n in range(args.appends)]
        chained = statistics.median(t[0] for t in times)
        bare = statistics.median(t[1] for t in times)
        print(f"append, median of {args.appends}: chained {chained:,.0f} us, bare {bare:,.0f} us "
              f"({chained / bare:.2f}x)")  # fmt: skip

        path = Path(folder) / "long.jsonl"
        long_log(path, args.entries)
        start = time.perf_counter()
        check = verify(path)
        verify_s = time.perf_counter() - start
        assert check.intact, check.describe()
        start = time.perf_counter()
        refused = AuditQuery(result="refused", limit=1000, newest_first=True)
        found, more = search(AuditLog(path).entries(), refused)
        search_s = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        print(f"verify {args.entries:,} entries ({size_mb:.0f} MB): {verify_s:.2f} s "
              f"({args.entries / verify_s:,.0f} entries/s)")  # fmt: skip
        print(f"search them (refused, newest 1,000 of {len(found) + more:,}): {search_s:.2f} s")


if __name__ == "__main__":
    main()
