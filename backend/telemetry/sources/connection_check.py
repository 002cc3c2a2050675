"""Connection checks of a design's telemetry sources: can this source be read, and if not,
exactly why, in words an engineer can act on.

Each check is one blocking call with a deadline, made off the GUI thread (or from the command
line), returning a :class:`CheckResult` and never raising for anything the far end does:

- MQTT: connects as the source would (same TLS, login and plaintext rules), but under a client
  id of its own and with a clean session, so it neither displaces the running service's
  connection nor leaves a session on the broker. Failures are named by ``mqtt_diagnosis``
  (refused, not MQTT, wants TLS, certificate for another host) or by the broker's CONNACK
  (bad credentials). Connected, it counts the BMS points whose retained metadata the broker
  holds, which is also what the BMS mapping review reads (:func:`read_bms_metadata`).
- Prometheus: one GET of the page, whole by the deadline; says the HTTP status of a refused
  GET, whether the page is Prometheus text at all, how many samples it holds and which
  inference server's token counters are on it.
- NVML: initialises the library on a daemon thread (a call can hang in the driver), and says
  whether the library or the driver is missing or how many GPUs it sees.

Retained messages have no end marker: the metadata is taken as complete once the broker has
been silent for ``RETAINED_QUIET_S`` after the last one (a broker sends its retained messages
back to back right after the subscription), or as far as it got by the deadline, which the
result then says.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from urllib.error import HTTPError

import aiomqtt
import pynvml
from aiomqtt.exceptions import MqttConnectError
from prometheus_client.parser import text_string_to_metric_families

from factoryfloor.backend.design.mqtt_settings import MqttConfig, resolve_password
from factoryfloor.backend.design.telemetry_settings import MetricsEndpoint
from factoryfloor.backend.telemetry.sources.bms_mapping import PointMetadata
from factoryfloor.backend.telemetry.sources.mqtt_source import (
    connect_client,
    describe_error,
    subscription_refused,
)
from factoryfloor.backend.telemetry.sources.payloads import PayloadError, decode_metadata
from factoryfloor.backend.telemetry.sources.prometheus import (
    DEFAULT_MAX_PAGE_BYTES,
    SERVER_FORMATS,
    ParseError,
    ServerKind,
    describe_failure,
    fetch_page,
    parse_token_counters,
)

CHECK_TIMEOUT_S = 8.0
"""Deadline of one check: enough for a TLS handshake and a diagnosis probe on a slow site
network (the diagnoses take at most about 3 s), short enough to wait for in a dialog."""
RETAINED_QUIET_S = 0.5
"""Silence after which the broker has sent all its retained metadata."""
CHECK_CLIENT_SUFFIX = "-check"
"""Appended to the design's client id: a check must not take over the service's session."""
NOT_AUTHORISED_CODES = frozenset((4, 5, 134, 135))
"""CONNACK codes refusing a login: 3.1.1 bad user name or password, not authorised; MQTT 5
bad user name or password, not authorised."""
SERVER_NAMES: dict[ServerKind, str] = {
    "vllm": "vLLM",
    "sglang": "SGLang",
    "dynamo": "NVIDIA Dynamo",
    "tgi": "HF TGI",
    "triton": "Triton",
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a check found: ``ok``, and one line saying what worked or exactly what failed."""

    ok: bool
    summary: str


@dataclass(frozen=True, slots=True)
class RetainedMetadata:
    """The BMS points whose metadata the broker holds retained."""

    points: list[PointMetadata]
    complete: bool
    """False when the deadline came while metadata was still arriving."""
    malformed: int = 0
    """Metadata messages that were not a JSON object, left out."""


class BrokerCheckError(Exception):
    """The broker could not be read; ``str()`` says why, in the operator's words."""


# -- MQTT ----------------------------------------------------------------------------------------


def check_config(config: MqttConfig) -> MqttConfig:
    """``config`` as a check connects with it: a client id of its own (this process's, so two
    windows checking at once do not displace each other either), a clean session."""
    suffix = f"{CHECK_CLIENT_SUFFIX}-{os.getpid()}"
    client_id = config.client_id[: 64 - len(suffix)] + suffix
    return config.model_copy(update={"client_id": client_id, "session_expiry_s": 0})


def describe_connect_failure(exc: BaseException) -> str:
    """``describe_error``, with a refused login said as such: the fix is the credentials."""
    if isinstance(exc, MqttConnectError) and _code(exc.rc) in NOT_AUTHORISED_CODES:
        return (
            f"the broker refused the login ({exc}): check the user name and password"
            " (the password comes from FACTORYFLOOR_MQTT_PASSWORD where none is typed)"
        )
    return describe_error(exc)


def _code(rc: object) -> object:
    """A CONNACK code as a number: aiomqtt gives paho's ReasonCode or a plain int."""
    return getattr(rc, "value", rc)


def read_bms_metadata(
    config: MqttConfig, password: str | None = None, timeout_s: float = CHECK_TIMEOUT_S
) -> RetainedMetadata:
    """The retained BMS metadata under ``config.bms_prefix`` (blocking, by ``timeout_s``);
    BrokerCheckError when the broker cannot be reached or refuses. ``password`` None: the one
    in ``FACTORYFLOOR_MQTT_PASSWORD``, as the source takes it."""
    return asyncio.run(_read_bms_metadata(config, resolve_password(password), timeout_s))


async def _read_bms_metadata(
    config: MqttConfig, password: str | None, timeout_s: float
) -> RetainedMetadata:
    deadline_s = time.monotonic() + timeout_s
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(timeout_s):
                    client = await stack.enter_async_context(
                        connect_client(check_config(config), password)
                    )
            except TimeoutError:
                where = f"{config.host}:{config.port}"
                raise BrokerCheckError(f"no answer from {where} within {timeout_s:g} s") from None
            if not config.bms_prefix:
                return RetainedMetadata([], complete=True)
            return await _retained(client, config.bms_prefix, deadline_s)
    except (aiomqtt.MqttError, OSError, ValueError) as exc:  # ValueError: a bad host name
        raise BrokerCheckError(describe_connect_failure(exc)) from None


async def _retained(client: aiomqtt.Client, prefix: str, deadline_s: float) -> RetainedMetadata:
    topic_start = f"{prefix}/Metadata/"
    granted = await client.subscribe(topic_start + "#")
    if any(subscription_refused(code) for code in granted):
        raise BrokerCheckError(
            f"connected, but the broker refused the subscription to {topic_start}#:"
            " is this user allowed to read the BMS topics?"
        )
    points: dict[str, PointMetadata] = {}
    malformed = 0
    messages = client.messages
    while True:
        left_s = deadline_s - time.monotonic()
        if left_s <= 0:
            return RetainedMetadata(sorted_points(points), False, malformed)
        try:
            async with asyncio.timeout(min(RETAINED_QUIET_S, left_s)):
                message = await anext(messages)
        except TimeoutError:
            complete = left_s > RETAINED_QUIET_S
            return RetainedMetadata(sorted_points(points), complete, malformed)
        parts = message.topic.value.removeprefix(topic_start).split("/", 2)
        if len(parts) < 3 or not all(parts):
            malformed += 1
            continue
        try:
            fields = decode_metadata(message.payload)  # type: ignore[arg-type]
        except PayloadError:
            malformed += 1
            continue
        point = PointMetadata(parts[0], parts[1], parts[2], fields)
        points[point.point_id] = point


def sorted_points(points: dict[str, PointMetadata]) -> list[PointMetadata]:
    return [points[point_id] for point_id in sorted(points)]


def check_mqtt(
    config: MqttConfig, password: str | None = None, timeout_s: float = CHECK_TIMEOUT_S
) -> CheckResult:
    """Connect to the broker and count the BMS points it holds metadata for."""
    try:
        metadata = read_bms_metadata(config, password, timeout_s)
    except BrokerCheckError as exc:
        return CheckResult(False, str(exc))
    link = "TLS" if config.tls else "plaintext, not encrypted"
    summary = f"connected to {config.host}:{config.port} ({link})"
    if not config.bms_prefix:
        return CheckResult(True, f"{summary}; no BMS prefix set, so no BMS points read")
    count = len(metadata.points)
    points = f"{count} BMS point{'' if count == 1 else 's'} with retained metadata"
    more = "" if metadata.complete else f" (still arriving after {timeout_s:g} s)"
    if not count:  # a broker may also hide topics a user may not read, saying nothing
        more = ": is a BMS publishing there, and may this user read its topics?"
    bad = ""
    if metadata.malformed:
        bad = f"; {metadata.malformed} malformed metadata message(s) left out"
    return CheckResult(True, f"{summary}; {points} under {config.bms_prefix}{more}{bad}")


# -- Prometheus ----------------------------------------------------------------------------------


def check_metrics(endpoint: MetricsEndpoint, timeout_s: float = CHECK_TIMEOUT_S) -> CheckResult:
    """GET the page and say what it holds: samples, and which server's token counters."""
    url = endpoint.url
    try:
        text = fetch_page(url, timeout_s, DEFAULT_MAX_PAGE_BYTES)
    except ParseError as exc:  # the content type, or the size
        return CheckResult(False, f"{url}: not a Prometheus text page: {exc.reason}")
    except HTTPError as exc:
        return CheckResult(False, f"{url}: HTTP {exc.code} {exc.reason}")
    except Exception as exc:  # what a GET can meet: refused, timed out, TLS, a bad answer
        return CheckResult(False, f"{url}: {describe_failure(exc, timeout_s)[1]}")
    try:
        samples = sum(len(family.samples) for family in text_string_to_metric_families(text))
    except Exception as exc:  # the reference parser signals bad text with several types
        return CheckResult(False, f"{url}: not a Prometheus text page ({exc})")
    if not samples:
        return CheckResult(False, f"{url}: the page holds no samples")
    tokens = _tokens(text, endpoint)
    plural = "" if samples == 1 else "s"
    return CheckResult(True, f"{url}: Prometheus text, {samples} sample{plural}; {tokens}")


def _tokens(text: str, endpoint: MetricsEndpoint) -> str:
    """Which server kinds' token counters the page holds, in words."""
    kinds = [endpoint.server_kind] if endpoint.server_kind else list(SERVER_FORMATS)
    found = []
    for kind in kinds:
        try:
            series = parse_token_counters(text, kind, model=endpoint.model)
        except ParseError as exc:
            return f"{SERVER_NAMES[kind]} token counters malformed: {exc.reason}"
        if series:
            models = sorted({sample.model for sample in series if sample.model})
            named = f" (model {', '.join(models)})" if models else ""
            found.append(f"{SERVER_NAMES[kind]} token counters: {len(series)} series{named}")
    if found:
        return "; ".join(found)
    wanted = " or ".join(SERVER_NAMES[kind] for kind in kinds)
    return f"no {wanted} token counters on the page"


# -- NVML ----------------------------------------------------------------------------------------


def check_nvml(timeout_s: float = CHECK_TIMEOUT_S) -> CheckResult:
    """Whether NVML works on this machine, and the GPUs it sees. The calls run on a daemon
    thread: one hung in the driver is reported at the deadline and cannot hold the exit."""
    answer: Future[CheckResult] = Future()
    threading.Thread(
        target=_answer, args=(answer, _read_nvml), daemon=True, name="nvml-check"
    ).start()
    try:
        return answer.result(timeout=timeout_s)
    except TimeoutError:
        return CheckResult(False, f"NVML gave no answer within {timeout_s:g} s: a hung driver")


def _answer(answer: Future[CheckResult], work: Callable[[], CheckResult]) -> None:
    try:
        answer.set_result(work())
    except BaseException as exc:
        answer.set_exception(exc)


def _read_nvml() -> CheckResult:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        return CheckResult(False, "NVML library not found: no NVIDIA driver on this machine")
    except pynvml.NVMLError_DriverNotLoaded:
        return CheckResult(False, "the NVIDIA driver is installed but not loaded")
    except pynvml.NVMLError as exc:
        return CheckResult(False, f"NVML did not start: {exc}")
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        count = pynvml.nvmlDeviceGetCount()
        names = [
            pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)
        ]
    except pynvml.NVMLError as exc:
        return CheckResult(False, f"NVML started but could not list the GPUs: {exc}")
    finally:
        pynvml.nvmlShutdown()
    if not count:
        return CheckResult(False, f"NVML works (driver {driver}) but sees no GPU")
    kinds = ", ".join(f"{names.count(name)} x {name}" for name in dict.fromkeys(names))
    plural = "" if count == 1 else "s"
    return CheckResult(True, f"{count} GPU{plural} found (driver {driver}): {kinds}")
