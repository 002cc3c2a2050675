"""Generated halls of any size, for benchmarks, tests and trying the editor at scale.

A generated hall is rows of liquid-cooled GB200 NVL72 racks, each run of ``racks_per_loop``
racks fed by an in-row CDU, with every fourth row air-cooled HGX H100; one power feed per row.
Figures are sized so a plain hall is within capacity.
"""

from __future__ import annotations

import random

from factoryfloor.backend.design.catalog import builtin_catalog
from factoryfloor.backend.design.model import Cdu, CoolingLoop, Design, Floor, PowerFeed, Rack

RACK_PITCH_M = 0.6
ROW_PITCH_M = 3.2
LIQUID_RACK_KW = 132.0
AIR_RACK_KW = 20.4


def generate_hall(
    rack_count: int, racks_per_row: int = 20, racks_per_loop: int = 4, seed: int = 0
) -> Design:
    """A valid hall of ``rack_count`` racks; ``seed`` varies rack power by up to -10 %."""
    rng = random.Random(seed)
    catalog = {model.id: model for model in builtin_catalog()}
    row_count = -(-rack_count // racks_per_row)
    units_per_row = racks_per_row + -(-racks_per_row // racks_per_loop)
    width_m = 4.0 + units_per_row * RACK_PITCH_M
    depth_m = 3.0 + row_count * ROW_PITCH_M
    racks: list[Rack] = []
    cdus: list[Cdu] = []
    loops: list[CoolingLoop] = []
    feeds: list[PowerFeed] = []

    for row in range(row_count):
        y_m = 2.5 + row * ROW_PITCH_M
        air_row = row % 4 == 3
        feed_id = f"FEED-{row:03d}"
        in_row = min(racks_per_row, rack_count - len(racks))
        rack_kw = AIR_RACK_KW if air_row else LIQUID_RACK_KW
        feeds.append(PowerFeed(id=feed_id, x_m=1.0, y_m=y_m, capacity_kw=in_row * rack_kw * 1.25))
        x_m = 2.5
        loop_id = None
        for i in range(in_row):
            if not air_row and i % racks_per_loop == 0:
                cdu_id, loop_id = f"CDU-{row:03d}-{i:02d}", f"L-{row:03d}-{i:02d}"
                cdus.append(
                    Cdu(
                        id=cdu_id,
                        x_m=x_m,
                        y_m=y_m,
                        capacity_kw=racks_per_loop * 150.0,
                        rated_flow_lpm=racks_per_loop * 225.0,
                        supply_temp_c=30.0,
                    )
                )
                loop_end_m = x_m + RACK_PITCH_M * min(racks_per_loop, in_row - i)
                loops.append(
                    CoolingLoop(
                        id=loop_id,
                        cdu_id=cdu_id,
                        design_delta_t_k=10.0,
                        route=[(x_m, y_m + 0.7), (loop_end_m, y_m + 0.7)],
                    )
                )
                x_m += RACK_PITCH_M
            model = catalog["H100-SXM" if air_row else "GB200-NVL72"]
            racks.append(
                Rack(
                    id=f"R{row:03d}-{i:02d}",
                    x_m=x_m,
                    y_m=y_m,
                    gpu_model=model.id,
                    gpu_count=16 if air_row else 72,
                    it_power_kw=round(rack_kw * (1.0 - 0.1 * rng.random()), 1),
                    liquid_fraction=0.0 if air_row else 0.85,
                    loop_id=None if air_row else loop_id,
                    feed_id=feed_id,
                )
            )
            x_m += RACK_PITCH_M

    used = {rack.gpu_model for rack in racks}
    return Design(
        name=f"Generated hall, {rack_count} racks",
        floor=Floor(width_m=width_m, depth_m=depth_m),
        gpu_models=[model for model in catalog.values() if model.id in used],
        racks=racks,
        cdus=cdus,
        loops=loops,
        feeds=feeds,
    )
