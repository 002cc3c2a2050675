"""Which series a node agent's message may write: those of its own GPUs, nothing else.

Whoever can publish on the broker can publish on any topic, so the topic is all the authority a
message carries. A node agent's topic (``{node_prefix}/{node}/readings``) may write only
``gpu/{node}/{index}/{quantity}`` with a quantity of the series-key convention, spelled as
``series.gpu_key`` spells it (so one GPU never gets two series). Facility, loop and mean
figures are computed here from other series; rack and CDU figures come from the BMS points the
design maps (the source's routing writes a DSX value only to its point's mapped series) or are
computed; token rates come from the inference servers' ``/metrics``. None of them is ever taken
from a node.

Refusal reasons are a few fixed sentences, never naming the key or the node (the topic does):
a publisher making up keys or node ids must not make up reasons too (the source counts
refusals per topic and reason, and past its limit per reason alone).
"""

from __future__ import annotations

from collections.abc import Sequence

from factoryfloor.backend.telemetry import series
from factoryfloor.backend.telemetry.sources.payloads import GPU_QUANTITIES

NOT_FROM_A_NODE: dict[str, str] = {
    series.FACILITY: "facility series are computed here, never taken from a node",
    "loop": "loop series are computed here, never taken from a node",
    series.MEAN: "mean series are computed here, never taken from a node",
    "rack": "rack series come from mapped BMS points or are computed, never from a node",
    "cdu": "CDU series come from mapped BMS points, never from a node",
    series.TOKENS: "token rates come from inference servers' /metrics, never from a node",
}
ANOTHER_NODE = "a node may write only its own GPU series (gpu/{its id}/...), not another node's"
UNKNOWN_QUANTITY = "not a GPU quantity this version knows"
MALFORMED_KEY = "not a well-formed series key"


class NodeSeries:
    """The series one node may write, by its id in the topic (already checked to be a plain
    id, so it needs no percent-encoding in a key)."""

    def __init__(self, node_id: str) -> None:
        self._prefix = f"{series.GPU}/{series.segment(node_id)}/"

    def refusal(self, keys: Sequence[str]) -> str | None:
        """None if every key is one of this node's GPU series; else why the first is not."""
        prefix, skip = self._prefix, len(self._prefix)
        for key in keys:
            if key.startswith(prefix):
                index, slash, quantity = key[skip:].partition("/")
                if not (slash and _canonical_index(index)) or "/" in quantity:
                    return MALFORMED_KEY
                if quantity not in GPU_QUANTITIES:
                    return UNKNOWN_QUANTITY
                continue
            kind = series.kind_of(key)
            if kind == series.GPU:
                return ANOTHER_NODE
            return NOT_FROM_A_NODE.get(kind, MALFORMED_KEY)
        return None


def _canonical_index(text: str) -> bool:
    """Decimal digits as ``str(int)`` writes them: no sign, no leading zero, ASCII only."""
    return text.isascii() and text.isdigit() and (text == "0" or text[0] != "0")
