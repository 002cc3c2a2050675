"""The ``service`` fixture: ``alarm_service`` started for a test and stopped after it.

Use from a test module with ``pytest_plugins = ["alarm_fixtures"]``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alarm_service import alarm_service
from service_process import ServiceProcess


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    process = alarm_service(tmp_path)
    yield process
    process.stop()
