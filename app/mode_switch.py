"""Design and Run: switching the window between editing the design and watching it run, and
putting the Run view on a control-room wall.

In Run the plan is read-only and coloured by live telemetry, editing is off, and the room of
the design docks (properties, problems) goes to the live views. Leaving Run stops the telemetry
backend off the Qt thread; backends still stopping when the window closes are stopped there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDockWidget

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.app.document_window import DocumentWindow
from factoryfloor.app.run_view import RunView
from factoryfloor.app.tool_bars import ModeToolBar
from factoryfloor.backend.service.client import ServiceClient
from factoryfloor.backend.service.embedded import BackendClient
from factoryfloor.widgets.broker_link import BrokerLinkLabel
from factoryfloor.widgets.plan_editor import PlanEditorView
from factoryfloor.widgets.plan_tools import SELECT

if TYPE_CHECKING:
    from factoryfloor.app.control_room import ControlRoomWindow, WallLayout


class ModeSwitch(QObject):
    """Enters and leaves Run from the mode bar, F5, the wall or a script."""

    editing_enabled = Signal(bool)
    """Editing is on (Design) or off (Run): the window enables or disables its editing controls."""

    def __init__(self, window: DocumentWindow, run_view: RunView, plan_view: PlanEditorView,
                 mode_bar: ModeToolBar, design_docks: Sequence[QDockWidget],
                 tasks: BackgroundTasks):  # fmt: skip
        super().__init__(window)
        self.window = window
        self.run_view = run_view
        self.plan_view = plan_view
        self.mode_bar = mode_bar
        self.design_docks = list(design_docks)
        """Docks that are about editing: hidden in Run, shown again in Design."""
        self.tasks = tasks
        self.control_room: ControlRoomWindow | None = None
        self._design_docks_shown: list[QDockWidget] = []
        self._stopping: list[BackendClient] = []
        self.attached_service: ServiceClient | None = None
        """The running service the window is attached to: Run reads from it instead of
        starting a service of the window's own."""
        """Backends being stopped in the background (leaving Run mode)."""
        mode_bar.design_action.triggered.connect(self.enter_design)
        mode_bar.run_action.triggered.connect(self.enter_run)
        run_view.run_mode.event.connect(
            lambda e: window.statusBar().showMessage(f"{e.source}: {e.subject}: {e.detail}", 8000)
        )
        self.broker_link = BrokerLinkLabel()
        """Whether the broker link is encrypted, for as long as it holds."""
        window.statusBar().addPermanentWidget(self.broker_link)
        run_view.run_mode.event.connect(self.broker_link.show_event)
        run_view.run_mode.backend_lost.connect(  # over the last (now untrue) source status
            lambda lost: window.statusBar().showMessage(lost.message())
        )
        run_view.run_mode.backend_lost.connect(lambda _: self.broker_link.clear_link())
        run_view.run_mode.backend_back.connect(
            lambda: window.statusBar().showMessage(
                "Telemetry backend restarted: readings are live again", 10_000
            )
        )

    def enter_run(self) -> None:
        """Colour the plan by live telemetry; editing is off until back in Design."""
        document = self.window.document
        if document is None or self.run_view.running:
            return
        self.mode_bar.run_action.setChecked(True)
        self.plan_view.set_tool(SELECT)
        self.plan_view.read_only = True
        self.editing_enabled.emit(False)
        self.mode_bar.show_quantity(True)
        # Properties and problems are about editing: their room goes to the live views.
        self._design_docks_shown = [d for d in self.design_docks if d.isVisible()]
        for dock in self._design_docks_shown:
            dock.hide()
        self.run_view.start(document.design, document.figures, document.path,
                            document.is_modified, self.attached_service)  # fmt: skip
        if self.attached_service is None:
            self.window.statusBar().showMessage("Run: starting the telemetry backend…", 5000)

    def enter_design(self) -> None:
        """Back to editing: the wall closes and the backend stops in the background."""
        if self.control_room is not None:
            self.control_room.close()
        client = self.run_view.stop()
        self.broker_link.clear_link()
        if client is not None:
            self._stopping.append(client)
            self.tasks.submit(client.stop, lambda _: self._stopping.remove(client),
                              lambda _: None)  # fmt: skip
        self.plan_view.read_only = False
        self.editing_enabled.emit(True)
        self.mode_bar.show_quantity(False)
        for dock in self._design_docks_shown:
            dock.show()
        self._design_docks_shown = []
        self.mode_bar.design_action.setChecked(True)

    def shut_down(self) -> None:
        """At exit: leave Run and stop every backend now; none may outlive the window."""
        self.enter_design()
        for client in self._stopping:
            client.stop()

    # Control room ------------------------------------------------------------------------------

    def choose_control_room(self) -> None:
        """Ask which monitor, panels and arrangement, then put the Run view on the wall."""
        from factoryfloor.app.control_room import ControlRoomDialog, WallLayout

        dialog = ControlRoomDialog(WallLayout.load(), self.window)
        dialog.accepted.connect(lambda: self.show_control_room(dialog.chosen()))
        dialog.open()

    def show_control_room(self, layout: WallLayout | None = None) -> None:
        """Full screen on the wall with ``layout`` (default: the one remembered); starts Run
        mode if needed. The layout is remembered for the next time."""
        from factoryfloor.app.control_room import ControlRoomWindow, WallLayout

        window = self.window
        if window.document is None:
            return
        layout = layout or WallLayout.load()
        layout.save()
        self.enter_run()
        self.mode_bar.run_action.setChecked(True)
        if self.control_room is not None:
            self.control_room.close()
        self.control_room = ControlRoomWindow(self.run_view, layout)
        self.control_room.closed.connect(self._control_room_closed)
        self.control_room.show_on_screen(window.screen())
        self._cover_desk()
        if window.windowHandle() is not None:  # moved to the wall's screen, or away from it
            window.windowHandle().screenChanged.connect(self._cover_desk)

    def _cover_desk(self) -> None:
        """Whether the wall covers this window: full screen on the same screen."""
        wall = self.control_room
        covered = wall is not None and wall.screen().name() == self.window.screen().name()
        self.run_view.set_desk_covered(covered)

    def _control_room_closed(self) -> None:
        self.control_room = None
        if self.window.windowHandle() is not None:
            self.window.windowHandle().screenChanged.disconnect(self._cover_desk)
        self.run_view.set_desk_covered(False)
