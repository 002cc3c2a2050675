"""One form per telemetry source in the Telemetry Sources dialog, each with its connection test.

A form shows a source's settings as a design file holds them and gives back what was typed
(``values``), unchecked: the dialog's one edit checks everything on OK. "Test connection"
checks what is typed now, on a worker (``Submit``) by the check's deadline, and shows what it
found in words under the button; the window stays responsive meanwhile and a second click waits
for the first test to finish.

The MQTT password is not a design setting: it is typed here only to test the connection and
read the BMS metadata, is never shown once typed (the field echoes dots), and with nothing
typed the one in ``FACTORYFLOOR_MQTT_PASSWORD`` is used, as the running source does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from factoryfloor.backend.design.design_file import problems_from_validation
from factoryfloor.backend.design.field_info import display_text
from factoryfloor.backend.design.mqtt_settings import PASSWORD_ENV, MqttConfig, PointMapping
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint
from factoryfloor.backend.telemetry.sources.connection_check import (
    CHECK_TIMEOUT_S,
    SERVER_NAMES,
    CheckResult,
    check_metrics,
    check_mqtt,
    check_nvml,
)
from factoryfloor.widgets.background_work import Submit
from factoryfloor.widgets.settings_form import (
    FormRows,
    caption,
    optional_text,
    show_result,
    typed_number,
)

DETECT_TEXT = "(detect from the page)"
NO_RACK_TEXT = "(none)"


class SourceForm(QWidget):
    """A source's settings, and its connection test if it has one."""

    title_changed = Signal()
    """The list's name for the source changed (its host or URL was retyped)."""

    def __init__(self, heading: str, submit: Submit) -> None:
        super().__init__()
        self._submit = submit
        self.layout_ = QVBoxLayout(self)
        title = QLabel(heading)
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.layout_.addWidget(title)
        self.grid = QGridLayout()
        self.rows = FormRows(self.grid)
        self.layout_.addLayout(self.grid)
        self.test_button: QPushButton | None = None
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.hide()

    def title(self) -> str:
        raise NotImplementedError

    def _add_test(self, extra: list[QWidget] | None = None) -> None:
        self.test_button = QPushButton("&Test connection")
        self.test_button.clicked.connect(self.test_connection)
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        for widget in extra or []:
            buttons.addWidget(widget)
        buttons.addStretch(1)
        self.layout_.addLayout(buttons)
        self.layout_.addWidget(self.result)

    def _line(self, path: str, label: str, value: object, unit: str = "", tip: str = "",
              placeholder: str = "") -> QLineEdit:  # fmt: skip
        edit = QLineEdit(display_text(value))
        edit.setPlaceholderText(placeholder)
        self.rows.add(path, label, edit, unit, tip)
        return edit

    def _check_box(self, path: str, text: str, checked: bool, tip: str = "") -> QCheckBox:
        box = QCheckBox(text)
        box.setChecked(checked)
        self.rows.add(path, "", box, "", tip)
        return box

    def test_connection(self) -> None:
        """Check what is typed now, off the GUI thread."""
        work = self._check()
        if work is None:
            return
        assert self.test_button is not None
        self.test_button.setEnabled(False)
        self.result.setStyleSheet("")
        self.result.setText(f"Testing… (up to {CHECK_TIMEOUT_S:g} s)")
        self.result.show()
        self._submit(work, self._show_check, self._show_failure)

    def _check(self) -> Callable[[], CheckResult] | None:
        """The check of what is typed, or None (and the problems shown) if it is invalid."""
        raise NotImplementedError

    def _validated(self, model: type[BaseModel], data: dict[str, Any]) -> Any:
        """``data`` as ``model``, or None with its problems shown under the fields."""
        try:
            return model.model_validate(data)
        except ValidationError as error:
            left = self.rows.show_problems(problems_from_validation(error))
            words = "; ".join(str(problem) for problem in left) or "see the fields above"
            show_result(self.result, False, f"Not tested: fix the settings first ({words})")
            return None

    def _show_check(self, result: CheckResult) -> None:
        if not isValid(self):  # the dialog closed while the test ran
            return
        assert self.test_button is not None
        self.test_button.setEnabled(True)
        show_result(self.result, result.ok, result.summary)

    def _show_failure(self, error: BaseException) -> None:
        if not isValid(self):
            return
        assert self.test_button is not None
        self.test_button.setEnabled(True)
        show_result(self.result, False, f"The test itself failed: {error!r}")


class SimulatorForm(SourceForm):
    def __init__(self, telemetry: dict[str, Any], submit: Submit) -> None:
        super().__init__("Simulated facility", submit)
        self.simulate = self._check_box("simulate", "&Simulate the facility", telemetry["simulate"])
        self.replay = self._check_box(
            "replay_trace",
            "Drive the simulated GPUs with the &recorded H100 trace",
            telemetry["replay_trace"],
        )
        self.simulate.toggled.connect(self.title_changed)
        self.layout_.addWidget(caption("Runs inside FactoryFloor: there is nothing to connect to."))
        self.layout_.addStretch(1)

    def title(self) -> str:
        return f"Simulator ({'on' if self.simulate.isChecked() else 'off'})"

    def values(self) -> dict[str, Any]:
        return {"simulate": self.simulate.isChecked(), "replay_trace": self.replay.isChecked()}


class NvmlForm(SourceForm):
    def __init__(self, telemetry: dict[str, Any], submit: Submit) -> None:
        super().__init__("This machine's GPUs (NVML)", submit)
        self.enabled = self._check_box(
            "nvml", "&Read this machine's GPUs through NVML", telemetry["nvml"]
        )
        self.enabled.toggled.connect(self.title_changed)
        self.layout_.addWidget(
            caption("The test loads NVML on this machine and counts the GPUs it sees.")
        )
        self._add_test()
        self.layout_.addStretch(1)

    def title(self) -> str:
        return f"NVML, this machine's GPUs ({'on' if self.enabled.isChecked() else 'off'})"

    def values(self) -> dict[str, Any]:
        return {"nvml": self.enabled.isChecked()}

    def _check(self) -> Callable[[], CheckResult]:
        return check_nvml


class FileField(QWidget):
    """A path typed or picked with Browse…"""

    def __init__(self, path: str | None, what: str) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(path or "")
        self.edit.setPlaceholderText("(none)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(what))
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def _browse(self, what: str) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, what, self.edit.text(), "PEM files (*.pem *.crt *.key);;All files (*)"
        )
        if path:
            self.edit.setText(path)

    def text(self) -> str | None:
        return optional_text(self.edit.text())


class MqttForm(SourceForm):
    """The facility broker: where it is, TLS, login, what to subscribe to, the BMS mapping."""

    review_requested = Signal()

    def __init__(self, mqtt: dict[str, Any], submit: Submit) -> None:
        super().__init__("Facility MQTT broker: DSX BMS points and node agents", submit)
        self._stored = mqtt
        """Settings the form does not show (reconnect timing, queue size) are kept as they are."""
        self.points = [PointMapping.model_validate(p) for p in mqtt.get("points", [])]
        tip = _tips(MqttConfig)
        self.host = self._line("host", "&Host", mqtt["host"], "", tip("host"))
        self.host.textEdited.connect(self.title_changed)
        self.port = self._line("port", "&Port", mqtt["port"], "", tip("port"))
        self.port.textEdited.connect(self.title_changed)
        self.tls = self._check_box("tls", "Encrypt with &TLS", mqtt["tls"], tip("tls"))
        self.ca_file = FileField(mqtt["ca_file"], "CA certificate of the broker")
        self.rows.add("ca_file", "&CA file", self.ca_file, "", tip("ca_file"))
        self.client_cert = FileField(mqtt["client_cert"], "Client certificate")
        self.rows.add("client_cert", "Client c&ertificate", self.client_cert, "",
                      tip("client_cert"))  # fmt: skip
        self.client_key = FileField(mqtt["client_key"], "Client key")
        self.rows.add("client_key", "Client &key", self.client_key, "", tip("client_key"))
        self.allow_plaintext = self._check_box(
            "allow_plaintext",
            "Allow &plaintext to a broker on another machine",
            mqtt["allow_plaintext"],
            tip("allow_plaintext"),
        )
        self.username = self._line("username", "&User name", mqtt["username"], "",
                                   tip("username"), "(none: anonymous)")  # fmt: skip
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        from_env = PASSWORD_ENV in os.environ
        self.password.setPlaceholderText(f"(from {PASSWORD_ENV})" if from_env else "(none)")
        self.rows.add("password", "Pass&word", self.password, "not saved",
                      f"Never stored in the design file: the service reads {PASSWORD_ENV}. "
                      "Typed here, it is used only to test the connection and read the BMS "
                      "metadata.")  # fmt: skip
        self.client_id = self._line("client_id", "Client &ID", mqtt["client_id"], "",
                                    tip("client_id"))  # fmt: skip
        self.protocol = QComboBox()
        self.protocol.addItems(["3.1.1", "5"])
        self.protocol.setCurrentText(mqtt["protocol"])
        self.rows.add("protocol", "Pr&otocol", self.protocol, "MQTT version", tip("protocol"))
        self.bms_prefix = self._line("bms_prefix", "&BMS prefix", mqtt["bms_prefix"], "",
                                     tip("bms_prefix"), "(none: no BMS here)")  # fmt: skip
        self.node_prefix = self._line("node_prefix", "&Node prefix", mqtt["node_prefix"], "",
                                      tip("node_prefix"), "(none: no node agents)")  # fmt: skip
        self.mapping = QLabel()
        review = QPushButton("Review BMS &mapping…")
        review.clicked.connect(self.review_requested)
        self._add_test([review])
        self.layout_.addWidget(self.mapping)
        self.layout_.addStretch(1)
        self.show_mapping()

    def title(self) -> str:
        return f"MQTT broker {self.host.text()}:{self.port.text()}"

    def values(self) -> dict[str, Any]:
        return self._stored | {
            "host": self.host.text().strip(),
            "port": typed_number(self.port.text()),
            "tls": self.tls.isChecked(),
            "allow_plaintext": self.allow_plaintext.isChecked(),
            "ca_file": self.ca_file.text(),
            "client_cert": self.client_cert.text(),
            "client_key": self.client_key.text(),
            "username": optional_text(self.username.text()),
            "client_id": self.client_id.text().strip(),
            "protocol": self.protocol.currentText(),
            "bms_prefix": optional_text(self.bms_prefix.text()),
            "node_prefix": optional_text(self.node_prefix.text()),
            "points": [point.model_dump() for point in self.points],
        }

    def config(self) -> MqttConfig | None:
        """The settings typed, or None with their problems shown."""
        return self._validated(MqttConfig, self.values())  # type: ignore[no-any-return]

    def typed_password(self) -> str | None:
        """The password typed; None: the environment's, as the source takes it."""
        return self.password.text() or None

    def set_points(self, points: list[PointMapping]) -> None:
        self.points = points
        self.show_mapping()

    def show_mapping(self) -> None:
        count = len(self.points)
        self.mapping.setText(
            f"{count} BMS point{'' if count == 1 else 's'} mapped to plan racks and CDUs"
        )

    def _check(self) -> Callable[[], CheckResult] | None:
        config = self.config()
        if config is None:
            return None
        password = self.typed_password()
        return lambda: check_mqtt(config, password)


class MetricsForm(SourceForm):
    """One inference server's ``/metrics`` page."""

    def __init__(self, endpoint: dict[str, Any], rack_ids: list[str], submit: Submit) -> None:
        super().__init__("Inference server's Prometheus /metrics page", submit)
        tip = _tips(MetricsEndpoint)
        self.url = self._line("url", "&URL", endpoint["url"], "", tip("url"),
                              "http://host:8000/metrics")  # fmt: skip
        self.url.textEdited.connect(self.title_changed)
        self.kinds: list[str | None] = [None, *SERVER_NAMES]
        self.server_kind = QComboBox()
        self.server_kind.addItems([DETECT_TEXT, *SERVER_NAMES.values()])
        self.server_kind.setCurrentIndex(self.kinds.index(endpoint["server_kind"]))
        self.rows.add("server_kind", "&Server", self.server_kind, "", tip("server_kind"))
        self.racks: list[str | None] = [None, *rack_ids]
        if endpoint["rack_id"] not in self.racks:  # a dangling rack is shown, not dropped
            self.racks.append(endpoint["rack_id"])
        self.rack = QComboBox()
        self.rack.addItems([NO_RACK_TEXT if r is None else r for r in self.racks])
        self.rack.setCurrentIndex(self.racks.index(endpoint["rack_id"]))
        self.rows.add("rack_id", "&Rack", self.rack, "", tip("rack_id"))
        self.model = self._line("model", "&Model", endpoint["model"], "", tip("model"),
                                "(named by the page)")  # fmt: skip
        self.interval = self._line("scrape_interval_s", "Scrape &interval",
                                   endpoint["scrape_interval_s"], "s",
                                   tip("scrape_interval_s"))  # fmt: skip
        self._add_test()
        self.layout_.addStretch(1)

    def title(self) -> str:
        return f"Prometheus {self.url.text() or '(no URL yet)'}"

    def values(self) -> dict[str, Any]:
        return {
            "url": self.url.text().strip(),
            "server_kind": self.kinds[self.server_kind.currentIndex()],
            "rack_id": self.racks[self.rack.currentIndex()],
            "model": optional_text(self.model.text()),
            "scrape_interval_s": typed_number(self.interval.text()),
        }

    def _check(self) -> Callable[[], CheckResult] | None:
        endpoint = self._validated(MetricsEndpoint, self.values())
        if endpoint is None:
            return None
        return lambda: check_metrics(endpoint)


def _tips(model: type[BaseModel]) -> Callable[[str], str]:
    """A field's docstring, as a tooltip."""

    def tip(name: str) -> str:
        return (model.model_fields[name].description or "").replace("``", "")

    return tip
