"""How long reading token counters from a large /metrics page takes, and what that allows.

Three ways over the same page, timed in the same run:

- prometheus-client's reference parser over the whole page (``text_string_to_metric_families``),
  what a plain scraper would do;
- ``parse_token_counters``: the page split into lines, only the token lines handed to the
  reference parser (what the app does);
- the baseline: ``str.splitlines`` and a plain loop that only finds the token lines, parsing
  nothing; no reader of the page can do less.

The pages are written by prometheus-client itself, so they are formatted exactly as vLLM's
(counters with ``_created``, histograms with every bucket). The large one aggregates 50 models
x 20 replicas (about 1 MB, mostly buckets); the typical one is a single vLLM server with the
latency and length histograms vLLM exposes. Scraping threads share one interpreter lock, so
parsing uses at most one core whatever the thread count: the capacity figures are per core.

Run: python bench/prometheus_parse.py [--models 50] [--replicas 20] [--buckets 4] [--repeat 9]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from factoryfloor.backend.telemetry.sources.prometheus import parse_token_counters

VLLM_HISTOGRAMS = [
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds",
    "vllm:request_queue_time_seconds",
    "vllm:request_inference_time_seconds",
    "vllm:request_prefill_time_seconds",
    "vllm:request_decode_time_seconds",
    "vllm:request_prompt_tokens",
    "vllm:request_generation_tokens",
    "vllm:iteration_tokens_total",
    "vllm:request_params_n",
    "vllm:request_params_max_tokens",
]
TOKEN_LINE_PREFIXES = ("vllm:generation_tokens_total", "vllm:prompt_tokens_total")
CPU_SHARE_FOR_SCRAPING = 0.5
"""Share of one core the backend can give to scraping: it also ingests MQTT and runs NVML."""


def vllm_page(models: int, replicas: int, histograms: int, buckets: int) -> str:
    registry = CollectorRegistry()
    labels = ["engine", "model_name"]
    prompt = Counter("vllm:prompt_tokens", "Number of prefill tokens processed.", labels,
                     registry=registry)  # fmt: skip
    generation = Counter("vllm:generation_tokens", "Number of generation tokens processed.",
                         labels, registry=registry)  # fmt: skip
    running = Gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
                    labels, registry=registry)  # fmt: skip
    bounds = [0.001 * 2**b for b in range(buckets)]
    latency = [Histogram(name, "Histogram.", labels, buckets=bounds, registry=registry)
               for name in VLLM_HISTOGRAMS[:histograms]]  # fmt: skip
    for model in range(models):
        for engine in range(replicas):
            values = (str(engine), f"org-{model % 7}/model-{model}-70B-Instruct")
            prompt.labels(*values).inc(3_000_000 + 1000 * model + engine)
            generation.labels(*values).inc(2_000_000 + 1000 * model + engine)
            running.labels(*values).set(40 + engine)
            for histogram in latency:
                histogram.labels(*values).observe(0.05)
    return generate_latest(registry).decode()


def whole_page(text: str) -> int:
    return sum(len(family.samples) for family in text_string_to_metric_families(text))


def token_lines_only(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith(TOKEN_LINE_PREFIXES))


def median_ms(work: Callable[[], object], repeat: int) -> float:
    gc.collect()  # garbage from the previous way is not this one's cost
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(samples)


def report(title: str, text: str, repeat: int) -> None:
    tokens = len(parse_token_counters(text, "vllm"))
    print(f"\n{title}: {len(text) / 1e6:.2f} MB, {text.count(chr(10))} lines, "
          f"{tokens} token series")  # fmt: skip
    ways = [
        ("prometheus-client, whole page", lambda: whole_page(text), max(3, repeat // 3)),
        ("parse_token_counters, kind given", lambda: parse_token_counters(text, "vllm"), repeat),
        ("parse_token_counters, kind detected", lambda: parse_token_counters(text), repeat),
        ("baseline: splitlines + find token lines", lambda: token_lines_only(text), repeat),
    ]
    print(f"  {'':42} {'ms/page':>9} {'pages/s/core':>13} "
          f"{'servers at 1 Hz':>16}")  # fmt: skip
    for name, work, runs in ways:
        cost_ms = median_ms(work, runs)
        per_core = 1000.0 / cost_ms
        print(f"  {name:42} {cost_ms:9.2f} {per_core:13.0f} "
              f"{per_core * CPU_SHARE_FOR_SCRAPING:16.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--buckets", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    large = vllm_page(args.models, args.replicas, histograms=1, buckets=args.buckets)
    typical = vllm_page(1, 1, histograms=len(VLLM_HISTOGRAMS), buckets=20)
    report(f"Large page ({args.models} models x {args.replicas} replicas)", large, args.repeat)
    report("Typical page (one vLLM server, 12 histograms x 20 buckets)", typical, args.repeat * 20)
    print(f"\n'servers at 1 Hz' = pages/s/core x {CPU_SHARE_FOR_SCRAPING:g} (the share of one "
          "core left for scraping). Parsing threads share one interpreter lock, so a second "
          "core does not double it.")  # fmt: skip


if __name__ == "__main__":
    main()
