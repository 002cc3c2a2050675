"""JWS signatures of DSX Flex ``data`` (RFC 7515, ES256 or RS256, ``kid`` naming the key).

Each event source (``//grid/v1/isv/acme``) is trusted with its own public keys only: a valid
signature by another source's key is refused, as is an unknown ``kid``, any other algorithm,
a bad signature, and an event older than ``MAX_AGE_S`` (a replay of an old target). joserfc
does the cryptography.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

ALGORITHMS = ["ES256", "RS256"]
MAX_AGE_S = 300.0
"""An event's ``time`` may be this old at most: enough for a broker's queue after a reconnect,
too little to replay yesterday's load target."""
MAX_AHEAD_S = 60.0
"""Clock skew allowed the other way."""


class SignatureRefused(ValueError):
    """Why an event's signature was not accepted."""


@dataclass(slots=True)
class KeyRing:
    """The public keys trusted per event source, and our own signing key."""

    trusted: dict[str, KeySet] = field(default_factory=dict)
    signing_key: ECKey | RSAKey | None = None

    @classmethod
    def from_files(cls, trusted: Mapping[str, Path], signing_key: Path | None) -> KeyRing:
        """Each source's JWK or JWK set (``{"keys": [...]}``) file, and our private JWK file.
        ValueError naming the file and why when one cannot be read."""
        ring = cls()
        for source, path in trusted.items():
            ring.trusted[source] = KeySet.import_key_set(_jwks(path))
        if signing_key is not None:
            ring.signing_key = _one_key(_read(signing_key), signing_key)
        return ring

    def verify(self, source: str, compact: str, event_time_s: float, now_s: float) -> dict:
        """The verified JSON payload; SignatureRefused saying why not."""
        keys = self.trusted.get(source)
        if keys is None:
            raise SignatureRefused(f"no key is trusted for source {source}")
        if event_time_s < now_s - MAX_AGE_S:
            raise SignatureRefused(f"expired: sent {now_s - event_time_s:.0f} s ago "
                                   f"(at most {MAX_AGE_S:.0f} s accepted)")  # fmt: skip
        if event_time_s > now_s + MAX_AHEAD_S:
            raise SignatureRefused(f"dated {event_time_s - now_s:.0f} s in the future")
        try:
            verified = jws.deserialize_compact(compact, keys, algorithms=ALGORITHMS)
        except JoseError as error:
            raise SignatureRefused(_words(error)) from None
        except ValueError as error:
            raise SignatureRefused(f"not a JWS compact serialisation ({error})") from None
        if "kid" not in verified.protected:
            raise SignatureRefused("the JWS header names no key (kid)")
        try:
            payload = json.loads(verified.payload)
        except ValueError:
            raise SignatureRefused("the signed payload is not JSON") from None
        if not isinstance(payload, dict):
            raise SignatureRefused("the signed payload is not a JSON object")
        return payload

    def sign(self, payload: dict) -> str:
        """``payload`` signed with our key (ES256 for an EC key, RS256 for RSA)."""
        key = self.signing_key
        if key is None:
            raise SignatureRefused("no signing key is configured: nothing is published unsigned")
        alg = "ES256" if isinstance(key, ECKey) else "RS256"
        header = {"alg": alg, "kid": key.kid}
        return jws.serialize_compact(header, json.dumps(payload).encode(), key, algorithms=[alg])


def _words(error: JoseError) -> str:
    name = type(error).__name__
    if name == "InvalidKeyIdError":
        return f"unknown key: {error.description}"
    if name == "BadSignatureError":
        return "bad signature: the data was altered or signed with another key"
    if name in ("UnsupportedAlgorithmError", "ConflictAlgorithmError"):
        return f"algorithm not allowed (ES256 or RS256 only): {error.description}"
    return f"{name}: {error.description}"


def _read(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read a JWK ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: a JWK file holds a JSON object")
    return value


def _jwks(path: Path) -> dict:
    value = _read(path)
    keys = value.get("keys", [value])
    for i, key in enumerate(keys):
        if "kid" not in key:
            raise ValueError(f"{path}: keys[{i}]: kid missing (events name their key by kid)")
        if "d" in key:
            raise ValueError(f"{path}: keys[{i}]: a private key; trust a source's public key only")
    return {"keys": keys}


def _one_key(value: dict, path: Path) -> ECKey | RSAKey:
    kinds = {"EC": ECKey, "RSA": RSAKey}
    kind = kinds.get(value.get("kty", ""))
    if kind is None or "kid" not in value or "d" not in value:
        raise ValueError(f"{path}: the signing key must be a private EC or RSA JWK with a kid")
    return kind.import_key(value)
