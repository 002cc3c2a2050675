"""What the NVML source reads on each GPU, and how: the field table.

Each ``Field`` is one NVML call and the series quantities it yields, converted to the unit its
key names (``power_w``: NVML's mW / 1000; ``energy_j``: mJ / 1000). Cheap fields (1-7 us each
on an H100) are read every round; expensive ones are marked ``slow`` (energy about 3 ms, PCIe
throughput about 20 ms per direction, power-limit reads about 0.1 ms) and read only on the
source's slow rounds. Every field is optional: the two error tables say which NVML errors drop
a field for a GPU and which mean the GPU itself is gone. The bits of the mask the
``clock_event_reasons`` series carries are named in ``design.nvml_codes``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pynvml

GPU_GONE_ERRORS: tuple[type[pynvml.NVMLError], ...] = (
    pynvml.NVMLError_GpuIsLost,
    pynvml.NVMLError_Unknown,
    pynvml.NVMLError_ResetRequired,
)
"""Errors after which a GPU answers nothing until it is found again: it is marked lost."""

UNAVAILABLE_ERRORS: dict[type[pynvml.NVMLError], str] = {
    pynvml.NVMLError_NotSupported: "not supported",
    pynvml.NVMLError_FunctionNotFound: "not supported",
    pynvml.NVMLError_NoPermission: "not permitted",
}
"""Errors that will not go away by asking again: the field is dropped for that GPU."""


# -- what is read, and how -------------------------------------------------------------------

Reader = Callable[[Any, Any, list[float]], None]
"""``(nvml, handle, values)``: appends one value per quantity of its field, in sink units, and
only after its NVML call succeeded, so a failed read never leaves part of a field behind.
Appending into the round's column, rather than returning tuples, keeps the source's own cost
per reading to a function call (see bench/nvml_cost.py)."""

_VALUE_MEMBERS = {
    pynvml.NVML_VALUE_TYPE_DOUBLE: "dVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_INT: "uiVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG: "ulVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: "ullVal",
    pynvml.NVML_VALUE_TYPE_SIGNED_LONG_LONG: "sllVal",
    pynvml.NVML_VALUE_TYPE_SIGNED_INT: "siVal",
    pynvml.NVML_VALUE_TYPE_UNSIGNED_SHORT: "usVal",
}
"""Which member of NVML's value union holds a field value of each value type."""


def _field_value(nvml: Any, handle: Any, field_id: int) -> float:
    """One NVML field value. The call itself succeeds for unsupported fields; the entry's own
    return code says so, and is raised as the matching pynvml error like any other call."""
    (entry,) = nvml.nvmlDeviceGetFieldValues(handle, [field_id])
    if entry.nvmlReturn != pynvml.NVML_SUCCESS:
        raise pynvml.NVMLError(entry.nvmlReturn)
    return getattr(entry.value, _VALUE_MEMBERS[entry.valueType])


def _utilisation(nvml: Any, handle: Any, values: list[float]) -> None:
    rates = nvml.nvmlDeviceGetUtilizationRates(handle)
    values += (rates.gpu, rates.memory)


def _memory(nvml: Any, handle: Any, values: list[float]) -> None:
    info = nvml.nvmlDeviceGetMemoryInfo(handle)
    values += (info.used, info.total)


def _gpu_temp(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))


def _mem_temp(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(_field_value(nvml, handle, nvml.NVML_FI_DEV_MEMORY_TEMP))


def _power_1s_avg(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)


def _power_instant(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(_field_value(nvml, handle, nvml.NVML_FI_DEV_POWER_INSTANT) / 1000.0)


def _sm_clock(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))


def _mem_clock(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_MEM))


def _clock_events(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetCurrentClocksEventReasons(handle))


def _pstate(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPerformanceState(handle))


def _ecc_volatile(nvml: Any, handle: Any, values: list[float]) -> None:
    """Uncorrected (double-bit) errors since driver load: the count that means lost data
    (Xid 48); corrected errors are routine and would drown it."""
    uncorrected, volatile = nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC
    values.append(nvml.nvmlDeviceGetTotalEccErrors(handle, uncorrected, volatile))


def _energy(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0)


def _pcie_tx(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPcieThroughput(handle, nvml.NVML_PCIE_UTIL_TX_BYTES))


def _pcie_rx(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPcieThroughput(handle, nvml.NVML_PCIE_UTIL_RX_BYTES))


def _power_limit(nvml: Any, handle: Any, values: list[float]) -> None:
    values.append(nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000.0)


def _power_limit_range(nvml: Any, handle: Any, values: list[float]) -> None:
    low_mw, high_mw = nvml.nvmlDeviceGetPowerManagementLimitConstraints(handle)
    values += (low_mw / 1000.0, high_mw / 1000.0)


@dataclass(frozen=True, slots=True)
class Field:
    """One NVML read and the sink quantities it yields (``gpu/{node}/{index}/{quantity}``)."""

    quantities: tuple[str, ...]
    read: Reader
    slow: bool = False
    """Expensive to read: polled at ``slow_hz`` instead of ``fast_hz``."""

    @property
    def label(self) -> str:
        """The field as statuses name it: its quantities."""
        return ", ".join(self.quantities)


FIELDS: tuple[Field, ...] = (
    Field(("util_pct", "mem_util_pct"), _utilisation),
    Field(("mem_used_bytes", "mem_total_bytes"), _memory),
    Field(("temp_c",), _gpu_temp),
    Field(("mem_temp_c",), _mem_temp),
    Field(("power_w",), _power_1s_avg),
    Field(("power_instant_w",), _power_instant),
    Field(("sm_clock_mhz",), _sm_clock),
    Field(("mem_clock_mhz",), _mem_clock),
    Field(("clock_event_reasons",), _clock_events),
    Field(("pstate",), _pstate),
    Field(("ecc_volatile_total",), _ecc_volatile),
    Field(("energy_j",), _energy, slow=True),
    Field(("pcie_tx_kbps",), _pcie_tx, slow=True),
    Field(("pcie_rx_kbps",), _pcie_rx, slow=True),
    Field(("power_limit_w",), _power_limit, slow=True),
    Field(("power_limit_min_w", "power_limit_max_w"), _power_limit_range, slow=True),
)
"""Everything polled, in the order read. PCIe throughput is in KB/s, as NVML reports it."""
