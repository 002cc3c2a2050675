"""The layout the app's small dialogs share: labelled fields, a line for what is wrong with
them, and Cancel beside the action button (which checks before it closes)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QWidget

ERROR_STYLE = "color: #b00020"


def lay_out_form(dialog: QDialog, rows: Sequence[tuple[str, QWidget]], action: str) -> QLabel:
    """Fill ``dialog`` with ``rows`` and the buttons; the label that says what is wrong."""
    form = QFormLayout(dialog)
    for label, field in rows:
        form.addRow(label, field)
    error_label = QLabel()
    error_label.setWordWrap(True)
    error_label.setStyleSheet(ERROR_STYLE)
    form.addRow(error_label)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
    buttons.addButton(action, QDialogButtonBox.ButtonRole.AcceptRole)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    form.addRow(buttons)
    return error_label
