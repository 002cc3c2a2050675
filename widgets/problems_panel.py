"""The list of design problems: over capacity, near capacity, notes. Clicking one selects the
culprit on the plan (``entity_activated``)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from factoryfloor.backend.design.figures import Problem
from factoryfloor.backend.design.report import SEVERITY_LABEL
from factoryfloor.widgets.status_colours import SEVERITY_COLOURS

SEVERITY_ORDER = {"over": 0, "near": 1, "info": 2}


class ProblemsPanel(QTreeWidget):
    entity_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Severity", "Item", "Problem"])
        self.setRootIsDecorated(False)
        self.setAlternatingRowColors(True)
        self.itemClicked.connect(self._on_item_clicked)

    def show_problems(self, problems: tuple[Problem, ...]) -> None:
        self.clear()
        for problem in sorted(problems, key=lambda p: SEVERITY_ORDER[p.severity]):
            item = QTreeWidgetItem([SEVERITY_LABEL[problem.severity], problem.entity_id,
                                    problem.message])  # fmt: skip
            item.setForeground(0, QBrush(SEVERITY_COLOURS[problem.severity]))
            font = item.font(0)
            font.setBold(True)
            item.setFont(0, font)
            item.setData(0, Qt.ItemDataRole.UserRole, problem.entity_id)
            self.addTopLevelItem(item)
        if not problems:
            self.addTopLevelItem(QTreeWidgetItem(["OK", "", "No problems: within capacity"]))
        for column in range(2):
            self.resizeColumnToContents(column)

    def _on_item_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        entity_id = item.data(0, Qt.ItemDataRole.UserRole)
        if entity_id:
            self.entity_activated.emit(entity_id)
