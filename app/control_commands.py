"""Control from the window: the actions offered on plan equipment and alarms, the confirmation
dialog they open, and the Commands dock that follows every command the service runs.

Each action builds a typed command on the design's own names (a rack's GPUs by host and index,
``control.scope``), previews it through the service, and sends it only once the operator has
seen the scope, old and new values and the role it needs, and pressed Send. The window never
decides the outcome: the dock shows what the service tells every window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMenu, QWidget

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.control.commands import (
    Command,
    IsolateRack,
    LockClocks,
    ResetClocks,
    SetCduSupplyTemp,
    SetPowerLimit,
)
from factoryfloor.backend.service.control.scope import entity_gpus
from factoryfloor.backend.service.messages import (
    CommandPreviewed,
    CommandSent,
    PreviewCommand,
    SendCommand,
)
from factoryfloor.backend.telemetry.placement import HostGpu
from factoryfloor.backend.telemetry.protocol import Refused, Reply, Request
from factoryfloor.widgets.command_dialog import CommandDialog, ValueField
from factoryfloor.widgets.command_panel import CommandPanel

DEFAULT_CLOCK_MHZ = 1_500.0
"""The first value offered for a clock lock: a common decode sweet spot on H100/H200-class
GPUs; the service refuses a value outside what each GPU supports."""

Ask = Callable[[Request, Callable[[Reply], None]], None]


class ControlCommands(QObject):
    def __init__(self, ask: Ask, parent: QWidget) -> None:
        super().__init__(parent)
        self._ask = ask
        self._parent = parent
        self.panel = CommandPanel()
        self.design: Design | None = None
        self.dialog: CommandDialog | None = None
        """The confirmation dialog open now (one at a time)."""
        self.sent = lambda: None
        """Called once a command is sent (the window shows the Commands dock)."""

    def show_commands(self, commands: dict | None) -> None:
        self.panel.show_commands(() if commands is None else commands.values())

    # --- What is offered -------------------------------------------------------------------

    def add_actions(self, menu: QMenu, entity_id: str) -> None:
        """The control actions for ``entity_id`` (rack, loop, CDU, feed), each opening the
        confirmation dialog; none for anything else."""
        design = self.design
        if design is None:
            return
        gpus = entity_gpus(design, entity_id)
        cdu = next((c for c in design.cdus if c.id == entity_id), None)
        rack = next((r for r in design.racks if r.id == entity_id), None)
        if not gpus and cdu is None:
            return
        menu.addSection(f"Control {entity_id}")
        if cdu is not None:
            field = ValueField("Supply temperature", "°C", 10.0, 60.0, cdu.supply_temp_c, 1)
            self._offer(menu, "Set supply temperature…", lambda: self.open(
                f"{cdu.id} supply temperature", cdu.id,
                lambda v: SetCduSupplyTemp(cdu_id=cdu.id, temp_c=v or 0.0), field))  # fmt: skip
        if gpus:
            self._offer_gpu_actions(menu, design, entity_id, gpus)
        if rack is not None:
            for circuit in ("liquid", "electrical"):
                self._offer(menu, f"Isolate ({circuit})…",
                            lambda c=circuit: self.isolate(rack.id, c, True))  # fmt: skip
                self._offer(menu, f"Release {circuit} isolation…",
                            lambda c=circuit: self.isolate(rack.id, c, False))  # fmt: skip

    def _offer_gpu_actions(self, menu: QMenu, design: Design, entity_id: str,
                           gpus: tuple[HostGpu, ...]) -> None:  # fmt: skip
        scope = f"{entity_id}: {len(gpus):,} GPUs"
        model = next((r.gpu_model for r in design.racks if r.id == entity_id),
                     design.racks[0].gpu_model)  # fmt: skip
        limit = ValueField("Power limit", "W", 50.0, 2_000.0, _gpu_power_w(design, model))
        clock = ValueField("SM clock", "MHz", 100.0, 4_000.0, DEFAULT_CLOCK_MHZ)
        self._offer(menu, "Set GPU power limit…", lambda: self.open(
            "GPU power limit", scope, lambda v: SetPowerLimit(gpus=gpus, limit_w=v or 0.0),
            limit))  # fmt: skip

        def locked(mhz: float | None) -> LockClocks:
            return LockClocks(gpus=gpus, min_mhz=mhz or 0.0, max_mhz=mhz or 0.0)

        self._offer(menu, "Lock SM clock…", lambda: self.open("Lock SM clock", scope, locked,
                                                              clock))  # fmt: skip
        self._offer(menu, "Unlock SM clock…", lambda: self.open(
            "Unlock SM clock", scope, lambda _v: ResetClocks(gpus=gpus)))  # fmt: skip

    def isolate(self, rack_id: str, circuit: str = "liquid", isolated: bool = True) -> None:
        """Isolate a rack, or release it (a leak's response, offered from its alarm in one
        step)."""
        title = (f"Isolate {rack_id} ({circuit})" if isolated
                 else f"Release {rack_id}'s {circuit} isolation")  # fmt: skip
        command = IsolateRack(rack_id=rack_id, circuit=circuit, isolated=isolated)
        self.open(title, rack_id, lambda _v: command)

    def _offer(self, menu: QMenu, label: str, slot: Callable[[], None]) -> None:
        menu.addAction(label).triggered.connect(lambda _=False: slot())

    # --- Confirming and sending ------------------------------------------------------------

    def open(self, title: str, scope: str, build: Callable[[float | None], Command],
             field: ValueField | None = None) -> CommandDialog:  # fmt: skip
        """The confirmation dialog for a command, previewed by the service at once."""
        if self.dialog is not None:
            self.dialog.close()
        dialog = self.dialog = CommandDialog(title, scope, build, field, self._parent)
        dialog.preview_wanted.connect(lambda command: self._preview(dialog, command))
        dialog.send_wanted.connect(lambda command: self._send(dialog, command))
        dialog.finished.connect(lambda _result: self._closed(dialog))
        dialog.show()
        dialog.ask_preview()
        return dialog

    def _closed(self, dialog: CommandDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def _preview(self, dialog: CommandDialog, command: Command) -> None:
        def answered(reply: Reply) -> None:
            if dialog.command != command:
                return  # the value moved on meanwhile: a newer preview is coming
            if isinstance(reply, CommandPreviewed):
                dialog.show_preview(reply)
            elif isinstance(reply, Refused):
                dialog.show_problem(reply.reason)

        self._ask(PreviewCommand(command), answered)

    def _send(self, dialog: CommandDialog, command: Command) -> None:
        def answered(reply: Reply) -> None:
            if isinstance(reply, CommandSent):
                dialog.accept()
                self.sent()
            elif isinstance(reply, Refused):
                dialog.show_problem(reply.reason)

        self._ask(SendCommand(command), answered)


def _gpu_power_w(design: Design, model_id: str) -> float:
    """The first limit offered: the GPU model's rated power, from the design's own catalog
    entries (no file read on a right-click)."""
    model = next((m for m in design.gpu_models if m.id == model_id), None)
    return 700.0 if model is None else float(model.gpu_power_w)
