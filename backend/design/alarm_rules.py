"""Alarm rules: what the service raises an alarm on, as data in the design file.

Engineers edit rules like any other part of the design, so a site's limits travel with its plan.
A design file without ``alarm_rules`` gets :func:`default_rules`, the set that ships with every
design, so files written before alarms existed open unchanged (the schema stays at version 1).

Every rule has an ``id`` (unique among the rules: the journal names alarms by it), a
``priority`` (ISA-18.2 advises about 5 % high, 15 % medium, 80 % low) and the on-delay and
off-delay that keep a noisy signal from raising and clearing an alarm on every reading. The kinds:

- ``threshold``: a quantity over (``high``) or under (``low``) a limit, clearing only once it is
  back past the limit by ``deadband``;
- ``rate``: a quantity changing faster than ``max_per_min`` in either direction;
- ``stale``: a series with no reading for longer than the store's staleness limit;
- ``quality``: a reading whose DSX quality is not 1 (good);
- ``state``: a discrete point at a given value (``RackLeakDetect`` = Leak is ``leak`` = 1);
- ``source_offline``: a node or a telemetry source reported offline or down;
- ``heartbeat``: the BMS heartbeat lost;
- ``design_limit``: a limit the design itself sets (a loop's heat against its CDU's capacity, a
  loop's flow against what its heat needs, a feed's load against its capacity, a rack's heat to
  air against the air-cooling limit);
- ``plausibility``: readings that contradict each other (a heat balance off by more than
  ``tolerance``, a CDU's flow far from the sum of its racks' flows): a sensor is wrong;
- ``clock_events``: a GPU whose NVML clock-event mask (``clock_event_reasons``) has any of the
  rule's ``reasons`` set: thermal slowdown, hardware slowdown, the power brake. The message
  names them in words (``design.nvml_codes``);
- ``counter``: a GPU counter (``ecc_volatile_total``: uncorrected, double-bit ECC errors)
  going up. Its first reading is the baseline, so errors counted before the service started
  (or before a restart) raise nothing; a counter going down (a driver reload resets volatile
  counts) is a new baseline. The alarm clears once ``off_delay_s`` pass with no further
  increase (readings or not): the counter never goes back, so "still active" could only mean
  "recently". An operator still has to acknowledge it (it stays listed, returned to normal
  but unacknowledged), so one lost error is never missed even after it clears;
- ``xid``: a GPU's NVML Xid critical-error event, counted by the NVML source
  (``xid_total``, with the last code as ``xid``); raised and cleared like ``counter``, with
  the Xid code and, for the well-known ones, what it means.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from factoryfloor.backend.design.model_base import EntityId, StrictModel
from factoryfloor.backend.design.nvml_codes import CLOCK_EVENT_REASONS, clock_event_mask

Priority = Literal["high", "medium", "low"]
PRIORITIES: tuple[Priority, ...] = ("high", "medium", "low")
"""Most urgent first."""

SeriesKind = Literal["gpu", "rack", "cdu", "loop"]
"""The series a rule can watch, by the first segment of their keys (``telemetry.series``)."""

Seconds = Annotated[float, Field(ge=0, le=86_400)]
Share = Annotated[float, Field(gt=0, le=10)]

GPU_SLOWDOWN_C = 89.0
"""NVML's slowdown threshold on the recorded H100 (design notes, section 4): above it the GPU
clocks itself down and tokens per joule fall."""


class _Rule(StrictModel):
    id: EntityId
    """Names the rule's alarms in the journal: unique among the design's rules."""
    priority: Priority
    on_delay_s: Seconds = 0.0
    """The condition must hold this long before the alarm is raised."""
    off_delay_s: Seconds = 0.0
    """The condition must be gone this long before the alarm clears."""


class _SeriesRule(_Rule):
    series: SeriesKind
    """Which kind of series: ``gpu``, ``rack``, ``cdu`` or ``loop``."""
    quantity: str = Field(min_length=1, max_length=64, pattern=r"^(\*|[a-z0-9_]+)$")
    """The quantity with its unit, as in series keys: ``temp_c``, ``supply_temp_c``, ``leak``;
    ``*``: every quantity of the kind (for ``stale`` and ``quality``)."""
    entities: list[EntityId] = Field(default_factory=list, max_length=100_000)
    """Only these racks, CDUs, loops (or, for GPUs, hosts); empty: all of them."""


class ThresholdRule(_SeriesRule):
    kind: Literal["threshold"] = "threshold"
    direction: Literal["high", "low"]
    limit: float
    deadband: float = Field(default=0.0, ge=0)
    """A high alarm clears below ``limit - deadband``, a low one above ``limit + deadband``."""


class RateRule(_SeriesRule):
    kind: Literal["rate"] = "rate"
    max_per_min: float = Field(gt=0)
    """Change per minute, either way, beyond which the alarm is raised."""


class StaleRule(_SeriesRule):
    kind: Literal["stale"] = "stale"


class QualityRule(_SeriesRule):
    kind: Literal["quality"] = "quality"


class StateRule(_SeriesRule):
    kind: Literal["state"] = "state"
    value: float = 1.0
    """The value that is the alarm state (``leak`` 1: Leak)."""
    meaning: str = Field(min_length=1, max_length=120)
    """What that state is, in words: ``leak detected``."""


class SourceOfflineRule(_Rule):
    kind: Literal["source_offline"] = "source_offline"


class HeartbeatRule(_Rule):
    kind: Literal["heartbeat"] = "heartbeat"


DesignLimit = Literal[
    "loop_heat_over_cdu", "loop_flow_below_need", "feed_over_capacity", "rack_air_over_limit"
]


class DesignLimitRule(_Rule):
    kind: Literal["design_limit"] = "design_limit"
    limit: DesignLimit
    margin: float = Field(default=0.0, ge=0, le=1)
    """Share beyond the design's limit before the alarm is raised (0: at the limit)."""


Plausibility = Literal["rack_heat_balance", "loop_heat_balance", "cdu_flow_vs_racks"]


class PlausibilityRule(_Rule):
    kind: Literal["plausibility"] = "plausibility"
    check: Plausibility
    tolerance: Share = 0.25
    """Share by which the two figures may differ, of the larger."""
    floor: float = Field(default=5.0, ge=0)
    """Below this (kW, or L/min for flows) on both sides the check is skipped: at idle the
    difference of two small noisy figures means nothing."""


ClockEventReason = Literal[tuple(CLOCK_EVENT_REASONS.values())]  # type: ignore[valid-type]
"""A clock-event reason by its name (``HW thermal``), as ``design.nvml_codes`` names the bits."""


class _GpuRule(_Rule):
    entities: list[EntityId] = Field(default_factory=list, max_length=100_000)
    """Only the GPUs of these racks or hosts; empty: every GPU."""


class _GpuEventRule(_GpuRule):
    on_delay_s: Annotated[float, Field(ge=0, le=0)] = 0.0
    """Always 0: an increase is seen at one evaluation only, so it is raised at once."""


class ClockEventRule(_GpuRule):
    kind: Literal["clock_events"] = "clock_events"
    reasons: list[ClockEventReason] = Field(min_length=1, max_length=len(CLOCK_EVENT_REASONS))
    """Any of these set in the GPU's clock-event mask raises the alarm. ``SW power cap`` is
    routine for a GPU held under a power limit and is not in the default set."""

    @property
    def mask(self) -> int:
        return clock_event_mask(*self.reasons)


class CounterRule(_GpuEventRule):
    kind: Literal["counter"] = "counter"
    quantity: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    """The GPU counter watched, as in series keys: ``ecc_volatile_total``."""
    meaning: str = Field(min_length=1, max_length=120)
    """What one more count is, in words: ``uncorrected ECC error``."""


class XidRule(_GpuEventRule):
    kind: Literal["xid"] = "xid"


AlarmRule = Annotated[
    ThresholdRule
    | RateRule
    | StaleRule
    | QualityRule
    | StateRule
    | SourceOfflineRule
    | HeartbeatRule
    | DesignLimitRule
    | PlausibilityRule
    | ClockEventRule
    | CounterRule
    | XidRule,
    Field(discriminator="kind"),
]


LEAK_RULE = "rack-leak"
"""The default rule of a rack's leak detector: its alarm offers isolating the rack."""


def default_rules() -> list[AlarmRule]:
    """The rules every design ships with: leaks and lost telemetry first, then the design's
    own limits, then readings that cannot all be true, then what NVML says of each GPU. Leaks,
    the BMS heartbeat, capacity overruns and Xid critical errors are high; double-bit ECC
    errors and hardware slowdown medium; the rules that watch every series (quality,
    staleness, rates, GPU temperatures, thermal slowdown) are low, so that most alarms a site
    sees are low, as ISA-18.2's split of about 5 % high, 15 % medium and 80 % low asks."""
    return [
        StateRule(id=LEAK_RULE, priority="high", series="rack", quantity="leak",
                  meaning="leak detected"),
        StateRule(id="rack-leak-sensor-fault", priority="medium", series="rack",
                  quantity="leak_sensor_fault", meaning="leak sensor fault"),
        StateRule(id="rack-liquid-isolated", priority="low", series="rack",
                  quantity="liquid_isolated", meaning="liquid isolated"),
        StateRule(id="rack-electrical-isolated", priority="low", series="rack",
                  quantity="electrical_isolated", meaning="electrically isolated"),
        HeartbeatRule(id="bms-heartbeat", priority="high"),
        SourceOfflineRule(id="source-offline", priority="medium", on_delay_s=10.0),
        DesignLimitRule(id="loop-heat-over-cdu", priority="high", limit="loop_heat_over_cdu",
                        on_delay_s=10.0, off_delay_s=30.0),
        DesignLimitRule(id="loop-flow-below-need", priority="medium",
                        limit="loop_flow_below_need", margin=0.05, on_delay_s=30.0,
                        off_delay_s=30.0),
        DesignLimitRule(id="feed-over-capacity", priority="high", limit="feed_over_capacity",
                        on_delay_s=5.0, off_delay_s=30.0),
        DesignLimitRule(id="rack-air-over-limit", priority="medium", limit="rack_air_over_limit",
                        on_delay_s=30.0, off_delay_s=30.0),
        ThresholdRule(id="gpu-slowdown", priority="low", series="gpu", quantity="temp_c",
                      direction="high", limit=GPU_SLOWDOWN_C, deadband=3.0, on_delay_s=5.0),
        ThresholdRule(id="rack-supply-hot", priority="medium", series="rack",
                      quantity="supply_temp_c", direction="high", limit=45.0, deadband=1.0,
                      on_delay_s=30.0),
        RateRule(id="rack-supply-rising", priority="low", series="rack",
                 quantity="supply_temp_c", max_per_min=5.0),
        QualityRule(id="rack-quality", priority="low", series="rack", quantity="*"),
        QualityRule(id="cdu-quality", priority="low", series="cdu", quantity="*"),
        StaleRule(id="rack-stale", priority="low", series="rack", quantity="*"),
        StaleRule(id="cdu-stale", priority="low", series="cdu", quantity="*"),
        PlausibilityRule(id="rack-heat-balance", priority="low", check="rack_heat_balance",
                         on_delay_s=60.0, off_delay_s=60.0),
        PlausibilityRule(id="loop-heat-balance", priority="low", check="loop_heat_balance",
                         on_delay_s=60.0, off_delay_s=60.0),
        PlausibilityRule(id="cdu-flow-vs-racks", priority="medium", check="cdu_flow_vs_racks",
                         tolerance=0.5, floor=10.0, on_delay_s=60.0, off_delay_s=60.0),
        XidRule(id="gpu-xid", priority="high", off_delay_s=600.0),
        CounterRule(id="gpu-ecc-uncorrected", priority="medium", quantity="ecc_volatile_total",
                    meaning="uncorrected ECC error", off_delay_s=600.0),
        ClockEventRule(id="gpu-hw-slowdown", priority="medium",
                       reasons=["HW slowdown", "power brake"], on_delay_s=5.0, off_delay_s=10.0),
        ClockEventRule(id="gpu-thermal-slowdown", priority="low",
                       reasons=["SW thermal", "HW thermal"], on_delay_s=5.0, off_delay_s=10.0),
    ]  # fmt: skip
