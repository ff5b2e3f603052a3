"""`ResidencyPort` over residency's facade (`residency.service.ResidencyService`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from residency.audit import AuditValue
from residency.errors import PlacementRefused
from residency.model import Tenant
from residency.registry import MemoryRegistry, RedisRegistry, Registry
from residency.service import ResidencyService
from residency.signing import load_or_create_signing_key

from .config import ControlConfig
from .jsontypes import JSONObject
from .ports import AuditDetail, PlacementInfo


def _tenant_dict(t: Tenant) -> JSONObject:
    return {"tenant": t.id, "name": t.name, "jurisdiction": t.jurisdiction,
            "allowed_regions": None if t.allowed_regions is None else sorted(t.allowed_regions)}


def _audit_safe(details: Mapping[str, AuditDetail]) -> dict[str, AuditValue]:
    """The audit log takes ints and strings only (no floats): round times to whole seconds."""
    return {str(k): int(v) if isinstance(v, float) else v for k, v in details.items()}


class ResidencyAdapter:
    def __init__(self, service: ResidencyService) -> None:
        self.service = service

    def create_tenant(self, *, tenant: str, name: str, jurisdiction: str, actor: str) -> JSONObject:
        t = self.service.create_tenant(tenant, name, jurisdiction, actor=actor)
        return {**_tenant_dict(t), "effective_regions": sorted(self.service.allowed_regions(t.id))}

    def tenant_exists(self, tenant: str) -> bool:
        return self.service.store.get_tenant(tenant) is not None

    def list_tenants(self) -> list[JSONObject]:
        return [_tenant_dict(t) for t in self.service.tenants()]

    def place(self, *, tenant: str, room: str, region_hint: str | None) -> PlacementInfo:
        p = self.service.place_room(tenant, room, hint=region_hint)
        node = self.service.registry.get_node(p.node)
        if node is None:
            raise PlacementRefused("node_gone", "the meeting's server just went away; please try again")
        where = self.service.describe(p)
        return PlacementInfo(node=p.node, region=p.region, ws_url=node.ws_url, location=where["location"],
                             jurisdiction=where["jurisdiction"], policy=where["why"])

    def room_node(self, tenant: str, room: str) -> str | None:
        p = self.service.get_placement(tenant, room)
        return p.node if p is not None else None

    def end_room(self, tenant: str, room: str, actor: str) -> None:
        self.service.end_room(tenant, room, actor=actor)

    def node_http_url(self, node: str) -> str | None:
        n = self.service.registry.get_node(node)
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

    def ready(self) -> bool:
        try:
            return bool(self.service.registry.ping())
        except Exception:
            return False

    def maintain(self) -> None:
        """Periodic reconciliation (node arrivals/departures, re-placement); run every ~2 s."""
        self.service.sweep()


def open_residency(config: ControlConfig, registry: Registry | None = None) -> ResidencyAdapter:
    """Opens residency on the control plane's database, with Redis when configured."""
    if registry is None:
        registry = RedisRegistry(config.redis_url) if config.redis_url else MemoryRegistry()
    Path(config.db).parent.mkdir(parents=True, exist_ok=True)
    key = load_or_create_signing_key(config.key_dir() / "audit-ed25519.pem")
    service = ResidencyService(str(config.db), registry=registry, signing_key=key)
    service.publish()
    return ResidencyAdapter(service)
