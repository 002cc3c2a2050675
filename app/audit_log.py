"""View > Audit Log: the service's audit log searched, exported as CSV, and verified.

A search is a ``QueryAudit``, an export an ``ExportAudit``, a check of the hash chain a
``VerifyAudit``, sent to the service the window reads from (``service_dialog``); the service
answers operators and engineers only, and says so to anyone else.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.app.service_dialog import Link, ServiceDialog, refusal, show_dialog
from factoryfloor.backend.service.audit_query import AuditQuery
from factoryfloor.backend.service.messages import (
    AuditExported,
    AuditSent,
    AuditVerified,
    ExportAudit,
    QueryAudit,
    VerifyAudit,
)
from factoryfloor.backend.telemetry.protocol import Reply
from factoryfloor.widgets.audit_log import AuditLogView

NO_SERVICE = ("The audit log is kept by a service: connect to one with File > Connect to "
              "Service.")  # fmt: skip


class AuditLogDialog(ServiceDialog):
    no_service = NO_SERVICE

    def __init__(self, link: Link, tasks: BackgroundTasks, parent: QWidget | None = None) -> None:
        self.view = AuditLogView()
        super().__init__("Audit Log", self.view, link, tasks, parent)
        self.view.search_asked.connect(self.search)
        self.view.export_asked.connect(self._choose_file)
        self.view.verify_asked.connect(self.verify)

    def search(self, query: AuditQuery | None = None) -> None:
        """List the entries ``query`` (the filters' own if None) matches."""
        query = self.view.query() if query is None else query
        if self.ask(QueryAudit(query), self._take_entries):
            self.view.say("Searching…")

    def _take_entries(self, reply: Reply, _parts: list[bytes]) -> None:
        if not isinstance(reply, AuditSent):
            self.view.say(refusal(reply, "audit entries"), problem=True)
            return
        self.view.say("")
        self.view.show_entries(reply)

    def verify(self) -> None:
        """Ask the service to walk the whole log's hash chain."""
        if self.ask(VerifyAudit(), self._take_check):
            self.view.say("Verifying the audit log…")

    def _take_check(self, reply: Reply, _parts: list[bytes]) -> None:
        if not isinstance(reply, AuditVerified):
            self.view.say(refusal(reply, "check of the audit log"), problem=True)
            return
        self.view.say("")
        self.view.show_check(reply.check)

    def _choose_file(self, query: AuditQuery) -> None:
        target = self.choose_file("Export the audit log to", "audit-log.csv")
        if target is not None:
            self.export(query, target)

    def export(self, query: AuditQuery, target: Path) -> None:
        """Every entry ``query`` matches, oldest first, as the service writes them, into
        ``target``."""
        self.export_csv(ExportAudit(query), AuditExported, target, "the audit log", "audit entry")


def show_audit_log(window: QWidget, link: Link, tasks: BackgroundTasks) -> ServiceDialog:
    """The window's audit log dialog (one per window, kept open beside it), searched afresh."""
    return show_dialog(window, AuditLogDialog, lambda: AuditLogDialog(link, tasks, window))
