"""The row of controls above the Run view's time plots: window, GPU quantity, grouping ("per"),
pause, and a status line saying whether the plots are live or paused (and since when)."""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from factoryfloor.backend.telemetry.history import GPU_QUANTITIES, WINDOWS_S
from factoryfloor.widgets.plot_choice import PER_CHOICES, window_label


class PlotControls(QWidget):
    """The controls' widgets; the plots connect to them and keep what is chosen. Setting a
    control from code (``show_window``, ``show_paused``, ``offer_quantities``) emits nothing."""

    def __init__(self, window_s: float, per: str, parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 4, 6, 0)
        self.window_combo = QComboBox()
        for span_s in WINDOWS_S:
            self.window_combo.addItem(window_label(span_s), span_s)
        self.window_combo.setCurrentIndex(WINDOWS_S.index(window_s))
        self.quantity_combo = QComboBox()
        self.per_combo = QComboBox()
        for label, choice in PER_CHOICES:
            self.per_combo.addItem(label, choice)
        self.per_combo.setItemData(3, "The GPUs of the rack selected on the plan",
                                   Qt.ItemDataRole.ToolTipRole)  # fmt: skip
        self.per_combo.setCurrentIndex(self.per_combo.findData(per))
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Freeze the plots and scroll back by dragging (Space)")
        self.status_label = QLabel()
        self.status_label.setStyleSheet("color: gray;")
        for text, widget in (("Window", self.window_combo), ("GPU", self.quantity_combo),
                             ("per", self.per_combo)):  # fmt: skip
            row.addWidget(QLabel(text))
            row.addWidget(widget)
        row.addWidget(self.pause_button)
        row.addWidget(self.status_label, 1)

    def offer_quantities(self, quantities: list[str], current: str) -> str:
        """Offer ``quantities`` (of ``GPU_QUANTITIES``) in the GPU combo, ``current`` chosen if
        it is among them, else the first; the quantity chosen."""
        chosen = current if current in quantities or not quantities else quantities[0]
        self.quantity_combo.blockSignals(True)
        self.quantity_combo.clear()
        for quantity in quantities:
            self.quantity_combo.addItem(GPU_QUANTITIES[quantity][0], quantity)
        if quantities:
            self.quantity_combo.setCurrentIndex(quantities.index(chosen))
        self.quantity_combo.blockSignals(False)
        return chosen

    def show_window(self, span_s: float) -> None:
        self.window_combo.blockSignals(True)
        self.window_combo.setCurrentIndex(WINDOWS_S.index(span_s))
        self.window_combo.blockSignals(False)

    def show_paused(self, paused: bool, paused_end_s: float) -> None:
        """The pause button's state and the status: live, or paused at ``paused_end_s`` (the
        newest frame then; NaN: paused before any frame)."""
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self.pause_button.setText("Resume" if paused else "Pause")
        if paused and not math.isnan(paused_end_s):
            at = time.strftime("%H:%M:%S", time.localtime(paused_end_s))
            self.status_label.setText(f"Paused at {at}: drag to scroll back, wheel to zoom")
        elif paused:
            self.status_label.setText("Paused")
        else:
            self.status_label.setText("Live")
