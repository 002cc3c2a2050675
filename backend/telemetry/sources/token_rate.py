"""Token counters read over time, turned into tokens/s per server, model, rack and facility.

Inference servers expose cumulative counters (tokens generated since start); what the operator
wants is a rate. A rate needs two readings of the same series, so the first reading of a series
gives none, and the rate is taken per series (per replica) *before* replicas are summed: a
replica that restarts resets only its own counter, and summing first would turn that reset into
a large negative step for the whole model.

Counter resets follow Prometheus ``rate()``: a value below the previous one means the counter
restarted from zero, so the whole new value is the increase since the reset. The rate is never
negative. A series unseen for longer than ``max_gap_s`` starts over (no rate on its first reading
back): an average across a long outage is not a live figure and may hide several restarts.

Servers may be scraped at different intervals, so a round reads only some of them. A series'
rate then holds until its own server is read again: the totals of a round are over the latest
rate of every series, not only the series read in that round. A server read in a round whose
series give no rate (down, or first reading) leaves the totals at once.

Workloads are never mixed silently. Tokens of a 405B model and of an 8B model are not the same
product, so besides the overall facility total (a plain sum over every model, labelled as such)
the facility figure is kept per model name. Per-rack figures are plain sums too: a rack serves
what it serves. Generated (output) tokens are the factory's product and the only tokens in the
totals; prompt tokens are kept per server and model, apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

CounterKind = Literal["generation", "prompt", "energy"]
"""``generation``: output tokens; ``prompt``: input tokens; ``energy``: GPU energy in joules."""

ReplicaLabels = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, str, ReplicaLabels, CounterKind]

DEFAULT_MAX_GAP_S = 30.0


@dataclass(frozen=True, slots=True)
class TokenSample:
    """One counter reading from one scrape, with the identity of the series it belongs to."""

    server: str
    """Which endpoint: ``host:port``."""
    model: str
    """The model served, as the server names it (empty for energy counters, which are per GPU)."""
    replica: ReplicaLabels
    """The remaining labels, sorted: whatever tells replicas or sub-series apart (vLLM
    ``engine``, SGLang ``is_streaming``, Triton ``version``, ``gpu_uuid``...)."""
    kind: CounterKind
    value: float
    """Cumulative count: tokens for generation and prompt, joules for energy."""

    @property
    def series(self) -> SeriesKey:
        return (self.server, self.model, self.replica, self.kind)


def counter_rate(
    previous: tuple[float, float] | None, time_s: float, value: float, max_gap_s: float
) -> float | None:
    """Per-second increase of a counter from its previous (time_s, value) to this reading.

    None when there is no usable previous reading: none at all, one not older than this one,
    or one further back than ``max_gap_s``.
    """
    if previous is None:
        return None
    previous_time_s, previous_value = previous
    elapsed_s = time_s - previous_time_s
    if elapsed_s <= 0.0 or elapsed_s > max_gap_s:
        return None
    increase = value - previous_value if value >= previous_value else value
    return increase / elapsed_s


def tokens_per_j(tokens_per_s: float | None, power_w: float | None) -> float | None:
    """Tokens per joule, or None where either figure is unknown or the power is not positive."""
    if tokens_per_s is None or power_w is None or not math.isfinite(power_w) or power_w <= 0.0:
        return None
    return tokens_per_s / power_w


K = TypeVar("K", bound=Hashable)


def _sum_by(
    rates: Mapping[SeriesKey, float], group: Callable[[SeriesKey], K | None]
) -> dict[K, float]:
    """Sums series rates into groups; a series whose group is None is left out."""
    sums: dict[K, float] = defaultdict(float)
    for series, rate in rates.items():
        key = group(series)
        if key is not None:
            sums[key] += rate
    return dict(sums)


@dataclass(frozen=True, slots=True)
class TokenRates:
    """The figures after one scrape round: of every series with a current rate."""

    tokens_per_s: dict[tuple[str, str], float]
    """(server, model) -> generated tokens/s, replicas summed."""
    prompt_tokens_per_s: dict[tuple[str, str], float]
    """(server, model) -> prompt tokens/s, replicas summed."""
    rack_tokens_per_s: dict[str, float]
    """rack id -> generated tokens/s of every model on the rack's servers."""
    model_tokens_per_s: dict[str, float]
    """model -> generated tokens/s over the whole facility: the comparable figure."""
    facility_tokens_per_s: float | None
    """Every model summed (a mixed-workload figure); None when no series has a rate yet."""
    gpu_power_w: dict[str, float]
    """server -> watts, from GPU energy counters (Triton's ``nv_energy_consumption``)."""

    def total_gpu_power_w(self) -> float | None:
        """Power of every server that produced tokens, or None unless each of them reports it:
        a partial sum would make tokens per joule look better than it is."""
        servers = {server for server, _model in self.tokens_per_s}
        if not servers or not servers <= self.gpu_power_w.keys():
            return None
        return sum(self.gpu_power_w[server] for server in servers)


def aggregate(rates: Mapping[SeriesKey, float], rack_of: Mapping[str, str]) -> TokenRates:
    """Sums per-series rates by server and model, rack, model and facility."""

    def of_kind(kind: CounterKind) -> dict[SeriesKey, float]:
        return {series: rate for series, rate in rates.items() if series[3] == kind}

    generation = of_kind("generation")
    return TokenRates(
        tokens_per_s=_sum_by(generation, lambda s: (s[0], s[1])),
        prompt_tokens_per_s=_sum_by(of_kind("prompt"), lambda s: (s[0], s[1])),
        rack_tokens_per_s=_sum_by(generation, lambda s: rack_of.get(s[0])),
        model_tokens_per_s=_sum_by(generation, lambda s: s[1]),
        facility_tokens_per_s=sum(generation.values()) if generation else None,
        gpu_power_w=_sum_by(of_kind("energy"), lambda s: s[0]),
    )


class CounterRates:
    """Remembers the last reading of every series and turns each new round into rates.

    ``rack_of`` maps a server (``host:port``) to its rack id; servers not in it count towards
    the facility but no rack.
    """

    def __init__(
        self, rack_of: Mapping[str, str] | None = None, max_gap_s: float = DEFAULT_MAX_GAP_S
    ) -> None:
        self.rack_of: Mapping[str, str] = dict(rack_of or {})
        self.max_gap_s = max_gap_s
        self._last: dict[SeriesKey, tuple[float, float]] = {}
        self._rates: dict[SeriesKey, float] = {}
        """The latest rate of each series, held until its server is read again."""

    def update(
        self, samples: Iterable[TokenSample], time_s: float, servers: Collection[str] | None = None
    ) -> TokenRates:
        """Takes one round's readings (all taken at ``time_s``) of ``servers`` (None: every
        server) and returns the rates of every series after it."""
        if servers is None:
            self._rates.clear()
        else:
            for series in [s for s in self._rates if s[0] in servers]:
                del self._rates[series]
        for sample in samples:
            series = sample.series
            rate = counter_rate(self._last.get(series), time_s, sample.value, self.max_gap_s)
            self._last[series] = (time_s, sample.value)
            if rate is not None:
                self._rates[series] = rate
        self._forget_before(time_s - self.max_gap_s)
        return aggregate(self._rates, self.rack_of)

    def _forget_before(self, oldest_s: float) -> None:
        """Drops series gone quiet (replicas removed, servers down): they could give no rate."""
        stale = [series for series, (time_s, _value) in self._last.items() if time_s < oldest_s]
        for series in stale:
            del self._last[series]
            self._rates.pop(series, None)
