"""The Grid dock: DSX Flex load targets on the hall's feeds, and what meeting them costs.

One row per feed: its load now, the grid's target and until when, whether the feed is within
it, any breach alert, and what the token-aware caps would give up in tokens/s beside what
uniform capping would, before anything is done. Choosing a feed lists the caps per rack.
**Apply caps** and **Remove caps** ask the service (operators up); the policy that meets
targets without asking is an engineer's, with a ceiling on what it may shed. Events the
service refused (unsigned, forged, expired) are listed under the table, newest last.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.service.flex.messages import FeedGridView, GridChanged
from factoryfloor.widgets.command_panel import row_table
from factoryfloor.widgets.form_dialog import ERROR_STYLE

FEED_COLUMNS = ("Feed", "Load", "Grid target", "Until", "State", "Cost, token-aware",
                "Cost, uniform caps", "Breach")  # fmt: skip
CAP_COLUMNS = ("Rack", "Limit per GPU", "Power", "Tokens/s")
OVER_COLOUR = QColor("#c62828")
MET_COLOUR = QColor("#2e7d32")


def kw(power_w: float | None) -> str:
    return "n/a" if power_w is None else f"{power_w / 1000:,.0f} kW"


def clock(time_s: float | None) -> str:
    return "until replaced" if time_s is None else time.strftime("%H:%M", time.localtime(time_s))


def state_words(feed: FeedGridView) -> str:
    agent = ("" if feed.agent_compliant is None else
             f"; grid agent: {kw(feed.agent_load_w)}, "
             f"{'compliant' if feed.agent_compliant else 'not compliant'}")  # fmt: skip
    if feed.target_w is None:
        return "no target" + (f" ({feed.scheduled} scheduled)" if feed.scheduled else "") + agent
    if feed.compliant is None:
        return "load not known" + agent
    state = "within target" if feed.compliant else f"over by {kw(feed.load_w - feed.target_w)}"
    return state + (f", capped by {feed.applied_by}" if feed.applied else "") + agent


def cost_words(tokens_lost_per_s: float | None, shortfall_w: float = 0.0) -> str:
    if tokens_lost_per_s is None:
        return ""
    text = f"{tokens_lost_per_s:,.0f} tok/s"
    return text + (f" (still {kw(shortfall_w)} over)" if shortfall_w >= 500.0 else "")


class GridPanel(QWidget):
    apply_wanted = Signal(str)
    remove_wanted = Signal(str)
    policy_wanted = Signal(bool, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid: GridChanged | None = None
        self._policy_shown: tuple[bool, float] | None = None
        """The policy as last shown: the fields are left alone while it stays so (they may be
        being edited)."""
        self.connection = QLabel("Grid load targets: not known (no service)")
        self.table = row_table(FEED_COLUMNS, stretch=len(FEED_COLUMNS) - 1)
        self.table.itemSelectionChanged.connect(self._show_caps)
        self.caps = row_table(CAP_COLUMNS, stretch=len(CAP_COLUMNS) - 1)
        self.caps_note = QLabel()
        self.caps_note.setWordWrap(True)
        self.apply_button = QPushButton("Apply caps…")
        self.remove_button = QPushButton("Remove caps")
        self.apply_button.clicked.connect(lambda: self._feed_wanted(self.apply_wanted))
        self.remove_button.clicked.connect(lambda: self._feed_wanted(self.remove_wanted))
        self.policy = QCheckBox("Meet targets without asking (engineers), shedding at most")
        self.ceiling = QDoubleSpinBox()
        self.ceiling.setRange(0.0, 100_000.0)
        self.ceiling.setDecimals(0)
        self.ceiling.setSuffix(" kW per feed")
        self.policy_button = QPushButton("Set policy")
        self.policy_button.clicked.connect(
            lambda: self.policy_wanted.emit(self.policy.isChecked(), self.ceiling.value())
        )
        self.refusals = QLabel()
        self.refusals.setWordWrap(True)
        self.refusals.setStyleSheet("color: #6d4c41;")
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(ERROR_STYLE)
        actions = QHBoxLayout()
        for widget in (self.apply_button, self.remove_button):
            actions.addWidget(widget)
        actions.addStretch(1)
        for widget in (self.policy, self.ceiling, self.policy_button):
            actions.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addWidget(self.connection)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.caps_note)
        layout.addWidget(self.caps, 2)
        layout.addLayout(actions)
        layout.addWidget(self.problem)
        layout.addWidget(self.refusals)
        self._enable()

    def show_grid(self, grid: GridChanged | None) -> None:
        """The service's view of every feed (None: no service, so not known)."""
        chosen = self.chosen_feed()
        self.grid = grid
        if grid is None:
            self.connection.setText("Grid load targets: not known (no service)")
            self.table.setRowCount(0)
        else:
            self.connection.setText(
                "Grid load targets (DSX Flex): "
                + (
                    "subscribed"
                    if grid.connected
                    else "not connected: set an MQTT broker in Telemetry Sources"
                )
                + (
                    f" · policy on, at most {grid.policy_ceiling_kw:,.0f} kW shed per feed "
                    f"(set by {grid.policy_by})"
                    if grid.policy_enabled
                    else " · policy off"
                )
            )
            self.table.setRowCount(len(grid.feeds))
            for row, feed in enumerate(grid.feeds):
                self._fill_row(row, feed)
                if feed.feed_id == chosen:
                    self.table.selectRow(row)
            self.refusals.setText("\n".join(
                f"Refused {time.strftime('%H:%M:%S', time.localtime(r.time_s))} from "
                f"{r.source}: {r.reason}" for r in grid.refusals[-5:]))  # fmt: skip
            policy = (grid.policy_enabled, grid.policy_ceiling_kw)
            if policy != self._policy_shown:  # the service's policy changed: show it
                self._policy_shown = policy
                self.policy.setChecked(grid.policy_enabled)
                self.ceiling.setValue(grid.policy_ceiling_kw)
        self._show_caps()

    def _fill_row(self, row: int, feed: FeedGridView) -> None:
        target = "none" if feed.target_w is None else f"≤ {kw(feed.target_w)}"
        cells = (f"{feed.feed_id} ({feed.feed_tag})" if feed.feed_tag != feed.feed_id
                 else feed.feed_id, kw(feed.load_w), target,
                 "" if feed.target_w is None else clock(feed.end_s), state_words(feed),
                 cost_words(feed.tokens_lost_per_s, feed.shortfall_w),
                 cost_words(feed.uniform_tokens_lost_per_s), feed.breach)  # fmt: skip
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if column == 4 and feed.compliant is not None and feed.target_w is not None:
                item.setForeground(QBrush(MET_COLOUR if feed.compliant else OVER_COLOUR))
            self.table.setItem(row, column, item)

    def chosen_feed(self) -> str | None:
        feed = self._chosen()
        return None if feed is None else feed.feed_id

    def _chosen(self) -> FeedGridView | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.grid is None or rows[0].row() >= len(self.grid.feeds):
            return None
        return self.grid.feeds[rows[0].row()]

    def _show_caps(self) -> None:
        feed = self._chosen()
        caps = () if feed is None else feed.caps
        self.caps.setRowCount(len(caps))
        for row, cap in enumerate(caps):
            cells = (cap.rack_id, f"{cap.limit_w:,.0f} W", kw(cap.power_w),
                     f"{cap.tokens_per_s:,.0f}")  # fmt: skip
            for column, text in enumerate(cells):
                self.caps.setItem(row, column, QTableWidgetItem(text))
        if feed is None:
            self.caps_note.setText("Choose a feed for the caps that would meet its target.")
        elif feed.applied:
            self.caps_note.setText(f"{feed.feed_id}: caps set by {feed.applied_by}.")
        elif caps:
            unknown = (f" {feed.unknown_racks} racks have no power curve: their load is taken "
                       "as fixed." if feed.unknown_racks else "")  # fmt: skip
            self.caps_note.setText(
                f"{feed.feed_id}: shed {kw(feed.shed_w)} by capping {len(caps)} racks where a watt "
                f"buys the fewest tokens: {cost_words(feed.tokens_lost_per_s)} given up, against "
                f"{cost_words(feed.uniform_tokens_lost_per_s)} with uniform caps.{unknown}"
            )
        else:
            self.caps_note.setText(f"{feed.feed_id}: nothing to shed.")
        self._enable()

    def _enable(self) -> None:
        feed = self._chosen()
        self.apply_button.setEnabled(feed is not None and bool(feed.caps) and not feed.applied)
        self.remove_button.setEnabled(feed is not None and feed.applied)

    def _feed_wanted(self, signal: Signal) -> None:
        feed = self.chosen_feed()
        if feed is not None:
            self.problem.clear()
            signal.emit(feed)

    def show_problem(self, text: str) -> None:
        self.problem.setText(text)
