"""The tokens-per-joule tuner of a group of racks: start a sweep, watch it, apply its advice.

The sweep runs in the service, so the dialog only asks and shows: **Start** (with the tokens/s
floor the advice must keep, and whether to sweep again by itself when tokens per joule drifts),
**Cancel sweep** (the service restores the settings the group had before), and **Apply** once
the sweep is measured. Every window shows the same sweep (``TuningUpdated``). Apply and Start are
enabled only for a role that may change power limits; the service checks again.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.service.tuning.messages import TuningProgress
from factoryfloor.widgets.form_dialog import ERROR_STYLE
from factoryfloor.widgets.tuning_plot import SweepPicture, SweepPoint, TuningPlot

LEVER_WORDS = {"power_limit": ("Power limit per GPU", "W"), "sm_clock": ("Locked SM clock", "MHz")}
STATE_WORDS = {
    "sweeping": "sweeping",
    "restoring": "putting the previous settings back",
    "measured": "measured: the previous settings are back; apply the advice or close",
    "applied": "advice applied; tokens per joule watched for drift",
    "cancelled": "cancelled: the previous settings are back",
    "failed": "failed",
}


def picture(progress: TuningProgress) -> SweepPicture:
    """The plot's view of a sweep."""
    label, unit = LEVER_WORDS[progress.lever]
    points = [SweepPoint(r.setting, r.tokens_per_s, r.tokens_per_s_sd, r.tokens_per_j,
                         r.tokens_per_j_sd) for r in progress.results]  # fmt: skip
    sweeping = progress.state == "sweeping" and progress.step < len(progress.levels)
    return SweepPicture(label, unit, points, progress.floor_tokens_per_s, progress.recommended,
                        progress.levels[progress.step] if sweeping else None)  # fmt: skip


def status_text(progress: TuningProgress) -> str:
    """One line: the group, who started it, the lever and where the sweep is."""
    label, unit = LEVER_WORDS[progress.lever]
    words = STATE_WORDS.get(progress.state, progress.state)
    if progress.state == "sweeping":
        words += f", step {min(progress.step + 1, len(progress.levels))} of {len(progress.levels)}"
    text = f"{progress.group}: {label.lower()} sweep by {progress.user}, {words}"
    if progress.recommended is not None:
        text += f". Advice: {progress.recommended:,.0f} {unit}"
    if progress.drifted:
        text += ". Tokens per joule has left its band: the workload may have changed"
    if progress.reason:
        text += f". {progress.reason}"
    return text


class TuningDialog(QDialog):
    start_wanted = Signal(float, bool)
    """Floor (share of the unconstrained tokens/s, 0-1) and whether to re-tune on drift."""
    cancel_wanted = Signal()
    apply_wanted = Signal()

    def __init__(self, group: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.group = group
        self.setWindowTitle(f"Tune tokens per joule: {group}")
        form = QFormLayout()
        self.scope = QLabel(group)
        form.addRow("Group", self.scope)
        self.floor = QDoubleSpinBox()
        self.floor.setRange(50.0, 100.0)
        self.floor.setDecimals(0)
        self.floor.setSuffix(" % of the unconstrained tokens/s")
        self.floor.setValue(95.0)
        form.addRow("Keep at least", self.floor)
        self.retune = QCheckBox("Sweep again by itself when tokens per joule drifts")
        form.addRow("", self.retune)
        self.status = QLabel("No sweep yet.")
        self.status.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(ERROR_STYLE)
        self.plot = TuningPlot()
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(("Setting", "Tokens/s", "Power", "Tokens per joule"))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.start_button = QPushButton("Start sweep")
        self.cancel_button = QPushButton("Cancel sweep")
        self.apply_button = QPushButton("Apply advice")
        self.start_button.clicked.connect(self._start)
        self.cancel_button.clicked.connect(self.cancel_wanted)
        self.apply_button.clicked.connect(self._apply)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.cancel_button, self.apply_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 3)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.problem)
        layout.addLayout(buttons)
        self._may_control = False
        self._progress: TuningProgress | None = None
        self.resize(960, 820)
        self._enable()

    def set_role_allows(self, allowed: bool, role_words: str) -> None:
        """Whether the window's role may change power limits; the reason shown if not."""
        self._may_control = allowed
        if not allowed:
            self.problem.setText(f"Tuning needs an operator or above; you are {role_words}.")
        self._enable()

    def show_progress(self, progress: TuningProgress | None) -> None:
        """The service's sweep (any group: another group's sweep is named, not drawn here)."""
        self._progress = progress
        if progress is None:
            self.status.setText("No sweep yet.")
        elif progress.group != self.group:
            self.status.setText(f"A sweep of {progress.group} is under way or last ran: "
                                f"{STATE_WORDS.get(progress.state, progress.state)}.")  # fmt: skip
        else:
            self.status.setText(status_text(progress))
            self.plot.show_sweep(picture(progress))
            self._fill_table(progress)
        self._enable()

    def show_problem(self, text: str) -> None:
        self.problem.setText(text)

    def _fill_table(self, progress: TuningProgress) -> None:
        _, unit = LEVER_WORDS[progress.lever]
        self.table.setRowCount(len(progress.results))
        for row, r in enumerate(progress.results):
            cells = (f"{r.setting:,.0f} {unit}",
                     f"{r.tokens_per_s:,.0f} ± {r.tokens_per_s_sd:,.0f}",
                     f"{r.power_w / 1000:,.2f} kW",
                     f"{r.tokens_per_j:.3f} ± {r.tokens_per_j_sd:.3f}")  # fmt: skip
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if r.setting == progress.recommended:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, column, item)

    def _enable(self) -> None:
        progress = self._progress
        busy = progress is not None and progress.state in ("sweeping", "restoring")
        ours = progress is not None and progress.group == self.group
        self.start_button.setEnabled(self._may_control and not busy)
        self.cancel_button.setEnabled(self._may_control and busy and ours)
        self.apply_button.setEnabled(self._may_control and ours and progress.state == "measured"
                                     and progress.recommended is not None)  # fmt: skip

    def _start(self) -> None:
        self.problem.clear()
        self.start_wanted.emit(self.floor.value() / 100.0, self.retune.isChecked())

    def _apply(self) -> None:
        self.problem.clear()
        self.apply_wanted.emit()
