"""Design > Hall Settings: the hall's name, floor size and the assumptions behind its figures.

The dialog only collects what is typed. OK hands it to ``apply``, which tries the one undoable
edit and returns its problems: none, and the dialog closes; otherwise each shows under its
field in a design file's words (``must be greater than 0 (got -2.0)``) and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.design.design_file import FieldProblem
from factoryfloor.backend.design.edits import HallSettings
from factoryfloor.backend.design.field_info import display_text
from factoryfloor.backend.design.model import Assumptions, Design
from factoryfloor.widgets.settings_form import FormRows, problem_label, typed_number

ApplyHall = Callable[[HallSettings], list[FieldProblem]]
"""Tries the edit; the problems that refused it (none: it is done)."""

FLOOR_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("width_m", "&Width", "m"),
    ("depth_m", "&Depth", "m"),
)
ASSUMPTION_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("liquid_cooling_overhead", "&Liquid cooling overhead", "kW per kW of heat to liquid"),
    ("air_cooling_overhead", "&Air cooling overhead", "kW per kW of heat to air"),
    ("electrical_loss_fraction", "&Electrical losses", "kW per kW of IT load (0\N{EN DASH}1)"),
    ("other_overhead_kw", "&Other fixed loads", "kW"),
    ("near_capacity_fraction", "Near-&capacity margin", "of capacity (0\N{EN DASH}1)"),
    ("max_air_kw_per_rack", "Air-cooling &limit", "kW per rack"),
)
"""Field, label (with its shortcut) and unit, in the order the dialog shows them."""


def _tip(name: str) -> str:
    """The assumption's docstring, as the properties panel shows a field's."""
    return (Assumptions.model_fields[name].description or "").replace("``", "")


class HallSettingsDialog(QDialog):
    def __init__(self, design: Design, apply: ApplyHall, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hall Settings")
        self._apply = apply
        self.edits: dict[str, QLineEdit] = {}
        layout = QVBoxLayout(self)

        hall = QGroupBox("Hall")
        hall_grid = QGridLayout(hall)
        self.rows = FormRows(hall_grid)
        self._add("name", "&Name", design.name, "", "The hall's name, shown in the title bar.")
        for name, label, unit in FLOOR_FIELDS:
            self._add(f"floor.{name}", label, getattr(design.floor, name), unit, "")
        layout.addWidget(hall)

        figures = QGroupBox("PUE estimate and warnings")
        self.figure_rows = FormRows(QGridLayout(figures))
        for name, label, unit in ASSUMPTION_FIELDS:
            tip = _tip(name)
            self._add(f"assumptions.{name}", label, getattr(design.assumptions, name), unit, tip,
                      self.figure_rows)  # fmt: skip
        layout.addWidget(figures)

        self.other_problems = problem_label()
        layout.addWidget(self.other_problems)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.try_accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.buttons = buttons

    def _add(self, path: str, label: str, value: object, unit: str, tip: str,
             rows: FormRows | None = None) -> None:  # fmt: skip
        edit = QLineEdit(display_text(value))
        edit.setMinimumWidth(140)
        (rows or self.rows).add(path, label, edit, unit, tip)
        self.edits[path] = edit

    def typed(self) -> HallSettings:
        """What the form holds, as typed: numbers where they parse, text where they do not."""

        def section(prefix: str) -> dict[str, object]:
            return {
                path.removeprefix(prefix): typed_number(edit.text())
                for path, edit in self.edits.items()
                if path.startswith(prefix)
            }

        return HallSettings(self.edits["name"].text(), section("floor."), section("assumptions."))

    def try_accept(self) -> None:
        """Apply the edit and close, or show why not and stay."""
        problems = self._apply(self.typed())
        unplaced = self.figure_rows.show_problems(self.rows.show_problems(problems))
        self.other_problems.setText("\n".join(str(problem) for problem in unplaced))
        self.other_problems.setVisible(bool(unplaced))
        if not problems:
            self.accept()

    def problem_texts(self) -> list[str]:
        """Every problem shown, under a field or below them all."""
        texts = self.rows.problem_texts() + self.figure_rows.problem_texts()
        return texts + ([self.other_problems.text()] if not self.other_problems.isHidden() else [])
