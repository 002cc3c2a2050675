"""Start-up: from interpreter start to the demo hall on screen, offscreen.

Times the steps inside the process (imports, window, load and first paint) and prints them;
time the whole process from outside with /usr/bin/time or hyperfine for the full figure.

Run: QT_QPA_PLATFORM=offscreen python bench/startup.py
"""

from __future__ import annotations

import time

started = time.perf_counter()

import os  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from factoryfloor.app.gui import create_application  # noqa: E402
from factoryfloor.app.main_window import MainWindow  # noqa: E402
from factoryfloor.resources import demo_path  # noqa: E402

imported = time.perf_counter()


def main() -> None:
    app = create_application()
    window = MainWindow()
    window.show()
    built = time.perf_counter()
    marks: dict[str, float] = {}

    def on_shown(_path: str) -> None:
        window.plan_view.viewport().repaint()
        marks["shown"] = time.perf_counter()
        app.quit()

    window.design_shown.connect(on_shown)
    window.open_file(demo_path())
    app.exec()
    print(f"imports {1000 * (imported - started):.0f} ms, window {1000 * (built - imported):.0f} "
          f"ms, demo loaded and painted {1000 * (marks['shown'] - built):.0f} ms; "
          f"total {1000 * (marks['shown'] - started):.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
