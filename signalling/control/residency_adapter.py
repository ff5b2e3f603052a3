"""`ResidencyPort` over residency's facade (`residency.service.ResidencyService`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from recording.launch import WANTS, Want
from residency.audit import AuditValue
from residency.catalogue import Catalogue
from residency.db import Database
from residency.errors import PlacementRefused, ResidencyError
from residency.identity import EnrolledKey
from residency.logkey import HeadSigner, KeySigner, Pkcs11Signer
from residency.model import Region, Tenant
from residency.policy import RULE_ADEQUATE, RULE_OWN, effective_regions, rule_for
from residency.registry import MemoryRegistry, RedisRegistry, Registry
from residency.service import ResidencyService
from residency.signing import load_or_create_signing_key
from residency.tenantlog import TenantLog

from .config import ControlConfig
from .jsontypes import JSONObject
from .ports import AuditDetail, PlacementInfo
from .tenancy import ADEQUATE, OWN, REFUSED, RegionStatus, nodes_by_region, tenant_document
from .transparency import Transparency

log = logging.getLogger("castellan.control")


def _tenant_dict(t: Tenant) -> JSONObject:
    return {"tenant": t.id, "name": t.name, "jurisdiction": t.jurisdiction,
            "allowed_regions": None if t.allowed_regions is None else sorted(t.allowed_regions),
            "opt_ins": [{"region": o.region, "reason": o.reason, "actor": o.actor, "at": o.at} for o in t.opt_ins],
            "version": t.version}


def _key_dict(k: EnrolledKey) -> JSONObject:
    return {"key_id": k.key_id, "region": k.region, "public_key": k.public_key, "enrolled_by": k.enrolled_by,
            "enrolled_at": k.enrolled_at}


def parse_regions(text: str) -> list[Region]:
    """CASTELLAN_REGIONS: a JSON list of {id, jurisdiction, location, display_name} (the chart's `regions`)."""
    import json

    from residency.errors import InvalidInput

    try:
        doc = json.loads(text)
        if not isinstance(doc, list):
            raise TypeError("not a list")
        return [Region(id=str(d["id"]), jurisdiction=str(d["jurisdiction"]), location=str(d.get("location") or ""),
                       display_name=str(d.get("display_name") or d["id"])) for d in doc]
    except (ValueError, TypeError, KeyError) as e:
        raise InvalidInput("invalid_regions", "CASTELLAN_REGIONS must be a JSON list of objects with id, "
                                              f"jurisdiction, location and display_name ({e})") from None


def _audit_safe(details: Mapping[str, AuditDetail]) -> dict[str, AuditValue]:
    """The audit log takes ints and strings only (no floats): round times to whole seconds."""
    return {str(k): int(v) if isinstance(v, float) else v for k, v in details.items()}


class ResidencyAdapter:
    def __init__(self, service: ResidencyService, log_signer: HeadSigner | None = None) -> None:
        self.service = service
        # the tenants' transparency logs; their heads are signed by the log key (outside the database when
        # configured: --log-key / --log-key-pkcs11-*), else by the audit key
        signer = log_signer if log_signer is not None else KeySigner(service.signing_key)
        self.transparency = Transparency(service, TenantLog(service.audit, signer))

    def create_tenant(self, *, tenant: str, name: str, jurisdiction: str, actor: str) -> JSONObject:
        t = self.service.create_tenant(tenant, name, jurisdiction, actor=actor)
        return {**_tenant_dict(t), "effective_regions": sorted(self.service.allowed_regions(t.id))}

    # -- operator: regions and node keys ------------------------------------------------------------------------
    def define_region(self, *, region: str, jurisdiction: str, location: str, display_name: str, actor: str,
                      reason: str) -> JSONObject:
        r = self.service.define_region(region, jurisdiction, location, display_name, actor=actor, reason=reason)
        return dict(r.to_dict())

    def list_regions(self) -> list[JSONObject]:
        return [dict(r.to_dict()) for r in self.service.regions().values()]

    def enroll_node_key(self, *, region: str, public_key: str, actor: str, reason: str) -> JSONObject:
        return _key_dict(self.service.enroll_node_key(region, public_key, actor=actor, reason=reason))

    def revoke_node_key(self, *, key_id: str, actor: str, reason: str) -> JSONObject:
        return {**_key_dict(self.service.revoke_node_key(key_id, actor=actor, reason=reason)), "revoked": True}

    def list_node_keys(self) -> list[JSONObject]:
        return [_key_dict(k) for k in self.service.node_keys()]

    def tenant_document(self, tenant: str) -> JSONObject:
        """The tenant with every defined region's rule, allowance, reason and serving nodes (tenancy.py)."""
        svc = self.service
        t = svc.get_tenant(tenant)
        regions = svc.regions()
        allowed = effective_regions(t, regions, svc.catalogue)
        serving = nodes_by_region([n.region for n in svc.trusted_nodes() if n.usable()])
        rules = {RULE_OWN: OWN, RULE_ADEQUATE: ADEQUATE}
        statuses = []
        for rid, r in sorted(regions.items()):
            opt = t.opt_in_for(rid)
            statuses.append(RegionStatus(
                region=rid, display_name=r.display_name, location=r.location, jurisdiction=r.jurisdiction,
                rule=rules.get(rule_for(t.jurisdiction, r, svc.catalogue), REFUSED), allowed=rid in allowed,
                why=allowed.get(rid), nodes=serving.get(rid, 0),
                opt_in=None if opt is None else {"reason": opt.reason, "actor": opt.actor, "at": opt.at}))
        name = svc.catalogue.get_jurisdiction(t.jurisdiction).name
        return tenant_document(_tenant_dict(t), name, statuses)

    def set_tenant_regions(self, *, tenant: str, allowed_regions: list[str] | None, opt_ins: dict[str, str],
                           reason: str, actor: str) -> JSONObject:
        self.service.set_allowed_regions(tenant, allowed_regions, actor=actor, reason=reason, opt_ins=opt_ins)
        return self.tenant_document(tenant)

    def room_where(self, tenant: str, room: str) -> JSONObject | None:
        p = self.service.get_placement(tenant, room)
        if p is None:
            return None
        region = self.service.regions().get(p.region)
        return {"node": p.node, "region": p.region, "since": p.decided_at, "why": p.reason,
                "location": region.location if region else "", "display_name": region.display_name if region else "",
                "jurisdiction": region.jurisdiction if region else ""}

    def tenant_exists(self, tenant: str) -> bool:
        return self.service.store.get_tenant(tenant) is not None

    def list_tenants(self) -> list[JSONObject]:
        return [_tenant_dict(t) for t in self.service.tenants()]

    def place(self, *, tenant: str, room: str, region_hint: str | None,
              participant: str | None = None) -> PlacementInfo:
        # the room keeps its (home) placement; this participant may land on another node of an allowed region,
        # which then relays with the room's node (docs/architecture.md, "Cascading"); off the home it is audited
        _, p = self.service.place_participant(tenant, room, hint=region_hint, participant=participant)
        node = self.service.trusted_node(p.node)  # the address comes from a record an enrolled key vouches for
        if node is None:
            raise PlacementRefused("node_gone", "the meeting's server just went away; please try again")
        where = self.service.describe(p)
        return PlacementInfo(node=p.node, region=p.region, ws_url=node.ws_url, location=where["location"],
                             jurisdiction=where["jurisdiction"], policy=where["why"])

    def recording_wants(self) -> list[Want]:
        out = []
        for node in self.service.trusted_nodes():
            doc = self.service.registry.get_doc(WANTS, node.id)
            rooms = doc.get("rooms") if doc is not None else None
            for r in rooms if isinstance(rooms, list) else []:
                fields = [r.get(k) if isinstance(r, dict) else None for k in ("tenant", "room", "link", "policy")]
                if not all(isinstance(v, str) and v for v in fields):
                    continue
                tenant, room, link, policy = (str(v) for v in fields)
                placed = self.service.get_placement(tenant, room)
                if placed is None or placed.node != node.id:
                    continue  # a node asks only for the meetings the control plane placed on it
                session = r.get("session", "")
                out.append(Want(tenant=tenant, room=room, link=link, node=node.id, region=node.region,
                                policy=policy, session=session if isinstance(session, str) else ""))
        return out

    def launch_context(self, tenants: set[str]) -> tuple[dict[str, Tenant], dict[str, Region], Catalogue]:
        found = {}
        for t in tenants:
            try:
                found[t] = self.service.get_tenant(t)
            except ResidencyError:
                continue
        return found, self.service.regions(), self.service.catalogue

    def docs(self) -> Registry:
        return self.service.registry

    def room_node(self, tenant: str, room: str) -> str | None:
        p = self.service.get_placement(tenant, room)
        return p.node if p is not None else None

    def carries(self, tenant: str, room: str, node: str) -> bool:
        # a name only: what it leads to is a health probe of a trusted node's address (node_http_url)
        return self.room_node(tenant, room) == node or node in self.service.registry.meeting_nodes(tenant, room)

    def end_room(self, tenant: str, room: str, actor: str) -> None:
        self.service.end_room(tenant, room, actor=actor)

    def node_http_url(self, node: str) -> str | None:
        n = self.service.trusted_node(node)  # never send an admin token or a probe to an unvouched address
        return n.http_url if n is not None else None

    def node_ws_urls(self) -> list[str]:
        return [n.ws_url for n in self.service.registry.list_nodes()]

    def node_gone(self, node: str, actor: str, reason: str) -> None:
        self.service.node_left(node, actor=actor, reason=reason)

    def audit(self, *, tenant: str | None, actor: str, action: str, details: Mapping[str, AuditDetail]) -> None:
        self.service.audit.append(action, actor=actor, tenant=tenant, data=_audit_safe(details))

    def export_tenant(self, tenant: str) -> str:
        return self.service.export_tenant(tenant)

    def audit_public_key_pem(self) -> str:
        return self.service.public_key_pem()

    def audit_signing_key(self) -> Ed25519PrivateKey:
        return self.service.signing_key

    def ready(self) -> bool:
        try:
            return bool(self.service.registry.ping())
        except Exception:
            return False

    def maintain(self) -> None:
        """Periodic reconciliation (node arrivals/departures, re-placement); run every ~2 s."""
        from . import metrics

        self.service.sweep()
        self.transparency.deliver()  # new heads to the tenants' webhooks
        counts: dict[str, int] = dict.fromkeys(self.service.regions(), 0)
        for node in self.service.trusted_nodes():
            counts[node.region] = counts.get(node.region, 0) + 1
        for region, n in counts.items():
            metrics.NODES_PLACEABLE.labels(region).set(n)


CONFIG_ACTOR = "operator:configuration"  # the audit actor of what the deployment's configuration defines


def open_residency(config: ControlConfig, registry: Registry | None = None) -> ResidencyAdapter:
    """Opens residency on the control plane's database, with Redis when configured, and applies the operator's
    configured regions and node keys (audited; a configured region contradicting a stored one raises Conflict)."""
    from residency.probe import HttpProber
    from signalling.tokens.revocations import tls_context

    from . import metrics

    if registry is None:
        registry = RedisRegistry(config.redis_url) if config.redis_url else MemoryRegistry()
    Path(config.db).parent.mkdir(parents=True, exist_ok=True)
    key = load_audit_key(config)
    db = Database(config.database(), upgrade=config.schema_upgrade)
    service = ResidencyService(db, registry=registry, signing_key=key,
                               prober=HttpProber(context=tls_context(config.ca_bundle)),
                               on_node_rejected=lambda reason: metrics.REGISTRY_REJECTED.labels(reason).inc())
    if config.regions is not None:
        service.configure_regions([Region.from_dict(r) for r in config.regions], actor=CONFIG_ACTOR)
    for region, public in config.node_keys:
        service.enroll_node_key(region, public, actor=CONFIG_ACTOR, reason="enrolled by the deployment's configuration")
    service.publish()
    return ResidencyAdapter(service, log_signer(config))


def log_signer(config: ControlConfig) -> HeadSigner | None:
    """The transparency log's key: a PKCS#11 token, a PEM file (its own Secret in the chart), or None (the audit
    key, which lives beside the database)."""
    if config.log_key_pkcs11 is not None:
        return Pkcs11Signer(config.log_key_pkcs11)
    if config.log_key is not None:
        return KeySigner.from_file(config.log_key)
    return None


AUDIT_KEY = "audit-ed25519.pem"


def load_audit_key(config: ControlConfig) -> Ed25519PrivateKey:
    """The audit-signing key: `<key dir>/audit-ed25519.pem` when it is there (the chart puts it in the key
    Secret, so every replica signs with the same key); else created on first start in the key dir, or — when the
    key dir is a read-only mount (a Secret without that file) — in `<db dir>/keys`, on the data volume."""
    primary = config.key_dir() / AUDIT_KEY
    try:
        return load_or_create_signing_key(primary)
    except OSError as e:
        fallback = Path(config.db).resolve().parent / "keys" / AUDIT_KEY
        log.warning("audit key: %s cannot be created (%s); using %s on the data volume", primary,
                    e.strerror or e, fallback)
        return load_or_create_signing_key(fallback)
