"""The alarm performance report (ISA-18.2 / EEMUA 191 style) over a stretch of the journal:
alarms per operator-hour, floods, the ten most frequent alarms, chattering alarms, stale alarms
(active over 24 h) and the priority split against the guide of about 5 % high, 15 % medium and
80 % low."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from factoryfloor.backend.design.alarm_rules import PRIORITIES, Priority
from factoryfloor.backend.service.alarms.annunciation import Annunciation, Flood
from factoryfloor.backend.service.alarms.journal import AlarmJournal, JournalQuery
from factoryfloor.backend.service.alarms.states import ANNUNCIATED, Alarm, Transition

STALE_AFTER_S = 24 * 3600.0
PRIORITY_GUIDE: dict[Priority, float] = {"high": 0.05, "medium": 0.15, "low": 0.80}
TOP_COUNT = 10


@dataclass(frozen=True, slots=True)
class AlarmReport:
    start_s: float
    end_s: float
    new_alarms: int
    per_operator_hour: float
    floods: list[Flood]
    most_frequent: list[tuple[str, int]]
    chattering: list[str]
    stale: list[Alarm]
    priority_share: dict[Priority, float]
    """Share of new alarms by priority (0 for each when there were none)."""


def new_alarms(entries: Sequence[Transition]) -> list[Transition]:
    """The entries that raised an alarm to an operator (condition became active, unhidden)."""
    return [t for t in entries if t.event == "active" and t.new_state.value == "unacknowledged"]


def build_report(
    entries: Sequence[Transition],
    alarms: Sequence[Alarm],
    start_s: float,
    end_s: float,
    operators: int = 1,
) -> AlarmReport:
    """The report over journal ``entries`` between ``start_s`` and ``end_s`` (the alarms as they
    stand at ``end_s`` give the stale ones), for ``operators`` operators on shift."""
    raised = new_alarms([t for t in entries if start_s <= t.time_s <= end_s])
    annunciation = Annunciation()
    chattering: set[str] = set()
    for t in raised:
        annunciation.observe(t.time_s, [])  # a flood over by now ends before this one counts
        annunciation.observe(t.time_s, [t.alarm_id])
        chattering |= annunciation.chattering
    hours = max(end_s - start_s, 1.0) / 3600.0
    counts = Counter(t.priority for t in raised)
    total = len(raised)
    return AlarmReport(
        start_s, end_s, total, total / (hours * max(operators, 1)), annunciation.floods,
        Counter(t.alarm_id for t in raised).most_common(TOP_COUNT), sorted(chattering),
        [a for a in alarms if a.state in ANNUNCIATED and a.active_since_s is not None
         and end_s - a.active_since_s > STALE_AFTER_S],
        {p: (counts[p] / total if total else 0.0) for p in PRIORITIES},
    )  # fmt: skip


def journal_report(journal: AlarmJournal, query: JournalQuery, until_s: float) -> AlarmReport:
    """The report over the entries ``query`` matches up to ``until_s``, from its ``since_s``
    (None: the first such entry); the alarms as the journal leaves them give the stale ones."""
    entries = journal.search(replace(query, until_s=until_s, limit=None, newest_first=False))
    start_s = query.since_s
    if start_s is None:
        start_s = entries[0].time_s if entries else until_s
    return build_report(entries, list(journal.restore().values()), start_s, until_s)


def format_report(report: AlarmReport) -> str:
    lines = [
        f"New alarms: {report.new_alarms:,} ({report.per_operator_hour:,.1f} per operator-hour)",
        f"Floods (more than 10 new alarms in 10 min): {len(report.floods)}",
        "Priority split (ISA-18.2 guide): " + ", ".join(
            f"{p} {report.priority_share[p]:.0%} ({PRIORITY_GUIDE[p]:.0%})" for p in PRIORITIES
        ),
        f"Chattering (3 or more in a minute): {', '.join(report.chattering) or 'none'}",
        f"Stale (active over 24 h): {', '.join(a.alarm_id for a in report.stale) or 'none'}",
        "Most frequent:",
        *(f"  {count:>6,}  {alarm_id}" for alarm_id, count in report.most_frequent),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"
