"""Node processes' worth of relaying nodes in one test: each node built by the product's factory with a relay
endpoint of its own key, all of them enrolled and their signed records in what every node believes (as the
registry would have them), so links between them verify as in production; one control plane's signing keys for
all of them (a join token one node admitted verifies on the others)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loadtests import media
from loadtests.bots.netbot import short_gop_video
from loadtests.bots.peer import Bot
from residency.identity import NodeSigner, enrolled_key, public_text
from residency.model import Node as NodeRecord
from residency.relay import RelayEndpoint
from sfu.cascade.peers import Believed
from sfu.cascade.relays import RelaySetup
from signalling.tokens import KeyRing
from tests.harness import RunningNode, running_node

EU = frozenset({"eu-1", "eu-2"})


async def relayed_nodes(stack: contextlib.AsyncExitStack, spec: tuple[tuple[str, str], ...],
                        home: Callable[[str, str], str | None] | None = None,
                        allowed: Callable[[str], frozenset[str]] = lambda tenant: EU,
                        stacks: Mapping[str, contextlib.AsyncExitStack] | None = None,
                        via: Callable[[str, str], str] | None = None) -> dict[str, RunningNode]:
    """Starts a node per (node id, region) of `spec` on `stack` (or on its own of `stacks`, to stop it alone);
    `allowed` is each tenant's allowed regions (the EU regions unless told), `home` the registry's placement of
    each (tenant, room), None: no placement (nobody dials a home); `via` maps (node id, its signalling URL) to the URL its
    record names (a proxy in front of it)."""
    believed = Believed()
    keys = {nid: Ed25519PrivateKey.generate() for nid, _ in spec}
    control = KeyRing()  # one control plane: every node verifies the join tokens it signed
    nodes: dict[str, RunningNode] = {}
    for nid, region in spec:
        setup = RelaySetup(RelayEndpoint(nid, region, keys[nid]), lambda: believed, allowed, home=home)
        on = (stacks or {}).get(nid, stack)
        nodes[nid] = await on.enter_async_context(running_node(relay=setup, node_id=nid, region=region,
                                                                   keys=control))
    now = time.time()
    for nid, rn in nodes.items():
        region = rn.node.config.region
        ek = enrolled_key(region, public_text(keys[nid]), actor="operator", at=now)
        believed.keys[ek.key_id] = ek
        believed.nodes[nid] = NodeSigner(keys[nid]).sign(
            NodeRecord(nid, region, "127.0.0.1", rn.node.config.udp_port, rn.ws_url, via(nid, rn.http_url) if via else rn.http_url), now)
    return nodes


async def alice_publishes_bob_joins(a: RunningNode, b: RunningNode, key: tuple[str, str], bots: list[Bot]) -> tuple[Bot, Bot]:
    """alice on `a` publishing looped VP8 (keyframe every 8 frames) + Opus, then bob joined on `b`, in meeting
    `key` (tenant, room); both kept in `bots` for the caller to close."""
    tenant, room = key
    pub = Bot(a.ws_url, a.token(room, participant="alice", tenant=tenant, name="alice"), "alice")
    bots.append(pub)
    await pub.connect()
    await pub.publish(video=str(short_gop_video(gop=8, fps=15, bitrate=300_000)), audio=str(media.audio_file()))
    sub = Bot(b.ws_url, b.token(room, participant="bob", tenant=tenant, name="bob"), "bob")
    bots.append(sub)
    await sub.connect()
    return pub, sub
