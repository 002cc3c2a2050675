"""Series keys: the one place they are built and parsed.

Every reading in the store belongs to a series named by a slash-separated key ending in a
quantity with its unit:

- ``gpu/{node}/{index}/{quantity}``: ``util_pct``, ``mem_util_pct``, ``mem_used_bytes``,
  ``mem_total_bytes``, ``temp_c``, ``mem_temp_c``, ``power_w`` (1 s average),
  ``power_instant_w``, ``energy_j`` (since driver load), ``sm_clock_mhz``, ``mem_clock_mhz``,
  ``clock_event_reasons`` (the NVML bitmask), ``pstate``, ``ecc_volatile_total``,
  ``power_limit_w``, ``power_limit_min_w``, ``power_limit_max_w``, ``pcie_tx_kbps``,
  ``pcie_rx_kbps``. ``node`` is the host the GPU is in, not a rack: the design's node
  placement (``backend.telemetry.placement``) says which rack a host stands in.
- ``rack/{rack_id}/{quantity}``: ``power_kw``, ``supply_temp_c``, ``return_temp_c``,
  ``flow_lpm``, ``dp_kpa``, ``valve_pct``, ``leak`` (1 leak, 0 none), ``leak_sensor_fault``,
  ``liquid_isolated``, ``electrical_isolated`` (1 yes, 0 no), ``tokens_per_s``, and the BMS's
  echo of this integration's requests ``liquid_isolation_request``,
  ``electrical_isolation_request``
- ``cdu/{cdu_id}/{quantity}``: ``supply_temp_c``, ``return_temp_c``, ``flow_lpm``,
  ``pressure_kpa``, ``dp_kpa``, ``pump_rpm``, ``valve_pct``, ``heat_kw``, ``supply_temp_sp_c``
  (the supply temperature setpoint the BMS runs), ``supply_temp_sp_request_c`` (its echo of a
  request)
- ``loop/{loop_id}/heat_kw``
- ``tokens/{server}/{model}/tokens_per_s`` and ``.../prompt_tokens_per_s`` (server is
  ``host:port``)
- ``facility/{quantity}``: ``it_power_kw``, ``tokens_per_s``, ``tokens_per_j``, and
  ``facility/model/{model}/tokens_per_s`` (token figures of different models are kept apart)
- ``mean/{by}/{name}/{quantity}``: the live history's mean of a GPU quantity over a rack, a row
  or the hall (never written by a source)

Every segment that comes from outside (model names such as ``meta-llama/Llama-3.1-8B``, host
names, tag paths) has ``%`` and ``/`` percent-encoded, so a key always splits on ``/`` into its
parts; :func:`parse` gives the names back. Plan ids cannot contain either character, so their
keys read as they are written (``rack/A-07/power_kw``).

Sources build keys once per series and keep them (a key per reading would cost more than the
reading); the views parse them once per new key list, never per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

EntityKind = Literal["rack", "cdu", "loop"]
"""Plan entities with series of their own."""

MeanScope = Literal["rack", "row", "hall"]
"""What the live history averages a GPU quantity over."""

GPU = "gpu"
TOKENS = "tokens"
FACILITY = "facility"
MEAN = "mean"
MODEL = "model"
"""The segment after ``facility`` that introduces a per-model figure."""


def segment(name: str) -> str:
    """A name as one key segment: ``%`` and ``/`` percent-encoded."""
    return name.replace("%", "%25").replace("/", "%2F")


def gpu_subject(node: str, index: int) -> str:
    """``gpu/{node}/{index}``: a GPU, as events name it; its series keys continue with
    ``/{quantity}``."""
    return f"{GPU}/{segment(node)}/{index}"


def gpu_prefix(node: str, index: int) -> str:
    """What every key of one GPU starts with: ``gpu_prefix(n, i) + quantity`` is
    ``gpu_key(n, i, quantity)``, for sources that name many quantities per GPU in a hot loop."""
    return gpu_subject(node, index) + "/"


def gpu_key(node: str, index: int, quantity: str) -> str:
    return gpu_prefix(node, index) + quantity


def entity_key(kind: EntityKind, entity_id: str, quantity: str) -> str:
    """A series of a plan rack, CDU or loop."""
    return f"{kind}/{segment(entity_id)}/{quantity}"


def tokens_key(server: str, model: str, quantity: str) -> str:
    """A token rate of one model on one inference server (``host:port``)."""
    return f"{TOKENS}/{segment(server)}/{segment(model)}/{quantity}"


def facility_key(quantity: str) -> str:
    return f"{FACILITY}/{quantity}"


def facility_model_key(model: str, quantity: str) -> str:
    """A facility figure of one model: figures of different models are never added."""
    return f"{FACILITY}/{MODEL}/{segment(model)}/{quantity}"


def mean_key(by: MeanScope, name: str, quantity: str) -> str:
    """The live history's mean of a GPU quantity over a rack, a row or the hall."""
    return f"{MEAN}/{by}/{segment(name)}/{quantity}"


def kind_of(key: str) -> str:
    """The first segment: ``gpu``, ``rack``, ``cdu``, ``loop``, ``tokens``, ``facility``."""
    return key.partition("/")[0]


@dataclass(frozen=True, slots=True)
class GpuSeries:
    node: str
    index: int
    quantity: str


@dataclass(frozen=True, slots=True)
class EntitySeries:
    kind: EntityKind
    entity_id: str
    quantity: str


@dataclass(frozen=True, slots=True)
class TokensSeries:
    server: str
    model: str
    quantity: str


@dataclass(frozen=True, slots=True)
class FacilitySeries:
    quantity: str
    model: str | None = None
    """None: the whole facility; else the figure of this one model."""


@dataclass(frozen=True, slots=True)
class MeanSeries:
    by: MeanScope
    name: str
    quantity: str


Series = GpuSeries | EntitySeries | TokensSeries | FacilitySeries | MeanSeries

_ENTITY_KINDS: frozenset[str] = frozenset(("rack", "cdu", "loop"))
_MEAN_SCOPES: frozenset[str] = frozenset(("rack", "row", "hall"))


def parse(key: str) -> Series | None:
    """What a key names, with its names decoded; None for a key of no known shape (a node
    agent may publish series this version does not know: they are stored, never placed)."""
    parts = key.split("/")
    kind, count = parts[0], len(parts)
    if kind == GPU and count == 4 and parts[2].isdigit():
        return GpuSeries(unquote(parts[1]), int(parts[2]), parts[3])
    if kind in _ENTITY_KINDS and count == 3:
        return EntitySeries(kind, unquote(parts[1]), parts[2])  # type: ignore[arg-type]
    if kind == TOKENS and count == 4:
        return TokensSeries(unquote(parts[1]), unquote(parts[2]), parts[3])
    if kind == FACILITY and count == 2:
        return FacilitySeries(parts[1])
    if kind == FACILITY and count == 4 and parts[1] == MODEL:
        return FacilitySeries(parts[3], unquote(parts[2]))
    if kind == MEAN and count == 4 and parts[1] in _MEAN_SCOPES:
        return MeanSeries(parts[1], unquote(parts[2]), parts[3])  # type: ignore[arg-type]
    return None


def new_keys_start(mapped: list[str] | None, keys: list[str]) -> int:
    """Where ``keys`` begin to be new to a reader that mapped ``mapped``: its length when
    ``keys`` extends it (a store's keys only ever grow, so a frame's new keys come at the end),
    else 0 (map them all again). A series joining a hall of 150,000 then costs its own
    mapping, not all of them again (about a second at 16,384 GPUs)."""
    if mapped and len(keys) >= len(mapped) and keys[0] == mapped[0] \
            and keys[len(mapped) - 1] == mapped[-1]:  # fmt: skip
        return len(mapped)
    return 0
