"""The key that signs a transparency log's tree heads, kept outside the database: a PEM file (the chart mounts it
from its own Secret) or a PKCS#11 token (an HSM; tested with SoftHSM). Both give the same `HeadSigner`.

Why outside the database: whoever can write the database could otherwise also sign a rewritten history. With
the key in an HSM, a database administrator can still rewrite rows, but every head they can get signed is
checked by the tenant against the heads it already holds (heads.py), so a rewrite shows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import InvalidInput
from .signing import key_id, load_or_create_signing_key


class HeadSigner(Protocol):
    key_id: str

    def public_key(self) -> Ed25519PublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


class KeySigner:
    """An Ed25519 key held in memory (read from a PEM file, or the deployment's audit key)."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.key_id = key_id(key.public_key())

    @classmethod
    def from_file(cls, path: str | Path) -> KeySigner:
        if not Path(path).exists():
            raise InvalidInput("log_key_missing", f"log key {path} does not exist (castellan node-key generate "
                                                  "--out FILE makes an Ed25519 PEM key)")
        return cls(load_or_create_signing_key(path))

    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


@dataclass(frozen=True)
class Pkcs11Config:
    module: str  # the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
    token: str  # token label
    pin: str
    label: str  # the key pair's label on the token


class Pkcs11Signer:
    """Ed25519 (CKM_EDDSA) signing by a key that never leaves the token. One session, used under a lock."""

    def __init__(self, config: Pkcs11Config) -> None:
        import pkcs11
        from pkcs11 import Attribute, KeyType, ObjectClass

        try:
            lib = pkcs11.lib(config.module)
            self._session: Any = lib.get_token(token_label=config.token).open(user_pin=config.pin)
            self._private: Any = self._session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC_EDWARDS,
                                                       label=config.label)
            public: Any = self._session.get_key(ObjectClass.PUBLIC_KEY, KeyType.EC_EDWARDS, label=config.label)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise InvalidInput("log_key_unavailable",
                               f"PKCS#11 key {config.label!r} on token {config.token!r} ({config.module}): "
                               f"{type(exc).__name__} {exc}") from exc
        point = bytes(public[Attribute.EC_POINT])
        raw = point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point  # DER OCTET STRING or raw
        self._public = Ed25519PublicKey.from_public_bytes(raw)
        self.key_id = key_id(self._public)
        self._lock = threading.Lock()

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, data: bytes) -> bytes:
        from pkcs11 import Mechanism

        with self._lock:
            return bytes(self._private.sign(data, mechanism=Mechanism.EDDSA))

    def close(self) -> None:
        self._session.close()


def generate_pkcs11_key(config: Pkcs11Config) -> Ed25519PublicKey:
    """Make the Ed25519 key pair on the token (not extractable) and return its public key."""
    import pkcs11
    from pkcs11 import Attribute, KeyType
    from pkcs11.util.ec import encode_named_curve_parameters

    with pkcs11.lib(config.module).get_token(token_label=config.token).open(user_pin=config.pin, rw=True) as s:
        params = s.create_domain_parameters(
            KeyType.EC_EDWARDS, {Attribute.EC_PARAMS: encode_named_curve_parameters("1.3.101.112")}, local=True)
        params.generate_keypair(store=True, label=config.label,
                                private_template={Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True})
    signer = Pkcs11Signer(config)
    try:
        return signer.public_key()
    finally:
        signer.close()
