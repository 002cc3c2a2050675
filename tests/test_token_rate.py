"""Counter readings to tokens/s: resets, first readings, gaps, replica, rack, model and facility
sums, tokens per joule. Every expected figure is worked out by hand in the test."""

import math

import pytest

from factoryfloor.backend.telemetry.sources.token_rate import (
    CounterRates,
    TokenSample,
    counter_rate,
    tokens_per_j,
)

LLAMA = "meta-llama/Llama-3.1-70B-Instruct"
QWEN = "Qwen/Qwen3-32B"


def generated(server: str, model: str, engine: str, tokens: float) -> TokenSample:
    return TokenSample(server, model, (("engine", engine),), "generation", tokens)


def test_first_reading_gives_no_rate() -> None:
    assert counter_rate(None, 10.0, 500.0, max_gap_s=30.0) is None


def test_rate_is_the_increase_over_the_elapsed_time() -> None:
    # 1,000 -> 1,600 tokens in 2 s: 300 tokens/s.
    assert counter_rate((10.0, 1000.0), 12.0, 1600.0, max_gap_s=30.0) == 300.0


def test_counter_reset_counts_the_new_value_as_the_increase() -> None:
    # The server restarted: 1,000 -> 150 means 150 tokens since the restart, over 2 s.
    assert counter_rate((10.0, 1000.0), 12.0, 150.0, max_gap_s=30.0) == 75.0


def test_no_rate_across_a_gap_or_backwards_in_time() -> None:
    assert counter_rate((10.0, 1000.0), 41.0, 2000.0, max_gap_s=30.0) is None
    assert counter_rate((10.0, 1000.0), 10.0, 1000.0, max_gap_s=30.0) is None
    assert counter_rate((10.0, 1000.0), 9.0, 1200.0, max_gap_s=30.0) is None


def test_replicas_are_rated_one_by_one_then_summed() -> None:
    rates = CounterRates()
    first = rates.update(
        [generated("a:8000", LLAMA, "0", 1000.0), generated("a:8000", LLAMA, "1", 5000.0)], 100.0
    )
    assert first.tokens_per_s == {}
    assert first.facility_tokens_per_s is None

    # engine 0: 1,000 -> 1,600 (+600); engine 1 restarted: 5,000 -> 200 (+200). Over 2 s: 400/s.
    # Summing first would have given (1,800 - 6,000) / 2 = -2,100/s.
    second = rates.update(
        [generated("a:8000", LLAMA, "0", 1600.0), generated("a:8000", LLAMA, "1", 200.0)], 102.0
    )
    assert second.tokens_per_s == {("a:8000", LLAMA): 400.0}
    assert second.facility_tokens_per_s == 400.0


def test_sums_per_rack_per_model_and_facility() -> None:
    rack_of = {"a:8000": "R01", "b:8000": "R01", "c:8000": "R02"}
    rates = CounterRates(rack_of)
    servers = [("a:8000", LLAMA), ("b:8000", QWEN), ("c:8000", LLAMA), ("d:8000", QWEN)]
    rates.update([generated(s, m, "0", 0.0) for s, m in servers], 0.0)
    # Over 4 s: a +4,000 (1,000/s), b +2,000 (500/s), c +800 (200/s), d +400 (100/s).
    increases = [4000.0, 2000.0, 800.0, 400.0]
    totals = rates.update(
        [generated(s, m, "0", n) for (s, m), n in zip(servers, increases, strict=True)], 4.0
    )

    assert totals.rack_tokens_per_s == {"R01": 1500.0, "R02": 200.0}  # d has no rack
    assert totals.model_tokens_per_s == {LLAMA: 1200.0, QWEN: 600.0}
    assert totals.facility_tokens_per_s == 1800.0


def test_prompt_tokens_are_kept_apart_from_generated_ones() -> None:
    rates = CounterRates()
    rates.update(
        [
            TokenSample("a:8000", LLAMA, (), "prompt", 0.0),
            TokenSample("a:8000", LLAMA, (), "generation", 0.0),
        ],
        0.0,
    )
    totals = rates.update(
        [
            TokenSample("a:8000", LLAMA, (), "prompt", 9000.0),
            TokenSample("a:8000", LLAMA, (), "generation", 3000.0),
        ],
        3.0,
    )
    assert totals.prompt_tokens_per_s == {("a:8000", LLAMA): 3000.0}
    assert totals.tokens_per_s == {("a:8000", LLAMA): 1000.0}
    assert totals.facility_tokens_per_s == 1000.0


def test_a_series_back_after_a_long_gap_starts_over() -> None:
    rates = CounterRates(max_gap_s=10.0)
    rates.update([generated("a:8000", LLAMA, "0", 1000.0)], 0.0)
    assert rates.update([generated("a:8000", LLAMA, "0", 9000.0)], 30.0).tokens_per_s == {}
    # 9,000 -> 9,500 in 1 s after the restart of the series.
    assert rates.update([generated("a:8000", LLAMA, "0", 9500.0)], 31.0).tokens_per_s == {
        ("a:8000", LLAMA): 500.0
    }


def test_energy_counters_give_power_and_tokens_per_joule() -> None:
    rates = CounterRates()

    def round_at(time_s: float, joules: float, tokens: float) -> list[TokenSample]:
        return [
            TokenSample("t:8002", "", (("gpu_uuid", "GPU-0"),), "energy", joules),
            TokenSample("t:8002", "", (("gpu_uuid", "GPU-1"),), "energy", joules),
            TokenSample("t:8002", "llama3_70b", (), "generation", tokens),
        ]

    rates.update(round_at(0.0, 10_000.0, 0.0), 0.0)
    # Each GPU +1,400 J in 2 s = 700 W, 1,400 W for the server; 2,800 tokens in 2 s = 1,400/s.
    totals = rates.update(round_at(2.0, 11_400.0, 2800.0), 2.0)
    assert totals.gpu_power_w == {"t:8002": 1400.0}
    assert totals.total_gpu_power_w() == 1400.0
    assert tokens_per_j(totals.facility_tokens_per_s, totals.total_gpu_power_w()) == 1.0


def test_no_total_power_unless_every_producing_server_reports_it() -> None:
    rates = CounterRates()
    rates.update(
        [
            TokenSample("t:8002", "", (("gpu_uuid", "GPU-0"),), "energy", 0.0),
            generated("t:8002", LLAMA, "0", 0.0),
            generated("v:8000", LLAMA, "0", 0.0),
        ],
        0.0,
    )
    totals = rates.update(
        [
            TokenSample("t:8002", "", (("gpu_uuid", "GPU-0"),), "energy", 700.0),
            generated("t:8002", LLAMA, "0", 100.0),
            generated("v:8000", LLAMA, "0", 100.0),
        ],
        1.0,
    )
    assert totals.gpu_power_w == {"t:8002": 700.0}
    assert totals.total_gpu_power_w() is None


def test_tokens_per_joule() -> None:
    # Design notes: an H100 server at 2,701 tokens/s and 700 W is about 3.9 tokens/J.
    assert tokens_per_j(2701.0, 700.0) == pytest.approx(3.8586, abs=1e-4)


@pytest.mark.parametrize("power_w", [0.0, -5.0, None, math.nan, math.inf])
def test_tokens_per_joule_unknown_without_a_positive_power(power_w: float | None) -> None:
    assert tokens_per_j(2701.0, power_w) is None


def test_tokens_per_joule_unknown_without_a_rate() -> None:
    assert tokens_per_j(None, 700.0) is None
