"""Join tokens: short-lived EdDSA JWTs the control plane signs and nodes verify from the published JWKS.

Only EdDSA is accepted, whatever the token's header says: that closes `alg: none` and HS256 key confusion.
Keys carry a `kid`; several may be published at once so signing keys rotate without downtime.

On a node, per join (WebSocket `join` message), in this order:

    claims = verifier.verify(token)            # TokenVerifier(jwks, node_id): alg, kid, signature, aud = node,
                                               # iss, nbf/exp (joining only), jti single use -> TokenError
    policy.check(claims, room=None)            # JoinPolicy(region, revocations, tenant_allows): wrong room,
                                               # wrong region, tenant policy, revoked link -> TokenError
    guard.admit(claims.tenant, claims.room, claims.region)   # residency.enforcement.NodeGuard (audited)

`revocations` is `HttpRevocations(control_plane_url)` in a separate process (call `await
revocations.refresh_async()` before `check`; it fetches at most once per `ttl`), or the control plane's own
`ControlPlane.revocations` in one process. The control plane ends a meeting with `POST /admin/rooms/{tenant}/{room}/end`
and a token the node checks with `verifier.verify_admin(token, "room:end")`. Once admitted, nothing here is
checked again: token expiry gates joining only.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ISSUER = "castellan"
ALGORITHM = "EdDSA"


class TokenError(Exception):
    """A refused token. `code` is stable for clients and metrics; the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class JoinClaims:
    tenant: str
    room: str
    participant: str
    region: str
    node: str
    name: str = ""
    jti: str = ""
    exp: int = 0
    link: str = ""
    host: bool = False


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

    def jwks(self, now: float | None = None) -> dict[str, list[dict[str, str]]]:
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
        now: float | None = None,
    ) -> str:
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


def _public_key_from_jwk(jwk: dict[str, str]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise TokenError("unknown_key", "published key is not Ed25519")
    x = jwk["x"]
    return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))


class ReplayCache:
    """Remembers used token ids until they expire, so a join token works once."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def use(self, jti: str, exp: float, now: float) -> bool:
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
        jwks: Callable[[], dict],
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

    def _decode(self, token: str, now: float) -> dict[str, Any]:
        """Signature, algorithm, key id, audience, issuer and time checks; returns the payload."""
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8192:
            raise TokenError("malformed", "join token is not a JWT")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise TokenError("malformed", f"join token header unreadable: {e}") from None
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
                audience=self.node_id,
                issuer=self.issuer,
                options={
                    "require": ["exp", "nbf", "iat", "aud", "iss", "sub", "jti"],
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
            exp, nbf = float(payload["exp"]), float(payload["nbf"])
        except (TypeError, ValueError):
            raise TokenError("malformed", "join token times are not numbers") from None
        if now > exp + self.leeway:
            raise TokenError("expired", "join token has expired; open the meeting link again")
        if now + self.leeway < nbf:
            raise TokenError("not_yet_valid", "join token is not valid yet")
        return payload

    def verify(self, token: str, now: float | None = None, single_use: bool = True) -> JoinClaims:
        now = time.time() if now is None else now
        payload = self._decode(token, now)
        for name in ("tenant", "room", "region"):
            if not isinstance(payload.get(name), str) or not payload[name]:
                raise TokenError("missing_claim", f"join token lacks {name!r}")
        if "scope" in payload:
            raise TokenError("wrong_token_type", "an admin token is not a join token")
        if single_use and not self.replay.use(str(payload["jti"]), float(payload["exp"]), now):
            raise TokenError("replayed", "join token was already used")
        return JoinClaims(
            tenant=payload["tenant"],
            room=payload["room"],
            participant=str(payload["sub"]),
            region=payload["region"],
            node=self.node_id,
            name=str(payload.get("name", ""))[:64],
            jti=str(payload["jti"]),
            exp=int(payload["exp"]),
            link=str(payload.get("link", "")),
            host=bool(payload.get("host", False)),
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


class LinkRevocations(Protocol):
    """Answers whether a meeting link was revoked (the token's `link` claim)."""

    def is_revoked(self, link: str) -> bool: ...


class RevocationSet:
    """In-process revocations: `castellan dev` passes the control plane's own (`ControlPlane.revocations`)."""

    def __init__(self, links: set[str] | None = None) -> None:
        self._links: set[str] = set(links or ())

    def add(self, link: str) -> None:
        self._links.add(link)

    def is_revoked(self, link: str) -> bool:
        return link in self._links


class HttpRevocations:
    """Revoked links as published by the control plane at `GET /v1/revocations`, cached for `ttl` seconds.

    A node in its own process calls `await revocations.refresh_async()` before verifying (cheap: it fetches at
    most once per `ttl`), then `JoinPolicy.check`. If the control plane cannot be reached the last list is
    kept: a join token lives 60 s and the control plane mints none for a revoked link, so staleness is bounded.
    """

    def __init__(self, control_plane_url: str, ttl: float = 2.0, timeout: float = 2.0) -> None:
        self.url = control_plane_url.rstrip("/") + "/v1/revocations"
        self.ttl = ttl
        self.timeout = timeout
        self._links: set[str] = set()
        self._fetched = 0.0

    def refresh(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self._fetched < self.ttl:
            return
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as r:  # noqa: S310 - operator URL
                data = json.loads(r.read())
            self._links = {str(x) for x in data.get("links", [])}
            self._fetched = now
        except (OSError, ValueError):
            pass

    async def refresh_async(self) -> None:
        import asyncio

        await asyncio.to_thread(self.refresh)

    def is_revoked(self, link: str) -> bool:
        return link in self._links


class JoinPolicy:
    """The node-side checks beyond the signature: room, region, tenant policy and link revocation.

    The node calls, in its WebSocket join handler::

        claims = verifier.verify(token)                       # signature, alg, kid, aud, time, single use
        policy.check(claims, room=requested_room_or_None)     # raises TokenError with a clear code

    `region` is the node's configured region; `tenant_allows(tenant, region)` is residency's answer (optional);
    `revocations` is a `LinkRevocations` (RevocationSet in one process, HttpRevocations across processes).
    """

    def __init__(
        self,
        region: str,
        revocations: LinkRevocations | None = None,
        tenant_allows: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.region = region
        self.revocations = revocations
        self.tenant_allows = tenant_allows

    def check(self, claims: JoinClaims, room: str | None = None) -> JoinClaims:
        if room is not None and claims.room != room:
            raise TokenError("wrong_room", "join token was issued for another room")
        if claims.region != self.region:
            raise TokenError(
                "wrong_region", f"join token is for region {claims.region!r}; this node serves {self.region!r}"
            )
        if self.tenant_allows is not None and not self.tenant_allows(claims.tenant, self.region):
            raise TokenError("region_not_allowed", f"tenant {claims.tenant!r} does not allow region {self.region!r}")
        if self.revocations is not None and claims.link and self.revocations.is_revoked(claims.link):
            raise TokenError("link_revoked", "the meeting link was revoked")
        return claims


def jwks_json(keys: KeyRing) -> str:
    return json.dumps(keys.jwks())
