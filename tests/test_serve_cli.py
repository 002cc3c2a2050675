"""``factoryfloor serve`` from the command line and under systemd: what it refuses, and why."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

from factoryfloor.app.serve_cli import parser
from factoryfloor.backend.service.keys import PUBLIC_KEY_FILE

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "packaging" / "factoryfloor.service"


def serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "factoryfloor.app", "serve", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_the_systemd_unit_runs_serve_with_arguments_it_accepts() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(UNIT)
    service = unit["Service"]
    program, command, *args = shlex.split(service["ExecStart"])
    assert (Path(program).name, command) == ("factoryfloor", "serve")
    options = parser().parse_args(args)
    state = Path("/var/lib") / service["StateDirectory"]
    assert options.design.parent == state and options.data == state
    assert options.listen.endswith(":7440")
    assert service["KillSignal"] == "SIGTERM" and service["Restart"] == "on-failure"
    assert service["User"] != "root"


def test_a_design_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "hall.json"
    broken.write_text('{"schema_version": 1, "name": 7}')
    result = serve(str(broken), "--data", str(tmp_path / "data"))
    assert result.returncode == 2
    assert str(broken) in result.stderr and "name" in result.stderr


def test_an_address_that_is_not_one_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = serve(str(ROOT / "resources" / "demo_hall.json"), "--data", str(tmp_path),
                   "--listen", "127.0.0.1:http")  # fmt: skip
    assert result.returncode == 2
    assert "'127.0.0.1:http': the port must be a number (HOST:PORT)" in result.stderr


def test_show_key_prints_the_key_windows_need(tmp_path: Path) -> None:
    result = serve(str(ROOT / "resources" / "demo_hall.json"), "--data", str(tmp_path),
                   "--show-key")  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.strip() == (tmp_path / PUBLIC_KEY_FILE).read_text().strip()
    assert len(result.stdout.strip()) == 40
    assert (tmp_path / "service.key").stat().st_mode & 0o777 == 0o600
