"""Frame latency from a FactoryFloor service to its windows, and what windows cost it.

A generated hall (every rack 32 GPUs, simulated at 4 Hz, 10 frames a second) runs in two ways, one
after the other in the same run:

- baseline: the window's own service (the embedded one a desk starts), one window;
- ``factoryfloor serve`` as a real process, with 3 window processes attached over CURVE-encrypted
  loopback TCP, as a control room's desks and wall are.

Each window is its own process with a ``ServiceClient`` polled every 2 ms (a window's timer
polls every 100-250 ms; the finer poll here keeps the measurement's own granularity out of the
figures). Latency is from the service's stamp when it made the frame (``sent_s``) to the window
holding its arrays; frames decoded after ``--warmup`` seconds count. The service's CPU is its
process's (and its ZeroMQ I/O threads') over the measured seconds, in % of one core. Printed,
not asserted; the issue's target is a p99 under 100 ms.

Run: python bench/service_frames.py [--gpus 16384] [--seconds 20] [--warmup 5] [--windows 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))  # the real ``factoryfloor serve`` starter


def window_main(args: argparse.Namespace) -> None:
    """One window: attach, poll, and print the latencies of the frames decoded."""
    from factoryfloor.backend.service.client import ServiceAddress, ServiceClient
    from factoryfloor.backend.service.embedded import BackendClient, BackendConfig

    own = None
    if args.embedded:
        own = BackendClient(BackendConfig(args.embedded))
    else:
        link = ServiceClient(ServiceAddress("127.0.0.1", args.port, args.key))
    started = time.monotonic()
    latencies: list[float] = []
    last_seq = -1
    while time.monotonic() - started < args.warmup + args.seconds:
        if own is not None:
            own.poll()
            link = own.link
            if link is None:
                time.sleep(0.002)
                continue
        else:
            link.poll()
        header = link._header
        if header is not None and header.seq != last_seq:
            last_seq = header.seq
            if time.monotonic() - started > args.warmup:
                latencies.append(link.latency_s[-1])
        link.latency_s.clear()
        time.sleep(0.002)
    if own is not None:
        own.stop()
    print(json.dumps({"latencies_ms": [1000 * x for x in latencies],
                      "keys": len(link.keys)}))  # fmt: skip


def windows(count: int, extra: list[str], seconds: float, warmup: float) -> list[dict]:
    command = [sys.executable, __file__, "--as-window", "--seconds", str(seconds),
               "--warmup", str(warmup), *extra]  # fmt: skip
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    return [json.loads(p.communicate()[0]) for p in procs]


def summary(label: str, results: list[dict], cpu: str) -> None:
    every = [x for r in results for x in r["latencies_ms"]]
    if not every:
        print(f"| {label} | no frames | | | | |")
        return
    every.sort()
    p99 = every[min(len(every) - 1, int(0.99 * len(every)))]
    print(f"| {label} | {results[0]['keys']:,} | {len(every)} | {statistics.median(every):.1f} | "
          f"{p99:.1f} | {max(every):.1f} | {cpu} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=16384)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--as-window", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--embedded", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_window:
        window_main(args)
        return

    import psutil
    from run_view import make_hall
    from service_process import ServiceProcess

    folder = Path(tempfile.mkdtemp(prefix="factoryfloor-bench-"))
    _, path = make_hall(args.gpus // 32, folder)
    print(f"{args.gpus:,} GPUs, {args.seconds:g} s measured after {args.warmup:g} s\n")
    print("| link | series | frames | p50 ms | p99 ms | max ms | service CPU % |")
    print("|---|---|---|---|---|---|---|")
    base = windows(1, ["--embedded", str(path)], args.seconds, args.warmup)
    summary("window's own service, 1 window (baseline)", base, "-")

    service = ServiceProcess(path, folder / "data").start()
    try:
        proc = psutil.Process(service.process.pid)
        extra = ["--port", str(service.port), "--key", service.public_key]
        before = proc.cpu_times()
        start = time.monotonic()
        attached = windows(args.windows, extra, args.seconds, args.warmup)
        after = proc.cpu_times()
        used = (after.user + after.system) - (before.user + before.system)
        cpu = f"{100 * used / (time.monotonic() - start):.1f}"
        summary(f"factoryfloor serve, {args.windows} windows, encrypted loopback", attached, cpu)
    finally:
        service.stop()


if __name__ == "__main__":
    main()
