"""A vLLM ``/metrics`` page served by a real HTTP server, for tests that scrape token counters.

A test subclasses :class:`VllmPage` with the counter it wants (``generation_tokens``) and
serves it with ``http.server.ThreadingHTTPServer``; ``requests`` counts the pages answered.
Other pages a test serves derive from :class:`QuietPage` and answer with ``send_page``.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class QuietPage(BaseHTTPRequestHandler):
    """A handler that answers with whole pages and logs nothing to the test's output."""

    def send_page(self, body: bytes, content_type: str = "text/plain; version=0.0.4") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class VllmPage(QuietPage):
    """Answers every GET with one model's ``vllm:generation_tokens_total``."""

    requests = 0

    @classmethod
    def generation_tokens(cls) -> float:
        """The counter's value for the request being answered (``requests`` counts it)."""
        raise NotImplementedError

    def do_GET(self) -> None:
        page = type(self)
        page.requests += 1
        body = (
            "# TYPE vllm:generation_tokens_total counter\n"
            f'vllm:generation_tokens_total{{model_name="demo-70b"}} {page.generation_tokens()}\n'
        ).encode()
        self.send_page(body)
