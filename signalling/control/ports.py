"""What the control plane needs from residency, as a small interface (see `residency_adapter.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from recording.launch import Want
from residency.catalogue import Catalogue
from residency.model import Region, Tenant
from residency.registry import Registry

from .jsontypes import JSONObject

# What the control plane records about its own actions (flat: one value per detail; times as float seconds).
AuditDetail: TypeAlias = str | int | float | bool | None


@dataclass(frozen=True)
class PlacementInfo:
    """Where a room's media is processed, and why (shown to participants)."""

    node: str
    region: str
    ws_url: str
    location: str
    jurisdiction: str
    policy: str

    def processing(self) -> dict[str, str]:
        return {"region": self.region, "location": self.location, "jurisdiction": self.jurisdiction,
                "policy": self.policy}


class ResidencyPort(Protocol):
    # recorder pools (docs/recording.md, "Launching recorders"): what the launcher reads and writes
    def recording_wants(self) -> list[Want]:
        """Rooms the nodes want recorded, only from nodes an enrolled key vouches for and only for rooms placed on
        the node that asks (a forged document in the registry launches nothing)."""
        ...

    def launch_context(self, tenants: set[str]) -> tuple[dict[str, Tenant], dict[str, Region], Catalogue]: ...

    def docs(self) -> Registry:
        """The registry's short-lived documents (recorder pools and jobs)."""
        ...

    def create_tenant(self, *, tenant: str, name: str, jurisdiction: str, actor: str) -> JSONObject: ...

    def tenant_exists(self, tenant: str) -> bool: ...

    def tenant_document(self, tenant: str) -> JSONObject:
        """The tenant, every defined region's rule/allowance/serving nodes, and warnings (tenancy.py)."""
        ...

    def set_tenant_regions(self, *, tenant: str, allowed_regions: list[str] | None, opt_ins: dict[str, str],
                           reason: str, actor: str) -> JSONObject:
        """Replace the tenant's allowed regions (validated whole and audited by residency); the new document."""
        ...

    def room_where(self, tenant: str, room: str) -> JSONObject | None:
        """Where a placed room runs (node, region, location, jurisdiction, since), None when not placed."""
        ...

    # operator: regions and the node keys enrolled for them (each audited; residency refuses redefinitions)
    def define_region(self, *, region: str, jurisdiction: str, location: str, display_name: str, actor: str,
                      reason: str) -> JSONObject: ...

    def list_regions(self) -> list[JSONObject]: ...

    def enroll_node_key(self, *, region: str, public_key: str, actor: str, reason: str) -> JSONObject: ...

    def revoke_node_key(self, *, key_id: str, actor: str, reason: str) -> JSONObject: ...

    def list_node_keys(self) -> list[JSONObject]: ...

    def list_tenants(self) -> list[JSONObject]: ...

    def place(self, *, tenant: str, room: str, region_hint: str | None,
              participant: str | None = None) -> PlacementInfo:
        """`participant` is named in the audit record of a placement off the room's home node. Raises `residency.errors.PlacementRefused` (fail closed) or another `ResidencyError`."""
        ...

    def room_node(self, tenant: str, room: str) -> str | None:
        """The node a room is placed on, if it is placed."""
        ...

    def carries(self, tenant: str, room: str, node: str) -> bool:
        """`node` carries the meeting: the room's home, or a node the registry lists for it (cascading)."""
        ...

    def end_room(self, tenant: str, room: str, actor: str) -> None:
        """Forget the room's placement (audited) once its meeting was ended."""
        ...

    def node_http_url(self, node: str) -> str | None: ...

    def node_ws_urls(self) -> list[str]:
        """Every registered node's WebSocket URL (the client pages' connect-src when none is configured)."""
        ...

    def node_gone(self, node: str, actor: str, reason: str) -> None:
        """A node failed its health check: deregister it and re-place its rooms (allowed regions only)."""

    def audit(self, *, tenant: str | None, actor: str, action: str, details: Mapping[str, AuditDetail]) -> None: ...

    def export_tenant(self, tenant: str) -> str:
        """The tenant's audit chain as signed JSON Lines (residency's format)."""
        ...

    def audit_public_key_pem(self) -> str: ...

    def audit_signing_key(self) -> Ed25519PrivateKey:
        """The deployment's audit key (it also signs recording exports unless another key is configured)."""
        ...

    def ready(self) -> bool: ...
