"""A dialog that asks the service the window reads from, and shows the answers in its view: the
alarm journal's and the audit log's windows.

Everything comes from the service (its own while Run is on, or the one it is attached to), never
from a file, which may be on another machine. Replies arrive on the GUI thread through the link's
poll; one to a search since overtaken by another of its kind is dropped. A CSV the service sends
is written to the chosen file off the Qt thread, atomically, and an error names the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtWidgets import QDialog, QFileDialog, QVBoxLayout, QWidget

from factoryfloor.app.background import BackgroundTasks
from factoryfloor.backend.design.design_file import atomic_write_bytes, describe_file_error
from factoryfloor.backend.service.client import ServiceClient
from factoryfloor.backend.telemetry.protocol import Reply, Request

Link = Callable[[], ServiceClient | None]
"""The window's link to its service now; None while it has none."""


class SaysWhat(Protocol):
    def say(self, text: str, problem: bool = False) -> None: ...


def refusal(reply: Reply, what: str) -> str:
    return f"The service sent no {what}: {getattr(reply, 'reason', reply.msg_type)}"


def entries(count: int, noun: str = "entry") -> str:
    """``1 journal entry``, ``2,000 audit entries``: ``noun`` ends in ``entry``."""
    return f"{count:,} {noun if count == 1 else noun.removesuffix('y') + 'ies'}"


class ServiceDialog(QDialog):
    """Sends requests for its ``view`` (a widget with ``say``) and routes the replies back."""

    no_service = ""
    """What the view says with no service to ask: where the records are kept."""

    def __init__(self, title: str, view: QWidget, link: Link, tasks: BackgroundTasks,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle(title)
        self._link = link
        self._tasks = tasks
        self._says: SaysWhat = view
        QVBoxLayout(self).addWidget(view)
        self._latest: dict[type, str] = {}
        """The msg_id of the newest request of each kind: older replies are stale."""

    def search(self) -> None:
        """Ask afresh for what the view's filters describe (on opening, and on Search)."""
        raise NotImplementedError

    def ask(self, request: Request, answered: Callable[[Reply, list[bytes]], None],
            latest_only: bool = True) -> bool:  # fmt: skip
        """Send ``request``; False (and the view says why) with no service to send it to. With
        ``latest_only``, its reply is dropped once another request of its kind has been sent."""
        link = self._link()
        if link is None:
            self._says.say(self.no_service, problem=True)
            return False
        self._latest[type(request)] = request.msg_id

        def take(reply: Reply, parts: list[bytes]) -> None:
            if not latest_only or self._latest.get(type(request)) == request.msg_id:
                answered(reply, parts)

        link.send(request, take)
        return True

    def choose_file(self, caption: str, suggested: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self, caption, suggested, "CSV table (*.csv)")
        return Path(path) if path else None

    def export_csv(self, request: Request, exported: type[Reply], target: Path, what: str,
                   noun: str) -> None:  # fmt: skip
        """Ask for the CSV ``request`` describes (answered by an ``exported`` reply with its
        ``rows``, the file after it) and write it into ``target``; ``what`` names the records
        in messages (``the alarm journal``), ``noun`` one row (``journal entry``)."""

        def answered(reply: Reply, parts: list[bytes]) -> None:
            if not isinstance(reply, exported) or not parts:
                self._says.say(f"Nothing was exported to {target}. " + refusal(reply, "CSV"),
                               problem=True)  # fmt: skip
                return
            data = parts[0]
            self._tasks.submit(
                lambda: atomic_write_bytes(target, data),
                lambda _: self._says.say(f"Exported {entries(reply.rows, noun)} to {target}"),
                lambda error: self._says.say(describe_file_error(target, error, "write"),
                                             problem=True),
            )  # fmt: skip

        if self.ask(request, answered, latest_only=False):
            self._says.say(f"Exporting {what} to {target}…")


def show_dialog(window: QWidget, kind: type[ServiceDialog],
                make: Callable[[], ServiceDialog]) -> ServiceDialog:  # fmt: skip
    """The window's dialog of ``kind`` (one per window, kept open beside it; ``make`` builds the
    first), shown and searched afresh."""
    dialog = window.findChild(kind)
    if dialog is None:
        dialog = make()
        dialog.resize(1200, 700)
    dialog.show()
    dialog.raise_()
    dialog.search()
    return dialog
