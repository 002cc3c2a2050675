"""NVML workload power profiles: which a GPU offers, which are requested and which enforced.

Newer drivers let a GPU be told what it runs (``llm_inference``, ``memory_bound``, ``max_q``...)
so it tunes its own power management; several may be requested at once and the driver enforces
those that do not conflict. NVML passes them as 255-bit masks of profile ids
(``nvmlMask255_t``); here they are profile names, lower case, from pynvml's own
``NVML_POWER_PROFILE_*`` constants. Each function runs on the NVML worker (see
``NvmlGpuControl``), and a change is read back: what the driver then enforces.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pynvml

_PREFIX = "NVML_POWER_PROFILE_"
PROFILE_NAMES: dict[int, str] = {
    getattr(pynvml, name): name.removeprefix(_PREFIX).lower()
    for name in dir(pynvml)
    if name.startswith(_PREFIX)
    and not name.startswith(f"{_PREFIX}OPERATION")
    and name != f"{_PREFIX}MAX"
}
"""Profile id -> name (``6: "llm_inference"``), as this pynvml knows them."""
PROFILE_IDS = {name: profile_id for profile_id, name in PROFILE_NAMES.items()}
_MASK_BITS = 32


@dataclass(frozen=True, slots=True)
class PowerProfiles:
    """A GPU's workload power profiles, by name: offered, requested, and enforced now."""

    offered: tuple[str, ...]
    requested: tuple[str, ...]
    enforced: tuple[str, ...]


def profile_ids(names: Iterable[str]) -> list[int]:
    """The ids of profile ``names`` (``profile 30`` for an id this pynvml has no name for);
    ValueError naming one that is neither."""
    ids = []
    for name in names:
        number = name.removeprefix("profile ")
        if name in PROFILE_IDS:
            ids.append(PROFILE_IDS[name])
        elif number.isdigit() and int(number) < _MASK_BITS * 8:
            ids.append(int(number))
        else:
            raise ValueError(f"unknown power profile {name!r} (known: {', '.join(PROFILE_IDS)})")
    return ids


def mask_of(ids: Iterable[int]) -> pynvml.c_nvmlMask255_t:
    mask = pynvml.c_nvmlMask255_t()
    for profile_id in ids:
        mask.mask[profile_id // _MASK_BITS] |= 1 << (profile_id % _MASK_BITS)
    return mask


def names_in(mask: pynvml.c_nvmlMask255_t) -> tuple[str, ...]:
    """The names of the profiles set in ``mask``; ids this pynvml has no name for by number."""
    ids = [i for i in range(len(mask.mask) * _MASK_BITS)
           if mask.mask[i // _MASK_BITS] >> (i % _MASK_BITS) & 1]  # fmt: skip
    return tuple(PROFILE_NAMES.get(i, f"profile {i}") for i in ids)


# -- on the NVML worker ---------------------------------------------------------------------------


def read_profiles(nvml: Any, handle: Any) -> PowerProfiles:
    info = pynvml.c_nvmlWorkloadPowerProfileProfilesInfo_v1_t()
    nvml.nvmlDeviceWorkloadPowerProfileGetProfilesInfo(handle, ctypes.byref(info))
    current = pynvml.c_nvmlWorkloadPowerProfileCurrentProfiles_v1_t()
    nvml.nvmlDeviceWorkloadPowerProfileGetCurrentProfiles(handle, ctypes.byref(current))
    return PowerProfiles(
        names_in(info.perfProfilesMask),
        names_in(current.requestedProfilesMask),
        names_in(current.enforcedProfilesMask),
    )


def change_profiles(nvml: Any, handle: Any, ids: list[int], clear: bool) -> PowerProfiles:
    """Request the profiles ``ids`` (or withdraw them, ``clear``); what is enforced afterwards."""
    request = pynvml.c_nvmlWorkloadPowerProfileRequestedProfiles_v1_t()
    request.requestedProfilesMask = mask_of(ids)
    change = (nvml.nvmlDeviceWorkloadPowerProfileClearRequestedProfiles if clear
              else nvml.nvmlDeviceWorkloadPowerProfileSetRequestedProfiles)  # fmt: skip
    change(handle, ctypes.byref(request))
    return read_profiles(nvml, handle)
