"""The Alarms dock's table on its own: the service's order kept, priority in colour and in
words, a flood banner while the service says flood, and the actions it asks for."""

from __future__ import annotations

import time

from PySide6.QtGui import QColor

from factoryfloor.backend.service.messages import AlarmsChanged, AlarmShown
from factoryfloor.widgets.alarm_panel import FLOOD_TEXT, AlarmPanel


def alarm(i: int, priority: str, state: str = "unacknowledged",
          rule: str = "loop-heat-over-cdu") -> AlarmShown:  # fmt: skip
    message = f"L-{i}: 315 kW, over CDU-{i}'s 300 kW"
    return AlarmShown(f"{rule}@L-{i}", f"L-{i}", priority, state, message, 315.0,
                      1_700_000_000.0 + i)  # fmt: skip


def test_a_flood_is_bannered_and_grouped_by_rule_in_the_services_order(qtbot) -> None:
    """Eleven alarms of one rule fold into one row under the high alarm, so the medium ones
    below them stay on screen; a click lists the group's alarms, acknowledging it asks for
    each one still waiting."""
    panel = AlarmPanel()
    qtbot.addWidget(panel)
    panel.show()
    stale = [alarm(i, "low", rule="rack-stale") for i in range(2, 13)]
    stale[3] = alarm(5, "low", "acknowledged", rule="rack-stale")
    medium = [alarm(i, "medium", rule="rack-supply-hot") for i in (13, 14)]
    flood = [alarm(1, "high"), *medium, *stale]
    panel.show_alarms(AlarmsChanged(tuple(flood), True, time.time()))
    assert panel.flood_banner.isVisible() and panel.flood_banner.label.text() == FLOOD_TEXT
    assert panel.table.rowCount() == 4
    assert [panel.table.item(r, 1).text() for r in range(4)] == [
        "L-1", "L-13", "L-14", "L-2, L-3, L-4 and 8 more"]  # fmt: skip
    assert panel.table.item(3, 2).text().startswith("11 alarms from rule rack-stale, e.g. L-2")
    assert panel.table.item(3, 3).text() == "10 of 11 unacknowledged"
    assert panel.table.item(0, 0).text() == "High"
    assert panel.table.item(0, 0).background().color() == QColor("#c62828")
    assert panel.table.item(3, 0).background().color() == QColor("#f9d648")

    panel.table.cellClicked.emit(3, 2)  # open the group
    assert panel.table.rowCount() == 15
    assert panel.table.item(4, 1).text() == "L-2"
    panel.show_alarms(AlarmsChanged(tuple(flood), True, time.time()))  # stays open
    assert panel.table.rowCount() == 15
    panel.table.selectRow(3)
    assert panel.acknowledge_button.text() == "Acknowledge 10"
    asked = []
    panel.action_asked.connect(asked.append)
    panel.acknowledge_button.click()
    assert [r.action for r in asked] == ["acknowledge"] * 10
    assert "rack-stale@L-5" not in {r.alarm_id for r in asked}  # already acknowledged

    panel.show_alarms(AlarmsChanged((alarm(1, "high", "acknowledged"),), False, time.time()))
    assert not panel.flood_banner.isVisible()
    assert panel.table.rowCount() == 1
    assert panel.table.item(0, 3).text() == "Acknowledged"


def test_a_click_on_an_alarm_asks_to_find_it(qtbot) -> None:
    panel = AlarmPanel()
    qtbot.addWidget(panel)
    panel.show_alarms(AlarmsChanged((alarm(1, "medium"), alarm(2, "low")), False, time.time()))
    with qtbot.waitSignal(panel.alarm_chosen) as chosen:
        panel.table.cellClicked.emit(1, 0)
    assert chosen.args[0].entity == "L-2"


def test_acknowledge_asks_with_the_note_and_a_refusal_keeps_it(qtbot) -> None:
    panel = AlarmPanel()
    qtbot.addWidget(panel)
    panel.show_alarms(AlarmsChanged((alarm(1, "medium"), alarm(2, "low")), False, time.time()))
    assert not panel.acknowledge_button.isEnabled()  # nothing chosen yet
    panel.table.selectRow(1)
    panel.note.setText("checking pump")
    with qtbot.waitSignal(panel.action_asked) as asked:
        panel.acknowledge_button.click()
    request = asked.args[0]
    assert request.alarm_id == "loop-heat-over-cdu@L-2"
    assert (request.action, request.note) == ("acknowledge", "checking pump")
    panel.show_answer("loop-heat-over-cdu@L-2: a viewer may not acknowledge alarms")
    assert panel.note.text() == "checking pump" and "viewer" in panel.answer.text()

    panel.shelve_for.setCurrentText("4 h")
    with qtbot.waitSignal(panel.action_asked) as asked:
        panel.shelve_button.click()
    assert asked.args[0].action == "shelve"
    assert abs(asked.args[0].shelve_until_s - (time.time() + 4 * 3600)) < 60


def test_the_plan_rings_alarmed_racks_in_their_priority_colour_and_blinks_the_unacknowledged(
    qtbot,
) -> None:
    """The highest priority at a rack wins; a selected rack still shows its alarm (the band is
    inside the selection outline); only what waits for an acknowledgement blinks."""
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QImage, QPainter

    from factoryfloor.backend.design.design_file import load_design
    from factoryfloor.backend.design.figures import compute_figures
    from factoryfloor.resources import demo_path
    from factoryfloor.widgets.alarm_panel import PRIORITY_COLOURS, plan_marks
    from factoryfloor.widgets.floor_plan import FloorPlanScene

    design = load_design(demo_path())
    scene = FloorPlanScene()
    scene.show_design(design, compute_figures(design))
    low, high = alarm(1, "low", "acknowledged"), alarm(2, "high", "acknowledged")
    waiting = alarm(3, "medium")
    on_a01 = [AlarmShown(a.alarm_id, "A01", a.priority, a.state, a.message, a.value,
                         a.changed_s) for a in (low, high)]  # fmt: skip
    on_b01 = AlarmShown(waiting.alarm_id, "B01", "medium", "unacknowledged", "", None, 0.0)
    shown = AlarmsChanged(tuple([*on_a01, on_b01]), False, time.time())
    marks = plan_marks(shown)
    assert marks["A01"].colour == PRIORITY_COLOURS["high"] and not marks["A01"].unacknowledged
    assert marks["B01"].unacknowledged

    a01, b01 = scene.items_by_id["A01"], scene.items_by_id["B01"]
    a01.setSelected(True)
    scene.show_alarms(marks)
    assert a01.alarm == PRIORITY_COLOURS["high"]

    def rendered(item) -> set[tuple[int, int, int]]:
        """The colours of the item as drawn at 40 px a metre."""
        box = item.sceneBoundingRect()
        image = QImage(
            round(box.width() * 40), round(box.height() * 40), QImage.Format.Format_RGB32
        )
        image.fill(QColor("white"))
        painter = QPainter(image)
        scene.render(painter, QRectF(image.rect()), box)
        painter.end()
        return {QColor(image.pixel(x, y)).getRgb()[:3] for x in range(image.width())
                for y in range(image.height())}  # fmt: skip

    assert PRIORITY_COLOURS["high"].getRgb()[:3] in rendered(a01)  # selected, still ringed
    blinked = []
    qtbot.waitUntil(lambda: blinked.append(b01.alarm) or len(set(map(str, blinked))) > 1,
                    timeout=3_000)  # fmt: skip
    assert a01.alarm == PRIORITY_COLOURS["high"]  # acknowledged: steady
    scene.show_alarms({})
    assert a01.alarm is None and b01.alarm is None


def test_the_optional_sound_is_made_once_for_each_new_high_priority_alarm(qtbot) -> None:
    """Off until turned on; then a new high alarm sounds, the same list again does not, a medium
    one does not, and one that cleared and came back does."""
    from factoryfloor.app.alarm_sound import AlarmSound
    from factoryfloor.app.gui import create_application

    create_application()
    sound = AlarmSound()
    sounded: list[list[str]] = []
    sound.sounded.connect(sounded.append)
    high = AlarmsChanged((alarm(1, "high"), alarm(2, "medium")), False, time.time())
    sound.set_enabled(False)
    sound.follow(high)
    assert sounded == []
    sound.set_enabled(True)
    try:
        sound.follow(AlarmsChanged((), False, time.time()))
        sound.follow(high)
        sound.follow(high)
        sound.follow(AlarmsChanged((alarm(2, "medium"), alarm(3, "medium")), False, time.time()))
        sound.follow(high)
    finally:
        sound.set_enabled(False)
    assert sounded == [["loop-heat-over-cdu@L-1"], ["loop-heat-over-cdu@L-1"]]


def test_the_walls_strip_names_the_most_urgent_alarm_waiting_and_the_counts(qtbot) -> None:
    from factoryfloor.widgets.alarm_strip import CLEAR_TEXT, UNKNOWN_TEXT, AlarmStrip

    strip = AlarmStrip()
    qtbot.addWidget(strip)
    assert strip.message.text() == UNKNOWN_TEXT  # before the service has said anything
    waiting = (alarm(1, "high"), alarm(2, "low"), alarm(3, "low"),
               alarm(4, "medium", "acknowledged"))  # fmt: skip
    strip.show_alarms(AlarmsChanged(waiting, False, time.time()))
    assert strip.counts.text() == "1 high · 2 low waiting"
    assert strip.message.text() == "High: L-1: 315 kW, over CDU-1's 300 kW"
    assert "#c62828" in strip.styleSheet()
    strip.show_alarms(AlarmsChanged((alarm(4, "medium", "acknowledged"),), False, time.time()))
    assert strip.message.text() == CLEAR_TEXT and not strip.counts.isVisibleTo(strip)
    strip.show_alarms(None)
    assert strip.message.text() == UNKNOWN_TEXT


def test_a_leaks_alarm_offers_isolating_its_rack_in_one_step(qtbot) -> None:
    """Only a single leak alarm offers it, and only where the panel takes actions (not on the
    wall); pressing it asks for that rack's isolation (the window then confirms it)."""
    leak = AlarmShown("rack-leak@A01", "A01", "high", "unacknowledged", "A01: leak detected",
                      1.0, 1_700_000_000.0)  # fmt: skip
    panel = AlarmPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_alarms(AlarmsChanged((leak, alarm(2, "low")), False, time.time()))
    panel.table.selectRow(1)
    assert not panel.isolate_button.isVisible()
    panel.table.selectRow(0)
    assert panel.isolate_button.isVisible()
    with qtbot.waitSignal(panel.isolate_asked) as asked:
        panel.isolate_button.click()
    assert asked.args == ["A01"]
    wall = AlarmPanel(actions=False)
    qtbot.addWidget(wall)
    wall.show()
    wall.show_alarms(AlarmsChanged((leak,), False, time.time()))
    wall.table.selectRow(0)
    assert not wall.isolate_button.isVisible()
