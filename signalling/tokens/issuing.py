"""Minting: join tokens for participants and admin tokens for control-plane-to-node calls, signed by the current key."""

from __future__ import annotations

import secrets
import time

import jwt

from .claims import ALGORITHM, ISSUER, RECORDING_POLICIES, ROLES
from .keys import KeyRing


class TokenIssuer:
    def __init__(self, keys: KeyRing, issuer: str = ISSUER) -> None:
        self.keys = keys
        self.issuer = issuer

    def mint(
        self,
        *,
        tenant: str,
        room: str,
        participant: str,
        region: str,
        node: str,
        name: str = "",
        ttl: float = 60.0,
        link: str = "",
        host: bool = False,
        recording: str = "off",
        role: str = "participant",
        now: float | None = None,
    ) -> str:
        if recording not in RECORDING_POLICIES or role not in ROLES:
            raise ValueError(f"unknown recording policy {recording!r} or role {role!r}")
        now = time.time() if now is None else now
        self.keys.refresh()
        key = self.keys.current
        payload = {
            "iss": self.issuer,
            "aud": node,
            "sub": participant,
            "tenant": tenant,
            "room": room,
            "region": region,
            "name": name,
            "link": link,
            "host": host,
            "recording": recording,
            "role": role,
            "iat": int(now),
            "nbf": int(now) - 1,
            "exp": int(now + ttl),
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(payload, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    def mint_admin(self, *, node: str, scope: str, ttl: float = 30.0, now: float | None = None) -> str:
        """A control-plane-to-node admin token (contracts.md: aud = node id, `scope`, e.g. "room:end")."""
        now = time.time() if now is None else now
        key = self.keys.current
        payload = {
            "iss": self.issuer,
            "aud": node,
            "sub": "control-plane",
            "scope": scope,
            "iat": int(now),
            "nbf": int(now) - 1,
            "exp": int(now + ttl),
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(payload, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})
