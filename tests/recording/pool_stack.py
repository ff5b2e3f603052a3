"""The recorder pool's world, run INSIDE the loopback-only namespace: `pool_stack.py CONFIG_JSON`.

A real control plane (SQLite, the recording archive on a volume with the tenant keys) and one media node in eu-1
with its agent — heartbeats and the rooms it wants recorded go to the registry the control plane reads, as
`castellan dev` runs them (one process, the in-memory registry). Regions eu-1 and us-1; tenant ACME (EU: us-1 is
not allowed), recording `allowed`, one link tightened to `required`; a recorder pool key for each region. Writes
what it made to `config["out"]` once both servers listen. The client is served as in production (no development
build): people join from the links' pages, and the pool's recorder page enters recorder mode only through the job
its own browser hands it (recording/pool/launcher.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sys
from pathlib import Path
from typing import Any

import uvicorn

from recording.policy import RecordingPolicy
from residency.identity import NodeSigner, load_or_create_node_key, public_text
from residency.model import Node as NodeRecord
from residency.registry import MemoryRegistry
from sfu.app.serving import node_server_settings
from sfu.config import NodeConfig
from sfu.factory import build_node
from signalling.control.app import build_control_plane, create_app
from signalling.control.config import ControlConfig
from signalling.control.passwords import Argon2Cost
from signalling.control.recorderpools import RecorderPools
from signalling.control.residency_adapter import open_residency
from signalling.tokens import TokenVerifier


async def run(cfg: dict[str, Any]) -> None:
    work = Path(cfg["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    keys = work / "tenant-keys.json"
    keys.write_text(json.dumps({"acme": {"id": "acme-2026", "key": base64.b64encode(secrets.token_bytes(32)).decode()}}))
    control_url = f"http://127.0.0.1:{cfg['web_port']}"
    config = ControlConfig(db=work / "control.db", public_url=control_url, dev_client=False,
                           password_cost=Argon2Cost(time_cost=1, memory_kib=64, parallelism=1),
                           recording_volume=work / "volume", recording_tenant_keys=keys)
    registry = MemoryRegistry()
    residency = open_residency(config, registry=registry)
    residency.service.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="operator")
    residency.service.define_region("us-1", "US", "Ashburn, US", "US East", actor="operator")
    control = build_control_plane(config, residency=residency)
    node_key = load_or_create_node_key(work / "node-key.pem")
    residency.service.enroll_node_key("eu-1", public_text(node_key), actor="operator", reason="the test's node")
    node_id = "node-eu-1"
    record = NodeRecord(id=node_id, region="eu-1", public_ip="127.0.0.1", udp_port=cfg["udp_port"],
                        ws_url=f"ws://127.0.0.1:{cfg['node_port']}/ws", http_url=f"http://127.0.0.1:{cfg['node_port']}")
    built = build_node(NodeConfig(node_id=node_id, region="eu-1", host="127.0.0.1", udp_port=cfg["udp_port"],
                                  public_ip="127.0.0.1"),
                       TokenVerifier(control.keyring.jwks, node_id), registry=registry,
                       audit=residency.service.audit, record=record, revocations=control.revocations,
                       occupancy=control.occupancy, signer=NodeSigner(node_key))
    servers = [
        uvicorn.Server(uvicorn.Config(create_app(config, control=control), host="127.0.0.1", port=cfg["web_port"],
                                      log_level="warning", log_config=None, access_log=False,
                                      ws="websockets-sansio")),
        uvicorn.Server(uvicorn.Config(built.app, host="127.0.0.1", port=cfg["node_port"], log_level="warning",
                                      log_config=None, access_log=False, **node_server_settings())),
    ]
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            for t in tasks:
                t.result()
        await asyncio.sleep(0.05)
    await asyncio.to_thread(residency.service.sweep)
    control.create_tenant("operator", tenant="acme", name="ACME", jurisdiction="EU")
    assert control.recordings is not None
    archive = control.recordings.archive
    archive.set_policy("acme", RecordingPolicy.ALLOWED, "operator", retention_days=0)
    links = {}
    for name in ("required", "allowed"):
        made = control.create_link("operator", tenant="acme", title=name, no_password=True)
        links[name] = {"link": made["link"], "host_key": made["host_key"], "room": made["room"],
                       "secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()}
    archive.set_policy("acme", RecordingPolicy.REQUIRED, "operator", link=links["required"]["link"])
    pools = RecorderPools(control)
    pool_keys = {region: pools.create_key("operator", region=region, label=f"pool {region}")[1]
                 for region in ("eu-1", "us-1")}
    out = {"control_url": control_url, "links": links, "pool_keys": pool_keys, "db": str(config.db),
           "volume": str(work / "volume"), "tenant_keys": str(keys), "operator_key": control.ensure_operator_key()}
    Path(cfg["out"]).write_text(json.dumps(out))
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(run(json.loads(Path(sys.argv[1]).read_text())))
