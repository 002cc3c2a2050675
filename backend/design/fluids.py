"""Coolant properties and the flow a loop needs to carry its heat at its design delta-T.

``Q = m_dot * cp * dT`` with ``m_dot = rho * V_dot``, hence
``V_dot [L/min] = Q [kW] * 60 / (rho [kg/L] * cp [kJ/(kg K)] * dT [K])``.

Property tables: glycol design data of the Airedale DeltaChill manual, at 20 / 25 / 40 C.
Between table points the properties are interpolated linearly; outside they are held at the
nearest point (the tables do not support extrapolation, and the change is small).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from factoryfloor.backend.design.model import Fluid


@dataclass(frozen=True, slots=True)
class FluidTable:
    label: str
    temps_c: tuple[float, ...]
    specific_heat_kj_per_kg_k: tuple[float, ...]
    density_kg_per_m3: tuple[float, ...]
    freezing_point_c: float


FLUIDS: dict[str, FluidTable] = {
    "water": FluidTable(
        label="Water",
        temps_c=(20.0, 25.0, 40.0),
        specific_heat_kj_per_kg_k=(4.18, 4.18, 4.18),
        density_kg_per_m3=(998.2, 997.0, 992.2),
        freezing_point_c=0.0,
    ),
    "pg25": FluidTable(
        label="Propylene glycol 25 %",
        temps_c=(20.0, 25.0, 40.0),
        specific_heat_kj_per_kg_k=(3.91, 3.92, 3.96),
        density_kg_per_m3=(1023.7, 1021.5, 1014.3),
        freezing_point_c=-9.6,
    ),
}


def _interpolate(xs: tuple[float, ...], ys: tuple[float, ...], x: float) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect_right(xs, x) - 1
    t = (x - xs[i]) / (xs[i + 1] - xs[i])
    return ys[i] + t * (ys[i + 1] - ys[i])


@lru_cache(maxsize=4096)
def properties(fluid: Fluid, temp_c: float) -> tuple[float, float]:
    """(density in kg/L, specific heat in kJ/(kg K)) of ``fluid`` at ``temp_c``.

    Cached because a design has few distinct (fluid, mean temperature) pairs and the editor
    recomputes on every drag.
    """
    table = FLUIDS[fluid]
    density_kg_per_l = _interpolate(table.temps_c, table.density_kg_per_m3, temp_c) / 1000.0
    cp = _interpolate(table.temps_c, table.specific_heat_kj_per_kg_k, temp_c)
    return density_kg_per_l, cp


def required_flow_lpm(heat_kw: float, delta_t_k: float, fluid: Fluid, mean_temp_c: float) -> float:
    """Volume flow that carries ``heat_kw`` with a rise of ``delta_t_k`` across the racks."""
    density_kg_per_l, cp = properties(fluid, mean_temp_c)
    return heat_kw * 60.0 / (density_kg_per_l * cp * delta_t_k)
