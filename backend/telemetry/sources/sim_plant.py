"""What the simulated facility's BMS controls: CDU supply setpoints and rack isolation.

Offline there is no broker and no BMS, yet an operator must be able to try every command and
see the plant answer. :class:`SimulatedPlant` holds the state a BMS would (each CDU's supply
temperature setpoint, each rack's liquid and electrical isolation) and publishes it as the BMS's
points would feed the store (``supply_temp_sp_c``, ``liquid_isolated``, ``electrical_isolated``);
the facility simulator reads it every step:

- a CDU's supply temperature moves towards its setpoint with a first-order lag
  (``CDU_SUPPLY_TAU_S``), and the racks on its loop take the new inlet temperature;
- an electrically isolated rack has no power: its GPUs and the rest of the rack draw nothing
  and make no tokens;
- a liquid-isolated rack's coolant no longer flows through its loop, so its heat leaves the loop.

With ``ignore_requests`` set, the plant's BMS takes no request, as one in local override.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from factoryfloor.backend.telemetry.series import entity_key

CDU_SUPPLY_TAU_S = 60.0
"""How fast a simulated CDU's supply temperature follows its setpoint (time constant)."""

Circuit = Literal["liquid", "electrical"]


class SimulatedPlant:
    """Setpoints per CDU (``loop_cdu_ids``: each loop's CDU, as the simulator lists loops,
    starting at ``loop_supply_c``) and isolation per rack."""

    def __init__(
        self, rack_ids: Sequence[str], loop_cdu_ids: Sequence[str], loop_supply_c: np.ndarray
    ) -> None:
        self.ignore_requests = False
        self._rack_index = {rack_id: i for i, rack_id in enumerate(rack_ids)}
        self._isolated: dict[Circuit, np.ndarray] = {
            "liquid": np.zeros(len(rack_ids)),
            "electrical": np.zeros(len(rack_ids)),
        }
        self._setpoint_c = {
            cdu: float(c) for cdu, c in zip(loop_cdu_ids, loop_supply_c, strict=True)
        }
        self._loop_cdu_ids = list(loop_cdu_ids)
        cdus = list(self._setpoint_c)
        self.keys = [
            entity_key("rack", r, f"{c}_isolated") for c in self._isolated for r in rack_ids
        ]
        self.keys += [entity_key("cdu", cdu, "supply_temp_sp_c") for cdu in cdus]

    # -- what the BMS is asked and says ---------------------------------------------------------

    def has_cdu(self, cdu_id: str) -> bool:
        return cdu_id in self._setpoint_c

    def has_rack(self, rack_id: str) -> bool:
        return rack_id in self._rack_index

    def supply_setpoint_c(self, cdu_id: str) -> float:
        return self._setpoint_c[cdu_id]

    def set_supply_setpoint(self, cdu_id: str, temp_c: float) -> None:
        self._setpoint_c[cdu_id] = float(temp_c)

    def isolated(self, rack_id: str, circuit: Circuit) -> bool:
        return bool(self._isolated[circuit][self._rack_index[rack_id]])

    def set_isolated(self, rack_id: str, circuit: Circuit, isolated: bool) -> None:
        self._isolated[circuit][self._rack_index[rack_id]] = 1.0 if isolated else 0.0

    # -- what the simulator reads every step -----------------------------------------------------

    @property
    def powered(self) -> np.ndarray:
        """Per rack: 1, or 0 while electrically isolated."""
        return 1.0 - self._isolated["electrical"]

    @property
    def liquid_open(self) -> np.ndarray:
        """Per rack: 1, or 0 while liquid-isolated (no coolant through it)."""
        return 1.0 - self._isolated["liquid"]

    def supply_after(self, loop_supply_c: np.ndarray, dt_s: float) -> np.ndarray:
        """Each loop's supply temperature ``dt_s`` later, on its way to its CDU's setpoint."""
        target_c = np.array([self._setpoint_c[cdu] for cdu in self._loop_cdu_ids])
        return loop_supply_c + (target_c - loop_supply_c) * (1.0 - np.exp(-dt_s / CDU_SUPPLY_TAU_S))

    def values(self) -> np.ndarray:
        """The values of ``keys``, in order."""
        setpoints = np.fromiter(self._setpoint_c.values(), float, len(self._setpoint_c))
        return np.concatenate([*self._isolated.values(), setpoints])
