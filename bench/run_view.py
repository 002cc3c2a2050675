"""Can the Run view keep up with a whole hall while the data flows?

The real product path: the main window opens a generated hall (every rack 32 GPUs), Run mode
starts the backend process with the simulator publishing at the scenario's rate, and the
control-room wall shows every panel tiled at 1920 x 1080: the live plan, the KPI tiles, the fleet
heatmap (every GPU) and the time plots per rack (64 live curves; a 512-rack hall still shows 64).
While frames arrive on RunMode's own 250 ms timer, a 0 ms timer repaints the whole wall
synchronously (fps: how fast the wall can be redrawn with data flowing) and a 10 ms probe timer
records its own lateness (the longest event-loop stall). The stall is measured twice: during
the forced repaints (a tick then waits behind a synthetic repaint as well as the frame's own
work) and as an operator's wall runs, with Qt painting only when a view asks. The same run then
swaps in a naive wall
(the same panels rebuilt every frame: a curve per GPU created afresh, a new float ``ImageItem``
with auto levels) and measures it the same way.

The window's history keeps every GPU here and the views read them in process, as a window did
before it asked the service for them (``read_gpus_in_process``): that is what the prefill, the
memory run and the naive wall need. ``bench/window_memory.py`` measures the window as it is.

Memory is measured without the backend process (an hour in real time is too slow): an
in-process ``FacilitySimulator`` feeds the same views at a simulated 4 Hz for 70 simulated
minutes as fast as it can, with the views' per-frame path (plan colours, KPI tiles, plots and
heatmaps) run and the event loop turned every simulated second, and RSS sampled every 5
simulated minutes.

Targets (offscreen on this 2-core machine, the simulator driving the facility):
- 2,048 GPUs at 4 Hz: the wall at 60 fps or more;
- 16,384 GPUs at 1 Hz: 30 fps or more;
- the longest event-loop stall while data flows under 50 ms;
- memory flat once the buffers fill, over an hour of simulated time.
Printed, not asserted. Each scenario runs in its own process (clean memory, one backend each).

Before measuring, the session's history is filled with 10 simulated minutes (``--prefill``), as
if the wall had been up that long, so the plots and heatmap draw full windows. The naive wall's
rebuild stops at the end of its measurement (a frame of 16,384 new curves takes minutes); the
table says when it did. ``--profile`` adds a cProfile of the design wall's measurement.

Run: QT_QPA_PLATFORM=offscreen python bench/run_view.py [--seconds 15] [--warmup 10]
     [--prefill 600] [--naive-seconds 15] [--only 2048|16384|memory] [--memory-racks 512]
     [--memory-minutes 70] [--profile]
(the whole run takes about 16 minutes, most of it the 70 simulated minutes of the memory check)

One file of about 700 lines, longer than the project's modules: a benchmark is run as one
script by path, with its scenarios, the naive wall it compares against and the report together.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
WALL_SIZE_PX = (1920, 1080)
if os.environ["QT_QPA_PLATFORM"] == "offscreen":  # one 1920 x 1080 screen, not 800 x 800
    _screens = Path(tempfile.mkdtemp(prefix="factoryfloor-bench-screen-")) / "screens.json"
    _screens.write_text(json.dumps({"screens": [{
        "name": "wall", "x": 0, "y": 0, "width": WALL_SIZE_PX[0], "height": WALL_SIZE_PX[1],
        "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))  # fmt: skip
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_screens}"
if "FACTORYFLOOR_BENCH_SETTINGS" not in os.environ:  # once: scenarios and backends inherit it
    # Settings (recent files, the wall's layout) go to throwaway folders, not the user's.
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="factoryfloor-bench-config-")
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="factoryfloor-bench-data-")
    os.environ["FACTORYFLOOR_BENCH_SETTINGS"] = os.environ["XDG_CONFIG_HOME"]

# Qt and the app are imported inside functions: the backend is a spawned process that imports
# this module again, and needs none of them.

GPUS_PER_RACK = 32
SCENARIOS = {  # name -> (racks, simulator Hz, target fps)
    "2048": (64, 4.0, 60.0),
    "16384": (512, 1.0, 30.0),
}
STALL_TARGET_MS = 50.0
MEMORY_SAMPLE_S = 300.0
MEMORY_FILL_S = 600.0
"""The 1 s tier laps after 10 minutes: from then on every tier is allocated and written."""


# --- The hall ------------------------------------------------------------------------------------


def make_hall(racks: int, folder: Path):
    """A generated hall with every rack at 32 GPUs, saved to ``folder``; (design, path).

    Rack IT power is kept at least the GPUs' own power (the simulator draws the rest of the
    rack from the difference), which stays within the air limit and the row feeds. Loading the
    saved file validates it; the design must be within capacity, as ``factoryfloor check``
    would say."""
    from factoryfloor.backend.design.design_file import load_design, save_design
    from factoryfloor.backend.design.figures import compute_figures
    from factoryfloor.backend.design.synthetic import generate_hall

    hall = generate_hall(racks)
    models = {m.id: m for m in hall.gpu_models}
    new_racks = []
    for rack in hall.racks:
        gpu_kw = round(GPUS_PER_RACK * models[rack.gpu_model].gpu_power_w / 1000.0, 1)
        update = {"gpu_count": GPUS_PER_RACK, "it_power_kw": max(rack.it_power_kw, gpu_kw)}
        new_racks.append(rack.model_copy(update=update))
    gpus = racks * GPUS_PER_RACK
    hall = hall.model_copy(update={"racks": new_racks, "name": f"Bench hall, {gpus:,} GPUs"})
    path = folder / f"hall-{gpus}.json"
    save_design(hall, path)
    design = load_design(path)
    over = compute_figures(design).over_capacity
    if over:
        raise SystemExit(f"generated hall is over capacity: {over[:3]}")
    return design, path


# --- Event loop helpers ------------------------------------------------------------------------


def spin(seconds: float, until: Callable[[], bool] | None = None) -> bool:
    """Run the event loop for ``seconds`` or until ``until()`` holds; whether it held."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    done = False

    def check() -> None:
        nonlocal done
        if until is not None and until():
            done = True
            loop.quit()

    checker = QTimer()
    checker.timeout.connect(check)
    checker.start(20)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    checker.stop()
    return done


class FrameTimer:
    """Times RunMode's per-frame path (read the frame, record it, refresh every view): the
    class's slot is wrapped before the window connects it to the 250 ms timer."""

    def __init__(self) -> None:
        from factoryfloor.app.run_mode import RunMode

        self.ms: list[float] = []
        original = RunMode.read_frame

        def timed(run_mode: RunMode) -> None:
            started = time.perf_counter()
            original(run_mode)
            self.ms.append((time.perf_counter() - started) * 1000)

        RunMode.read_frame = timed


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile: one of the values, never extrapolated from a few samples."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(percent / 100 * len(ordered)) - 1)]


def measure(wall, seconds: float, frames: FrameTimer) -> dict:
    """Repaint ``wall`` as fast as the loop allows for ``seconds`` while a 10 ms probe timer
    records its lateness; fps, stalls, and the per-frame data path meanwhile."""
    from PySide6.QtCore import QEventLoop, QTimer
    from stall_probe import StallProbe

    paint_ms: list[float] = []
    probe = StallProbe()

    def paint() -> None:
        started = time.perf_counter()
        wall.repaint()
        paint_ms.append((time.perf_counter() - started) * 1000)

    loop = QEventLoop()
    paint_timer = QTimer()
    paint_timer.timeout.connect(paint)
    first_frame = len(frames.ms)
    started = time.perf_counter()
    probe.start()
    paint_timer.start(0)
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    elapsed_s = time.perf_counter() - started
    paint_timer.stop()
    lateness_ms = probe.stop()  # the last entry: the wait to the end
    frame_ms = frames.ms[first_frame:] or [0.0]
    return {
        "seconds": elapsed_s,
        "fps": len(paint_ms) / elapsed_s,
        "paint_ms": statistics.fmean(paint_ms) if paint_ms else math.nan,
        "worst_ms": max(lateness_ms),
        "next_worst_ms": sorted(lateness_ms)[-5:-1][::-1],
        "p99_ms": percentile(lateness_ms, 99),
        "frames": len(frame_ms),
        "frame_ms": statistics.fmean(frame_ms),
        "frame_max_ms": max(frame_ms),
    }


def measure_as_used(wall, seconds: float) -> dict:
    """The event loop as an operator's wall runs it: data flowing, Qt painting the wall when
    a view asks for it (no forced repaints), the probe recording stalls; and how often the
    plots (the costliest panel) were painted meanwhile."""
    from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
    from stall_probe import StallProbe

    class PaintCounter(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.paints = 0

        def eventFilter(self, watched, event) -> bool:
            if event.type() == QEvent.Type.Paint:
                self.paints += 1
            return False

    counter = PaintCounter()
    plots = wall.plots.graphics.viewport()
    plots.installEventFilter(counter)
    probe = StallProbe()
    loop = QEventLoop()
    started = time.perf_counter()
    probe.start()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    elapsed_s = time.perf_counter() - started
    lateness_ms = probe.stop()
    plots.removeEventFilter(counter)
    return {"seconds": elapsed_s, "paints_per_s": counter.paints / elapsed_s,
            "worst_ms": max(lateness_ms), "next_worst_ms": sorted(lateness_ms)[-5:-1][::-1],
            "p99_ms": percentile(lateness_ms, 99)}  # fmt: skip


def _ms_list(result: dict) -> str:
    """The stalls after the worst, so one outlier reads as one."""
    return ", ".join(f"{ms:.0f}" for ms in result["next_worst_ms"])


def report(label: str, result: dict) -> None:
    print(f"  {label}: {result['fps']:.1f} fps (repaint {result['paint_ms']:.1f} ms), "
          f"worst stall {result['worst_ms']:.0f} ms (then {_ms_list(result)}), "
          f"p99 {result['p99_ms']:.0f} ms; "
          f"{result['frames']} data frames, {result['frame_ms']:.1f} ms each "
          f"(max {result['frame_max_ms']:.0f}) over {result['seconds']:.1f} s",
          flush=True)  # fmt: skip
    if "as_used" in result:
        used = result["as_used"]
        print(f"  {label}, as used (no forced repaints): worst stall {used['worst_ms']:.0f} ms "
              f"(then {_ms_list(used)}), "
              f"p99 {used['p99_ms']:.0f} ms; the plots painted {used['paints_per_s']:.1f} "
              f"times a second over {used['seconds']:.1f} s", flush=True)  # fmt: skip


# --- The naive wall ---------------------------------------------------------------------------


def naive_wall_class():
    """The comparison: the same wall, its panels rebuilt on every frame the obvious way."""
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QRectF

    from factoryfloor.app.control_room import ControlRoomWindow
    from factoryfloor.backend.telemetry.series import entity_key, facility_key
    from factoryfloor.widgets.fleet_heatmap import LOOKUP_TABLE

    class NaiveWall(ControlRoomWindow):
        """``refresh`` clears every plot and adds a new curve per GPU (and per loop and CDU
        series, each read on its own), and replaces the heatmap's image with a new float32
        ``ImageItem`` of the whole window, levelled automatically."""

        def __init__(self, run_view, layout) -> None:
            super().__init__(run_view, layout)
            self.heatmap.view.removeItem(self.heatmap.image_item)
            self.naive_image = None
            self.deadline_s = -math.inf
            """perf_counter time after which no rebuild starts or goes on (the measurement's
            end; before the measurement: none starts): a frame of 16,384 curves takes minutes."""
            self.cut_off: tuple[int, int, float] | None = None
            """(curves added, curves wanted, seconds) of a rebuild cut off at the deadline."""

        def refresh(self) -> None:
            history = self.run_view.history
            started = time.perf_counter()
            if history is None or math.isnan(history.latest_s) or started > self.deadline_s:
                return
            span_s = self.plots.window_s
            gpus = history.gpu_window(self.heatmap.quantity, span_s)
            times_s, values = gpus.times_s, gpus.values  # (columns, GPUs) float32
            capacity = self.run_view.loop_capacity
            cdus = list(dict.fromkeys(cdu for cdu, _ in capacity.values()))
            series = {
                "heat": [entity_key("loop", loop, "heat_kw") for loop in capacity],
                "coolant": [
                    entity_key("cdu", c, f"{end}_temp_c")
                    for c in cdus
                    for end in ("supply", "return")
                ],
                "flow": [entity_key("cdu", c, "flow_lpm") for c in cdus],
                "tokens": [facility_key("tokens_per_s")],
                "efficiency": [facility_key("tokens_per_j")],
            }
            self._show_image(times_s, values, gpus.resolution_s)
            plots = self.plots.plots
            for plot in plots.values():
                plot.item.clear()
            gpu_item = plots["gpu"].item
            count = values.shape[1]
            for i in range(count):
                if time.perf_counter() > self.deadline_s:  # the measurement is over
                    self.cut_off = (i, count, time.perf_counter() - started)
                    return
                gpu_item.plot(times_s, values[:, i], pen=pg.intColor(i, hues=count))
            for key, keys in series.items():
                for i, series_key in enumerate(keys):
                    window = history.series_window([series_key], span_s)
                    plots[key].item.plot(window.times_s, window.values[:, 0],
                                         pen=pg.intColor(i, hues=len(keys)))  # fmt: skip
            plots["efficiency"].item.setXRange(times_s[0], times_s[-1], padding=0)

        def _show_image(self, times_s, values, resolution_s: float) -> None:
            view = self.heatmap.view
            if self.naive_image is not None:
                view.removeItem(self.naive_image)
            image = pg.ImageItem(axisOrder="col-major")
            image.setLookupTable(LOOKUP_TABLE)
            with warnings.catch_warnings():  # columns before the first frame are all NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                image.setImage(np.ascontiguousarray(values), autoLevels=True)
            image.setRect(QRectF(times_s[0] - resolution_s / 2, 0.0,
                                 len(times_s) * resolution_s, float(values.shape[1])))  # fmt: skip
            view.addItem(image)
            view.setXRange(times_s[0], times_s[-1], padding=0)
            self.naive_image = image

    return NaiveWall


# --- Where the time goes ----------------------------------------------------------------------


def time_it(action: Callable[[], object], repeats: int) -> float:
    """Mean milliseconds of ``action``."""
    started = time.perf_counter()
    for _ in range(repeats):
        action()
    return (time.perf_counter() - started) * 1000 / repeats


def breakdown(window, wall, live, repeats: int = 20) -> dict[str, float]:
    """Per-panel cost on the design wall, data still flowing: refresh (data to items), paint
    (items to pixels) with nothing new, a refresh and the paint after it (what a frame costs:
    new data makes pyqtgraph rebuild its paths and images), and the whole frame path of RunView
    (desk views included). The plots are timed redrawing, as on a frame that completes a
    column (their ``refresh`` skips the frames in between)."""
    run_view = window.run_view
    history = run_view.history
    redraws = {"plots": wall.plots._draw_live, "heatmap": wall.heatmap.refresh}
    costs = {
        "redraw: wall plots": time_it(redraws["plots"], repeats),
        "refresh: wall heatmap": time_it(wall.heatmap.refresh, repeats),
        "refresh: plan colours + KPIs (RunView._show_live)": time_it(
            lambda: run_view._show_live(live), repeats
        ),
        "refresh: all views (RunView._show_history)": time_it(
            lambda: run_view._show_history(history), repeats
        ),
    }
    for key, panel in wall.panels.items():
        costs[f"paint, nothing new: {key}"] = time_it(panel.repaint, repeats)
    costs["paint, nothing new: whole wall"] = time_it(wall.repaint, repeats)
    for key, redraw in redraws.items():
        panel = wall.panels[key]
        costs[f"redraw + paint: wall {key}"] = time_it(
            lambda panel=panel, redraw=redraw: (redraw(), panel.repaint()), repeats
        )
    return costs


# --- Scenarios ---------------------------------------------------------------------------------


def quiet_offscreen_warnings() -> None:
    """The offscreen platform warns on every window resize that it cannot propagate size
    hints; drop that line, keep every other message."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message: str) -> None:
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def open_window(path: Path):
    """The main window (as ``factoryfloor`` opens it) with ``path`` on screen. Its Run history
    keeps every GPU (``read_gpus_in_process``)."""
    from factoryfloor.app import run_mode
    from factoryfloor.app.gui import create_application
    from factoryfloor.app.main_window import MainWindow
    from factoryfloor.backend.telemetry.history import LiveHistory

    run_mode.LiveHistory = lambda design, keep_gpus=False: LiveHistory(design, keep_gpus=True)
    quiet_offscreen_warnings()
    app = create_application()
    window = MainWindow()
    window.show()
    shown: list[str] = []
    window.design_shown.connect(shown.append)
    window.open_file(path)
    if not spin(60, lambda: bool(shown)):
        raise SystemExit(f"{path} was not shown within 60 s")
    return app, window


def prefill(history, design, seconds: float, hz: float) -> float:
    """Record ``seconds`` of simulated frames up to now, as if the wall had been running that
    long: the plots and heatmap then draw full windows, not the few seconds since Run began.
    The backend's frames carry on from now (its keys come in another order: the history maps
    them again once). Real seconds taken."""
    from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

    started = time.perf_counter()
    simulator = FacilitySimulator(design, seed=1)
    period_s = 1.0 / hz
    now_s = time.time()
    for n in range(round(seconds * hz), 0, -1):
        history.add(simulator.keys, now_s - n * period_s, simulator.step(period_s))
    return time.perf_counter() - started


def read_gpus_in_process(run_view) -> None:
    """The views read the GPUs from the window's own history rather than ask the service, as
    before windows asked: the prefill, the memory run's hand-fed frames and the naive wall need
    every GPU's history in this process. (``bench/window_memory.py`` measures a window that
    asks the service.)"""
    from factoryfloor.backend.telemetry.gpu_rows import LocalGpuRows

    run_view.run_mode.gpu_rows = LocalGpuRows(run_view.history)
    run_view._show_seeded(run_view.history)


def show_wall(window, wall) -> None:
    """The wall full screen on the (offscreen) 1920 x 1080 screen, plots per rack."""
    if wall.isHidden():
        wall.show_on_screen(window.screen())
    wall.plots.set_per("rack")
    spin(0.5)
    size = wall.size()
    if (size.width(), size.height()) != WALL_SIZE_PX:
        print(f"  note: the wall is {size.width()} x {size.height()}, not "
              f"{WALL_SIZE_PX[0]} x {WALL_SIZE_PX[1]} (QT_QPA_PLATFORM set by hand?)")  # fmt: skip


def run_live(name: str, args: argparse.Namespace) -> dict:
    from factoryfloor.app.control_room import PANELS, WallLayout

    racks, hz, target_fps = SCENARIOS[name]
    frames = FrameTimer()
    design, path = make_hall(racks, Path(tempfile.mkdtemp(prefix="factoryfloor-bench-")))
    gpus = sum(r.gpu_count for r in design.racks)
    print(f"{gpus:,} GPUs ({racks} racks) at {hz:g} Hz: wall {WALL_SIZE_PX[0]} x "
          f"{WALL_SIZE_PX[1]}, plots per rack", flush=True)  # fmt: skip
    app, window = open_window(path)
    window.run_view.run_mode.simulator_hz = hz
    window.enter_run()
    layout = WallLayout(panels=list(PANELS), rotating=False)
    window.show_control_room(layout)
    wall = window.control_room
    show_wall(window, wall)
    run_view = window.run_view
    read_gpus_in_process(run_view)
    filled_s = prefill(run_view.history, design, args.prefill, hz)
    latest: list = []  # the newest LiveFigures, for timing the plan and KPI path

    def keep(live) -> None:
        latest[:] = [live]

    run_view.run_mode.live.connect(keep)
    if not spin(90, lambda: bool(latest)):
        raise SystemExit("no frame from the backend within 90 s")
    curves = sum(c.isVisible() for c in wall.plots.plots["gpu"].curves)
    print(f"  history pre-filled with {args.prefill:g} s in {filled_s:.1f} s; first frame in; "
          f"{curves} GPU curves on the wall; warming up {args.warmup:g} s", flush=True)  # fmt: skip
    spin(args.warmup)

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    result = measure(wall, args.seconds, frames)
    result["as_used"] = measure_as_used(wall, args.seconds)
    if profiler is not None:
        profiler.disable()
    report("design", result)
    costs = breakdown(window, wall, latest[-1])
    print("  where a frame's time goes (design wall, ms):")
    for label, ms in costs.items():
        print(f"    {label:<52} {ms:7.2f}")
    if profiler is not None:
        import pstats

        print("  cProfile of the design measurement (top by own time):")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)

    wall.close()
    naive = naive_wall_class()(run_view, layout)
    show_wall(window, naive)
    naive_s = args.naive_seconds if args.naive_seconds is not None else args.seconds
    print(f"  naive wall ({gpus:,} curves a frame), measured {naive_s:g} s", flush=True)
    naive.deadline_s = time.perf_counter() + naive_s
    naive_result = measure(naive, naive_s, frames)
    report("naive", naive_result)
    if naive.cut_off is not None:
        done, wanted, spent_s = naive.cut_off
        naive_result["cut_off"] = naive.cut_off
        print(f"  naive: the rebuild in progress was cut off at the end of the measurement, "
              f"{done:,} of {wanted:,} curves added in {spent_s:.1f} s", flush=True)  # fmt: skip
    naive.close()
    window.close()  # leaves Run mode and stops the backend
    del app
    return {"scenario": name, "gpus": gpus, "hz": hz, "target_fps": target_fps,
            "design": result, "naive": naive_result}  # fmt: skip


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_memory(args: argparse.Namespace) -> dict:
    """An hour and more of simulated time through the same views, as fast as they go."""
    import gc

    from PySide6.QtWidgets import QApplication

    import factoryfloor.app.run_mode
    from factoryfloor.app.control_room import PANELS, WallLayout
    from factoryfloor.backend.telemetry.live_figures import LiveAggregator
    from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

    class NoBackend:
        """Stands in for the backend process: frames are fed by hand below."""

        alive = True

        def __init__(self, config) -> None:
            self.config = config

        def poll(self) -> list:
            return []

        def frame(self) -> None:
            return None

        def stop(self, timeout_s: float = 5.0) -> None:
            return None

    factoryfloor.app.run_mode.BackendClient = NoBackend
    racks = args.memory_racks
    design, path = make_hall(racks, Path(tempfile.mkdtemp(prefix="factoryfloor-bench-")))
    gpus = sum(r.gpu_count for r in design.racks)
    minutes = args.memory_minutes
    least_min = (MEMORY_FILL_S + MEMORY_SAMPLE_S) / 60
    if minutes < least_min:
        raise SystemExit(f"--memory-minutes must be at least {least_min:g}: growth is measured "
                         "after the 1 s tier has filled")  # fmt: skip
    print(f"memory: {gpus:,} GPUs ({racks} racks), {minutes:g} simulated minutes at 4 Hz, "
          "views refreshed every simulated second", flush=True)  # fmt: skip
    qt_app, window = open_window(path)
    window.show_control_room(WallLayout(panels=list(PANELS), rotating=False))
    wall = window.control_room
    show_wall(window, wall)
    run_view = window.run_view
    read_gpus_in_process(run_view)
    history = run_view.history
    simulator = FacilitySimulator(design)
    keys = simulator.keys
    aggregator = LiveAggregator(design)
    frame_s = 0.25
    start_s = time.time()
    frames = round(minutes * 60 / frame_s)
    samples: list[tuple[float, float]] = [(0.0, rss_mb())]
    started = time.perf_counter()
    for n in range(1, frames + 1):
        values = simulator.step(frame_s)
        sim_s = n * frame_s
        history.add(keys, start_s + sim_s, values)
        if n % 4 == 0:  # every simulated second: what RunMode does after a frame
            run_view._show_live(aggregator.update(keys, values, run_view.run_mode.quantity))
            run_view._show_history(history)
            qt_app.processEvents()
        if n == 4:
            first_mb = rss_mb()
            print(f"  after the first simulated second (per-GPU history allocated on the first "
                  f"frame): RSS {first_mb:.1f} MB", flush=True)  # fmt: skip
        if sim_s % MEMORY_SAMPLE_S == 0:
            gc.collect()
            samples.append((sim_s, rss_mb()))
            print(f"  {sim_s / 60:5.0f} simulated min: RSS {samples[-1][1]:7.1f} MB "
                  f"({time.perf_counter() - started:.0f} s real)", flush=True)  # fmt: skip
    items = {"plots": len(wall.plots.graphics.scene().items()),
             "heatmap": len(wall.heatmap.plot.scene().items()),
             "plan": len(run_view.scene.items())}  # fmt: skip
    print(f"  scene items at the end: {items}")
    fill_mb = next(mb for s, mb in samples if s >= MEMORY_FILL_S)
    end_s, end_mb = samples[-1]
    after_fill_h = (end_s - MEMORY_FILL_S) / 3600
    growth_mb_per_h = (end_mb - fill_mb) / after_fill_h if after_fill_h > 0 else math.nan
    window.close()
    QApplication.processEvents()
    return {"scenario": "memory", "gpus": gpus, "start_mb": samples[0][1], "first_mb": first_mb,
            "fill_mb": fill_mb,
            "end_mb": end_mb, "end_min": end_s / 60, "growth_mb_per_h": growth_mb_per_h,
            "real_s": time.perf_counter() - started}  # fmt: skip


# --- The table -------------------------------------------------------------------------------


def print_table(results: list[dict]) -> None:
    print(f"\n{'scenario':<27} | {'fps':>6} | worst stall ms |   p99 ms | {'target':<24} | met?")
    print("-" * 102)
    for r in results:
        if r["scenario"] == "memory":
            continue
        label = f"{r['gpus']:,} GPUs at {r['hz']:g} Hz"
        for kind in ("design", "naive"):
            m = r[kind]
            target = f">= {r['target_fps']:.0f} fps, < {STALL_TARGET_MS:.0f} ms"
            met = (f"fps {'yes' if m['fps'] >= r['target_fps'] else 'NO'}, "
                   f"stall {'yes' if m['worst_ms'] < STALL_TARGET_MS else 'NO'}")  # fmt: skip
            print(f"{label + ' ' + kind:<27} | {m['fps']:6.1f} | {m['worst_ms']:14,.0f} | "
                  f"{m['p99_ms']:8,.0f} | {target:<24} | {met}")  # fmt: skip
    for r in results:
        if r["scenario"] == "memory" or "as_used" not in r["design"]:
            continue
        used = r["design"]["as_used"]
        met = "met" if used["worst_ms"] < STALL_TARGET_MS else "NOT met"
        print(f"{r['gpus']:,} GPUs as used (data flowing, Qt painting on demand, no forced "
              f"repaints): worst stall {used['worst_ms']:.0f} ms, p99 {used['p99_ms']:.0f} ms "
              f"(target < {STALL_TARGET_MS:.0f} ms: {met})")  # fmt: skip
    for r in results:
        if r["scenario"] == "memory":
            continue
        d, n = r["design"], r["naive"]
        fps_ratio = d["fps"] / n["fps"] if n["fps"] else math.inf
        stall_ratio = d["worst_ms"] / n["worst_ms"] if n["worst_ms"] else math.nan
        print(f"{r['gpus']:,} GPUs, design / naive: fps x{fps_ratio:,.0f}, worst stall "
              f"x{stall_ratio:.4f} ({d['worst_ms']:,.0f} vs {n['worst_ms']:,.0f} ms: the naive "
              f"wall stalls {1 / stall_ratio:,.0f} times longer)")  # fmt: skip
        if "cut_off" in n:
            done, wanted, spent_s = n["cut_off"]
            print(f"  (naive {r['gpus']:,}: its rebuild was cut off after {done:,} of {wanted:,} "
                  f"curves in {spent_s:.0f} s, so its figures flatter it)")  # fmt: skip
    for r in results:
        if r["scenario"] != "memory":
            continue
        flat = abs(r["growth_mb_per_h"]) < 10
        print(f"memory, {r['gpus']:,} GPUs: RSS {r['start_mb']:.0f} MB before the first frame, "
              f"{r['first_mb']:.0f} MB after it, "
              f"{r['fill_mb']:.0f} MB after 10 simulated min (1 s tier full), "
              f"{r['end_mb']:.0f} MB at {r['end_min']:.0f} min: "
              f"{r['growth_mb_per_h']:+.1f} MB/h after the fill "
              f"(target: flat; {'met' if flat else 'NOT met'})")  # fmt: skip
    print(
        "(history tiers are allocated and written in full on the first frame, so the buffers are "
        "'full' at once; the 1 s tier laps after 10 min, the 15 s one after 2 h, the 3 min one "
        "after 24 h)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per wall")
    parser.add_argument("--warmup", type=float, default=10.0, help="data flowing before")
    parser.add_argument("--prefill", type=float, default=600.0,
                        help="simulated seconds recorded before Run's first frame")  # fmt: skip
    parser.add_argument("--only", choices=[*SCENARIOS, "memory"])
    parser.add_argument("--naive-seconds", type=float, default=None,
                        help="measured on the naive wall (default: --seconds)")  # fmt: skip
    parser.add_argument("--memory-racks", type=int, default=512)
    parser.add_argument("--memory-minutes", type=float, default=70.0)
    parser.add_argument("--profile", action="store_true", help="cProfile the design wall")
    args = parser.parse_args()
    if args.only is not None:
        result = run_memory(args) if args.only == "memory" else run_live(args.only, args)
        print("RESULT " + json.dumps(result), flush=True)
        return
    results = []
    for name in [*SCENARIOS, "memory"]:  # each in its own process: clean memory, one backend
        command = [sys.executable, __file__, *sys.argv[1:], "--only", name]
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith("RESULT "):
                    results.append(json.loads(line.removeprefix("RESULT ")))
                else:
                    print(line, end="", flush=True)
        if child.returncode:
            print(f"{name}: exited with {child.returncode}")
    print_table(results)


if __name__ == "__main__":
    main()
