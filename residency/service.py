"""`ResidencyService`: the one facade the control plane calls. Synchronous and thread-safe.

Why synchronous: every call is a few SQLite statements and/or sub-millisecond Redis round trips; from Starlette
call it directly, or via `await asyncio.to_thread(svc.place_room, ...)` if you prefer never to block the loop.

Wiring (control plane start-up):

    from residency.service import ResidencyService
    from residency.registry import MemoryRegistry, RedisRegistry
    from residency.signing import load_or_create_signing_key

    registry = RedisRegistry(url) if redis_url else MemoryRegistry()
    svc = ResidencyService(db_path, registry=registry,
                           signing_key=load_or_create_signing_key(f"{key_dir}/audit-ed25519.pem"))
    svc.publish()          # (re)publish regions + tenant policies into the registry (Redis has no persistence)
    # every ~1-2 s in a background task:  svc.sweep()   -> audits node joins/leaves, re-places rooms of dead nodes

Operator / admin API:

    svc.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="operator")
    svc.create_tenant("acme", "ACME GmbH", "EU", actor="operator")             # default: own jurisdiction only
    svc.set_allowed_regions("acme", ["eu-1", "ch-1"], actor="admin:alice", reason="Swiss subsidiary",
                            opt_ins={"ch-1": "Swiss staff join from Zurich"})  # foreign adequate region: opt-in
    svc.allowed_regions("acme")  -> {"eu-1": "why...", "ch-1": "why..."}

Joining (`/join`):

    try:
        p = svc.place_room(tenant_id, room_id, hint=client_region_hint)   # audited, sticky
    except PlacementRefused as e:       # HTTP 503, show e.message to the user (fail closed, never spills)
        ...
    node = svc.registry.get_node(p.node)        # ws_url for the browser; token claims: tenant, room,
    where = svc.describe(p)                     # p.region, aud=p.node; `where` is the transparency block
    svc.end_room(tenant_id, room_id, actor=...) # when the room ends

Audit: `svc.audit.append(kind, actor=..., tenant=..., data=...)` for the control plane's own kinds (ints and
strings only, see audit.py); `svc.export_tenant(t)` -> JSON Lines; `svc.public_key_pem()` for verifiers;
`svc.verify(text)`. Errors are `ResidencyError` subclasses with `.code` and `.message` (errors.py);
refused admin input is itself audited (policy.refused / tenant.refused / region.refused) and changes nothing.

Nodes do not use this facade (they have no database): see `enforcement.NodeGuard` (register, heartbeat,
admit), which reads the same registry. In `castellan dev` (one process) pass the same `MemoryRegistry` to the
node's NodeGuard and to this service, and `svc.audit` as the guard's audit sink.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import placement as placing
from . import policy
from .audit import DEPLOYMENT_CHAIN, AuditLog, AuditValue, VerifiedExport, verify_export
from .catalogue import Catalogue, load_catalogue
from .db import Database
from .errors import (
    Conflict,
    InvalidInput,
    NodeRejected,
    NotFound,
    PlacementRefused,
    PolicyViolation,
    ResidencyError,
)
from .identity import EnrolledKey, NodeSigner, enrolled_key, public_text
from .model import Node, Placement, Region, Tenant, check_id, check_reason
from .probe import HttpProber
from .registry import MemoryRegistry, Registry
from .signing import generate_signing_key, public_key_pem
from .store import PolicyStore
from .trust import NodeTrust, Prober


def _policy_doc(t: Tenant) -> dict[str, AuditValue]:
    """A tenant's policy in audit-safe form (no floats)."""
    return {"jurisdiction": t.jurisdiction, "version": t.version,
            "allowed_regions": None if t.allowed_regions is None else sorted(t.allowed_regions),
            "opt_ins": [{"region": o.region, "reason": o.reason, "actor": o.actor} for o in t.opt_ins]}


def _attempted(value: object) -> AuditValue:
    """Bad input, rendered audit-safe (strings only) so the refusal itself can always be recorded."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str | bytes):
        return str(value)
    try:
        return [str(v) for v in value]  # type: ignore[attr-defined]
    except TypeError:
        return repr(value)


def _key_of(nodes: Sequence[Node], node_id: str) -> str | None:
    """The enrolled key that vouched for the node a room was placed on (named in the audit record)."""
    return next((n.key_id for n in nodes if n.id == node_id), None)


def _placement_doc(p: Placement) -> dict[str, AuditValue]:
    return {"room": p.room, "region": p.region, "node": p.node, "generation": p.generation, "reason": p.reason}


@dataclass(frozen=True)
class Replacement:
    """Outcome of re-placing one room after its node died: `new` or the `refused` error (fail closed)."""

    old: Placement
    new: Placement | None
    refused: PlacementRefused | None = None


class ResidencyService:
    def __init__(self, db: str | Path | Database, registry: Registry | None = None,
                 signing_key: Ed25519PrivateKey | None = None, catalogue: Catalogue | None = None,
                 clock: Callable[[], float] = time.time, prober: Prober | None = None,
                 on_node_rejected: Callable[[str], None] | None = None) -> None:
        self.db = db if isinstance(db, Database) else Database(db)
        self.clock = clock
        self.store = PolicyStore(self.db)
        self.audit = AuditLog(self.db, clock=clock)
        self.registry: Registry = registry if registry is not None else MemoryRegistry()
        self.catalogue = catalogue if catalogue is not None else load_catalogue()
        # A generated key is only right for `castellan dev`: pass a persistent key in production.
        self.signing_key = signing_key if signing_key is not None else generate_signing_key()
        self._known_nodes: dict[str, Node] = {}
        # only signed, enrolled, fresh records of nodes that answered the health check are placed on
        self.trust = NodeTrust(prober if prober is not None else HttpProber(), clock,
                               max_age=self.registry.node_ttl + 2.0, on_reject=on_node_rejected,
                               on_first_reject=self._audit_rejected)
        self.trust.set_keys(self.store.node_keys())
        self._local_signers: dict[str, NodeSigner] = {}  # per region: one key is enrolled for one region
        # registry entries naming a meeting's nodes that placement ignored (`_meeting_nodes`), by reason
        self.meeting_nodes_ignored: Counter[str] = Counter()
        self._ignored_entries: set[tuple[str, str, str, str]] = set()
        self._on_node_rejected = on_node_rejected

    def _audit_rejected(self, node: Node, err: NodeRejected) -> None:
        self.audit.append("node.rejected", actor="control-plane",
                          data={"code": err.code, "message": err.message, "node": node.id, "region": node.region,
                                "public_ip": node.public_ip, "node_key": node.key_id or None})

    @contextmanager
    def _refusals_audited(self, kind: str, actor: str, tenant: str | None,
                          attempt: dict[str, AuditValue]) -> Iterator[None]:
        """Bad input is refused with a clear error AND leaves a trace: who tried what, and which rule said no.
        The refusal record is written after the failed transaction rolled back, so nothing is half-applied."""
        try:
            yield
        except ResidencyError as err:
            self.audit.append(kind, actor=str(actor) or "unknown", tenant=tenant,
                              data={"attempt": attempt, **err.to_dict()})
            raise

    # -- regions (operator) ------------------------------------------------------------------------------------
    def define_region(self, region_id: str, jurisdiction: str, location: str, display_name: str, *,
                      actor: str, reason: str = "region defined") -> Region:
        """Define a region. Idempotent for an identical definition; changing an existing one is a Conflict
        (moving a region to another jurisdiction would silently change every tenant's policy)."""
        with self._refusals_audited("region.refused", actor, None, {"region": str(region_id)}):
            check_id("region", region_id)
            self.catalogue.get_jurisdiction(jurisdiction)
            reason = check_reason(reason, "defining a region")
        region = Region(id=region_id, jurisdiction=jurisdiction, location=location, display_name=display_name)
        with self.db.transaction():  # BEGIN IMMEDIATE: check and write are atomic across processes
            existing = self.store.regions().get(region_id)
            if existing == region:
                return region
            if existing is not None:
                raise Conflict("region_exists", f"region {region_id} is already defined as {existing}; "
                                                "regions cannot be redefined, define a new one")
            self.audit.append("region.defined", actor=actor, data={**region.to_dict(), "reason": reason})
            self.store.put_region(region)
        self.publish()
        return region

    def regions(self) -> dict[str, Region]:
        return self.store.regions()

    def configure_regions(self, regions: Sequence[Region], *, actor: str) -> list[Region]:
        """The operator's configured regions (CASTELLAN_REGIONS, the chart's `regions`), applied at start: new ones
        are defined (audited), identical ones left alone; one that contradicts its stored definition is refused
        with Conflict("region_changed") and nothing is changed — a region's definition never silently changes."""
        stored = self.store.regions()
        changed = [(r, stored[r.id]) for r in regions if r.id in stored and stored[r.id] != r]
        if changed:
            detail = "; ".join(f"{new.id}: stored {old.to_dict()}, configured {new.to_dict()}" for new, old in changed)
            self.audit.append("region.refused", actor=actor,
                              data={"code": "region_changed", "regions": [new.id for new, _ in changed]})
            raise Conflict("region_changed",
                           f"the configured regions contradict the stored ones ({detail}). A region's definition "
                           "never changes silently: restore its configuration, or define a new region id")
        return [self.define_region(r.id, r.jurisdiction, r.location, r.display_name, actor=actor,
                                   reason="configured at start") for r in regions]

    # -- node keys (operator) ----------------------------------------------------------------------------------
    def enroll_node_key(self, region: str, public_key: str, *, actor: str,
                        reason: str = "node key enrolled") -> EnrolledKey:
        """Let nodes holding the private half of `public_key` serve `region`. Idempotent for the same region;
        a key enrolled for another region is a Conflict (one key, one region)."""
        with self._refusals_audited("node_key.refused", actor, None, {"region": str(region)}):
            key = enrolled_key(region, public_key, actor=actor, at=self.clock())
            reason = check_reason(reason, "enrolling a node key")
            if region not in self.regions():
                raise NotFound("unknown_region", f"region {region!r} is not defined; define it first")
            with self.db.transaction():
                existing = self.store.node_keys().get(key.key_id)
                if existing is not None and existing.region == region:
                    return existing
                if existing is not None:
                    raise Conflict("node_key_exists", f"node key {key.key_id} is enrolled for region "
                                                      f"{existing.region}; revoke it there first")
                self.audit.append("node_key.enrolled", actor=actor,
                                  data={"node_key": key.key_id, "region": region, "public_key": key.public_key,
                                        "reason": reason})
                self.store.put_node_key(key)
        self.trust.set_keys(self.store.node_keys())
        return key

    def revoke_node_key(self, key_id: str, *, actor: str, reason: str) -> EnrolledKey:
        with self._refusals_audited("node_key.refused", actor, None, {"node_key": str(key_id)}):
            reason = check_reason(reason, "revoking a node key")
            with self.db.transaction():
                existing = self.store.node_keys().get(key_id)
                if existing is None:
                    raise NotFound("unknown_node_key", f"node key {key_id!r} is not enrolled")
                self.audit.append("node_key.revoked", actor=actor,
                                  data={"node_key": key_id, "region": existing.region, "reason": reason})
                self.store.delete_node_key(key_id)
        self.trust.set_keys(self.store.node_keys())
        return existing

    def node_keys(self) -> list[EnrolledKey]:
        return list(self.store.node_keys().values())

    # -- the nodes placement may use -------------------------------------------------------------------------
    def trusted_nodes(self) -> list[Node]:
        """Live registry records vouched for by an enrolled key, of nodes that answered the health check."""
        return [n for n, _ in self.trust.trusted(self._registry_nodes())]

    def trusted_node(self, node_id: str) -> Node | None:
        node = self.registry.get_node(node_id)
        if node is None:
            return None
        return node if self.trust.trusted([node]) else None

    def _registry_nodes(self) -> list[Node]:
        nodes = self.registry.list_nodes()
        self.trust.count_malformed(self.registry.take_malformed())
        return nodes

    # -- tenants (admin) ---------------------------------------------------------------------------------------
    def create_tenant(self, tenant_id: str, name: str, jurisdiction: str, *, actor: str,
                      reason: str = "tenant created", allowed_regions: Sequence[str] | None = None,
                      opt_ins: Mapping[str, str] | None = None) -> Tenant:
        attempt: dict[str, AuditValue] = {"tenant": str(tenant_id), "jurisdiction": str(jurisdiction),
                    "allowed_regions": _attempted(allowed_regions), "opt_ins": _attempted(opt_ins)}
        # Refusals go to the deployment chain: a tenant that was never created has no chain.
        with self._refusals_audited("tenant.refused", actor, None, attempt):
            check_id("tenant", tenant_id)
            self.catalogue.get_jurisdiction(jurisdiction)
            reason = check_reason(reason, "creating a tenant")
            blank = Tenant(id=tenant_id, name=name, jurisdiction=jurisdiction, version=0)
            with self.db.transaction():
                if self.store.get_tenant(tenant_id) is not None:
                    raise Conflict("tenant_exists", f"tenant {tenant_id} already exists")
                tenant = policy.validate_policy(blank, allowed_regions, opt_ins, actor, self.clock(),
                                                self.regions(), self.catalogue)
                self.audit.append("tenant.created", actor=actor, tenant=tenant_id,
                                  data={"name": name, "reason": reason, "policy": _policy_doc(tenant)})
                self.store.put_tenant(tenant)
        self._publish_tenant(tenant)
        return tenant

    def get_tenant(self, tenant_id: str) -> Tenant:
        tenant = self.store.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("unknown_tenant", f"tenant {tenant_id!r} does not exist")
        return tenant

    def tenants(self) -> list[Tenant]:
        return self.store.tenants()

    def set_allowed_regions(self, tenant_id: str, regions: Sequence[str] | None, *, actor: str, reason: str,
                            opt_ins: Mapping[str, str] | None = None) -> Tenant:
        """Replace the tenant's allowed regions (None = default). Validated whole, audited with before/after."""
        attempt: dict[str, AuditValue] = {"allowed_regions": _attempted(regions), "opt_ins": _attempted(opt_ins),
                   "reason": str(reason)}
        known = self.store.get_tenant(tenant_id) is not None
        with self._refusals_audited("policy.refused", actor, tenant_id if known else None,
                                    {**attempt, "tenant": str(tenant_id)}):
            reason = check_reason(reason, "changing a residency policy")
            with self.db.transaction():  # read-validate-write atomically: no lost updates between admins
                before = self.get_tenant(tenant_id)
                after = policy.validate_policy(before, regions, opt_ins, actor, self.clock(), self.regions(),
                                               self.catalogue)
                self.audit.append("policy.changed", actor=actor, tenant=tenant_id,
                                  data={"reason": reason, "before": _policy_doc(before),
                                        "after": _policy_doc(after)})
                self.store.put_tenant(after)
        self._publish_tenant(after)
        return after

    def allowed_regions(self, tenant_id: str) -> dict[str, str]:
        """Region id -> why it is allowed, for the tenant's current policy."""
        return policy.effective_regions(self.get_tenant(tenant_id), self.regions(), self.catalogue)

    # -- publication to the registry ---------------------------------------------------------------------------
    def _publish_tenant(self, tenant: Tenant) -> None:
        self.registry.put_tenant_view(policy.tenant_view(tenant, self.regions(), self.catalogue))

    def publish(self) -> None:
        """Push every region and every tenant's resolved policy to the registry (idempotent)."""
        for region in self.regions().values():
            self.registry.put_region(region)
        for tenant in self.tenants():
            self._publish_tenant(tenant)

    # -- placement -----------------------------------------------------------------------------------------
    def place_room(self, tenant_id: str, room_id: str, hint: str | None = None, *,
                   actor: str = "control-plane") -> Placement:
        """The room's placement: the existing one while its node lives and its region is still allowed
        (sticky), else a new decision. Raises PlacementRefused (audited) rather than leave allowed regions."""
        tenant = self.get_tenant(tenant_id)
        if not isinstance(room_id, str) or not room_id or len(room_id) > 200:
            raise InvalidInput("invalid_room", "room id must be a non-empty string of at most 200 characters")
        regions = self.regions()
        current = self.registry.get_placement(tenant_id, room_id)
        if current is not None:
            still_allowed = current.region in policy.effective_regions(tenant, regions, self.catalogue)
            host = self.trusted_node(current.node) if still_allowed else None
            if host is not None and not host.draining:
                return current
            if host is not None:
                return self._move_off_draining(current, tenant, regions, actor)
            outcome = self._replace(current, tenant, regions, actor,
                                    "node gone" if still_allowed else "region no longer allowed by policy")
            if outcome.refused is not None:
                raise outcome.refused
            if outcome.new is not None:
                return outcome.new
        try:
            nodes = self.trusted_nodes()
            placed = {n.id: self.registry.rooms_placed(n.id) for n in nodes if n.usable()}
            decided = placing.place(tenant, room_id, regions, nodes, self.catalogue, self.clock(), hint=hint,
                                    placed=placed)
        except PlacementRefused as refused:
            self.audit.append("placement.refused", actor=actor, tenant=tenant_id,
                              data={"room": room_id, "hint": hint, **refused.to_dict()})
            raise
        stored = self.registry.claim_placement(decided)
        if stored == decided:  # we won; a concurrent winner audited its own decision
            self.audit.append("placement.decided", actor=actor, tenant=tenant_id,
                              data={**_placement_doc(decided), "hint": hint,
                                    "node_key": _key_of(nodes, decided.node)})
        return stored

    def place_participant(self, tenant_id: str, room_id: str, hint: str | None = None, *,
                          actor: str = "control-plane", participant: str | None = None) -> tuple[Placement, Placement]:
        """(the room's placement, this participant's): the room is placed (sticky) as by `place_room`; the
        participant goes to `placing.choose_participant`'s node — the hint's region when allowed and served, else
        a node already carrying the meeting (the registry's meeting nodes, checked here), else the least loaded
        allowed node — so a meeting can span nodes of allowed regions (cascading; the nodes relay between them).
        Never outside the allowed regions: when no other usable node qualifies, the participant goes where the
        room is (which `place_room` keeps allowed), as before. A participant placed off the home is recorded as a
        meeting node (until the node's own heartbeat carries it on) and audited (`placement.participant`)."""
        home = self.place_room(tenant_id, room_id, hint, actor=actor)
        tenant = self.get_tenant(tenant_id)
        regions = self.regions()
        nodes = self.trusted_nodes()
        carrying = self._meeting_nodes(tenant, room_id, regions, nodes)
        try:
            choice = placing.choose_participant(tenant, home, regions, nodes, self.catalogue, hint=hint,
                                                meeting_nodes=carrying)
        except PlacementRefused:
            return home, home  # the room's node drains and no other can take anyone: it refuses, they ask again
        if choice.node.id == home.node:
            return home, home
        node = choice.node
        self.registry.note_meeting_node(tenant_id, room_id, node.id, self.registry.node_ttl)
        self.audit.append("placement.participant", actor=actor, tenant=tenant_id,
                          data={"room": room_id, "participant": participant, "node": node.id,
                                "region": node.region, "rule": choice.rule, "reason": choice.why, "hint": hint,
                                "home_node": home.node, "home_region": home.region, "node_key": node.key_id or None})
        return home, Placement(tenant=tenant_id, room=room_id, region=node.region, node=node.id,
                               decided_at=self.clock(), reason=choice.why, generation=home.generation)

    def _meeting_nodes(self, tenant: Tenant, room_id: str, regions: Mapping[str, Region],
                       nodes: Sequence[Node]) -> set[str]:
        """The registry's nodes of the meeting that placement may prefer: live trusted nodes of an allowed region.
        Redis is not trusted for residency, so any other entry (a node that died or never was, a node of a region
        the tenant does not allow) is ignored and counted, each distinct entry once."""
        allowed = policy.effective_regions(tenant, regions, self.catalogue)
        by_id = {n.id: n for n in nodes}
        kept = set()
        listed = self.registry.meeting_nodes(tenant.id, room_id)
        for _ in range(self.registry.take_malformed_meetings()):
            self._count_ignored("meeting_nodes_malformed")
        for node_id in listed:
            node = by_id.get(node_id)
            if node is not None and node.region in allowed:
                kept.add(node_id)
                continue
            reason = "meeting_node_unknown" if node is None else "meeting_node_region_not_allowed"
            entry = (tenant.id, room_id, node_id, reason)
            if entry not in self._ignored_entries:
                if len(self._ignored_entries) >= 4096:  # bounded: a flood of forged entries costs no memory
                    self._ignored_entries.clear()
                self._ignored_entries.add(entry)
                self._count_ignored(reason)
        return kept

    def _count_ignored(self, reason: str) -> None:
        self.meeting_nodes_ignored[reason] += 1
        if self._on_node_rejected is not None:
            self._on_node_rejected(reason)

    def _move_off_draining(self, old: Placement, tenant: Tenant, regions: Mapping[str, Region],
                           actor: str) -> Placement:
        """The room's node drains: it has told its participants to ask again, so send them elsewhere (same
        region first). While no other allowed node can take the room, it stays where it is: the node refuses
        them with `node_draining` and they ask again, rather than the meeting being dropped."""
        try:
            nodes = self.trusted_nodes()
            new = placing.replace(old, tenant, regions, nodes, self.catalogue, self.clock(),
                                  carrying=self._meeting_nodes(tenant, old.room, regions, nodes))
        except PlacementRefused:
            return old
        stored = self.registry.replace_placement(old, new)
        if stored is None:  # the room ended meanwhile: this join starts its new life on the chosen node
            stored = self.registry.claim_placement(new)
        if stored == new:
            self.audit.append("placement.replaced", actor=actor, tenant=old.tenant,
                              data={**_placement_doc(new), "previous_node": old.node,
                                    "previous_region": old.region, "trigger": "node draining",
                                    "node_key": _key_of(nodes, new.node)})
        return stored

    def _replace(self, old: Placement, tenant: Tenant, regions: Mapping[str, Region], actor: str,
                 why: str) -> Replacement:
        try:
            nodes = self.trusted_nodes()
            new = placing.replace(old, tenant, regions, nodes, self.catalogue, self.clock(),
                                  carrying=self._meeting_nodes(tenant, old.room, regions, nodes))
        except PlacementRefused as refused:
            self.registry.drop_placement(old.tenant, old.room, expected=old)
            self.audit.append("placement.refused", actor=actor, tenant=old.tenant,
                              data={"room": old.room, "previous_node": old.node, "previous_region": old.region,
                                    "trigger": why, **refused.to_dict()})
            return Replacement(old=old, new=None, refused=refused)
        stored = self.registry.replace_placement(old, new)
        if stored == new:
            self.audit.append("placement.replaced", actor=actor, tenant=old.tenant,
                              data={**_placement_doc(new), "previous_node": old.node,
                                    "previous_region": old.region, "trigger": why,
                                    "node_key": _key_of(nodes, new.node)})
        return Replacement(old=old, new=stored)

    def get_placement(self, tenant_id: str, room_id: str) -> Placement | None:
        return self.registry.get_placement(tenant_id, room_id)

    def end_room(self, tenant_id: str, room_id: str, *, actor: str) -> None:
        current = self.registry.get_placement(tenant_id, room_id)
        self.registry.drop_placement(tenant_id, room_id)
        if current is not None:
            self.audit.append("room.ended", actor=actor, tenant=tenant_id,
                              data={"room": room_id, "node": current.node, "region": current.region})

    def describe(self, p: Placement) -> dict[str, str]:
        """Where this meeting's media is processed and why: the join response's transparency block."""
        region = self.regions().get(p.region)
        if region is None:
            raise NotFound("unknown_region", f"region {p.region} is not defined")
        j = self.catalogue.get_jurisdiction(region.jurisdiction)
        return {"region": region.id, "region_name": region.display_name, "location": region.location,
                "jurisdiction": j.code, "jurisdiction_name": j.name, "node": p.node, "why": p.reason}

    # -- nodes -----------------------------------------------------------------------------------------------
    def node_registered(self, node: Node, *, actor: str = "control-plane") -> Node:
        """Register a node in-process (`castellan dev`) and audit it. Separate node processes register
        themselves through `enforcement.NodeGuard.register`; `sweep()` then audits their arrival."""
        check_id("node", node.id)
        if node.region not in self.regions():
            self.audit.append("node.refused", actor=actor,
                              data={"code": "unknown_region", "node": node.id, "region": node.region})
            raise NotFound("unknown_region", f"node {node.id} claims region {node.region!r}, which is not defined")
        live = self.registry.get_node(node.id)
        if live is not None and live.region != node.region:
            self.audit.append("node.refused", actor=actor,
                              data={"code": "node_region_mismatch", "node": node.id, "region": node.region,
                                    "registered_region": live.region})
            raise PolicyViolation("node_region_mismatch",
                                  f"node {node.id} is live in region {live.region}; it cannot claim {node.region}")
        # signed with this process's own key (held in memory only): the record still checks like any other, so
        # a forgery written over it into the registry is refused
        stored = self.registry.register_node(self._local_signer(node.region).sign(node, self.clock()))
        self._note_join(stored, actor)
        return stored

    def node_heartbeat(self, node_id: str, load: float, *, draining: bool = False, healthy: bool = True) -> bool:
        """A heartbeat of a node registered in-process (`node_registered`); False if it expired."""
        node = self.registry.get_node(node_id)
        if node is None:
            return False
        updated = replace(node, load=load, draining=draining, healthy=healthy)
        return self.registry.update_node(self._local_signer(node.region).sign(updated, self.clock()))

    def _local_signer(self, region: str) -> NodeSigner:
        signer = self._local_signers.get(region)
        if signer is None:
            signer = self._local_signers[region] = NodeSigner(generate_signing_key())
            self.trust.add_local_key(enrolled_key(region, public_text(signer.key), actor="control-plane",
                                                  at=self.clock()))
        return signer

    def _note_join(self, node: Node, actor: str) -> None:
        if node.id not in self._known_nodes:
            self.audit.append("node.joined", actor=actor,
                              data={"node": node.id, "region": node.region, "public_ip": node.public_ip,
                                    "udp_port": node.udp_port, "node_key": node.key_id})
        self._known_nodes[node.id] = node

    def node_left(self, node_id: str, *, actor: str, reason: str = "deregistered") -> list[Replacement]:
        """A node is gone (clean shutdown or noticed dead): audit it and re-place its rooms (allowed only)."""
        self.registry.deregister_node(node_id)
        node = self._known_nodes.pop(node_id, None)
        self.audit.append("node.left", actor=actor,
                          data={"node": node_id, "region": node.region if node else None, "reason": reason})
        return self.replace_rooms_of(node_id, actor=actor)

    def replace_rooms_of(self, node_id: str, *, actor: str = "control-plane") -> list[Replacement]:
        outcomes = []
        for old in self.registry.placements_on(node_id):
            tenant = self.store.get_tenant(old.tenant)
            if tenant is None:  # tenant deleted meanwhile: nothing may be placed for it
                self.registry.drop_placement(old.tenant, old.room, expected=old)
                continue
            outcomes.append(self._replace(old, tenant, self.regions(), actor, f"node {node_id} left"))
        return outcomes

    def sweep(self, *, actor: str = "control-plane") -> list[Replacement]:
        """Reconcile with the registry; call every 1-2 s from a background task.

        * re-publishes regions and tenant policies if the registry lost them (Redis runs without persistence);
        * audits nodes that appeared ("node.joined") and treats vanished ones (TTL expired) as left: audits
          "node.left" and re-places their rooms, only in allowed regions.
        Rooms on nodes this process never saw alive are re-placed lazily by their next `place_room`.
        With several control-plane processes each one audits the joins/leaves it notices (duplicates are
        harmless); placement changes are compare-and-set, so only one process re-places a given room."""
        if self.store.regions() and not self.registry.list_regions():
            self.publish()
        self.trust.set_keys(self.store.node_keys())  # keys enrolled through another process (CLI on the db)
        self.trust.check_health(self._registry_nodes())
        live = {n.id: n for n in self.trusted_nodes()}
        for node in live.values():
            self._note_join(node, actor)
        outcomes: list[Replacement] = []
        for node_id in sorted(set(self._known_nodes) - set(live)):
            outcomes += self.node_left(node_id, actor=actor, reason="heartbeat expired")
        return outcomes

    # -- audit -----------------------------------------------------------------------------------------------
    def export_tenant(self, tenant_id: str) -> str:
        self.get_tenant(tenant_id)
        return self.audit.export_tenant(tenant_id, self.signing_key)

    def export_deployment(self) -> str:
        return self.audit.export(DEPLOYMENT_CHAIN, self.signing_key)

    def public_key_pem(self) -> str:
        return public_key_pem(self.signing_key)

    def verify(self, text: str) -> VerifiedExport:
        return verify_export(text, self.signing_key.public_key())
