"""Each feed's grid targets and the caps set to meet them, on disk (``grid_state.json`` in the
service's data folder), so that a service killed while a feed is capped still knows, when it
starts again, which target the caps answer and which limits to put back when it ends: load
targets are sent once (fire-and-forget) and the caps outlive the service on the GPUs.

Written whole on every change (a temporary file renamed over it: a kill mid-write leaves the
old state or the new one). A state that cannot be read is named with the field and reason, and
the service starts with none (the log says the caps it held are no longer known).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from factoryfloor.backend.design.design_file import atomic_write_text
from factoryfloor.backend.service.flex.events import LoadTarget
from factoryfloor.backend.service.flex.messages import RackCapView
from factoryfloor.backend.service.roles import Role

STATE_FILE = "grid_state.json"


def save_state(folder: Path, feeds: dict) -> None:
    """``feeds``: feed id -> FeedGrid (its targets and applied caps)."""
    tree = {}
    for feed_id, feed in feeds.items():
        applied = feed.applied
        tree[feed_id] = {
            "targets": [asdict(t) for t in feed.targets],
            "applied": None if applied is None else {
                "previous_w": applied.previous_w, "caps": [asdict(c) for c in applied.caps],
                "breach_id": applied.breach_id, "user": applied.user, "role": applied.role.value,
            },
        }  # fmt: skip
    atomic_write_text(folder / STATE_FILE, json.dumps(tree))


def load_state(folder: Path) -> dict[str, tuple[list[LoadTarget], dict | None]]:
    """Feed id -> (targets, applied caps as saved); ValueError naming the file, field and
    reason when the state cannot be read. Empty when there is none."""
    path = folder / STATE_FILE
    if not path.exists():
        return {}
    try:
        tree = json.loads(path.read_text(encoding="utf-8"))
        found = {}
        for feed_id, feed in tree.items():
            targets = [LoadTarget(**{**t, "feed_tags": tuple(t["feed_tags"])})
                       for t in feed["targets"]]  # fmt: skip
            applied = feed["applied"]
            if applied is not None:
                applied = {**applied, "role": Role(applied["role"]),
                           "caps": tuple(RackCapView(**c) for c in applied["caps"])}  # fmt: skip
            found[feed_id] = (targets, applied)
        return found
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: cannot read ({type(error).__name__}: {error})") from None
