"""A node on loopback for tests: the native engine, its WebSocket signalling under uvicorn, and a token minter.
(`wait_for` is tests/support/waiting.py's, re-exported.)"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from residency.audit import AuditLog
from residency.model import Node as NodeRecord
from residency.model import Region
from residency.registry import Registry
from sfu.app.limits import SignallingLimits
from sfu.app.serving import node_server_settings
from sfu.app.signalling import NodeSignalling
from sfu.cascade.handshakes import CascadeHandshakes
from sfu.cascade.members import RelayedMembers
from sfu.cascade.relays import Relays, RelaySetup
from sfu.config import NodeConfig
from sfu.factory import BuiltNode, build_node
from sfu.node import Node
from signalling.tokens import KeyRing, TokenIssuer, TokenVerifier
from tests.support.waiting import wait_for  # re-exported: `from tests.harness import wait_for` keeps working


@dataclass
class RunningNode:
    node: Node
    signalling: NodeSignalling
    issuer: TokenIssuer
    ws_url: str
    http_url: str
    relays: Relays | None = None
    members: RelayedMembers | None = None
    handshakes: CascadeHandshakes | None = None

    def token(self, room: str = "room-1", participant: str | None = None, tenant: str = "acme", ttl: float = 60.0,
              region: str | None = None, name: str = "") -> str:
        pid = participant or "p-" + secrets.token_hex(4)
        return self.issuer.mint(tenant=tenant, room=room, participant=pid, region=region or self.node.config.region,
                                node=self.node.config.node_id, name=name or pid, ttl=ttl)


@contextlib.asynccontextmanager
async def running_node(limits: SignallingLimits | None = None, relay: RelaySetup | None = None,
                       keys: KeyRing | None = None, **config: Any) -> AsyncIterator[RunningNode]:
    """A standalone node (no registry: the region rule only) built by the product's own factory, served with
    the product's uvicorn settings. `keys`: the control plane's signing keys (shared by nodes that must verify
    each other's join tokens, as one control plane's nodes do); a key ring of its own unless told."""
    config.setdefault("udp_port", 0)
    config.setdefault("region", "eu-test")
    cfg = NodeConfig(**config)
    keys = keys or KeyRing()
    built = build_node(cfg, TokenVerifier(keys.jwks, cfg.node_id), limits=limits, relay=relay)
    server = uvicorn.Server(uvicorn.Config(built.app, host="127.0.0.1", port=0, log_level="warning",
                                           **node_server_settings()))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningNode(built.node, built.signalling, TokenIssuer(keys), f"ws://127.0.0.1:{port}/ws",
                          f"http://127.0.0.1:{port}", built.relays, built.members, built.handshakes)
    finally:
        server.should_exit = True
        await task


def registered_node(registry: Registry, tmp_path: Path, keys: KeyRing | None = None) -> BuiltNode:
    """Node "n1" of region eu-1 (put into `registry` here) built by the product's factory with its registry agent
    and an audit log in `tmp_path`: its record heartbeats into `registry` once the agent starts. Not served."""
    registry.put_region(Region("eu-1", "EU", "Frankfurt, DE", "EU Central"))
    record = NodeRecord(id="n1", region="eu-1", public_ip="127.0.0.1", udp_port=40000, ws_url="ws://127.0.0.1/ws",
                        http_url="http://127.0.0.1")
    return build_node(NodeConfig(node_id="n1", region="eu-1", udp_port=0),
                      TokenVerifier((keys or KeyRing()).jwks, "n1"), registry=registry,
                      audit=AuditLog(str(tmp_path / "audit.db")), record=record)


async def publisher_and_subscriber(rn: RunningNode, codec: str = "vp8", frames: int = 10) -> tuple[Any, Any]:
    """The common opening of a node test: a bot publishing pre-encoded video + Opus, another subscribed to it,
    returned once the subscriber has decoded `frames` video frames."""
    from loadtests import media
    from loadtests.bots.peer import Bot

    pub = Bot(rn.ws_url, rn.token(name="pub"), "pub")
    await pub.connect()
    await pub.publish(video=str(media.video_file(codec)), audio=str(media.audio_file()))
    sub = Bot(rn.ws_url, rn.token(name="sub"), "sub")
    await sub.connect()
    await sub.negotiate()
    assert await wait_for(lambda: bool(sub.video()) and sub.video()[0].frames > frames, 15), "no media"
    return pub, sub
