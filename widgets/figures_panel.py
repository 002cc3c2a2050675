"""The summary panel: facility totals as tiles, token capacity, and tables per loop/feed/rack.

It only displays what :func:`~factoryfloor.backend.design.figures.compute_figures` returned;
clicking a row emits ``entity_activated`` so the window can select the culprit on the plan.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QFont, QFontMetricsF, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from factoryfloor.backend.design.figures import DesignFigures
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.report import (
    FigureTable,
    facility_rows,
    feed_table,
    loop_table,
    rack_table,
    workload_table,
)
from factoryfloor.widgets.figures_table import FigureRow, FiguresTableModel

TABLES: dict[str, Callable[[Design, DesignFigures], FigureTable]] = {
    "Tokens": lambda design, figures: workload_table(figures),
    "Loops": lambda design, figures: loop_table(figures),
    "Feeds": lambda design, figures: feed_table(figures),
    "Racks": rack_table,
}


class FittingLabel(QLabel):
    """A figure that shrinks its type to fit its width instead of being cut off: a wall's
    tiles are a seventh of the screen, and a large hall's "38,786.7 kW" is long."""

    SMALLEST = 0.5
    """Never below half the size it was given."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self._base_pt = self.font().pointSizeF()

    def setFont(self, font: QFont) -> None:
        self._base_pt = font.pointSizeF()
        super().setFont(font)
        self._fit()

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        font = QFont(self.font())
        font.setPointSizeF(self._base_pt)
        width_px = self.contentsRect().width()
        text_px = QFontMetricsF(font).horizontalAdvance(self.text())
        if 0 < width_px < text_px:
            fitted_pt = self._base_pt * width_px / text_px
            font.setPointSizeF(max(fitted_pt, self._base_pt * self.SMALLEST))
        if font.pointSizeF() != self.font().pointSizeF():
            super().setFont(font)


class FigureTile(QFrame):
    """One headline figure: a small caption over a large value."""

    def __init__(self, caption: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("figureTile")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 6)
        layout.setSpacing(0)
        self.caption = QLabel(caption)
        self.caption.setStyleSheet("color: #5f6b76;")
        self.value = FittingLabel("-")
        font = QFont(self.value.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.value.setFont(font)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)


class FiguresPanel(QWidget):
    entity_activated = Signal(str)

    HEADLINE = ("IT power", "Heat to liquid", "Heat to air", "Coolant flow", "Facility power",
                "PUE (estimate)", "Racks", "GPUs")  # fmt: skip

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        tiles = QGridLayout()
        tiles.setSpacing(6)
        self.tiles: dict[str, FigureTile] = {}
        for i, caption in enumerate(self.HEADLINE):
            tile = FigureTile(caption)
            self.tiles[caption] = tile
            tiles.addWidget(tile, i // 2, i % 2)
        layout.addLayout(tiles)

        self.tabs = QTabWidget()
        self.models: dict[str, FiguresTableModel] = {}
        self._shown: tuple[Design, DesignFigures, dict[str, str]] | None = None
        self._stale: set[str] = set()
        for name in TABLES:
            view = QTableView()
            view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
            view.setAlternatingRowColors(True)
            view.verticalHeader().hide()
            view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            view.clicked.connect(self._on_row_clicked)
            self.tabs.addTab(view, name)
        self.tabs.currentChanged.connect(lambda index: self._fill(self.tabs.tabText(index)))
        layout.addWidget(self.tabs, 1)

    def table_model(self, name: str) -> FiguresTableModel:
        """The up-to-date model behind the tab ``name`` (Tokens, Loops, Feeds, Racks)."""
        self._fill(name)
        return self.models[name]

    def show_figures(self, design: Design, figures: DesignFigures) -> None:
        """Tiles now; tables lazily: only the visible one is rebuilt, the others when shown,
        because a 1,000-row racks table per drag step would cost more than the figures."""
        for caption, value in facility_rows(figures):
            if caption in self.tiles:
                self.tiles[caption].value.setText(value)
        status: dict[str, str] = {}
        for problem in figures.problems:
            if problem.severity != "info" and status.get(problem.entity_id) != "over":
                status[problem.entity_id] = problem.severity
        self._shown = (design, figures, status)
        self._stale = set(TABLES)
        self._fill(self.tabs.tabText(self.tabs.currentIndex()))

    def _fill(self, name: str) -> None:
        if name not in self._stale or self._shown is None:
            return
        design, figures, status = self._shown
        table = TABLES[name](design, figures)
        model = self.models.get(name)
        if model is None:
            model = FiguresTableModel(table.headers, table.numeric_from, self)
            self.models[name] = model
            view = self.tabs.widget(list(TABLES).index(name))
            assert isinstance(view, QTableView)
            view.setModel(model)
        model.set_rows([FigureRow(eid, cells, status.get(eid)) for eid, cells in table.rows])
        self._stale.discard(name)

    def _on_row_clicked(self, index: QModelIndex) -> None:
        entity_id = index.data(Qt.ItemDataRole.UserRole)
        if entity_id:
            self.entity_activated.emit(entity_id)
