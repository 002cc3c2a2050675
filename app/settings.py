"""Where FactoryFloor keeps per-user state: Qt settings (window layout, grid, recent files) are
in Qt's own place; recovery files are in the platform's data folder."""

from __future__ import annotations

from platformdirs import user_data_path

from factoryfloor.backend.design.recovery import RecoveryStore


def recovery_store() -> RecoveryStore:
    return RecoveryStore(user_data_path("factoryfloor") / "recovery")
