"""Base types of the design model, shared with the settings of telemetry sources (which the
design file holds) without an import cycle through ``model``."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

EntityId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"),
]
"""A short name such as ``A-07`` or ``CDU-B1``: letters, digits, ``_ . -``."""


class StrictModel(BaseModel):
    """Strict: a typo'd field or a quoted number is an error, never silently accepted.

    A field's docstring becomes its description, which the properties panel shows as the
    field's tooltip: one explanation for the code and the user."""

    model_config = ConfigDict(
        extra="forbid", strict=True, allow_inf_nan=False, use_attribute_docstrings=True
    )
