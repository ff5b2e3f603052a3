"""The relay handshake between two node processes' signalling ports (sfu/cascade/routes.py, dial.py): real nodes
served by the product's factory under uvicorn on loopback, real enrolled keys and signed registry records. A
link opens on both sides through `POST /relay/offer`; a US node, a replayed offer, garbage, an oversized body,
a node with no believed record and a node that does not answer are refused with a clear code, counted, and
take no engine peer on the answering node. Sealed track announcements cross the same way and become engine
tracks on the far node; forged, linkless and oversized batches are refused and add none, a replayed one is skipped
(counted) and adds none."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.errors import RelayRefused
from residency.identity import NodeSigner, enrolled_key, public_text
from residency.model import Node as NodeRecord
from residency.relay import RelayEndpoint, RelayTrack
from sfu.cascade.dial import dial, send
from sfu.cascade.link import scoped
from sfu.cascade.peers import Believed
from sfu.cascade.relays import RelaySetup
from sfu.cascade.routes import MAX_MESSAGES, OFFER_PATH, messages_path
from sfu.room import Room
from tests.harness import RunningNode, running_node

pytest.importorskip("native.engine")

EU = frozenset({"eu-1", "eu-2"})
NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"), ("us-1-a", "us-1"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_node_processes_open_a_relay_over_http_and_refuse_everything_else() -> None:
    asyncio.run(_run())


async def _run() -> None:
    believed = Believed()
    keys = {nid: Ed25519PrivateKey.generate() for nid, _ in NODES}
    async with contextlib.AsyncExitStack() as stack:
        nodes: dict[str, RunningNode] = {}
        for nid, region in NODES:
            setup = RelaySetup(RelayEndpoint(nid, region, keys[nid]), lambda: believed, lambda tenant: EU)
            nodes[nid] = await stack.enter_async_context(running_node(relay=setup, node_id=nid, region=region))
        now = time.time()
        for nid, rn in nodes.items():
            region = rn.node.config.region
            ek = enrolled_key(region, public_text(keys[nid]), actor="operator", at=now)
            believed.keys[ek.key_id] = ek
            believed.nodes[nid] = NodeSigner(keys[nid]).sign(
                NodeRecord(nid, region, "127.0.0.1", rn.node.config.udp_port, rn.ws_url, rn.http_url), now)
        a, b, us = (nodes[n].relays for n in ("eu-1-a", "eu-2-a", "us-1-a"))
        assert a is not None and b is not None and us is not None
        nodes["eu-2-a"].node.rooms[("eurocorp", "board")] = Room("eurocorp", "board")
        free_b = len(nodes["eu-2-a"].node.peers._free)

        async with httpx.AsyncClient() as client:
            link_a = await dial(a, "eurocorp", "board", "eu-2-a", client)
            link_b = b.links["eu-1-a"]
            assert link_a.keys.send == link_b.keys.receive and link_b.keys.send == link_a.keys.receive
            assert link_b.channel.open(link_a.channel.seal({"type": "ping"})) == {"type": "ping"}
            assert len(nodes["eu-2-a"].node.peers._free) == free_b - 1

            # a US node (enrolled, signed record, but outside the tenant's regions) asks eu-2-a for the meeting
            with pytest.raises(RelayRefused) as e:
                await dial(us, "eurocorp", "board", "eu-2-a", client)
            assert e.value.code == "relay_peer_refused" and "relay_region_not_allowed" in e.value.message
            assert not us.links and not us._pending

            # a path attacker replays an offer eu-2-a already accepted
            offer = a.offer("eurocorp", "board", "eu-2-a")
            url = nodes["eu-2-a"].http_url + OFFER_PATH
            first = await client.post(url, json=offer)
            replay = await client.post(url, json=offer)
            assert first.status_code == 200 and replay.status_code == 403
            assert replay.json() == {"error": "relay_replayed"}
            a.finish("eu-2-a", first.json())  # the fresh link replaces the old one on both sides, one peer each
            assert len(nodes["eu-2-a"].node.peers._free) == free_b - 1

            # bad input: clear codes, counted, the node keeps serving
            garbage = await client.post(url, content=b"{not json")
            shape = await client.post(url, json={"role": "offer", "tenant": 1})
            huge = await client.post(url, content=b"x" * (64 * 1024))
            assert (garbage.status_code, shape.status_code, huge.status_code) == (400, 403, 413)
            assert garbage.json()["error"] == "relay_malformed" and shape.json()["error"] == "relay_malformed"
            assert huge.json()["error"] == "relay_too_large"
            assert dict(b.refused) == {"relay_region_not_allowed": 1, "relay_replayed": 1, "relay_malformed": 2,
                                       "relay_too_large": 1}, b.refused
            assert len(nodes["eu-2-a"].node.peers._free) == free_b - 1

            # nobody to ask: no believed record; a record whose node does not answer
            with pytest.raises(RelayRefused) as e:
                await dial(a, "eurocorp", "board", "eu-9-z", client)
            assert e.value.code == "relay_peer_unknown"
            believed.nodes["eu-2-b"] = NodeSigner(keys["eu-2-a"]).sign(
                NodeRecord("eu-2-b", "eu-2", "127.0.0.1", 9, "ws://x", f"http://127.0.0.1:{_closed_port()}"), now)
            with pytest.raises(RelayRefused) as e:
                await dial(a, "eurocorp", "board", "eu-2-b", client)
            assert e.value.code == "relay_peer_unreachable" and not a._pending
            assert set(a.links) == {"eu-2-a"}

            # sealed announcements: eu-1-a's copy becomes an engine track of eu-2-a's relay peer
            heard: list[tuple[str, str, str, int]] = []
            b.listeners.append(lambda sender, key, kind, what, index: heard.append((sender, kind, what.track, index)))
            link_a = a.links["eu-2-a"]
            video = RelayTrack("t-cam", "alice", "video", "vp8", 0x43430001, (0,))
            announce = [link_a.channel.seal(scoped(("eurocorp", "board"), video.to_message()))]
            assert await send(a, "eu-2-a", announce, client) == 1
            link_b = b.links["eu-1-a"]
            assert set(link_b.receiving) == {0x43430001} and heard == [("eu-1-a", "track", "t-cam",
                                                                       link_b.receiving[0x43430001][0])]
            msgs = nodes["eu-2-a"].http_url + messages_path("eu-1-a")
            replayed = await client.post(msgs, json={"messages": announce})
            # a message sealed under any key but eu-1-a's sending key, posted as eu-1-a; the US node posting
            # as itself, which has no link
            forged = await client.post(msgs, json={"messages": [link_b.channel.seal({"type": "track"})]})
            linkless = await client.post(nodes["eu-2-a"].http_url + messages_path("us-1-a"),
                                         json={"messages": announce})
            flood = await client.post(msgs, json={"messages": ["x"] * (MAX_MESSAGES + 1)})
            # a replay is skipped and counted, never applied again (a post its sender retried after a timeout is
            # one: sfu/cascade/stall.py); the rest are refused
            assert replayed.status_code == 200 and replayed.json() == {"applied": 0}
            assert b.refused["relay_message_replayed"] == 1
            assert [r.json()["error"] for r in (forged, linkless, flood)] == [
                "relay_message_forged", "relay_no_link", "relay_message_malformed"]
            assert set(link_b.receiving) == {0x43430001} and len(heard) == 1

        b.close("eu-1-a")
        a.close("eu-2-a")
        assert len(nodes["eu-2-a"].node.peers._free) == free_b
