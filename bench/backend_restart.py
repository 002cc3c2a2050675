"""How fast a killed window's own service is noticed and replaced.

Starts the window's own service on the demo hall, waits for its first frame, kills it with
SIGKILL, and measures: the time until the client reports it lost (polled every 10 ms here; the
window polls at its 250 ms frame tick, so it adds up to that), and the time from starting a new
service to its first frame (what the operator waits after the restart backoff). Repeated
``--kills`` times; prints min, median and max.

    python bench/backend_restart.py --kills 10
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time

from factoryfloor.backend.service.embedded import BackendClient, BackendConfig
from factoryfloor.resources import demo_path

POLL_S = 0.01


def wait_for(client: BackendClient, done, timeout_s: float = 60.0) -> float:
    """Seconds until ``done()`` holds, polling the client; TimeoutError past ``timeout_s``."""
    started = time.perf_counter()
    while not done():
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError("backend did not get there in time")
        client.poll()
        time.sleep(POLL_S)
    return time.perf_counter() - started


def summary(name: str, values_s: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    shown = [v * scale for v in values_s]
    return (f"{name}: min {min(shown):.0f} {unit}, median {statistics.median(shown):.0f} {unit}, "
            f"max {max(shown):.0f} {unit} ({len(shown)} kills)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    config = BackendConfig(str(demo_path()))
    noticed_s: list[float] = []
    first_frame_s: list[float] = []
    client = BackendClient(config)
    first_frame_s.append(wait_for(client, lambda: client.frame() is not None))
    for _ in range(args.kills):
        os.kill(client.process.pid, signal.SIGKILL)
        noticed_s.append(wait_for(client, lambda c=client: c.lost is not None))
        client.stop()
        client = BackendClient(config)
        first_frame_s.append(wait_for(client, lambda c=client: c.frame() is not None))
    client.stop()
    print(summary("kill -9 to reported lost", noticed_s))
    print(summary("new backend to first frame", first_frame_s))


if __name__ == "__main__":
    main()
