"""The Run view's KPI tiles: values, trends over the last minute, alarms, tokens per model, and
figures that fit."""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontMetricsF

from factoryfloor.backend.telemetry.series import facility_model_key
from factoryfloor.widgets.figures_panel import FittingLabel
from factoryfloor.widgets.live_panel import TOKENS, LivePanel, trend_text

LLAMA2 = "Llama 2 70B (MLPerf Inference server)"
LLAMA3 = "Llama 3.1 405B (MLPerf Inference server)"


def test_trend_reads_as_an_arrow_and_the_change() -> None:
    assert trend_text(100.0, 104.1) == "▲ 4.1 %"
    assert trend_text(100.0, 88.0) == "▼ 12.0 %"
    assert trend_text(100.0, 101.0) == "▶ steady"  # under 2 %
    assert trend_text(0.0, 5.0) == "▲ from 0"
    assert trend_text(float("nan"), 5.0) == ""


def test_tiles_show_figures_their_trend_after_a_minute_and_the_alarms(qtbot) -> None:
    panel = LivePanel()
    qtbot.addWidget(panel)
    tokens = facility_model_key(LLAMA2, "tokens_per_s")
    facility = {tokens: 1_000_000.0, "gpus_busy": 900.0, "gpus": 1312.0}
    panel.show_figures(facility, 0.0, [])
    assert panel.tiles[tokens].value.text() == "1,000,000 tok/s"
    assert panel.tiles["gpus_busy"].value.text() == "900 of 1,312"
    assert panel.trends[tokens].text() == "n/a tok/J"  # no trend: no minute of history yet
    assert panel.tiles["pue"].value.text() == "n/a"
    panel.show_figures({**facility, tokens: 1_200_000.0}, 65.0,
                       ["Loop L-A1: 700 kW, over its CDU's 600 kW"])  # fmt: skip
    assert panel.trends[tokens].text() == "n/a tok/J  ▲ 20.0 %"
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


def test_tokens_are_shown_per_model_never_summed(qtbot) -> None:
    """Tokens of a 70B and a 405B model measure different work: each model has its own tile
    with its tokens/s and tokens per joule, and no tile adds them up."""
    panel = LivePanel()
    qtbot.addWidget(panel)
    panel.show()
    assert panel.tiles[TOKENS].isVisible() and panel.tiles[TOKENS].value.text() == "-"
    llama2, llama3 = (facility_model_key(m, "tokens_per_s") for m in (LLAMA2, LLAMA3))
    both = {
        "tokens_per_s": 300_000.0,  # the sum a mixed-workload source also publishes
        "tokens_per_j": 0.2,
        llama2: 180_000.0, facility_model_key(LLAMA2, "tokens_per_j"): 0.412,
        llama3: 120_000.0,  # no power reading for its racks: no tokens per joule
    }  # fmt: skip
    panel.show_figures(both, 0.0)
    assert panel.tiles[llama2].caption.text() == f"{LLAMA2} (live)"
    assert panel.tiles[llama2].value.text() == "180,000 tok/s"
    assert panel.trends[llama2].text() == "0.412 tok/J"
    assert panel.tiles[llama3].value.text() == "120,000 tok/s"
    assert panel.trends[llama3].text() == "n/a tok/J"
    assert not panel.tiles[TOKENS].isVisible()
    texts = [tile.value.text() for tile in panel.tiles.values() if tile.isVisible()]
    assert not any("300,000" in text for text in texts)

    panel.show_figures({llama2: 181_000.0}, 1.0)  # one model served: one tile
    assert [key for key, tile in panel.tiles.items() if tile.isVisible()
            and key.startswith("facility/")] == [llama2]  # fmt: skip
    panel.set_moment("01:18:42")
    assert panel.tiles[llama2].caption.text() == f"{LLAMA2} (at 01:18:42)"


def test_it_power_summed_from_racks_says_how_many_report(qtbot) -> None:
    panel = LivePanel()
    qtbot.addWidget(panel)
    panel.show_figures({"it_power_kw": 1234.5, "it_power_racks": 20.0, "racks": 26.0}, 0.0)
    assert panel.tiles["it_power_kw"].value.text() == "1,234.5 kW (20 of 26 racks)"
    panel.show_figures({"it_power_kw": 1300.0, "it_power_racks": 26.0, "racks": 26.0}, 1.0)
    assert panel.tiles["it_power_kw"].value.text() == "1,300.0 kW"
