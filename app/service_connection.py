"""The window attached to a running service (File > Connect, ``--connect``): the link, polled on
the GUI thread without blocking, and what comes over it as signals.

The service's design is the window's document: it arrives on attaching (``design_received``)
and again whenever an engineer applies a new version from any window (``design_applied``), so
every attached window shows the design the service runs. The link is polled here for as long as
the window is attached, in Design mode too, so replies and notices are never left waiting.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from factoryfloor.backend.design.design_file import (
    DesignFileError,
    design_to_json,
    parse_design,
)
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.service.client import Credentials, ServiceAddress, ServiceClient
from factoryfloor.backend.service.messages import ApplyDesign, DesignSent, GetDesign, Welcome
from factoryfloor.backend.service.roles import Role
from factoryfloor.backend.telemetry.protocol import Refused, Reply

POLL_INTERVAL_MS = 100


class ServiceConnection(QObject):
    event = Signal(object)
    """A SourceEvent from the service."""
    welcomed = Signal(object)
    """The Welcome: signed in (or attached as a viewer), with the role."""
    refused = Signal(str)
    """The service refused this window: why (sign-in, protocol version)."""
    design_received = Signal(object, int)
    """The service's design and its version: on attaching, and after each one applied."""
    design_applied = Signal(int, str)
    """Version and user of a design an engineer just applied (from any window)."""

    def __init__(self, address: ServiceAddress, credentials: Credentials,
                 parent: QObject | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.client = ServiceClient(address, credentials)
        self.design_version = 0
        self._told_refusal = ""
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_INTERVAL_MS)
        self._timer.timeout.connect(self.poll)
        self._timer.start()
        self._welcome_seen: Welcome | None = None

    @property
    def address(self) -> ServiceAddress:
        return self.client.address

    @property
    def role(self) -> Role:
        welcome = self.client.welcome
        return Role(welcome.role) if welcome is not None else Role.VIEWER

    def poll(self) -> None:
        for event in self.client.poll():
            self.event.emit(event)
        if self.client.refused and self.client.refused != self._told_refusal:
            self._told_refusal = self.client.refused
            self.refused.emit(self.client.refused)
        welcome = self.client.welcome
        if welcome is not None and welcome is not self._welcome_seen:
            self._welcome_seen = welcome
            self.welcomed.emit(welcome)
            if welcome.design_version != self.design_version:
                self.fetch_design()
        for applied in self.client.design_applied:
            self.design_applied.emit(applied.version, applied.user)
            self.fetch_design()
        self.client.design_applied.clear()

    def fetch_design(self) -> None:
        self.client.send(GetDesign(), self._take_design)

    def _take_design(self, reply: Reply, _parts: list[bytes]) -> None:
        if not isinstance(reply, DesignSent):
            self.refused.emit(getattr(reply, "reason", "the service sent no design"))
            return
        try:
            design = parse_design(reply.design_json.encode("utf-8"), f"{self.address}'s design")
        except DesignFileError as error:
            self.refused.emit(str(error))
            return
        self.design_version = reply.version
        self.design_received.emit(design, reply.version)

    def apply_design(self, design: Design, done: Callable[[str], None]) -> None:
        """Ask the service to run ``design`` (edited from the version shown); ``done`` is
        called with "" once it runs it, or with the service's reason for refusing."""

        def answered(reply: Reply, _parts: list[bytes]) -> None:
            done(reply.reason if isinstance(reply, Refused) else "")

        self.client.send(ApplyDesign(design_to_json(design), self.design_version), answered)

    def close(self) -> None:
        self._timer.stop()
        self.client.close()
