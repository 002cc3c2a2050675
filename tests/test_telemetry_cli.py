"""``factoryfloor telemetry`` runs the sources headless and prints what they report."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trickle_server import TrickleServer

pytest_plugins = ["trickle_server"]

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


def test_a_trickling_inference_server_does_not_keep_it_running(trickling: TrickleServer) -> None:
    command = [sys.executable, "-m", "factoryfloor.app", "telemetry", DEMO, "--no-simulator",
               "--metrics", f"{trickling.url},vllm", "--seconds", "2"]  # fmt: skip
    started = time.monotonic()
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError("still running 30 s after a 2 s run") from None
    took_s = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert f"prometheus: {trickling.url}: status: down: no full page within 0.8 s" in result.stdout
    assert took_s < 10.0
