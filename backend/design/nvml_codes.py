"""NVML's codes in words: the clock-event reason bits and the Xid errors worth naming.

Kept here, below both telemetry and the service, because three places need the same table: the
NVML source that reads the codes, the alarm rules in the design that name the bits to alarm on,
and the alarm messages that say them in words. Nothing here imports NVML itself.
"""

from __future__ import annotations

CLOCK_EVENT_REASONS: dict[int, str] = {
    0x1: "idle",
    0x2: "application clocks",
    0x4: "SW power cap",
    0x8: "HW slowdown",
    0x10: "sync boost",
    0x20: "SW thermal",
    0x40: "HW thermal",
    0x80: "power brake",
    0x100: "display clock",
}
"""NVML's clock-event reason bits (``nvmlClocksEventReason*``), lowest first, and the names
shown for them."""

_KNOWN_REASON_BITS = sum(CLOCK_EVENT_REASONS)
_BITS_BY_NAME = {name: bit for bit, name in CLOCK_EVENT_REASONS.items()}


def decode_clock_event_reasons(mask: int) -> list[str]:
    """Names of the reasons set in an NVML clock-event mask, lowest bit first. Bits this table
    does not know (newer drivers add some) come last as one hex item, never silently dropped."""
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~_KNOWN_REASON_BITS
    if unknown:
        names.append(f"unknown 0x{unknown:x}")
    return names


def clock_event_mask(*names: str) -> int:
    """The mask of the named reasons (``"HW thermal", "SW thermal"`` -> 0x60); ValueError naming
    the reason this table does not know."""
    unknown = [name for name in names if name not in _BITS_BY_NAME]
    if unknown:
        known = ", ".join(_BITS_BY_NAME)
        raise ValueError(f"unknown clock-event reason {unknown[0]!r} (known: {known})")
    return sum({_BITS_BY_NAME[name] for name in names})


XID_CODE = "xid"
XID_COUNT = "xid_total"
"""The GPU quantities the NVML source keeps of Xid critical errors: the last one's code (0: none
yet) and how many it has seen since it started (NVML keeps no count)."""

XID_MEANINGS: dict[int, str] = {
    13: "graphics engine exception (often the application's own fault)",
    31: "GPU memory page fault (often an illegal address in the application)",
    43: "GPU stopped processing (the application's channel was reset)",
    48: "double-bit ECC error: data lost in GPU memory",
    63: "ECC page retirement or row remapping recorded: reset the GPU to apply",
    64: "ECC page retirement or row remapping failed",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    92: "high single-bit ECC error rate",
    94: "contained ECC error: restart the application",
    95: "uncontained ECC error: reset the GPU",
    119: "GSP RPC timeout: reset the GPU",
    120: "GSP error: reset the GPU",
}
"""The Xid codes seen most in AI factories and what each means (NVIDIA's Xid catalog, in short);
other codes are shown as their number only."""


def describe_xid(code: int) -> str:
    """``Xid 79 (GPU has fallen off the bus)``, or ``Xid 150`` for a code not in the table."""
    meaning = XID_MEANINGS.get(code)
    return f"Xid {code}" + (f" ({meaning})" if meaning else "")
