"""Saving is atomic: a crash or a failed write never leaves a half-written design file.

The crash test kills a real process with SIGKILL while it saves large designs over and over, at
several points of the save cycle, and checks that what is on disk is always one whole design.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from factoryfloor.backend.design.design_file import load_design, save_design
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.synthetic import generate_hall

REPO = Path(__file__).resolve().parent.parent
DEMO_PATH = REPO / "resources" / "demo_hall.json"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="uses POSIX signals and rlimits")

SAVE_FOREVER = """
import sys
sys.path.insert(0, sys.argv[1])
from factoryfloor.backend.design.design_file import save_design
from factoryfloor.backend.design.synthetic import generate_hall

designs = [generate_hall(2000), generate_hall(2000, seed=1)]
i = 0
while True:
    save_design(designs[i % 2], sys.argv[2])
    i += 1
"""

SAVE_WITH_SIZE_LIMIT = """
import resource, signal, sys
sys.path.insert(0, sys.argv[1])
from factoryfloor.backend.design.design_file import save_design
from factoryfloor.backend.design.synthetic import generate_hall

design = generate_hall(2000)  # about 1 MB of JSON
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
try:
    save_design(design, sys.argv[2])
except OSError as error:
    print("OSError", error.errno)
    sys.exit(0)
print("saved")
sys.exit(1)
"""


@pytest.fixture(scope="module")
def two_halls() -> tuple[Design, Design]:
    first, second = generate_hall(2000), generate_hall(2000, seed=1)
    assert first != second
    return first, second


def wait_until(
    condition: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], timeout_s: float = 60
) -> None:
    """Poll ``condition`` until true; fail if the child dies first or the deadline passes.

    The poll is tight on purpose: the caller can act within microseconds of a change on disk.
    """
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"saver exited with {proc.returncode} before {what}: {err.decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"timed out waiting for {what}")


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime, size): every save renames a new inode over the file, so this changes."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@pytest.mark.parametrize(
    ("saves", "delay_s"), [(2, 0.0), (3, 0.0), (4, 0.0), (2, 0.004), (3, 0.013), (4, 0.029)]
)
def test_killed_mid_save_leaves_one_whole_design(
    saves: int, delay_s: float, tmp_path: Path, two_halls: tuple[Design, Design]
) -> None:
    """Kill the saver ``delay_s`` after its ``saves``-th save shows on disk.

    Killing the moment the file changes catches a save that rewrites the file in place while it
    is half written; the delays land the kill at other points of the write / fsync / rename
    cycle of the next save.
    """
    path = tmp_path / "hall.json"
    save_design(two_halls[1], path)  # an old file to replace, as in real use
    proc = subprocess.Popen(
        [sys.executable, "-c", SAVE_FOREVER, str(REPO), str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        saves_seen = 0
        last = file_identity(path)

        def another_save() -> bool:
            nonlocal saves_seen, last
            now = file_identity(path)
            if now != last:
                saves_seen += 1
                last = now
            return saves_seen >= saves

        wait_until(another_save, f"{saves} saves", proc)
        if delay_s:
            time.sleep(delay_s)  # staggers the kill point; nothing is asserted on time
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the saver must have been killed mid-loop"

    loaded = load_design(path)
    assert loaded in two_halls
    # Only the file itself and, at most, the temporary file of the interrupted save remain.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "hall.json"]
    assert all(name.startswith(".hall.json.") and name.endswith(".tmp") for name in leftovers)
    assert len(leftovers) <= 1


# Permissions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o600])
def test_save_keeps_the_old_files_permissions(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "hall.json"
    path.write_bytes(DEMO_PATH.read_bytes())
    path.chmod(mode)
    save_design(generate_hall(8), path)
    assert path.stat().st_mode & 0o777 == mode
    assert load_design(path) == generate_hall(8)


def test_new_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    """Not the 0600 of a temporary file: a saved design is shared like any document."""
    umask = os.umask(0o022)
    os.umask(umask)
    path = tmp_path / "hall.json"
    save_design(generate_hall(8), path)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# Failed saves -----------------------------------------------------------------------------------


def test_save_into_a_missing_folder_fails_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        save_design(generate_hall(8), tmp_path / "no such folder" / "hall.json")
    assert list(tmp_path.iterdir()) == []


def test_save_over_a_folder_fails_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "hall.json"
    target.mkdir()
    (target / "keep.txt").write_text("untouched")
    with pytest.raises(OSError):
        save_design(generate_hall(8), target)
    assert [p.name for p in tmp_path.iterdir()] == ["hall.json"]
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "untouched"


def test_write_failing_midway_leaves_the_old_file_byte_identical(tmp_path: Path) -> None:
    """A write that fails part way (file-size limit, as on a full disk) keeps the old file."""
    path = tmp_path / "hall.json"
    old_bytes = DEMO_PATH.read_bytes()
    path.write_bytes(old_bytes)
    result = subprocess.run(
        [sys.executable, "-c", SAVE_WITH_SIZE_LIMIT, str(REPO), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["OSError", str(errno.EFBIG)]
    assert path.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["hall.json"]


def test_successful_save_leaves_only_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hall.json"
    save_design(generate_hall(8), path)
    save_design(generate_hall(8, seed=3), path)
    assert [p.name for p in tmp_path.iterdir()] == ["hall.json"]
    assert load_design(path) == generate_hall(8, seed=3)
