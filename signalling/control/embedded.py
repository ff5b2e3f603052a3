"""The control plane inside another process (`castellan dev`): one call to build it next to an in-process node.

    from residency.registry import MemoryRegistry
    from signalling.control.embedded import embedded_control_plane, create_demo

    registry = MemoryRegistry()
    cp = embedded_control_plane(db=tmp / "castellan.db", public_url="http://127.0.0.1:8000", registry=registry,
                                region=("local", "EU", "This machine", "Local"))
    cp.residency.service.node_registered(Node(id=..., region="local", ..., ws_url=..., http_url=...))
    demo = create_demo(cp.control)          # {"join_url": ".../j/<link>#k=<e2ee>", "password": ..., "host_url": ...}
    app = cp.app                            # mount/serve it (uvicorn) next to the node's app

The node verifies joins with the same key ring and admits them with this process's revocations and occupancy
(signalling/cli/dev.py):

    build_node(config, TokenVerifier(cp.control.keyring.jwks, node_id), registry=registry,
               audit=cp.residency.service.audit, record=record, revocations=cp.control.revocations,
               occupancy=cp.control.occupancy)
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette

from residency.registry import Registry
from signalling.tokens import KeyRing

from .app import build_control_plane, create_app
from .config import ControlConfig
from .jsontypes import JSONObject
from .residency_adapter import ResidencyAdapter, open_residency
from .service import ControlPlane


@dataclass
class Embedded:
    app: Starlette
    control: ControlPlane
    residency: ResidencyAdapter
    config: ControlConfig
    operator_key: str | None


def embedded_control_plane(
    *,
    db: str | Path,
    public_url: str,
    registry: Registry,
    keyring: KeyRing | None = None,
    region: tuple[str, str, str, str] | None = None,
    dev_client: bool = False,
) -> Embedded:
    """`region` = (id, jurisdiction, location, display name), defined if given (idempotent); `dev_client` serves
    the client as a development build (pages.py)."""
    config = ControlConfig(db=Path(db), public_url=public_url, dev_client=dev_client)
    residency = open_residency(config, registry=registry)
    if region is not None:
        residency.service.define_region(*region, actor="castellan-dev")
    control = build_control_plane(config, residency=residency, keyring=keyring)
    operator_key = control.ensure_operator_key()
    return Embedded(create_app(config, control=control), control, residency, config, operator_key)


def create_demo(
    control: ControlPlane, tenant: str = "demo", jurisdiction: str = "EU", title: str = "Demo meeting",
    password: str | None = None,
) -> JSONObject:
    """A demo tenant (created once) and a new meeting link; the E2EE secret is made here, for the fragment."""
    if not control.residency.tenant_exists(tenant):
        control.create_tenant("castellan-dev", tenant=tenant, name=tenant.title(), jurisdiction=jurisdiction)
    link = control.create_link("castellan-dev", tenant=tenant, title=title, password=password)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    link["join_url"] = f"{link['url']}#k={secret}"
    link["host_url"] = f"{link['url']}#k={secret}&h={link['host_key']}"
    link.setdefault("password", password)
    return link
