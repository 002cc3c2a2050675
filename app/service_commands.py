"""File > Connect to Service, Apply Design to Service and Disconnect: the window attached to a
running service, and what it shows while it is.

Attached, the window's document is the service's design (no file of its own: Save asks for a
name), its title names the service and the design version, and Run mode reads the service's
frames instead of starting a service of the window's own. An engineer edits in Design mode and
applies the edited design; the service refuses other roles, and every attached window follows
the version applied. Disconnecting keeps the design on screen as an unsaved copy.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from factoryfloor.app.document import DesignDocument
from factoryfloor.app.document_window import DocumentWindow
from factoryfloor.app.mode_switch import ModeSwitch
from factoryfloor.app.service_connection import ServiceConnection
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.client import Credentials, ServiceAddress, ServiceClient
from factoryfloor.backend.service.embedded import BackendClient
from factoryfloor.backend.service.keys import fingerprint
from factoryfloor.backend.service.messages import Welcome
from factoryfloor.backend.service.roles import Role, permits

ATTACH_TIMEOUT_S = 10.0
"""How long a window waits for a service's welcome before saying there is none."""


class ServiceCommands(QObject):
    attached_changed = Signal()
    """Attached, detached, or the role or design version changed: titles and actions follow."""
    document_ready = Signal(object)
    """A DesignDocument of the service's design, to show in place of the open one."""

    def __init__(self, window: DocumentWindow, modes: ModeSwitch) -> None:
        super().__init__(window)
        self.window = window
        self.modes = modes
        self.connection: ServiceConnection | None = None
        self._run_when_shown = False
        self._shown_version = 0
        self.attach_timeout_s = ATTACH_TIMEOUT_S
        self._no_answer = QTimer(self)
        self._no_answer.setSingleShot(True)
        self._no_answer.timeout.connect(self._not_answered)

    @property
    def attached(self) -> bool:
        return self.connection is not None

    def link(self) -> ServiceClient | None:
        """The service this window reads from: the one it is attached to, or, while Run is on,
        its own; None if neither."""
        if self.connection is not None:
            return self.connection.client
        client = self.modes.run_view.run_mode.client
        return client.link if isinstance(client, BackendClient) else None

    def describe(self) -> str:
        """``service 10.0.0.5:7440, design version 3, signed in as ana (operator)``."""
        connection = self.connection
        if connection is None:
            return ""
        welcome = connection.client.welcome
        who = (f"signed in as {welcome.user or 'viewer'} ({welcome.role})" if welcome
               else "signing in")  # fmt: skip
        return f"service {connection.address}, design version {connection.design_version}, {who}"

    def connect_to(self, address: ServiceAddress, credentials: Credentials,
                   run: bool = True) -> None:  # fmt: skip
        """Attach to the service at ``address``; its design replaces the open one once it has
        arrived, and Run mode starts on it (``run``)."""
        self.disconnect()
        connection = ServiceConnection(address, credentials, self)
        self.connection = connection
        self.modes.attached_service = connection.client
        self._run_when_shown, self._shown_version = run, 0
        connection.welcomed.connect(self._welcomed)
        connection.refused.connect(self._refused)
        connection.design_received.connect(self._show_design)
        connection.design_applied.connect(
            lambda version, user: self.window.statusBar().showMessage(
                f"Design version {version} applied to the service by {user}", 10_000))  # fmt: skip
        connection.event.connect(self.modes.run_view.run_mode.event)
        self.window.statusBar().showMessage(f"Attaching to the service at {address}…")
        self._no_answer.start(round(self.attach_timeout_s * 1000))
        self.attached_changed.emit()

    def disconnect(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        if self.modes.run_view.running:
            self.modes.enter_design()
        self.modes.attached_service = None
        connection.close()
        connection.deleteLater()
        self.attached_changed.emit()

    def apply_design(self) -> None:
        """Send the open design to the service, after asking; refused with the reason."""
        connection, document = self.connection, self.window.document
        if connection is None or document is None:
            return
        if not permits(connection.role, Role.ENGINEER):
            QMessageBox.warning(self.window, "Apply design",
                                f"Applying a design needs the engineer role; this window is "
                                f"signed in as {connection.role.value}.")  # fmt: skip
            return
        answer = QMessageBox.question(
            self.window, "Apply design",
            f"Run this design on the service at {connection.address}, in place of version "
            f"{connection.design_version}? Every attached window will follow it.")  # fmt: skip
        if answer != QMessageBox.StandardButton.Yes:
            return
        connection.apply_design(document.design, self._applied)

    def _applied(self, refusal: str) -> None:
        if refusal:
            QMessageBox.warning(
                self.window, "Apply design", f"The service did not apply the design: {refusal}"
            )
            return
        if self.window.document is not None:
            self.window.document.undo_stack.setClean()  # the service holds these edits now
        self.window.statusBar().showMessage("Design applied to the service", 8000)

    def _not_answered(self) -> None:
        """No welcome in time: nothing listens there, or the key given is not the service's
        (CURVE then fails without a word). Say both, with the key's fingerprint."""
        connection = self.connection
        if connection is None or connection.client.welcome is not None:
            return
        address = connection.address
        QMessageBox.warning(self.window, "Connect to service",
                            f"No answer from the service at {address} in "
                            f"{self.attach_timeout_s:g} s: it is not running there, or its key "
                            f"is not the one this window has ({fingerprint(address.public_key)}; "
                            "'factoryfloor serve --show-key' on its machine prints the "
                            "right one).")  # fmt: skip
        self.disconnect()

    def _welcomed(self, welcome: Welcome) -> None:
        self.window.statusBar().showMessage(f"Attached: {self.describe()}", 8000)
        self.attached_changed.emit()

    def _refused(self, reason: str) -> None:
        self.window.statusBar().showMessage(f"The service refused this window: {reason}")
        if self.connection is not None and self.connection.client.welcome is None:
            QMessageBox.warning(self.window, "Connect to service",
                                f"The service at {self.connection.address} refused this "
                                f"window: {reason}")  # fmt: skip
            self.disconnect()

    def _show_design(self, design: Design, version: int) -> None:
        """The service's design on screen, unless it would throw away edits in progress: then
        the operator is told that the service moved on."""
        document = self.window.document
        if self._shown_version and document is not None and document.is_modified:
            self.window.statusBar().showMessage(
                f"The service now runs design version {version}; your edits are based on "
                f"version {self._shown_version}. Apply them to replace it, or undo them."
            )
            return
        running = self.modes.run_view.running or self._run_when_shown
        self._run_when_shown = False
        self._shown_version = version
        self.document_ready.emit(DesignDocument(design, None, self.window))
        self.attached_changed.emit()
        if running:
            self.modes.enter_run()


def choose_service(window: DocumentWindow, services: ServiceCommands) -> None:
    """File > Connect to Service: ask where and who, then attach."""
    from factoryfloor.app.connect_dialog import ConnectDialog

    dialog = ConnectDialog(window)
    dialog.accepted.connect(lambda: services.connect_to(*dialog.chosen))
    dialog.open()
