"""Hypothesis strategies for valid designs.

A generated design satisfies everything ``parse_design`` checks: ids unique across the whole
design, racks naming existing GPU models / loops / feeds (or no loop / feed), each loop on its
own existing CDU, items positioned on the floor, and finite floats within every field's range.
"""

from __future__ import annotations

from hypothesis import strategies as st

from factoryfloor.backend.design.model import (
    Assumptions,
    Cdu,
    CoolingLoop,
    Design,
    Floor,
    GpuModel,
    PowerFeed,
    Rack,
)

ENTITY_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", fullmatch=True)


def finite(
    low: float, high: float, *, exclude_low: bool = False, exclude_high: bool = False
) -> st.SearchStrategy[float]:
    """Finite floats in a field's allowed range (bounds as the model declares them)."""
    return st.floats(
        min_value=low,
        max_value=high,
        exclude_min=exclude_low,
        exclude_max=exclude_high,
        allow_nan=False,
        allow_infinity=False,
    )


def texts(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    """Any Unicode text (hypothesis leaves out lone surrogates, which UTF-8 cannot hold)."""
    return st.text(min_size=min_size, max_size=max_size)


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


assumptions_strategy = st.builds(
    Assumptions,
    liquid_cooling_overhead=finite(0, 2),
    air_cooling_overhead=finite(0, 2),
    electrical_loss_fraction=finite(0, 1),
    other_overhead_kw=finite(0, 1e6),
    near_capacity_fraction=finite(0, 1, exclude_low=True),
    max_air_kw_per_rack=finite(0, 1_000, exclude_low=True),
)


def gpu_model_strategy(model_id: str) -> st.SearchStrategy[GpuModel]:
    return st.builds(
        GpuModel,
        id=st.just(model_id),
        name=texts(1, 120),
        gpu_power_w=finite(0, 10_000, exclude_low=True),
        system_power_per_gpu_w=finite(0, 20_000, exclude_low=True),
        tokens_per_s_per_gpu=optional(finite(0, 1e7)),
        reference_workload=texts(0, 200),
        liquid_cooled=st.booleans(),
        sources=st.lists(texts(0, 80), max_size=3),
        notes=texts(0, 200),
    )


@st.composite
def designs(draw: st.DrawFn, max_items: int = 6) -> Design:
    """A design that passes every check of ``parse_design``."""
    model_count = draw(st.integers(1, 3))
    rack_count = draw(st.integers(0, max_items))
    cdu_count = draw(st.integers(0, 4))
    loop_count = draw(st.integers(0, cdu_count))
    feed_count = draw(st.integers(0, 3))
    total = model_count + rack_count + cdu_count + loop_count + feed_count
    ids = iter(draw(st.lists(ENTITY_IDS, min_size=total, max_size=total, unique=True)))
    model_ids = [next(ids) for _ in range(model_count)]
    rack_ids = [next(ids) for _ in range(rack_count)]
    cdu_ids = [next(ids) for _ in range(cdu_count)]
    loop_ids = [next(ids) for _ in range(loop_count)]
    feed_ids = [next(ids) for _ in range(feed_count)]

    width = draw(finite(0, 10_000, exclude_low=True))
    depth = draw(finite(0, 10_000, exclude_low=True))
    xs, ys = finite(0, width), finite(0, depth)
    footprint = finite(0, 50, exclude_low=True)
    rotation = finite(0, 360, exclude_high=True)

    gpu_models = [draw(gpu_model_strategy(model_id)) for model_id in model_ids]
    racks = [
        Rack(
            id=rack_id,
            x_m=draw(xs),
            y_m=draw(ys),
            rotation_deg=draw(rotation),
            width_m=draw(footprint),
            depth_m=draw(footprint),
            gpu_model=draw(st.sampled_from(model_ids)),
            gpu_count=draw(st.integers(0, 10_000)),
            it_power_kw=draw(finite(0, 5_000)),
            liquid_fraction=draw(finite(0, 1)),
            loop_id=draw(optional(st.sampled_from(loop_ids))) if loop_ids else None,
            feed_id=draw(optional(st.sampled_from(feed_ids))) if feed_ids else None,
            tokens_per_s_per_gpu=draw(optional(finite(0, 1e7))),
            workload=draw(optional(texts(0, 200))),
        )
        for rack_id in rack_ids
    ]
    cdus = [
        Cdu(
            id=cdu_id,
            x_m=draw(xs),
            y_m=draw(ys),
            rotation_deg=draw(rotation),
            width_m=draw(footprint),
            depth_m=draw(footprint),
            capacity_kw=draw(finite(0, 50_000, exclude_low=True)),
            rated_flow_lpm=draw(finite(0, 100_000, exclude_low=True)),
            supply_temp_c=draw(finite(5, 60)),
            fluid=draw(st.sampled_from(["water", "pg25"])),
        )
        for cdu_id in cdu_ids
    ]
    served_cdus = draw(st.permutations(cdu_ids))[:loop_count]
    loops = [
        CoolingLoop(
            id=loop_id,
            cdu_id=cdu_id,
            design_delta_t_k=draw(finite(0, 40, exclude_low=True)),
            route=draw(st.lists(st.tuples(xs, ys), max_size=5)),
        )
        for loop_id, cdu_id in zip(loop_ids, served_cdus, strict=True)
    ]
    feeds = [
        PowerFeed(
            id=feed_id,
            x_m=draw(xs),
            y_m=draw(ys),
            capacity_kw=draw(finite(0, 100_000, exclude_low=True)),
        )
        for feed_id in feed_ids
    ]
    return Design(
        name=draw(texts(1, 200)),
        floor=Floor(width_m=width, depth_m=depth),
        assumptions=draw(assumptions_strategy),
        gpu_models=gpu_models,
        racks=racks,
        cdus=cdus,
        loops=loops,
        feeds=feeds,
    )
