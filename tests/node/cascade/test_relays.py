"""Relay links between two real, started nodes (sfu/cascade/relays.py): engines on their media threads, real
enrolled keys and signed registry records. The link opens on both sides with an engine peer toward the UDP
address of the believed record; a US node, a room the node does not carry, an accept nobody asked for and a
forged accept are refused, counted, and take no engine peer; closing gives the peer back."""

from __future__ import annotations

import asyncio
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.errors import RelayRefused
from residency.identity import NodeSigner, enrolled_key, public_text
from residency.model import Node as NodeRecord
from residency.relay import RelayEndpoint
from sfu.cascade.peers import Believed
from sfu.cascade.relays import Relays
from sfu.config import NodeConfig
from sfu.node import Node
from sfu.room import Room

pytest.importorskip("native.engine")

EU = frozenset({"eu-1", "eu-2"})


def test_a_link_opens_between_allowed_nodes_and_nothing_else_takes_a_peer() -> None:
    async def run() -> None:
        nodes = {nid: Node(NodeConfig(node_id=nid, region=region, udp_port=0))
                 for nid, region in (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"), ("us-1-a", "us-1"))}
        for n in nodes.values():
            await n.start()
        try:
            believed = Believed()
            keys = {nid: Ed25519PrivateKey.generate() for nid in nodes}
            now = time.time()
            for nid, n in nodes.items():
                ek = enrolled_key(n.config.region, public_text(keys[nid]), actor="operator", at=now)
                believed.keys[ek.key_id] = ek
                believed.nodes[nid] = NodeSigner(keys[nid]).sign(
                    NodeRecord(nid, n.config.region, "127.0.0.1", n.config.udp_port, "ws://x", "http://x"), now)
            relays = {nid: Relays(n, RelayEndpoint(nid, n.config.region, keys[nid]), lambda: believed,
                                  lambda tenant: EU) for nid, n in nodes.items()}
            a, b, us = relays["eu-1-a"], relays["eu-2-a"], relays["us-1-a"]
            nodes["eu-2-a"].rooms[("eurocorp", "board")] = Room("eurocorp", "board")
            free_b = len(nodes["eu-2-a"].peers._free)

            link_a = a.finish("eu-2-a", b.accept(a.offer("eurocorp", "board", "eu-2-a")))
            link_b = b.links["eu-1-a"]
            assert link_a.keys.send == link_b.keys.receive and link_b.keys.send == link_a.keys.receive
            assert len(nodes["eu-2-a"].peers._free) == free_b - 1
            # the channel works end to end between the two nodes' links
            assert link_b.channel.open(link_a.channel.seal({"type": "ping"})) == {"type": "ping"}

            refusals = []
            for attempt in (
                lambda: b.accept(us.offer("eurocorp", "board", "eu-2-a")),          # a US node
                lambda: b.accept(a.offer("othercorp", "board", "eu-2-a")),          # a room b does not carry
                lambda: a.finish("eu-9-z", {"role": "accept"}),                     # nobody asked
                lambda: b.accept({"role": "offer", "tenant": 1}),                   # garbage
            ):
                with pytest.raises(RelayRefused) as e:
                    attempt()
                refusals.append(e.value.code)
            # an accept for an offer to eu-2-a, made by the US node, is refused by eu-1-a
            nodes["us-1-a"].rooms[("eurocorp", "board")] = Room("eurocorp", "board")
            a.offer("eurocorp", "board", "us-1-a")  # (a misconfigured caller offers to the US node)
            forged = us.endpoint.accept(RelayEndpoint("eu-1-a", "eu-1", keys["eu-1-a"]).offer(
                "eurocorp", "board", "us-1-a", time.time()).offer, keys=believed.keys, nodes=believed.nodes,
                allowed=frozenset({"us-1", *EU}), now=time.time())[0].to_dict()
            with pytest.raises(RelayRefused) as e:
                a.finish("us-1-a", forged)
            refusals.append(e.value.code)
            assert refusals == ["relay_region_not_allowed", "relay_room_unknown", "relay_unexpected",
                                "relay_malformed", "relay_region_not_allowed"], refusals
            assert sum(b.refused.values()) == 3 and sum(a.refused.values()) == 2
            assert len(nodes["eu-2-a"].peers._free) == free_b - 1 and not us.links
            # both nodes offer at once: the lower id refuses the other's offer, the other takes the lower id's
            # and drops its own — one link, one set of keys on both sides (never two handshakes replacing each
            # other's keys)
            nodes["eu-1-a"].rooms[("eurocorp", "board")] = Room("eurocorp", "board")
            offer_a, offer_b = a.offer("eurocorp", "board", "eu-2-a"), b.offer("eurocorp", "board", "eu-1-a")
            with pytest.raises(RelayRefused) as e:
                a.accept(offer_b)
            assert e.value.code == "relay_crossed"
            link_a = a.finish("eu-2-a", b.accept(offer_a))
            assert link_a.keys.send == b.links["eu-1-a"].keys.receive and not b._pending and not a._pending
            assert len(nodes["eu-2-a"].peers._free) == free_b - 1
            b.close("eu-1-a")
            a.close("eu-2-a")
            assert len(nodes["eu-2-a"].peers._free) == free_b and not a.links and not b.links
        finally:
            for n in nodes.values():
                await n.stop()

    asyncio.run(run())
