"""An aiomqtt client that stops quietly, whenever it is stopped.

aiomqtt runs paho's ``connect()`` on an executor thread, and paho tells it from there (and
later from the loop) that the socket opened or has bytes to write; aiomqtt then schedules
``add_reader``/``add_writer`` for the socket's file descriptor with ``call_soon_threadsafe``.
Nothing checks, when those run, that the socket is still open and still the client's. So a
stop at the wrong moment made noise:

- stopped while a write was scheduled: ``add_writer`` on a socket already closed, an event-loop
  traceback (``Bad file descriptor``);
- stopped mid-connect: the executor thread finished connecting after the stop, registered a
  reader and a keep-alive task nobody would cancel, and the socket stayed open until the
  client was collected, whose ``__del__`` then called back into a closed loop (``Event loop
  is closed``, ``Task was destroyed but it is pending``).

:class:`QuietClient` replaces aiomqtt's four socket callbacks with ones that register a socket
only if, when the loop runs them, it is still open, still the client's and the client is still
wanted, and that never call into a closed loop; a connection attempt that is abandoned
(cancelled, failed) closes its socket at once, or as soon as the executor thread opens it.
The callbacks are private hooks of aiomqtt 2.x (``_on_socket_open`` and its siblings, the
``_loop``, ``_client``, ``_disconnected`` and ``_misc_task`` fields); tests/test_mqtt_stop.py
notices if a new aiomqtt changes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Self

import aiomqtt
import paho.mqtt.client as paho


class QuietClient(aiomqtt.Client):
    """An ``aiomqtt.Client`` whose stop, at any moment, ends every callback before its socket
    goes; see the module doc."""

    def __init__(self, hostname: str, port: int, **options: Any) -> None:
        super().__init__(hostname, port, **options)
        self._abandoned = False

    async def __aenter__(self) -> Self:
        try:
            return await super().__aenter__()
        except BaseException:  # cancelled too: the executor thread may still be connecting
            self._abandon()
            raise

    def _abandon(self) -> None:
        """This attempt is over: unregister and close its socket, now or once it opens."""
        self._abandoned = True
        sock = self._client.socket()
        if sock is not None:
            self._close(sock)

    def _close(self, sock: Any) -> None:
        fileno = sock.fileno()
        if fileno > -1:
            self._loop.remove_reader(fileno)
            self._loop.remove_writer(fileno)
        sock.close()
        if self._misc_task is not None and not self._misc_task.done():
            self._misc_task.cancel()

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        """From any thread; nothing once the loop is closed (a client collected after it)."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def _owns(self, sock: Any) -> bool:
        """Still wanted, still this client's socket, still open: safe to register."""
        if self._abandoned or self._client.socket() is not sock or sock.fileno() < 0:
            if self._abandoned and sock.fileno() > -1:
                self._close(sock)
            return False
        return True

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call_soon(self._start_reading, client, sock)

    def _start_reading(self, client: paho.Client, sock: Any) -> None:
        if not self._owns(sock):
            return
        self._loop.add_reader(sock.fileno(), self._read, client)
        self._misc_task = self._loop.create_task(self._misc_loop())

    def _read(self, client: paho.Client) -> None:
        try:
            client.loop_read()
            # An SSL socket may hold decoded bytes that one loop_read does not take.
            pending = getattr(client.socket(), "pending", None)
            while pending is not None and pending() > 0:
                client.loop_read()
        except Exception as exc:  # a broken connection: aiomqtt's own handling, as a disconnect
            self._lost(exc)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._loop.is_closed():
            return
        fileno = sock.fileno()
        if fileno > -1:
            self._loop.remove_reader(fileno)
            self._loop.remove_writer(fileno)
        if self._misc_task is not None and not self._misc_task.done():
            self._call_soon(self._misc_task.cancel)

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._call_soon(self._start_writing, client, sock)

    def _start_writing(self, client: paho.Client, sock: Any) -> None:
        if self._owns(sock):
            self._loop.add_writer(sock.fileno(), self._write, client)

    def _write(self, client: paho.Client) -> None:
        try:
            client.loop_write()
        except Exception as exc:  # as for reads
            self._lost(exc)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if not self._loop.is_closed() and sock.fileno() > -1:
            self._loop.remove_writer(sock.fileno())

    def _lost(self, exc: Exception) -> None:
        if not self._disconnected.done():
            self._disconnected.set_exception(exc)
