"""Join and admin tokens on a node: signalling.tokens.TokenVerifier.verify and verify_admin. A token is
accepted only when the published key signed it for this node and it is in date; anything else is a
TokenError, nothing else.

Input: a mode byte, then
- mode bit 0 clear: the token text itself (UTF-8, lone surrogates kept as a JSON message can carry them);
- mode bit 0 set: a JWT header and payload (JSON as the fuzzer wrote it, NUL-separated), signed by the
  harness with the real signing key, so the checks behind the signature (claims, types, times, replay) are
  reached: what a buggy or compromised issuer could send (bit 1: sign with another key)."""

from __future__ import annotations

import base64
import dataclasses

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signalling.tokens import KeyRing, SigningKey, TokenError, TokenVerifier
from signalling.tokens.claims import ISSUER

NODE_ID = "node-1"
NOW = 1_800_000_000.0
# fixed keys, so a corpus input means the same token in every run
KEYS = KeyRing([SigningKey("fuzz-key", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))])
OTHER = SigningKey("fuzz-key", Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(header: bytes, payload: bytes, key: SigningKey) -> str:
    head = _b64(header) + "." + _b64(payload)
    return head + "." + _b64(key.private.sign(head.encode()))


def text_of(raw: bytes) -> str:
    """UTF-8, lone surrogates allowed (a JSON string such as "\\ud800" decodes to one); else U+FFFD."""
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def token_of(data: bytes) -> str:
    mode, rest = data[0], data[1:]
    if not mode & 1:
        return text_of(rest)
    header, _, payload = rest.partition(b"\0")
    return signed(header, payload, OTHER if mode & 2 else KEYS.current)


def check(data: bytes) -> None:
    if not data:
        return
    token = token_of(data)
    verifier = TokenVerifier(KEYS.jwks, NODE_ID)
    try:
        claims = verifier.verify(token, now=NOW)
    except TokenError:
        pass
    else:
        if data[0] & 2:
            raise AssertionError(f"a token signed with an unpublished key was accepted: {claims!r}")
        for f in dataclasses.fields(claims):
            value = getattr(claims, f.name)
            if not isinstance(value, (str, int, bool)) or (f.name in ("tenant", "room", "region") and not value):
                raise AssertionError(f"claim {f.name}={value!r}")
        if not NOW <= claims.exp + verifier.leeway + 1:
            raise AssertionError(f"an expired token was accepted: exp {claims.exp}")
    try:
        payload = TokenVerifier(KEYS.jwks, NODE_ID).verify_admin(token, scope="room:end", now=NOW)
    except TokenError:
        pass
    else:
        if data[0] & 2 or payload.get("scope") != "room:end" or payload.get("iss") != ISSUER:
            raise AssertionError(f"admin token accepted: {payload!r}")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("join_token")
