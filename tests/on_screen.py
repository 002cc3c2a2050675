"""A widget on the (offscreen) screen for a test, the way the views' tests need it."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


def on_screen(qtbot, widget: QWidget, width: int, height: int) -> QWidget:
    """``widget`` shown at ``width`` x ``height`` and exposed; closed when the test ends."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget
