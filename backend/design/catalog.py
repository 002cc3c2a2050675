"""The GPU catalog: per-GPU power and token figures, with their sources, as editable data.

The built-in catalog ships in ``resources/gpu_catalog.json``. A user can override or extend it
with a file of the same shape in their config folder (``user_catalog_path``); entries there
replace built-in ones with the same id. Designs copy the entries they use, so a design file gives
the same figures on every machine whatever its catalog says.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_config_path

from factoryfloor.backend.design.design_file import (
    DesignFileError,
    FieldProblem,
    read_json_document,
    validate_model,
)
from factoryfloor.backend.design.model import GpuModel, StrictModel
from factoryfloor.resources import GPU_CATALOG, bundled_path


class CatalogFile(StrictModel):
    schema_version: int
    gpu_models: list[GpuModel]


def parse_catalog(raw: bytes, source: str) -> list[GpuModel]:
    text = read_json_document(raw, source, "GPU catalog")
    catalog: CatalogFile = validate_model(CatalogFile, text, source, "GPU catalog")
    ids = [model.id for model in catalog.gpu_models]
    duplicates = [
        FieldProblem(f"gpu_models[{i}].id", f"id {model_id!r} is used more than once")
        for i, model_id in enumerate(ids)
        if ids.count(model_id) > 1
    ]
    if duplicates:
        raise DesignFileError(source, duplicates, "GPU catalog")
    return catalog.gpu_models


def builtin_catalog() -> list[GpuModel]:
    return parse_catalog(bundled_path(GPU_CATALOG).read_bytes(), f"built-in {GPU_CATALOG}")


def user_catalog_path() -> Path:
    return user_config_path("factoryfloor") / "gpu_catalog.json"


def load_catalog(user_path: Path | None = None) -> list[GpuModel]:
    """Built-in entries, replaced or extended by the user's catalog file where one exists."""
    merged = {model.id: model for model in builtin_catalog()}
    path = user_catalog_path() if user_path is None else user_path
    if path.exists():
        merged.update((model.id, model) for model in parse_catalog(path.read_bytes(), str(path)))
    return list(merged.values())
