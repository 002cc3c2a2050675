"""The properties panel: the fields of whatever is selected on the plan, editable in place.

It is a view. It shows the selected entities' values, checks what the user types against the
model as they type (a mistake shows at the keystroke, in the words a design file's problems
use), and asks for a change with ``field_edit_requested``; the window turns that into an
undoable edit and shows the result by calling ``show_selection`` again. It never changes an
entity itself, so undo, the plan and the figures all see every change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut, QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.design.design_file import FieldProblem
from factoryfloor.backend.design.field_info import (
    FieldSpec,
    Item,
    Kind,
    describe_selection,
    display_text,
    editable_fields,
    value_from_text,
    value_problems,
)
from factoryfloor.widgets.status_colours import OVER

HINT = "Select an item on the plan to edit it."
MIXED_TEXT = "(mixed)"
CAPTION_COLOUR = "#5f6b76"
"""Grey of secondary text (units, hints), as the figures panel's tile captions."""

_MIXED: Final = object()
"""Stands for the value of a field the selected entities disagree on."""

Commit = Callable[["FieldRow", Any], None]
Check = Callable[[str, Any], list[str]]


@dataclass(frozen=True, slots=True)
class FieldEdit:
    """A valid value the user committed for one field of every selected entity."""

    ids: tuple[str, ...]
    field: str
    value: Any


def _common(values: Sequence[Any]) -> Any:
    """The value every entity has, or ``_MIXED``."""
    return values[0] if all(value == values[0] for value in values) else _MIXED


def _unique(reasons: Sequence[str]) -> list[str]:
    """Reasons once each: a multi-selection's items usually fail alike."""
    return list(dict.fromkeys(reasons))


class FieldRow(ABC):
    """One field: its label, its editor, and the line under it where its problems show.

    Every row type is built alike, ``(spec, commit, check)``, so the panel picks one by the
    field's kind alone; rows that cannot hold an invalid value ignore ``check``."""

    editor: QWidget

    def __init__(self, spec: FieldSpec, commit: Commit):
        self.spec = spec
        self._commit = commit
        self.shown: Any = _MIXED
        self.label = QLabel(spec.label)
        self.unit = QLabel(spec.unit)
        self.unit.setStyleSheet(f"color: {CAPTION_COLOUR};")
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {OVER.name()};")
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.hide()

    def _set_editor(self, editor: QWidget) -> None:
        """Name and explain the subclass's editor (screen readers read the name)."""
        self.editor = editor
        editor.setAccessibleName(self.spec.label)
        for widget in (self.label, editor):
            widget.setToolTip(self.spec.description)

    @abstractmethod
    def show_values(self, values: Sequence[Any], choices: Sequence[str], keep_typed: bool) -> None:
        """Show the selected entities' ``values`` (one each); ``keep_typed`` leaves text the
        user typed and has not committed where the value it would replace has not changed."""

    def show_problems(self, reasons: Sequence[str]) -> None:
        self.problem.setText("\n".join(reasons))
        self.problem.setVisible(bool(reasons))


class TextRow(FieldRow):
    """A typed field (number, integer, text), checked at every keystroke; Enter or leaving the
    field commits a valid value, Escape puts the shown value back."""

    def __init__(self, spec: FieldSpec, commit: Commit, check: Check):
        super().__init__(spec, commit)
        self._check = check
        self.shown_text = ""
        self.edit = QLineEdit()
        if spec.kind in ("number", "integer"):
            self.edit.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.edit.textEdited.connect(self._on_text_edited)
        self.edit.editingFinished.connect(self._on_editing_finished)
        revert = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.edit)
        revert.setContext(Qt.ShortcutContext.WidgetShortcut)
        revert.activated.connect(self.revert)
        self._set_editor(self.edit)

    def show_values(self, values: Sequence[Any], choices: Sequence[str], keep_typed: bool) -> None:
        shown = _common(values)
        if keep_typed and shown == self.shown and self.edit.text() != self.shown_text:
            return
        self.shown = shown
        self.shown_text = "" if shown is _MIXED else display_text(shown)
        if shown is _MIXED:
            self.edit.setPlaceholderText(MIXED_TEXT)
        else:
            self.edit.setPlaceholderText(self.spec.empty_text)
        self.revert()

    def revert(self) -> None:
        """Show the entities' value again, the cursor where it was (a re-show after a commit
        must not throw the user to the end of the text)."""
        if self.edit.text() != self.shown_text:
            cursor = self.edit.cursorPosition()
            self.edit.setText(self.shown_text)
            self.edit.setCursorPosition(min(cursor, len(self.shown_text)))
        self.show_problems([])

    def show_problems(self, reasons: Sequence[str]) -> None:
        super().show_problems(reasons)
        border = f"QLineEdit {{ border: 1px solid {OVER.name()}; border-radius: 2px; }}"
        self.edit.setStyleSheet(border if reasons else "")

    def _value_and_problems(self) -> tuple[Any, list[str]]:
        value = value_from_text(self.spec, self.edit.text())
        return value, self._check(self.spec.name, value)

    def _on_text_edited(self, text: str) -> None:
        self.show_problems([] if text == self.shown_text else self._value_and_problems()[1])

    def _on_editing_finished(self) -> None:
        if not self.edit.isModified() or self.edit.text() == self.shown_text:
            return
        value, problems = self._value_and_problems()
        self.show_problems(problems)
        if not problems:
            self.edit.setModified(False)
            self._commit(self, value)


class _WheelSafeComboBox(QComboBox):
    """A combo box that leaves the mouse wheel to the scroll area unless it has focus: scrolling
    the panel must never change (and so commit) a value under the pointer."""

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class ChoiceRow(FieldRow):
    """A field picked from a list: a Literal's values, or the ids a reference may name, with
    "(none)" first where None is allowed. Picking a different value commits it."""

    def __init__(self, spec: FieldSpec, commit: Commit, check: Check):
        super().__init__(spec, commit)
        self.options: list[str | None] = []
        self.combo = _WheelSafeComboBox()
        self.combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.combo.setPlaceholderText(MIXED_TEXT)
        self.combo.activated.connect(self._on_activated)
        self._set_editor(self.combo)

    def show_values(self, values: Sequence[Any], choices: Sequence[str], keep_typed: bool) -> None:
        options: list[str | None] = [None] if self.spec.optional else []
        options += self.spec.options or choices
        # A value the list lacks (a dangling reference) is still shown, not passed off as mixed.
        options += [value for value in dict.fromkeys(values) if value not in options]
        if options != self.options:
            self.options = options
            self.combo.clear()
            self.combo.addItems([self.spec.none_text if o is None else o for o in options])
        self.shown = _common(values)
        self.combo.setCurrentIndex(-1 if self.shown is _MIXED else options.index(self.shown))
        self.show_problems([])

    def _on_activated(self, index: int) -> None:
        if self.options[index] != self.shown:
            self._commit(self, self.options[index])


class CheckRow(FieldRow):
    """A yes/no field; partly checked where the selection disagrees. A click commits."""

    def __init__(self, spec: FieldSpec, commit: Commit, check: Check):
        super().__init__(spec, commit)
        self.checkbox = QCheckBox()
        self.checkbox.clicked.connect(lambda checked: self._commit(self, checked))
        self._set_editor(self.checkbox)

    def show_values(self, values: Sequence[Any], choices: Sequence[str], keep_typed: bool) -> None:
        self.shown = _common(values)
        self.checkbox.setTristate(self.shown is _MIXED)
        if self.shown is _MIXED:
            self.checkbox.setCheckState(Qt.CheckState.PartiallyChecked)
        else:
            self.checkbox.setChecked(self.shown)
        self.show_problems([])


ROW_TYPES: dict[Kind, type[TextRow | ChoiceRow | CheckRow]] = {
    "number": TextRow,
    "integer": TextRow,
    "text": TextRow,
    "names": TextRow,
    "choice": ChoiceRow,
    "reference": ChoiceRow,
    "bool": CheckRow,
}


class PropertiesPanel(QWidget):
    """Edits the selection: one row per field all selected entities share."""

    field_edit_requested = Signal(FieldEdit)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._entities: list[Item] = []
        self._specs: list[FieldSpec] = []
        self._rows: dict[str, FieldRow] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        self.header = QLabel()
        font = QFont(self.header.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.header.setFont(font)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rule = QFrame()
        rule.setFrameShape(QFrame.Shape.HLine)
        rule.setFrameShadow(QFrame.Shadow.Sunken)
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet(f"color: {CAPTION_COLOUR};")
        self.item_problems = QLabel()
        self.item_problems.setWordWrap(True)
        self.item_problems.setStyleSheet(f"color: {OVER.name()};")
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        for widget in (self.header, rule, self.hint, self.item_problems):
            layout.addWidget(widget)
        layout.addWidget(self.scroll, 1)
        self.show_selection([], {})

    # --- What the window calls ------------------------------------------------------------------

    def show_selection(self, entities: Sequence[Item], choices: dict[str, list[str]]) -> None:
        """Show ``entities`` (any mix of kinds; empty for none). ``choices`` lists the ids each
        reference field may name ("gpu_model", "loop_id", "feed_id", "cdu_id").

        The rows are rebuilt only when the fields change; re-showing the same fields updates
        values in place, so the window can call this after every edit without taking focus
        from the field being typed in. Re-showing the same items also keeps text the user has
        typed but not committed, unless the value under it changed."""
        same_items = [e.id for e in entities] == [e.id for e in self._entities]
        self._entities = list(entities)
        specs = editable_fields(entities)
        if specs != self._specs:
            self._build(specs)
        self.header.setText(describe_selection(entities) or "Nothing selected")
        self.hint.setVisible(not entities)
        if not same_items:
            self._show_item_problems([])
        for spec in specs:
            values = [getattr(entity, spec.name) for entity in entities]
            self._rows[spec.name].show_values(values, choices.get(spec.name, []), same_items)

    def show_problems(self, problems: Sequence[FieldProblem]) -> None:
        """Show why the backend refused a commit: under the field a problem's path ends with
        (``racks[A01].id``), or above the fields for the item as a whole (``racks[A01]``). The
        typed text stays, so the user can correct it rather than retype it."""
        by_field: dict[str, list[str]] = {}
        general: list[str] = []
        for problem in problems:
            field = problem.path.rpartition(".")[2]
            if field in self._rows:
                by_field.setdefault(field, []).append(problem.reason)
            else:
                general.append(problem.reason)
        for field, reasons in by_field.items():
            self._rows[field].show_problems(_unique(reasons))
        self._show_item_problems(_unique(general))

    # --- What tests and the window may read -----------------------------------------------------

    def field_names(self) -> list[str]:
        """The fields shown, top to bottom."""
        return list(self._rows)

    def row(self, field: str) -> FieldRow:
        return self._rows[field]

    # --- Inside ---------------------------------------------------------------------------------

    def _build(self, specs: list[FieldSpec]) -> None:
        """A fresh grid of rows: label | editor | unit, each problem line under its editor."""
        form = QWidget()
        grid = QGridLayout(form)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)
        self._rows = {}
        for i, spec in enumerate(specs):
            row = ROW_TYPES[spec.kind](spec, self._commit, self._check)
            self._rows[spec.name] = row
            grid.addWidget(row.label, 2 * i, 0)
            grid.addWidget(row.editor, 2 * i, 1)
            grid.addWidget(row.unit, 2 * i, 2)
            grid.addWidget(row.problem, 2 * i + 1, 1, 1, 2)
        grid.setRowStretch(2 * len(specs), 1)
        self._specs = specs
        # Deleted later: the old rows may be inside the very signal (a commit) that led here.
        old = self.scroll.takeWidget()
        self.scroll.setWidget(form)
        if old is not None:
            old.deleteLater()

    def _check(self, field: str, value: Any) -> list[str]:
        return value_problems(self._entities, field, value)

    def _commit(self, row: FieldRow, value: Any) -> None:
        # A replaced row's line edit still finishes its edit as it loses focus; its value was
        # meant for the items it showed, not for the selection now shown.
        if self._rows.get(row.spec.name) is not row:
            return
        self._show_item_problems([])
        ids = tuple(entity.id for entity in self._entities)
        self.field_edit_requested.emit(FieldEdit(ids, row.spec.name, value))

    def _show_item_problems(self, reasons: list[str]) -> None:
        self.item_problems.setText("\n".join(reasons))
        self.item_problems.setVisible(bool(reasons))
