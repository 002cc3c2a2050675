"""Where each series of a store snapshot is, by kind and quantity, and which plan entity it
belongs to: built once per key list (keys only ever grow), so that evaluating a rule is a numpy
gather of the columns it watches, never a walk over keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.telemetry.placement import GpuPlacement
from factoryfloor.backend.telemetry.series import EntitySeries, GpuSeries, parse


@dataclass(slots=True)
class Columns:
    """The series of one kind and quantity: their snapshot columns, the plan entity each belongs
    to (a GPU's rack, or its host when the plan places it nowhere), and the subject an alarm on
    it names (``A01``, ``a01 GPU 3``)."""

    columns: list[int] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    """A GPU's host, which a rule may name instead of its rack; the entity for other series."""

    def array(self) -> np.ndarray:
        return np.asarray(self.columns, dtype=np.int64)

    def picked(self, wanted: set[str]) -> list[int]:
        """Positions whose entity (or, for a GPU, host) is wanted; all if none is."""
        if not wanted:
            return list(range(len(self.columns)))
        return [
            i for i, (entity, host) in enumerate(zip(self.entities, self.hosts, strict=True))
            if entity in wanted or host in wanted
        ]  # fmt: skip


class SeriesIndex:
    """The columns of a snapshot's keys by ``(kind, quantity)``, and of each entity's series."""

    def __init__(self, design: Design, keys: np.ndarray) -> None:
        self.size = 0
        self._last_key = ""
        self._placement = GpuPlacement(design)
        self._by_quantity: dict[tuple[str, str], Columns] = {}
        self._by_entity: dict[tuple[str, str, str], int] = {}
        self.extend(keys)

    def extends_to(self, keys: np.ndarray) -> bool:
        """Whether ``keys`` are the keys indexed followed by new ones (a store's keys only
        grow): then ``extend`` reads the new ones alone."""
        return len(keys) >= self.size and (self.size == 0 or keys[self.size - 1] == self._last_key)

    def extend(self, keys: np.ndarray) -> None:
        """Index the keys past those already indexed: a key joining a hall of 150,000 series
        costs its own parse, not the 3 s of all of them again."""
        placement = self._placement
        for column, key in enumerate(keys[self.size :].tolist(), start=self.size):
            match parse(key):
                case GpuSeries(node, index, quantity):
                    spot = placement.place(node, index)
                    entity = node if spot is None else spot.rack_id
                    subject, kind, host = gpu_subject(node, index), "gpu", node
                case EntitySeries(kind, entity, quantity):
                    subject = host = entity
                    self._by_entity[kind, entity, quantity] = column
                case _:
                    continue
            found = self._by_quantity.setdefault((kind, quantity), Columns())
            found.columns.append(column)
            found.entities.append(entity)
            found.subjects.append(subject)
            found.hosts.append(host)
        self.size = len(keys)
        if self.size:
            self._last_key = str(keys[-1])

    def series(self, kind: str, quantity: str) -> list[tuple[str, Columns]]:
        """``(quantity, columns)`` of every quantity of ``kind`` that ``quantity`` names (``*``:
        all of them)."""
        return [
            (q, columns)
            for (k, q), columns in self._by_quantity.items()
            if k == kind and (quantity in ("*", q))
        ]

    def entity_columns(self, kind: str, entity_ids: list[str], quantity: str) -> np.ndarray:
        """The column of ``kind/{id}/quantity`` for each id, -1 where there is no such series."""
        return np.array(
            [self._by_entity.get((kind, entity_id, quantity), -1) for entity_id in entity_ids],
            dtype=np.int64,
        )


_GPU_SUBJECT = re.compile(r"^(?P<node>.+) GPU (?P<index>\d+)$")


def gpu_subject(node: str, index: int) -> str:
    """How an alarm names one GPU: ``node7 GPU 3`` (its host and NVML index)."""
    return f"{node} GPU {index}"


def parse_gpu_subject(subject: str) -> tuple[str, int] | None:
    """(host, index) of a ``gpu_subject``; None for any other subject: what a window needs to
    find the GPU an alarm is about."""
    found = _GPU_SUBJECT.match(subject)
    return None if found is None else (found["node"], int(found["index"]))
