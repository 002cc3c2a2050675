"""Editor responsiveness on a generated 1,000-rack hall, offscreen.

- open: from asking to open the file to the hall on screen (parse, validate, figures, scene);
  target under 1 s.
- drag: one mouse-move step of a rack drag, from the intent to the updated figures, panels and
  a finished repaint; target under 16 ms (one frame at 60 Hz). Measured as the application
  repaints (only the regions the edit made dirty) and, as a worst case, with a full repaint of
  the plan after every step. Baseline in the same run: a full repaint with nothing changed.

Run: QT_QPA_PLATFORM=offscreen python bench/editor_drag.py [--racks 1000] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("XDG_CONFIG_HOME", tempfile.mkdtemp(prefix="factoryfloor-bench-"))
os.environ.setdefault("XDG_DATA_HOME", tempfile.mkdtemp(prefix="factoryfloor-bench-"))

from PySide6.QtCore import QEventLoop

from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.design.design_file import save_design
from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.widgets.plan_tools import DragOffset


def stats(samples_ms: list[float]) -> str:
    p95 = statistics.quantiles(samples_ms, n=20)[-1]
    return f"median {statistics.median(samples_ms):.2f} ms, p95 {p95:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--racks", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    app = create_application()
    window = MainWindow()
    window.resize(1600, 1000)
    window.show()
    path = Path(tempfile.mkdtemp()) / "hall.json"
    save_design(generate_hall(args.racks), path)

    loop = QEventLoop()
    window.design_shown.connect(lambda _: loop.quit())
    started = time.perf_counter()
    window.open_file(path)
    loop.exec()
    window.plan_view.viewport().repaint()
    open_s = time.perf_counter() - started
    window.plan_view.zoom_by(3.0)  # a working zoom: a few rows on screen, labels drawn

    rack_id = window.document.design.racks[len(window.document.design.racks) // 2].id
    window.select_entity(rack_id)
    window.tools.grid_box.setValue(0.0)  # grid off: every step really moves the rack
    controller = window.controller

    def drag(repaint: Callable[[], object]) -> list[float]:
        samples: list[float] = []
        controller.begin_drag([rack_id])
        for step in range(args.steps):
            offset_m = 0.6 * ((step % 20) - 10) / 10  # back and forth
            t0 = time.perf_counter()
            controller.drag_to(DragOffset(offset_m, 0.0))
            repaint()
            samples.append((time.perf_counter() - t0) * 1000)
        controller.end_drag()
        return samples

    app.processEvents()
    # As the application runs: Qt repaints the regions the edit made dirty.
    drag_ms = drag(lambda: app.sendPostedEvents() or app.processEvents())
    # Worst case: the whole plan repainted after every step (as when the view also scrolls).
    drag_full_ms = drag(window.plan_view.viewport().repaint)
    bare_ms: list[float] = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        window.plan_view.viewport().repaint()
        bare_ms.append((time.perf_counter() - t0) * 1000)
    app.processEvents()

    print(f"hall: {args.racks} racks; open to on screen: {open_s * 1000:.0f} ms "
          f"(target < 1000 ms: {'met' if open_s < 1 else 'NOT met'})")  # fmt: skip
    met = "met" if statistics.median(drag_ms) < 16 else "NOT met"
    print(f"drag step, edit + figures + panels + repaint of what changed: {stats(drag_ms)} "
          f"(target < 16 ms: {met})")  # fmt: skip
    print(f"drag step with a full repaint of the plan: {stats(drag_full_ms)}")
    ratio = statistics.median(drag_full_ms) / statistics.median(bare_ms)
    print(f"baseline, full repaint with nothing changed: {stats(bare_ms)}; "
          f"full-repaint drag / baseline = {ratio:.1f}x")  # fmt: skip
    print(f"undo steps after the drag: {window.document.undo_stack.count()}")
    window.document.undo_stack.setClean()
    window.close()


if __name__ == "__main__":
    main()
