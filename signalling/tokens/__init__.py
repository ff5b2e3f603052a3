"""Join tokens: short-lived EdDSA JWTs the control plane signs and nodes verify from the published JWKS.

Only EdDSA is accepted, whatever the token's header says: that closes `alg: none` and HS256 key confusion.
Keys carry a `kid`; several may be published at once so signing keys rotate without downtime.

On a node, per join (WebSocket `join` message), in this order:

    claims = verifier.verify(token)            # TokenVerifier(jwks, node_id): alg, kid, signature, aud = node,
                                               # iss, nbf/exp (joining only), jti single use -> TokenError
    node.join(claims)                          # sfu/admission.py: node state, region, tenant policy (audited
                                               # by residency.enforcement.NodeGuard), revoked link -> JoinRefused

`revocations` is `HttpRevocations(control_plane_url)` in a separate process (the node's factory
refreshes it in the background, at most once per `ttl`), or the control plane's own
`ControlPlane.revocations` in one process. The control plane ends a meeting with `POST /admin/rooms/{tenant}/{room}/end`
and a token the node checks with `verifier.verify_admin(token, "room:end")`. Once admitted, nothing here is
checked again: token expiry gates joining only.

The package, by duty (every public name is re-exported here: `from signalling.tokens import X`):

    claims.py       ISSUER, ALGORITHM, JoinClaims, TokenError
    keys.py         SigningKey, KeyRing (rotation, persistence), jwks_json, KEYRING_FILE, DEFAULT_GRACE
    issuing.py      TokenIssuer (join and admin tokens)
    verifying.py    TokenVerifier, ReplayCache
    revocations.py  LinkRevocations, RevocationSet, HttpRevocations
"""

from __future__ import annotations

from .claims import ALGORITHM, ISSUER, JoinClaims, TokenError
from .issuing import TokenIssuer
from .keys import DEFAULT_GRACE, KEYRING_FILE, Jwks, KeyRing, SigningKey, jwks_json, parse_jwks
from .revocations import HttpRevocations, LinkRevocations, RevocationSet
from .verifying import ReplayCache, TokenVerifier

__all__ = [
    "ALGORITHM",
    "DEFAULT_GRACE",
    "ISSUER",
    "KEYRING_FILE",
    "HttpRevocations",
    "JoinClaims",
    "Jwks",
    "KeyRing",
    "LinkRevocations",
    "ReplayCache",
    "RevocationSet",
    "SigningKey",
    "TokenError",
    "TokenIssuer",
    "TokenVerifier",
    "jwks_json",
    "parse_jwks",
]
