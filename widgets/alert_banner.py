"""A banner across the top of a view for a condition that makes everything below it untrue
(the telemetry backend stopped): large white type on red, readable across a control room, with
an action button. Hidden while there is nothing to say.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

STYLE = """
QFrame#alertBanner { background: #b3261e; border: none; }
QFrame#alertBanner QLabel { color: white; background: transparent; }
QFrame#alertBanner QPushButton { color: #b3261e; background: white; border: none;
    border-radius: 4px; padding: 4px 14px; font-weight: bold; }
"""


class AlertBanner(QFrame):
    action_clicked = Signal()

    def __init__(self, action_text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("alertBanner")
        self.setStyleSheet(STYLE)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        font = QFont(self.label.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.label.setFont(font)
        self.button = QPushButton(action_text)
        self.button.clicked.connect(self.action_clicked)
        row.addWidget(self.label, 1)
        row.addWidget(self.button)
        self.hide()

    def show_message(self, text: str, with_action: bool = True) -> None:
        """Show ``text``; ``with_action``: with the action button (an attached service cannot be
        restarted from a window, so its outage shows no "Restart now")."""
        self.label.setText(text)
        self.button.setVisible(with_action)
        self.show()

    def clear(self) -> None:
        self.label.clear()
        self.hide()
