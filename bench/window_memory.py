"""Does a window's memory grow with the fleet it watches?

The real product path: ``factoryfloor serve`` runs a generated hall (``bench/run_view.py``'s
``make_hall``: racks of 32 GPUs, the simulator at its default 4 Hz), and a window process
attaches to it as an operator's desk does: the main window at 1920 x 1080 (offscreen), in Run
mode on the service, with the fleet heatmap drawing every frame and the time plots showing the
per-GPU curves of a selected rack (both asked of the service). The window's resident memory
(RSS, from ``/proc``) is sampled every ``--sample-s`` for ``--minutes``; memory should be flat
once the window's fixed buffers have filled.

Scenarios, each with its own service and window processes, one after the other:

- ``16384``: a hall of 16,384 GPUs, the window as it is (no GPU's history of its own);
- ``16384-kept``: the same hall, the window keeping every GPU's history as it did before (the
  baseline: its ``LiveHistory`` made with ``keep_gpus=True``);
- ``131072``: a hall of 131,072 GPUs, the window as it is. The service then holds about 1.2 GB
  of per-GPU history (float16): check the machine's memory first.

The halls' store holds up to ``MAX_SERIES`` series, so every GPU of the largest one is in the
frames. Printed, not asserted. The machine has 2 cores shared with other work: at 131,072 GPUs
the service's simulator and frames take most of them, so its history misses whole seconds
(grey columns on the heatmap), which slows the window's frames but not what it holds.

Run: python bench/window_memory.py [--minutes 10] [--sample-s 30] [--only 16384,131072]
     [--screenshot /tmp/window-memory.png]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.service_process
sys.path.insert(0, str(ROOT / "bench"))  # for run_view.make_hall

MAX_SERIES = 1_000_000
"""The store's series limit for the bench halls: 131,072 GPUs make 536,328 series, past the
default of 250,000 (whose refusals would leave most of the fleet out of the frames)."""
SCENARIOS = {"16384": (512, False), "16384-kept": (512, True), "131072": (4096, False)}
"""Name -> (racks of 32 GPUs, whether the window keeps every GPU's history)."""
ATTACH_TIMEOUT_S = 300.0


def rss_mb(pid: int) -> float:
    """Resident memory of a process, MB, from ``/proc`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- The window process ---------------------------------------------------------------------


def run_window(args: argparse.Namespace) -> None:
    """Attach a main window to the service, show Run, and print a JSON line per sample."""
    from PySide6.QtCore import QTimer

    from factoryfloor.app.gui import create_application
    from factoryfloor.app.main_window import MainWindow
    from factoryfloor.backend.service.client import Credentials, ServiceAddress

    if args.keep_gpus:  # the baseline: the window's history keeps every GPU, as before
        from factoryfloor.app import run_mode
        from factoryfloor.backend.telemetry.history import LiveHistory

        run_mode.LiveHistory = lambda design, keep_gpus=False: LiveHistory(design, keep_gpus=True)

    app = create_application()
    window = MainWindow()
    window.resize(1920, 1080)
    window.show()
    window.services.connect_to(ServiceAddress(args.host, args.port, args.key), Credentials())
    run_view = window.run_view
    started = time.monotonic()
    state = {"running_since": None, "samples": 0}

    def emit(**fields: object) -> None:
        print(json.dumps(fields), flush=True)

    def sample() -> None:
        history = run_view.history
        emit(kind="sample", t_s=round(time.monotonic() - state["running_since"], 1),
             rss_mb=round(rss_mb(os.getpid()), 1),
             history_mb=round(history.nbytes / 1e6, 1) if history else None,
             heatmap_until_s=run_view.heatmap.shown_until_s)  # fmt: skip
        state["samples"] += 1
        if state["samples"] > args.minutes * 60 / args.sample_s:
            if args.screenshot:
                window.grab().save(args.screenshot)
            window.services.disconnect()
            app.quit()

    sampler = QTimer()
    sampler.timeout.connect(sample)

    def wait_for_run() -> None:
        heatmap = run_view.heatmap
        if not (run_view.running and heatmap is not None and heatmap.shown is not None):
            if time.monotonic() - started > ATTACH_TIMEOUT_S:
                emit(kind="error", reason="no heatmap drawn: the window did not attach")
                app.quit()
            return
        waiting.stop()
        first_rack = next(iter(run_view.history.rows_of_rack))
        run_view.select_gpu(first_rack, 0)
        run_view.plots.set_per("gpu")
        run_view.plots.parentWidget().raise_()  # the Plots tab: hidden plots do not draw
        state["running_since"] = time.monotonic()
        emit(kind="attached", after_s=round(state["running_since"] - started, 1),
             gpus=len(run_view.history.gpu_rows), keep_gpus=run_view.history.keep_gpus)  # fmt: skip
        sample()
        sampler.start(round(args.sample_s * 1000))

    waiting = QTimer()
    waiting.timeout.connect(wait_for_run)
    waiting.start(200)
    app.exec()


# --- The scenarios --------------------------------------------------------------------------


def run_scenario(name: str, args: argparse.Namespace, folder: Path) -> dict:
    from run_view import make_hall

    from factoryfloor.backend.design.design_file import save_design
    from tests.service_process import ServiceProcess

    racks, keep_gpus = SCENARIOS[name]
    design, design_path = make_hall(racks, folder)
    telemetry = design.telemetry.model_copy(update={"max_series": MAX_SERIES})
    save_design(design.model_copy(update={"telemetry": telemetry}), design_path)
    service = ServiceProcess(design_path, folder / f"data-{name}").start()
    command = [sys.executable, __file__, "--window", "--host", "127.0.0.1", "--port",
               str(service.port), "--key", service.public_key, "--minutes", str(args.minutes),
               "--sample-s", str(args.sample_s)]  # fmt: skip
    if keep_gpus:
        command.append("--keep-gpus")
    if args.screenshot:
        stem = Path(args.screenshot)
        command += ["--screenshot", str(stem.with_name(f"{stem.stem}-{name}{stem.suffix}"))]
    result: dict = {"name": name, "gpus": racks * 32, "samples": []}
    try:
        window = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        for line in window.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message["kind"] == "sample":
                message["service_rss_mb"] = round(rss_mb(service.process.pid), 1)
                result["samples"].append(message)
                print(f"  {name}: {message['t_s']:7.0f} s  window {message['rss_mb']:7.1f} MB"
                      f"  (history {message['history_mb']} MB)  service "
                      f"{message['service_rss_mb']:7.1f} MB", flush=True)  # fmt: skip
            else:
                result.update(message)
                print(f"  {name}: {message}", flush=True)
        window.wait()
    finally:
        service.stop()
    return result


def report(results: list[dict], minutes: float) -> None:
    print(f"\nWindow RSS attached to a real service, {minutes:g} min each (MB):")
    header = (f"{'scenario':<12} {'GPUs':>8} {'attach s':>8} {'1st min':>8} {'end':>8} "
              f"{'max':>8} {'2nd half':>9} {'history':>8} {'service':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for result in results:
        samples = result["samples"]
        if not samples:
            print(f"{result['name']:<12} {result['gpus']:>8,} no samples: {result.get('reason')}")
            continue
        rss = [s["rss_mb"] for s in samples]
        after_minute = [s["rss_mb"] for s in samples if s["t_s"] >= 60] or rss
        half = [s["rss_mb"] for s in samples if s["t_s"] >= samples[-1]["t_s"] / 2]
        print(f"{result['name']:<12} {result['gpus']:>8,} {result.get('after_s', 0):>8.1f} "
              f"{after_minute[0]:>8.1f} {rss[-1]:>8.1f} {max(rss):>8.1f} "
              f"{half[-1] - half[0]:>+9.1f} {samples[-1]['history_mb']:>8.1f} "
              f"{samples[-1]['service_rss_mb']:>8.1f}")  # fmt: skip
    print("(1st min: RSS a minute after the heatmap first drew; 2nd half: change over the second "
          "half of the run; history: the window's LiveHistory arrays; service: its RSS at the "
          "end)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--screenshot", default="", help="grab each window at its end to PATH")
    parser.add_argument("--window", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--keep-gpus", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.window:
        run_window(args)
        return
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"--only: no scenario {sorted(unknown)}; there are {list(SCENARIOS)}")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            print(f"{name}: starting the service and the window", flush=True)
            results.append(run_scenario(name, args, Path(folder)))
    report(results, args.minutes)


if __name__ == "__main__":
    main()
