"""Grid load targets from the window: the Grid dock following what the service tells every
window, and its requests (apply or remove a feed's caps, the policy) sent to the service. Caps
are applied only after the operator confirms the proposal as the dock shows it."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox, QWidget

from factoryfloor.app.control_commands import Ask
from factoryfloor.backend.service.flex.messages import (
    ApplyGridProposal,
    GridChanged,
    RemoveGridCaps,
    SetGridPolicy,
)
from factoryfloor.backend.telemetry.protocol import Refused, Reply, Request
from factoryfloor.widgets.grid_panel import GridPanel, cost_words, kw


class GridCommands(QObject):
    def __init__(self, ask: Ask, parent: QWidget) -> None:
        super().__init__(parent)
        self._ask, self._parent = ask, parent
        self.panel = GridPanel()
        self.confirm: QMessageBox | None = None
        """The confirmation open now."""
        self.panel.apply_wanted.connect(self.confirm_apply)
        self.panel.remove_wanted.connect(lambda feed: self._request(RemoveGridCaps(feed)))
        self.panel.policy_wanted.connect(
            lambda on, ceiling_kw: self._request(SetGridPolicy(on, ceiling_kw))
        )

    def show_grid(self, grid: GridChanged | None) -> None:
        self.panel.show_grid(grid)

    def confirm_apply(self, feed_id: str) -> None:
        """Ask the operator to confirm the feed's caps as proposed now; send them if so."""
        grid = self.panel.grid
        feed = None if grid is None else next((f for f in grid.feeds if f.feed_id == feed_id), None)
        if feed is None:
            return
        box = self.confirm = QMessageBox(QMessageBox.Icon.Question, "Apply grid caps",
            f"Cap {len(feed.caps)} racks on {feed_id} to meet the grid's target of "
            f"{kw(feed.target_w)} (load now {kw(feed.load_w)})?\n\nTokens given up: "
            f"{cost_words(feed.tokens_lost_per_s, feed.shortfall_w)}; uniform caps would give "
            f"up {cost_words(feed.uniform_tokens_lost_per_s)}.\nThe limits before are put back "
            "when the target is lifted or ends. Power limits do not survive a host's reboot.",
            QMessageBox.StandardButton.Cancel, self._parent)  # fmt: skip
        apply = box.addButton("Apply caps", QMessageBox.ButtonRole.AcceptRole)
        box.buttonClicked.connect(
            lambda button: self._request(ApplyGridProposal(feed_id)) if button is apply else None
        )
        box.open()

    def _request(self, request: Request) -> None:
        def answered(reply: Reply) -> None:
            if isinstance(reply, Refused):
                self.panel.show_problem(reply.reason)

        self._ask(request, answered)
