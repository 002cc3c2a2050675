"""The service's CURVE key pair, and the keys windows have pinned for the services they know.

Every link between a service and its windows is CURVE-encrypted (CurveZMQ: Curve25519 key
exchange, XSalsa20-Poly1305), loopback included, so there is no plaintext path to fall back to
(docs/transport.md). A service started with ``factoryfloor serve`` keeps its key pair in its
data folder (``service.key``, 0600); a window must know the service's public key before it
connects, as an SSH client knows a host key: given once (``--service-key``, or pasted in File >
Connect), then pinned per address in ``known_services.json``. A service on this machine is found
without asking, from the public key file in the default data folder. An embedded service gets a
fresh pair from the window that starts it, which hands the public key to itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import zmq
from platformdirs import user_config_path
from zmq.utils import z85

from factoryfloor.backend.design.design_file import atomic_write_text

KEY_FILE = "service.key"
PUBLIC_KEY_FILE = "service.key.public"
KNOWN_SERVICES_FILE = "known_services.json"
Z85_KEY_CHARS = 40


class ServiceKeyError(ValueError):
    """A key that is not a CURVE public key, or a key file that cannot be read."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    public: str
    """Z85 text, 40 characters: what a window needs to connect."""
    secret: str

    @classmethod
    def generate(cls) -> KeyPair:
        public, secret = zmq.curve_keypair()
        return cls(public.decode("ascii"), secret.decode("ascii"))


def check_public_key(text: str, where: str) -> str:
    """``text`` stripped, if it reads as a Z85 CURVE public key; else why not, naming ``where``."""
    key = text.strip()
    if len(key) != Z85_KEY_CHARS:
        raise ServiceKeyError(
            f"{where}: a service key is {Z85_KEY_CHARS} characters, this is {len(key)}"
        )
    try:
        z85.decode(key)
    except (ValueError, KeyError):
        raise ServiceKeyError(f"{where}: not a service key (Z85 text)") from None
    return key


def fingerprint(public_key: str) -> str:
    """A short, stable name of a key for people to compare: ``SHA256:ab12:cd34:ef56:7890``."""
    digest = hashlib.sha256(public_key.encode("ascii")).hexdigest()[:16]
    return "SHA256:" + ":".join(digest[i : i + 4] for i in range(0, 16, 4))


def service_key_pair(data_folder: Path) -> KeyPair:
    """The service's key pair from its data folder, made on first use."""
    path = data_folder / KEY_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        pair = KeyPair(check_public_key(document["public"], str(path)), str(document["secret"]))
    except FileNotFoundError:
        pair = KeyPair.generate()
        data_folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"public": pair.public, "secret": pair.secret}), 0o600)
    except (ValueError, KeyError, TypeError) as error:
        raise ServiceKeyError(
            f"{path}: unreadable service key file ({error}); move it aside "
            "to make a new key pair (then give windows the new public "
            "key)"
        ) from None
    atomic_write_text(data_folder / PUBLIC_KEY_FILE, pair.public + "\n", 0o644)
    return pair


def local_public_key(data_folder: Path) -> str | None:
    """The public key of the service whose data folder is ``data_folder`` on this machine."""
    try:
        return check_public_key((data_folder / PUBLIC_KEY_FILE).read_text("ascii"), "")
    except (OSError, ValueError):
        return None


def known_services_path() -> Path:
    return user_config_path("factoryfloor", appauthor=False) / KNOWN_SERVICES_FILE


class KnownServices:
    """Public keys pinned by address (``host:port``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or known_services_path()

    def _read(self) -> dict[str, str]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as error:
            raise ServiceKeyError(f"{self.path}: unreadable ({error})") from None
        return {str(k): str(v) for k, v in document.items()} if isinstance(document, dict) else {}

    def key_for(self, address: str) -> str | None:
        return self._read().get(address)

    def pin(self, address: str, public_key: str) -> None:
        known = self._read()
        known[address] = check_public_key(public_key, address)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(known, indent=2) + "\n", 0o600)


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def resolve_service_key(host: str, port: int, given: str | None = None,
                        known: KnownServices | None = None,
                        local_data_folder: Path | None = None) -> str:  # fmt: skip
    """The public key to connect to ``host:port`` with: the one ``given`` (then pinned for next
    time), else the one pinned, else, for a service on this machine, its own key file.
    ServiceKeyError says where to get it when none is known."""
    known = known or KnownServices()
    address = f"{host}:{port}"
    if given:
        key = check_public_key(given, "the service key")
        known.pin(address, key)
        return key
    pinned = known.key_for(address)
    if pinned:
        return pinned
    if is_loopback(host) and local_data_folder is not None:
        local = local_public_key(local_data_folder)
        if local:
            return local
    raise ServiceKeyError(
        f"no key known for the service at {address}: every link is encrypted, and this window "
        "needs the service's public key once. Run 'factoryfloor serve --show-key DESIGN' on "
        "the service's machine and give it with --service-key (or in File > Connect)"
    )
