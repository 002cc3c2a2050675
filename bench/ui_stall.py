"""Does telemetry ingest ever stall the UI thread?

A Qt probe timer (10 ms) in the GUI process records its own lateness while a frame timer (60 Hz)
reads the latest readings, as the Run view will. Ingest is the simulator publishing a generated
hall of about 16,000 GPUs at 4 Hz into the store (four GPU quantities each: about 260,000
readings/s), run two ways in the same run:

- the design: the backend in its own process, frames through shared memory;
- the comparison: the same simulator and store on a thread inside the GUI process.

Target: worst stall under 50 ms with the backend process. Printed, not asserted.

Run: QT_QPA_PLATFORM=offscreen python bench/ui_stall.py [--racks 272] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QTimer
from stall_probe import StallProbe

from factoryfloor.backend.design.design_file import save_design
from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.backend.service.embedded import BackendClient, BackendConfig
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator, SimulatorSource
from factoryfloor.backend.telemetry.store import TelemetryStore


def measure(seconds: float, read_frame: Callable[[], object]) -> tuple[list[float], int]:
    """Run the event loop for ``seconds``: probe lateness samples (ms) and frames read."""
    app = QCoreApplication.instance()
    probe = StallProbe()
    frames = 0

    def frame() -> None:
        nonlocal frames
        read_frame()
        frames += 1

    frame_timer = QTimer()
    frame_timer.timeout.connect(frame)
    probe.start()
    frame_timer.start(16)
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    frame_timer.stop()
    return probe.stop()[5:], frames  # the first ticks include start-up


def report(label: str, lateness_ms: list[float], frames: int, seconds: float) -> None:
    p99 = statistics.quantiles(lateness_ms, n=100)[-1]
    print(f"{label}: worst stall {max(lateness_ms):.1f} ms, p99 {p99:.1f} ms, "
          f"frames read {frames / seconds:.0f}/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--racks", type=int, default=272)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    app = QCoreApplication([])
    design = generate_hall(args.racks)
    gpus = sum(r.gpu_count for r in design.racks)
    path = Path(tempfile.mkdtemp()) / "hall.json"
    save_design(design, path)
    print(f"hall: {args.racks} racks, {gpus:,} GPUs at 4 Hz "
          f"({gpus * 4 * 4:,} GPU readings/s)")  # fmt: skip

    baseline, frames = measure(min(args.seconds, 3.0), lambda: None)
    report("GUI alone (baseline)", baseline, frames, min(args.seconds, 3.0))

    client = BackendClient(BackendConfig(str(path), simulator_hz=4.0))
    deadline = time.monotonic() + 60
    while client.frame() is None and time.monotonic() < deadline:
        client.poll()
        time.sleep(0.05)

    def read_process_frame() -> None:
        client.poll()
        client.frame()

    lateness, frames = measure(args.seconds, read_process_frame)
    client.stop()
    report("backend process (the design)", lateness, frames, args.seconds)

    store = TelemetryStore()
    source = SimulatorSource(FacilitySimulator(design), store, rate_hz=4.0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(source.run(), loop)
    lateness, frames = measure(args.seconds, lambda: store.snapshot("", time.time()))
    running.cancel()
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05), loop).result(5)  # cancellation lands
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    report("ingest thread in the GUI process (comparison)", lateness, frames, args.seconds)
    del app


if __name__ == "__main__":
    main()
