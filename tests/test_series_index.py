"""The alarm rules' index of a snapshot's keys: keys that join a running hall are indexed on
their own, with the same result as indexing every key again."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.service.alarms.series_index import SeriesIndex
from factoryfloor.backend.service.alarms.system import AlarmSystem
from factoryfloor.backend.telemetry.placement import host_gpu
from factoryfloor.backend.telemetry.series import entity_key, gpu_key
from factoryfloor.backend.telemetry.store import TelemetryStore

DESIGN = load_design(Path(__file__).resolve().parent.parent / "resources" / "demo_hall.json")
RACK = DESIGN.racks[0]
KEYS = (
    [gpu_key(s.node, s.index, q) for s in (host_gpu(RACK, g) for g in range(4))
     for q in ("temp_c", "power_w")]
    + [gpu_key("stray-host", 0, "temp_c")]  # a host the plan places nowhere
    + [entity_key("rack", r.id, q) for r in DESIGN.racks[:3] for q in ("leak", "power_kw")]
    + [entity_key("cdu", DESIGN.cdus[0].id, "supply_temp_c"), "vendor/odd/key"]
)  # fmt: skip


def contents(index: SeriesIndex) -> tuple:
    return (
        index.size,
        index._by_entity,
        {
            kind: (c.columns, c.entities, c.subjects, c.hosts)
            for kind, c in index._by_quantity.items()
        },
    )


@settings(max_examples=60, deadline=None)
@given(st.permutations(KEYS), st.lists(st.integers(0, len(KEYS)), max_size=4))
def test_keys_joining_later_are_indexed_as_if_all_had_come_at_once(
    keys: list[str], cuts: list[int]
) -> None:
    everything = np.array(keys, dtype=object)
    grown = SeriesIndex(DESIGN, everything[:0])
    for cut in [*sorted(cuts), len(keys)]:
        assert grown.extends_to(everything[:cut])
        grown.extend(everything[:cut])
    assert contents(grown) == contents(SeriesIndex(DESIGN, everything))


def test_a_leak_point_that_joins_a_running_hall_raises_its_alarm() -> None:
    store = TelemetryStore()
    rack_keys = [entity_key("rack", r.id, "power_kw") for r in DESIGN.racks]
    store.write(rack_keys, [0.0] * len(rack_keys), [10.0] * len(rack_keys))
    with tempfile.TemporaryDirectory() as folder:
        system = AlarmSystem(DESIGN, Path(folder))
        assert not [t for t in system.step(store.snapshot("", 0.5), [], 0.5)
                    if t.rule_id == "rack-leak"]  # fmt: skip
        store.write([entity_key("rack", RACK.id, "leak")], [1.0], [1.0])
        raised = system.step(store.snapshot("", 1.5), [], 1.5)
        system.close()
    assert f"rack-leak@{RACK.id}" in {t.alarm_id for t in raised if t.event == "active"}
