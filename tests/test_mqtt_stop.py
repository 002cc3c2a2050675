"""Stopping the MQTT source is quiet, whenever it happens, against a real Mosquitto.

A stop at the wrong moment used to print event-loop tracebacks (``add_writer`` on a socket
already closed: ``Bad file descriptor``), or, when it came mid-connect, leave a socket open and
a client whose collection called back into a closed loop (``Event loop is closed``, ``Task was
destroyed but it is pending``). Each cycle here runs the source in a loop of its own, so that
anything left behind after the stop meets a closed loop, as it would when the backend exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from factoryfloor.backend.design.mqtt_settings import MqttConfig
from factoryfloor.backend.telemetry.sink import RecordingSink
from factoryfloor.backend.telemetry.sources.mqtt_source import MqttSource

if TYPE_CHECKING:
    from broker import Mosquitto

pytest_plugins = ["broker"]

TOPIC = "factoryfloor/v1/node/quiet-1/readings"
KEY = "gpu/quiet-1/0/power_w"
WAIT_S = 15.0

Stage = Callable[[RecordingSink], bool]
STAGES: dict[str, Stage] = {
    "at once": lambda sink: True,
    "while connecting": lambda sink: any(e.detail == "connecting" for e in sink.events),
    "once connected": lambda sink: any(e.detail.startswith("connected") for e in sink.events),
    "while readings arrive": lambda sink: len(sink.readings) > 0,
}
"""When to stop: before anything happened, between the first attempt and the broker's answer,
right after it, and with messages flowing."""
CYCLES_PER_STAGE = 8


def socket_count() -> int:
    """Sockets this process holds open."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Whatever closes a socket must be the stop, not the garbage collector."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def run_and_stop(config: MqttConfig, stage: Stage, noise: list[str]) -> None:
    asyncio.get_running_loop().set_exception_handler(
        lambda loop, context: noise.append(f"{context['message']}: {context.get('exception')!r}")
    )
    sink = RecordingSink()
    task = asyncio.create_task(MqttSource(config, sink).run())
    deadline_s = time.monotonic() + WAIT_S
    while not stage(sink):
        assert time.monotonic() < deadline_s, "the stage was never reached"
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("broker_fixture", ["mosquitto", "tls_mosquitto"])
def test_stopping_at_any_moment_is_quiet_and_closes_the_connection(
    broker_fixture: str,
    request: pytest.FixtureRequest,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mosquitto: Mosquitto = request.getfixturevalue(broker_fixture)
    tls = mosquitto.tls
    publisher = mosquitto.publisher()
    publisher.publish(TOPIC, {"key": KEY, "value": 700.0, "ts": time.time()}, retain=True)
    noise: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: noise.append(f"{u.exc_value!r}"))
    sockets_before = socket_count()
    with collector_paused():
        for name, stage in STAGES.items():
            for cycle in range(CYCLES_PER_STAGE):
                config = MqttConfig(
                    host=mosquitto.host,
                    port=mosquitto.port,
                    client_id=f"quiet-{cycle}",
                    tls=tls is not None,
                    ca_file=None if tls is None else str(tls.ca_cert),
                )
                asyncio.run(run_and_stop(config, stage, noise))
            assert socket_count() == sockets_before, f"a stop {name} left its socket open"
    gc.collect()  # clients of loops long closed: their collection must say nothing either
    publisher.close()
    assert noise == []
    assert [r.getMessage() for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []
    stderr = capfd.readouterr().err
    assert "Traceback" not in stderr and "Caught exception" not in stderr, stderr
