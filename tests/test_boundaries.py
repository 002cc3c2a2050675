"""The architecture's promises that a refactor could silently break."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import factoryfloor.backend

ROOT = Path(__file__).resolve().parents[1]


def test_backend_imports_and_computes_with_qt_unavailable() -> None:
    """The backend must run headless (node agents, CI, the backend process): with PySide6 and
    pyqtgraph made unimportable, every backend module imports and the demo still computes."""
    modules = [
        m.name
        for m in pkgutil.walk_packages(factoryfloor.backend.__path__, "factoryfloor.backend.")
    ]
    script = (
        "import sys\n"
        "for blocked in ('PySide6', 'pyqtgraph', 'shiboken6'):\n"
        "    sys.modules[blocked] = None\n"
        f"for name in {modules!r}:\n"
        "    __import__(name)\n"
        "from factoryfloor.backend.design.design_file import load_design\n"
        "from factoryfloor.backend.design.figures import compute_figures\n"
        "print(compute_figures(load_design('resources/demo_hall.json')).facility.rack_count)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "26"


def test_curve_updates_do_not_crash_the_interpreter() -> None:
    """PySide6 6.12.0 on Python 3.11 drops a reference to None in QObject.property(), which
    pyqtgraph's setData calls: a few thousand updates abort the process. The pin in
    pyproject.toml avoids it; this guards the pin. Runs in a child so a crash fails one test."""
    script = (
        "import numpy as np, pyqtgraph as pg\n"
        "app = pg.mkQApp()\n"
        "curve = pg.PlotDataItem()\n"
        "x = np.arange(600, dtype=float)\n"
        "for i in range(5000):\n"
        "    curve.setData(x, np.sin(x + i))\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env={**os.environ,
                                              "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
