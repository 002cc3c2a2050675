"""A real Mosquitto broker for tests and benchmarks: plain, TLS and password-protected variants.

Tests of the MQTT source run against the broker the app meets in the field, not a mock, so that
reconnects, TLS failures and broker-side queueing behave as they really do. Each broker listens on
127.0.0.1 on a free port with its files in a throwaway folder; ``max_queued_messages 0`` because
Mosquitto's default of 1000 silently drops messages for a busy subscriber (design notes, section
9), and persistence is off so that a restart loses every session, which is the case a client must
recover from by subscribing again.

Use the fixtures from a test module with ``pytest_plugins = ["broker"]`` (import names from
here only under ``TYPE_CHECKING``, so that pytest imports the module first, as a plugin); the
benchmark imports :class:`Mosquitto` directly.
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"  # Debian keeps it in sbin
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
OPENSSL = shutil.which("openssl")
HOST = "127.0.0.1"
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
TEST_USER = "factoryfloor"
TEST_PASSWORD = "correct horse battery staple"


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it; a race is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """A test certificate authority and a server certificate it signed, valid for 127.0.0.1."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _openssl(command: str, cwd: Path) -> None:
    """Run one openssl command line (file names relative to ``cwd``, no spaces in them)."""
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed")
    subprocess.run([OPENSSL, *command.split()], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> Path:
    """A self-signed CA in ``folder``: ``{name}.crt`` (returned) and ``{name}.key``."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        f"req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN={name}"
        f" -keyout {name}.key -out {name}.crt",
        cwd=folder,
    )
    return folder / f"{name}.crt"


def make_tls_files(folder: Path, alt_names: str = "IP:127.0.0.1,DNS:localhost") -> TlsFiles:
    """A CA and a server certificate for ``alt_names`` (127.0.0.1 and localhost unless told
    otherwise), made with the openssl CLI."""
    ca_cert = make_ca(folder, "test-ca")
    (folder / "server.ext").write_text(f"subjectAltName={alt_names}\n")
    _openssl(
        "req -new -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr",
        cwd=folder,
    )
    _openssl(
        "x509 -req -in server.csr -CA test-ca.crt -CAkey test-ca.key -CAcreateserial -days 2"
        " -extfile server.ext -out server.crt",
        cwd=folder,
    )
    return TlsFiles(ca_cert, folder / "server.crt", folder / "server.key")


def make_password_file(folder: Path, user: str, password: str) -> Path:
    """A Mosquitto password file with one user (hashed by ``mosquitto_passwd``)."""
    if MOSQUITTO_PASSWD is None:
        pytest.skip("mosquitto_passwd is not installed, so no password file can be made")
    path = folder / "passwords"
    subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(path), user, password], check=True)
    return path


class Mosquitto:
    """One broker process. ``stop`` then ``start`` brings it back on the same port with no
    sessions and no retained messages (persistence is off)."""

    def __init__(
        self,
        folder: Path,
        *,
        tls: TlsFiles | None = None,
        credentials: tuple[str, str] | None = None,
        tcp_nodelay: bool = False,
    ) -> None:
        self.host = HOST
        self.port = free_port()
        self.tls = tls
        self.credentials = credentials
        """(user, password) the broker admits, and no one else; none: anonymous clients."""
        self.tcp_nodelay = tcp_nodelay
        """``set_tcp_nodelay true``: the broker sends each packet at once, without Nagle's
        algorithm (Mosquitto's default keeps it)."""
        self._folder = folder
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = folder / "mosquitto.log"

    def config_text(self) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if self.credentials else 'true'}",
            "max_queued_messages 0",
            "persistence false",
            f"user {getpass.getuser()}",  # as root: do not drop to 'mosquitto' (can't read keys)
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if self.tcp_nodelay:
            lines.append("set_tcp_nodelay true")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_cert}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
            ]
        if self.credentials is not None:
            lines.append(f"password_file {make_password_file(self._folder, *self.credentials)}")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        if not Path(MOSQUITTO).exists():
            raise RuntimeError(
                f"no Mosquitto at {MOSQUITTO}: install it (apt-get install mosquitto)"
            )
        config = self._folder / "mosquitto.conf"
        config.write_text(self.config_text())
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stderr=log)
        self._wait_ready(self._process)

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        """Poll until the port accepts connections, failing fast if the broker exits."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start:\n{self.log_text()}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"mosquitto not listening after {READY_TIMEOUT_S} s:\n{self.log_text()}")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    @property
    def pid(self) -> int:
        """The running broker's process id (benchmarks read its CPU time)."""
        if self._process is None:
            raise RuntimeError("mosquitto is not running")
        return self._process.pid

    def publisher(self) -> Publisher:
        """A publisher that trusts this broker's CA and logs in with its credentials."""
        return Publisher(self.host, self.port, self.tls, self.credentials)

    def log_text(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""


class Publisher:
    """A plain paho client that publishes to a test broker, waiting until each message is sent."""

    def __init__(
        self, host: str, port: int, tls: TlsFiles | None, credentials: tuple[str, str] | None
    ) -> None:
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self._client.max_queued_messages_set(0)
        if tls is not None:
            self._client.tls_set(ca_certs=str(tls.ca_cert))
        if credentials is not None:
            self._client.username_pw_set(*credentials)
        self._client.connect(host, port)
        self._client.loop_start()

    def publish(
        self, topic: str, payload: bytes | str | dict, *, qos: int = 0, retain: bool = False
    ) -> None:
        """Publish; a dict is sent as JSON."""
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        self._client.publish(topic, data, qos=qos, retain=retain).wait_for_publish(timeout=5.0)

    def publish_many(self, topic: str, payloads: list[dict]) -> None:
        """Publish JSON payloads back to back (a burst), waiting only for the last."""
        infos = [self._client.publish(topic, json.dumps(payload)) for payload in payloads]
        infos[-1].wait_for_publish(timeout=5.0)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _started(broker: Mosquitto) -> Iterator[Mosquitto]:
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A plain broker for anonymous clients."""
    yield from _started(Mosquitto(tmp_path))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Made once per session: generating RSA keys is the slow part of the TLS tests."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_mosquitto(tmp_path: Path, tls_files: TlsFiles) -> Iterator[Mosquitto]:
    """A broker that speaks only TLS, with a certificate signed by ``tls_files.ca_cert``."""
    yield from _started(Mosquitto(tmp_path, tls=tls_files))


@pytest.fixture
def password_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker that admits only its ``credentials`` (a mosquitto_passwd password file)."""
    yield from _started(Mosquitto(tmp_path, credentials=(TEST_USER, TEST_PASSWORD)))


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[Publisher]:
    """A publisher connected to ``mosquitto``."""
    client = mosquitto.publisher()
    yield client
    client.close()


@pytest.fixture
def untrusted_ca(tmp_path: Path) -> Path:
    """A CA certificate that signed none of the brokers' certificates."""
    return make_ca(tmp_path / "untrusted", "untrusted-ca")
