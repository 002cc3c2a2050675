"""Whether the link to the telemetry broker is encrypted, shown for as long as it holds.

A status-bar message lasts seconds and the next event covers it; an unencrypted link to a
facility's broker is a standing condition the operator should see whenever they look, so it
gets a permanent place in the status bar: amber text while readings travel in plaintext,
plain text for TLS, nothing while no broker is connected.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from factoryfloor.backend.telemetry.sink import SourceEvent
from factoryfloor.backend.telemetry.sources.mqtt_source import (
    CONNECTED_PLAINTEXT,
    CONNECTED_TLS,
    SOURCE,
)
from factoryfloor.widgets.status_colours import NEAR


class BrokerLinkLabel(QLabel):
    """Follows the MQTT source's status events: which broker is connected, and how."""

    def __init__(self) -> None:
        super().__init__()
        self._broker: str | None = None
        self.hide()

    def show_event(self, event: SourceEvent) -> None:
        if event.source != SOURCE or event.kind != "status":
            return
        if event.detail == CONNECTED_PLAINTEXT:
            self._show(
                event.subject, f"MQTT {event.subject}: plaintext, not encrypted", NEAR.name()
            )
        elif event.detail == CONNECTED_TLS:
            self._show(event.subject, f"MQTT {event.subject}: TLS", "")
        elif event.subject == self._broker:  # connecting, reconnecting: no link now
            self.clear_link()

    def clear_link(self) -> None:
        """No broker connected (leaving Run, or the backend stopped)."""
        self._broker = None
        self.clear()
        self.hide()

    def _show(self, broker: str, text: str, colour: str) -> None:
        self._broker = broker
        self.setText(text)
        self.setStyleSheet(f"color: {colour}; font-weight: bold;" if colour else "")
        self.setToolTip(
            "Telemetry from the broker crosses the network unencrypted"
            if colour
            else "The link to the telemetry broker is encrypted (TLS)"
        )
        self.show()
