"""A read-only table model of figure rows: text cells, numbers right-aligned, rows tinted by
status. One model class serves the loops, feeds, racks and workloads tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from factoryfloor.widgets.status_colours import SEVERITY_COLOURS

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class FigureRow:
    entity_id: str
    cells: Sequence[str]
    status: str | None = None
    """``near`` or ``over`` tints the row; the plan and problems list use the same colours."""


class FiguresTableModel(QAbstractTableModel):
    def __init__(self, headers: Sequence[str], numeric_from: int, parent: QObject | None = None):
        super().__init__(parent)
        self.headers = list(headers)
        self.numeric_from = numeric_from
        self.rows: list[FigureRow] = []

    def set_rows(self, rows: list[FigureRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[section]
        return None

    def data(self, index: Index, role: int = 0) -> object:
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.cells[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= self.numeric_from:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.BackgroundRole and row.status in SEVERITY_COLOURS:
            colour = QColor(SEVERITY_COLOURS[row.status])
            colour.setAlpha(50)
            return QBrush(colour)
        if role == Qt.ItemDataRole.UserRole:
            return row.entity_id
        return None
