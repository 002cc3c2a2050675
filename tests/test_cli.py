"""``factoryfloor check`` and ``factoryfloor catalog`` as a user (or a CI pipeline) runs them.

Each test starts the real command in a subprocess; the exit code is the contract for scripts:
0 valid and within capacity, 1 over capacity, 2 invalid or unreadable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO_PATH = REPO / "resources" / "demo_hall.json"
SECTIONS = ["RACKS", "COOLING LOOPS", "POWER FEEDS", "FACILITY", "TOKEN CAPACITY"]


@pytest.fixture
def config_home(tmp_path: Path) -> Path:
    """A private config folder, so the user's own catalog never changes what the tests see."""
    home = tmp_path / "config"
    home.mkdir()
    return home


def factoryfloor(config_home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
    return subprocess.run(
        [sys.executable, "-m", "factoryfloor.app", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def demo_tree() -> dict[str, Any]:
    return json.loads(DEMO_PATH.read_bytes())


def section(report: str, title: str) -> str:
    """The text of one report section: from its title line to the next blank line."""
    start = report.index(f"\n{title}") + 1
    end = report.find("\n\n", start)
    return report[start:end]


def test_check_demo_prints_every_section_and_exits_0(config_home: Path) -> None:
    result = factoryfloor(config_home, "check", str(DEMO_PATH))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert [out.index(f"\n{title}") for title in SECTIONS] == sorted(
        out.index(f"\n{title}") for title in SECTIONS
    )
    tree = demo_tree()
    racks = section(out, "RACKS")
    for rack in tree["racks"]:
        assert f"\n{rack['id']} " in racks
    loops = section(out, "COOLING LOOPS")
    for loop in tree["loops"]:
        assert f"\n{loop['id']} " in loops
    feeds = section(out, "POWER FEEDS")
    for feed in tree["feeds"]:
        assert f"\n{feed['id']} " in feeds
    assert "PUE (estimate)" in section(out, "FACILITY")
    tokens = section(out, "TOKEN CAPACITY")
    assert "Llama 2 70B" in tokens and "Llama 3.1 405B" in tokens
    assert "NEAR  L-B2: heat 448.8 kW of 480.0 kW (94%): near capacity" in out
    assert out.rstrip().endswith("RESULT: valid and within capacity")


def test_check_over_capacity_lists_each_item_and_exits_1(tmp_path: Path, config_home: Path) -> None:
    tree = demo_tree()
    tree["cdus"][0]["capacity_kw"] = 400.0  # L-A1 carries 448.8 kW
    tree["feeds"][2]["capacity_kw"] = 150.0  # FEED-C carries C02-C10
    tree["racks"][16]["feed_id"] = None  # C01 unplugged
    path = tmp_path / "over.json"
    path.write_text(json.dumps(tree), encoding="utf-8")

    result = factoryfloor(config_home, "check", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    over = [line for line in result.stdout.splitlines() if line.startswith("OVER")]
    assert over == [
        "OVER  C01: draws power but is on no power feed",
        "OVER  L-A1: heat 448.8 kW of 400.0 kW (112%): over capacity",
        # 9 x 20.4 kW = 183.6 kW
        "OVER  FEED-C: load 183.6 kW of 150.0 kW (122%): over capacity",
    ]
    assert "RESULT: 3 item(s) over capacity" in result.stdout


def test_check_invalid_file_lists_each_problem_and_exits_2(
    tmp_path: Path, config_home: Path
) -> None:
    tree = demo_tree()
    tree["racks"][1]["it_power_kw"] = -5.0
    tree["cdus"][0]["fluid"] = "glycol"
    tree["floor"]["width_m"] = "14"
    path = tmp_path / "invalid.json"
    path.write_text(json.dumps(tree), encoding="utf-8")

    result = factoryfloor(config_home, "check", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    header, *problems = result.stderr.splitlines()
    assert header == f"{path}: not a valid design (3 problem(s)):"
    reasons = dict(line.strip().split(": ", 1) for line in problems)
    assert set(reasons) == {"floor.width_m", "racks[1].it_power_kw", "cdus[0].fluid"}
    assert reasons["racks[1].it_power_kw"].startswith("must be greater than or equal to 0")
    assert reasons["cdus[0].fluid"].startswith("must be 'water' or 'pg25'")
    assert reasons["floor.width_m"].startswith("must be a valid number")


def test_check_reports_cross_reference_problems_with_their_paths(
    tmp_path: Path, config_home: Path
) -> None:
    tree = demo_tree()
    tree["loops"][3]["cdu_id"] = "CDU-A1"
    tree["racks"][0]["feed_id"] = "FEED-Z"
    path = tmp_path / "dangling.json"
    path.write_text(json.dumps(tree), encoding="utf-8")

    result = factoryfloor(config_home, "check", str(path))
    assert result.returncode == 2
    problems = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert [line.split(": ", 1)[0] for line in problems] == ["racks[0].feed_id", "loops[3].cdu_id"]


def test_check_missing_file_exits_2_with_a_clear_message(tmp_path: Path, config_home: Path) -> None:
    path = tmp_path / "nowhere.json"
    result = factoryfloor(config_home, "check", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"{path}: cannot read: No such file or directory"


def test_check_file_that_is_not_json_exits_2(tmp_path: Path, config_home: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text("hall 1: 26 racks\n", encoding="utf-8")
    result = factoryfloor(config_home, "check", str(path))
    assert result.returncode == 2
    assert "(file): not valid JSON" in result.stderr
    assert "line 1, column 1" in result.stderr


def test_catalog_lists_the_builtin_models(config_home: Path) -> None:
    result = factoryfloor(config_home, "catalog")
    assert result.returncode == 0, result.stderr
    ids = [line.split()[0] for line in result.stdout.splitlines()[2:] if line.strip()]
    for model_id in ["H100-SXM", "H200-SXM", "B200-SXM", "GB200-NVL72", "GB300-NVL72"]:
        assert model_id in ids
    assert str(config_home / "factoryfloor" / "gpu_catalog.json") in result.stdout


def test_catalog_shows_the_users_own_entries(config_home: Path) -> None:
    user_file = config_home / "factoryfloor" / "gpu_catalog.json"
    user_file.parent.mkdir()
    user_file.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "gpu_models": [
                    {
                        "id": "MI300X",
                        "name": "AMD Instinct MI300X",
                        "gpu_power_w": 750,
                        "system_power_per_gpu_w": 1300,
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    result = factoryfloor(config_home, "catalog")
    assert result.returncode == 0, result.stderr
    rows = {line.split("  ")[0].strip(): line for line in result.stdout.splitlines()}
    assert "AMD Instinct MI300X" in rows["MI300X"]
    # No reference workload ("-") and so no token figure ("n/a"); power shown as given.
    assert rows["MI300X"].split()[-4:] == ["-", "750", "1,300", "n/a"]
    assert "H100-SXM" in rows


def test_catalog_with_a_broken_user_file_exits_2(config_home: Path) -> None:
    user_file = config_home / "factoryfloor" / "gpu_catalog.json"
    user_file.parent.mkdir()
    user_file.write_text('{"schema_version": 1, "gpu_models": [{"id": "X"}]}', encoding="utf-8")
    result = factoryfloor(config_home, "catalog")
    assert result.returncode == 2
    assert result.stderr.startswith(f"{user_file}: not a valid GPU catalog")
    assert "gpu_models[0].gpu_power_w: required field is missing" in result.stderr


def test_connect_without_the_services_key_says_where_to_get_it(
    tmp_path: Path, config_home: Path
) -> None:
    result = factoryfloor(config_home, "--connect", "ops-server:7440")
    assert result.returncode != 0
    assert "no key known for the service at ops-server:7440" in result.stderr
    assert "factoryfloor serve --show-key" in result.stderr


def test_connect_to_an_address_that_is_not_one_names_it(config_home: Path) -> None:
    result = factoryfloor(config_home, "--connect", "ops-server:http")
    assert result.returncode != 0
    assert "'ops-server:http': the port must be a number (HOST:PORT)" in result.stderr
