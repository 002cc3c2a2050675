"""A sweep under way, on disk: what a service killed mid-sweep needs to put the group back.

The record is written before the first step is applied and removed once the group is restored,
so a record found when the service starts means a sweep was cut short with its GPUs left at a
sweep step: the service restores the previous settings at once, and never resumes the sweep
(the group's work may have changed while the service was down, so old steps would mislead).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from factoryfloor.backend.design.design_file import atomic_write_text
from factoryfloor.backend.service.tuning.sweep import Lever, Previous
from factoryfloor.backend.telemetry.placement import HostGpu

RECORD_FILE = "tuning-sweep.json"


@dataclass(frozen=True, slots=True)
class SweepRecord:
    group: str
    user: str
    """Who started the sweep: the restore is audited as theirs."""
    lever: Lever
    gpus: tuple[HostGpu, ...]
    previous: Previous


def save_record(folder: Path, record: SweepRecord) -> None:
    """Write the record whole (``atomic_write_text``: synced, then renamed over the old one), so
    a kill or a power cut mid-write leaves the old record or the new one, never half of one."""
    path = folder / RECORD_FILE
    text = json.dumps({
        "group": record.group, "user": record.user, "lever": record.lever,
        "gpus": [[g.node, g.index] for g in record.gpus],
        "limits_w": record.previous.limits_w,
    })  # fmt: skip
    atomic_write_text(path, text)


def load_record(folder: Path) -> SweepRecord | None:
    """The sweep cut short in ``folder``, if any; ValueError naming the file and field when the
    record cannot be read."""
    path = folder / RECORD_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON: {error}") from error
    try:
        lever = data["lever"]
        if lever not in ("power_limit", "sm_clock"):
            raise ValueError(f"{path}: lever: {lever!r} is neither power_limit nor sm_clock")
        previous = Previous({str(k): float(v) for k, v in data["limits_w"].items()})
        gpus = tuple(HostGpu(str(node), int(index)) for node, index in data["gpus"])
        return SweepRecord(str(data["group"]), str(data["user"]), lever, gpus, previous)
    except KeyError as missing:
        raise ValueError(f"{path}: field {missing} missing") from missing
    except (TypeError, AttributeError) as error:
        raise ValueError(f"{path}: malformed record: {error}") from error


def clear_record(folder: Path) -> None:
    (folder / RECORD_FILE).unlink(missing_ok=True)
