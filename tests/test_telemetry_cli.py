"""``factoryfloor telemetry`` runs the sources headless and prints what they report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = "resources/demo_hall.json"


def test_simulated_demo_reports_power_and_tokens() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "factoryfloor.app", "telemetry", DEMO, "--seconds", "2.5"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("simulator: Hall 1 (demo AI factory): status: running: 26 racks")
    summary = [line for line in lines if "IT power" in line]
    assert summary and "kW" in summary[0] and "tokens/s" in summary[0]
    assert "IT power n/a" not in summary[-1]  # the simulator had published by then


def test_nothing_to_run_says_so() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "factoryfloor.app", "telemetry", DEMO, "--no-simulator"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "nothing to run" in result.stdout
