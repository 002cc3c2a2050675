"""The properties panel driven by real key presses and clicks, as an engineer edits a selection."""

from __future__ import annotations

import pytest
from on_screen import on_screen
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QLineEdit

from factoryfloor.backend.design.design_file import FieldProblem, load_design
from factoryfloor.backend.design.field_info import FRACTION_UNIT
from factoryfloor.backend.design.model import Design
from factoryfloor.widgets.properties_panel import HINT, MIXED_TEXT, FieldEdit, PropertiesPanel


@pytest.fixture
def demo() -> Design:
    return load_design("resources/demo_hall.json")


@pytest.fixture
def choices(demo: Design) -> dict[str, list[str]]:
    return {
        "gpu_model": [model.id for model in demo.gpu_models],
        "loop_id": [loop.id for loop in demo.loops],
        "feed_id": [feed.id for feed in demo.feeds],
        "cdu_id": [cdu.id for cdu in demo.cdus],
    }


@pytest.fixture
def panel(qtbot) -> PropertiesPanel:
    return on_screen(qtbot, PropertiesPanel(), 360, 560)


def line_edit(panel: PropertiesPanel, field: str) -> QLineEdit:
    editor = panel.row(field).editor
    assert isinstance(editor, QLineEdit)
    return editor


def combo(panel: PropertiesPanel, field: str) -> QComboBox:
    editor = panel.row(field).editor
    assert isinstance(editor, QComboBox)
    return editor


def retype(qtbot, edit: QLineEdit, text: str) -> None:
    """Select the field's text and type over it, as a user does."""
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(edit, text)


def test_nothing_selected_shows_a_hint(panel: PropertiesPanel) -> None:
    assert panel.hint.isVisible() and panel.hint.text() == HINT
    assert panel.field_names() == []


def test_one_rack_shows_its_fields_with_units(panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    assert panel.header.text() == "Rack A01"
    assert not panel.hint.isVisible()
    assert panel.field_names() == [
        "id", "x_m", "y_m", "rotation_deg", "width_m", "depth_m", "gpu_model", "gpu_count",
        "it_power_kw", "liquid_fraction", "loop_id", "feed_id", "tokens_per_s_per_gpu", "workload",
        "nodes",
    ]  # fmt: skip
    power = panel.row("it_power_kw")
    assert (power.label.text(), line_edit(panel, "it_power_kw").text()) == ("IT power", "132")
    assert power.unit.text() == "kW"
    assert panel.row("liquid_fraction").unit.text() == FRACTION_UNIT
    assert panel.row("x_m").unit.text() == "m"
    assert "cold plates" in panel.row("liquid_fraction").label.toolTip()
    assert line_edit(panel, "it_power_kw").alignment() & Qt.AlignmentFlag.AlignRight
    assert line_edit(panel, "tokens_per_s_per_gpu").placeholderText() == "(catalog)"
    assert combo(panel, "gpu_model").currentText() == "GB200-NVL72"


def test_an_invalid_value_shows_why_as_typed_and_enter_does_not_commit(
    qtbot, panel, demo, choices
) -> None:
    panel.show_selection([demo.racks[0]], choices)
    edit = line_edit(panel, "it_power_kw")
    with qtbot.assertNotEmitted(panel.field_edit_requested):
        retype(qtbot, edit, "-5")
        assert panel.row("it_power_kw").problem.text() == (
            "must be greater than or equal to 0 (got -5.0)"
        )
        assert panel.row("it_power_kw").problem.isVisible()
        assert "border" in edit.styleSheet()
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert edit.text() == "-5"
    # Fixing the text clears the problem at the keystroke.
    qtbot.keyClick(edit, Qt.Key.Key_Home)
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    assert not panel.row("it_power_kw").problem.isVisible()
    assert edit.styleSheet() == ""


def test_a_valid_value_commits_on_enter(qtbot, panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    edit = line_edit(panel, "it_power_kw")
    retype(qtbot, edit, "150")
    with qtbot.waitSignal(panel.field_edit_requested) as signal:
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert signal.args == [FieldEdit(("A01",), "it_power_kw", 150.0)]


def test_a_racks_gpu_hosts_are_typed_as_one_line_of_names(qtbot, panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    edit = line_edit(panel, "nodes")
    assert (panel.row("nodes").label.text(), edit.text()) == ("GPU hosts", "")
    assert edit.placeholderText() == "(one host, named like the rack)"
    retype(qtbot, edit, "a01-n1, a01-n2 a01-n3,a01-n4")
    with qtbot.waitSignal(panel.field_edit_requested) as signal:
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert signal.args == [FieldEdit(("A01",), "nodes", ["a01-n1", "a01-n2", "a01-n3", "a01-n4"])]
    rack = demo.racks[0].model_copy(update={"nodes": ["a01-n1", "a01-n2"]})
    panel.show_selection([rack], choices)
    assert line_edit(panel, "nodes").text() == "a01-n1, a01-n2"


def test_leaving_a_field_commits_it_once(qtbot, panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    commits: list[FieldEdit] = []
    panel.field_edit_requested.connect(commits.append)
    panel.activateWindow()
    count, power = line_edit(panel, "gpu_count"), line_edit(panel, "it_power_kw")
    retype(qtbot, count, "64")
    qtbot.waitUntil(count.hasFocus)
    retype(qtbot, power, "150")  # leaving GPU count commits it
    qtbot.waitUntil(power.hasFocus)
    qtbot.keyClick(power, Qt.Key.Key_Return)
    count.setFocus()  # leaving after Enter commits nothing more
    qtbot.waitUntil(count.hasFocus)
    assert commits == [
        FieldEdit(("A01",), "gpu_count", 64),
        FieldEdit(("A01",), "it_power_kw", 150.0),
    ]


def test_unchanged_text_and_tabbing_through_commit_nothing(qtbot, panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    edit = line_edit(panel, "it_power_kw")
    with qtbot.assertNotEmitted(panel.field_edit_requested):
        retype(qtbot, edit, "132")
        qtbot.keyClick(edit, Qt.Key.Key_Return)
        qtbot.keyClick(line_edit(panel, "x_m"), Qt.Key.Key_Return)


def test_clearing_an_optional_field_commits_none(qtbot, panel, demo, choices) -> None:
    rack = demo.racks[0].model_copy(update={"tokens_per_s_per_gpu": 100.0})
    panel.show_selection([rack], choices)
    edit = line_edit(panel, "tokens_per_s_per_gpu")
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    with qtbot.waitSignal(panel.field_edit_requested) as signal:
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert signal.args == [FieldEdit(("A01",), "tokens_per_s_per_gpu", None)]


def test_escape_puts_the_shown_value_back(qtbot, panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    panel.activateWindow()
    edit = line_edit(panel, "it_power_kw")
    retype(qtbot, edit, "-5")
    qtbot.waitUntil(edit.hasFocus)
    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert edit.text() == "132"
    assert not panel.row("it_power_kw").problem.isVisible()


def test_disagreeing_racks_show_mixed_and_a_commit_names_them_all(
    qtbot, panel, demo, choices
) -> None:
    racks = [
        demo.racks[0],
        demo.racks[1].model_copy(update={"it_power_kw": 120.0}),
        demo.racks[2].model_copy(update={"it_power_kw": 90.0}),
    ]
    panel.show_selection(racks, choices)
    assert panel.header.text() == "3 racks"
    assert "id" not in panel.field_names()
    edit = line_edit(panel, "it_power_kw")
    assert (edit.text(), edit.placeholderText()) == ("", MIXED_TEXT)
    assert line_edit(panel, "gpu_count").text() == "72"  # the values they share still show
    qtbot.keyClicks(edit, "100")
    with qtbot.waitSignal(panel.field_edit_requested) as signal:
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert signal.args == [FieldEdit(("A01", "A02", "A03"), "it_power_kw", 100.0)]


def test_a_cdus_fluid_is_picked_from_its_allowed_values(qtbot, panel, demo, choices) -> None:
    panel.show_selection([demo.cdus[0]], choices)
    fluid = combo(panel, "fluid")
    assert [fluid.itemText(i) for i in range(fluid.count())] == ["water", "pg25"]
    fluid.setFocus()
    with qtbot.waitSignal(panel.field_edit_requested) as signal:
        qtbot.keyClick(fluid, Qt.Key.Key_Down)
    assert signal.args == [FieldEdit(("CDU-A1",), "fluid", "pg25")]


def test_a_rack_can_be_unplumbed_with_none(qtbot, panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    loop = combo(panel, "loop_id")
    assert [loop.itemText(i) for i in range(loop.count())] == ["(none)", *choices["loop_id"]]
    assert loop.currentText() == "L-A1"
    loop.setFocus()
    with qtbot.waitSignal(panel.field_edit_requested) as signal:
        qtbot.keyClick(loop, Qt.Key.Key_Home)
    assert signal.args == [FieldEdit(("A01",), "loop_id", None)]


def test_a_reference_the_choices_lack_still_shows(panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], {**choices, "loop_id": []})
    assert combo(panel, "loop_id").currentText() == "L-A1"


def test_the_wheel_scrolls_the_panel_rather_than_changing_a_combo(panel, demo, choices) -> None:
    panel.show_selection([demo.cdus[0]], choices)
    fluid = combo(panel, "fluid")
    centre = QPointF(fluid.rect().center())
    wheel = QWheelEvent(
        centre, fluid.mapToGlobal(centre), QPoint(0, 0), QPoint(0, -120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
        False,
    )  # fmt: skip
    QApplication.sendEvent(fluid, wheel)
    assert fluid.currentText() == "water"


def test_a_backend_problem_shows_under_its_field_and_keeps_the_typed_text(
    qtbot, panel, demo, choices
) -> None:
    panel.show_selection([demo.racks[0]], choices)
    edit = line_edit(panel, "id")
    retype(qtbot, edit, "A02")
    with qtbot.waitSignal(panel.field_edit_requested) as signal:
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert signal.args == [FieldEdit(("A01",), "id", "A02")]
    panel.show_problems(
        [
            FieldProblem("racks[A01].id", "id 'A02' is used more than once"),
            FieldProblem("racks[A01]", "position (20, 3) m is outside the 12.5 x 11 m floor"),
        ]
    )
    assert panel.row("id").problem.text() == "id 'A02' is used more than once"
    assert edit.text() == "A02"
    assert panel.item_problems.text() == "position (20, 3) m is outside the 12.5 x 11 m floor"
    # A re-show of the unchanged rack (the edit was refused) keeps what was typed.
    panel.show_selection([demo.racks[0]], choices)
    assert edit.text() == "A02"
    assert panel.row("id").problem.isVisible()


def test_mixed_kinds_edit_only_the_fields_they_share(qtbot, panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0], demo.cdus[0]], choices)
    assert panel.header.text() == "1 rack and 1 CDU"
    assert panel.field_names() == ["x_m", "y_m", "rotation_deg", "width_m", "depth_m"]
    edit = line_edit(panel, "rotation_deg")
    retype(qtbot, edit, "90")
    with qtbot.waitSignal(panel.field_edit_requested) as signal:
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert signal.args == [FieldEdit(("A01", "CDU-A1"), "rotation_deg", 90.0)]


def test_a_reshow_after_an_edit_keeps_the_rows_focus_and_cursor(
    qtbot, panel, demo, choices
) -> None:
    panel.show_selection([demo.racks[0]], choices)
    panel.activateWindow()
    power = line_edit(panel, "it_power_kw")
    count = line_edit(panel, "gpu_count")
    retype(qtbot, count, "64")  # typed, not committed
    retype(qtbot, power, "150.0")
    qtbot.waitUntil(power.hasFocus)
    qtbot.keyClick(power, Qt.Key.Key_Left)
    qtbot.keyClick(power, Qt.Key.Key_Return)
    # The window applies the edit and shows the updated rack again.
    panel.show_selection([demo.racks[0].model_copy(update={"it_power_kw": 150.0})], choices)
    assert line_edit(panel, "it_power_kw") is power
    assert power.hasFocus()
    assert (power.text(), power.cursorPosition()) == ("150", 3)
    assert count.text() == "64"


def test_an_edit_elsewhere_replaces_typed_text_whose_value_changed(panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    power = line_edit(panel, "it_power_kw")
    power.setText("150")  # typed, not committed
    panel.show_selection([demo.racks[0].model_copy(update={"it_power_kw": 99.0})], choices)
    assert power.text() == "99"


def test_a_new_selection_of_the_same_kind_reuses_the_rows(panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    power = line_edit(panel, "it_power_kw")
    power.setText("150")  # typed for A01, never committed: not carried over to A02
    panel.show_selection([demo.racks[1]], choices)
    assert line_edit(panel, "it_power_kw") is power
    assert (panel.header.text(), power.text()) == ("Rack A02", "132")


def test_a_replaced_row_finishing_its_edit_commits_nothing(qtbot, panel, demo, choices) -> None:
    panel.show_selection([demo.racks[0]], choices)
    panel.activateWindow()
    row = panel.row("it_power_kw")  # held, as a caller may: its edit outlives the rebuild
    power = line_edit(panel, "it_power_kw")
    retype(qtbot, power, "150")
    qtbot.waitUntil(power.hasFocus)
    with qtbot.assertNotEmitted(panel.field_edit_requested):
        # The window selected another rack too: the rows are rebuilt (no id row), and 150
        # was typed for A01 alone.
        panel.show_selection(demo.racks[:2], choices)
        qtbot.waitUntil(lambda: not power.hasFocus())
    assert panel.row("it_power_kw") is not row


def test_a_yes_no_field_is_a_checkbox_partly_checked_when_mixed(qtbot, panel, demo) -> None:
    models = demo.gpu_models
    assert [model.liquid_cooled for model in models] == [True, False]
    panel.show_selection(models, {})
    box = panel.row("liquid_cooled").editor
    assert isinstance(box, QCheckBox)
    assert box.checkState() == Qt.CheckState.PartiallyChecked
    with qtbot.waitSignal(panel.field_edit_requested) as signal:
        qtbot.keyClick(box, Qt.Key.Key_Space)
    assert signal.args == [FieldEdit(("GB200-NVL72", "H100-SXM"), "liquid_cooled", True)]
