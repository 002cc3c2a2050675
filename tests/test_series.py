"""Series keys: built and parsed in one module, so a name with ``/`` in it (a model such as
``meta-llama/Llama-3.1-8B``) can never split a key into the wrong parts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from factoryfloor.backend.telemetry import series
from factoryfloor.backend.telemetry.series import (
    EntitySeries,
    FacilitySeries,
    GpuSeries,
    MeanSeries,
    TokensSeries,
)

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
names = st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s)
quantities = st.sampled_from(["power_w", "temp_c", "tokens_per_s", "heat_kw", "flow_lpm"])


def test_keys_read_as_the_documented_convention() -> None:
    assert series.gpu_key("node-7", 3, "power_w") == "gpu/node-7/3/power_w"
    assert series.entity_key("rack", "A-07", "supply_temp_c") == "rack/A-07/supply_temp_c"
    assert series.entity_key("loop", "L-B2", "heat_kw") == "loop/L-B2/heat_kw"
    assert series.facility_key("tokens_per_j") == "facility/tokens_per_j"
    assert series.mean_key("row", "Row A", "util_pct") == "mean/row/Row A/util_pct"
    assert series.gpu_prefix("n1", 0) + "temp_c" == series.gpu_key("n1", 0, "temp_c")


def test_names_with_slashes_and_percent_signs_are_escaped() -> None:
    assert series.tokens_key("h:8000", LLAMA_8B, "tokens_per_s") == (
        "tokens/h:8000/meta-llama%2FLlama-3.1-8B-Instruct/tokens_per_s"
    )
    assert series.facility_model_key("50%/x", "tokens_per_s") == (
        "facility/model/50%25%2Fx/tokens_per_s"
    )


@given(names, st.integers(0, 10_000), quantities)
def test_a_gpu_key_parses_back_to_its_host_and_index(node: str, index: int, q: str) -> None:
    assert series.parse(series.gpu_key(node, index, q)) == GpuSeries(node, index, q)


@given(st.sampled_from(["rack", "cdu", "loop"]), names, quantities)
def test_an_entity_key_parses_back(kind: series.EntityKind, entity_id: str, q: str) -> None:
    assert series.parse(series.entity_key(kind, entity_id, q)) == EntitySeries(kind, entity_id, q)


@given(names, names, quantities)
def test_token_and_facility_keys_parse_back(server: str, model: str, q: str) -> None:
    assert series.parse(series.tokens_key(server, model, q)) == TokensSeries(server, model, q)
    assert series.parse(series.facility_model_key(model, q)) == FacilitySeries(q, model)
    assert series.parse(series.facility_key(q)) == FacilitySeries(q)
    assert series.parse(series.mean_key("hall", model, q)) == MeanSeries("hall", model, q)


def test_keys_of_no_known_shape_parse_to_nothing() -> None:
    for key in ("gpu/n1/x/power_w", "gpu/n1/power_w", "rack/A01", "pump/P1/rpm", "facility"):
        assert series.parse(key) is None
