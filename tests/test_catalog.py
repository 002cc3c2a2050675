"""The GPU catalog: built-in figures with sources, and the user's own file on top."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from factoryfloor.backend.design.catalog import builtin_catalog, load_catalog
from factoryfloor.backend.design.design_file import DesignFileError


def write_catalog(path: Path, models: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"schema_version": 1, "gpu_models": models}), encoding="utf-8")
    return path


def test_builtin_catalog_loads_with_sources_for_every_entry() -> None:
    models = builtin_catalog()
    ids = [model.id for model in models]
    assert len(ids) == len(set(ids))
    assert {"H100-SXM", "H200-SXM", "B200-SXM", "GB200-NVL72", "GB300-NVL72"} <= set(ids)
    for model in models:
        assert model.sources, f"{model.id} has no source for its figures"
        assert all(source.strip() for source in model.sources)
        # A token figure means nothing without the workload it was measured on.
        if model.tokens_per_s_per_gpu is not None:
            assert model.reference_workload, f"{model.id} has tokens/s but no workload"


def test_builtin_figures_match_the_design_notes() -> None:
    """MLPerf server figures per GPU (notes section 3) and GPU power (section 2)."""
    by_id = {model.id: model for model in builtin_catalog()}
    assert by_id["H100-SXM"].tokens_per_s_per_gpu == 2701  # 21,606 / 8
    assert by_id["H200-SXM"].tokens_per_s_per_gpu == 3654  # 29,228 / 8
    assert by_id["B200-SXM"].tokens_per_s_per_gpu == 12305  # 98,443 / 8
    assert by_id["GB200-NVL72"].tokens_per_s_per_gpu == 123  # 8,850 / 72
    assert by_id["H100-SXM"].gpu_power_w == 700
    assert "405B" in by_id["GB200-NVL72"].reference_workload
    assert "70B" in by_id["H100-SXM"].reference_workload


def test_without_a_user_file_the_catalog_is_the_builtin_one(tmp_path: Path) -> None:
    assert load_catalog(user_path=tmp_path / "absent.json") == builtin_catalog()


def test_user_catalog_overrides_by_id_and_adds_entries(tmp_path: Path) -> None:
    user_file = write_catalog(
        tmp_path / "gpu_catalog.json",
        [
            {
                "id": "H100-SXM",
                "name": "H100 as measured here",
                "gpu_power_w": 650,
                "system_power_per_gpu_w": 1100,
                "tokens_per_s_per_gpu": 3100,
                "reference_workload": "Llama 3.1 8B (our bench)",
                "sources": ["own measurement"],
            },
            {
                "id": "MI300X",
                "name": "AMD Instinct MI300X",
                "gpu_power_w": 750,
                "system_power_per_gpu_w": 1300,
            },
        ],
    )
    merged = load_catalog(user_path=user_file)
    by_id = {model.id: model for model in merged}
    assert len(merged) == len(by_id) == len(builtin_catalog()) + 1

    h100 = by_id["H100-SXM"]
    assert (h100.name, h100.gpu_power_w, h100.tokens_per_s_per_gpu) == (
        "H100 as measured here",
        650,
        3100,
    )
    assert h100.sources == ["own measurement"]
    assert by_id["MI300X"].tokens_per_s_per_gpu is None
    # Untouched built-in entries stay as shipped.
    builtin = {model.id: model for model in builtin_catalog()}
    assert by_id["GB200-NVL72"] == builtin["GB200-NVL72"]


def test_invalid_user_catalog_names_the_file_and_the_field(tmp_path: Path) -> None:
    user_file = write_catalog(
        tmp_path / "gpu_catalog.json",
        [
            {"id": "OK-1", "name": "fine", "gpu_power_w": 700, "system_power_per_gpu_w": 1000},
            {"id": "BAD", "name": "bad", "gpu_power_w": -1, "system_power_per_gpu_w": 1000},
        ],
    )
    with pytest.raises(DesignFileError) as caught:
        load_catalog(user_path=user_file)
    assert caught.value.source == str(user_file)
    assert str(caught.value).startswith(str(user_file))
    assert [problem.path for problem in caught.value.problems] == ["gpu_models[1].gpu_power_w"]


def test_user_catalog_with_duplicate_ids_is_refused(tmp_path: Path) -> None:
    entry = {"id": "MI300X", "name": "x", "gpu_power_w": 750, "system_power_per_gpu_w": 1300}
    user_file = write_catalog(tmp_path / "gpu_catalog.json", [entry, entry])
    with pytest.raises(DesignFileError) as caught:
        load_catalog(user_path=user_file)
    assert [problem.path for problem in caught.value.problems] == [
        "gpu_models[0].id",
        "gpu_models[1].id",
    ]


def test_user_catalog_that_is_not_json_is_refused(tmp_path: Path) -> None:
    user_file = tmp_path / "gpu_catalog.json"
    user_file.write_text("H100: 700 W\n", encoding="utf-8")
    with pytest.raises(DesignFileError) as caught:
        load_catalog(user_path=user_file)
    assert caught.value.source == str(user_file)
    assert caught.value.problems[0].path == "(file)"


def test_catalog_from_a_newer_version_asks_for_an_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "gpu_catalog.json"
    path.write_text(json.dumps({"schema_version": 99, "gpu_models": []}), encoding="utf-8")
    with pytest.raises(DesignFileError) as caught:
        load_catalog(user_path=path)
    assert str(caught.value).startswith(f"{path}: not a valid GPU catalog")
    assert "Upgrade FactoryFloor" in caught.value.problems[0].reason


def test_workload_profile_out_of_range_names_the_entry_and_field(tmp_path: Path) -> None:
    profile = {"workload": "chat", "load": 1.4, "compute_bound": 0.3}
    entry = {"id": "MI300X", "name": "x", "gpu_power_w": 750, "system_power_per_gpu_w": 1300,
             "workload_profiles": [profile]}  # fmt: skip
    user_file = write_catalog(tmp_path / "gpu_catalog.json", [entry])
    with pytest.raises(DesignFileError) as caught:
        load_catalog(user_path=user_file)
    assert caught.value.source == str(user_file)
    assert [problem.path for problem in caught.value.problems] == [
        "gpu_models[0].workload_profiles[0].load"
    ]


def test_a_workload_profiled_twice_is_refused(tmp_path: Path) -> None:
    profile = {"workload": "chat", "load": 0.3, "compute_bound": 0.3}
    entry = {"id": "MI300X", "name": "x", "gpu_power_w": 750, "system_power_per_gpu_w": 1300,
             "workload_profiles": [profile, profile]}  # fmt: skip
    user_file = write_catalog(tmp_path / "gpu_catalog.json", [entry])
    with pytest.raises(DesignFileError) as caught:
        load_catalog(user_path=user_file)
    assert "'chat' is profiled twice" in str(caught.value)


def test_every_reference_workload_with_a_token_figure_is_profiled_with_sources() -> None:
    for model in builtin_catalog():
        if model.tokens_per_s_per_gpu is not None:
            profile = model.profile(model.reference_workload)
            assert profile is not None and profile.sources, model.id
