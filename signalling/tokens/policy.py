"""The node-side admission checks a valid token must still pass: room, region, tenant policy, link revocation."""

from __future__ import annotations

from collections.abc import Callable

from .claims import JoinClaims, TokenError
from .revocations import LinkRevocations


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
