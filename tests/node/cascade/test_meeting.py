"""One meeting on two nodes, wired by the node itself (sfu/cascade/meeting.py, members.py): three nodes built by
the product's factory under uvicorn on loopback, with real enrolled keys and signed records. The meeting's home
is eu-1-a; a subscriber joins eu-2-a, which dials eu-1-a on its own, and decodes the publisher's video and audio
through the relay; on eu-2-a the publisher is a participant of the room (relayed, with its tracks, in the
`joined` snapshot and speaker detection). A US node that is told (by a lying registry) that the meeting's home is
eu-1-a and has a participant of it dials too: refused, it learns no track, its participant receives nothing.
When the publisher leaves, it leaves eu-2-a's room too; when eu-2-a's last participant leaves, the link closes."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from loadtests.bots.peer import Bot
from tests.harness import wait_for
from tests.node.cascade.nodes import alice_publishes_bob_joins, relayed_nodes

pytest.importorskip("native.engine")
pytestmark = pytest.mark.timeout(120)

NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"), ("us-1-a", "us-1"))
KEY = ("eurocorp", "board")


def test_a_meeting_on_two_nodes_relays_its_publisher_and_a_us_node_gets_nothing() -> None:
    asyncio.run(_run())


async def _run() -> None:
    bots: list[Bot] = []
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: "eu-1-a")  # every meeting placed on eu-1-a
        a, b, us = (nodes[n] for n in ("eu-1-a", "eu-2-a", "us-1-a"))
        try:
            pub, sub = await alice_publishes_bob_joins(a, b, KEY, bots)
            spy = Bot(us.ws_url, us.token(*KEY[1:], participant="mallory", tenant=KEY[0], name="mallory"), "mallory")
            bots.append(spy)
            await spy.connect()

            # eu-2-a dialled the home by itself; alice is a (relayed) participant of its room, with both tracks
            def relayed() -> bool:
                room = b.node.rooms.get(KEY)
                alice = room.participants.get("alice") if room is not None else None
                return alice is not None and len(alice.published) == 2
            assert await wait_for(relayed, 20), (b.relays and dict(b.relays.refused), a.relays and dict(a.relays.refused))
            alice = b.node.rooms[KEY].participants["alice"]
            assert alice.relayed_from == "eu-1-a" and "alice" in b.node.rooms[KEY].speakers.scores
            ids = {t.id for t in alice.published.values()}
            assert await wait_for(lambda: set(sub.tracks) == ids, 5), sub.tracks  # track_published reached bob
            # bob decodes alice's video and audio, relayed once from eu-1-a
            assert await wait_for(lambda: any(r.frames > 20 for r in sub.video())
                                  and any(r.frames > 20 for r in sub.audio()), 30), (sub.video(), sub.audio())
            assert a.relays is not None and set(a.relays.links) == {"eu-2-a"}
            assert len(a.relays.links["eu-2-a"].sending) == 2  # one copy per track, whoever subscribes there
            # keyframe requests crossed: the copy's start, and bob's subscription's request from eu-2-a
            assert a.node.counts["relay_keyframe_requests"] >= 2 and not a.node.control_drops["relay_rtcp_unknown_ssrc"]

            # a newcomer on eu-2-a sees alice in its snapshot, like a local participant
            carol = Bot(b.ws_url, b.token(*KEY[1:], participant="carol", tenant=KEY[0], name="carol"), "carol")
            bots.append(carol)
            snapshot = await carol.connect()
            assert "alice" in {p["id"] for p in snapshot["participants"]}
            assert {t["participant"] for t in snapshot["tracks"]} == {"alice"}

            # the attacker's view: the US node dialled the same home and was refused; nothing of the meeting
            assert us.relays is not None and a.relays is not None
            assert await wait_for(lambda: a.relays.refused["relay_region_not_allowed"] >= 1, 10), a.relays.refused
            assert us.relays.refused["relay_peer_refused"] >= 1 and not us.relays.links
            assert set(us.node.rooms[KEY].participants) == {"mallory"} and not us.node.tracks_by_ssrc
            await asyncio.sleep(1.0)  # (it was told of no track to subscribe to)
            assert not spy.tracks and not spy.video() and not spy.audio()
            assert us.node.media_engine.counters()["forwarded_packets"] == 0

            # alice leaves: she leaves eu-2-a's room too, and bob is told
            await pub.send({"type": "leave"})
            await pub.close()
            bots.remove(pub)
            assert await wait_for(lambda: "alice" not in b.node.rooms[KEY].participants, 10)
            assert await wait_for(lambda: "alice" not in sub.participants, 5), sub.messages[-5:]
            assert not b.node.tracks_by_ssrc

            # eu-2-a's participants leave: its room goes, and so does the link
            for bot in (sub, carol):
                await bot.send({"type": "leave"})
                await bot.close()
                bots.remove(bot)
            assert await wait_for(lambda: KEY not in b.node.rooms and b.relays is not None and not b.relays.links, 10)
        finally:
            for bot in bots:
                with contextlib.suppress(Exception):
                    await bot.close()
