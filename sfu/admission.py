"""Every check a node makes before it admits a participant, in one place, each refusal with one code.

The join token's signature, audience, validity and single use are verified first (signalling.tokens.
TokenVerifier, codes `token_*`). Then, in this order (docs/protocol.md lists the codes):

  node_draining          this node is draining: ask the control plane again
  registry_unavailable   this node cannot reach the registry: nobody could see it, so it takes no one
  revocations_stale      this node could not refresh the revoked links for longer than its bound (fail closed)
  malformed_claims       the token lacks tenant, room or region
  wrong_region           the token is for another region than this node's                 (residency rule)
  node_not_registered    the registry does not know this node (or its registration expired)
  node_region_mismatch   the registry has this node in another region than it is configured for
  unknown_tenant         the registry does not know the tenant
  region_not_allowed     the tenant's policy does not allow this node's region
  link_revoked           the meeting link was revoked after the token was issued
  meeting_locked         a host locked the meeting (sfu/host.py): only a host link's holder joins

With a registry, the residency checks run in residency.enforcement.NodeGuard, which audits every refusal;
without one (a standalone node: tests, benchmarks), the same region rule runs unaudited.
"""

from __future__ import annotations

from typing import Protocol

from residency.enforcement import NodeGuard, check_node_region
from residency.errors import AdmissionRefused
from signalling.tokens import JoinClaims, LinkRevocations


class JoinRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Occupancy(Protocol):
    """Who is in which room, for the control plane's per-link participant cap (in-process: `castellan dev`)."""

    def joined(self, tenant: str, room: str, participant: str) -> None: ...

    def left(self, tenant: str, room: str, participant: str) -> None: ...


class Admission:
    def __init__(self, region: str, guard: NodeGuard | None = None, revocations: LinkRevocations | None = None,
                 occupancy: Occupancy | None = None) -> None:
        self.region = region
        self.guard = guard
        self.revocations = revocations
        self.occupancy = occupancy

    def check(self, claims: JoinClaims, *, draining: bool, registry_ok: bool, locked: bool = False) -> None:
        """Raises JoinRefused with the first refusal's code; on success the participant counts as joined."""
        if draining:
            raise JoinRefused("node_draining", "this node is draining; ask the control plane again")
        if not registry_ok:
            raise JoinRefused("registry_unavailable", "this node cannot reach the registry; retry shortly")
        if self.revocations is not None and self.revocations.stale():
            raise JoinRefused("revocations_stale",
                              "this node cannot currently confirm that the meeting link was not revoked; retry shortly")
        try:
            if self.guard is not None:
                self.guard.admit_claims(claims)
            else:
                check_node_region(self.region, claims.region)
        except AdmissionRefused as e:
            raise JoinRefused(e.code, e.message) from None
        if self.revocations is not None and claims.link and self.revocations.is_revoked(claims.link):
            raise JoinRefused("link_revoked", "the meeting link was revoked")
        if locked and not claims.host:
            raise JoinRefused("meeting_locked", "the host has locked this meeting")
        if self.occupancy is not None:
            self.occupancy.joined(claims.tenant, claims.room, claims.participant)

    def left(self, tenant: str, room: str, participant: str) -> None:
        if self.occupancy is not None:
            self.occupancy.left(tenant, room, participant)
