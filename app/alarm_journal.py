"""View > Alarm Journal: the service's alarm journal searched, exported as CSV, and reported on.

Everything comes from the service the window reads from (its own while Run is on, or the one it
is attached to), never from the journal file, which may be on another machine: a search is a
``QueryJournal`` and a ``GetAlarmReport``, an export an ``ExportJournal``. Replies arrive on the
GUI thread through the link's poll; one to a search since overtaken by another is dropped. The
CSV the service sends is written to the chosen file off the Qt thread, atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QDialog, QFileDialog, QVBoxLayout, QWidget

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.backend.design.design_file import atomic_write_bytes, describe_file_error
from factoryfloor.backend.service.alarms.journal import JournalQuery
from factoryfloor.backend.service.client import ServiceClient
from factoryfloor.backend.service.messages import (
    AlarmReportSent,
    ExportJournal,
    GetAlarmReport,
    JournalExported,
    JournalSent,
    QueryJournal,
)
from factoryfloor.backend.telemetry.protocol import Reply, Request
from factoryfloor.widgets.alarm_journal import AlarmJournalView

NO_SERVICE = ("The alarm journal is kept by the service: start Run, or connect to a service with "
              "File > Connect to Service.")  # fmt: skip


def refusal(reply: Reply, what: str) -> str:
    return f"The service sent no {what}: {getattr(reply, 'reason', reply.msg_type)}"


class AlarmJournalDialog(QDialog):
    def __init__(self, link: Callable[[], ServiceClient | None], tasks: BackgroundTasks,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Alarm Journal")
        self._link = link
        self._tasks = tasks
        self.view = AlarmJournalView()
        QVBoxLayout(self).addWidget(self.view)
        self.view.search_asked.connect(self.search)
        self.view.export_asked.connect(self._choose_file)
        self._latest: dict[type, str] = {}
        """The msg_id of the newest request of each kind: older replies are stale."""

    def _ask(self, request: Request, answered: Callable[[Reply, list[bytes]], None],
             latest_only: bool = True) -> bool:  # fmt: skip
        """Send ``request``; False (and the view says why) with no service to send it to. With
        ``latest_only``, its reply is dropped once another request of its kind has been sent."""
        link = self._link()
        if link is None:
            self.view.say(NO_SERVICE, problem=True)
            return False
        self._latest[type(request)] = request.msg_id

        def take(reply: Reply, parts: list[bytes]) -> None:
            if not latest_only or self._latest.get(type(request)) == request.msg_id:
                answered(reply, parts)

        link.send(request, take)
        return True

    def search(self, query: JournalQuery | None = None) -> None:
        """List the entries ``query`` (the filters' own if None) matches, and report over its
        time range."""
        query = self.view.query() if query is None else query
        if self._ask(QueryJournal(query), self._take_entries):
            self.view.say("Searching…")
            self._ask(GetAlarmReport(query.since_s, query.until_s), self._take_report)

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
        path, _ = QFileDialog.getSaveFileName(self, "Export the alarm journal to",
                                              "alarm-journal.csv", "CSV table (*.csv)")  # fmt: skip
        if path:
            self.export(query, Path(path))

    def export(self, query: JournalQuery, target: Path) -> None:
        """Every entry ``query`` matches, as the service writes them, into ``target``."""

        def answered(reply: Reply, parts: list[bytes]) -> None:
            if not isinstance(reply, JournalExported) or not parts:
                self.view.say(f"Nothing was exported to {target}. "
                              + refusal(reply, "CSV"), problem=True)  # fmt: skip
                return
            data = parts[0]
            self._tasks.submit(
                lambda: atomic_write_bytes(target, data),
                lambda _: self.view.say(f"Exported {reply.rows:,} journal "
                                        f"{'entry' if reply.rows == 1 else 'entries'} to {target}"),
                lambda error: self.view.say(describe_file_error(target, error, "write"),
                                            problem=True),
            )  # fmt: skip

        if self._ask(ExportJournal(query), answered, latest_only=False):
            self.view.say(f"Exporting the alarm journal to {target}…")


def show_alarm_journal(window: QWidget, link: Callable[[], ServiceClient | None],
                       tasks: BackgroundTasks) -> AlarmJournalDialog:  # fmt: skip
    """The window's journal dialog (one per window, kept open beside it), searched afresh."""
    dialog = window.findChild(AlarmJournalDialog)
    if dialog is None:
        dialog = AlarmJournalDialog(link, tasks, window)
        dialog.resize(1200, 700)
    dialog.show()
    dialog.raise_()
    dialog.search()
    return dialog
