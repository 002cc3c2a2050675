"""A window's questions to the audit log, answered by the service: entries matching a search,
all of them as CSV, or whether the hash chain is intact.

Each answer reads the log afresh on a worker thread, so reading a long log holds up neither the
frames on the event loop nor the next entry being written (appends are whole lines, so a reader
never sees half of one). The window never opens the log file: it may be on another machine, and
it may belong to someone not allowed to read it (``roles.READ_AUDIT``).
"""

from __future__ import annotations

import io
from dataclasses import replace

from factoryfloor.backend.service.audit import AuditError, AuditLog
from factoryfloor.backend.service.audit_chain import verify
from factoryfloor.backend.service.audit_query import search, write_csv
from factoryfloor.backend.service.messages import (
    AUDIT_ENTRIES_SENT,
    AuditExported,
    AuditSent,
    AuditVerified,
    ExportAudit,
    QueryAudit,
    VerifyAudit,
)
from factoryfloor.backend.service.roles import READ_AUDIT, Role, permits
from factoryfloor.backend.telemetry.protocol import Refused, Reply

AuditRequest = QueryAudit | ExportAudit | VerifyAudit

MAX_EXPORT_ENTRIES = 1_000_000
"""The most entries one CSV export sends a window (about 250 MB); ``factoryfloor audit --csv``
on the service's machine writes any number."""


def audit_reply(
    log: AuditLog | None, request: AuditRequest, role: Role
) -> tuple[Reply, list[bytes]]:
    """The reply to ``request`` from ``log`` (None: a service that keeps none), and the parts
    after it (the CSV file); a ``Refused`` saying why for a role below ``READ_AUDIT``, or naming
    the file if it cannot be read or the export is too large."""
    if not permits(role, READ_AUDIT):
        return Refused(request.msg_id, f"reading the audit log needs the {READ_AUDIT.value} role; "
                                       f"this window is signed in as {role.value}"), []  # fmt: skip
    if log is None:
        reason = ("this window's own service keeps no audit log: read it from a service started "
                  "with 'factoryfloor serve'")  # fmt: skip
        return Refused(request.msg_id, reason), []
    try:
        match request:
            case QueryAudit():
                wanted = AUDIT_ENTRIES_SENT  # a window's limit narrows it, never widens it
                if request.query.limit is not None:
                    wanted = max(0, min(request.query.limit, wanted))
                entries, more = search(log.entries(), replace(request.query, limit=wanted))
                return AuditSent(request.msg_id, tuple(entries), more), []
            case ExportAudit():
                return _csv(log, request)
            case VerifyAudit():
                return AuditVerified(request.msg_id, verify(log.path)), []
    except AuditError as error:  # names the file and the line
        return Refused(request.msg_id, f"the audit log cannot be read: {error}"), []
    except OSError as error:
        return Refused(request.msg_id, f"the audit log {log.path} cannot be read: {error}"), []
    raise TypeError(f"not an audit request: {request.msg_type}")


def _csv(log: AuditLog, request: ExportAudit) -> tuple[Reply, list[bytes]]:
    entries, _ = search(log.entries(), replace(request.query, limit=None, newest_first=False))
    if len(entries) > MAX_EXPORT_ENTRIES:
        return Refused(request.msg_id, f"{len(entries):,} audit entries match, more than a "
                                       f"window takes ({MAX_EXPORT_ENTRIES:,}): narrow the time "
                                       "range, or run 'factoryfloor audit --csv' on the "
                                       "service's machine"), []  # fmt: skip
    out = io.StringIO(newline="")
    rows = write_csv(entries, out)
    return AuditExported(request.msg_id, rows), [out.getvalue().encode("utf-8")]
