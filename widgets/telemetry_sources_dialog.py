"""Design > Telemetry Sources: where the running facility's readings come from.

The list on the left holds the design's sources: the simulator and this machine's NVML (each on
or off), the facility's MQTT broker if it has one, and the inference servers' Prometheus pages;
the form on the right edits the one selected and tests its connection (``source_forms``).
Brokers and pages are added and removed with the buttons under the list.

Nothing changes until OK, which hands the whole ``telemetry`` section, as typed, to ``apply``:
one undoable edit, checked as strictly as a design file. Its problems show under the fields
they name (the offending source is selected), and nothing changes while any remain.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.design.design_file import FieldProblem
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.widgets.background_work import Submit
from factoryfloor.widgets.bms_mapping_dialog import BmsMappingDialog
from factoryfloor.widgets.settings_form import problem_label
from factoryfloor.widgets.source_forms import (
    MetricsForm,
    MqttForm,
    NvmlForm,
    SimulatorForm,
    SourceForm,
)

ApplyTelemetry = Callable[[dict[str, Any]], list[FieldProblem]]
"""Tries the edit with the ``telemetry`` section given; the problems that refused it."""

NEW_ENDPOINT: dict[str, Any] = {
    "url": "",
    "server_kind": None,
    "rack_id": None,
    "model": None,
    "scrape_interval_s": 1.0,
}
_METRICS_PATH = re.compile(r"^telemetry\.metrics\[(\d+)\]\.?(.*)$")


class TelemetrySourcesDialog(QDialog):
    def __init__(self, design: Design, apply: ApplyTelemetry, submit: Submit,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Telemetry Sources")
        self.design = design
        self._apply = apply
        self._submit = submit
        self._telemetry = design.telemetry.model_dump()
        """Settings no form shows (the series limit) go back as they were."""
        self.forms: list[SourceForm] = []

        self.list = QListWidget()
        self.list.setMinimumWidth(230)
        self.stack = QStackedWidget()
        self.list.currentRowChanged.connect(self._show_form)
        self.add_mqtt_button = QPushButton("Add MQTT &broker")
        self.add_mqtt_button.clicked.connect(lambda: self.add_mqtt(MqttConfig().model_dump()))
        self.add_metrics_button = QPushButton("Add &Prometheus page")
        self.add_metrics_button.clicked.connect(lambda: self.add_metrics(dict(NEW_ENDPOINT)))
        self.remove_button = QPushButton("&Remove")
        self.remove_button.clicked.connect(self.remove_selected)

        self.simulator = SimulatorForm(self._telemetry, submit)
        self.nvml = NvmlForm(self._telemetry, submit)
        self.mqtt: MqttForm | None = None
        for form in (self.simulator, self.nvml):
            self._add_form(form)
        if self._telemetry["mqtt"] is not None:
            self.add_mqtt(self._telemetry["mqtt"])
        for endpoint in self._telemetry["metrics"]:
            self.add_metrics(endpoint)

        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        for button in (self.add_mqtt_button, self.add_metrics_button, self.remove_button):
            left.addWidget(button)
        scroll = QScrollArea()
        scroll.setWidget(self.stack)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(600)
        top = QHBoxLayout()
        top.addLayout(left)
        top.addWidget(scroll, 1)
        self.other_problems = problem_label()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.try_accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.other_problems)
        layout.addWidget(self.buttons)
        self.resize(940, 660)
        self.list.setCurrentRow(0)

    # The list of sources -----------------------------------------------------------------------

    def _add_form(self, form: SourceForm) -> None:
        item = QListWidgetItem(form.title())
        self.list.addItem(item)
        self.stack.addWidget(form)
        self.forms.append(form)
        form.title_changed.connect(lambda: item.setText(form.title()))
        self.list.setCurrentItem(item)

    def add_mqtt(self, mqtt: dict[str, Any]) -> MqttForm:
        """The facility broker's form (one per design)."""
        form = MqttForm(mqtt, self._submit)
        form.review_requested.connect(self.review_mapping)
        self.mqtt = form
        self._add_form(form)
        self.add_mqtt_button.setEnabled(False)
        return form

    def add_metrics(self, endpoint: dict[str, Any]) -> MetricsForm:
        form = MetricsForm(endpoint, [rack.id for rack in self.design.racks], self._submit)
        self._add_form(form)
        return form

    def metrics_forms(self) -> list[MetricsForm]:
        return [form for form in self.forms if isinstance(form, MetricsForm)]

    def _show_form(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentWidget(self.forms[row])
        self.remove_button.setEnabled(isinstance(self.forms[row], MqttForm | MetricsForm))

    def remove_selected(self) -> None:
        """Remove the selected broker or page; the simulator and NVML are switched off instead."""
        row = self.list.currentRow()
        form = self.forms[row]
        if not isinstance(form, MqttForm | MetricsForm):
            return
        self.list.takeItem(row)
        self.stack.removeWidget(form)
        self.forms.pop(row)
        form.deleteLater()
        if form is self.mqtt:
            self.mqtt = None
            self.add_mqtt_button.setEnabled(True)

    # OK ----------------------------------------------------------------------------------------

    def typed(self) -> dict[str, Any]:
        """The ``telemetry`` section as typed in every form."""
        return (
            self._telemetry
            | self.simulator.values()
            | self.nvml.values()
            | {
                "mqtt": self.mqtt.values() if self.mqtt is not None else None,
                "metrics": [form.values() for form in self.metrics_forms()],
            }
        )

    def try_accept(self) -> None:
        """Apply the edit and close, or show why not and stay."""
        problems = self._apply(self.typed())
        unplaced = self._show_problems(problems)
        self.other_problems.setText("\n".join(str(problem) for problem in unplaced))
        self.other_problems.setVisible(bool(unplaced))
        if not problems:
            self.accept()

    def _show_problems(self, problems: list[FieldProblem]) -> list[FieldProblem]:
        """Each problem under its field, and the first source with one selected; the problems
        that name no field on any form are returned."""
        by_form: dict[int, list[FieldProblem]] = {}
        unplaced: list[FieldProblem] = []
        metrics = self.metrics_forms()
        for problem in problems:
            form, path = self._form_of(problem.path, metrics)
            if form is None:
                unplaced.append(problem)
            else:
                by_form.setdefault(self.forms.index(form), []).append(
                    FieldProblem(path, problem.reason)
                )
        for i, form in enumerate(self.forms):
            unplaced += [
                FieldProblem(self._full_path(form, p.path), p.reason)
                for p in form.rows.show_problems(by_form.get(i, []))
            ]
        if by_form:
            self.list.setCurrentRow(min(by_form))
        return unplaced

    def _form_of(self, path: str, metrics: list[MetricsForm]) -> tuple[SourceForm | None, str]:
        """The form a problem's path is on, and the path within it."""
        if path.startswith("telemetry.mqtt.") and self.mqtt is not None:
            return self.mqtt, path.removeprefix("telemetry.mqtt.")
        match = _METRICS_PATH.match(path)
        if match and int(match.group(1)) < len(metrics):
            return metrics[int(match.group(1))], match.group(2)
        name = path.removeprefix("telemetry.")
        if name in ("simulate", "replay_trace"):
            return self.simulator, name
        if name == "nvml":
            return self.nvml, name
        return None, path

    def _full_path(self, form: SourceForm, path: str) -> str:
        if form is self.mqtt:
            return f"telemetry.mqtt.{path}"
        if isinstance(form, MetricsForm):
            return f"telemetry.metrics[{self.metrics_forms().index(form)}].{path}"
        return f"telemetry.{path}"

    # The BMS mapping review --------------------------------------------------------------------

    def review_mapping(self) -> None:
        """Read the broker's BMS metadata and review the proposed mapping; accepted, it goes
        into this dialog's MQTT source, stored with everything else on OK."""
        form = self.mqtt
        if form is None:
            return
        config = form.config()
        if config is None:
            self.list.setCurrentRow(self.forms.index(form))
            return
        review = BmsMappingDialog(self.design, config, form.typed_password(), self._submit, self)
        review.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        review.accepted.connect(lambda: form.set_points(review.accepted_points()))
        review.open()
        review.start()
