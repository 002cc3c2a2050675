"""Offline control: the simulated facility answers CDU setpoints and rack isolation itself;
and which executor a running service uses for them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from factoryfloor.backend.design.design_file import load_design
from factoryfloor.backend.design.model import Design
from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.design.telemetry_settings import TelemetrySettings
from factoryfloor.backend.service.control.bms_control import MqttFacilityControl
from factoryfloor.backend.service.control.commands import IsolateRack, SetCduSupplyTemp
from factoryfloor.backend.service.control.executors import ControlFailure
from factoryfloor.backend.service.control.facility_executor import facility_control
from factoryfloor.backend.service.control.sim_facility_control import SimulatedFacilityControl
from factoryfloor.backend.telemetry.sources.assemble import build_sources
from factoryfloor.backend.telemetry.sources.sim_plant import CDU_SUPPLY_TAU_S
from factoryfloor.backend.telemetry.sources.simulator import FacilitySimulator
from factoryfloor.backend.telemetry.store import TelemetryStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo() -> Design:
    return load_design(ROOT / "resources" / "demo_hall.json")


def run(sim: FacilitySimulator, seconds: int) -> dict[str, float]:
    """The values after ``seconds`` one-second steps, by key."""
    values = np.empty(0)
    for _ in range(seconds):
        values = sim.step(1.0)
    return dict(zip(sim.keys, values.tolist(), strict=True))


@pytest.mark.asyncio
async def test_a_cdu_setpoint_is_confirmed_and_its_loop_cools_towards_it(demo: Design) -> None:
    sim, twin = FacilitySimulator(demo, seed=1), FacilitySimulator(demo, seed=1)
    control = SimulatedFacilityControl(sim.plant)
    command = SetCduSupplyTemp(cdu_id="CDU-A1", temp_c=25.0)
    assert control.current(command) == 30.0
    assert await control.request(command, timeout_s=5.0) == 25.0
    after = run(sim, int(CDU_SUPPLY_TAU_S))
    before = run(twin, int(CDU_SUPPLY_TAU_S))
    assert after["cdu/CDU-A1/supply_temp_sp_c"] == 25.0
    assert after["cdu/CDU-A1/supply_temp_c"] == pytest.approx(30.0 - 5.0 * (1 - math.exp(-1)))
    assert after["cdu/CDU-A2/supply_temp_c"] == 30.0
    on_loop = next(iter(demo.racks_on_loop("L-A1")))
    gpu_temps = [k for k in sim.keys if k.startswith(f"gpu/{on_loop.id}") and k.endswith("temp_c")]
    assert gpu_temps and all(after[k] < before[k] for k in gpu_temps)


@pytest.mark.asyncio
async def test_an_electrically_isolated_rack_draws_nothing_until_released(demo: Design) -> None:
    sim = FacilitySimulator(demo, seed=2)
    control = SimulatedFacilityControl(sim.plant)
    isolate = IsolateRack(rack_id="A01", circuit="electrical", isolated=True)
    assert await control.request(isolate, timeout_s=5.0) == 1.0
    values = run(sim, 1)
    assert values["rack/A01/electrical_isolated"] == 1.0
    assert values["rack/A01/power_kw"] == 0.0 and values["rack/A01/tokens_per_s"] == 0.0
    gpus = [k for k in sim.keys if k.startswith("gpu/A01") and k.endswith("/power_w")]
    assert gpus and all(values[k] == 0.0 for k in gpus)
    assert values["rack/A02/power_kw"] > 0.0
    release = IsolateRack(rack_id="A01", circuit="electrical", isolated=False)
    assert await control.request(release, timeout_s=5.0) == 0.0
    assert run(sim, 1)["rack/A01/power_kw"] > 0.0


@pytest.mark.asyncio
async def test_a_liquid_isolated_racks_heat_leaves_its_loop(demo: Design) -> None:
    sim = FacilitySimulator(demo, seed=3)
    control = SimulatedFacilityControl(sim.plant)
    command = IsolateRack(rack_id="A01", circuit="liquid", isolated=True)
    assert await control.request(command, timeout_s=5.0) == 1.0
    values = run(sim, 1)
    assert values["rack/A01/liquid_isolated"] == 1.0
    others = [r for r in demo.racks_on_loop("L-A1") if r.id != "A01"]
    expected_kw = sum(values[f"rack/{r.id}/power_kw"] * r.liquid_fraction for r in others)
    assert values["loop/L-A1/heat_kw"] == pytest.approx(expected_kw, rel=1e-9)


@pytest.mark.asyncio
async def test_a_plant_that_ignores_requests_leaves_them_unconfirmed(demo: Design) -> None:
    sim = FacilitySimulator(demo)
    sim.plant.ignore_requests = True
    control = SimulatedFacilityControl(sim.plant)
    command = SetCduSupplyTemp(cdu_id="CDU-B1", temp_c=27.0)
    with pytest.raises(ControlFailure) as failure:
        await control.request(command, timeout_s=0.05)
    assert failure.value.kind == "unconfirmed"
    assert failure.value.reason == (
        "CDU CDU-B1: the BMS's supply_temp_sp_c reads 30 °C 0.05 s after asking for 27 °C"
    )
    assert control.current(command) == 30.0


@pytest.mark.asyncio
async def test_equipment_the_facility_does_not_have_is_not_writable(demo: Design) -> None:
    control = SimulatedFacilityControl(FacilitySimulator(demo).plant)
    for command in (SetCduSupplyTemp(cdu_id="CDU-Z9", temp_c=25.0), IsolateRack(rack_id="Z99")):
        assert control.current(command) is None
        with pytest.raises(ControlFailure, match="not in the simulated facility") as failure:
            await control.request(command, timeout_s=5.0)
        assert failure.value.kind == "not_writable"


def test_the_service_sends_facility_commands_to_the_bms_when_it_has_a_broker(demo: Design) -> None:
    store = TelemetryStore()
    offline = build_sources(demo, TelemetrySettings(simulate=True), store)
    assert isinstance(facility_control(offline), SimulatedFacilityControl)
    both = TelemetrySettings(simulate=True, mqtt=MqttConfig())
    assert isinstance(facility_control(build_sources(demo, both, store)), MqttFacilityControl)
    assert facility_control(build_sources(demo, TelemetrySettings(simulate=False), store)) is None
