"""Autosave files that let the next start recover unsaved work after a crash.

Each running FactoryFloor writes its unsaved design to its own file in the recovery folder
(named by process id, so two open windows never overwrite each other) atomically, like a save.
A clean exit, or a save, removes it. At start, files left by processes that are no longer
running are offered for recovery; a file whose process still runs belongs to another window.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from factoryfloor.backend.design.design_file import atomic_write_text, design_to_json, parse_design
from factoryfloor.backend.design.leftovers import process_running
from factoryfloor.backend.design.model import Design

SUFFIX = ".recovery.json"


@dataclass(frozen=True, slots=True)
class RecoveryFile:
    path: Path
    pid: int
    original_path: Path | None
    """The file the unsaved design came from; None for a design never saved."""
    saved_at: float
    """Epoch seconds of the autosave."""


class RecoveryStore:
    def __init__(self, folder: Path, pid: int | None = None):
        self.folder = folder
        self.pid = os.getpid() if pid is None else pid

    @property
    def own_path(self) -> Path:
        return self.folder / f"{self.pid}{SUFFIX}"

    def write(self, design: Design, original_path: Path | None) -> None:
        """Write the unsaved design, readable by this user only (folder 0700, file 0600)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)  # also a folder made before recovery files were private
        header = {"original_path": None if original_path is None else str(original_path),
                  "saved_at": time.time()}  # fmt: skip
        # The header line, then the design exactly as a design file holds it.
        atomic_write_text(self.own_path, json.dumps(header) + "\n" + design_to_json(design),
                          mode=0o600)  # fmt: skip

    def clear(self) -> None:
        self.own_path.unlink(missing_ok=True)

    def abandoned(self) -> list[RecoveryFile]:
        """Recovery files of processes that are gone, newest first; unreadable ones skipped."""
        found: list[RecoveryFile] = []
        if not self.folder.is_dir():
            return found
        for path in self.folder.glob(f"*{SUFFIX}"):
            stem = path.name.removesuffix(SUFFIX)
            if not stem.isdigit() or int(stem) == self.pid or process_running(int(stem)):
                continue
            try:
                header = json.loads(path.read_text(encoding="utf-8").split("\n", 1)[0])
                original = header.get("original_path")
                found.append(RecoveryFile(path, int(stem), Path(original) if original else None,
                                          float(header["saved_at"])))  # fmt: skip
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
        return sorted(found, key=lambda f: f.saved_at, reverse=True)

    @staticmethod
    def load(recovery: RecoveryFile) -> Design:
        """The recovered design; DesignFileError if the autosave itself is damaged."""
        raw = recovery.path.read_bytes()
        _, _, body = raw.partition(b"\n")
        return parse_design(body, str(recovery.path))

    @staticmethod
    def discard(recovery: RecoveryFile) -> None:
        recovery.path.unlink(missing_ok=True)
