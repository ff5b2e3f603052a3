"""Node-side enforcement: the last line of defence, run by every media node before it admits anyone.

The control plane already placed the room correctly; the node checks again with its OWN configuration, so a
forged, stale or mis-routed join token cannot get media onto the wrong node:

  1. the token's placement region must be this node's configured region      (wrong_region)
  2. this node's registration in the registry must say the same region       (node_region_mismatch /
                                                                               node_not_registered)
  3. the tenant must be known to the registry                                (unknown_tenant)
  4. the tenant's published policy must allow this node's region             (region_not_allowed)

Every refusal raises `AdmissionRefused(code, message)` and is audited ("admission.refused") before raising.
Token signature, expiry and single use (jti) are checked by the node's TokenVerifier BEFORE calling `admit`.

Usage on a node (sfu/server.py):

    guard = NodeGuard(node_id, region, registry, audit)
    guard.register(node)                 # at start-up: refuses a region the operator has not defined,
                                         # or a node id already live in another region
    guard.heartbeat(load, draining)      # every registry.HEARTBEAT_INTERVAL seconds; re-registers if expired
    guard.admit(claims.tenant, claims.room, claims.region)   # per join, after token verification
    # or `guard.admit_claims(claims)`: it takes the claims object (or a dict) itself; sfu/admission.py calls it
    #   (any object with str attributes tenant, room and region, e.g. signalling.tokens.JoinClaims)

`audit` is anything with AuditLog's `append(kind, *, actor, tenant, data)`: a node-local `AuditLog(path)`, or a
sink forwarding to the control plane.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from .audit import AuditData, AuditValue
from .errors import AdmissionRefused
from .identity import NodeSigner
from .model import Node
from .registry import Registry


class AuditSink(Protocol):
    def append(self, kind: str, *, actor: str, tenant: str | None = None,
               data: AuditData | None = None) -> object: ...


class ClaimsLike(Protocol):
    """The fields of a verified join token that `admit_claims` reads (signalling.tokens.JoinClaims has them)."""

    @property
    def tenant(self) -> str: ...
    @property
    def room(self) -> str: ...
    @property
    def region(self) -> str: ...


class NodeGuard:
    def __init__(self, node_id: str, region: str, registry: Registry, audit: AuditSink,
                 signer: NodeSigner | None = None, clock: Callable[[], float] = time.time) -> None:
        self.node_id = node_id
        self.region = region
        self.registry = registry
        self.audit = audit
        # every record this node writes is signed with its enrolled key; the control plane ignores unsigned ones
        self.signer = signer
        self.clock = clock
        self._node: Node | None = None

    def _signed(self, node: Node) -> Node:
        return self.signer.sign(node, self.clock()) if self.signer is not None else node

    @property
    def actor(self) -> str:
        return f"node:{self.node_id}"

    def _refuse(self, code: str, message: str, tenant: str | None, data: dict[str, AuditValue]) -> AdmissionRefused:
        # Refusals naming an unknown tenant go to the deployment chain: a forged tenant id must not create
        # (or pollute) a tenant's chain.
        known = tenant is not None and self.registry.get_tenant_view(tenant) is not None
        self.audit.append("admission.refused", actor=self.actor, tenant=tenant if known else None,
                          data={"code": code, "message": message, "node": self.node_id,
                                "node_region": self.region, **data})
        return AdmissionRefused(code, message)

    def register(self, node: Node) -> Node:
        """Register this node (at start-up), refusing a region mismatch or an undefined region."""
        if node.id != self.node_id or node.region != self.region:
            raise AdmissionRefused("node_region_mismatch",
                                   f"node record {node.id}/{node.region} does not match this node's configuration "
                                   f"{self.node_id}/{self.region}")
        if self.registry.get_region(self.region) is None:
            self.audit.append("node.refused", actor=self.actor,
                              data={"code": "unknown_region", "node": node.id, "region": node.region})
            raise AdmissionRefused("unknown_region",
                                   f"node {node.id} is configured for region {node.region!r}, which the operator "
                                   "has not defined; refusing to serve")
        live = self.registry.get_node(node.id)
        if live is not None and live.region != node.region:
            self.audit.append("node.refused", actor=self.actor,
                              data={"code": "node_region_mismatch", "node": node.id, "region": node.region,
                                    "registered_region": live.region})
            raise AdmissionRefused("node_region_mismatch",
                                   f"node id {node.id} is already live in region {live.region}, not {node.region}")
        self._node = self.registry.register_node(self._signed(node))
        return self._node

    def heartbeat(self, load: float, draining: bool = False, healthy: bool = True) -> None:
        """Refresh the registration; if it expired (e.g. Redis restarted), register again."""
        if self._node is None:
            raise AdmissionRefused("node_not_registered", "call register() before heartbeat()")
        current = replace(self._node, load=load, healthy=healthy, draining=draining)
        signed = self._signed(current)
        if self.registry.update_node(signed):
            self._node = signed
        else:  # expired (e.g. Redis restarted): register again
            self.register(current)

    def admit_claims(self, claims: ClaimsLike | dict[str, object]) -> None:
        """`admit` for a verified claims object (attributes tenant/room/region) or a mapping with those keys."""
        values = [claims.get(k) if isinstance(claims, dict) else getattr(claims, k, None)
                  for k in ("tenant", "room", "region")]
        tenant, room, region = (v if isinstance(v, str) else "" for v in values)
        if not (tenant and room and region):
            raise self._refuse("malformed_claims", "join token claims lack tenant, room or region", None,
                               {"claims": repr(claims)[:200]})
        self.admit(tenant, room, region)

    def admit(self, tenant: str, room: str, region: str) -> None:
        """Admit a verified join token's (tenant, room, region) to this node, or raise AdmissionRefused."""
        data: dict[str, AuditValue] = {"room": room, "token_region": region, "tenant_claim": tenant}
        try:
            check_node_region(self.region, region)
        except AdmissionRefused as e:
            raise self._refuse(e.code, e.message, tenant, data) from None
        registered = self.registry.get_node(self.node_id)
        if registered is None:
            raise self._refuse("node_not_registered",
                               f"node {self.node_id} is not registered (or its registration expired); refusing "
                               "joins until it is", tenant, data)
        if registered.region != self.region:
            raise self._refuse("node_region_mismatch",
                               f"node {self.node_id} is configured for region {self.region} but registered in "
                               f"{registered.region}", tenant, data)
        view = self.registry.get_tenant_view(tenant)
        if view is None:
            raise self._refuse("unknown_tenant", f"tenant {tenant!r} is unknown to the registry", tenant, data)
        if self.region not in view.allowed_regions:
            raise self._refuse("region_not_allowed",
                               f"tenant {tenant}'s policy (version {view.version}) does not allow region "
                               f"{self.region}; allowed: {', '.join(sorted(view.allowed_regions)) or 'none'}",
                               tenant, {**data, "policy_version": view.version})


def check_node_region(node_region: str, token_region: str) -> None:
    """The residency rule every node applies to every join: a node takes rooms of its own region only."""
    if token_region != node_region:
        raise AdmissionRefused("wrong_region",
                               f"this node serves region {node_region}; the join token is for region {token_region}")


def tenant_allows(registry: Registry) -> Callable[[str, str], bool]:
    """A `(tenant, region) -> bool` predicate over the registry's published policy (unknown tenant -> False),
    for hooks such as a region-scoped TURN credential issuer. It does not audit; NodeGuard.admit is the auditing check for joins."""

    def allows(tenant: str, region: str) -> bool:
        view = registry.get_tenant_view(tenant)
        return view is not None and region in view.allowed_regions

    return allows
