"""Review BMS mapping: the points the BMS describes, what each feeds or would feed, and why.

Opening it reads the broker's retained BMS metadata on a worker, by the check's deadline; the
table then lists every point: ticked where it is mapped already or newly proposed, unticked
with the reason where it is not (a setpoint, a state point, a name no plan rack or CDU has,
another point fed the series better...). The engineer unticks what is wrong; OK gives the
ticked mapping (``accepted_points``) to whoever opened the review.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.mqtt_settings import MqttConfig, PointMapping
from factoryfloor.backend.telemetry.sources.bms_review import (
    ReviewRow,
    accepted_points,
    review_rows,
)
from factoryfloor.backend.telemetry.sources.connection_check import (
    CHECK_TIMEOUT_S,
    BrokerCheckError,
    RetainedMetadata,
    read_bms_metadata,
)
from factoryfloor.widgets.background_work import Submit
from factoryfloor.widgets.settings_form import show_result

COLUMNS = ("Map", "BMS point", "Feeds", "Why")
NOT_MAPPED = "not mapped"


class BmsMappingDialog(QDialog):
    def __init__(self, design: Design, config: MqttConfig, password: str | None,
                 submit: Submit, parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Review BMS Mapping")
        self.design = design
        self.config = config
        self._password = password
        self._submit = submit
        self.rows: list[ReviewRow] = []
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.ok_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.buttons)
        self.resize(1100, 520)

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def start(self) -> None:
        """Read the retained metadata in the background; the table fills when it arrives."""
        where = f"{self.config.host}:{self.config.port}"
        prefix = self.config.bms_prefix
        self.status.setText(
            f"Reading the retained BMS metadata under {prefix} from {where}… "
            f"(up to {CHECK_TIMEOUT_S:g} s)"
        )
        config, password = self.config, self._password
        self._submit(lambda: read_bms_metadata(config, password), self.show_metadata,
                     self._show_failure)  # fmt: skip

    def show_metadata(self, metadata: RetainedMetadata) -> None:
        if not isValid(self):  # closed while the metadata was read
            return
        points = self.config.points
        self.rows = review_rows(self.design, points, metadata.points)
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            tick = QTableWidgetItem()
            tick.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            checkable = row.mapping is not None
            if not checkable:
                tick.setFlags(Qt.ItemFlag.NoItemFlags)
            tick.setCheckState(Qt.CheckState.Checked if row.proposed else Qt.CheckState.Unchecked)
            point = QTableWidgetItem(row.point.point_id)
            point.setToolTip(json.dumps(dict(row.point.fields), indent=1, ensure_ascii=False))
            feeds = QTableWidgetItem(row.mapping.feeds if row.mapping else NOT_MAPPED)
            if row.mapping is None:
                feeds.setForeground(Qt.GlobalColor.gray)
            why = QTableWidgetItem(row.reason)
            why.setToolTip(row.reason)
            for column, item in enumerate((tick, point, feeds, why)):
                self.table.setItem(i, column, item)
        self.table.resizeColumnToContents(1)
        self.table.setColumnWidth(1, min(self.table.columnWidth(1), 380))
        self.table.resizeColumnToContents(2)
        mapped = sum(row.mapping is not None for row in self.rows)
        ticked = len(self.accepted_ids())
        late = "" if metadata.complete else " (the broker was still sending when time ran out)"
        show_result(self.status, True,
                    f"{len(self.rows)} BMS points described by the broker{late}: {mapped} can "
                    f"feed a plan series, {ticked} ticked; {len(self.rows) - mapped} not mapped, "
                    "each with the reason")  # fmt: skip
        self.ok_button.setEnabled(True)

    def _show_failure(self, error: BaseException) -> None:
        if not isValid(self):
            return
        reason = str(error) if isinstance(error, BrokerCheckError) else repr(error)
        show_result(self.status, False, f"Could not read the BMS metadata: {reason}")

    def accepted_ids(self) -> set[str]:
        return {
            row.point.point_id
            for i, row in enumerate(self.rows)
            if self.table.item(i, 0).checkState() == Qt.CheckState.Checked
        }

    def accepted_points(self) -> list[PointMapping]:
        """The mapping to store: the ticked rows', and the reviewed source's points of points
        the broker did not describe."""
        return accepted_points(self.config.points, self.rows, self.accepted_ids())
