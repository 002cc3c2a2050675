"""Why a connection to an MQTT broker failed, in words an operator can act on.

aiomqtt reports most failed connections as "Operation timed out" after its 10 s timeout: when
the far end closes the socket before its CONNACK (a port that accepts and hangs up, a TLS-only
listener meeting a plaintext client), paho reports the lost connection but aiomqtt ignores
disconnects before CONNACK and waits for the timeout; when the far end is no broker at all (an
HTTP server waiting for a request line), nothing ever comes. And a certificate that names
another host reads like any other verification failure.

So :class:`DiagnosingClient` fails a connection the moment its socket closes before CONNACK,
and when a connection fails, or its CONNACK is late (``PROBE_AFTER_S``), :func:`probe` opens a
connection of its own and looks at what answers: nothing (refused), an immediate close, an HTTP
status line, a TLS handshake, or a certificate and the names in it. A probe only explains a
failure; it ends a connection still waiting for its CONNACK only when the answer proves no
MQTT broker will answer it (an HTTP server, a TLS-only listener, a certificate fault), never
for an immediate close, which a broker may reserve for the probe's own client id. It costs one
extra connection per failed attempt (0.2 to 40 ms on loopback) and nothing on a healthy one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any, Self

import aiomqtt
from aiomqtt.exceptions import MqttCodeError, MqttConnectError

from factoryfloor.backend.telemetry.sources.mqtt_client import QuietClient

PROBE_AFTER_S = 1.0
"""A CONNACK later than this is unusual enough to find out, while still waiting, who answers."""
PROBE_TIMEOUT_S = 1.5
"""How long the probe waits for the far end at each step."""
PROBE_CLIENT_ID = "factoryfloor-probe"
"""The probe's own client id, so it never touches the session of the real client."""
CLOSED_AT_ONCE = "closed the connection at once"
"""Proof of nothing while the real connection still waits: a broker may hang up on the probe
alone (a client id it does not admit), so only a failed connection is explained by it."""
_HOSTNAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


class ConnectionDiagnosis(aiomqtt.MqttError):
    """A failed connection, explained; ``str()`` is the operator's one line."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where the client connects, and with what TLS settings (none: plaintext)."""

    host: str
    port: int
    tls: ssl.SSLContext | None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def _connect_packet() -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session and the probe's client id, followed by an
    empty line so that a server reading a text request line (HTTP) answers at once; a broker
    answers the CONNECT first and then drops the connection for the line."""
    client_id = PROBE_CLIENT_ID.encode()
    variable = b"\x00\x04MQTT\x04\x02\x00\x05"  # protocol name, level 4, clean session, keepalive
    payload = len(client_id).to_bytes(2, "big") + client_id
    body = variable + payload
    return bytes((0x10, len(body))) + body + b"\r\n\r\n"


async def probe(address: BrokerAddress) -> str | None:
    """What answers at ``address``, when that explains a failure; None when it answered like an
    MQTT broker, or not in time (then the connection's own error says more)."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(
                address.host, address.port, ssl=address.tls
            )
    except ConnectionRefusedError:
        return f"refused by {address}: nothing listens there"
    except ssl.SSLCertVerificationError as exc:
        return await _certificate_problem(address, exc)
    except ssl.SSLError as exc:
        return _not_tls(address, exc.reason)
    except ConnectionResetError:
        # A plaintext broker drops a TLS hello (Mosquitto resets the connection).
        return _not_tls(address, "the connection was reset") if address.tls else None
    except (OSError, TimeoutError):
        return None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            writer.write(_connect_packet())
            await writer.drain()
            answer = await reader.read(64)
    except (ConnectionResetError, BrokenPipeError):
        answer = b""
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                await writer.wait_closed()
    return await _explain_answer(address, answer)


def _not_tls(address: BrokerAddress, reason: str) -> str:
    return f"TLS handshake with {address} failed ({reason}): is it a plaintext listener?"


async def _explain_answer(address: BrokerAddress, answer: bytes) -> str | None:
    if answer.startswith((b"HTTP/", b"<")):  # a status line, or HTML only (an HTTP/0.9 answer)
        first_line = answer.splitlines()[0].decode("ascii", "replace")
        return f"{address} is not an MQTT broker: it answered like HTTP ({first_line})"
    if answer[:1] == b"\x20":  # CONNACK
        return None
    if answer:
        return f"{address} is not an MQTT broker: it answered {answer[:16]!r}"
    if address.tls is None and await _speaks_tls(address):
        return f"the broker at {address} wants TLS: set tls true (and ca_file to its CA)"
    return f"{address} {CLOSED_AT_ONCE}"


async def _speaks_tls(address: BrokerAddress) -> bool:
    """Whether a TLS handshake succeeds at ``address``, trusting any certificate: only to tell
    a TLS listener from a port that hangs up; nothing is sent over it."""
    anything = ssl.create_default_context()
    anything.check_hostname = False
    anything.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            _, writer = await asyncio.open_connection(address.host, address.port, ssl=anything)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await writer.wait_closed()
    return True


async def _certificate_problem(address: BrokerAddress, exc: ssl.SSLCertVerificationError) -> str:
    if exc.verify_code in _HOSTNAME_MISMATCH and address.tls is not None:
        names = await _certificate_names(address, address.tls)
        named = f" ({', '.join(names)})" if names else ""
        return f"TLS: the broker's certificate names another host{named}, not {address.host}"
    return certificate_rejected(exc.verify_message or str(exc))


def certificate_rejected(reason: str) -> str:
    """The line for a certificate that no trusted CA signed (or is expired, or revoked)."""
    return f"TLS: broker certificate rejected ({reason}); is ca_file the CA that signed it?"


async def _certificate_names(address: BrokerAddress, tls: ssl.SSLContext) -> list[str]:
    """The host names and addresses the broker's certificate is for, read over a handshake that
    still checks the CA's signature but not the name."""
    signed_by_ca = ssl.create_default_context()
    signed_by_ca.check_hostname = False
    signed_by_ca.load_verify_locations(cadata=_ca_certificates(tls))
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            _, writer = await asyncio.open_connection(address.host, address.port, ssl=signed_by_ca)
    except (OSError, TimeoutError):
        return []
    certificate = writer.get_extra_info("peercert") or {}
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await writer.wait_closed()
    return [str(value) for _, value in certificate.get("subjectAltName", ())]


def _ca_certificates(tls: ssl.SSLContext) -> str:
    """The CAs ``tls`` trusts, as PEM, to build a context that differs only in the name check."""
    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in tls.get_ca_certs(binary_form=True))


class DiagnosingClient(QuietClient):
    """An aiomqtt client whose failed connections say why (see the module doc).

    Two private hooks of aiomqtt 2.x are used, because it offers no public one: ``_on_disconnect``
    (paho's callback, which aiomqtt ignores before CONNACK) and the ``_connected`` future that
    ``__aenter__`` waits on. tests/test_mqtt_diagnosis.py notices if a new aiomqtt changes them.
    """

    def __init__(self, hostname: str, port: int, **options: Any) -> None:
        super().__init__(hostname, port, **options)
        self.address = BrokerAddress(hostname, port, options.get("tls_context"))

    async def __aenter__(self) -> Self:
        connecting = asyncio.ensure_future(super().__aenter__())
        try:
            diagnosis = None
            await asyncio.wait({connecting}, timeout=PROBE_AFTER_S)
            if not connecting.done():
                diagnosis = await probe(self.address)
                if diagnosis is not None and not diagnosis.endswith(CLOSED_AT_ONCE):
                    self._give_up(ConnectionDiagnosis(diagnosis))
            try:
                return await connecting
            except MqttConnectError:
                raise  # the broker answered and said no: its reason is the diagnosis
            except aiomqtt.MqttError as exc:
                diagnosis = diagnosis or await probe(self.address)
                if diagnosis is None:
                    raise
                raise ConnectionDiagnosis(diagnosis) from exc
        finally:
            if not connecting.done():
                connecting.cancel()

    def _give_up(self, error: aiomqtt.MqttError) -> None:
        """End the wait for a CONNACK that will not come; the socket goes when the far end
        closes it or the client is collected."""
        if not self._connected.done():
            self._connected.set_exception(error)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any = None) -> None:  # fmt: skip
        """Before CONNACK, a lost socket fails the connection now instead of after the timeout."""
        if not self._connected.done():
            self._give_up(MqttCodeError(reason_code, "connection closed before CONNACK"))
            return
        super()._on_disconnect(client, userdata, flags, reason_code, properties)
