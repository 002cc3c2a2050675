"""Where FactoryFloor stands in DSX Flex, read from ``grid.json`` in the service's data folder:
its id, which feed tags name which of the design's feeds, whose signatures it trusts and the
key it signs with. Checked against the plan when the service starts: a tag mapped to a feed the
design does not have is an error naming the tag.

    {"agent_id": "factoryfloor",
     "feed_tags": {"main-a": "F-A"},
     "trusted_keys": {"//grid/v1/isv/acme-energy": "acme.jwks.json"},
     "signing_key": "factoryfloor.jwk.json"}

Key files are relative to the data folder. A design feed's own id is also its tag.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from factoryfloor.backend.design.model import Design

FILE_NAME = "grid.json"
AGENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class GridSettings:
    agent_id: str = "factoryfloor"
    """Our identifier: events are published as ``//grid/v1/infra/{agent_id}``."""
    feed_tags: dict[str, str] = field(default_factory=dict)
    trusted_keys: dict[str, Path] = field(default_factory=dict)
    signing_key: Path | None = None

    @classmethod
    def load(cls, path: Path, design: Design) -> GridSettings:
        """``path``'s settings (defaults when it does not exist); ValueError naming the file,
        the field and the reason."""
        if not path.exists():
            return cls()
        try:
            tree = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: cannot read ({error})") from None
        if not isinstance(tree, dict):
            raise ValueError(f"{path}: must hold a JSON object")
        agent_id = tree.get("agent_id", "factoryfloor")
        if not isinstance(agent_id, str) or not AGENT_ID.match(agent_id):
            raise ValueError(f"{path}: agent_id: 1-64 letters, digits, '.', '_' or '-'")
        feeds = {f.id for f in design.feeds}
        tags = tree.get("feed_tags", {})
        if not isinstance(tags, dict):
            raise ValueError(f"{path}: feed_tags: must map feed tags to design feed ids")
        for tag, feed_id in tags.items():
            if feed_id not in feeds:
                raise ValueError(f"{path}: feed_tags.{tag}: {feed_id!r} is not a feed of the "
                                 f"design ({', '.join(sorted(feeds)) or 'none'})")  # fmt: skip
        trusted = tree.get("trusted_keys", {})
        if not isinstance(trusted, dict):
            raise ValueError(f"{path}: trusted_keys: must map event sources to key files")
        signing = tree.get("signing_key")
        return cls(agent_id, dict(tags), {s: path.parent / f for s, f in trusted.items()},
                   path.parent / signing if signing else None)  # fmt: skip

    def feeds_of(self, tags: tuple[str, ...], design: Design) -> tuple[list[str], list[str]]:
        """The design feeds ``tags`` name (all of them for none), and the tags naming none."""
        feeds = [f.id for f in design.feeds]
        if not tags:
            return feeds, []
        found, unknown = [], []
        for tag in tags:
            feed_id = self.feed_tags.get(tag, tag if tag in feeds else None)
            (found if feed_id is not None else unknown).append(feed_id or tag)
        return list(dict.fromkeys(found)), unknown

    def tag_of(self, feed_id: str) -> str:
        return next((t for t, f in self.feed_tags.items() if f == feed_id), feed_id)
