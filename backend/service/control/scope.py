"""Which GPUs a command on a plan entity reaches: a rack's, a loop's, a CDU's, a feed's.

The plan names racks and loops; NVML names GPUs by host and index. A command carries the
latter (``commands``), so a window turns the operator's choice into host GPUs here, with the
design's own placement, and the service never has to guess what a selection meant.
"""

from __future__ import annotations

from factoryfloor.backend.design.model import Design, Rack
from factoryfloor.backend.telemetry.placement import HostGpu, host_gpu


def rack_gpus(rack: Rack) -> tuple[HostGpu, ...]:
    return tuple(host_gpu(rack, gpu) for gpu in range(rack.gpu_count))


def entity_gpus(design: Design, entity_id: str) -> tuple[HostGpu, ...]:
    """Every GPU of a rack, or of every rack on a loop, on a CDU's loop, or on a feed; none for
    anything else."""
    cdu_loops = {lp.id for lp in design.loops if lp.cdu_id == entity_id}
    racks = [r for r in design.racks
             if entity_id in (r.id, r.loop_id, r.feed_id) or r.loop_id in cdu_loops]  # fmt: skip
    return tuple(gpu for rack in racks for gpu in rack_gpus(rack))
