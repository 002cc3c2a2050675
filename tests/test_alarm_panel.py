"""The Alarms dock's table on its own: the service's order kept, priority in colour and in
words, a flood banner while the service says flood, and the actions it asks for."""

from __future__ import annotations

import time

from PySide6.QtGui import QColor

from factoryfloor.backend.service.messages import AlarmsChanged, AlarmShown
from factoryfloor.widgets.alarm_panel import FLOOD_TEXT, AlarmPanel


def alarm(i: int, priority: str, state: str = "unacknowledged") -> AlarmShown:
    message = f"L-{i}: 315 kW, over CDU-{i}'s 300 kW"
    return AlarmShown(f"loop-heat-over-cdu@L-{i}", f"L-{i}", priority, state, message, 315.0,
                      1_700_000_000.0 + i)  # fmt: skip


def test_a_flood_is_bannered_and_the_services_order_kept(qtbot) -> None:
    panel = AlarmPanel()
    qtbot.addWidget(panel)
    panel.show()
    flood = [alarm(1, "high"), *(alarm(i, "low") for i in range(2, 13))]
    panel.show_alarms(AlarmsChanged(tuple(flood), True, time.time()))
    assert panel.flood_banner.isVisible() and panel.flood_banner.label.text() == FLOOD_TEXT
    assert panel.table.rowCount() == 12
    assert [panel.table.item(r, 1).text() for r in (0, 1, 11)] == ["L-1", "L-2", "L-12"]
    assert panel.table.item(0, 0).text() == "High"
    assert panel.table.item(0, 0).background().color() == QColor("#c62828")
    assert panel.table.item(1, 0).background().color() == QColor("#f9d648")

    panel.show_alarms(AlarmsChanged((alarm(1, "high", "acknowledged"),), False, time.time()))
    assert not panel.flood_banner.isVisible()
    assert panel.table.item(0, 3).text() == "Acknowledged"


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
