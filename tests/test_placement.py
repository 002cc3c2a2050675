"""GPUs of real hosts on the plan: the design says which hosts stand in a rack, hosts named like
a rack stand in it, and a host the design places nowhere is never drawn on a rack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.telemetry.history import LiveHistory
from factoryfloor.backend.telemetry.live_figures import LiveAggregator
from factoryfloor.backend.telemetry.placement import GpuPlacement, RackGpu, host_gpu
from factoryfloor.backend.telemetry.series import gpu_key
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo_hall.json"


@pytest.fixture
def design() -> Design:
    """The demo hall with rack A01's 72 GPUs on 18 trays of 4, named as their hosts are."""
    demo = load_design(DEMO)
    racks = list(demo.racks)
    racks[0] = racks[0].model_copy(update={"nodes": [f"a01-tray{n:02}" for n in range(18)]})
    return demo.model_copy(update={"racks": racks})


def test_listed_hosts_hold_equal_shares_of_their_rack_in_order(design: Design) -> None:
    placement = GpuPlacement(design)
    assert placement.place("a01-tray00", 0) == RackGpu("A01", 0)
    assert placement.place("a01-tray02", 3) == RackGpu("A01", 11)
    assert placement.place("A01-TRAY17", 3) == RackGpu("A01", 71)  # host names ignore case
    assert placement.place("a01-tray02", 4) is None  # past the tray's share of 4
    assert placement.place("A01", 0) is None  # a listing rack is not also matched by name


def test_unlisted_hosts_are_placed_by_the_rack_they_are_named_after(design: Design) -> None:
    placement = GpuPlacement(design)
    assert placement.place("A02", 5) == RackGpu("A02", 5)
    assert placement.place("a-02", 5) == RackGpu("A02", 5)  # case and separators ignored
    assert placement.place("a02.hall1.example", 71) == RackGpu("A02", 71)
    assert placement.place("a02.hall1.example", 72) is None  # the rack has 72 GPUs
    assert placement.place("gpu-host-17", 0) is None
    assert placement.place("b01", 0) == RackGpu("B01", 0)


def test_host_gpu_is_the_inverse_of_placement(design: Design) -> None:
    placement = GpuPlacement(design)
    for rack in design.racks[:3]:
        for gpu in range(rack.gpu_count):
            host = host_gpu(rack, gpu)
            assert placement.place(host.node, host.index) == RackGpu(rack.id, gpu)


def test_a_hosts_gpu_lands_on_its_rack_in_the_history_and_the_live_figures(
    design: Design,
) -> None:
    """What the heatmap and the plan show: a reading of tray 2's GPU 3 is A01's 12th GPU."""
    keys = [gpu_key("a01-tray02", 3, "util_pct"), gpu_key("stranger", 0, "util_pct")]
    values = np.array([87.0, 5.0])
    history = LiveHistory(design)
    history.add(keys, 100.0, values)
    window = history.gpu_window("util_pct", 60.0, 100.0)
    placed = np.argwhere(np.isfinite(window.values))
    assert {history.gpu_rows[row] for _column, row in placed} == {("A01", 11)}
    assert np.nanmax(window.values) == 87.0  # the stranger's 5 % is on no rack

    live = LiveAggregator(design).update(keys, values, "util_pct")
    assert live.rack_values == {"A01": 87.0}


def test_the_simulator_names_gpus_after_the_hosts_the_design_lists(design: Design) -> None:
    keys = FacilitySimulator(design).keys
    assert gpu_key("a01-tray17", 3, "power_w") in keys
    assert gpu_key("A01", 0, "power_w") not in keys
    assert gpu_key("A02", 71, "power_w") in keys
