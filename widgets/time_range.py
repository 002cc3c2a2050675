"""Since and until, each ticked to apply: the time range of a search through a record (the alarm
journal, the audit log), laid out in the row of filters above its table."""

from __future__ import annotations

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import QCheckBox, QDateTimeEdit, QHBoxLayout, QWidget

DEFAULT_SINCE_S = 24 * 3600.0
"""A search starts with the last day: a shift and its handover."""


class TimeRange:
    """The four editors, placed by whoever lays out the filters (``add_to``)."""

    def __init__(self, now_s: float) -> None:
        now = QDateTime.fromSecsSinceEpoch(round(now_s))
        self.since_check = QCheckBox("Since")
        self.since_check.setChecked(True)
        self.since_edit = QDateTimeEdit(now.addSecs(-round(DEFAULT_SINCE_S)))
        self.until_check = QCheckBox("Until")
        self.until_check.setToolTip("Unticked: up to now")
        self.until_edit = QDateTimeEdit(now)
        for check, edit in ((self.since_check, self.since_edit),
                            (self.until_check, self.until_edit)):  # fmt: skip
            edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
            edit.setCalendarPopup(True)
            edit.setEnabled(check.isChecked())
            check.toggled.connect(edit.setEnabled)

    def add_to(self, layout: QHBoxLayout) -> None:
        for widget in self.widgets():
            layout.addWidget(widget)

    def widgets(self) -> tuple[QWidget, ...]:
        return self.since_check, self.since_edit, self.until_check, self.until_edit

    def range_s(self) -> tuple[float | None, float | None]:
        """Since and until in epoch seconds, None for each not ticked."""
        return _seconds(self.since_check, self.since_edit), _seconds(self.until_check,
                                                                      self.until_edit)  # fmt: skip


def _seconds(check: QCheckBox, edit: QDateTimeEdit) -> float | None:
    return float(edit.dateTime().toSecsSinceEpoch()) if check.isChecked() else None
