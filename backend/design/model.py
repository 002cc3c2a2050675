"""The facility design model: the plan an engineer draws, as plain validated data.

The model is pydantic so that loading a design file checks every field in one pass and reports
every problem with its path (``racks[3].it_power_kw``), which an engineer needs to fix a file by
hand. It imports no Qt: the same objects feed the editor, the ``check`` command and the simulator.

Conventions: plan coordinates are metres from the hall's top-left corner, ``x_m`` to the right and
``y_m`` down (as drawn on screen); positions are the centre of an item's footprint; rotations are
degrees clockwise. Every id is unique across the whole design, so a problem can name its culprit
by id alone.

Relations are stored once: a rack names the loop it is plumbed to and the feed it draws from; the
racks a loop serves and a feed carries are derived (:meth:`Design.racks_on_loop`), so a file can
never disagree with itself about them.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from factoryfloor.backend.design.alarm_rules import AlarmRule, default_rules
from factoryfloor.backend.design.model_base import EntityId, StrictModel
from factoryfloor.backend.design.telemetry_settings import TelemetrySettings

SCHEMA_VERSION = 1
"""The design-file schema this version reads and writes."""

Fluid = Literal["water", "pg25"]
"""Coolant of a TCS loop: plain water, or 25 % propylene glycol."""

Metres = Annotated[float, Field(ge=0, le=10_000)]
Rotation = Annotated[float, Field(ge=0, lt=360)]
Footprint = Annotated[float, Field(gt=0, le=50)]
Fraction = Annotated[float, Field(ge=0, le=1)]
NodeName = Annotated[
    str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
]
"""A GPU host as its telemetry names it: NVML's host name, a node agent's id."""


class WorkloadProfile(StrictModel):
    """How hard one workload loads a GPU model, so its tokens/s follow the power limit and the
    locked clock with the published shape (``gpu_operating_point``): nearly flat from the
    maximum down to a knee, then falling; flat above its draw for decode-heavy work."""

    workload: str = Field(min_length=1, max_length=200)
    load: float = Field(gt=0, le=1)
    """Share of the TDP above idle the workload draws at the highest clock, unconstrained."""
    compute_bound: float = Field(ge=0, le=1)
    """Share of its time limited by the SMs rather than by memory (1: all compute)."""
    sources: list[str] = Field(default_factory=list)


class GpuModel(StrictModel):
    """One catalog entry: a GPU (or GPU system) with the figures the design needs.

    ``tokens_per_s_per_gpu`` is tied to ``reference_workload``: figures for different workloads
    (Llama 2 70B vs Llama 3.1 405B) are never added together.
    """

    id: EntityId
    name: str = Field(min_length=1, max_length=120)
    gpu_power_w: float = Field(gt=0, le=10_000)
    system_power_per_gpu_w: float = Field(gt=0, le=20_000)
    """IT power per GPU at rack level (host CPU, NICs, switches, fans included); prefills racks."""
    tokens_per_s_per_gpu: float | None = Field(default=None, ge=0, le=1e7)
    """None where no published figure exists: the rack's token capacity is then unknown."""
    reference_workload: str = Field(default="", max_length=200)
    liquid_cooled: bool = False
    power_limit_min_w: float | None = Field(default=None, gt=0, le=10_000)
    power_limit_max_w: float | None = Field(default=None, gt=0, le=10_000)
    """The power limits the driver accepts (NVML's limit constraints); None where no source
    gives them (the simulator then scales the H100's 200-700 W to ``gpu_power_w``)."""
    sm_clock_min_mhz: float | None = Field(default=None, gt=0, le=10_000)
    sm_clock_max_mhz: float | None = Field(default=None, gt=0, le=10_000)
    """The SM clocks it supports (locked clocks must lie within); None where no source gives
    them (the simulator then takes the H100's 345-1,980 MHz)."""
    sources: list[str] = Field(default_factory=list)
    notes: str = Field(default="", max_length=2000)
    workload_profiles: list[WorkloadProfile] = Field(default_factory=list)
    """How each workload it serves loads it; a rack whose workload has one is simulated as a
    steady inference server, the others through random idle/prefill/decode phases."""

    def profile(self, workload: str) -> WorkloadProfile | None:
        return next((p for p in self.workload_profiles if p.workload == workload), None)

    @model_validator(mode="after")
    def _ranges_in_order(self) -> Self:
        for low, high in (("power_limit_min_w", "power_limit_max_w"),
                          ("sm_clock_min_mhz", "sm_clock_max_mhz")):  # fmt: skip
            low_value, high_value = getattr(self, low), getattr(self, high)
            if low_value is not None and high_value is not None and low_value > high_value:
                raise ValueError(f"{low} {low_value:g} is above {high} {high_value:g}")
        names = [p.workload for p in self.workload_profiles]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise ValueError(f"workload_profiles[{i}]: workload {name!r} is profiled twice")
        return self


class Floor(StrictModel):
    width_m: float = Field(gt=0, le=10_000)
    depth_m: float = Field(gt=0, le=10_000)


class PlacedItem(StrictModel):
    """Equipment standing on the floor: a footprint centred on its position, rotated in place."""

    id: EntityId
    x_m: Metres
    y_m: Metres
    rotation_deg: Rotation = 0.0
    width_m: Footprint = 0.6
    depth_m: Footprint = 1.2


class Rack(PlacedItem):
    gpu_model: EntityId
    gpu_count: int = Field(ge=0, le=10_000)
    it_power_kw: float = Field(ge=0, le=5_000)
    liquid_fraction: Fraction
    """Share of the rack's heat captured by cold plates (an assumption: no primary figure)."""
    loop_id: EntityId | None = None
    feed_id: EntityId | None = None
    tokens_per_s_per_gpu: float | None = Field(default=None, ge=0, le=1e7)
    """Override of the catalog figure, for the model this rack actually serves."""
    workload: str | None = Field(default=None, max_length=200)
    """Override of the catalog's reference workload, with ``tokens_per_s_per_gpu``."""
    nodes: list[NodeName] = Field(default_factory=list, max_length=1024)
    """The GPU hosts in this rack, in GPU order, each holding an equal share of its GPUs (an
    NVL72 rack: 18 trays of 4). Empty: the host named like the rack (``A01``, or
    ``a01.site.example``) holds them all."""


class Cdu(PlacedItem):
    """A coolant distribution unit: the heat exchanger between a TCS loop and facility water."""

    capacity_kw: float = Field(gt=0, le=50_000)
    rated_flow_lpm: float = Field(gt=0, le=100_000)
    supply_temp_c: float = Field(ge=5, le=60)
    fluid: Fluid = "water"


class CoolingLoop(StrictModel):
    """A TCS loop: one CDU, the pipe route drawn on the plan, and its design delta-T."""

    id: EntityId
    cdu_id: EntityId
    design_delta_t_k: float = Field(gt=0, le=40)
    route: list[tuple[Metres, Metres]] = Field(default_factory=list, max_length=10_000)
    """Pipe polyline in plan metres, from the CDU along the racks it serves."""


class PowerFeed(StrictModel):
    id: EntityId
    x_m: Metres
    y_m: Metres
    capacity_kw: float = Field(gt=0, le=100_000)


class Assumptions(StrictModel):
    """Stated overheads behind the PUE estimate and the warning thresholds, editable per design."""

    liquid_cooling_overhead: float = Field(default=0.05, ge=0, le=2)
    """kW of cooling plant power (pumps, dry coolers) per kW of heat rejected to liquid."""
    air_cooling_overhead: float = Field(default=0.35, ge=0, le=2)
    """kW of cooling plant power (CRAH fans, chillers) per kW of heat rejected to air."""
    electrical_loss_fraction: float = Field(default=0.04, ge=0, le=1)
    """UPS and distribution losses per kW of IT load."""
    other_overhead_kw: float = Field(default=0.0, ge=0, le=1e6)
    """Lighting, offices and other fixed loads."""
    near_capacity_fraction: float = Field(default=0.9, gt=0, le=1)
    """Utilisation from which a CDU, flow or feed is flagged as near capacity."""
    max_air_kw_per_rack: float = Field(default=30.0, gt=0, le=1_000)
    """Practical limit of air cooling per rack (about 25-30 kW)."""


class Design(StrictModel):
    schema_version: int = SCHEMA_VERSION
    name: str = Field(min_length=1, max_length=200)
    floor: Floor
    assumptions: Assumptions = Field(default_factory=Assumptions)
    gpu_models: list[GpuModel] = Field(default_factory=list)
    """Catalog entries this design uses, copied in so the file gives the same figures anywhere."""
    racks: list[Rack] = Field(default_factory=list)
    cdus: list[Cdu] = Field(default_factory=list)
    loops: list[CoolingLoop] = Field(default_factory=list)
    feeds: list[PowerFeed] = Field(default_factory=list)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    """Where live readings come from when the facility runs; the simulator by default."""
    alarm_rules: list[AlarmRule] = Field(default_factory=default_rules, max_length=100_000)
    """What the service raises alarms on while the facility runs; a file without the field
    gets the default set (``alarm_rules.default_rules``)."""

    def racks_on_loop(self, loop_id: str) -> list[Rack]:
        return [rack for rack in self.racks if rack.loop_id == loop_id]

    def racks_on_feed(self, feed_id: str) -> list[Rack]:
        return [rack for rack in self.racks if rack.feed_id == feed_id]
