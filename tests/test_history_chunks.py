"""The chunk format: each quantity's step and range, missing readings, and a chunk's round trip."""

from __future__ import annotations

import numpy as np

from factoryfloor.backend.service.history_chunks import (
    AS_RECEIVED,
    Chunk,
    ChunkCodec,
    quantisation,
    quantity_of,
)


def test_each_quantity_is_stored_at_its_step_and_unknown_ones_as_received():
    assert quantity_of("gpu/node1/0/power_w") == "power_w"
    assert quantisation("power_w").step == 0.1 and quantisation("power_w").dtype is np.int16
    assert quantisation("supply_temp_c").step == 0.1
    assert quantisation("sm_clock_mhz").step == 1.0
    assert quantisation("it_power_kw").dtype is np.int32
    assert quantisation("mem_used_bytes") is AS_RECEIVED
    assert quantisation("energy_j") is AS_RECEIVED


def test_readings_beyond_the_range_are_kept_at_its_ends_and_missing_ones_read_as_nan():
    power = quantisation("power_w")
    facility = quantisation("it_power_kw")
    values = np.array([700.04, 5_000.0, -5_000.0, np.nan], np.float32)

    np.testing.assert_allclose(power.decode(power.encode(values))[:3], [700.0, 3276.7, -3276.7],
                               rtol=1e-6)  # fmt: skip
    assert np.isnan(power.decode(power.encode(values))[3])
    huge = np.array([2e9, 20_000.123, np.nan], np.float32)
    decoded = facility.decode(facility.encode(huge))
    assert decoded[0] > 2e6 and abs(decoded[1] - 20_000.123) < 0.01 and np.isnan(decoded[2])


def test_a_chunk_round_trips_and_merges_with_a_later_write_of_the_same_span():
    codec = ChunkCodec()
    stored = quantisation("temp_c")
    first = Chunk(np.array([0, 1000]), np.array([[40.0, 41.0], [42.0, np.nan]], np.float32))
    later = Chunk(np.array([1000, 2000]), np.array([[43.0, 44.0, 45.0]] * 2, np.float32))

    back = codec.decode(codec.encode(first, stored), stored)
    merged = back.merged(later)

    np.testing.assert_allclose(back.mean, first.mean)
    assert list(merged.times_ms) == [0, 1000, 2000]
    np.testing.assert_allclose(merged.mean[0], [40.0, 41.0, np.nan])  # a series joined later
    np.testing.assert_allclose(merged.mean[1], [43.0, 44.0, 45.0])  # the newer row wins
    only = codec.decode_columns(codec.encode(merged, stored), stored, [2, 0])
    np.testing.assert_allclose(only.mean[:, 0], [np.nan, 45.0, 45.0])
