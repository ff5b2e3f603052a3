"""Ed25519 keys for signing audit-chain heads, and loading the public key a verifier was given.

The deployment keeps one private key (PEM, PKCS#8, file mode 0600). Verifiers get the public key as PEM, as a
JWK, or as a JWKS document (e.g. saved from the control plane); `key_id` (first 16 hex digits of SHA-256 of
the raw 32-byte public key) names the key inside signed heads, so a verifier holding several keys picks the
right one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import InvalidInput


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_or_create_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """Read the PEM private key at `path`, creating it (mode 0600) on first use."""
    p = Path(path)
    if not p.exists():
        key = generate_signing_key()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        return key
    loaded = serialization.load_pem_private_key(p.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise InvalidInput("invalid_key", f"{p} is not an Ed25519 private key")
    return loaded


def _from_jwk(jwk: dict[str, object]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise InvalidInput("invalid_key", "JWK is not an Ed25519 (OKP) public key")
    x = str(jwk["x"])
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))


def parse_public_keys(text: str) -> list[Ed25519PublicKey]:
    """Public keys from PEM, a JWK or a JWKS (non-Ed25519 keys in a JWKS are skipped)."""
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(stripped.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise InvalidInput("invalid_key", "PEM public key is not Ed25519")
            return [key]
        doc = json.loads(stripped)
        if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
            keys = [_from_jwk(k) for k in doc["keys"]
                    if isinstance(k, dict) and k.get("kty") == "OKP" and k.get("crv") == "Ed25519"]
            if not keys:
                raise InvalidInput("invalid_key", "JWKS contains no Ed25519 key")
            return keys
        if isinstance(doc, dict):
            return [_from_jwk(doc)]
    except InvalidInput:
        raise
    except (ValueError, TypeError) as exc:
        raise InvalidInput("invalid_key", f"cannot parse public key: {exc}") from exc
    raise InvalidInput("invalid_key", "public key must be PEM, a JWK or a JWKS")


def load_public_keys(path: str | Path) -> list[Ed25519PublicKey]:
    return parse_public_keys(Path(path).read_text("utf-8"))
