"""Tokens-per-joule tuning from the window: "Tune tokens per joule…" on a rack or a loop in
Run opens the tuning dialog for that group of racks, whose requests go to the service and which
follows the sweep the service tells every window about."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu, QWidget

from factoryfloor.app.control_commands import Ask
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.tuning.messages import (
    ApplyTuning,
    CancelTuning,
    GetTuning,
    StartTuning,
    TuningProgress,
)
from factoryfloor.backend.telemetry.protocol import Refused, Reply, Request

if TYPE_CHECKING:  # a pyqtgraph view: imported when first opened, not at start
    from factoryfloor.widgets.tuning_dialog import TuningDialog


class TuningCommands(QObject):
    def __init__(self, ask: Ask, parent: QWidget) -> None:
        super().__init__(parent)
        self._ask, self._parent = ask, parent
        self.design: Design | None = None
        self.dialog: TuningDialog | None = None
        self.progress: TuningProgress | None = None
        """The sweep as the service last told it."""

    def add_action(self, menu: QMenu, entity_id: str) -> None:
        """Offer tuning on a rack, or on every rack of a loop; nothing for anything else."""
        design = self.design
        if design is None:
            return
        racks = tuple(r.id for r in design.racks if entity_id in (r.id, r.loop_id))
        if racks:
            menu.addAction("Tune tokens per joule…").triggered.connect(
                lambda _=False: self.open(entity_id, racks)
            )

    def open(self, group: str, racks: tuple[str, ...]) -> TuningDialog:
        from factoryfloor.widgets.tuning_dialog import TuningDialog

        if self.dialog is not None:
            self.dialog.close()
        dialog = self.dialog = TuningDialog(group, self._parent)
        dialog.start_wanted.connect(lambda floor, retune: self._request(
            StartTuning(racks, floor_fraction=floor, retune_on_drift=retune)))  # fmt: skip
        dialog.apply_wanted.connect(lambda: self._request(ApplyTuning()))
        dialog.cancel_wanted.connect(lambda: self._request(CancelTuning()))
        dialog.show()
        if self.progress is not None and self.progress.group == ", ".join(racks):
            dialog.show_progress(self.progress)
        self._request(GetTuning())
        return dialog

    def show_tuning(self, progress: TuningProgress | None) -> None:
        self.progress = progress
        if self.dialog is not None and progress is not None:
            self.dialog.show_progress(progress)

    def _request(self, request: Request) -> None:
        def answered(reply: Reply) -> None:
            if isinstance(reply, Refused) and self.dialog is not None:
                self.dialog.show_problem(reply.reason)

        self._ask(request, answered)
