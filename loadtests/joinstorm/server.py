"""The join storm's control plane: a real `create_app` on 127.0.0.1 with the production password cost (Argon2id), one
tenant, a few registered (placement-only) nodes in one region, and `--rooms` links of each kind written to
`--links` as JSON for the locust users. No media node is needed: the storm measures link -> token."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn

from residency.model import Node
from residency.registry import MemoryRegistry
from signalling.control.app import build_control_plane, create_app
from signalling.control.config import ControlConfig
from signalling.control.ratelimit import LimitPolicy
from signalling.control.residency_adapter import open_residency


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rooms", type=int, default=100)
    ap.add_argument("--links", required=True)
    args = ap.parse_args()
    d = Path(args.dir)
    # every locust user comes from 127.0.0.1: the per-address failure limit would be shared by all of them,
    # but the storm only uses correct passwords, so the limiter is exercised (checked) and never trips.
    # the per-address join-request bucket is off: the storm's thousands of participants all come from 127.0.0.1
    config = ControlConfig(db=d / "control.db", public_url=f"http://127.0.0.1:{args.port}", limits=LimitPolicy(),
                           join_rate=0)
    residency = open_residency(config, registry=MemoryRegistry(node_ttl=10**9))
    svc = residency.service
    svc.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="bench")
    for i in range(4):
        svc.node_registered(Node(id=f"node-{i}", region="eu-1", public_ip="127.0.0.1", udp_port=40000 + i,
                                 ws_url=f"ws://127.0.0.1:{7880 + i}/ws", http_url=f"http://127.0.0.1:{7880 + i}"))
    control = build_control_plane(config, residency=residency)
    control.create_tenant("bench", tenant="bench", name="Bench", jurisdiction="EU")
    links = {
        "token": [control.create_link("bench", tenant="bench", title=f"open {i}", no_password=True)["link"]
                  for i in range(args.rooms)],
        "password": [control.create_link("bench", tenant="bench", title=f"pw {i}", password=f"joinstorm pass {i}")["link"]
                     for i in range(args.rooms)],
    }
    Path(args.links).write_text(json.dumps(links))
    app = create_app(config, control=control)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
