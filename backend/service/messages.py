"""The messages between a service and its windows, in the envelope of ``telemetry.protocol``.

Commands go from a window's DEALER socket to the service's ROUTER and are answered one reply
each; notifications come the same way, unasked. Frames are published on the PUB socket to every
window. Every
message but the frame is a JSON envelope of the protocol, so a window of another version is
told so by name (both versions) before anything else is read. A frame is the one message that
is not JSON: a small JSON header, then the arrays as raw bytes, so a window takes numpy views
of them without parsing 98,304 numbers (``frames``).

A window that has not signed in is a viewer: it receives every frame (watching needs no
account, as on a wall display) and may ask for keys, the design, history, the alarms, the alarm
journal and its report (``roles`` says why); what changes anything (applying a design,
acknowledging or shelving an alarm) checks the role the sign-in gave, as does reading the audit
log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from factoryfloor.backend.service.alarms.journal import JournalQuery
from factoryfloor.backend.service.audit import AuditEntry
from factoryfloor.backend.service.audit_chain import ChainCheck
from factoryfloor.backend.service.audit_query import AuditQuery
from factoryfloor.backend.service.control.commands import Command, CommandProgress, TargetResult
from factoryfloor.backend.telemetry.gpu_rows import GpuRowsQuery
from factoryfloor.backend.telemetry.protocol import Notification, Reply, Request, register
from factoryfloor.backend.telemetry.sink import SourceEvent

TOPIC_FRAME = b"frame"
"""The first part of every frame on the PUB socket."""


# --- Requests -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello(Request):
    """The first command of a window: sign in with a user name and password, or as the local
    user who started an embedded service (``local_token``), or neither (a viewer)."""

    msg_type: ClassVar[str] = "hello"
    client: str
    """What the window calls itself in the service's log: host and process."""
    user: str = ""
    password: str = ""
    local_token: str = ""


@dataclass(frozen=True, slots=True)
class GetKeys(Request):
    """The series keys from ``start`` on: a window that attached after they were published."""

    msg_type: ClassVar[str] = "get_keys"
    start: int


@dataclass(frozen=True, slots=True)
class GetStatuses(Request):
    """The latest status of each source (connected, reconnecting, ...): asked once frames
    arrive, so a window that attached late knows what it missed before it subscribed."""

    msg_type: ClassVar[str] = "get_statuses"


@dataclass(frozen=True, slots=True)
class GetDesign(Request):
    """The design the service runs, and its version."""

    msg_type: ClassVar[str] = "get_design"


@dataclass(frozen=True, slots=True)
class ApplyDesign(Request):
    """Run this design from now on (engineers only). ``base_version`` is the version the
    window edited: a design applied by someone else since is not silently overwritten."""

    msg_type: ClassVar[str] = "apply_design"
    design_json: str
    base_version: int


@dataclass(frozen=True, slots=True)
class GetHistory(Request):
    """Everything the service holds in its live history (``HistorySent``): a window starting
    Run shows the past at once."""

    msg_type: ClassVar[str] = "get_history"
    with_gpus: bool = True
    """Every GPU's history too; a window, which asks for the GPU rows it draws
    (``QueryGpuRows``), needs none."""


@dataclass(frozen=True, slots=True)
class QueryGpuRows(Request):
    """The GPU rows a view draws (``telemetry.gpu_rows.GpuRowsQuery``: columns of a tier up to
    a bucket, a range of GPU rows in groups, each the worst GPU of its group). Answered by
    ``GpuRowsSent``."""

    msg_type: ClassVar[str] = "query_gpu_rows"
    query: GpuRowsQuery


@dataclass(frozen=True, slots=True)
class GetMoment(Request):
    """Every series as recorded at ``time_s`` (``MomentSent``): the time control's moment."""

    msg_type: ClassVar[str] = "get_moment"
    time_s: float


@dataclass(frozen=True, slots=True)
class ExportHistory(Request):
    """Recorded history of the series ``patterns`` name (keys, shell patterns, or leading
    segments such as ``rack/A01``) from ``start_s`` to ``end_s`` at ``step_s``, as a ``csv`` or
    ``parquet`` file (``HistoryExported``)."""

    msg_type: ClassVar[str] = "export_history"
    patterns: tuple[str, ...]
    start_s: float
    end_s: float
    step_s: float
    format: str


@dataclass(frozen=True, slots=True)
class GetAlarms(Request):
    """The alarms shown now: asked on attaching; answered ``Accepted``, then an
    ``AlarmsChanged`` notice to this window alone, the same notice every later change brings."""

    msg_type: ClassVar[str] = "get_alarms"


@dataclass(frozen=True, slots=True)
class ActOnAlarm(Request):
    """Acknowledge, shelve (until ``shelve_until_s``, epoch seconds), unshelve, or take out of
    or return to service (``states.Action``'s values). The service checks the session's role and
    answers ``Accepted`` or ``Refused`` with the reason; every window is then told."""

    msg_type: ClassVar[str] = "act_on_alarm"
    alarm_id: str
    action: str
    note: str = ""
    shelve_until_s: float | None = None


@dataclass(frozen=True, slots=True)
class QueryJournal(Request):
    """The alarm journal's entries ``query`` matches (``alarms.journal.JournalQuery``: time
    range, entity, priority, the state moved to; newest first if it asks), answered
    ``JournalSent``: a window lists them, so at most ``JOURNAL_ENTRIES_SENT``."""

    msg_type: ClassVar[str] = "query_journal"
    query: JournalQuery


@dataclass(frozen=True, slots=True)
class ExportJournal(Request):
    """Every entry ``query`` matches, oldest first, as the CSV file ``factoryfloor alarms
    --csv`` writes (``JournalExported``)."""

    msg_type: ClassVar[str] = "export_journal"
    query: JournalQuery


@dataclass(frozen=True, slots=True)
class GetAlarmReport(Request):
    """The alarm performance report from ``since_s`` (None: the journal's first entry) to
    ``until_s`` (None: now), answered ``AlarmReportSent``."""

    msg_type: ClassVar[str] = "get_alarm_report"
    since_s: float | None = None
    until_s: float | None = None


@dataclass(frozen=True, slots=True)
class QueryAudit(Request):
    """The audit log's entries ``query`` matches (``audit_query.AuditQuery``: time range, user,
    action, result), answered ``AuditSent``, at most ``AUDIT_ENTRIES_SENT``. Operators and
    engineers only (``roles`` says why)."""

    msg_type: ClassVar[str] = "query_audit"
    query: AuditQuery


@dataclass(frozen=True, slots=True)
class ExportAudit(Request):
    """Every audit entry ``query`` matches, oldest first, as the CSV file ``factoryfloor audit
    --csv`` writes (``AuditExported``)."""

    msg_type: ClassVar[str] = "export_audit"
    query: AuditQuery


@dataclass(frozen=True, slots=True)
class VerifyAudit(Request):
    """Check the audit log's hash chain, as ``factoryfloor audit --verify`` does
    (``AuditVerified``)."""

    msg_type: ClassVar[str] = "verify_audit"


# --- Replies ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome(Reply):
    """Signed in (or attached as a viewer): who the service takes the window for."""

    msg_type: ClassVar[str] = "welcome"
    user: str
    role: str
    service_id: str
    """Random per service start: a window that sees it change knows the service restarted."""
    design_version: int
    frames_port: int
    """Where frames are published (the command port + 1 unless the service chose free ports)."""


@dataclass(frozen=True, slots=True)
class KeysSent(Reply):
    msg_type: ClassVar[str] = "keys_sent"
    start: int
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StatusesSent(Reply):
    msg_type: ClassVar[str] = "statuses_sent"
    statuses: tuple[SourceEvent, ...]


@dataclass(frozen=True, slots=True)
class DesignSent(Reply):
    msg_type: ClassVar[str] = "design_sent"
    version: int
    design_json: str


@dataclass(frozen=True, slots=True)
class HistorySent(Reply):
    """The service's live history. Its arrays travel as the parts after the envelope, raw: per
    tier the bucket each slot holds (int64) and the series' columns (float32, columns x
    ``series_keys``); then per quantity, per tier, the buckets and the GPU rows' columns
    (float16, columns x ``gpu_rows``)."""

    msg_type: ClassVar[str] = "history_sent"
    series_keys: tuple[str, ...]
    quantities: tuple[str, ...]
    tier_columns: tuple[int, ...]
    gpu_rows: int


@dataclass(frozen=True, slots=True)
class MomentSent(Reply):
    """The values at ``time_s`` follow the envelope as one part (float32, ``count`` of them, in
    the frames' key order); each is the mean of a ``resolution_s`` bucket."""

    msg_type: ClassVar[str] = "moment_sent"
    time_s: float
    resolution_s: float
    count: int


@dataclass(frozen=True, slots=True)
class HistoryExported(Reply):
    """The export's file follows the envelope as one part."""

    msg_type: ClassVar[str] = "history_exported"
    series: int
    rows: int
    format: str


@dataclass(frozen=True, slots=True)
class GpuRowsSent(Reply):
    """The answer to ``QueryGpuRows``: two raw parts after the envelope, the values (float32)
    and the GPU row of each (int32), both ``columns`` x ``rows``, oldest column first."""

    msg_type: ClassVar[str] = "gpu_rows_sent"
    columns: int
    rows: int


JOURNAL_ENTRIES_SENT = 1000
"""The most journal entries one ``JournalSent`` carries (about 300 kB): what a table is read
for; the CSV export takes every entry."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One transition or operator action, as the journal holds it."""

    time_s: float
    alarm_id: str
    rule_id: str
    entity: str
    priority: str
    event: str
    """What moved it: ``active``, ``clear``, or the operator's action (``acknowledge``, ...)."""
    old_state: str
    new_state: str
    active: bool
    message: str
    value: float | None
    """None where there is no number behind it (a lost heartbeat)."""
    user: str
    """Who acted; "" for the alarm system itself."""
    note: str
    shelved_until_s: float | None


@dataclass(frozen=True, slots=True)
class JournalSent(Reply):
    """The entries a ``QueryJournal`` matched, in its order, and how many more matched than
    were sent (0: these are all)."""

    msg_type: ClassVar[str] = "journal_sent"
    entries: tuple[JournalEntry, ...]
    more: int


@dataclass(frozen=True, slots=True)
class JournalExported(Reply):
    """The CSV file (UTF-8, a header row, times in epoch seconds) follows the envelope as one
    part."""

    msg_type: ClassVar[str] = "journal_exported"
    rows: int


AUDIT_ENTRIES_SENT = 1000
"""The most audit entries one ``AuditSent`` carries: what a table is read for; the CSV export
takes every entry."""


@dataclass(frozen=True, slots=True)
class AuditSent(Reply):
    """The entries a ``QueryAudit`` matched, in its order, and how many more matched than were
    sent (0: these are all)."""

    msg_type: ClassVar[str] = "audit_sent"
    entries: tuple[AuditEntry, ...]
    more: int


@dataclass(frozen=True, slots=True)
class AuditExported(Reply):
    """The CSV file (UTF-8, a header row) follows the envelope as one part."""

    msg_type: ClassVar[str] = "audit_exported"
    rows: int


@dataclass(frozen=True, slots=True)
class AuditVerified(Reply):
    """What walking the audit log's hash chain found: intact, or the first line it breaks at."""

    msg_type: ClassVar[str] = "audit_verified"
    check: ChainCheck


@dataclass(frozen=True, slots=True)
class FloodSeen:
    """More than 10 new alarms within 10 minutes, from ``start_s``."""

    start_s: float
    end_s: float | None
    """None while it lasts."""
    alarms: int


@dataclass(frozen=True, slots=True)
class AlarmCount:
    alarm_id: str
    count: int


@dataclass(frozen=True, slots=True)
class StaleAlarm:
    """An alarm on the list whose condition has been active for over 24 h."""

    alarm_id: str
    entity: str
    priority: str
    message: str
    active_since_s: float


@dataclass(frozen=True, slots=True)
class PriorityShare:
    priority: str
    share: float
    """Of the new alarms, 0 to 1 (0 when there were none)."""
    guide: float
    """ISA-18.2's guide for it: about 0.05 high, 0.15 medium, 0.80 low."""


@dataclass(frozen=True, slots=True)
class AlarmReportSent(Reply):
    """The alarm performance report (``alarms.report``) from ``start_s`` to ``end_s``, as
    figures: the window words and lays them out."""

    msg_type: ClassVar[str] = "alarm_report_sent"
    start_s: float
    end_s: float
    new_alarms: int
    per_operator_hour: float
    floods: tuple[FloodSeen, ...]
    most_frequent: tuple[AlarmCount, ...]
    """The ten most frequent new alarms, most first."""
    chattering: tuple[str, ...]
    """Alarms raised 3 or more times within a minute."""
    stale: tuple[StaleAlarm, ...]
    priority_split: tuple[PriorityShare, ...]
    """High, medium, low."""


# --- Notifications ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DesignApplied(Notification):
    """The service runs a new design version: windows fetch it and follow."""

    msg_type: ClassVar[str] = "design_applied"
    version: int
    user: str


ACTIVE_STATES = ("unacknowledged", "acknowledged")
"""States of an alarm whose condition is active and not shelved: what the "Active alarms"
tile counts (a returned-to-normal alarm waits for acknowledgement but is no longer active)."""


@dataclass(frozen=True, slots=True)
class AlarmShown:
    """One alarm on the alarm list, as a window shows it."""

    alarm_id: str
    entity: str
    priority: str
    state: str
    message: str
    """The value and the limit in words: ``L-B2: 315 kW, over CDU-B2's 300 kW``."""
    value: float | None
    """None where there is no number behind it (a lost heartbeat)."""
    changed_s: float
    """When the state last changed (epoch seconds)."""
    chattering: bool = False


@dataclass(frozen=True, slots=True)
class AlarmsChanged(Notification):
    """The alarms shown now, highest priority then newest first, whole (a window replaces its
    list): after every step of the service's alarm system that changed a state, after each
    operator action, and to a window that asks (``GetAlarms``)."""

    msg_type: ClassVar[str] = "alarms_changed"
    alarms: tuple[AlarmShown, ...]
    flood: bool
    """More than 10 new alarms in the last 10 minutes: the window says so above the list."""
    time_s: float

    def active(self) -> list[str]:
        """The messages of the alarms whose condition is active and not shelved: the tile's
        count and its tooltip."""
        return [a.message or a.alarm_id for a in self.alarms if a.state in ACTIVE_STATES]


# --- Control -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewCommand(Request):
    """What ``command`` would do, sending nothing: answered ``CommandPreviewed``, the content
    of the window's confirmation dialog."""

    msg_type: ClassVar[str] = "preview_command"
    command: Command


@dataclass(frozen=True, slots=True)
class CommandPreviewed(Reply):
    msg_type: ClassVar[str] = "command_previewed"
    description: str
    minimum_role: str
    """The least role that may send it."""
    your_role: str
    allowed: bool
    results: tuple[TargetResult, ...]
    """Per target: ``sent`` (would be sent: old and new value) or ``refused`` with the reason."""
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SendCommand(Request):
    """Send ``command``: answered ``CommandSent`` once checked and started, or ``Refused`` with
    the reason (the role, or no target it could be sent to); every window then hears its
    progress (``CommandUpdated``)."""

    msg_type: ClassVar[str] = "send_command"
    command: Command


@dataclass(frozen=True, slots=True)
class CommandSent(Reply):
    msg_type: ClassVar[str] = "command_sent"
    progress: CommandProgress


@dataclass(frozen=True, slots=True)
class GetCommands(Request):
    """The recent commands: answered ``Accepted``, then a ``CommandUpdated`` for each to this
    window alone, as every later change brings."""

    msg_type: ClassVar[str] = "get_commands"


@dataclass(frozen=True, slots=True)
class CommandUpdated(Notification):
    """One command's progress, whole (a window replaces what it showed of it)."""

    msg_type: ClassVar[str] = "command_updated"
    progress: CommandProgress


register(Hello, GetKeys, GetStatuses, GetDesign, ApplyDesign, GetHistory, GetMoment, ExportHistory,
         QueryGpuRows, Welcome, KeysSent, StatusesSent, DesignSent, HistorySent, MomentSent,
         HistoryExported, GpuRowsSent, DesignApplied)  # fmt: skip
register(GetAlarms, ActOnAlarm, AlarmsChanged)
register(QueryJournal, ExportJournal, GetAlarmReport, JournalSent, JournalExported,
         AlarmReportSent)  # fmt: skip
register(QueryAudit, ExportAudit, VerifyAudit, AuditSent, AuditExported, AuditVerified)
register(PreviewCommand, CommandPreviewed, SendCommand, CommandSent, GetCommands, CommandUpdated)
