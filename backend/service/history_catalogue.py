"""The recorder's series catalogue: which id each series key is stored under.

Ids are handed out a block of 256 at a time per quantity (``history_chunks.BLOCK_SERIES``), so
a block holds one quantity, stored one way, and the series of a quantity registered together
(a rack's GPUs, the fleet's power) are runs of ids in few blocks: a rack's 72 GPUs in one or two
blocks, the fleet's 16,384 in 64. A series keeps its id for good: the catalogue is written into
every day file, and read back from the newest ones when the recorder starts again.
"""

from __future__ import annotations

from collections.abc import Iterable

from factoryfloor.backend.service.history_chunks import (
    BLOCK_SERIES,
    Quantisation,
    quantisation,
    quantity_of,
)


class Catalogue:
    def __init__(self) -> None:
        self.entries: list[tuple[int, str]] = []
        """(id, key) in the order they were catalogued: what a day file is sent."""
        self._ids: dict[str, int] = {}
        self._block_quantity: dict[int, str] = {}
        self._block_width: dict[int, int] = {}
        self._open_block: dict[str, int] = {}
        """The block new series of each quantity go into."""

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def blocks(self) -> int:
        """Blocks in use: ids are below ``blocks * BLOCK_SERIES``."""
        return max(self._block_quantity, default=-1) + 1

    def id(self, key: str) -> int | None:
        return self._ids.get(key)

    def block_width(self, block: int) -> int:
        """Columns of ``block`` in use (one past its highest id)."""
        return self._block_width.get(block, 0)

    def block_quantisation(self, block: int) -> Quantisation | None:
        quantity = self._block_quantity.get(block)
        return None if quantity is None else quantisation(quantity)

    def add(self, keys: Iterable[str]) -> list[tuple[int, str]]:
        """Ids for the keys not yet catalogued; the new (id, key) entries."""
        new = []
        for key in keys:
            if key in self._ids:
                continue
            quantity = quantity_of(key)
            block = self._open_block.get(quantity)
            if block is None or self._block_width[block] >= BLOCK_SERIES:
                block = self.blocks
                self._open_block[quantity] = block
            series_id = block * BLOCK_SERIES + self._block_width.get(block, 0)
            self._enter(series_id, key)
            new.append((series_id, key))
        return new

    def restore(self, entries: Iterable[tuple[int, str]]) -> None:
        """Entries read back from a day file or the tail, ids as they were."""
        for series_id, key in sorted(entries):
            if key not in self._ids:
                self._enter(series_id, key)
                block = series_id // BLOCK_SERIES
                self._open_block[quantity_of(key)] = max(
                    block, self._open_block.get(quantity_of(key), -1)
                )

    def _enter(self, series_id: int, key: str) -> None:
        block = series_id // BLOCK_SERIES
        self._ids[key] = series_id
        self.entries.append((series_id, key))
        self._block_quantity.setdefault(block, quantity_of(key))
        self._block_width[block] = max(
            self._block_width.get(block, 0), series_id % BLOCK_SERIES + 1
        )
