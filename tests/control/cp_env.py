"""Test environment: a real control plane on SQLite files in tmp_path, with residency's real service and registry."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from residency.model import Node
from residency.registry import MemoryRegistry
from residency.service import ResidencyService
from signalling.control.app import build_control_plane, create_app
from signalling.control.config import ControlConfig
from signalling.control.passwords import Argon2Cost
from signalling.control.residency_adapter import ResidencyAdapter
from signalling.control.service import ControlPlane
from signalling.tokens import TokenVerifier

# tests only (Argon2id's smallest cost, ~0.1 ms): the production cost is passwords.DEFAULT_COST (OWASP's)
FAST_ARGON2 = Argon2Cost(time_cost=1, memory_kib=64, parallelism=1)


def legacy_scrypt_hash(password: str, n: int = 2**14) -> str:
    """A hash as the control plane stored it before Argon2id: scrypt$N$r$p$salt$hash (urlsafe base64, no padding)."""

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    salt = os.urandom(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, maxmem=128 * 8 * n + 4 * 1024 * 1024, dklen=32)
    return f"scrypt${n}$8$1${b64(salt)}${b64(dk)}"


class Slowdowns:
    """The control plane's sleep under a fake clock: records the slowdowns of a link under guessing instead of
    sleeping them (the fake clock stands still anyway), and still yields to the loop."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        if seconds >= 0.5:  # not the 10 ms waits for a free check slot
            self.delays.append(seconds)
        await asyncio.sleep(0)


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


@dataclass
class Env:
    tmp: Path
    config: ControlConfig
    residency: ResidencyService
    control: ControlPlane
    client: TestClient
    operator_key: str
    admin_key: str = ""
    nodes: dict[str, Node] = field(default_factory=dict)

    def op(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_key}"}

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def link(self, tenant: str = "acme", **opts: Any) -> dict[str, Any]:
        r = self.client.post(f"/v1/tenants/{tenant}/links", json={"title": "Board meeting", **opts},
                             headers=self.admin())
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def join(self, link: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
        return self.client.post("/v1/join", json={"link": link, "name": "Ada", **body}, headers=headers or {})

    def other_tenant(self, tenant: str = "globex") -> str:
        """A second EU tenant, made by the operator; its admin key."""
        r = self.client.post("/v1/tenants", json={"tenant": tenant, "name": tenant.title(), "jurisdiction": "EU"},
                             headers=self.op())
        assert r.status_code == 201, r.text
        return str(self.client.post(f"/v1/tenants/{tenant}/admin-keys", json={}, headers=self.op()).json()["key"])

    def verifier(self, node: str = "node-eu-1") -> TokenVerifier:
        return TokenVerifier(self.control.keyring.jwks, node)


def add_node(svc: ResidencyService, node_id: str, region: str, http_url: str = "http://127.0.0.1:9") -> Node:
    node = Node(id=node_id, region=region, public_ip="127.0.0.1", udp_port=40000,
                ws_url=f"ws://127.0.0.1:7880/ws?node={node_id}", http_url=http_url)
    return svc.node_registered(node)


def two_eu_regions(env: Env, node_http: str = "http://127.0.0.1:9") -> None:
    """Cascading's deployment (docs/architecture.md): eu-2 (Paris) with a node beside eu-1's, both allowed for the EU
    tenant, and an idle node in us-1, which the tenant refuses — the node that would win on load alone."""
    env.residency.define_region("eu-2", "EU", "Paris, FR", "EU West", actor="operator")
    env.nodes["node-eu-2"] = add_node(env.residency, "node-eu-2", "eu-2", node_http)
    env.nodes["node-us-1"] = add_node(env.residency, "node-us-1", "us-1", node_http)
    beat(env)


def beat(env: Env) -> None:
    """The three nodes' heartbeats (a registration lives `node_ttl`, 6 s, on the real clock): the EU nodes busy,
    the US one idle."""
    for node, load in (("node-eu-1", 0.6), ("node-eu-2", 0.6), ("node-us-1", 0.0)):
        assert env.residency.node_heartbeat(node, load=load), node


def make_env(tmp_path: Path, clock: Clock | None = None, node_http: str = "http://127.0.0.1:9",
             database_url: str | None = None, configure: Callable[[ControlConfig], None] | None = None) -> Env:
    """`database_url`: PostgreSQL instead of the SQLite file (the same schema history and SQL); `configure`
    changes the config before the control plane is built (e.g. a recording volume)."""
    config = ControlConfig(db=tmp_path / "control.db", public_url="https://meet.example", password_cost=FAST_ARGON2,
                           database_url=database_url)
    if configure is not None:
        configure(config)
    svc = ResidencyService(config.database(), registry=MemoryRegistry())
    svc.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="operator")
    svc.define_region("us-1", "US", "Ashburn, US", "US East", actor="operator")
    control = build_control_plane(config, residency=ResidencyAdapter(svc))
    if clock is not None:
        control.clock = clock
        control.limiter.clock = clock  # type: ignore[attr-defined]
        control.lobby.clock = clock
        control.occupancy.clock = clock
        control.checks.sleep = Slowdowns()
        if control.requests is not None:
            control.requests.clock = clock
    operator_key = control.ensure_operator_key()
    assert operator_key
    app = create_app(config, control=control)
    client = TestClient(app, client=("198.51.100.7", 50000))
    env = Env(tmp_path, config, svc, control, client, operator_key)
    env.nodes["node-eu-1"] = add_node(svc, "node-eu-1", "eu-1", node_http)
    r = client.post("/v1/tenants", json={"tenant": "acme", "name": "ACME GmbH", "jurisdiction": "EU"},
                    headers=env.op())
    assert r.status_code == 201, r.text
    r = client.post("/v1/tenants/acme/admin-keys", json={"label": "alice"}, headers=env.op())
    env.admin_key = r.json()["key"]
    return env


