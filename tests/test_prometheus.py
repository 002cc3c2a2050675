"""Token counters from real-looking /metrics pages, and the scraper against live local servers.

The pages in tests/data/metrics/ are modelled on each server's real output (each file says on
what). The scraper tests run real HTTP servers on 127.0.0.1 whose counters advance by a fixed
step per request, with a scrape clock that advances 2 s per round, so every expected tokens/s
is exact; waits are bounded polls, never sleeps followed by assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from factoryfloor.backend.telemetry.sink import RecordingSink, SourceEvent
from factoryfloor.backend.telemetry.sources.prometheus import (
    UNNAMED_MODEL,
    Endpoint,
    PageDeadline,
    ParseError,
    PrometheusSource,
    fetch_page,
    next_slot_s,
    parse_token_counters,
)
from factoryfloor.backend.telemetry.sources.token_rate import TokenSample

if TYPE_CHECKING:
    from trickle_server import TrickleServer

pytest_plugins = ["trickle_server"]

PAGES = Path(__file__).parent / "data" / "metrics"
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def page(name: str) -> str:
    return (PAGES / f"{name}.txt").read_text()


def counts(samples: list[TokenSample]) -> dict[tuple[str, str, tuple, str], float]:
    return {(s.server, s.model, s.replica, s.kind): s.value for s in samples}


# --- parsing the pages -----------------------------------------------------------------------


def test_vllm_page() -> None:
    samples = parse_token_counters(page("vllm"), "vllm", server="10.0.1.11:8000")
    engine_0, engine_1 = (("engine", "0"),), (("engine", "1"),)
    # request_generation_tokens_sum and iteration_tokens_total also count tokens: not taken.
    assert counts(samples) == {
        ("10.0.1.11:8000", LLAMA_70B, engine_0, "generation"): 7_557_572.0,
        ("10.0.1.11:8000", LLAMA_70B, engine_1, "generation"): 7_401_233.0,
        ("10.0.1.11:8000", LLAMA_70B, engine_0, "prompt"): 8_128_902.0,
        ("10.0.1.11:8000", LLAMA_70B, engine_1, "prompt"): 7_988_110.0,
    }


def test_sglang_page() -> None:
    samples = parse_token_counters(page("sglang"), "sglang", server="s:30000")
    model = "Qwen/Qwen2.5-72B-Instruct"
    batch, streaming = (("is_streaming", "false"),), (("is_streaming", "true"),)
    assert counts(samples) == {
        ("s:30000", model, batch, "generation"): 1_203_554.0,
        ("s:30000", model, streaming, "generation"): 3_349_120.0,
        ("s:30000", model, batch, "prompt"): 2_450_011.0,
        ("s:30000", model, streaming, "prompt"): 5_120_987.0,
    }


def test_dynamo_page_with_two_models() -> None:
    samples = parse_token_counters(page("dynamo"), "dynamo", server="d:8000")
    qwen, deepseek = "Qwen/Qwen3-32B", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"
    # output_sequence_tokens_sum repeats the output counter: counted once.
    assert counts(samples) == {
        ("d:8000", qwen, (), "generation"): 4_512_870.0,
        ("d:8000", deepseek, (), "generation"): 18_220_455.0,
        ("d:8000", qwen, (), "prompt"): 3_890_112.0,
        ("d:8000", deepseek, (), "prompt"): 9_021_344.0,
    }


def test_tgi_page_uses_the_histogram_sum_and_no_bucket() -> None:
    samples = parse_token_counters(page("tgi"), "tgi", server="g:80")
    assert counts(samples) == {
        ("g:80", UNNAMED_MODEL, (), "generation"): 562_108.0,
        ("g:80", UNNAMED_MODEL, (), "prompt"): 1_310_442.0,
    }


def test_a_page_without_model_labels_takes_the_endpoints_model() -> None:
    samples = parse_token_counters(page("tgi"), "tgi", server="g:80", model=LLAMA_8B)
    assert {s.model for s in samples} == {LLAMA_8B}


def test_triton_page_with_energy_counters() -> None:
    samples = parse_token_counters(page("triton"), "triton", server="t:8002")
    output = (("response_metric_type", "total_output_tokens"), ("version", "1"))
    tokens = {(s.model, s.replica): s.value for s in samples if s.kind == "generation"}
    assert tokens == {("llama3_70b", output): 2_113_570.0, ("mistral_7b", output): 845_021.0}
    energy_j = {s.replica[0][1]: s.value for s in samples if s.kind == "energy"}
    assert energy_j == {
        "GPU-71ce41fd-3ac0-afe7-c995-21119f1e984a": 205_620.582,
        "GPU-8674351b-fff7-56c3-f545-26313154b8ed": 203_679.455,
        "GPU-4bb61721-0ae2-9004-636f-e73bab9ef8e0": 205_479.234,
        "GPU-7a9c9f44-ff57-1177-e21a-1740a8cf1a65": 199_292.13,
    }
    assert sum(s.kind == "prompt" for s in samples) == 2


@pytest.mark.parametrize("kind", ["vllm", "sglang", "dynamo", "tgi", "triton"])
def test_the_kind_is_detected_from_the_page(kind: str) -> None:
    assert parse_token_counters(page(kind), server="x:1") == parse_token_counters(
        page(kind), kind, server="x:1"
    )


def test_a_page_of_another_kind_has_no_token_counters_of_the_named_kind() -> None:
    assert parse_token_counters(page("vllm"), "sglang") == []


def test_the_reference_parser_quirks_that_the_line_filter_sidesteps() -> None:
    """Whole-page parsing by family would trip on these; see the module docstring."""
    families = {f.name: f for f in text_string_to_metric_families(page("vllm") + page("triton"))}
    assert "vllm:generation_tokens" in families  # `_total` stripped from the family name
    assert families["vllm:generation_tokens_created"].type == "gauge"  # a family of its own
    energy = families["nv_energy_consumption"]
    assert {s.name for s in energy.samples} == {"nv_energy_consumption_total"}  # renamed
    buckets = families["nv_llm_output_token_len"].samples
    assert {s.labels.get("le") for s in buckets} >= {"10", "+Inf"}  # bounds as strings


def test_created_samples_are_never_counted() -> None:
    text = (
        "# TYPE vllm:generation_tokens counter\n"  # declared without _total, as OpenMetrics does
        'vllm:generation_tokens_total{model_name="m"} 120.0\n'
        'vllm:generation_tokens_created{model_name="m"} 1.7436201e+09\n'
        # a `_created` sample with no TYPE line of its own: an untyped family to the parser
        'vllm:prompt_tokens_total{model_name="m"} 80.0\n'
        'vllm:prompt_tokens_created{model_name="m"} 1.7436202e+09\n'
    )
    assert counts(parse_token_counters(text, "vllm", server="v:1")) == {
        ("v:1", "m", (), "generation"): 120.0,
        ("v:1", "m", (), "prompt"): 80.0,
    }


def test_buckets_alone_are_not_tokens() -> None:
    text = (
        "# TYPE tgi_request_generated_tokens histogram\n"
        'tgi_request_generated_tokens_bucket{le="409.6"} 10\n'
        'tgi_request_generated_tokens_bucket{le="+Inf"} 12\n'
        "tgi_request_generated_tokens_count 12\n"
    )
    assert parse_token_counters(text, "tgi") == []


def test_a_page_with_two_kinds_of_counters_is_refused() -> None:
    with pytest.raises(ParseError, match="dynamo and vllm"):
        parse_token_counters(page("vllm") + page("dynamo"), server="x:1")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('vllm:generation_tokens_total{model_name="m} 12.0', "Invalid value"),
        ('vllm:generation_tokens_total{model_name="m"} twelve', "could not convert"),
        ('vllm:generation_tokens_total{model_name="m",engine=0} 12.0', "Invalid labels"),
        ('vllm:generation_tokens_total{model_name="m"', "Invalid value"),
    ],
)
def test_a_malformed_token_line_is_refused_with_its_line(line: str, reason: str) -> None:
    text = page("vllm").replace(
        'vllm:generation_tokens_total{engine="1",model_name="meta-llama/Llama-3.1-70B-Instruct"}'
        " 7.401233e+06",
        line,
    )
    line_number = text.splitlines().index(line) + 1
    with pytest.raises(ParseError, match=reason) as raised:
        parse_token_counters(text, "vllm", server="10.0.1.11:8000")
    assert raised.value.endpoint == "10.0.1.11:8000"
    assert raised.value.line_number == line_number
    assert raised.value.line == line
    assert f"10.0.1.11:8000 line {line_number}: " in str(raised.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('vllm:generation_tokens_total{model_name="m"} -3.0\n', "is -3.0"),
        ('vllm:generation_tokens_total{model_name="m"} NaN\n', "is nan"),
        ('vllm:generation_tokens_total{model_name="m"} +Inf\n', "is inf"),
        ('vllm:prompt_tokens_total{model_name="m"} 1\nvllm:prompt_tokens_total{model_name="m"} 2\n',
         "appears twice"),
    ],
)  # fmt: skip
def test_a_count_that_is_not_a_count_is_refused(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_token_counters(text, "vllm", server="v:1")


def test_a_broken_line_of_another_metric_does_not_cost_the_tokens() -> None:
    text = page("vllm").replace(
        'vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",', "vllm:ttft{le=0.5 ", 1
    )
    assert len(parse_token_counters(text, "vllm")) == 4


def test_an_overrun_round_skips_the_slots_it_missed() -> None:
    assert next_slot_s(10.0, 10.3, 1.0) == 11.0
    assert next_slot_s(10.0, 12.5, 1.0) == 13.0


def test_an_unknown_server_kind_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="unknown server kind"):
        PrometheusSource([("http://h:8000/metrics", "vlm")], RecordingSink())


def test_two_endpoints_on_one_server_are_refused() -> None:
    with pytest.raises(ValueError, match="same server"):
        PrometheusSource(
            [Endpoint("http://h:8000/metrics"), "http://h:8000/other"], RecordingSink()
        )


# --- scraping live local servers -------------------------------------------------------------

Response = tuple[int, str, bytes]


class PageServer:
    """An HTTP server on 127.0.0.1 (random port) answering every GET with ``respond()``."""

    def __init__(self, respond: Callable[[], Response]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, content_type, body = respond()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/metrics"
        self.server = f"127.0.0.1:{self.httpd.server_port}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[], Response]], PageServer]]:
    servers: list[PageServer] = []

    def start(respond: Callable[[], Response]) -> PageServer:
        servers.append(PageServer(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def text_page(text: str, status: int = 200, content_type: str = "text/plain") -> Response:
    return status, f"{content_type}; charset=utf-8", text.encode()


def advancing(make_page: Callable[[int], str]) -> Callable[[], Response]:
    """Serves ``make_page(n)`` on the n-th request (from 0): the counters move per scrape."""
    requests = itertools.count()
    lock = threading.Lock()

    def respond() -> Response:
        with lock:
            number = next(requests)
        return text_page(make_page(number))

    return respond


def vllm_page(scrape: int) -> str:
    """Two engines: engine 0 generates 300 tokens per scrape, engine 1 500; prompts 900."""
    lines = [
        "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
        "# TYPE vllm:generation_tokens_total counter",
    ]
    for engine, step in (("0", 300), ("1", 500)):
        labels = f'engine="{engine}",model_name="{LLAMA_8B}"'
        lines.append(f"vllm:generation_tokens_total{{{labels}}} {1000.0 + step * scrape}")
        lines.append(f"vllm:generation_tokens_created{{{labels}}} 1.7436201e+09")
        lines.append(f"vllm:prompt_tokens_total{{{labels}}} {5000.0 + 900 * scrape}")
    return "\n".join(lines) + "\n"


def triton_page(scrape: int) -> str:
    """Two GPUs each using 700 J per scrape; 2,800 tokens generated per scrape."""
    lines = ["# TYPE nv_energy_consumption counter"]
    lines += [
        f'nv_energy_consumption{{gpu_uuid="GPU-{gpu}"}} {10_000.0 + 700.0 * scrape:.6f}'
        for gpu in (0, 1)
    ]
    lines += [
        "# TYPE nv_llm_output_token_len histogram",
        f'nv_llm_output_token_len_sum{{model="llama3_70b",version="1"}} {2800 * scrape}',
        f'nv_llm_output_token_len_bucket{{model="llama3_70b",version="1",le="+Inf"}} {scrape}',
    ]
    return "\n".join(lines) + "\n"


def refused_url() -> str:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"


def scrape_clock() -> Callable[[], float]:
    """Round start times 1,000, 1,002, 1,004, ... s: exact rates whatever the real timing."""
    return itertools.count(1000.0, 2.0).__next__


def events_for(sink: RecordingSink, url: str) -> list[tuple[str, str]]:
    return [(e.kind, e.detail) for e in sink.events if e.subject == url]


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_scraper_writes_tokens_per_s_and_survives_a_refusing_endpoint(serve) -> None:
    vllm = serve(advancing(vllm_page))
    down = refused_url()
    sink = RecordingSink()
    source = PrometheusSource(
        [(vllm.url, "vllm", "R01"), (down, None, "R02")],
        sink,
        interval_s=0.05,
        timeout_s=5.0,
        clock=scrape_clock(),
    )
    tokens_key = f"tokens/{vllm.server}/meta-llama%2FLlama-3.1-8B-Instruct/tokens_per_s"
    task = asyncio.create_task(source.run())
    try:
        await wait_until(lambda: sum(r[0] == tokens_key for r in sink.readings) >= 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    # (300 + 500) tokens per 2 s = 400 tokens/s; prompts 2 x 900 per 2 s = 900 tokens/s.
    first_round = [(k, v) for k, t, v, _q in sink.readings if t == 1002.0]
    assert dict(first_round) == {
        tokens_key: 400.0,
        tokens_key.replace("/tokens_per_s", "/prompt_tokens_per_s"): 900.0,
        "rack/R01/tokens_per_s": 400.0,
        "facility/model/meta-llama%2FLlama-3.1-8B-Instruct/tokens_per_s": 400.0,
        "facility/tokens_per_s": 400.0,
    }
    assert [v for k, _t, v, _q in sink.readings if k == tokens_key][:3] == [400.0] * 3
    assert events_for(sink, vllm.url) == [("status", "up, 4 counter series")]
    assert events_for(sink, down) == [("status", "down: connection refused")]
    assert all(isinstance(e, SourceEvent) and e.source == "prometheus" for e in sink.events)


@pytest.mark.asyncio
async def test_bad_pages_are_reported_once_and_the_good_one_keeps_working(serve) -> None:
    bad_line = 'vllm:generation_tokens_total{model_name="m} 12.0'
    good = serve(advancing(vllm_page))
    malformed = serve(lambda: text_page(f"# TYPE x counter\n{bad_line}\n"))
    html = serve(lambda: text_page("<html>login</html>", content_type="text/html"))
    failing = serve(lambda: text_page("oops", status=500))
    sink = RecordingSink()
    source = PrometheusSource(
        [good.url, malformed.url, html.url, failing.url], sink, timeout_s=5.0, clock=scrape_clock()
    )
    try:
        for _round in range(3):
            await source.scrape_round()
    finally:
        source.close()

    [(kind, detail)] = events_for(sink, malformed.url)
    assert kind == "rejected"
    assert detail.startswith(f"{malformed.server} line 2: Invalid value")
    assert detail.endswith(repr(bad_line))
    assert events_for(sink, html.url) == [
        ("rejected", f"{html.url}: not a metrics page: content type text/html")
    ]
    assert events_for(sink, failing.url) == [("status", "down: HTTP 500 Internal Server Error")]
    assert events_for(sink, good.url) == [("status", "up, 4 counter series")]
    assert sink.latest()["facility/tokens_per_s"][1] == 400.0


@pytest.mark.asyncio
async def test_a_hung_endpoint_is_reported_timing_out_and_does_not_hold_up_the_others(
    serve,
) -> None:
    released = threading.Event()

    def hang() -> Response:
        released.wait(timeout=10.0)
        return text_page(vllm_page(0))

    good = serve(advancing(vllm_page))
    slow = serve(hang)
    sink = RecordingSink()
    source = PrometheusSource([good.url, slow.url], sink, timeout_s=0.5, clock=scrape_clock())
    try:
        await source.scrape_round()
        await source.scrape_round()
        assert events_for(sink, slow.url) == [("status", "timing out: no answer within 0.5 s")]
        assert sink.latest()["facility/tokens_per_s"][1] == 400.0

        released.set()

        async def slow_reported_up() -> bool:
            await source.scrape_round()
            return events_for(sink, slow.url)[-1] == ("status", "up, 4 counter series")

        deadline = time.monotonic() + 10.0
        while not await slow_reported_up():
            assert time.monotonic() < deadline, "the released endpoint never came back up"
    finally:
        released.set()
        source.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("facility_power_w", "expected_tokens_per_j"),
    [
        (None, 2.0),  # the page's GPUs: 1,400 tokens/s over 2 x 350 W
        (lambda: 2800.0, 0.5),  # the facility power from elsewhere
        (lambda: None, None),  # unknown: nothing written
    ],
)
async def test_tokens_per_joule_from_energy_counters_or_a_given_power(
    serve, facility_power_w, expected_tokens_per_j
) -> None:
    triton = serve(advancing(triton_page))
    sink = RecordingSink()
    source = PrometheusSource(
        [(triton.url, "triton")],
        sink,
        timeout_s=5.0,
        facility_power_w=facility_power_w,
        clock=scrape_clock(),
    )
    try:
        await source.scrape_round()
        await source.scrape_round()
    finally:
        source.close()
    latest = sink.latest()
    # 2,800 tokens per 2 s round; each GPU 700 J per 2 s = 350 W.
    assert latest["facility/tokens_per_s"][1] == 1400.0
    assert latest.get("facility/tokens_per_j", (None, None))[1] == expected_tokens_per_j


# --- a server that sends its page one byte at a time -----------------------------------------


def scrape_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("scrape") and t.is_alive()}


@pytest.mark.asyncio
async def test_a_trickling_server_is_down_by_the_deadline(trickling: TrickleServer) -> None:
    sink = RecordingSink()
    source = PrometheusSource([trickling.url], sink, timeout_s=1.0, clock=scrape_clock())
    try:
        started = time.monotonic()
        await asyncio.wait_for(source.scrape_round(), timeout=10.0)
        took_s = time.monotonic() - started
    finally:
        source.close()
    assert events_for(sink, trickling.url) == [("status", "down: no full page within 1 s")]
    assert 0.9 < took_s < 3.0  # the trickled page would take over 30 s; slack for a busy machine
    assert trickling.wait_for(lambda: trickling.gone == 1), "the fetch kept the server's page"


def test_a_fetch_of_a_trickling_page_ends_by_its_deadline(trickling: TrickleServer) -> None:
    outcome: list[BaseException | str] = []

    def fetch() -> None:
        try:
            outcome.append(fetch_page(trickling.url, 1.0, 1 << 20))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=fetch, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout=5.0)
    took_s = time.monotonic() - started
    assert not thread.is_alive(), "the fetch outlived its deadline"
    [error] = outcome
    assert isinstance(error, PageDeadline) and error.answered
    assert 0.9 < took_s < 3.0  # the trickled page would take over 30 s; slack for a busy machine


@pytest.mark.asyncio
async def test_stopping_the_source_mid_fetch_lets_go_of_the_server_at_once(
    trickling: TrickleServer,
) -> None:
    before = scrape_threads()
    source = PrometheusSource([trickling.url], RecordingSink(), interval_s=60.0, timeout_s=30.0)
    task = asyncio.create_task(source.run())
    try:
        await wait_until(lambda: trickling.clients == 1)
        await wait_until(lambda: bool(scrape_threads() - before))
    finally:
        started = time.monotonic()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await wait_until(lambda: not scrape_threads() - before, timeout_s=1.0)
    assert time.monotonic() - started < 1.0
    assert trickling.wait_for(lambda: trickling.gone == 1), "the server kept sending"


@pytest.mark.asyncio
async def test_endpoints_scraped_at_their_own_intervals_all_count_in_every_total(serve) -> None:
    """A page read every 0.1 s and one read every 1 s: the fast one is read about ten times as
    often, and the facility total of every round holds both servers' latest rates, not only
    the servers read in that round."""
    fast, slow = serve(advancing(vllm_page)), serve(advancing(vllm_page))
    sink = RecordingSink()
    source = PrometheusSource(
        [Endpoint(fast.url, "vllm", interval_s=0.1), Endpoint(slow.url, "vllm", interval_s=1.0)],
        sink,
    )
    model = "meta-llama%2FLlama-3.1-8B-Instruct"
    per_server = {f"tokens/{s.server}/{model}/tokens_per_s": s for s in (fast, slow)}
    task = asyncio.create_task(source.run())
    try:
        await wait_until(lambda: sum(r[0] in per_server for r in sink.readings) >= 40,
                         timeout_s=30)  # fmt: skip
        await wait_until(lambda: sum(per_server.get(r[0]) is slow for r in sink.readings) >= 3,
                         timeout_s=30)  # fmt: skip
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    written = [r[0] for r in sink.readings]
    fast_rounds = sum(per_server.get(k) is fast for k in written)
    slow_rounds = sum(per_server.get(k) is slow for k in written)
    assert fast_rounds >= 4 * slow_rounds  # 10 x on an idle machine
    latest: dict[str, float] = {}
    checked = 0
    for key, _time_s, value, _quality in sink.readings:
        if key in per_server:
            latest[key] = value
        elif key == "facility/tokens_per_s" and len(latest) == 2:
            assert value == pytest.approx(sum(latest.values()))
            checked += 1
    assert checked >= fast_rounds // 2
