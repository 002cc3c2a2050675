"""A simulated facility: every rack and GPU of a design, publishing like the real sources.

The default source when no GPU or broker is configured, and the driver of the benchmarks. It
is vectorised over GPUs (numpy) so a 16,384-GPU hall steps in milliseconds, and it publishes
through the same ``TelemetrySink`` with the same series keys as NVML, MQTT and Prometheus, so
everything downstream is identical.

Physics, per step of ``dt_s``:
- A rack whose workload has a profile in its GPU model's catalog entry (``workload_profiles``)
  serves it steadily, as an inference server under the MLPerf server scenario's steady
  arrivals: the profile's load and compute-boundness, so a tuner can measure its curve. Other
  racks' load follows phases (idle, prefill, decode) held for random durations (seeded), or,
  in replay mode, the recorded H100 trace's normalised power with a phase offset per rack.
- GPU power: ``idle + load x (TDP - idle)`` at the highest SM clock, with idle at 10.6 % of TDP
  (74 W of 700 W, as the recorded H100 idles) and small noise. Each GPU obeys its power limit
  and its locked SM clock (``set_power_limit``, ``lock_clocks``, ``reset_clocks``):
  ``gpu_operating_point`` says the clock, power and speed it then runs at, and a capped GPU
  never draws more than its limit. Limits and clocks are checked against the GPU model's
  ranges (``gpu_ranges``), as the driver checks them. Each GPU publishes its SM clock, its
  clock-event reasons (idle, SW power cap) and its power limit with the allowed range.
- GPU temperature follows power through a first-order lag, ``dT/dt = (T_target - T) / tau``,
  ``T_target = T_inlet + 13 K + R x (P - P_idle)`` with R = 0.0452 K/W, fitted to the recorded
  H100 (38 C at 74 W, 64 C at 649 W, taken as a 25 C inlet); the inlet is the loop's supply
  temperature for liquid racks (a conservative use of an air-cooled fit) and 25 C air for air
  racks; tau = 20 s.
- Rack power: its GPUs plus the rest of the rack (host, network, fans: the design IT power not
  drawn by GPUs), 60 % of which is drawn even at idle.
- Loops: heat = sum of rack power x liquid fraction (the same split as the design figures); the
  CDU pumps the design flow; return = supply + heat x 60 / (rho x cp x flow).
- Tokens: a rack's design token capacity times its decode share of load (1 for a steady
  rack), times its GPUs' mean speed (1 unless a limit or a lock slows them), with
  ``TOKEN_NOISE_FRACTION`` of measuring noise on steady racks, published per reference workload
  (``facility/model/{workload}/tokens_per_s``) as well as summed.
- The BMS's equipment (``sim_plant``): CDU supply setpoints and rack isolation, as the control
  desk sets them offline.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from factoryfloor.backend.design.figures import compute_figures
from factoryfloor.backend.design.fluids import properties
from factoryfloor.backend.design.model import Design, Rack
from factoryfloor.backend.design.nvml_codes import clock_event_mask
from factoryfloor.backend.telemetry.placement import HostGpu, host_gpu
from factoryfloor.backend.telemetry.series import (
    entity_key,
    facility_key,
    facility_model_key,
    gpu_key,
)
from factoryfloor.backend.telemetry.sink import SourceEvent, TelemetrySink
from factoryfloor.backend.telemetry.sources.gpu_operating_point import (
    GpuDemand,
    compute_bound,
    gpu_ranges,
    operating_point,
)
from factoryfloor.backend.telemetry.sources.sim_plant import SimulatedPlant

IDLE_POWER_FRACTION = 74.0 / 700.0
THERMAL_R_K_PER_W = (64.0 - 38.0) / (649.0 - 74.0)
AIR_INLET_C = 25.0
IDLE_RISE_K = 38.0 - AIR_INLET_C
"""The recorded H100 idles at 38 C; taken as 13 K above a 25 C inlet."""
THERMAL_TAU_S = 20.0
REST_OF_RACK_IDLE_FRACTION = 0.6
POWER_NOISE_FRACTION = 0.01
TOKEN_NOISE_FRACTION = 0.015
"""Noise on a steady rack's tokens/s per step: what an inference server's counter read over a
second shows (about 1-2 %), so a tuner's measuring window has something to average."""

PHASES = ("idle", "prefill", "decode")
PHASE_LOAD = np.array([0.0, 0.95, 0.7])
"""Load (0-1) each phase puts on a rack's GPUs."""
PHASE_DECODE_SHARE = np.array([0.0, 0.2, 1.0])
"""Share of the rack's token capacity each phase produces (prefill makes few output tokens)."""
PHASE_MEAN_S = np.array([30.0, 20.0, 90.0])

IDLE_REASON = clock_event_mask("idle")
POWER_CAP_REASON = clock_event_mask("SW power cap")


TOKEN_PHASES = frozenset({"generate", "decode"})
"""Phases of a recorded trace in which the GPU produced output tokens."""


@dataclass(frozen=True, slots=True)
class TraceProfile:
    """A recorded load curve: times (s) and load 0-1, looped; replay gives each rack an offset."""

    times_s: np.ndarray
    load: np.ndarray
    decode_share: np.ndarray

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1] + (self.times_s[1] - self.times_s[0]))

    def at(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phase_t = np.mod(t_s, self.duration_s)
        return (np.interp(phase_t, self.times_s, self.load),
                np.interp(phase_t, self.times_s, self.decode_share))  # fmt: skip


def trace_profile(series: list[dict]) -> TraceProfile:
    """Load profile of a recorded NVML series (``series_4hz`` of the reference trace): power
    normalised between its idle and its peak; token output where the phase generates tokens."""
    times_s = np.array([s["t"] for s in series], dtype=float)
    power_w = np.array([s["power_mw"] for s in series], dtype=float) / 1000.0
    idle_w, peak_w = float(power_w.min()), float(power_w.max())
    load = np.clip((power_w - idle_w) / (peak_w - idle_w), 0.0, 1.0)
    decode = np.array([1.0 if s["phase"] in TOKEN_PHASES else 0.0 for s in series])
    return TraceProfile(times_s, load, decode)


class FacilitySimulator:
    def __init__(self, design: Design, seed: int = 0, trace: TraceProfile | None = None,
                 bms_points: bool = True) -> None:  # fmt: skip
        self.design = design
        self.trace = trace
        self.bms_points = bms_points
        """Publish the plant's BMS points (isolation states, CDU setpoints): only where the
        simulator is the BMS. Beside a real BMS its points are the BMS's alone, never
        overwritten by a simulated value."""
        self.rng = np.random.default_rng(seed)
        figures = compute_figures(design)
        catalog = {m.id: m for m in design.gpu_models}
        racks = design.racks
        self.rack_ids = [r.id for r in racks]
        n_racks = len(racks)
        counts = np.array([r.gpu_count for r in racks], dtype=int)
        self.gpu_rack = np.repeat(np.arange(n_racks), counts)
        tdp_w = np.array([catalog[r.gpu_model].gpu_power_w for r in racks])
        self.gpu_tdp_w = np.repeat(tdp_w, counts)
        self.gpu_idle_w = self.gpu_tdp_w * IDLE_POWER_FRACTION
        ranges = [gpu_ranges(catalog[r.gpu_model]) for r in racks]
        (self.power_limit_min_w, self.power_limit_max_w,
         self.sm_clock_min_mhz, self.sm_clock_max_mhz) = (
            np.repeat(np.array([getattr(g, name) for g in ranges], dtype=float), counts)
            for name in ("power_limit_min_w", "power_limit_max_w",
                         "sm_clock_min_mhz", "sm_clock_max_mhz"))  # fmt: skip
        self.power_limit_w = self.power_limit_max_w.copy()
        self.locked_max_mhz = np.full(len(self.gpu_tdp_w), np.nan)
        """The upper clock of each GPU's lock; NaN: not locked."""
        self.gpu_load = np.zeros(len(self.gpu_tdp_w))
        self.gpu_bound = compute_bound(np.ones(len(self.gpu_tdp_w)))
        self.gpu_power_w = self.gpu_idle_w.copy()
        self.gpu_speed = np.ones(len(self.gpu_tdp_w))
        self.sm_clock_mhz = self.sm_clock_max_mhz.copy()
        self.clock_event_reasons = np.full(len(self.gpu_tdp_w), IDLE_REASON)
        self.rack_gpu_count = np.maximum(counts, 1)
        self.rack_rest_kw = np.array(
            [max(r.it_power_kw - r.gpu_count * tdp_w[i] / 1000.0, 0.0) for i, r in enumerate(racks)]
        )
        self.rack_liquid_fraction = np.array([r.liquid_fraction for r in racks])
        self.rack_tokens_capacity = np.array(
            [figures.racks[r.id].tokens_per_s or 0.0 for r in racks]
        )
        workloads = sorted({figures.racks[r.id].workload for r in racks})
        self.workloads = workloads
        """The reference workloads the racks serve: token rates are also published per one."""
        self.rack_workload = np.array([workloads.index(figures.racks[r.id].workload)
                                       for r in racks], dtype=np.intp)  # fmt: skip
        profiles = [catalog[r.gpu_model].profile(figures.racks[r.id].workload) for r in racks]
        self.rack_steady = np.array([p is not None for p in profiles], dtype=bool)
        """Racks serving a profiled workload: steady load instead of random phases."""
        self.rack_steady_load = np.array([p.load if p else 0.0 for p in profiles])
        self.rack_steady_bound = np.array([p.compute_bound if p else 0.0 for p in profiles])
        cdus = {c.id: c for c in design.cdus}
        loop_cdu = {lp.id: cdus[lp.cdu_id] for lp in design.loops}
        self.rack_inlet_c = np.array(
            [loop_cdu[r.loop_id].supply_temp_c if r.loop_id in loop_cdu else AIR_INLET_C
             for r in racks]
        )  # fmt: skip
        self.loop_ids = [lp.id for lp in design.loops]
        self.loop_index = {loop_id: i for i, loop_id in enumerate(self.loop_ids)}
        self.rack_loop = np.array([self.loop_index.get(r.loop_id or "", -1) for r in racks])
        self.loop_cdu_ids = [lp.cdu_id for lp in design.loops]
        self.loop_supply_c = np.array([loop_cdu[i].supply_temp_c for i in self.loop_ids])
        self.loop_flow_lpm = np.array([max(figures.loops[i].flow_lpm, 1.0) for i in self.loop_ids])
        self.loop_rho_cp = np.array(
            [
                np.prod(properties(loop_cdu[i].fluid, loop_cdu[i].supply_temp_c + 5.0))
                for i in self.loop_ids
            ]
        )  # kJ/(L K)
        self.gpu_index = np.concatenate([np.arange(c) for c in counts]) if n_racks else counts
        self.temp_c = self.rack_inlet_c[self.gpu_rack] + IDLE_RISE_K
        self.energy_j = np.zeros(len(self.gpu_rack))
        self.phase = self.rng.integers(0, len(PHASES), n_racks)
        self.phase_left_s = self.rng.exponential(PHASE_MEAN_S[self.phase])
        self.trace_offset_s = self.rng.uniform(0, trace.duration_s, n_racks) if trace else None
        self.elapsed_s = 0.0
        self.plant = SimulatedPlant(self.rack_ids, self.loop_cdu_ids, self.loop_supply_c)
        self._keys = self._build_keys(racks)

    # Keys are built once: a step only fills values.
    GPU_QUANTITIES = ("util_pct", "power_w", "temp_c", "energy_j", "sm_clock_mhz",
                      "clock_event_reasons", "power_limit_w", "power_limit_min_w",
                      "power_limit_max_w")  # fmt: skip
    RACK_QUANTITIES = ("power_kw", "tokens_per_s")
    LOOP_QUANTITIES = ("heat_kw",)
    CDU_QUANTITIES = ("heat_kw", "supply_temp_c", "return_temp_c", "flow_lpm")
    FACILITY_QUANTITIES = ("it_power_kw", "tokens_per_s", "tokens_per_j")

    def _build_keys(self, racks: list[Rack]) -> list[str]:
        """GPUs are named as their hosts would name them (``Rack.nodes``), so a simulated
        facility is placed on the plan the way a real one is."""
        hosts = [host_gpu(racks[r], i) for r, i in zip(self.gpu_rack, self.gpu_index, strict=True)]
        self.gpu_hosts = hosts
        self._positions = {host: position for position, host in enumerate(hosts)}
        keys = [gpu_key(host.node, host.index, q) for q in self.GPU_QUANTITIES for host in hosts]
        keys += [entity_key("rack", r, q) for q in self.RACK_QUANTITIES for r in self.rack_ids]
        keys += [entity_key("loop", lp, q) for q in self.LOOP_QUANTITIES for lp in self.loop_ids]
        keys += [entity_key("cdu", c, q) for q in self.CDU_QUANTITIES for c in self.loop_cdu_ids]
        keys += [facility_key(q) for q in self.FACILITY_QUANTITIES]
        keys += [facility_model_key(w, "tokens_per_s") for w in self.workloads]
        return keys + (self.plant.keys if self.bms_points else [])

    @property
    def keys(self) -> list[str]:
        return self._keys

    def _rack_load(self, dt_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(GPU load, compute-boundness, share of token capacity made) per rack after ``dt_s``
        more seconds: steady racks at their profile, the others in their phase."""
        if self.trace is not None and self.trace_offset_s is not None:
            load, decode_share = self.trace.at(self.trace_offset_s + self.elapsed_s)
        else:
            self.phase_left_s -= dt_s
            done = self.phase_left_s <= 0
            if done.any():
                self.phase[done] = self.rng.integers(0, len(PHASES), int(done.sum()))
                self.phase_left_s[done] = self.rng.exponential(PHASE_MEAN_S[self.phase[done]])
            load, decode_share = PHASE_LOAD[self.phase], PHASE_DECODE_SHARE[self.phase]
        steady = self.rack_steady
        return (np.where(steady, self.rack_steady_load, load),
                np.where(steady, self.rack_steady_bound, compute_bound(decode_share)),
                np.where(steady, 1.0, load * decode_share))  # fmt: skip

    # -- commands, checked as the GPUs' drivers check them -----------------------------------------

    def position(self, gpu: HostGpu) -> int | None:
        """Where ``gpu`` is in the per-GPU arrays; None for a GPU this facility does not have."""
        return self._positions.get(gpu)

    def set_power_limit(self, positions: np.ndarray, limit_w: float) -> None:
        """Set the GPUs' power limit, enforced from the next step (as a real GPU's 1 s power
        average shows a new limit over the next second). ValueError, naming a GPU and its
        range, when outside the range of any of them (then none changes), as the driver
        refuses it."""
        which = np.asarray(positions, dtype=int)
        low, high = self.power_limit_min_w[which], self.power_limit_max_w[which]
        self._refuse_outside(which, limit_w, limit_w, low, high, "power limit", "W")
        self.power_limit_w[which] = limit_w

    def lock_clocks(self, positions: np.ndarray, min_mhz: float, max_mhz: float) -> None:
        """Lock the GPUs' SM clock between ``min_mhz`` and ``max_mhz``, at once (their clock
        reads the new one straight away). ValueError, naming a GPU and its range, outside the
        clocks of any of them or for a minimum above the maximum."""
        which = np.asarray(positions, dtype=int)
        low, high = self.sm_clock_min_mhz[which], self.sm_clock_max_mhz[which]
        self._refuse_outside(which, min_mhz, max_mhz, low, high, "locked SM clock", "MHz")
        self.locked_max_mhz[which] = max_mhz
        self._operate(which)

    def reset_clocks(self, positions: np.ndarray) -> None:
        """Unlock the GPUs' SM clock, at once."""
        which = np.asarray(positions, dtype=int)
        self.locked_max_mhz[which] = np.nan
        self._operate(which)

    def _refuse_outside(
        self,
        which: np.ndarray,
        low_value: float,
        high_value: float,
        low: np.ndarray,
        high: np.ndarray,
        what: str,
        unit: str,
    ) -> None:
        outside = ~((low <= low_value) & (low_value <= high_value) & (high_value <= high))
        if outside.any():
            first = int(np.argmax(outside))
            host = self.gpu_hosts[which[first]]
            asked = f"{low_value:g}" if low_value == high_value else f"{low_value:g}-{high_value:g}"
            raise ValueError(f"{host.node} GPU {host.index}: {what} {asked} {unit} outside "
                             f"{low[first]:g}-{high[first]:g} {unit}")  # fmt: skip

    def _operate(self, which: np.ndarray | slice) -> None:
        """Run the GPUs ``which`` at the clock their work, limit and lock allow."""
        top_mhz = self.sm_clock_max_mhz[which]
        locked_mhz = self.locked_max_mhz[which]
        point = operating_point(GpuDemand(
            idle_w=self.gpu_idle_w[which], tdp_w=self.gpu_tdp_w[which],
            load=self.gpu_load[which], bound=self.gpu_bound[which],
            limit_w=self.power_limit_w[which],
            min_ratio=self.sm_clock_min_mhz[which] / top_mhz,
            max_ratio=np.where(np.isnan(locked_mhz), top_mhz, locked_mhz) / top_mhz,
        ))  # fmt: skip
        self.sm_clock_mhz[which] = point.clock_ratio * top_mhz
        self.gpu_power_w[which] = point.power_w
        self.gpu_speed[which] = point.speed
        idle = np.where(self.gpu_load[which] <= 0, IDLE_REASON, 0)
        self.clock_event_reasons[which] = idle | np.where(point.power_capped, POWER_CAP_REASON, 0)

    # -- time -----------------------------------------------------------------------------------

    def step(self, dt_s: float) -> np.ndarray:
        """Advance ``dt_s`` seconds; the values of every key, in ``keys`` order."""
        self.elapsed_s += dt_s
        self._follow_plant(dt_s)
        rack_load, rack_bound, token_share = self._rack_load(dt_s)
        rack_load = rack_load * self.plant.powered
        self.gpu_load = rack_load[self.gpu_rack]
        self.gpu_bound = rack_bound[self.gpu_rack]
        self._operate(slice(None))
        noise = 1.0 + POWER_NOISE_FRACTION * self.rng.standard_normal(len(self.gpu_load))
        gpu_power_w = np.minimum(self.gpu_power_w * noise, self.power_limit_w)
        gpu_power_w *= self.plant.powered[self.gpu_rack]
        target_c = (
            self.rack_inlet_c[self.gpu_rack]
            + IDLE_RISE_K
            + THERMAL_R_K_PER_W * (gpu_power_w - self.gpu_idle_w)
        )
        self.temp_c += (target_c - self.temp_c) * (1.0 - np.exp(-dt_s / THERMAL_TAU_S))
        self.energy_j += gpu_power_w * dt_s

        gpu_kw_per_rack = np.bincount(self.gpu_rack, gpu_power_w, len(self.rack_ids)) / 1000.0
        rest_kw = self.rack_rest_kw * (REST_OF_RACK_IDLE_FRACTION
                                       + (1 - REST_OF_RACK_IDLE_FRACTION) * rack_load)  # fmt: skip
        rest_kw *= self.plant.powered
        rack_power_kw = gpu_kw_per_rack + rest_kw
        rack_speed = np.bincount(self.gpu_rack, self.gpu_speed, len(self.rack_ids))
        rack_tokens = (self.rack_tokens_capacity * token_share * self.plant.powered
                       * rack_speed / self.rack_gpu_count)  # fmt: skip
        if self.rack_steady.any():  # phased halls keep their seeded sequence
            noise = TOKEN_NOISE_FRACTION * self.rng.standard_normal(len(self.rack_ids))
            rack_tokens *= np.where(self.rack_steady, 1.0 + noise, 1.0)

        plumbed = self.rack_loop >= 0
        loop_heat_kw = np.bincount(
            self.rack_loop[plumbed],
            (rack_power_kw * self.rack_liquid_fraction * self.plant.liquid_open)[plumbed],
            len(self.loop_ids),
        )
        loop_return_c = self.loop_supply_c + loop_heat_kw * 60.0 / (
            self.loop_rho_cp * self.loop_flow_lpm
        )
        it_kw = float(rack_power_kw.sum())
        tokens = float(rack_tokens.sum())
        facility = np.array([it_kw, tokens, tokens / (it_kw * 1000.0) if it_kw > 0 else 0.0])
        workload_tokens = np.bincount(self.rack_workload, rack_tokens, len(self.workloads))
        return np.concatenate([
            self.gpu_load * 100.0, gpu_power_w, self.temp_c, self.energy_j, self.sm_clock_mhz,
            self.clock_event_reasons, self.power_limit_w, self.power_limit_min_w,
            self.power_limit_max_w,
            rack_power_kw, rack_tokens,
            loop_heat_kw,
            loop_heat_kw, self.loop_supply_c, loop_return_c, self.loop_flow_lpm,
            facility, workload_tokens,
            self.plant.values() if self.bms_points else np.empty(0),
        ])  # fmt: skip

    def _follow_plant(self, dt_s: float) -> None:
        """CDU supply temperatures on their way to the plant's setpoints; liquid racks take
        their loop's supply as inlet."""
        self.loop_supply_c = self.plant.supply_after(self.loop_supply_c, dt_s)
        liquid = self.rack_loop >= 0
        self.rack_inlet_c[liquid] = self.loop_supply_c[self.rack_loop[liquid]]

    def publish(self, sink: TelemetrySink, now_s: float, dt_s: float) -> None:
        values = self.step(dt_s)
        sink.write(self._keys, np.full(len(values), now_s), values)


class SimulatorSource:
    """The simulator as a telemetry source: publishes in real time until cancelled."""

    name = "simulator"

    def __init__(self, simulator: FacilitySimulator, sink: TelemetrySink, rate_hz: float = 1.0):
        self.simulator = simulator
        self.sink = sink
        self.rate_hz = rate_hz

    async def run(self) -> None:
        sim, period_s = self.simulator, 1.0 / self.rate_hz
        mode = "replaying the recorded H100 trace" if sim.trace else "synthetic load phases"
        if sim.rack_steady.any():
            mode = f"{int(sim.rack_steady.sum())} serving steadily, the others {mode}"
        self.sink.event(SourceEvent("simulator", "status", sim.design.name,
                                    f"running: {len(sim.rack_ids)} racks, "
                                    f"{len(sim.gpu_rack)} GPUs, {mode}"))  # fmt: skip
        loop = asyncio.get_running_loop()
        next_s = loop.time()
        while True:
            sim.publish(self.sink, time.time(), period_s)
            next_s += period_s
            await asyncio.sleep(max(0.0, next_s - loop.time()))
