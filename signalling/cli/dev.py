"""`castellan dev`: the whole product in one process — control plane, one media node, SQLite, the in-memory
registry, a demo tenant — and a printed join link. Production runs `castellan control-plane` and
`castellan node --region ...` as separate processes sharing Redis."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn

from residency.identity import NodeSigner, load_or_create_node_key, public_text
from residency.model import Node as NodeRecord
from residency.registry import MemoryRegistry
from sfu import logs
from sfu.app.serving import node_server_settings
from sfu.config import NodeConfig
from sfu.factory import build_node
from signalling.control.embedded import create_demo, embedded_control_plane
from signalling.control.password_policy import password_problem
from signalling.tokens import TokenVerifier

log = logging.getLogger("castellan.dev")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="castellan dev", description="control plane + one media node in one process")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="control plane HTTP port (join pages, API)")
    ap.add_argument("--node-port", type=int, default=7880, help="node HTTP/WebSocket port")
    ap.add_argument("--udp-port", type=int, default=40000, help="the node's one media port")
    ap.add_argument("--public-ip", default=None, help="address browsers reach the node at (default: --host)")
    ap.add_argument("--data-dir", default=os.environ.get("CASTELLAN_DATA_DIR", ".castellan"))
    ap.add_argument("--region", default="local")
    ap.add_argument("--jurisdiction", default="EU")
    ap.add_argument("--password", default=None, help="demo link password (default: generated)")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--dev-client", action="store_true",
                    help="serve the client as a development build: its pages honour ?ws=, ?token=, ?e2ee=0 and "
                         "?autojoin=1 and may connect to any node (never on a deployment)")
    args = ap.parse_args(argv)
    if args.password is not None and (problem := password_problem(args.password)) is not None:
        ap.error(f"--password: {problem}")
    return args


async def run(args: argparse.Namespace, ready: asyncio.Event | None = None, info: dict[str, Any] | None = None) -> None:
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    public_ip = args.public_ip or args.host
    control_url = f"http://{args.host}:{args.port}"
    registry = MemoryRegistry()
    cp = embedded_control_plane(db=data / "castellan.db", public_url=control_url, registry=registry,
                                region=(args.region, args.jurisdiction, "This machine", "Local node"),
                                dev_client=args.dev_client)
    node_id = "dev-node-1"
    # the node's key, generated on first start and enrolled (audited) for the dev region: `castellan dev` needs no
    # set-up, and its node proves itself to the control plane exactly as a separate node process does
    node_key = load_or_create_node_key(data / f"node-key-{args.region}.pem")  # one key, one region
    cp.residency.service.enroll_node_key(args.region, public_text(node_key), actor="castellan-dev",
                                         reason="the dev node's key, generated on first start")
    record = NodeRecord(id=node_id, region=args.region, public_ip=public_ip, udp_port=args.udp_port,
                        ws_url=f"ws://{public_ip}:{args.node_port}/ws", http_url=f"http://{args.host}:{args.node_port}")
    built = build_node(NodeConfig(node_id=node_id, region=args.region, host=args.host, udp_port=args.udp_port,
                                  public_ip=public_ip),
                       TokenVerifier(cp.control.keyring.jwks, node_id), registry=registry,
                       audit=cp.residency.service.audit, record=record, revocations=cp.control.revocations,
                       occupancy=cp.control.occupancy, signer=NodeSigner(node_key))
    node, node_app = built.node, built.app
    servers = [
        uvicorn.Server(uvicorn.Config(cp.app, host=args.host, port=args.port, log_level=args.log_level, log_config=None, access_log=False, ws="websockets-sansio")),
        uvicorn.Server(uvicorn.Config(node_app, host=args.host, port=args.node_port, log_level=args.log_level,
                                      log_config=None, access_log=False, **node_server_settings())),
    ]
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            for t in tasks:
                t.result()
        await asyncio.sleep(0.05)
    # the node has registered (its app started): check it now rather than at the next maintenance round, so the
    # printed link works at once
    await asyncio.to_thread(cp.residency.service.sweep)
    demo = create_demo(cp.control, password=args.password)
    print("\n  Castellan is running (control plane + one media node, one process).", flush=True)
    print(f"  Join the demo meeting in a browser: {demo['join_url']}", flush=True)
    print(f"  Password: {demo['password']}", flush=True)
    print(f"  Host link (admits the lobby): {demo['host_url']}", flush=True)
    if cp.operator_key:
        print(f"  Operator API key (shown once): {cp.operator_key}", flush=True)
    print(f"  Media: UDP {public_ip}:{node.config.udp_port}; signalling ws://{public_ip}:{args.node_port}/ws", flush=True)
    if args.dev_client:
        print("  Client pages: DEVELOPMENT BUILD (?ws=&token=, ?e2ee=0, ?autojoin=1 honoured; any WebSocket host "
              "allowed) - never for real meetings", flush=True)
    print(flush=True)
    if info is not None:
        info.update(demo=demo, control_url=control_url, node=node, operator_key=cp.operator_key)
    if ready is not None:
        ready.set()
    try:
        await asyncio.gather(*tasks)
    finally:
        for s in servers:
            s.should_exit = True


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logs.configure(args.log_level, "text")
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        uvloop.run(run(args))
    return 0
