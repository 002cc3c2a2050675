"""GPU rows shaped for a view: the worst GPU of each group of rows, checked against a plain
numpy reference, read from a real LiveHistory, sent through the wire format, and what a window's
history keeps (no per-GPU arrays)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from factoryfloor.backend.design.synthetic import generate_hall
from factoryfloor.backend.service.gpu_rows_transfer import (
    GpuRowsTransferError,
    gpu_rows_reply,
    read_gpu_rows,
)
from factoryfloor.backend.service.history_transfer import history_reply, read_history
from factoryfloor.backend.service.messages import GpuRowsSent, QueryGpuRows
from factoryfloor.backend.telemetry.gpu_rows import (
    GpuRowsQuery,
    GpuRowsQueryError,
    LocalGpuRows,
    answer,
    worst_of_groups,
)
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.backend.telemetry.protocol import Refused, decode, encode
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

T0 = 1_800_000_000.0


def reference(values: np.ndarray, group: int, low_is_worst: bool) -> tuple[np.ndarray, np.ndarray]:
    """Cell by cell: a group's first GPU with no reading, else its first lowest (or highest)."""
    columns, rows = values.shape
    width = math.ceil(rows / group)
    worst = np.empty((columns, width), np.float32)
    which = np.empty((columns, width), np.int64)
    for c in range(columns):
        for g in range(width):
            band = [float(v) for v in values[c, g * group : (g + 1) * group]]
            silent = [i for i, v in enumerate(band) if math.isnan(v)]
            if silent:
                pick = silent[0]
            else:
                best = min(band) if low_is_worst else max(band)
                pick = band.index(best)
            worst[c, g], which[c, g] = band[pick], pick
    return worst, which


readings = st.one_of(st.just(math.nan), st.floats(0.0, 100.0, width=32))


@settings(max_examples=200, deadline=None)
@given(values=hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=23),
                         elements=readings),
       group=st.integers(1, 9), low_is_worst=st.booleans())  # fmt: skip
def test_each_group_shows_its_worst_gpu_as_a_loop_picks_it(values, group, low_is_worst) -> None:
    worst, offsets = worst_of_groups(values, group, low_is_worst)
    expected, which = reference(values, group, low_is_worst)
    assert np.array_equal(worst, expected, equal_nan=True)
    assert np.array_equal(offsets, which)


@pytest.fixture(scope="module")
def fed() -> LiveHistory:
    """A hall of 4 racks of 72 GPUs, 30 s of simulator frames at 4 Hz, with GPU 7 of rack 2
    silent for the last 10 s and GPU 30 of rack 1 hot for the last 5 s."""
    design = generate_hall(4, racks_per_row=4)
    history = LiveHistory(design)
    sim = FacilitySimulator(design)
    silent = sim.keys.index(f"gpu/{design.racks[2].id}/7/temp_c")
    hot = sim.keys.index(f"gpu/{design.racks[1].id}/30/temp_c")
    for i in range(120):
        values = sim.step(0.25)
        if i >= 80:
            values[silent] = np.nan
        if i >= 100:
            values[hot] = 99.0
        history.add(sim.keys, T0 + 0.25 * i, values)
    return history


def query(**changes) -> GpuRowsQuery:
    fields = dict(quantity="temp_c", first_row=0, end_row=288, group=10, columns=30,
                  newest_bucket=int(T0) + 29, resolution_s=1.0)  # fmt: skip
    return GpuRowsQuery(**{**fields, **changes})


def test_the_answer_is_the_worst_gpu_of_each_group_of_the_history(fed: LiveHistory) -> None:
    rows = answer(fed, query())
    window = fed.gpu_window("temp_c", 30.0, T0 + 29.5).values
    expected, which = reference(window, 10, low_is_worst=False)
    assert rows.values.shape == (30, 29)  # 288 rows in groups of 10: the last of 8
    assert np.array_equal(rows.values, expected, equal_nan=True)
    assert np.array_equal(rows.gpu_rows, which + np.arange(29) * 10)
    hot_row = fed.rows_of_rack["R000-01"].start + 30
    silent_row = fed.rows_of_rack["R000-02"].start + 7
    assert (rows.gpu_rows[-5:, hot_row // 10] == hot_row).all()  # hot: it is drawn, and named
    assert rows.values[-5:, hot_row // 10] == pytest.approx(99.0, abs=0.1)
    assert np.isnan(rows.values[-5:, silent_row // 10]).all()  # one silent GPU greys its group
    assert (rows.gpu_rows[-5:, silent_row // 10] == silent_row).all()


def test_utilisation_shows_the_least_busy_and_group_one_is_every_gpu(fed: LiveHistory) -> None:
    rack = fed.rows_of_rack["R000-03"]
    per_gpu = answer(fed, query(quantity="util_pct", first_row=rack.start, end_row=rack.stop,
                                group=1))  # fmt: skip
    window = fed.gpu_window("util_pct", 30.0, T0 + 29.5, list(rack)).values
    assert np.array_equal(per_gpu.values, window, equal_nan=True)
    assert (per_gpu.gpu_rows == np.arange(rack.start, rack.stop)).all()
    grouped = answer(fed, query(quantity="util_pct", first_row=rack.start, end_row=rack.stop,
                                group=72))  # fmt: skip
    assert np.array_equal(grouped.values[:, 0], np.nanmin(window, axis=1))


def request_of(asked: GpuRowsQuery) -> QueryGpuRows:
    return QueryGpuRows(asked)


@pytest.mark.parametrize(("changes", "field"), [
    (dict(resolution_s=2.0), "resolution_s"), (dict(columns=601), "columns"),
    (dict(end_row=289), "rows"), (dict(first_row=5, end_row=5), "rows"), (dict(group=0), "group"),
])  # fmt: skip
def test_a_query_out_of_range_is_refused_naming_the_field(fed: LiveHistory, changes,
                                                          field) -> None:  # fmt: skip
    with pytest.raises(GpuRowsQueryError, match=f"^{field}:"):
        answer(fed, query(**changes))
    reply, parts = gpu_rows_reply(request_of(query(**changes)), fed)
    assert isinstance(reply, Refused) and reply.reason.startswith(f"GPU rows: {field}:")
    assert parts == []


def test_the_wire_carries_the_answer_unchanged(fed: LiveHistory) -> None:
    asked = query(group=7, columns=12)
    request = request_of(asked)
    assert decode(encode(request)) == request
    reply, parts = gpu_rows_reply(request, fed)
    reply = decode(encode(reply))
    assert isinstance(reply, GpuRowsSent)
    got = read_gpu_rows(asked, reply, parts)
    direct = answer(fed, asked)
    assert np.array_equal(got.values, direct.values, equal_nan=True)
    assert np.array_equal(got.gpu_rows, direct.gpu_rows)
    with pytest.raises(GpuRowsTransferError, match="asked for 12 x 42"):
        read_gpu_rows(asked, GpuRowsSent(reply.in_reply_to, 12, 40), parts)
    with pytest.raises(GpuRowsTransferError, match="values"):
        read_gpu_rows(asked, reply, [parts[0][:-4], parts[1]])


def test_the_local_source_answers_at_once(fed: LiveHistory) -> None:
    answers = []
    LocalGpuRows(fed).ask(query(), answers.append)
    assert len(answers) == 1 and answers[0].query == query()


def test_a_window_history_keeps_no_gpu_arrays_yet_the_same_means() -> None:
    """A window's history grows far less with the fleet: of two halls 8 times apart, the larger
    holds only its racks' series and means more (no GPU's history), and those match the
    service's."""
    held = {}
    for racks in (4, 32):
        design = generate_hall(racks, racks_per_row=4)
        service, window = LiveHistory(design), LiveHistory(design, keep_gpus=False)
        sim = FacilitySimulator(design)
        for i in range(8):
            values = sim.step(0.25)
            service.add(sim.keys, T0 + 0.25 * i, values)
            window.add(sim.keys, T0 + 0.25 * i, values)
        keys = list(service.series_keys)
        assert np.array_equal(window.series_window(keys, 2.0).values,
                              service.series_window(keys, 2.0).values, equal_nan=True)  # fmt: skip
        assert window.gpu_quantities == service.gpu_quantities
        with pytest.raises(ValueError, match="ask the service"):
            window.gpu_window("util_pct", 60.0)
        held[racks] = window.nbytes, service.nbytes
        # Seeded with the service's past, per-GPU arrays and all: it still keeps none.
        reply, parts = history_reply("m", service)
        window.seed(read_history(reply, parts))
        assert window.nbytes == held[racks][0]
    gpus_added = 28 * 72
    window_per_gpu = (held[32][0] - held[4][0]) / gpus_added
    service_per_gpu = (held[32][1] - held[4][1]) / gpus_added
    assert service_per_gpu > 7_000  # every GPU's history: 3 quantities, ~9 kB
    assert window_per_gpu < service_per_gpu / 10  # only the racks' series and means grow


def test_history_without_gpus_is_asked_by_a_window() -> None:
    design = generate_hall(4, racks_per_row=4)
    service = LiveHistory(design)
    sim = FacilitySimulator(design)
    service.add(sim.keys, T0, sim.step(0.25))
    reply, parts = history_reply("m", service, with_gpus=False)
    assert reply.quantities == () and len(parts) == 2 * len(service.tiers)
    assert sum(map(len, parts)) < service.nbytes / 10
