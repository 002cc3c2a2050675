"""Forms of the settings dialogs: labelled fields with their units, and their problems.

A settings dialog collects what was typed and asks for one edit on OK; the edit is checked as
strictly as a design file and its problems come back with the file's paths
(``floor.width_m``, ``telemetry.mqtt.port``). :class:`FormRows` shows each problem under the
field it names, in the words the file's problems use, and says which problems name no field on
the form so the dialog can show those elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QGridLayout, QLabel, QLineEdit, QWidget

from factoryfloor.backend.design.design_file import FieldProblem
from factoryfloor.widgets.status_colours import OK, OVER

CAPTION_COLOUR = "#5f6b76"
"""Grey of secondary text (units, hints), as the properties panel's."""


def typed_number(text: str) -> object:
    """A number where ``text`` parses as one (``72.0`` an integer 72), else the text itself,
    which validation then refuses in the model's words (``must be a valid number``)."""
    try:
        number = float(text.strip())
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


def optional_text(text: str) -> str | None:
    """Empty means none."""
    return text.strip() or None


def caption(text: str, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setStyleSheet(f"color: {CAPTION_COLOUR};")
    label.setWordWrap(wrap)
    return label


def problem_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {OVER.name()};")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    return label


def show_result(label: QLabel, ok: bool, text: str) -> None:
    """A check's outcome: a tick or a cross and the words, green or red (never colour alone)."""
    label.setText(f"{'✔' if ok else '✘'} {text}")
    label.setStyleSheet(f"color: {(OK if ok else OVER).name()};")
    label.show()


@dataclass(frozen=True, slots=True)
class FormRow:
    path: str
    """The design-file path of the field, as problems name it."""
    label: str
    """The field's name on the form, which its problems start with."""
    editor: QWidget
    problem: QLabel


class FormRows:
    """Rows of ``label | editor | unit`` with a problem line under each, in ``grid``."""

    def __init__(self, grid: QGridLayout) -> None:
        self.grid = grid
        grid.setColumnStretch(1, 1)  # the editors take the width; labels and units keep theirs
        self.rows: list[FormRow] = []

    def add(self, path: str, label: str, editor: QWidget, unit: str = "", tip: str = "") -> None:
        row = self.grid.rowCount()
        name = QLabel(label)
        name.setBuddy(editor)
        # A check box is labelled by its own text.
        text = label or (editor.text() if isinstance(editor, QAbstractButton) else "")
        plain = text.replace("&", "")
        editor.setAccessibleName(plain)
        for widget in (name, editor):
            widget.setToolTip(tip)
        problem = problem_label()
        if isinstance(editor, QLineEdit):  # a field being retyped no longer has its problem
            editor.textEdited.connect(problem.hide)
        self.grid.addWidget(name, row, 0)
        self.grid.addWidget(editor, row, 1)
        if unit:
            self.grid.addWidget(caption(unit, wrap=False), row, 2)
        self.grid.addWidget(problem, row + 1, 1, 1, 2)
        self.rows.append(FormRow(path, plain, editor, problem))

    def show_problems(self, problems: Sequence[FieldProblem]) -> list[FieldProblem]:
        """Each problem under its field; those that name no field here are returned."""
        unplaced = []
        shown: dict[int, list[str]] = {}
        for problem in problems:
            index = next(
                (i for i, row in enumerate(self.rows) if _names(problem.path, row.path)), None
            )
            if index is None:
                unplaced.append(problem)
            else:
                named = self.rows[index].label
                shown.setdefault(index, []).append(f"{named}: {problem.reason}")
        for i, row in enumerate(self.rows):
            row.problem.setText("\n".join(shown.get(i, [])))
            row.problem.setVisible(i in shown)
        return unplaced

    def problem_texts(self) -> list[str]:
        """The problems shown, for tests and screen readers."""
        return [row.problem.text() for row in self.rows if not row.problem.isHidden()]


def _names(problem_path: str, field_path: str) -> bool:
    """``floor.width_m`` names the field ``floor.width_m``; ``metrics[0].url.x`` names
    ``metrics[0].url`` too."""
    return problem_path == field_path or problem_path.startswith(
        (field_path + ".", field_path + "[")
    )
