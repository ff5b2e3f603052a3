"""Verifying on a node: EdDSA only, a published `kid`, audience = this node, issuer, time, single use.

A token is one exact string: each of its three segments must be canonical unpadded base64url (RFC 7515 §2),
so no second spelling of a signed token (`=` padding, stray low bits in the last character) verifies. Times
must be finite numbers, and a token issued (`iat`) or valid (`nbf`) later than now plus the leeway is refused.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .claims import ALGORITHM, ISSUER, RECORDING_POLICIES, ROLES, JoinClaims, TokenError
from .keys import Jwks


def _public_key_from_jwk(jwk: dict[str, str]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise TokenError("unknown_key", "published key is not Ed25519")
    return _public_key(jwk["x"])


@functools.lru_cache(maxsize=64)
def _public_key(x: str) -> Ed25519PublicKey:
    """The key object for a published `x` (a key set holds a handful: made once, not once per join)."""
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))


def _header(token: str) -> dict[str, Any]:
    """The JOSE header of a token whose segments are already known canonical base64url: read once here (the
    library reads it again, with its checks, when it verifies the signature)."""
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):
        raise TokenError("malformed", "join token header unreadable: not JSON") from None
    if not isinstance(header, dict):
        raise TokenError("malformed", "join token header unreadable: not a JSON object")
    return header


_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _canonical_base64url(segment: str) -> bool:
    """True when `segment` is the one unpadded base64url spelling of the bytes it decodes to."""
    if not _BASE64URL.fullmatch(segment) or len(segment) % 4 == 1:
        return False
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == segment


class ReplayCache:
    """Remembers used token ids until they expire, so a join token works once.

    Ids leave as they expire, oldest first (tokens are used in about the order they expire: one lifetime for
    join tokens), so the cache holds about the tokens used in the last lifetime, not every token since the node
    started (issue 18: it grew by one id per session until 4096 of them); a full sweep when it passes 4096
    catches ids stuck behind a longer-lived one."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def use(self, jti: str, exp: float, now: float) -> bool:
        while self._seen:
            oldest = next(iter(self._seen))
            if self._seen[oldest] > now:
                break
            del self._seen[oldest]
        if len(self._seen) > 4096:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
        if jti in self._seen:
            return False
        self._seen[jti] = exp
        return True


class TokenVerifier:
    """Verifies join tokens on a node: EdDSA only, known `kid`, audience = this node, issuer, time, single use."""

    def __init__(
        self,
        jwks: Callable[[], Jwks],
        node_id: str,
        issuer: str = ISSUER,
        leeway: float = 2.0,
        replay: ReplayCache | None = None,
    ) -> None:
        self._jwks = jwks
        self.node_id = node_id
        self.issuer = issuer
        self.leeway = leeway
        self.replay = replay if replay is not None else ReplayCache()

    def _decode(self, token: str, now: float, audience: str | None = "", times: bool = True) -> dict[str, Any]:
        """Signature, algorithm, key id, audience (this node's unless told; None: any), issuer and time checks
        (`times`); returns the payload."""
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8192:
            raise TokenError("malformed", "join token is not a JWT")
        if not all(_canonical_base64url(segment) for segment in token.split(".")):
            raise TokenError("malformed", "token is not canonical base64url (padding or stray bits)")
        header = _header(token)
        if header.get("alg") != ALGORITHM:
            raise TokenError("alg_not_allowed", f"join token algorithm {header.get('alg')!r} is not allowed")
        kid = header.get("kid")
        jwk = next((k for k in self._jwks().get("keys", []) if k.get("kid") == kid), None)
        if jwk is None:
            raise TokenError("unknown_key", f"join token key id {kid!r} is not published")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                _public_key_from_jwk(jwk),
                algorithms=[ALGORITHM],
                audience=(audience or self.node_id) if audience is not None else None,
                issuer=self.issuer,
                options={
                    "require": ["exp", "nbf", "iat", "aud", "iss", "sub", "jti"],
                    "verify_aud": audience is not None,
                    "verify_iat": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidAudienceError:
            raise TokenError("wrong_audience", "join token was issued for another node") from None
        except jwt.InvalidIssuerError:
            raise TokenError("wrong_issuer", "join token issuer is unknown") from None
        except jwt.MissingRequiredClaimError as e:
            raise TokenError("missing_claim", str(e)) from None
        except jwt.InvalidSignatureError:
            raise TokenError("bad_signature", "join token signature does not verify") from None
        except jwt.PyJWTError as e:
            raise TokenError("malformed", f"join token invalid: {e}") from None
        try:
            exp, nbf, iat = float(payload["exp"]), float(payload["nbf"]), float(payload["iat"])
        except (TypeError, ValueError):
            raise TokenError("malformed", "join token times are not numbers") from None
        if not all(math.isfinite(t) for t in (exp, nbf, iat)):
            raise TokenError("malformed", "join token times are not finite numbers")
        if not times:
            return payload
        if now > exp + self.leeway:
            raise TokenError("expired", "join token has expired; open the meeting link again")
        if now + self.leeway < nbf:
            raise TokenError("not_yet_valid", "join token is not valid yet")
        if now + self.leeway < iat:
            raise TokenError("not_yet_valid", "token was issued in the future: the issuer's clock is ahead of the node's")
        return payload

    def verify(self, token: str, now: float | None = None, single_use: bool = True) -> JoinClaims:
        now = time.time() if now is None else now
        return self._claims(self._decode(token, now), now, single_use, self.node_id)

    def verify_presented(self, token: str, issued_for: str | None, now: float | None = None,
                         times: bool = True) -> JoinClaims:
        """A join token another node admitted, presented over a relay link as evidence of its holder's role
        (sfu/cascade/roles.py): every check of `verify` but the audience, which is `issued_for` (the node that says
        it admitted it; None: any node), and never single use — it was used already, where it was issued for, and
        presenting it admits nobody. `times=False`: a token this node verified before, presented again after it
        expired (the holder is still in the meeting); the signature and claims are checked again all the same."""
        now = time.time() if now is None else now
        payload = self._decode(token, now, audience=issued_for, times=times)
        aud = payload["aud"]
        if not isinstance(aud, str):  # the control plane mints one audience: a list is nothing it issued
            raise TokenError("wrong_audience", "a presented join token names one node")
        return self._claims(payload, now, False, aud)

    def _claims(self, payload: dict[str, Any], now: float, single_use: bool, node: str) -> JoinClaims:
        for name in ("tenant", "room", "region"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                raise TokenError("missing_claim", f"join token lacks {name!r}")
        if "scope" in payload:
            raise TokenError("wrong_token_type", "an admin token is not a join token")
        # absent in tokens minted before compliance recording: an ordinary participant of an unrecorded meeting
        recording, role = payload.get("recording", "off"), payload.get("role", "participant")
        if recording not in RECORDING_POLICIES or role not in ROLES:
            raise TokenError("malformed", "join token has an unknown recording policy or role")
        if single_use and not self.replay.use(str(payload["jti"]), float(payload["exp"]), now):
            raise TokenError("replayed", "join token was already used")
        return JoinClaims(
            tenant=payload["tenant"],
            room=payload["room"],
            participant=str(payload["sub"]),
            region=payload["region"],
            node=node,
            name=str(payload.get("name", ""))[:64],
            jti=str(payload["jti"]),
            exp=int(payload["exp"]),
            link=str(payload.get("link", "")),
            host=bool(payload.get("host", False)),
            recording=str(recording),
            recorder=role == "recorder",
        )

    def verify_admin(self, token: str, scope: str, now: float | None = None) -> dict[str, Any]:
        """Verifies a control-plane admin token (e.g. scope "room:end" for `POST /admin/rooms/.../end`)."""
        now = time.time() if now is None else now
        payload = self._decode(token, now)
        if payload.get("scope") != scope:
            raise TokenError("wrong_scope", f"admin token scope is not {scope!r}")
        if not self.replay.use(str(payload["jti"]), float(payload["exp"]), now):
            raise TokenError("replayed", "admin token was already used")
        return payload
