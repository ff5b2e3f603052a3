"""HTTP side of the browser tests, run INSIDE the loopback-only namespace: `stack.py CONFIG_JSON`.

Serves the browser client from `signalling/client` at `/static/` and, with `"control": true`, a real control
plane (SQLite in a temp dir, residency with an in-memory registry and one region whose node is the test's node)
with a tenant and meeting links made up front. Writes what it made to `config["out"]` once it listens.

The control plane serves `/j/{link}` (join.html) and `/static/` as production pages (with `"dev_client": true`,
as a development build). A static-only stack (direct-to-node tests: `?ws=&token=`, `?e2ee=0`) serves the client
as a development build (signalling/control/pages.py), the only kind of page that honours those flags.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "signalling" / "client"


def control_app(cfg: dict[str, Any], out: dict[str, Any]) -> Starlette:
    from residency.model import Node
    from residency.registry import MemoryRegistry
    from residency.service import ResidencyService
    from signalling.control.app import build_control_plane, create_app
    from signalling.control.config import ControlConfig
    from signalling.control.passwords import Argon2Cost
    from signalling.control.residency_adapter import ResidencyAdapter

    tmp = Path(tempfile.mkdtemp(prefix="castellan-browser-"))
    config = ControlConfig(
        db=tmp / "control.db", public_url=cfg["public_url"],
        password_cost=Argon2Cost(time_cost=1, memory_kib=64, parallelism=1),
        dev_client=bool(cfg.get("dev_client")), client_dir=Path(cfg["client_dir"]) if cfg.get("client_dir") else None,
    )
    svc = ResidencyService(
        str(config.db), registry=MemoryRegistry(node_ttl=3600.0)
    )  # the test node sends no heartbeats
    svc.define_region(cfg["region"], "EU", "Frankfurt, DE", "EU Central", actor="operator")
    svc.node_registered(
        Node(
            id=cfg["node_id"],
            region=cfg["region"],
            public_ip="127.0.0.1",
            udp_port=cfg["udp_port"],
            ws_url=cfg["ws_url"],
            http_url=cfg["node_http_url"],
        )
    )
    control = build_control_plane(config, residency=ResidencyAdapter(svc))
    control.create_tenant("operator", tenant="acme", name="ACME", jurisdiction="EU")
    control.create_tenant(
        "operator", tenant="usco", name="US Co", jurisdiction="US"
    )  # no region it may use here
    links = {}
    for name, opts in cfg.get("links", {}).items():
        opts = dict(opts)
        tenant = opts.pop("tenant", "acme")
        after = {k: opts.pop(k) for k in ("revoke", "expire") if k in opts}
        rec = control.create_link("operator", tenant=tenant, title=opts.pop("title", name), **opts)
        if after.get("revoke"):
            control.store.revoke_link(rec["link"])
        if after.get("expire"):
            control.store._exec("UPDATE links SET expires_at = :at WHERE link = :link", {"at": 1.0, "link": rec["link"]})
        links[name] = {
            "link": rec["link"],
            "url": rec["url"],
            "host_key": rec["host_key"],
            "password": opts.get("password"),
        }
    out["links"] = links
    out["control_db"] = str(config.db)
    app = create_app(config, control=control)
    app.state.control_plane = control
    return app


def development_client_app(cfg: dict[str, Any]) -> Starlette:
    """The client alone, as a development build (no control plane: pages join a node given by ?ws=&token=)."""
    from signalling.control.errors import ApiError, api_error_handler
    from signalling.control.pages import ClientPages
    from signalling.control.release import product_version

    root = Path(cfg["client_dir"]) if cfg.get("client_dir") else STATIC
    pages = ClientPages(root, version=product_version(), registered=lambda: (), development=True)

    async def release(request: Request) -> Response:
        return JSONResponse(pages.release.json())

    return Starlette(routes=[Route("/static/{name:path}", pages.static, methods=["GET", "HEAD"]),
                             Route("/v1/client", release, methods=["GET"])],
                     exception_handlers={ApiError: api_error_handler})


def main() -> int:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    out: dict[str, Any] = {}
    app = control_app(cfg, out) if cfg.get("control") else development_client_app(cfg)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=cfg["port"], log_level="warning"))

    import asyncio

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        await wait_for(lambda: server.started or task.done(), 60, 0.02, message="uvicorn did not start")
        if not server.started:  # serve() ended before listening (e.g. the port is taken): say why
            await task
            return
        tmp = Path(cfg["out"] + ".tmp")  # written whole, then renamed: the test polls for the file
        tmp.write_text(json.dumps(out))
        tmp.replace(cfg["out"])
        await task

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
