"""Where a service listens, as people type it: ``HOST:PORT``, ``[V6]:PORT``, ``HOST``."""

from __future__ import annotations

DEFAULT_PORT = 7440
"""Commands on 7440, frames on 7441."""


class AddressError(ValueError):
    pass


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``HOST`` or ``:PORT`` -> (host, port); AddressError says
    what is wrong with it."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [V6] or [V6]:PORT
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else str(DEFAULT_PORT)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # a name, an IPv4 address, or a bare IPv6 address: the default port
        host, port_text = text, str(DEFAULT_PORT)
    host = host or default_host
    try:
        port = int(port_text)
    except ValueError:
        raise AddressError(f"{text!r}: the port must be a number (HOST:PORT)") from None
    if not 1 <= port <= 65534:
        raise AddressError(f"{text!r}: the port must be 1 to 65534 (frames use the next one)")
    return host, port
