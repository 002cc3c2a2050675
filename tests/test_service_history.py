"""The service records what it ingests to disk: readings survive a restart and a kill -9 (up to
the last second or so), carry the design version they were recorded under, and a window exports
a time range of them as CSV or Parquet through the service."""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from service_process import DEMO, ServiceProcess

from factoryfloor.app.export_history import save_export
from factoryfloor.app.gui import create_application
from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.service.client import Credentials, ServiceClient
from factoryfloor.backend.service.history_query import HistoryReader
from factoryfloor.backend.service.messages import ExportHistory
from factoryfloor.backend.service.recorder import history_folder

POWER = "facility/it_power_kw"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    design = tmp_path / "hall.json"
    shutil.copy(DEMO, design)
    process = ServiceProcess(design, tmp_path / "data").start()
    yield process
    process.stop()


def frames_for(service: ServiceProcess, seconds: float) -> float:
    """Watch the service until it has sent ``seconds`` of frames; the newest frame's stamp."""
    client = ServiceClient(service.address)
    try:
        deadline = time.monotonic() + 60
        first_s = None
        while time.monotonic() < deadline:
            client.poll()
            header = client._header
            if header is not None and len(client.keys) > 5000:
                first_s = first_s or header.sent_s
                if header.sent_s - first_s >= seconds:
                    return header.sent_s
            time.sleep(0.02)
        raise AssertionError("the service sent no frames")
    finally:
        client.close()


def recorded_power(service: ServiceProcess, start_s: float, end_s: float) -> np.ndarray:
    reader = HistoryReader(history_folder(service.data))
    try:
        columns = round(end_s - start_s)
        return reader.series_columns([POWER], start_s, end_s, columns).values[0]
    finally:
        reader.close()


def test_what_the_service_recorded_is_on_disk_after_it_stops_with_its_design_version(
    service: ServiceProcess,
) -> None:
    started_s = time.time()
    last_s = frames_for(service, 4.0)
    assert service.stop() == 0  # SIGTERM: the open minute is committed on the way out
    power = recorded_power(service, started_s - 1, last_s + 1)
    assert np.isfinite(power).sum() >= 3  # a reading a second, for the seconds it ran
    assert np.nanmax(power) < 2316.0  # never above the design's IT power
    reader = HistoryReader(history_folder(service.data))
    try:
        assert [span.version for span in reader.design_versions(started_s - 1, last_s + 1)] == [1]
    finally:
        reader.close()


def test_a_kill_9_loses_at_most_the_last_seconds(service: ServiceProcess) -> None:
    started_s = time.time()
    last_s = frames_for(service, 5.0)
    service.kill()  # SIGKILL: the tail file holds what the open minute had
    service.start()  # commits the tail on start
    frames_for(service, 0.5)
    power = recorded_power(service, started_s - 1, last_s + 1)
    newest = np.flatnonzero(np.isfinite(power)).max()
    assert started_s - 1 + newest >= last_s - 2.0, "more than the last second or so was lost"


def test_a_window_exports_recorded_history_through_the_service(
    qtbot, service: ServiceProcess, tmp_path: Path
) -> None:
    started_s = time.time()
    last_s = frames_for(service, 3.0)
    service.stop()  # the minute so far committed, then the service back, as after a restart
    service.start()
    create_application()
    window = MainWindow()
    try:
        window.services.connect_to(service.address, Credentials(), run=False)
        qtbot.waitUntil(lambda: window.services.connection.client.welcome is not None,
                        timeout=15_000)  # fmt: skip
        target = tmp_path / "power.csv"
        request = ExportHistory((POWER, "cdu/*/flow_lpm"), started_s - 1, last_s + 1, 1.0, "csv")
        save_export(window, window.services.link(), window.tasks, request, str(target))
        qtbot.waitUntil(lambda: "Exported" in window.statusBar().currentMessage(),
                        timeout=15_000)  # fmt: skip
        with target.open() as file:
            rows = list(csv.reader(file))
        assert rows[0][0] == "time" and POWER in rows[0] and "cdu/CDU-A1/flow_lpm" in rows[0]
        assert len(rows) - 1 >= 2
        assert all(row[rows[0].index(POWER)] for row in rows[1:])
        assert "Exported 5 series" in window.statusBar().currentMessage()
    finally:
        window.services.disconnect()
        window.close()
        window.deleteLater()
