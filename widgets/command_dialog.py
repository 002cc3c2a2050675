"""Confirming a command before it is sent: what, where, from what to what, and who may.

Nothing reaches equipment from a single click. The dialog shows the scope and, per target, the
value now and the value asked, as the service reads them (``CommandPreviewed``), with the
targets it would refuse (out of range, unreachable) and why; the role the command needs and the
operator's own; what will not last ("does not survive a reboot"). The value field updates the
preview as it changes. **Send** is enabled only when the role permits and a target would take
it; the service checks everything again when it arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.service.control.commands import Command
from factoryfloor.backend.service.messages import CommandPreviewed
from factoryfloor.widgets.command_panel import number_text
from factoryfloor.widgets.form_dialog import ERROR_STYLE

SHOWN_TARGETS = 200
"""Targets listed one by one; a whole hall's GPUs are summed up beyond this."""
PREVIEW_DELAY_MS = 250
"""The value settles this long before the service is asked again."""
REFUSED_COLOUR = QColor("#c62828")


@dataclass(frozen=True, slots=True)
class ValueField:
    """The number a command takes: its label, unit, range and first value."""

    label: str
    unit: str
    low: float
    high: float
    value: float
    decimals: int = 0


class CommandDialog(QDialog):
    preview_wanted = Signal(object)
    """A Command to preview (the service answers ``show_preview``)."""
    send_wanted = Signal(object)
    """The Command to send, once confirmed."""

    def __init__(
        self,
        title: str,
        scope: str,
        build: Callable[[float | None], Command],
        field: ValueField | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self._build = build
        self.command: Command = build(field.value if field else None)
        form = QFormLayout()
        form.addRow("Scope", QLabel(scope))
        self.value: QDoubleSpinBox | None = None
        if field is not None:
            self.value = QDoubleSpinBox()
            self.value.setRange(field.low, field.high)
            self.value.setDecimals(field.decimals)
            self.value.setSuffix(f" {field.unit}")
            self.value.setValue(field.value)
            self.value.valueChanged.connect(self._value_changed)
            form.addRow(field.label, self.value)
        self.description = QLabel()
        self.description.setWordWrap(True)
        form.addRow("Command", self.description)
        self.role = QLabel()
        form.addRow("Needs", self.role)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(("Target", "Now", "Asked", "Refused because"))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel()
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #8a5a00;")
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(ERROR_STYLE)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.send_button = buttons.addButton("Send", QDialogButtonBox.ButtonRole.AcceptRole)
        self.send_button.setEnabled(False)
        buttons.accepted.connect(self._send)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        for widget in (self.summary, self.notes, self.problem, buttons):
            layout.addWidget(widget)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(PREVIEW_DELAY_MS)
        self._settle.timeout.connect(lambda: self.preview_wanted.emit(self.command))
        self.resize(720, 480)

    def ask_preview(self) -> None:
        """Ask the service what the command would do (once shown, and after each change)."""
        self.preview_wanted.emit(self.command)

    def _value_changed(self, value: float) -> None:
        self.command = self._build(value)
        self.send_button.setEnabled(False)  # until the service has looked at this value
        self._settle.start()

    def show_preview(self, preview: CommandPreviewed) -> None:
        self.description.setText(preview.description)
        needs = f"{preview.minimum_role} or above; you are signed in as {preview.your_role}"
        self.role.setText(needs if preview.allowed else f"<b>{needs}: you may not send it</b>")
        self.role.setStyleSheet("" if preview.allowed else ERROR_STYLE)
        shown = preview.results[:SHOWN_TARGETS]
        self.table.setRowCount(len(shown))
        for row, result in enumerate(shown):
            cells = (result.target, number_text(result.old_value), number_text(result.new_value),
                     result.reason if result.state == "refused" else "")  # fmt: skip
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if result.state == "refused":
                    item.setForeground(QBrush(REFUSED_COLOUR))
                self.table.setItem(row, column, item)
        sent = sum(r.state == "sent" for r in preview.results)
        refused = len(preview.results) - sent
        more = len(preview.results) - len(shown)
        self.summary.setText(
            f"{sent:,} target{'s' * (sent != 1)} would be sent"
            + (f", {refused:,} refused (never sent)" if refused else "")
            + (f"; {more:,} more not listed" if more > 0 else "")
        )
        self.notes.setText("\n".join(preview.notes))
        self.send_button.setEnabled(preview.allowed and sent > 0)

    def show_problem(self, text: str) -> None:
        """The service's refusal of the send, or why it could not be asked; the dialog stays."""
        self.problem.setText(text)
        self.send_button.setEnabled(False)

    def _send(self) -> None:
        self.problem.clear()
        self.send_button.setEnabled(False)
        self.send_wanted.emit(self.command)
