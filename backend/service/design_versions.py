"""The designs a service has run, numbered: what each reading of its history was recorded under.

The service owns its design file. Applying a design writes the file (atomically, so a restart
runs the applied design, not the one it started with) and keeps a copy of every version in
``designs/`` in the data folder, numbered from 1. On start, a design file that differs from the
newest kept copy (edited by hand while the service was down) becomes a new version. Without a
data folder (an embedded service that records nothing) the versions are numbered in memory.
"""

from __future__ import annotations

import re
from pathlib import Path

from factoryfloor.backend.design.design_file import (
    atomic_write_text,
    design_to_json,
    load_design,
    parse_design,
)
from factoryfloor.backend.design.model import Design

_VERSION_FILE = re.compile(r"^(\d{6})\.json$")


class StaleDesign(ValueError):
    """The design was edited from a version older than the one running."""


class DesignVersions:
    def __init__(self, design_path: Path, data_folder: Path | None) -> None:
        self.design_path = design_path
        self.folder = data_folder / "designs" if data_folder is not None else None
        self.version = 0
        self.design: Design | None = None
        self.text = ""

    def open(self) -> Design:
        """Read the design file, numbering it as a new version if it is not the newest kept.
        DesignFileError or OSError if it cannot be read."""
        design = load_design(self.design_path)
        text = design_to_json(design)
        newest, newest_text = self._newest()
        if newest and newest_text == text:
            self.version, self.design, self.text = newest, design, text
        else:
            self._keep(max(newest, self.version) + 1, design, text)
        return design

    def apply(self, design_json: str, base_version: int) -> Design:
        """Run ``design_json`` from now on: DesignFileError naming the field if it is not a
        valid design, StaleDesign if it was edited from an older version than the one running."""
        if base_version != self.version:
            raise StaleDesign(
                f"the design was edited from version {base_version}, but version "
                f"{self.version} has been applied since: reload it and edit again"
            )
        design = parse_design(design_json.encode("utf-8"), "the applied design")
        text = design_to_json(design)
        atomic_write_text(self.design_path, text)
        self._keep(self.version + 1, design, text)
        return design

    def _keep(self, version: int, design: Design, text: str) -> None:
        if self.folder is not None:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write_text(self.folder / f"{version:06d}.json", text)
        self.version, self.design, self.text = version, design, text

    def _newest(self) -> tuple[int, str]:
        if self.folder is None or not self.folder.is_dir():
            return 0, ""
        numbers = [int(m[1]) for p in self.folder.iterdir() if (m := _VERSION_FILE.match(p.name))]
        if not numbers:
            return 0, ""
        newest = max(numbers)
        return newest, (self.folder / f"{newest:06d}.json").read_text(encoding="utf-8")
