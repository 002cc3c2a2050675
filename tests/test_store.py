"""The telemetry store against plain Python models of what it should keep.

Times are passed explicitly (no clocks, no sleeps). Small stores (``raw_points=16``) make rings
wrap within a test's few hundred readings. Batches under 32 readings take the scalar path and
larger ones the numpy path; tests that matter for both write the same readings both ways.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factoryfloor.backend.telemetry.readings import Readings
from factoryfloor.backend.telemetry.series_arrays import SeriesArrays
from factoryfloor.backend.telemetry.sink import GOOD, SourceEvent
from factoryfloor.backend.telemetry.store import TelemetryStore

T0 = 1_700_000_000.0
SCALAR, BATCH = 1, 1000
"""Batch sizes that take the scalar path (one reading a call) and the numpy path."""


def write_in_batches(
    store: TelemetryStore,
    readings: list[tuple[str, float, float, int]],
    batch: int,
) -> None:
    for first in range(0, len(readings), batch):
        keys, times, values, qualities = zip(*readings[first : first + batch], strict=True)
        store.write(keys, times, values, qualities)


def assert_readings_equal(actual: Readings, expected: Readings) -> None:
    np.testing.assert_array_equal(actual.times_s, expected.times_s)
    np.testing.assert_array_equal(actual.values, expected.values)
    np.testing.assert_array_equal(actual.qualities, expected.qualities)


def as_readings(rows: list[tuple[float, float, int]]) -> Readings:
    return Readings(
        np.array([t for t, _, _ in rows], dtype=np.float64),
        np.array([v for _, v, _ in rows], dtype=np.float32),
        np.array([q for _, _, q in rows], dtype=np.uint8),
    )


# -- rings and batches ----------------------------------------------------------------------


@pytest.mark.parametrize("batch", [SCALAR, BATCH])
def test_ring_wraps_keeping_the_newest_capacity_readings_in_order(batch: int) -> None:
    store = TelemetryStore(raw_points=16)
    rows = [("gpu/n1/0/power_w", T0 + i * 0.25, float(i), GOOD) for i in range(50)]
    write_in_batches(store, rows, batch)

    assert store.spec("gpu/n1/0/power_w").raw_capacity == 16
    assert_readings_equal(
        store.recent("gpu/n1/0/power_w"), as_readings([(t, v, q) for _, t, v, q in rows[-16:]])
    )
    assert store.latest("gpu/n1/0/power_w") == (T0 + 49 * 0.25, 49.0, GOOD)


def test_a_batch_with_repeated_series_keeps_each_series_order() -> None:
    store = TelemetryStore(raw_points=16)
    # 40 readings of "a" interleaved with 10 of "b": "a" overruns its 16-slot ring in one batch.
    rows = [("x/a", T0 + i, float(i), GOOD) for i in range(40)]
    rows[::4] = [("x/b", T0 + i, -float(i), 2) for i in range(0, 40, 4)]
    write_in_batches(store, rows, BATCH)

    for key in ("x/a", "x/b"):
        mine = [(t, v, q) for k, t, v, q in rows if k == key]
        assert_readings_equal(store.recent(key), as_readings(mine[-16:]))
        assert store.latest(key) == mine[-1]


def test_out_of_order_times_keep_arrival_order_and_window_sorts_them() -> None:
    store = TelemetryStore(raw_points=16)
    times = [T0 + 3, T0 + 1, T0 + 2]
    store.write(["x/a"] * 3, times, [3.0, 1.0, 2.0])

    np.testing.assert_array_equal(store.recent("x/a").times_s, times)
    assert store.latest("x/a") == (T0 + 2, 2.0, GOOD)
    np.testing.assert_array_equal(store.window("x/a", T0, T0 + 10).values, [1.0, 2.0, 3.0])


def test_unusable_times_are_dropped_and_reported() -> None:
    store = TelemetryStore()
    keys = ["x/a"] * 30
    times = [T0 + i for i in range(30)]
    times[3], times[7] = math.nan, math.inf
    store.write(keys, times, [1.0] * 30)
    store.write(["x/b"], [math.nan], [1.0])

    assert len(store.recent("x/a").times_s) == 28
    tallies = store.event_tallies()
    assert tallies[("store", "rejected", "x/a")].last_detail == "2 readings with no valid time"
    assert tallies[("store", "rejected", "x/b")].count == 1


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        TelemetryStore().write(["x/a", "x/b"], [T0], [1.0, 2.0])


# -- readings: quality, NaN, staleness -------------------------------------------------------


@pytest.mark.parametrize("batch", [SCALAR, BATCH])
def test_quality_other_than_good_is_stored_and_reported(batch: int) -> None:
    store = TelemetryStore()
    codes = [GOOD, 0, 3, GOOD, 255, 300, -1] * 5
    rows = [("rack/r1/supply_temp_c", T0 + i, 20.0 + i, q) for i, q in enumerate(codes)]
    write_in_batches(store, rows, batch)

    clipped = [min(max(q, 0), 255) for q in codes]
    np.testing.assert_array_equal(store.recent("rack/r1/supply_temp_c").qualities, clipped)
    assert store.latest("rack/r1/supply_temp_c").quality == 0


@pytest.mark.parametrize("batch", [SCALAR, BATCH])
def test_nan_and_none_are_accepted_as_no_valid_reading(batch: int) -> None:
    store = TelemetryStore()
    values = [1.0, None, math.nan, 3.0] + [math.nan] * 16 + [5.0] * 19 + [None]
    rows = [("x/a", T0 + i, v, GOOD) for i, v in enumerate(values)]
    write_in_batches(store, rows, batch)

    expected = np.array([math.nan if v is None else v for v in values], dtype=np.float32)
    np.testing.assert_array_equal(store.recent("x/a").values, expected)  # NaN compares equal
    np.testing.assert_array_equal(store.window("x/a", T0, T0 + 40).values, expected)
    assert math.isnan(store.latest("x/a").value)  # the last reading, though it has no value
    # Decimating keeps the min and max of each run, skipping NaN: 1.0, 3.0 and 5.0 survive,
    # and the run of only NaN keeps one NaN (a gap).
    cut = store.window("x/a", T0, T0 + 40, max_points=8)
    assert {1.0, 3.0, 5.0} <= set(cut.values[~np.isnan(cut.values)].tolist())
    assert np.isnan(cut.values).any()


def test_stale_flips_after_the_interval() -> None:
    store = TelemetryStore()
    store.register("x/fast", expected_hz=10.0)
    store.register("x/slow", stale_after_s=30.0)
    store.write(["gpu/n1/0/temp_c", "rack/r1/power_kw", "x/fast", "x/slow"], [T0] * 4, [1.0] * 4)

    for key, fresh_for_s in [
        ("gpu/n1/0/temp_c", 0.5),  # 2 x the 4 Hz interval
        ("rack/r1/power_kw", 200.0),  # BMS re-send period x 2
        ("x/fast", 0.2),
        ("x/slow", 30.0),
    ]:
        assert not store.stale(key, T0 + fresh_for_s * 0.99), key
        assert store.stale(key, T0 + fresh_for_s * 1.01), key
    assert store.stale("never/written", T0)
    store.register("registered/unwritten")
    assert store.stale("registered/unwritten", T0)


def test_snapshot_is_the_latest_of_every_series_under_a_prefix() -> None:
    store = TelemetryStore()
    keys = [f"gpu/n1/{i}/power_w" for i in range(4)] + ["rack/r1/power_kw"]
    store.write(keys, [T0, T0, T0 + 1, T0 + 1, T0], [1.0, 2.0, 3.0, 4.0, 5.0], [1, 1, 0, 1, 1])
    store.register("gpu/n1/9/power_w")

    snap = store.snapshot("gpu/", now_s=T0 + 1.2)
    assert list(snap.keys) == [*keys[:4], "gpu/n1/9/power_w"]
    np.testing.assert_array_equal(snap.values, [1.0, 2.0, 3.0, 4.0, np.nan])
    np.testing.assert_array_equal(snap.qualities, [1, 1, 0, 1, 0])
    np.testing.assert_array_equal(snap.stale, [True, True, False, False, True])
    assert snap.generation == store.generation
    assert store.snapshot("gpu/", T0).keys is snap.keys  # cached until the key set changes
    store.write(["gpu/n1/10/power_w"], [T0], [6.0])
    grown = store.snapshot("gpu/", T0)
    assert grown.generation != snap.generation
    assert list(grown.keys) == [*snap.keys, "gpu/n1/10/power_w"]  # existing keys never move
    assert store.keys("rack/") == ["rack/r1/power_kw"]

    found = store.latest_many(["gpu/n1/2/power_w", "nope"])
    np.testing.assert_array_equal(found.values, [3.0, np.nan])
    np.testing.assert_array_equal(found.qualities, [0, 0])


def test_auto_registration_takes_the_key_prefix_defaults() -> None:
    store = TelemetryStore()
    prefixes = {
        "gpu/n1/0/util_pct": (4.0, 0.5),
        "rack/r1/flow_lpm": (0.1, 200.0),
        "cdu/c1/pump_rpm": (0.1, 200.0),
        "tokens/s1/llama/tokens_per_s": (1.0, 2.0),
        "facility/it_power_kw": (1.0, 2.0),
        "loop/l1/heat_kw": (1.0, 2.0),
    }
    store.write(list(prefixes), [T0] * len(prefixes), [1.0] * len(prefixes))

    for key, (hz, stale_after_s) in prefixes.items():
        spec = store.spec(key)
        assert (spec.expected_hz, spec.stale_after_s) == (hz, stale_after_s), key
        assert spec.raw_capacity == 64  # an hour at any of these rates overflows 64 points
    assert TelemetryStore().register("x/rare", expected_hz=0.01).raw_capacity == 36  # 1 h


@pytest.mark.parametrize("batch", [SCALAR, BATCH])
def test_new_series_past_max_series_are_refused_counted_and_reported(batch: int) -> None:
    store = TelemetryStore(raw_points=16, max_series=5)
    rows = [(f"gpu/n{i % 8}/0/power_w", T0 + i, float(i), GOOD) for i in range(80)]  # 8 series
    write_in_batches(store, rows, batch)

    kept = [f"gpu/n{i}/0/power_w" for i in range(5)]
    assert store.keys() == kept
    assert store.readings_over_limit == 30  # 10 readings each of the 3 series over the limit
    for key in kept:  # the series within the limit keep every reading
        mine = [(t, v, q) for k, t, v, q in rows if k == key]
        assert_readings_equal(store.recent(key), as_readings(mine[-16:]))
        assert store.latest(key) == mine[-1]
    assert store.latest("gpu/n5/0/power_w") is None
    refusals = [e for e in store.events_since(0).events if e.kind == "rejected"]
    assert len(refusals) == 1, "reported once a second, not once a write"
    assert refusals[0].subject == "gpu/n5/0/power_w"
    assert "series limit reached: the store holds 5 series (telemetry.max_series" in (
        refusals[0].detail
    )
    assert store.nbytes == SeriesArrays.bytes_for(5, 5 * 16)  # five series' rows and rings
    with pytest.raises(ValueError, match="series limit reached"):
        store.register("gpu/n9/0/power_w")


def test_series_take_memory_as_they_arrive_not_for_the_limit_reserved() -> None:
    one = TelemetryStore(max_series=1_000)
    many = TelemetryStore(max_series=1_000_000)
    for store in (one, many):
        store.write([f"gpu/n{i}/0/power_w" for i in range(100)], [T0] * 100, [1.0] * 100)
    assert one.nbytes == many.nbytes < 100 * 1_000  # under 1 kB a series at the defaults


# -- windows and decimation ------------------------------------------------------------------


def test_a_single_spike_survives_full_rate_decimation() -> None:
    store = TelemetryStore(raw_points=4096)
    store.register("x/a", expected_hz=4.0)
    values = np.sin(np.arange(4000) / 50.0).astype(np.float32)
    values[1234], values[3001] = 50.0, -50.0
    store.write(["x/a"] * 4000, T0 + np.arange(4000) * 0.25, values)

    got = store.window("x/a", T0, T0 + 1000, max_points=100)
    assert len(got.times_s) <= 100
    assert np.all(np.diff(got.times_s) >= 0)
    assert got.values.max() == 50.0 and got.values.min() == -50.0
    assert T0 + 1234 * 0.25 in got.times_s  # the spike keeps its own time


# -- memory ----------------------------------------------------------------------------------


def test_memory_is_flat_once_buffers_are_full() -> None:
    store = TelemetryStore()
    keys = [f"gpu/n{i // 8}/{i % 8}/power_w" for i in range(20)]
    batch_keys = keys * 50  # 50 steps of 20 series: 1,000 readings a batch

    def write_hour(start_s: float) -> None:
        for step in range(0, 14_400, 50):
            times = np.repeat(start_s + (step + np.arange(50)) * 0.25, len(keys))
            store.write(batch_keys, times, np.ones(len(batch_keys)))

    write_hour(T0)
    nbytes = store.nbytes
    write_hour(T0 + 3600)
    assert store.nbytes == nbytes
    ring = store.recent(keys[0])  # the last 64 readings (16 s at 4 Hz), and nothing older
    np.testing.assert_array_equal(ring.times_s, T0 + 3600 + np.arange(14_400 - 64, 14_400) * 0.25)


# -- events ----------------------------------------------------------------------------------


def test_event_counters_aggregate_and_the_event_list_is_bounded() -> None:
    store = TelemetryStore(events_kept=1000, event_subjects=3)
    for i in range(3412):
        store.event(SourceEvent("mqtt", "rejected", "BMS/v1/PUB/Value/x", "not JSON", T0 + i))
    for i in range(5):
        store.event(SourceEvent("mqtt", "rejected", f"topic/{i}", "not JSON", T0))

    tallies = store.event_tallies()
    assert tallies[("mqtt", "rejected", "BMS/v1/PUB/Value/x")].count == 3412
    assert tallies[("mqtt", "rejected", "BMS/v1/PUB/Value/x")].last_time_s == T0 + 3411
    assert tallies[("mqtt", "rejected", "(other subjects)")].count == 3  # past 3 subjects
    assert len(tallies) == 4  # 3 subjects and the "other" tally

    kept, next_index = store.events_since(0)
    assert len(kept) == 1000 and next_index == 3417
    assert kept[-1].subject == "topic/4"
    assert store.events_since(next_index) == ([], next_index)
    lost = SourceEvent("nvml", "status", "GPU 0", "lost", T0)
    store.event(lost)
    assert store.events_since(next_index) == ([lost], next_index + 1)


# -- against a plain Python model ------------------------------------------------------------

RAW_POINTS = 16
KEYS = ("x/a", "x/b", "x/c")


def model_window(rows: list[tuple[float, float, int]], lo: float, hi: float) -> Readings:
    """What ``window`` promises: the ring's readings within ``[lo, hi]``, in time order (ties
    in arrival order)."""
    ring = rows[-RAW_POINTS:]
    return as_readings(sorted((r for r in ring if lo <= r[0] <= hi), key=lambda r: r[0]))


reading = st.tuples(
    st.sampled_from(KEYS),
    st.integers(0, 120).map(lambda half_s: half_s / 2),
    st.one_of(st.floats(-1e6, 1e6, width=32), st.just(math.nan)),
    st.sampled_from([GOOD, GOOD, GOOD, 0, 2, 255]),
)


@st.composite
def write_sequences(draw: st.DrawFn) -> tuple[list[tuple[str, float, float, int]], list[int]]:
    # Long lists too: a ring only wraps past 16 readings of one key.
    rows = draw(
        st.lists(reading, min_size=1, max_size=150) | st.lists(reading, min_size=40, max_size=200)
    )
    if draw(st.booleans()):  # mostly in order, as real sources are
        rows.sort(key=lambda r: r[1])
    cuts = draw(st.lists(st.integers(1, 60), min_size=1, max_size=20))
    return rows, cuts


def write_cut(store: TelemetryStore, rows: list, cuts: list[int]) -> None:
    """Write ``rows`` in batches of the given sizes (cycled): both the scalar and numpy path."""
    first, turn = 0, 0
    while first < len(rows):
        size = cuts[turn % len(cuts)]
        write_in_batches(store, rows[first : first + size], size)
        first, turn = first + size, turn + 1


@settings(max_examples=150, deadline=None)
@given(write_sequences(), st.floats(0, 60), st.floats(0, 60), st.integers(2, 40))
def test_store_matches_a_list_model(
    sequence: tuple[list, list[int]], lo: float, hi: float, max_points: int
) -> None:
    rows, cuts = sequence
    store = TelemetryStore(raw_points=RAW_POINTS)
    write_cut(store, rows, cuts)

    for key in {k for k, _, _, _ in rows}:
        mine = [(t, float(np.float32(v)), q) for k, t, v, q in rows if k == key]
        assert_readings_equal(store.recent(key), as_readings(mine[-RAW_POINTS:]))
        assert_readings_equal(store.latest_many([key]), as_readings(mine[-1:]))
        full = store.window(key, lo, hi)
        assert_readings_equal(full, model_window(mine, lo, hi))

        cut = store.window(key, lo, hi, max_points)
        assert len(cut.times_s) <= max_points
        assert np.all(np.diff(cut.times_s) >= 0)
        if np.any(~np.isnan(full.values)):
            assert np.nanmax(cut.values) == np.nanmax(full.values)
            assert np.nanmin(cut.values) == np.nanmin(full.values)


@settings(max_examples=100, deadline=None)
@given(write_sequences())
def test_scalar_and_batch_paths_agree(sequence: tuple[list, list[int]]) -> None:
    rows, _ = sequence
    one_by_one = TelemetryStore(raw_points=RAW_POINTS)
    together = TelemetryStore(raw_points=RAW_POINTS)
    stream = rows * math.ceil(BATCH / len(rows))  # repeats arrive late: out of order too
    write_in_batches(one_by_one, stream, SCALAR)
    write_in_batches(together, stream, len(stream))

    assert_readings_equal(together.latest_many(KEYS), one_by_one.latest_many(KEYS))
    for key in KEYS:
        assert_readings_equal(together.recent(key), one_by_one.recent(key))
    assert together.keys() == one_by_one.keys()
