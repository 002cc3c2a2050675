"""Files a FactoryFloor killed at the wrong moment leaves behind, and removing them later.

Two kinds, both named after the process that made them so that another can tell whose they are:

- An atomic save's temporary file, beside the design (``design_file.atomic_write_text``):
  ``.<name>.<random>.<pid>.factoryfloor-save.tmp``. A process killed between creating it and
  renaming it over the design leaves it behind, up to the design's size each time. One is
  removed when its process is not running and it is older than ``SAVE_TEMP_MAX_AGE_S``: the
  age matters too because a folder on a network share is written by processes this machine
  cannot see. Temporary files of the older naming (``.<name>.<random>.tmp``, no process id)
  are removed by age alone, only those of the design being opened. Autosaves in the recovery
  folder are written the same way, and their leftovers removed at start.
- The snapshot of unsaved edits that Run hands to the backend: a private folder (0700, its
  file 0600, so an unsaved design is never readable by other users) in the temporary folder,
  ``factoryfloor-run-<pid>-<random>``. It is removed when Run stops; a killed window cannot,
  so at start the folders of processes no longer running are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from factoryfloor.backend.design.design_file import SAVE_TEMP_SUFFIX, atomic_write_text

SAVE_TEMP_MAX_AGE_S = 600.0
"""Older than any save in progress could be: a 64 MB design written and fsynced to a slow
network share takes well under a minute."""

RUN_SNAPSHOT_PREFIX = "factoryfloor-run-"
RUN_SNAPSHOT_NAME = "design.json"

_MKSTEMP_PART = r"[a-z0-9_]{8}"
"""What ``tempfile.mkstemp`` puts between prefix and suffix."""
_SAVE_TEMP = re.compile(
    rf"\.(?P<name>.+)\.{_MKSTEMP_PART}\.(?P<pid>\d+){re.escape(SAVE_TEMP_SUFFIX)}"
)
_RUN_SNAPSHOT = re.compile(rf"{RUN_SNAPSHOT_PREFIX}(?P<pid>\d+)-[a-z0-9_]+")


def process_running(pid: int) -> bool:
    """Whether a process with this id runs on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _older_than(path: Path, age_s: float, now_s: float) -> bool:
    try:
        return now_s - path.lstat().st_mtime > age_s
    except FileNotFoundError:
        return False


def stale_save_temps(
    folder: Path, design_name: str | None = None, now_s: float | None = None
) -> list[Path]:
    """Temporary files of interrupted saves in ``folder``: every one of this naming whose
    process is gone and that is older than ``SAVE_TEMP_MAX_AGE_S``, and older-style ones of
    the file ``design_name`` older than that."""
    now_s = time.time() if now_s is None else now_s
    legacy = (re.compile(rf"\.{re.escape(design_name)}\.{_MKSTEMP_PART}\.tmp")
              if design_name else None)  # fmt: skip
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if not entry.is_file(follow_symlinks=False):
                continue
            ours = _SAVE_TEMP.fullmatch(entry.name)
            if ours is not None:
                abandoned = not process_running(int(ours["pid"]))
            else:
                abandoned = legacy is not None and legacy.fullmatch(entry.name) is not None
            path = Path(entry.path)
            if abandoned and _older_than(path, SAVE_TEMP_MAX_AGE_S, now_s):
                found.append(path)
    return sorted(found)


def remove_stale_save_temps(folder: Path, design_name: str | None = None) -> list[Path]:
    """Remove what ``stale_save_temps`` finds; the files removed."""
    removed = []
    for path in stale_save_temps(folder, design_name):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def write_run_snapshot(text: str) -> Path:
    """Write a design's text to a new private snapshot folder of this process; its path."""
    folder = Path(tempfile.mkdtemp(prefix=f"{RUN_SNAPSHOT_PREFIX}{os.getpid()}-"))  # 0700
    path = folder / RUN_SNAPSHOT_NAME
    try:
        atomic_write_text(path, text, mode=0o600)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return path


def remove_run_snapshot(path: Path) -> None:
    """Remove a snapshot written by ``write_run_snapshot``, folder and all."""
    shutil.rmtree(path.parent, ignore_errors=True)


def remove_leftovers_at_start(recovery_folder: Path) -> list[Path]:
    """What a new start removes: run snapshots of processes gone, and temporary files of
    autosaves killed midway in the recovery folder; the paths removed."""
    return remove_abandoned_run_snapshots() + remove_stale_save_temps(recovery_folder)


def remove_abandoned_run_snapshots(temp_folder: Path | None = None) -> list[Path]:
    """Remove this user's run snapshot folders whose process is no longer running; the folders
    removed."""
    folder = Path(temp_folder or tempfile.gettempdir())
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _RUN_SNAPSHOT.fullmatch(entry.name)
            if match is None or not entry.is_dir(follow_symlinks=False):
                continue
            if os.name == "posix" and entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue  # another user's: not ours to judge
            if process_running(int(match["pid"])):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return sorted(removed)
