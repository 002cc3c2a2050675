"""View > Alarm Journal: the service's alarm journal searched, exported as CSV, and reported on.

A search is a ``QueryJournal`` and a ``GetAlarmReport``, an export an ``ExportJournal``, sent
to the service the window reads from (``service_dialog``), never read from the journal file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.app.service_dialog import Link, ServiceDialog, refusal, show_dialog
from factoryfloor.backend.service.alarms.journal import JournalQuery
from factoryfloor.backend.service.messages import (
    AlarmReportSent,
    ExportJournal,
    GetAlarmReport,
    JournalExported,
    JournalSent,
    QueryJournal,
)
from factoryfloor.backend.telemetry.protocol import Reply
from factoryfloor.widgets.alarm_journal import AlarmJournalView

NO_SERVICE = ("The alarm journal is kept by the service: start Run, or connect to a service with "
              "File > Connect to Service.")  # fmt: skip


class AlarmJournalDialog(ServiceDialog):
    no_service = NO_SERVICE

    def __init__(self, link: Link, tasks: BackgroundTasks, parent: QWidget | None = None) -> None:
        self.view = AlarmJournalView()
        super().__init__("Alarm Journal", self.view, link, tasks, parent)
        self.view.search_asked.connect(self.search)
        self.view.export_asked.connect(self._choose_file)

    def search(self, query: JournalQuery | None = None) -> None:
        """List the entries ``query`` (the filters' own if None) matches, and report over its
        time range."""
        query = self.view.query() if query is None else query
        if self.ask(QueryJournal(query), self._take_entries):
            self.view.say("Searching…")
            self.ask(GetAlarmReport(query.since_s, query.until_s), self._take_report)

    def _take_entries(self, reply: Reply, _parts: list[bytes]) -> None:
        if not isinstance(reply, JournalSent):
            self.view.say(refusal(reply, "journal entries"), problem=True)
            return
        self.view.say("")
        self.view.show_entries(reply)

    def _take_report(self, reply: Reply, _parts: list[bytes]) -> None:
        if not isinstance(reply, AlarmReportSent):
            self.view.say(refusal(reply, "report"), problem=True)
            return
        self.view.show_report(reply)

    def _choose_file(self, query: JournalQuery) -> None:
        target = self.choose_file("Export the alarm journal to", "alarm-journal.csv")
        if target is not None:
            self.export(query, target)

    def export(self, query: JournalQuery, target: Path) -> None:
        """Every entry ``query`` matches, as the service writes them, into ``target``."""
        self.export_csv(ExportJournal(query), JournalExported, target, "the alarm journal",
                        "journal entry")  # fmt: skip


def show_alarm_journal(window: QWidget, link: Link, tasks: BackgroundTasks) -> ServiceDialog:
    """The window's journal dialog (one per window, kept open beside it), searched afresh."""
    return show_dialog(window, AlarmJournalDialog, lambda: AlarmJournalDialog(link, tasks, window))
