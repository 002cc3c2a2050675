"""The ISA-18.2 state machine, driven through the real alarm system: readings written to a real
store, transitions journaled to a real SQLite file.

The stateful test drives leak states, operator actions and the clock at random and checks after
every step that no active unacknowledged alarm is ever lost, that shelving ends on time, and
that the journal holds every transition (reopening it gives back exactly the alarms in memory).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from alarm_plans import Feed, small_hall
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from factoryfloor.backend.design.alarm_rules import StateRule
from factoryfloor.backend.service.alarms.journal import AlarmJournal, JournalQuery
from factoryfloor.backend.service.alarms.states import (
    Action,
    ActionRefused,
    AlarmState,
    authorize,
)
from factoryfloor.backend.service.alarms.system import AlarmSystem
from factoryfloor.backend.service.roles import Role

RACKS = ("R1", "R2", "R3")
LEAK_RULE = StateRule(id="leak", priority="high", series="rack", quantity="leak",
                      meaning="leak detected")  # fmt: skip
OWED = (AlarmState.UNACKNOWLEDGED, AlarmState.RTN_UNACKNOWLEDGED)


class AlarmMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="alarms-"))
        self.system = AlarmSystem(small_hall([LEAK_RULE], racks=len(RACKS)), self.folder)
        self.feed = Feed()
        self.time_s = 1_000.0
        self.transitions = 0
        self.owed: set[str] = set()
        """Alarms raised and not yet acknowledged, shelved or taken out of service."""

    def teardown(self) -> None:
        self.system.close()

    def _step(self) -> None:
        made = self.system.step(self.feed.snapshot(self.time_s), [], self.time_s)
        self.transitions += len(made)
        for t in made:
            if t.new_state is AlarmState.UNACKNOWLEDGED:
                self.owed.add(t.alarm_id)

    @rule(rack=st.sampled_from(RACKS), leak=st.booleans())
    def leak(self, rack: str, leak: bool) -> None:
        self.time_s += 1.0
        self.feed.write(self.time_s, {f"rack/{rack}/leak": float(leak)})
        self._step()

    @rule(seconds=st.floats(0.5, 4000.0))
    def time_passes(self, seconds: float) -> None:
        self.time_s += seconds
        self.feed.write(self.time_s, {})
        self._step()

    def _act(self, action: Action, rack: str, role: Role, **options: object) -> None:
        alarm_id = f"leak@{rack}"
        before = self.system.alarms.get(alarm_id)
        try:
            self.system.act(alarm_id, action, "ann", role, self.time_s, **options)  # type: ignore[arg-type]
        except ActionRefused:
            assert self.system.alarms.get(alarm_id) == before  # nothing changed
            return
        assert role is not Role.VIEWER
        self.transitions += 1
        if action in (Action.ACKNOWLEDGE, Action.SHELVE):
            self.owed.discard(alarm_id)
        elif self.system.alarms[alarm_id].state is AlarmState.UNACKNOWLEDGED:
            self.owed.add(alarm_id)  # back from the shelf, still active: owed again

    @rule(rack=st.sampled_from(RACKS), role=st.sampled_from(list(Role)), note=st.text(max_size=5))
    def acknowledge(self, rack: str, role: Role, note: str) -> None:
        self._act(Action.ACKNOWLEDGE, rack, role, note=note)

    @rule(rack=st.sampled_from(RACKS), role=st.sampled_from(list(Role)),
          minutes=st.floats(0.1, 600.0))  # fmt: skip
    def shelve(self, rack: str, role: Role, minutes: float) -> None:
        self._act(Action.SHELVE, rack, role, shelve_until_s=self.time_s + minutes * 60)

    @rule(rack=st.sampled_from(RACKS), role=st.sampled_from(list(Role)))
    def unshelve(self, rack: str, role: Role) -> None:
        self._act(Action.UNSHELVE, rack, role)

    @invariant()
    def no_unacknowledged_alarm_is_lost(self) -> None:
        for alarm_id in self.owed:
            alarm = self.system.alarms[alarm_id]
            assert alarm.state in OWED, f"{alarm_id} owed an acknowledgement but {alarm.state}"

    @invariant()
    def shelving_ends_on_time(self) -> None:
        for alarm in self.system.alarms.values():
            if alarm.state is AlarmState.SHELVED:
                assert alarm.shelved_until_s is not None
                assert self.time_s < alarm.shelved_until_s

    @invariant()
    def every_transition_is_journaled(self) -> None:
        journal = AlarmJournal(self.folder / "alarms.sqlite3", read_only=True)
        try:
            assert len(journal.search(JournalQuery())) == self.transitions
            assert journal.restore() == self.system.alarms
        finally:
            journal.close()

    @invariant()
    def condition_matches_the_readings(self) -> None:
        latest = self.feed.snapshot(self.time_s)
        for key, value in zip(latest.keys.tolist(), latest.values.tolist(), strict=True):
            rack = key.split("/")[1]
            alarm = self.system.alarms.get(f"leak@{rack}")
            assert (alarm is not None and alarm.active) == (value == 1.0)


AlarmMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                          deadline=None)  # fmt: skip
TestAlarmStateMachine = AlarmMachine.TestCase


@pytest.mark.parametrize("action", list(Action))
def test_a_viewer_may_take_no_action_on_an_alarm(action: Action) -> None:
    with pytest.raises(ActionRefused, match="a viewer may not"):
        authorize(Role.VIEWER, action, "leak@R1")


def test_operators_acknowledge_and_shelve_but_only_engineers_take_alarms_out_of_service() -> None:
    authorize(Role.OPERATOR, Action.ACKNOWLEDGE, "leak@R1")
    authorize(Role.OPERATOR, Action.SHELVE, "leak@R1")
    with pytest.raises(ActionRefused, match="needs engineer"):
        authorize(Role.OPERATOR, Action.REMOVE_FROM_SERVICE, "leak@R1")
    authorize(Role.ENGINEER, Action.REMOVE_FROM_SERVICE, "leak@R1")


def test_a_viewers_refused_acknowledgement_changes_and_journals_nothing(tmp_path: Path) -> None:
    feed = Feed()
    system = AlarmSystem(small_hall([LEAK_RULE]), tmp_path)
    feed.write(10.0, {"rack/R1/leak": 1.0})
    system.step(feed.snapshot(10.0), [], 10.0)
    for action, options in ((Action.ACKNOWLEDGE, {}), (Action.SHELVE, {"shelve_until_s": 99.0})):
        with pytest.raises(ActionRefused, match="viewer"):
            system.act("leak@R1", action, "wall", Role.VIEWER, 11.0, **options)  # type: ignore[arg-type]
    assert system.alarms["leak@R1"].state is AlarmState.UNACKNOWLEDGED
    assert [t.event for t in system.journal.search()] == ["active"]
    acked = system.act("leak@R1", Action.ACKNOWLEDGE, "ann", Role.OPERATOR, 12.0, "valve closed")
    assert (acked.user, acked.note, acked.new_state) == ("ann", "valve closed",
                                                         AlarmState.ACKNOWLEDGED)  # fmt: skip
    system.close()


def test_shelving_needs_an_expiry_within_a_day(tmp_path: Path) -> None:
    feed = Feed()
    system = AlarmSystem(small_hall([LEAK_RULE]), tmp_path)
    feed.write(10.0, {"rack/R1/leak": 1.0})
    system.step(feed.snapshot(10.0), [], 10.0)
    for until in (None, 5.0, 10.0 + 25 * 3600):
        with pytest.raises(ActionRefused, match="shelve until"):
            system.act("leak@R1", Action.SHELVE, "ann", Role.OPERATOR, 10.0, shelve_until_s=until)
    system.close()
