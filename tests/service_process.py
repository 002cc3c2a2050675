"""A real ``factoryfloor serve`` process for tests and benchmarks, on 127.0.0.1 on free ports.

Started as the command a user runs; ready once it prints its key line, which is read from its
standard output (no sleeps). Its data folder is the test's own; a restart on the same folder
and port is the same service to its windows (same key), as after a reboot.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from factoryfloor.backend.service.client import ServiceAddress

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo_hall.json"
_KEY_LINE = re.compile(r"^service key: (\S{40})\s")


def free_port_pair() -> int:
    """A port that is free, with the next one free too (commands, then frames)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((HOST, 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind((HOST, port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two free ports in a row")


class ServiceProcess:
    def __init__(self, design: Path, data: Path, port: int | None = None) -> None:
        self.design, self.data = design, data
        self.port = port or free_port_pair()
        self.process: subprocess.Popen | None = None
        self.public_key = ""
        self.log: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()

    @property
    def address(self) -> ServiceAddress:
        return ServiceAddress(HOST, self.port, self.public_key)

    def start(self) -> ServiceProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "factoryfloor.app", "serve", str(self.design),
             "--data", str(self.data), "--listen", f"{HOST}:{self.port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)  # fmt: skip
        self._lines = queue.Queue()
        threading.Thread(target=self._read_output, args=(self.process.stdout, self._lines),
                         daemon=True).start()  # fmt: skip
        match = self.wait_for_output(_KEY_LINE, READY_TIMEOUT_S)
        if match is not None:
            self.public_key = match[1]
            return self
        self.kill()
        raise RuntimeError("factoryfloor serve did not start:\n" + "".join(self.log))

    def wait_for_output(self, pattern: re.Pattern[str], timeout_s: float) -> re.Match | None:
        """The first line from now on that ``pattern`` finds, as it is printed; None if the
        service exits or prints none in ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while (left_s := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left_s)
            except queue.Empty:
                return None
            if not line:  # it exited
                return None
            if match := pattern.search(line):
                return match
        return None

    def _read_output(self, stream, lines: queue.Queue[str]) -> None:
        """Keep reading what the service prints (its pipe never fills), into ``log``."""
        for line in stream:
            self.log.append(line)
            lines.put(line)
        lines.put("")

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)
            self.process.wait(15)

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; the exit code. A service that does not stop is made to
        print its threads' stacks, then killed, and the test fails with them."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(2)
            self.kill()
            raise RuntimeError(
                "factoryfloor serve did not stop on SIGTERM:\n" + "".join(self.log[-80:])
            ) from None
