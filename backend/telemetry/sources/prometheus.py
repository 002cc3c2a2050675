"""Token output read from inference servers' Prometheus ``/metrics`` pages.

Each server kind names its token counters differently (design notes, section 3):

========  ===============================================  ===================  ============
kind      generated tokens                                 prompt tokens        model label
========  ===============================================  ===================  ============
vllm      ``vllm:generation_tokens_total`` (counter)       ``vllm:prompt_...``  model_name
sglang    ``sglang:generation_tokens_total`` (counter)     ``sglang:prompt_.``  model_name
dynamo    ``dynamo_frontend_output_tokens_total``          input sequence _sum  model
tgi       histogram ``tgi_request_generated_tokens`` _sum  input length _sum    (none)
triton    histogram ``nv_llm_output_token_len`` _sum       input token len _sum model
========  ===============================================  ===================  ============

Triton also reports ``nv_energy_consumption`` (joules per GPU since start), read as an energy
counter so tokens per joule can be had from the same page.

Parsing: only the lines that carry token or energy counters go to prometheus-client's reference
parser. On a 1.3 MB vLLM page of 50 models x 20 replicas (``bench/prometheus_parse.py``) the
reference parser takes 0.2-0.3 s for the whole page, almost all of it histogram buckets, against
about 40 ms for its 2,000 token lines (a one-server page: 8 ms against 0.13 ms). Parsing threads
share one interpreter lock, so that is the cost on one core whatever the core count. So the page
is split into lines and a line is kept when it starts with a wanted sample name
(``str.startswith`` with a tuple of names, a C loop). Comment lines are dropped too, and that
sidesteps three quirks of ``text_string_to_metric_families``:

- it strips ``_total`` from the *family* name of a counter declared ``foo_total``;
- for a counter declared without ``_total`` (Triton's ``# TYPE nv_energy_consumption counter``)
  it renames the *samples* to ``nv_energy_consumption_total``;
- a ``foo_created`` sample (the counter's creation time in epoch seconds) becomes a family of
  its own, untyped or gauge: never tokens.

With no TYPE lines each kept sample comes back as an untyped family named exactly as on the
page, and samples are matched by that exact name, never by family name. Histogram buckets
(``le`` as a string) are never kept: only ``_sum`` is, the cumulative token count. Lines of
other metrics are not validated: a broken latency bucket does not cost the token figures.
Sample timestamps are ignored; the scrape time is the reading's time, as in Prometheus.

Series keys written to the sink are built by ``backend/telemetry/series.py``: tokens/s and
prompt tokens/s per server and model, per rack, per model over the facility (see
``token_rate``), and the facility's tokens/s and tokens per joule. Model names contain ``/``
(``meta-llama/Llama-3.1-8B-Instruct``), so their key segment is percent-encoded
(``meta-llama%2FLlama-3.1-8B-Instruct``); ``series.parse`` gives the name back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import io
import math
import queue
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from factoryfloor.backend.telemetry.series import (
    entity_key,
    facility_key,
    facility_model_key,
    tokens_key,
)
from factoryfloor.backend.telemetry.sink import EventKind, SourceEvent, TelemetrySink
from factoryfloor.backend.telemetry.sources.token_rate import (
    DEFAULT_MAX_GAP_S,
    CounterKind,
    CounterRates,
    TokenRates,
    TokenSample,
    tokens_per_j,
)

ServerKind = Literal["vllm", "sglang", "dynamo", "tgi", "triton"]

UNNAMED_MODEL = "unnamed"
"""Model of a page whose counters carry no model label (TGI serves one model and does not name
it) when the endpoint does not name it either."""

SOURCE = "prometheus"
METRICS_CONTENT_TYPES = ("text/plain", "application/openmetrics-text")
DEFAULT_MAX_PAGE_BYTES = 32 * 1024 * 1024
MAX_LINE_SHOWN = 160


@dataclass(frozen=True, slots=True)
class ServerFormat:
    """What one kind of server calls its counters, and which label names the model."""

    counters: Mapping[str, CounterKind]
    """Sample name exactly as on the page -> what it counts."""
    model_label: str | None


SERVER_FORMATS: dict[ServerKind, ServerFormat] = {
    "vllm": ServerFormat(
        {"vllm:generation_tokens_total": "generation", "vllm:prompt_tokens_total": "prompt"},
        "model_name",
    ),
    "sglang": ServerFormat(
        {"sglang:generation_tokens_total": "generation", "sglang:prompt_tokens_total": "prompt"},
        "model_name",
    ),
    "dynamo": ServerFormat(
        {
            "dynamo_frontend_output_tokens_total": "generation",
            "dynamo_frontend_input_sequence_tokens_sum": "prompt",
        },
        "model",
    ),
    "tgi": ServerFormat(
        {
            "tgi_request_generated_tokens_sum": "generation",
            "tgi_request_input_length_sum": "prompt",
        },
        None,
    ),
    "triton": ServerFormat(
        {
            "nv_llm_output_token_len_sum": "generation",
            "nv_llm_input_token_len_sum": "prompt",
            "nv_energy_consumption": "energy",
        },
        "model",
    ),
}

_KINDS_OF_NAME: dict[str, tuple[ServerKind, CounterKind]] = {
    name: (server_kind, counter_kind)
    for server_kind, server_format in SERVER_FORMATS.items()
    for name, counter_kind in server_format.counters.items()
}


class ParseError(ValueError):
    """A page refused, with the endpoint and, where one line is to blame, that line."""

    def __init__(
        self, endpoint: str, reason: str, line_number: int | None = None, line: str | None = None
    ) -> None:
        self.endpoint = endpoint
        self.reason = reason
        self.line_number = line_number
        self.line = line
        where = f" line {line_number}" if line_number is not None else ""
        shown = f": {line[:MAX_LINE_SHOWN]!r}" if line is not None else ""
        super().__init__(f"{endpoint}{where}: {reason}{shown}")


def parse_token_counters(
    text: str, server_kind: ServerKind | None = None, *, server: str = "", model: str | None = None
) -> list[TokenSample]:
    """The token (and energy) counters on a ``/metrics`` page.

    ``server_kind`` None detects the kind from the counters present; a page with the counters of
    two kinds is refused rather than guessed. ``server`` names the endpoint in the samples and in
    errors; ``model`` names the model where the page does not. A page with no token counters
    gives an empty list: a server that has served nothing yet may not show them. Raises
    ``ParseError`` for a malformed token line, a repeated series, or a count that is negative
    or not finite.
    """
    names = SERVER_FORMATS[server_kind].counters if server_kind else _KINDS_OF_NAME
    lines = _lines_starting_with(text, tuple(names))
    wanted = [sample for sample in _parse_samples(lines, server) if sample[0] in names]
    _check_counts(wanted, server)
    samples = [_token_sample(*sample, server, model or UNNAMED_MODEL) for sample in wanted]
    _check_one_server_kind(samples, server)
    return [sample for sample, _kind in samples]


Parsed = tuple[str, dict[str, str], float]
"""A sample as parsed: name, labels, value."""


def _lines_starting_with(text: str, prefixes: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line number, line) of each line that starts with one of ``prefixes``. Lines end at
    ``\\n`` only, as the reference parser reads them (``splitlines`` would also split on form
    feeds and Unicode separators inside HELP text and shift the line numbers)."""
    return [
        (number, line)
        for number, line in enumerate(text.split("\n"), start=1)
        if line.lstrip().startswith(prefixes)
    ]


def _parse_samples(lines: list[tuple[int, str]], endpoint: str) -> Iterator[Parsed]:
    try:
        families = list(text_string_to_metric_families("\n".join(line for _n, line in lines)))
    except Exception:  # the reference parser signals bad text with several exception types
        raise _blame_line(lines, endpoint) from None
    for family in families:
        for sample in family.samples:
            yield sample.name, sample.labels, float(sample.value)


def _check_counts(samples: list[Parsed], endpoint: str) -> None:
    """Refuses a series given twice and a count that is negative or not finite."""
    seen: set[str] = set()
    for name, labels, value in samples:
        series = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
        if series in seen:
            raise ParseError(endpoint, f"series {series} appears twice")
        seen.add(series)
        if not math.isfinite(value) or value < 0.0:
            raise ParseError(endpoint, f"counter {series} is {value}")


def _blame_line(lines: list[tuple[int, str]], endpoint: str) -> ParseError:
    """The first line the reference parser refuses on its own, as a ParseError."""
    for number, line in lines:
        try:
            list(text_string_to_metric_families(line))
        except Exception as error:
            return ParseError(endpoint, str(error) or type(error).__name__, number, line)
    return ParseError(endpoint, "malformed token counters")


def _token_sample(
    name: str, labels: dict[str, str], value: float, server: str, default_model: str
) -> tuple[TokenSample, ServerKind]:
    server_kind, counter_kind = _KINDS_OF_NAME[name]
    model_label = SERVER_FORMATS[server_kind].model_label
    others = {key: label for key, label in labels.items() if key != model_label}
    if counter_kind == "energy":
        model = ""
    elif model_label is None:
        model = default_model
    else:
        model = labels.get(model_label, default_model)
    sample = TokenSample(server, model, tuple(sorted(others.items())), counter_kind, value)
    return sample, server_kind


def _check_one_server_kind(samples: list[tuple[TokenSample, ServerKind]], endpoint: str) -> None:
    kinds = sorted({server_kind for _sample, server_kind in samples})
    if len(kinds) > 1:
        raise ParseError(
            endpoint,
            f"token counters of {' and '.join(kinds)} on one page: name the server kind",
        )


class Endpoint(NamedTuple):
    """A ``/metrics`` page to scrape. Scrape either a Dynamo frontend or its workers, not both:
    the same tokens would be counted twice."""

    url: str
    server_kind: ServerKind | None = None
    """None: detect from the page."""
    rack_id: str | None = None
    model: str | None = None
    """The model served, for pages that do not name it (TGI)."""
    interval_s: float | None = None
    """How often to scrape it; None: the source's ``interval_s``."""

    @property
    def server(self) -> str:
        """``host:port``: the server's name in series keys."""
        return urlsplit(self.url).netloc or self.url


class PageDeadline(TimeoutError):
    """A fetch ran out of its time: ``answered`` says whether the server had sent anything."""

    def __init__(self, url: str, answered: bool) -> None:
        self.answered = answered
        super().__init__(f"{url}: {'page incomplete' if answered else 'no answer'} by the deadline")


class FetchAborted(OSError):
    """A fetch stopped from outside (``PageFetch.abort``): its result is of no use."""


class _DeadlineReader(io.RawIOBase):
    """The response's socket stream, read with no more time per read than the fetch has left,
    so a server trickling its answer byte by byte still ends by the deadline."""

    def __init__(self, stream: io.RawIOBase, sock: socket.socket, fetch: PageFetch) -> None:
        self._stream, self._sock, self._fetch = stream, sock, fetch

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        fetch = self._fetch
        remaining_s = fetch.deadline_s - time.monotonic()
        if fetch.aborted:
            raise FetchAborted(f"{fetch.url}: fetch stopped")
        if remaining_s <= 0.0:
            raise PageDeadline(fetch.url, fetch.answered)
        self._sock.settimeout(remaining_s)
        try:
            count = self._stream.readinto(buffer)
        except TimeoutError:
            raise PageDeadline(fetch.url, fetch.answered) from None
        if fetch.aborted:  # a shut-down socket reads as the end of the page: it is not
            raise FetchAborted(f"{fetch.url}: fetch stopped")
        if count:
            fetch.answered = True
        return count or 0

    def close(self) -> None:
        self._stream.close()
        super().close()


class _Response(http.client.HTTPResponse):
    def __init__(self, fetch: PageFetch, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        stream = self.fp.detach()  # the socket's stream, which keeps the socket open while read
        self.fp = io.BufferedReader(_DeadlineReader(stream, sock, fetch))


class _FetchConnection(http.client.HTTPConnection):
    """A connection that tells its fetch the socket (so ``abort`` can shut it down) and reads
    its response under the fetch's deadline; plain or, through ``_HTTPSConnection``, TLS."""

    def __init__(self, fetch: PageFetch, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fetch = fetch
        self.response_class = functools.partial(_Response, fetch)

    def connect(self) -> None:
        super().connect()
        self._fetch.opened(self.sock)


class _HTTPSConnection(_FetchConnection, http.client.HTTPSConnection):
    """``_FetchConnection`` over TLS: ``HTTPSConnection.connect`` wraps the socket first."""


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, fetch: PageFetch) -> None:
        super().__init__()
        self._fetch = fetch

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_FetchConnection, self._fetch), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, fetch: PageFetch) -> None:
        super().__init__()
        self._fetch = fetch

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_HTTPSConnection, self._fetch)
        return self.do_open(connection, req, context=self._context)


class PageFetch:
    """One GET of a metrics page: the whole page by ``deadline_s`` (``time.monotonic()``), not
    merely some bytes every so often, and stoppable from another thread (``abort``).

    Every read is given only the time left, so a server that answers one byte at a time ends
    with ``PageDeadline`` by the deadline, whatever the phase (headers or body). ``abort`` shuts
    the fetch's socket down from outside: a read blocked in it returns at once and the fetch
    ends with ``FetchAborted``. Connecting is bounded by the time left but not cut short by
    ``abort``, and name resolution by neither; the scraper runs fetches on daemon threads so
    that not even a stuck resolver can hold the process open.
    """

    def __init__(self, url: str, timeout_s: float, max_bytes: int, deadline_s: float) -> None:
        self.url, self.timeout_s, self.max_bytes, self.deadline_s = (
            url, timeout_s, max_bytes, deadline_s,
        )  # fmt: skip
        self.answered = False
        """The server has sent at least one byte."""
        self.aborted = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def run(self) -> str:
        """GET the page (blocking; run it in a worker thread).

        Environment proxy settings are ignored: scrape targets sit on the site's network, and a
        desktop's proxy would send them astray. Refuses pages that are not plain text or are
        larger than ``max_bytes``.
        """
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _HTTPHandler(self), _HTTPSHandler(self)
        )
        request = urllib.request.Request(self.url, headers={"Accept": "text/plain;version=0.0.4"})
        connect_s = max(0.001, min(self.timeout_s, self.deadline_s - time.monotonic()))
        try:
            with opener.open(request, timeout=connect_s) as response:
                content_type = response.headers.get_content_type()
                if content_type not in METRICS_CONTENT_TYPES:
                    raise ParseError(self.url, f"not a metrics page: content type {content_type}")
                body = response.read(self.max_bytes + 1)
                charset = response.headers.get_content_charset() or "utf-8"
        except (OSError, http.client.HTTPException) as error:
            reason = error.reason if isinstance(error, URLError) else error
            if self.aborted and not isinstance(error, HTTPError | PageDeadline):
                raise FetchAborted(f"{self.url}: fetch stopped") from None
            if isinstance(reason, PageDeadline):
                raise reason from None
            raise
        if len(body) > self.max_bytes:
            raise ParseError(self.url, f"page larger than {self.max_bytes} bytes")
        return body.decode(charset, errors="replace")

    def opened(self, sock: socket.socket) -> None:
        """On the fetching thread: a connection is open (one per redirect)."""
        with self._lock:
            self._sockets.append(sock)
            if not self.aborted:
                return
        socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def abort(self) -> None:
        """From any thread: stop the fetch now; a read blocked in it returns at once."""
        with self._lock:
            self.aborted = True
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed or never connected
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def timed_out(self) -> str:
        """The status of a fetch that ran out of time, as the operator sees it."""
        return describe_deadline(self.answered, self.timeout_s)


def fetch_page(url: str, timeout_s: float, max_bytes: int) -> str:
    """GET a metrics page, the whole of it within ``timeout_s`` (blocking); see ``PageFetch``."""
    return PageFetch(url, timeout_s, max_bytes, time.monotonic() + timeout_s).run()


def scrape(endpoint: Endpoint, fetch: PageFetch) -> list[TokenSample]:
    """Fetch and parse one page, both off the event loop: a large page takes milliseconds to
    filter even when only its token lines are parsed."""
    text = fetch.run()
    return parse_token_counters(
        text, endpoint.server_kind, server=endpoint.server, model=endpoint.model
    )


def describe_failure(error: BaseException, timeout_s: float) -> tuple[EventKind, str]:
    """The event kind and operator-facing detail for a failed scrape."""
    if isinstance(error, ParseError):
        return "rejected", str(error)
    if isinstance(error, HTTPError):
        return "status", f"down: HTTP {error.code} {error.reason}"
    reason = error.reason if isinstance(error, URLError) else error
    if isinstance(reason, PageDeadline):
        return "status", describe_deadline(reason.answered, timeout_s)
    if isinstance(reason, TimeoutError):
        return "status", timing_out(timeout_s)
    if isinstance(reason, OSError) and reason.strerror:
        return "status", f"down: {reason.strerror.lower()}"
    return "status", f"down: {type(reason).__name__}: {reason}"


def timing_out(timeout_s: float) -> str:
    return f"timing out: no answer within {timeout_s:g} s"


def describe_deadline(answered: bool, timeout_s: float) -> str:
    """A server silent all along is timing out; one that began a page it did not finish in
    time is down: a page that slow is as good as none."""
    return f"down: no full page within {timeout_s:g} s" if answered else timing_out(timeout_s)


def up(samples: list[TokenSample]) -> str:
    if not samples:
        return "up, no token counters on the page"
    return f"up, {len(samples)} counter series"


def round_readings(
    rates: TokenRates, facility_power_w: float | None, servers: Collection[str] | None = None
) -> Iterator[tuple[str, float]]:
    """(series key, value) of everything one round measured: the per-server figures of
    ``servers`` (None: all), and the totals over every server."""
    for (server, model), rate in rates.tokens_per_s.items():
        if servers is None or server in servers:
            yield tokens_key(server, model, "tokens_per_s"), rate
    for (server, model), rate in rates.prompt_tokens_per_s.items():
        if servers is None or server in servers:
            yield tokens_key(server, model, "prompt_tokens_per_s"), rate
    for rack_id, rate in rates.rack_tokens_per_s.items():
        yield entity_key("rack", rack_id, "tokens_per_s"), rate
    for model, rate in rates.model_tokens_per_s.items():
        yield facility_model_key(model, "tokens_per_s"), rate
    if rates.facility_tokens_per_s is not None:
        yield facility_key("tokens_per_s"), rates.facility_tokens_per_s
    per_j = tokens_per_j(rates.facility_tokens_per_s, facility_power_w)
    if per_j is not None:
        yield facility_key("tokens_per_j"), per_j


def next_slot_s(previous_s: float, now_s: float, interval_s: float) -> float:
    """The first slot on the ``interval_s`` grid after ``now_s``: an overrun round skips the
    slots it missed instead of scraping back to back to catch up."""
    return previous_s + interval_s * (math.floor((now_s - previous_s) / interval_s) + 1)


class DaemonWorkers:
    """Up to ``max_workers`` daemon threads that run submitted calls, for blocking network I/O.

    Not a ``ThreadPoolExecutor``: the interpreter joins executor threads at exit, so a fetch
    stuck in a read (or in name resolution, which nothing can cut short) would hold the whole
    process open after the scraper stopped. These threads are daemons and nobody waits for
    them; a fetch still running when the source stops is aborted (``PageFetch.abort``) so its
    thread is not left behind either. Threads are started as calls arrive, while none is idle.
    """

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple] | None] = (
            queue.SimpleQueue()
        )
        self._idle = threading.Semaphore(0)
        self._threads = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._closed:
            raise RuntimeError("workers closed")
        future: Future = Future()
        self._jobs.put((future, fn, args))
        if not self._idle.acquire(blocking=False) and self._threads < self._max_workers:
            self._threads += 1
            name = f"{self._prefix}_{self._threads}"
            threading.Thread(target=self._serve, name=name, daemon=True).start()
        return future

    def close(self) -> None:
        """Calls not started are cancelled; each thread exits after the call in hand."""
        self._closed = True
        with contextlib.suppress(queue.Empty):
            while (job := self._jobs.get_nowait()) is not None:
                job[0].cancel()
        for _thread in range(self._threads):
            self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            del job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as error:  # handed to whoever waits on the future
                    future.set_exception(error)
                else:
                    future.set_result(result)
            del future, fn, args
            self._idle.release()


class PrometheusSource:
    """Scrapes every endpoint once per its interval (``interval_s`` unless the endpoint says)
    and writes tokens/s to the sink.

    Endpoints with the same interval are scraped in the same rounds, each interval on its own
    grid. A round fetches all its pages at once in worker threads (dedicated daemon threads, so hung
    servers can neither starve the loop's default executor nor hold the process open at exit).
    Each page is due whole within ``timeout_s`` (default 0.8 x its interval) of the round's start,
    however slowly its server sends it; at that deadline a fetch not done is aborted (its
    socket shut down from here, so its thread is free at once) and reported. Then the round
    writes every figure of the round in one batch stamped with the round's start time. A
    server still busy with the previous round's request is not asked again.
    Status events are sent when an endpoint's state changes, not every round. A series unseen
    for max(30 s, 10 of the longest interval) starts its rate over.

    ``facility_power_w``, when given, says the facility power in watts for tokens per joule
    (e.g. the store's latest IT power); without it the GPU energy counters on the pages are used,
    only when every server producing tokens reports them. ``clock`` gives epoch seconds.
    """

    name = "prometheus"

    def __init__(
        self,
        endpoints: Iterable[Endpoint | tuple | str],
        sink: TelemetrySink,
        interval_s: float = 1.0,
        *,
        timeout_s: float | None = None,
        max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
        facility_power_w: Callable[[], float | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoints = [
            Endpoint(endpoint) if isinstance(endpoint, str) else Endpoint(*endpoint)
            for endpoint in endpoints
        ]
        unknown = {e.server_kind for e in self.endpoints} - {None, *SERVER_FORMATS}
        if unknown:
            raise ValueError(
                f"unknown server kind {sorted(unknown)}; known: {list(SERVER_FORMATS)}"
            )
        servers = [endpoint.server for endpoint in self.endpoints]
        if len(set(servers)) != len(servers):
            raise ValueError(f"two endpoints on the same server: {sorted(servers)}")
        self.sink = sink
        self.interval_s = interval_s
        self._timeout_s = timeout_s
        self.max_page_bytes = max_page_bytes
        self._facility_power_w = facility_power_w
        self._clock = clock
        self.rounds: dict[float, list[Endpoint]] = {}
        """Interval in seconds -> the endpoints scraped together at it."""
        for endpoint in self.endpoints:
            self.rounds.setdefault(endpoint.interval_s or interval_s, []).append(endpoint)
        self._rates = CounterRates(
            {e.server: e.rack_id for e in self.endpoints if e.rack_id},
            max_gap_s=max(DEFAULT_MAX_GAP_S, 10 * max(self.rounds, default=interval_s)),
        )
        self._workers = DaemonWorkers(max(1, min(32, len(self.endpoints))), "scrape")
        self._in_flight: dict[str, tuple[Future[list[TokenSample]], PageFetch]] = {}
        self._reported: dict[str, tuple[EventKind, str]] = {}

    def timeout_for(self, interval_s: float) -> float:
        """How long a page scraped every ``interval_s`` may take, whole."""
        return self._timeout_s if self._timeout_s is not None else 0.8 * interval_s

    @property
    def timeout_s(self) -> float:
        return self.timeout_for(self.interval_s)

    async def run(self) -> None:
        """Scrape rounds until cancelled, each interval's on its own grid."""
        try:
            await asyncio.gather(*(self._every(interval_s, endpoints)
                                   for interval_s, endpoints in self.rounds.items()))  # fmt: skip
        finally:
            self.close()

    async def _every(self, interval_s: float, endpoints: list[Endpoint]) -> None:
        loop = asyncio.get_running_loop()
        slot_s = loop.time()
        while True:
            await self.scrape_round(endpoints, interval_s)
            slot_s = next_slot_s(slot_s, loop.time(), interval_s)
            await asyncio.sleep(slot_s - loop.time())

    def close(self) -> None:
        """Stops at once: fetches not started are dropped, those running are aborted (their
        sockets shut down, so no read is waited for), and the worker threads exit."""
        self._workers.close()
        for _future, fetch in self._in_flight.values():
            fetch.abort()

    async def scrape_round(
        self, endpoints: list[Endpoint] | None = None, interval_s: float | None = None
    ) -> None:
        """One round of ``endpoints`` (default: all, at ``interval_s``): fetch, parse, rate,
        one write, events for what changed."""
        endpoints = self.endpoints if endpoints is None else endpoints
        timeout_s = self.timeout_for(interval_s or self.interval_s)
        time_s = self._clock()
        deadline_s = time.monotonic() + timeout_s
        started = self._start_scrapes(endpoints, time_s, deadline_s, timeout_s)
        if started:
            try:
                await asyncio.wait(
                    [future for future, _fetch in started.values()],
                    timeout=max(0.0, deadline_s - time.monotonic()),
                )
            finally:
                for future, fetch in started.values():
                    if not future.done():
                        future.cancel()  # a late page is dropped,
                        fetch.abort()  # and its thread freed now
        samples: list[TokenSample] = []
        for endpoint, (future, fetch) in started.items():
            samples.extend(self._outcome(endpoint, future, fetch, time_s, timeout_s))
        servers = {endpoint.server for endpoint in endpoints}
        rates = self._rates.update(samples, time_s, servers)
        self._write(rates, time_s, servers)

    def _start_scrapes(
        self, endpoints: list[Endpoint], time_s: float, deadline_s: float, timeout_s: float
    ) -> dict[Endpoint, tuple[asyncio.Future[list[TokenSample]], PageFetch]]:
        started = {}
        for endpoint in endpoints:
            previous = self._in_flight.get(endpoint.server)
            if previous is not None and not previous[0].done():
                # resolving the name or connecting (no abort cuts those short), or parsing
                self._report(endpoint, "status", timing_out(timeout_s), time_s)
                continue
            fetch = PageFetch(endpoint.url, timeout_s, self.max_page_bytes, deadline_s)
            future = self._workers.submit(scrape, endpoint, fetch)
            self._in_flight[endpoint.server] = (future, fetch)
            started[endpoint] = (asyncio.wrap_future(future), fetch)
        return started

    def _outcome(
        self,
        endpoint: Endpoint,
        future: asyncio.Future[list[TokenSample]],
        fetch: PageFetch,
        time_s: float,
        timeout_s: float,
    ) -> list[TokenSample]:
        """The samples of a finished scrape, reporting how it went; none for a failed one."""
        if future.cancelled():
            self._report(endpoint, "status", fetch.timed_out(), time_s)
            return []
        error = future.exception()
        if error is not None:
            self._report(endpoint, *describe_failure(error, timeout_s), time_s)
            return []
        samples = future.result()
        self._report(endpoint, "status", up(samples), time_s)
        return samples

    def _report(self, endpoint: Endpoint, kind: EventKind, detail: str, time_s: float) -> None:
        if self._reported.get(endpoint.server) == (kind, detail):
            return
        self._reported[endpoint.server] = (kind, detail)
        self.sink.event(SourceEvent(SOURCE, kind, endpoint.url, detail, time_s))

    def _write(self, rates: TokenRates, time_s: float, servers: Collection[str]) -> None:
        power_w = self._facility_power_w() if self._facility_power_w else rates.total_gpu_power_w()
        readings = list(round_readings(rates, power_w, servers))
        if readings:
            keys, values = zip(*readings, strict=True)
            self.sink.write(keys, [time_s] * len(keys), values)
