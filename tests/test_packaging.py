"""What ``pip install .`` puts on a machine: one package, ``factoryfloor``, holding the whole tree.

The repository keeps its folders at the top (``app/``, ``backend/``, ``widgets/``,
``resources/``); installed, they live under ``factoryfloor`` so that they cannot collide with
another project's ``app`` or ``backend``. A package missing from ``pyproject.toml``'s list would
work in a checkout and be absent from every installed copy: this test builds the wheel to see.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALLED_FOLDERS = ("app", "backend", "widgets", "resources")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the tree, so no build folder left by an earlier build can add files
    that the tree no longer has."""
    source = tmp_path_factory.mktemp("source")
    for folder in INSTALLED_FOLDERS:
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("factoryfloor-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the wheel was installed into, as ``pip install --target`` lays it out."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
         str(target), str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return target


def tree_files() -> set[str]:
    """Every module and data file of the installed folders, as the wheel should name it."""
    return {
        f"factoryfloor/{path.relative_to(ROOT).as_posix()}"
        for folder in INSTALLED_FOLDERS
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts
    }


def test_wheel_installs_one_top_level_package_holding_the_whole_tree(
    wheel: Path, installed: Path
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["factoryfloor"]
    packaged = {name for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert {name.split("/")[0] for name in packaged} == {"factoryfloor"}
    assert tree_files() - packaged == set(), "modules missing from the wheel"

    # bin/ holds the ``factoryfloor`` command, which pip puts on PATH, not on the import path.
    top_level = {p.name for p in installed.iterdir() if not p.name.endswith(".dist-info")}
    assert top_level == {"factoryfloor", "bin"}
    assert [p.name for p in (installed / "bin").iterdir()] == ["factoryfloor"]


def test_installed_wheel_runs_without_the_checkout(installed: Path, tmp_path: Path) -> None:
    """From the wheel's files alone (no checkout on the path, no editable finder): the design
    domain loads the bundled demo hall and computes its figures."""
    dependencies = sysconfig.get_paths()["purelib"]
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(installed)!r}, {dependencies!r}]\n"
        "from factoryfloor.backend.design.design_file import load_design\n"
        "from factoryfloor.backend.design.figures import compute_figures\n"
        "from factoryfloor.resources import demo_path\n"
        "import factoryfloor.backend.design.figures as figures\n"
        "print(figures.__file__.startswith(sys.path[0]))\n"
        "print(compute_figures(load_design(demo_path())).facility.rack_count)\n"
    )
    # -S: no site processing, so the editable install's finder is not on the path.
    result = subprocess.run(
        [sys.executable, "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "26"]
