"""An HTTP server that answers a ``/metrics`` request one byte every 0.3 s, headers included.

The inference server that is up but too slow: each read gets a byte well within any socket
timeout, so only a deadline on the whole page ends a fetch of it. It listens on 127.0.0.1 on a
free port, serves each connection on a daemon thread, and stops mid-answer when the test ends.
``clients`` counts the connections whose answer has begun and ``gone`` those the client
dropped before the end, so a test can see a scraper let go of the server.

Use the fixture from a test module with ``pytest_plugins = ["trickle_server"]`` (import names
from here only under ``TYPE_CHECKING``, so that pytest imports the module first, as a plugin).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

BYTE_EVERY_S = 0.3
PAGE = "".join(
    f'vllm:generation_tokens_total{{engine="{n}",model_name="m"}} {1000 + n}.0\n' for n in range(20)
)  # about 1,000 bytes: five minutes at that pace


class TrickleServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.stopped = threading.Event()
        self.clients = 0
        self.gone = 0
        self.answering = threading.Condition()
        self.response = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(PAGE)}\r\nConnection: close\r\n\r\n{PAGE}"
        ).encode()
        threading.Thread(target=self._accept, name="trickle-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _address = self._listener.accept()
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                request += chunk
            with self.answering:
                self.clients += 1
                self.answering.notify_all()
            for index in range(len(self.response)):
                if self.stopped.wait(BYTE_EVERY_S):
                    return
                try:
                    connection.sendall(self.response[index : index + 1])
                except OSError:  # the client shut the connection
                    with self.answering:
                        self.gone += 1
                        self.answering.notify_all()
                    return

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        with self.answering:
            return self.answering.wait_for(predicate, timeout_s)

    def stop(self) -> None:
        self.stopped.set()
        self._listener.close()


@pytest.fixture
def trickling() -> Iterator[TrickleServer]:
    server = TrickleServer()
    yield server
    server.stop()
