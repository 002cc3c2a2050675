"""The Run view's KPI tiles: values, trends over the last minute, alarms, and figures that fit."""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontMetricsF

from factoryfloor.widgets.figures_panel import FittingLabel
from factoryfloor.widgets.live_panel import LivePanel, trend_text


def test_trend_reads_as_an_arrow_and_the_change() -> None:
    assert trend_text(100.0, 104.1) == "▲ 4.1 %"
    assert trend_text(100.0, 88.0) == "▼ 12.0 %"
    assert trend_text(100.0, 101.0) == "▶ steady"  # under 2 %
    assert trend_text(0.0, 5.0) == "▲ from 0"
    assert trend_text(float("nan"), 5.0) == ""


def test_tiles_show_figures_their_trend_after_a_minute_and_the_alarms(qtbot) -> None:
    panel = LivePanel()
    qtbot.addWidget(panel)
    facility = {"tokens_per_s": 1_000_000.0, "gpus_busy": 900.0, "gpus": 1312.0}
    panel.show_figures(facility, 0.0, [])
    assert panel.tiles["tokens_per_s"].value.text() == "1,000,000"
    assert panel.tiles["gpus_busy"].value.text() == "900 of 1,312"
    assert panel.trends["tokens_per_s"].text() == ""  # no minute of history yet
    assert panel.tiles["pue"].value.text() == "n/a"
    panel.show_figures({**facility, "tokens_per_s": 1_200_000.0}, 65.0,
                       ["Loop L-A1: 700 kW, over its CDU's 600 kW"])  # fmt: skip
    assert panel.trends["tokens_per_s"].text() == "▲ 20.0 %"
    assert panel.tiles["alarms"].value.text() == "1"
    assert "L-A1" in panel.tiles["alarms"].toolTip()


def test_a_figure_too_wide_for_its_tile_shrinks_instead_of_being_cut(qtbot) -> None:
    label = FittingLabel()
    qtbot.addWidget(label)
    font = QFont(label.font())
    font.setPointSizeF(24.0)
    label.setFont(font)
    label.resize(120, 40)
    label.setText("38,786.7 kW")
    assert label.font().pointSizeF() < 24.0
    assert QFontMetricsF(label.font()).horizontalAdvance(label.text()) <= 121
    label.setText("1.15")  # short again: back to the size it was given
    assert label.font().pointSizeF() == 24.0
