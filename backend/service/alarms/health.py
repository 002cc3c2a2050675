"""Which telemetry sources and nodes are offline, and whether the BMS heartbeat is lost, from
the sources' status events (``SourceEvent``): the store keeps them, the alarm rules
``source_offline`` and ``heartbeat`` read them from here.

A status's detail says what happened in the source's own words; the words that mean a source is
gone or back are listed here, the one place that reads them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from factoryfloor.backend.telemetry.sink import SourceEvent

OFFLINE_WORDS = ("offline", "down", "GPU lost", "no driver", "reconnecting")
"""Status details that say a node, endpoint, GPU or broker is gone (MQTT node status,
Prometheus endpoint, NVML, the MQTT source's broker connection)."""
ONLINE_WORDS = ("online", "up", "ok", "GPU recovered", "connected")
BMS_SUBJECT = "BMS"
HEARTBEAT_LOST = "BMS lost"
HEARTBEAT_BACK = "BMS heartbeat back"


@dataclass(frozen=True, slots=True)
class Outage:
    subject: str
    """``mqtt: node a01``: the source and what it reported on."""
    detail: str
    since_s: float


class SourceHealth:
    def __init__(self) -> None:
        self.offline: dict[str, Outage] = {}
        self.heartbeat_lost: Outage | None = None

    def observe(self, events: Iterable[SourceEvent]) -> None:
        for event in events:
            if event.kind != "status":
                continue
            detail = event.detail
            if event.subject == BMS_SUBJECT and event.source == "mqtt":
                if detail.startswith(HEARTBEAT_LOST):
                    self.heartbeat_lost = Outage(f"{event.source}: BMS", detail, event.time_s)
                elif detail.startswith(HEARTBEAT_BACK):
                    self.heartbeat_lost = None
                continue
            subject = f"{event.source}: {event.subject}"
            if detail.startswith(OFFLINE_WORDS):
                self.offline.setdefault(subject, Outage(subject, detail, event.time_s))
            elif detail.startswith(ONLINE_WORDS):
                self.offline.pop(subject, None)
