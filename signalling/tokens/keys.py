"""Signing keys and the published JWKS: Ed25519 keys with a `kid`, a ring that rotates without downtime and persists."""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .claims import ALGORITHM

Jwks = dict[str, list[dict[str, str]]]  # {"keys": [public JWK, ...]}, as served at /.well-known/jwks.json

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    private: Ed25519PrivateKey
    created: float = field(default_factory=time.time)
    retired: float | None = None

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(kid=secrets.token_urlsafe(8), private=Ed25519PrivateKey.generate())

    def public_jwk(self) -> dict[str, str]:
        raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw), "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def to_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def from_pem(
        cls, kid: str, pem: bytes, created: float | None = None, retired: float | None = None
    ) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("signing key must be Ed25519")
        return cls(kid=kid, private=key, created=time.time() if created is None else created, retired=retired)


KEYRING_FILE = "signing-keys.json"
DEFAULT_GRACE = 600.0


class KeyRing:
    """The signing keys: the newest signs, all published ones verify (rotation without downtime).

    `rotate()` retires the current key but keeps publishing it for `grace` seconds (longer than any token's
    life plus clock leeway), so a token signed just before a rotation still verifies after it. A ring opened
    with `KeyRing.open(dir)` is persisted (one JSON file, mode 0600, replaced atomically) and `refresh()`
    picks up a rotation made by another process sharing the directory.
    """

    def __init__(
        self, keys: list[SigningKey] | None = None, grace: float = DEFAULT_GRACE, path: Path | None = None
    ) -> None:
        self._keys: list[SigningKey] = list(keys) if keys else [SigningKey.generate()]
        self.grace = grace
        self.path = path
        self._mtime = 0.0
        self._checked = 0.0
        self._lock = threading.Lock()

    @property
    def current(self) -> SigningKey:
        return self._keys[-1]

    @property
    def keys(self) -> list[SigningKey]:
        return list(self._keys)

    def rotate(self, keep: int = 2, now: float | None = None) -> SigningKey:
        """Adds a new signing key; the previous ones stay published (at most `keep` keys, within `grace`)."""
        now = time.time() if now is None else now
        with self._lock:
            self._refresh_locked()
            key = SigningKey.generate()
            key.created = now
            self.current.retired = now
            self._keys.append(key)
            self._keys = [k for k in self._keys[-max(1, keep):] if not self._expired(k, now)]
            self._save_locked()
            return key

    def _expired(self, key: SigningKey, now: float) -> bool:
        return key.retired is not None and now - key.retired > self.grace

    def published(self, now: float | None = None) -> list[SigningKey]:
        now = time.time() if now is None else now
        return [k for k in self._keys if not self._expired(k, now)]

    def jwks(self, now: float | None = None) -> Jwks:
        self.refresh()
        return {"keys": [k.public_jwk() for k in self.published(now)]}

    # -- persistence -------------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | Path, grace: float = DEFAULT_GRACE) -> KeyRing:
        """Loads the ring persisted in `directory`, creating it (with one fresh key) the first time."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        ring = cls(grace=grace, path=d / KEYRING_FILE)
        with ring._lock:
            if ring.path is not None and ring.path.exists():
                ring._load_locked()
            else:
                ring._save_locked()
        return ring

    def refresh(self, min_interval: float = 1.0) -> None:
        """Reloads the persisted ring if another process rotated it (looks at most once per `min_interval`)."""
        if self.path is None or time.monotonic() - self._checked < min_interval:
            return
        with self._lock:
            self._checked = time.monotonic()
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self._mtime:
            self._load_locked()

    def _load_locked(self) -> None:
        assert self.path is not None
        data = json.loads(self.path.read_text())
        keys = [
            SigningKey.from_pem(k["kid"], k["pem"].encode(), created=k["created"], retired=k.get("retired"))
            for k in data["keys"]
        ]
        if not keys:
            raise ValueError(f"{self.path}: no signing keys")
        self._keys = keys
        self._mtime = self.path.stat().st_mtime

    def _save_locked(self) -> None:
        if self.path is None:
            return
        data = {
            "keys": [
                {"kid": k.kid, "created": k.created, "retired": k.retired, "pem": k.to_pem().decode()}
                for k in self._keys
            ]
        }
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime


def parse_jwks(data: object) -> Jwks:
    """A JWKS document read from the network or a file, checked for shape (a clear error, never a crash later)."""
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list) or not all(
            isinstance(k, dict) and all(isinstance(a, str) and isinstance(b, str) for a, b in k.items()) for k in keys):
        raise ValueError("not a JWKS document: expected {\"keys\": [{string: string}, ...]}")
    return {"keys": keys}


def jwks_json(keys: KeyRing) -> str:
    return json.dumps(keys.jwks())
