"""Which plan rack, and which of its GPUs, a host's GPU is.

Telemetry names a GPU by its host and its index on that host (``gpu/{node}/{index}/...``); the
plan names it by rack and position in the rack. The design says which hosts stand in a rack
(``Rack.nodes``, in GPU order, each holding an equal share); a host no rack lists is placed by
name: the rack whose id it is (``A01``), ignoring case and separators, or whose id its first DNS
label is (``a01.site.example``). Anything else is not on the plan: its readings are stored and
listed, never drawn on a rack they do not belong to.
"""

from __future__ import annotations

from dataclasses import dataclass

from factoryfloor.backend.design.model import Design, Rack
from factoryfloor.backend.design.mqtt_settings import name_key


@dataclass(frozen=True, slots=True)
class RackGpu:
    """A GPU's place on the plan: its rack and its position among the rack's GPUs."""

    rack_id: str
    gpu: int


@dataclass(frozen=True, slots=True)
class HostGpu:
    """A GPU as telemetry names it: its host and its index on that host."""

    node: str
    index: int


def host_gpu(rack: Rack, gpu: int) -> HostGpu:
    """The host and host index of a rack's GPU ``gpu``: the inverse of
    :meth:`GpuPlacement.place`, for sources that simulate a design's hosts."""
    if not rack.nodes:
        return HostGpu(rack.id, gpu)
    share = rack.gpu_count // len(rack.nodes)
    return HostGpu(rack.nodes[gpu // share], gpu % share)


@dataclass(frozen=True, slots=True)
class _HostSlots:
    rack_id: str
    first_gpu: int
    gpu_count: int


class GpuPlacement:
    """Places hosts' GPUs on a design's racks (built once per design; lookups are dict reads)."""

    def __init__(self, design: Design) -> None:
        self._listed: dict[str, _HostSlots] = {}
        self._by_name: dict[str, _HostSlots | None] = {}
        """None: several racks' ids read the same (``A-01`` and ``A01``), so the name places
        nothing."""
        for rack in design.racks:
            if rack.nodes:
                share = rack.gpu_count // len(rack.nodes)
                for k, node in enumerate(rack.nodes):
                    self._listed[node.lower()] = _HostSlots(rack.id, k * share, share)
            else:
                key = name_key(rack.id)
                slots = _HostSlots(rack.id, 0, rack.gpu_count)
                self._by_name[key] = None if key in self._by_name else slots

    def place(self, node: str, index: int) -> RackGpu | None:
        """Where GPU ``index`` of ``node`` is; None for a host the design places nowhere or an
        index past the host's share of its rack."""
        slots = self._slots(node)
        if slots is None or not 0 <= index < slots.gpu_count:
            return None
        return RackGpu(slots.rack_id, slots.first_gpu + index)

    def _slots(self, node: str) -> _HostSlots | None:
        listed = self._listed.get(node.lower())
        if listed is not None:
            return listed
        return self._by_name.get(name_key(node)) or self._by_name.get(
            name_key(node.partition(".")[0])
        )
