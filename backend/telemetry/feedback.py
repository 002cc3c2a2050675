"""The BMS points that confirm requests, watched as they arrive.

A request is confirmed by the BMS's own point reaching the value asked for, and the operator
waits for it, so the wait must end with the message that confirms, not at the next poll.
:class:`FeedbackSink` sits in front of the telemetry store on the MQTT source's way in: every
batch passes through unchanged, and the readings of the confirming series (a CDU's supply
temperature setpoint, a rack's isolation status) are kept and wake whoever waits on them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from factoryfloor.backend.design.mqtt_settings import CONFIRMED_BY
from factoryfloor.backend.telemetry.readings import Reading
from factoryfloor.backend.telemetry.series import EntitySeries, parse
from factoryfloor.backend.telemetry.sink import GOOD, SourceEvent, TelemetrySink

FEEDBACK_QUANTITIES = frozenset(CONFIRMED_BY.values())
KEYS_REMEMBERED = 100_000
"""Keys whose verdict (feedback or not) is cached; past it the cache starts over."""


class FeedbackSink:
    """A ``TelemetrySink`` passing everything to ``inner`` and keeping the confirming series."""

    def __init__(self, inner: TelemetrySink) -> None:
        self._inner = inner
        self._is_feedback: dict[str, bool] = {}
        self._latest: dict[str, Reading] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}

    def write(
        self,
        keys: Sequence[str],
        times_s: Sequence[float],
        values: Sequence[float],
        quality: Sequence[int] | None = None,
    ) -> None:
        self._inner.write(keys, times_s, values, quality)
        verdicts = self._is_feedback
        for i, key in enumerate(keys):
            verdict = verdicts.get(key)
            if verdict is None:
                verdict = self._judge(key)
            if verdict:
                good = GOOD if quality is None else int(quality[i])
                self._latest[key] = Reading(float(times_s[i]), float(values[i]), good)
                for waiter in self._waiters.pop(key, ()):
                    if not waiter.done():
                        waiter.set_result(None)

    def event(self, event: SourceEvent) -> None:
        self._inner.event(event)

    def latest(self, key: str) -> Reading | None:
        """The last reading of a confirming series, if one arrived."""
        return self._latest.get(key)

    def next_reading(self, key: str) -> asyncio.Future[None]:
        """A future done when the next reading of ``key`` arrives: taken before publishing a
        request, so an answer faster than the publish call returns is not missed."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(waiter)
        return waiter

    def _judge(self, key: str) -> bool:
        if len(self._is_feedback) >= KEYS_REMEMBERED:
            self._is_feedback.clear()
        named = parse(key)
        verdict = isinstance(named, EntitySeries) and named.quantity in FEEDBACK_QUANTITIES
        self._is_feedback[key] = verdict
        return verdict
