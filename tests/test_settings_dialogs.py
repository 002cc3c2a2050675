"""Design > Hall Settings and Design > Telemetry Sources, as an engineer uses them: typing,
OK, the edit on the undo stack, undo; connection tests shown in words while the window stays
responsive; the BMS mapping review against a real Mosquitto with retained metadata.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from bms_stream import REAL_STREAM, publish_real_stream
from demo_window import close, open_demo
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from factoryfloor.app.main_window import MainWindow
from factoryfloor.backend.design.design_file import load_design, save_design
from factoryfloor.backend.design.mqtt_settings import PASSWORD_ENV, MqttConfig
from factoryfloor.backend.telemetry.sources.connection_check import check_nvml
from factoryfloor.resources import demo_path
from factoryfloor.widgets.bms_mapping_dialog import NOT_MAPPED, BmsMappingDialog
from factoryfloor.widgets.hall_settings_dialog import HallSettingsDialog
from factoryfloor.widgets.source_forms import MetricsForm, MqttForm
from factoryfloor.widgets.telemetry_sources_dialog import TelemetrySourcesDialog

if TYPE_CHECKING:
    from broker import Mosquitto, Publisher

pytest_plugins = ["broker"]

WAIT_MS = 15_000
CLICK_RETURNS_WITHIN_S = 0.5
"""A Test connection click hands the check to a worker and returns: far less than a check."""


@pytest.fixture
def window(qtbot) -> MainWindow:
    main = open_demo(qtbot)
    yield main
    close(main)


def open_with_broker(qtbot, tmp_path: Path, broker: Mosquitto) -> MainWindow:
    """The demo hall with ``broker`` as its MQTT source, opened from a file."""
    from demo_window import create_application

    demo = load_design(demo_path())
    config = MqttConfig(host=broker.host, port=broker.port, client_id="ff-dialog-test")
    telemetry = demo.telemetry.model_copy(update={"mqtt": config})
    path = tmp_path / "hall.json"
    save_design(demo.model_copy(update={"telemetry": telemetry}), path)
    create_application()
    main = MainWindow()
    main.show()
    with qtbot.waitSignal(main.design_shown, timeout=10_000):
        main.open_file(path)
    return main


def hall_dialog(window: MainWindow) -> HallSettingsDialog:
    window.menus.hall_settings_action.trigger()
    dialog = window.settings.dialog
    assert isinstance(dialog, HallSettingsDialog) and dialog.isVisible()
    return dialog


def sources_dialog(window: MainWindow) -> TelemetrySourcesDialog:
    window.menus.telemetry_action.trigger()
    dialog = window.settings.dialog
    assert isinstance(dialog, TelemetrySourcesDialog) and dialog.isVisible()
    return dialog


def type_into(qtbot, edit: QLineEdit, text: str) -> None:
    edit.selectAll()
    qtbot.keyClicks(edit, text)


def click_ok(qtbot, dialog) -> None:  # type: ignore[no-untyped-def]
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)


# -- Hall settings ---------------------------------------------------------------------------


def test_the_engineer_edits_the_hall_and_undo_restores_it(qtbot, window: MainWindow) -> None:
    dialog = hall_dialog(window)
    type_into(qtbot, dialog.edits["name"], "Hall 9")
    type_into(qtbot, dialog.edits["floor.width_m"], "30")
    type_into(qtbot, dialog.edits["assumptions.near_capacity_fraction"], "0.8")
    type_into(qtbot, dialog.edits["assumptions.max_air_kw_per_rack"], "25")
    click_ok(qtbot, dialog)

    design = window.document.design
    assert not dialog.isVisible()
    assert (design.name, design.floor.width_m) == ("Hall 9", 30.0)
    assert design.assumptions.near_capacity_fraction == 0.8
    assert design.assumptions.max_air_kw_per_rack == 25.0
    assert window.windowTitle().startswith("Hall 9 — ") and window.isWindowModified()
    assert window.scene.floor_rect.width() == pytest.approx(30.0)
    assert (
        window.menus.undo_action.text() == "&Undo Change hall settings of Hall 1 (demo AI factory)"
    )

    window.menus.undo_action.trigger()
    design = window.document.design
    assert (design.name, design.floor.width_m) == ("Hall 1 (demo AI factory)", 12.5)
    assert design.assumptions.near_capacity_fraction == 0.9
    assert window.windowTitle().startswith("Hall 1 (demo AI factory) — ")
    assert not window.isWindowModified()
    assert window.scene.floor_rect.width() == pytest.approx(12.5)


def test_bad_hall_settings_are_named_under_their_fields_and_change_nothing(
    qtbot, window: MainWindow
) -> None:
    dialog = hall_dialog(window)
    type_into(qtbot, dialog.edits["floor.depth_m"], "-2")
    type_into(qtbot, dialog.edits["assumptions.max_air_kw_per_rack"], "lots")
    click_ok(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.problem_texts() == [
        "Depth: must be greater than 0 (got -2)",
        "Air-cooling limit: must be a valid number (got 'lots')",
    ]
    assert window.document.undo_stack.count() == 0

    type_into(qtbot, dialog.edits["floor.depth_m"], "11")
    type_into(qtbot, dialog.edits["assumptions.max_air_kw_per_rack"], "30")
    type_into(qtbot, dialog.edits["floor.width_m"], "6")  # the racks stand up to x = 11.6 m
    click_ok(qtbot, dialog)
    assert dialog.isVisible()
    (below,) = dialog.problem_texts()
    assert "racks[A05]: position (7.4, 3) m is outside the 6 x 11 m floor" in below
    assert window.document.design.floor.width_m == 12.5
    dialog.reject()


# -- Telemetry sources -----------------------------------------------------------------------


def test_the_engineer_adds_a_broker_and_a_page_and_undo_removes_them(
    qtbot, window: MainWindow
) -> None:
    dialog = sources_dialog(window)
    qtbot.mouseClick(dialog.add_mqtt_button, Qt.MouseButton.LeftButton)
    broker = dialog.mqtt
    assert isinstance(broker, MqttForm) and dialog.stack.currentWidget() is broker
    type_into(qtbot, broker.host, "bms.site.example")
    type_into(qtbot, broker.port, "8883")
    broker.tls.setChecked(True)
    type_into(qtbot, broker.username, "factoryfloor")
    assert dialog.list.currentItem().text() == "MQTT broker bms.site.example:8883"
    qtbot.mouseClick(dialog.add_metrics_button, Qt.MouseButton.LeftButton)
    (page,) = dialog.metrics_forms()
    type_into(qtbot, page.url, "http://10.0.0.5:8000/metrics")
    page.rack.setCurrentText("A01")
    page.server_kind.setCurrentText("vLLM")
    dialog.nvml.enabled.setChecked(True)
    click_ok(qtbot, dialog)

    telemetry = window.document.design.telemetry
    assert not dialog.isVisible()
    assert telemetry.nvml and telemetry.simulate
    assert telemetry.mqtt is not None
    assert (telemetry.mqtt.host, telemetry.mqtt.port, telemetry.mqtt.tls) == (
        "bms.site.example",
        8883,
        True,
    )
    assert telemetry.mqtt.username == "factoryfloor"
    assert [(m.url, m.rack_id, m.server_kind) for m in telemetry.metrics] == [
        ("http://10.0.0.5:8000/metrics", "A01", "vllm")
    ]
    assert window.isWindowModified()
    assert window.menus.undo_action.text() == "&Undo Change telemetry sources"

    window.menus.undo_action.trigger()
    telemetry = window.document.design.telemetry
    assert telemetry.mqtt is None and telemetry.metrics == [] and not telemetry.nvml


def test_ok_with_nothing_changed_adds_no_undo_step(qtbot, window: MainWindow) -> None:
    click_ok(qtbot, hall_dialog(window))
    click_ok(qtbot, sources_dialog(window))
    assert window.document.undo_stack.count() == 0 and not window.isWindowModified()


def test_a_removed_page_is_gone_and_the_simulator_cannot_be_removed(
    qtbot, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    window = open_with_broker(qtbot, tmp_path, mosquitto)
    try:
        dialog = sources_dialog(window)
        dialog.list.setCurrentRow(0)
        assert dialog.list.currentItem().text() == "Simulator (on)"
        assert not dialog.remove_button.isEnabled()
        assert not dialog.add_mqtt_button.isEnabled()  # one broker per design
        dialog.list.setCurrentRow(dialog.forms.index(dialog.mqtt))
        qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
        assert dialog.mqtt is None and dialog.add_mqtt_button.isEnabled()
        assert [dialog.list.item(i).text() for i in range(dialog.list.count())] == [
            "Simulator (on)",
            "NVML, this machine's GPUs (off)",
        ]
        click_ok(qtbot, dialog)
        assert window.document.design.telemetry.mqtt is None
        window.menus.undo_action.trigger()
        assert window.document.design.telemetry.mqtt is not None
    finally:
        close(window)


def test_the_nvml_test_says_what_this_machine_has(qtbot, window: MainWindow) -> None:
    dialog = sources_dialog(window)
    dialog.list.setCurrentRow(dialog.forms.index(dialog.nvml))
    button = dialog.nvml.test_button
    assert button is not None
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(button.isEnabled, timeout=WAIT_MS)
    expected = check_nvml().summary  # the same check, made here directly
    assert dialog.nvml.result.text()[2:] == expected
    assert any(
        words in expected
        for words in ("GPU found", "GPUs found", "NVML library not found", "driver is installed")
    )
    dialog.reject()


def test_bad_source_settings_are_named_and_the_source_selected(qtbot, window: MainWindow) -> None:
    dialog = sources_dialog(window)
    qtbot.mouseClick(dialog.add_mqtt_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.add_metrics_button, Qt.MouseButton.LeftButton)
    (page,) = dialog.metrics_forms()
    type_into(qtbot, page.url, "10.0.0.5:8000/metrics")
    assert dialog.mqtt is not None
    type_into(qtbot, dialog.mqtt.port, "70000")
    click_ok(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.mqtt.rows.problem_texts() == [
        "Port: must be less than or equal to 65535 (got 70000)"
    ]
    assert page.rows.problem_texts() == [
        "URL: must be an http:// or https:// address (got '10.0.0.5:8000/metrics')"
    ]
    assert dialog.stack.currentWidget() is dialog.mqtt
    assert window.document.undo_stack.count() == 0
    dialog.reject()


def test_a_stored_password_is_never_shown_nor_saved(
    qtbot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    dialog = sources_dialog(window)
    qtbot.mouseClick(dialog.add_mqtt_button, Qt.MouseButton.LeftButton)
    form = dialog.mqtt
    assert form is not None
    assert form.password.text() == ""
    assert form.password.placeholderText() == f"(from {PASSWORD_ENV})"
    qtbot.keyClicks(form.password, "typed-secret")
    assert form.password.echoMode() == QLineEdit.EchoMode.Password
    assert form.password.displayText() != "typed-secret"
    click_ok(qtbot, dialog)
    saved = window.document.design.model_dump_json()
    assert "typed-secret" not in saved and "s3cret" not in saved
    window.menus.undo_action.trigger()  # unmodified again, so the window closes quietly


def test_a_connection_test_says_what_failed_while_the_window_stays_responsive(
    qtbot, window: MainWindow, tls_mosquitto: Mosquitto
) -> None:
    dialog = sources_dialog(window)
    qtbot.mouseClick(dialog.add_mqtt_button, Qt.MouseButton.LeftButton)
    form = dialog.mqtt
    assert form is not None and form.test_button is not None
    type_into(qtbot, form.host, tls_mosquitto.host)
    type_into(qtbot, form.port, str(tls_mosquitto.port))

    started_s = time.monotonic()
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    assert time.monotonic() - started_s < CLICK_RETURNS_WITHIN_S
    assert form.result.text().startswith("Testing… (up to 8 s)")
    assert not form.test_button.isEnabled()
    typed_meanwhile = "typed while the test runs"
    type_into(qtbot, form.username, typed_meanwhile)  # the dialog answers meanwhile
    assert form.username.text() == typed_meanwhile

    qtbot.waitUntil(form.test_button.isEnabled, timeout=WAIT_MS)
    where = f"{tls_mosquitto.host}:{tls_mosquitto.port}"
    assert form.result.text().startswith(f"✘ the broker at {where} wants TLS: set tls true")


def test_a_prometheus_page_test_reports_the_token_counters(qtbot, window: MainWindow) -> None:
    import http.server
    import threading

    from vllm_page import VllmPage

    class Page(VllmPage):
        @classmethod
        def generation_tokens(cls) -> float:
            return 99.0

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dialog = sources_dialog(window)
        qtbot.mouseClick(dialog.add_metrics_button, Qt.MouseButton.LeftButton)
        (page,) = dialog.metrics_forms()
        assert isinstance(page, MetricsForm) and page.test_button is not None
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        type_into(qtbot, page.url, url)
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(page.test_button.isEnabled, timeout=WAIT_MS)
        assert page.result.text() == (
            f"✔ {url}: Prometheus text, 1 sample; vLLM token counters: 1 series (model demo-70b)"
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# -- BMS mapping review ----------------------------------------------------------------------


def test_the_mapping_review_stores_the_accepted_mapping_and_undo_removes_it(
    qtbot, tmp_path: Path, mosquitto: Mosquitto, publisher: Publisher
) -> None:
    publish_real_stream(publisher)
    window = open_with_broker(qtbot, tmp_path, mosquitto)
    try:
        dialog = sources_dialog(window)
        form = dialog.mqtt
        assert form is not None
        dialog.list.setCurrentRow(dialog.forms.index(form))
        form.review_requested.emit()
        review = dialog.findChild(BmsMappingDialog)
        assert review is not None and review.isVisible()
        assert review.status.text().startswith("Reading the retained BMS metadata under BMS/v1/PUB")
        qtbot.waitUntil(review.ok_button.isEnabled, timeout=WAIT_MS)

        shown = {
            review.table.item(i, 1).text(): (
                review.table.item(i, 0).checkState() == Qt.CheckState.Checked,
                review.table.item(i, 2).text(),
                review.table.item(i, 3).text(),
            )
            for i in range(review.table.rowCount())
        }
        assert set(shown) == set(REAL_STREAM)
        assert shown["CDU/LiquidTemperature/Hall1/CDU_B1/SupplyTempSetpoint"][:2] == (
            True,
            "cdu CDU-B1 supply_temp_sp_c",
        )
        assert shown["CDU/PumpSpeed/Hall1/CDU_B1/FillPump/Status"] == (
            False,
            NOT_MAPPED,
            "a state point (Off/On), not a measurement: pump_rpm is measured",
        )
        assert shown["CDU/LiquidTemperature/Hall1/CDU_B1/SupplyTemperature"][:2] == (
            True,
            "cdu CDU-B1 supply_temp_c",
        )
        assert shown["CDU/PumpSpeed/Hall1/CDU_B1/Pump1/Speed"][:2] == (True, "cdu CDU-B1 pump_rpm")
        assert "6 BMS points described by the broker: 5 can feed a plan series" in (
            review.status.text()
        )

        flow = next(
            i
            for i in range(review.table.rowCount())
            if review.table.item(i, 1).text() == "Rack/RackLiquidFlow/Hall1/A01"
        )
        review.table.item(flow, 0).setCheckState(Qt.CheckState.Unchecked)  # the engineer unticks
        qtbot.mouseClick(review.ok_button, Qt.MouseButton.LeftButton)
        assert form.mapping.text() == "4 BMS points mapped to plan racks and CDUs"
        click_ok(qtbot, dialog)

        mqtt = window.document.design.telemetry.mqtt
        assert mqtt is not None
        assert {p.point_id: p.feeds for p in mqtt.points} == {
            "CDU/LiquidTemperature/Hall1/CDU_B1/SupplyTemperature": "cdu CDU-B1 supply_temp_c",
            "CDU/LiquidTemperature/Hall1/CDU_B1/SupplyTempSetpoint": "cdu CDU-B1 supply_temp_sp_c",
            "CDU/PumpSpeed/Hall1/CDU_B1/Pump1/Speed": "cdu CDU-B1 pump_rpm",
            "Rack/RackPower/Hall1/A01": "rack A01 power_kw",
        }
        window.menus.undo_action.trigger()
        assert window.document.design.telemetry.mqtt.points == []
    finally:
        close(window)


def test_a_review_of_an_unreachable_broker_says_why(qtbot, window: MainWindow) -> None:
    from broker import free_port

    dialog = sources_dialog(window)
    qtbot.mouseClick(dialog.add_mqtt_button, Qt.MouseButton.LeftButton)
    form = dialog.mqtt
    assert form is not None
    port = free_port()
    type_into(qtbot, form.host, "127.0.0.1")
    type_into(qtbot, form.port, str(port))
    form.review_requested.emit()
    review = dialog.findChild(BmsMappingDialog)
    assert review is not None
    expected = f"✘ Could not read the BMS metadata: refused by 127.0.0.1:{port}: nothing listens"
    qtbot.waitUntil(lambda: review.status.text().startswith(expected), timeout=WAIT_MS)
    assert not review.ok_button.isEnabled()
    review.reject()
    dialog.reject()
