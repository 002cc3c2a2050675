"""What a FactoryFloor killed at the wrong moment leaves behind is removed at the next start:
temporary files of saves killed midway (only those, and never a save in progress), and Run's
snapshots of unsaved designs, which are private to their user while they exist."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from demo_window import close

from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.design.design_file import load_design, save_design
from factoryfloor.backend.design.leftovers import (
    RUN_SNAPSHOT_PREFIX,
    SAVE_TEMP_MAX_AGE_S,
    remove_abandoned_run_snapshots,
    remove_run_snapshot,
    remove_stale_save_temps,
    stale_save_temps,
    write_run_snapshot,
)
from factoryfloor.backend.design.recovery import RecoveryStore
from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.resources import demo_path

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses POSIX signals and modes")

REPO = Path(__file__).resolve().parent.parent

SAVE_FOREVER = """
import sys
sys.path.insert(0, sys.argv[1])
from factoryfloor.backend.design.design_file import save_design
from factoryfloor.backend.design.recovery import RecoveryStore
from factoryfloor.backend.design.synthetic import generate_hall

design = generate_hall(2000)  # about 1 MB of JSON: each save takes a while
print("saving", flush=True)
while True:
    save_design(design, sys.argv[2])
"""

AUTOSAVE_FOREVER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from factoryfloor.backend.design.recovery import RecoveryStore
from factoryfloor.backend.design.synthetic import generate_hall

design = generate_hall(2000)
store = RecoveryStore(Path(sys.argv[2]).parent)
print("saving", flush=True)
while True:
    store.write(design, None)
"""

SNAPSHOT_AND_WAIT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from factoryfloor.backend.design.leftovers import write_run_snapshot
print(write_run_snapshot(open(sys.argv[2]).read()), flush=True)
time.sleep(600)
"""


def temps_beside(design: Path) -> list[Path]:
    return sorted(p for p in design.parent.iterdir() if p.name.endswith(".tmp"))


def kill_mid_save(
    design: Path, script: str = SAVE_FOREVER, tries: int = 30
) -> tuple[int, list[Path]]:
    """Kill a process saving ``design`` over and over (``script``) while its temporary file
    exists; the dead process's id and what it left."""
    for _ in range(tries):
        saver = subprocess.Popen([sys.executable, "-c", script, str(REPO), str(design)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        assert saver.stdout.readline() == b"saving\n"
        deadline = time.monotonic() + 30
        while not temps_beside(design) and time.monotonic() < deadline:
            pass  # tight on purpose: the temporary file lives a few milliseconds at a time
        saver.send_signal(signal.SIGKILL)
        saver.communicate()
        left = temps_beside(design)
        if left:
            return saver.pid, left
    pytest.fail("no save was caught midway")


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture(scope="module")
def hall_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hall") / "hall.json"
    save_design(generate_hall(2000), path)
    return path


def test_a_save_killed_midway_leaves_a_named_file_that_is_removed_once_stale(
    hall_file: Path,
) -> None:
    pid, left = kill_mid_save(hall_file)
    assert len(left) == 1
    temp = left[0]
    assert temp.name.startswith(f".{hall_file.name}.")
    assert temp.name.endswith(f".{pid}.factoryfloor-save.tmp")
    assert (
        stale_save_temps(hall_file.parent, hall_file.name) == []
    )  # just written: it could be a save in progress
    age(temp, SAVE_TEMP_MAX_AGE_S + 60)
    assert remove_stale_save_temps(hall_file.parent, hall_file.name) == [temp]
    assert temps_beside(hall_file) == []
    load_design(hall_file)  # the design itself is whole


def test_only_our_own_abandoned_temporary_files_are_removed(tmp_path: Path) -> None:
    design = tmp_path / "hall.json"
    save_design(generate_hall(4), design)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    names = {
        "abandoned": f".hall.json.abcd1234.{dead_pid}.factoryfloor-save.tmp",
        "older naming": ".hall.json.k2_x9qzt.tmp",
        "a live process's": f".hall.json.abcd1234.{os.getpid()}.factoryfloor-save.tmp",
        "another design's, older naming": ".other.json.k2_x9qzt.tmp",
        "another program's": ".hall.json.swp.tmp",
        "not hidden": "hall.json.tmp",
    }
    for name in names.values():
        (tmp_path / name).write_text("{")
        age(tmp_path / name, SAVE_TEMP_MAX_AGE_S + 60)
    removed = {path.name for path in remove_stale_save_temps(tmp_path, design.name)}
    assert removed == {names["abandoned"], names["older naming"]}
    assert all((tmp_path / names[k]).exists() for k in names if names[k] not in removed)


def test_opening_a_design_removes_the_litter_of_killed_saves(qtbot, hall_file: Path) -> None:
    _, left = kill_mid_save(hall_file)
    for path in left:
        age(path, SAVE_TEMP_MAX_AGE_S + 60)
    create_application()
    main = MainWindow()
    try:
        with qtbot.waitSignal(main.design_shown, timeout=20_000):
            main.open_file(hall_file)
        assert temps_beside(hall_file) == []
        message = main.statusBar().currentMessage()
        assert message.endswith("; removed 1 temporary file(s) left by interrupted saves")
    finally:
        close(main)


def test_an_autosave_killed_midway_is_cleaned_up_at_the_next_start(qtbot) -> None:
    create_application()
    main = MainWindow()
    folder = main.recovery.folder
    main.close()
    main.deleteLater()
    folder.mkdir(parents=True, exist_ok=True)
    writer_pid, left = kill_mid_save(folder / "recovery.json", AUTOSAVE_FOREVER)
    assert all(path.name.endswith(".factoryfloor-save.tmp") for path in left)
    for path in left:
        age(path, SAVE_TEMP_MAX_AGE_S + 60)
    main = MainWindow()  # the next start
    try:
        status = main.statusBar()
        qtbot.waitUntil(lambda: "temporary file(s) of unsaved work" in status.currentMessage(),
                        timeout=10_000)  # fmt: skip
        assert not any(path.exists() for path in left)
    finally:
        main.close()
        main.deleteLater()
        # The killed writer's autosave, if it got that far: not for other tests to offer.
        (folder / f"{writer_pid}.recovery.json").unlink(missing_ok=True)


def test_run_snapshots_are_private_and_a_killed_windows_are_removed_at_start(qtbot) -> None:
    live = write_run_snapshot("{}")  # this process's: running, so never removed
    owner = subprocess.Popen([sys.executable, "-c", SNAPSHOT_AND_WAIT, str(REPO),
                              str(demo_path())], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        snapshot = Path(owner.stdout.readline().strip())
        assert snapshot.parent.name.startswith(f"{RUN_SNAPSHOT_PREFIX}{owner.pid}-")
        assert stat.S_IMODE(snapshot.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(snapshot.stat().st_mode) == 0o600
        assert snapshot.parent not in remove_abandoned_run_snapshots()  # its owner runs
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)

        create_application()
        main = MainWindow()  # a new start
        try:
            status = main.statusBar()
            qtbot.waitUntil(lambda: "Removed" in status.currentMessage(), timeout=10_000)
            assert not snapshot.parent.exists()
            assert live.exists()
        finally:
            main.close()  # nothing opened, nothing run
            main.deleteLater()
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.stdout.close()
        remove_run_snapshot(live)


def test_autosaved_unsaved_work_is_readable_by_its_user_only(tmp_path: Path) -> None:
    folder = tmp_path / "recovery"
    folder.mkdir(mode=0o755)  # as folders were made before
    store = RecoveryStore(folder)
    store.write(generate_hall(4), None)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.own_path.stat().st_mode) == 0o600
