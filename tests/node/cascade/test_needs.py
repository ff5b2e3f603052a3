"""What crosses a relay link is what the far node's subscribers take (sfu/allocation/relaying.py, sfu/cascade/
meeting.py), and their keyframe requests reach the publisher (sfu/cascade/feedback.py): two nodes built by the
factory under uvicorn on loopback, enrolled keys, the real handshake; a real publisher (aiortc) on the meeting's
home eu-1-a, participants on eu-2-a.

A participant of eu-2-a that subscribes to nothing makes eu-2-a dial the home and learn alice's tracks, but
nothing crosses; bob subscribing makes both cross (eu-2-a's sealed `need`), bob leaving pauses them again. Bob's
PLI reaches alice's RTCP stack through the far node, the link and the keyframe throttle (a burst of five PLIs
is one request on the link and one to her). The attacker's view: a need forged by a path attacker is refused; the far node itself (enrolled,
of an allowed region) asking for another meeting's track on the home gets it left out, counted, nothing crosses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import httpx
import pytest

from loadtests import media
from loadtests.bots.netbot import short_gop_video
from loadtests.bots.peer import Bot
from native.threaded import held
from residency.relay import RelayChannel
from sfu.cascade.dial import send
from sfu.cascade.link import NEED_BURST, scoped
from sfu.cascade.routes import MAX_MESSAGES, messages_path
from signalling.tokens.claims import JoinClaims
from tests.harness import wait_for
from tests.node.cascade.nodes import relayed_nodes

pytest.importorskip("native.engine")
pytestmark = pytest.mark.timeout(150)

NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"))
KEY = ("eurocorp", "board")
OTHER = ("eurocorp", "audit")  # another meeting on the same home node


def test_only_what_far_subscribers_take_crosses_and_their_keyframe_requests_reach_the_publisher() -> None:
    asyncio.run(_run())


async def _run() -> None:
    bots: list[Bot] = []
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: "eu-1-a")
        a, b = nodes["eu-1-a"], nodes["eu-2-a"]
        assert a.relays is not None and b.relays is not None
        try:
            pub = Bot(a.ws_url, a.token(KEY[1], participant="alice", tenant=KEY[0], name="alice"), "alice")
            bots.append(pub)
            await pub.connect()
            await pub.publish(video=str(short_gop_video(gop=90, fps=15, bitrate=300_000)),
                              audio=str(media.audio_file()))
            # every keyframe request reaching alice's own RTCP stack (aiortc's sender answers PLI/FIR with it)
            sender = next(t.sender for t in pub.pc.getTransceivers() if t.kind == "video")
            asked: list[float] = []
            answer = sender._send_keyframe
            sender._send_keyframe = lambda: (asked.append(time.monotonic()), answer())[1]  # type: ignore[method-assign]

            # a participant of eu-2-a who subscribes to nothing: eu-2-a dials the home and learns alice's tracks
            b.node.join(JoinClaims(tenant=KEY[0], room=KEY[1], participant="lurker", region="eu-2", node="eu-2-a"))

            def relayed() -> bool:
                room = b.node.rooms.get(KEY)
                alice = room.participants.get("alice") if room is not None else None
                return alice is not None and len(alice.published) == 2
            assert await wait_for(relayed, 20), (dict(a.relays.refused), dict(b.relays.refused))
            link = a.relays.links["eu-2-a"]
            far = b.relays.links["eu-1-a"]
            alice = a.node.rooms[KEY].participants["alice"]
            ids = {t.id for t in alice.published.values()}
            video = next(t for t in alice.published.values() if t.kind == "video")
            assert set(link.sending) == ids
            assert await wait_for(lambda: far.meetings[KEY].asked == {} and link.meetings[KEY].needs == {}, 5), (
                far.meetings[KEY].asked, link.meetings[KEY].needs)
            await asyncio.sleep(1.0)  # alice sends all along: nobody on eu-2-a takes it, nothing crosses
            assert not any(c.crossing for c in link.sending.values())
            assert a.node.media_engine.counters()["forwarded_packets"] == 0

            # bob on eu-2-a subscribes to both: eu-2-a says so, the home sends each once, bob decodes them
            sub = Bot(b.ws_url, b.token(KEY[1], participant="bob", tenant=KEY[0], name="bob"), "bob")
            bots.append(sub)
            await sub.connect()
            await sub.negotiate()  # alice's tracks are in its snapshot
            assert await wait_for(lambda: any(r.frames > 20 for r in sub.video())
                                  and any(r.frames > 20 for r in sub.audio()), 30), (sub.video(), sub.audio())
            assert link.meetings[KEY].needs == dict.fromkeys(ids, {0}) and all(c.crossing for c in link.sending.values())

            # bob's PLI: eu-2-a passes it to the relayed track's publisher — the link — and the home to alice
            bob = b.node.rooms[KEY].participants["bob"]
            bob_sub = next(s for s in bob.subscriptions.values() if s.track.id == video.id)
            receiver = next(t.receiver for t in sub.pc.getTransceivers() if t.mid == bob_sub.mid)
            relayed_video = b.node.rooms[KEY].participants["alice"].published[video.id]
            assert await wait_for(lambda: time.monotonic() - max(video.last_keyframe_request,
                                                                 relayed_video.last_keyframe_request) > 0.6, 10)
            before = (len(asked), b.node.counts["pli"], a.node.counts["relay_keyframe_requests"],
                      a.node.counts["keyframe_requests"])
            # a burst: eu-2-a's throttle (the same as for a local publisher) lets one cross the link, the home's
            # lets one reach alice
            for _ in range(5):
                await receiver._send_rtcp_pli(bob_sub.ssrc)
            assert await wait_for(lambda: b.node.counts["pli"] >= before[1] + 5
                                  and a.node.counts["relay_keyframe_requests"] > before[2], 10), (
                b.node.counts["pli"], a.node.counts["relay_keyframe_requests"], before)
            assert await wait_for(lambda: len(asked) > before[0], 10), (len(asked), before)
            # (one more of each if a retry fell due meanwhile)
            assert a.node.counts["relay_keyframe_requests"] - before[2] <= 2
            assert a.node.counts["keyframe_requests"] - before[3] <= 2
            assert not a.node.control_drops["relay_rtcp_unknown_ssrc"]

            # a path attacker posting a need as eu-2-a (keys it made up): refused, nothing changes
            async with httpx.AsyncClient() as client:
                forged = RelayChannel(os.urandom(32), os.urandom(32)).seal({"type": "need", "tracks": {}})
                r = await client.post(a.http_url + messages_path("eu-2-a"), json={"messages": [forged]})
                assert r.status_code == 403 and r.json()["error"] == "relay_message_forged"
                assert link.meetings[KEY].needs == dict.fromkeys(ids, {0}) and all(c.crossing for c in link.sending.values())

                # another meeting on the home: carol publishes in it. eu-2-a itself asks for her track (a
                # compromised far node, sealing with its genuine link keys): left out and counted
                carol = Bot(a.ws_url, a.token(OTHER[1], participant="carol", tenant=OTHER[0], name="carol"), "carol")
                bots.append(carol)
                await carol.connect()
                await carol.publish(video=str(short_gop_video(gop=8, fps=15, bitrate=200_000)))
                assert await wait_for(lambda: bool(a.node.rooms.get(OTHER) and a.node.rooms[OTHER].tracks()), 10)
                theirs = next(iter(a.node.rooms[OTHER].tracks())).id
                hostile = far.channel.seal(scoped(KEY, {"type": "need", "tracks": {**dict.fromkeys(ids, [0]), theirs: [2]}}))
                assert await send(b.relays, "eu-1-a", [hostile], client) == 1
                assert a.relays.refused["relay_need_unknown_track"] == 1
                await asyncio.sleep(1.0)  # two passes of the home's cascade
                assert set(link.sending) == ids and theirs not in link.meetings[KEY].needs
                carol_track = next(iter(a.node.rooms[OTHER].tracks()))
                assert not carol_track.subscriptions and len(b.node.tracks_by_ssrc) == 2

                # eu-2-a asks for layers alice's tracks do not have (each has one): left out and counted
                unknown = a.relays.refused["relay_need_unknown_layer"]
                wrong = far.channel.seal(scoped(KEY, {"type": "need", "tracks": {t: [0, 2] for t in ids}}))
                assert await send(b.relays, "eu-1-a", [wrong], client) == 1
                assert a.relays.refused["relay_need_unknown_layer"] == unknown + 2
                assert link.meetings[KEY].needs == dict.fromkeys(ids, {0})
                # then floods the home with need changes (alice's video needed, not needed, needed...): past the
                # rate they are dropped and counted, the link stays, what crosses changes at most once a pass, and
                # alice is asked for keyframes no faster than the throttle lets local subscribers ask
                flooded, requests, answered = (a.relays.refused["relay_need_flood"],
                                               a.node.counts["keyframe_requests"], len(asked))
                toggles = [far.channel.seal(scoped(KEY, {"type": "need", "tracks": {
                    t: [0] for t in ids if n % 2 or t != video.id}})) for n in range(MAX_MESSAGES)]
                assert await send(b.relays, "eu-1-a", toggles, client) == MAX_MESSAGES
                dropped = a.relays.refused["relay_need_flood"] - flooded
                # (every other one past the burst repeats what stands: no change, taken)
                assert dropped >= (MAX_MESSAGES - NEED_BURST) // 2 - 2, dropped
                far.meetings[KEY].asked = None  # (eu-2-a's next pass says its genuine need again)
                await asyncio.sleep(1.5)  # three passes of the home's cascade
                assert link.meetings[KEY].needs == dict.fromkeys(ids, {0})
                assert a.node.counts["keyframe_requests"] - requests <= 4, a.node.counts["keyframe_requests"] - requests
                assert len(asked) - answered <= 4 and "eu-2-a" in a.relays.links
                frames = max(r.frames for r in sub.video())
                assert await wait_for(lambda: max(r.frames for r in sub.video()) > frames + 10, 20)  # bob watches on

            # bob leaves: nobody on eu-2-a takes alice's tracks — they stop crossing, still announced there
            await sub.send({"type": "leave"})
            await sub.close()
            bots.remove(sub)
            assert await wait_for(lambda: not any(c.crossing for c in link.sending.values()), 10), link.sending
            forwarded = a.node.media_engine.counters()["forwarded_packets"]
            await asyncio.sleep(1.0)
            assert a.node.media_engine.counters()["forwarded_packets"] == forwarded
            assert set(link.sending) == ids and "alice" in b.node.rooms[KEY].participants
        finally:
            for bot in bots:
                with contextlib.suppress(Exception):
                    await bot.close()


STAR = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"), ("eu-2-b", "eu-2"))


def test_in_a_star_the_home_asks_the_publishers_node_for_what_a_node_further_on_needs() -> None:
    asyncio.run(_star())


async def _star() -> None:
    """Alice publishes on eu-2-a, bob watches on eu-2-b, nobody on the home eu-1-a: the home's `need` to eu-2-a
    is what eu-2-b asked of it, so alice's tracks cross twice (eu-2-a → home → eu-2-b) and nowhere else; her
    keyframe requests from bob's side go back the same way."""
    bots: list[Bot] = []
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, STAR, home=lambda tenant, room: "eu-1-a")
        home, far, other = nodes["eu-1-a"], nodes["eu-2-a"], nodes["eu-2-b"]
        assert home.relays is not None and far.relays is not None and other.relays is not None
        try:
            pub = Bot(far.ws_url, far.token(KEY[1], participant="alice", tenant=KEY[0], name="alice"), "alice")
            bots.append(pub)
            await pub.connect()
            await pub.publish(video=str(short_gop_video(gop=8, fps=15, bitrate=300_000)),
                              audio=str(media.audio_file()))
            sub = Bot(other.ws_url, other.token(KEY[1], participant="bob", tenant=KEY[0], name="bob"), "bob")
            bots.append(sub)
            await sub.connect()
            assert await wait_for(lambda: any(r.frames > 20 for r in sub.video())
                                  and any(r.frames > 20 for r in sub.audio()), 40), (
                sub.video(), sub.audio(), dict(home.relays.refused), dict(far.relays.refused))
            ids = {t.id for t in far.node.rooms[KEY].participants["alice"].published.values()}
            # the home has no subscriber of its own: what it asks eu-2-a for is eu-2-b's need, passed on
            assert not any(t.subscriptions for t in home.node.rooms[KEY].tracks())
            assert home.relays.links["eu-2-b"].meetings[KEY].needs == dict.fromkeys(ids, {0})
            assert far.relays.links["eu-1-a"].meetings[KEY].needs == dict.fromkeys(ids, {0})
            assert all(c.crossing for c in far.relays.links["eu-1-a"].sending.values())
            assert home.node.counts["relay_keyframe_requests"] >= 1 and far.node.counts["relay_keyframe_requests"] >= 1

            # bob leaves: eu-2-b needs nothing, so the home needs nothing of eu-2-a, and alice's tracks stay home
            other.node.join(JoinClaims(tenant=KEY[0], room=KEY[1], participant="lurker", region="eu-2",
                                       node="eu-2-b"))  # (keeps eu-2-b in the meeting, subscribed to nothing)
            await sub.send({"type": "leave"})
            await sub.close()
            bots.remove(sub)
            assert await wait_for(lambda: not any(c.crossing for c in far.relays.links["eu-1-a"].sending.values()),
                                  10), far.relays.links["eu-1-a"].sending
            assert set(far.relays.links["eu-1-a"].sending) == ids and "eu-2-b" in home.relays.links
            assert home.relays.links["eu-2-b"].meetings[KEY].needs == {}
        finally:
            for bot in bots:
                with contextlib.suppress(Exception):
                    await bot.close()


def test_each_simulcast_layer_far_viewers_need_crosses_once_and_each_viewer_gets_its_own() -> None:
    asyncio.run(_simulcast())


async def _simulcast() -> None:
    """A simulcast publisher (q/h/f) on the home, nobody watching there; on eu-2-a bob renders it as a thumbnail
    and carol full screen. The link carries exactly the low and the top layer, each once on its own SSRC — not
    the middle one, which the publisher is asked to stop — and eu-2-a's own allocation gives bob the low layer and
    carol the top one (she climbs to it as she would from a local publisher), both decoding. Bob's tile grows:
    eu-2-a raises him, the link carrying what he climbs through. What crosses to eu-2-a is one copy per needed
    layer: nothing else leaves the home."""
    from loadtests.bench.simulcast_publisher import publish

    bots: list[Bot] = []
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: "eu-1-a")
        a, b = nodes["eu-1-a"], nodes["eu-2-a"]
        assert a.relays is not None and b.relays is not None
        # the link is up before the publisher: its track is announced as soon as it is published, before all
        # its layers are learned (each from its first packet)
        b.node.join(JoinClaims(tenant=KEY[0], room=KEY[1], participant="lurker", region="eu-2", node="eu-2-a"))
        assert await wait_for(lambda: "eu-2-a" in a.relays.links, 20), dict(a.relays.refused)
        sender = asyncio.create_task(publish(a.ws_url, a.token(KEY[1], participant="cam", tenant=KEY[0]), 120))
        try:
            assert await wait_for(lambda: bool(a.node.rooms.get(KEY)) and any(
                t.simulcast and len(t.layers) == 3 for t in a.node.rooms[KEY].tracks()), 60), sender
            video = next(t for t in a.node.rooms[KEY].tracks() if t.simulcast)
            announced = b.relays.links["eu-1-a"].meetings[KEY].receiving
            assert await wait_for(lambda: [w.layers for _, w in announced.values() if w.kind == "video"] == [
                (0, 1, 2)], 10), announced  # announced with the 3 layers offered, an engine track each
            link = a.relays.links["eu-2-a"]
            q, h, f = (video.layer(r) for r in range(3))
            assert q is not None and h is not None and f is not None

            def crossing() -> set[int]:
                copy = link.sending.get(video.id)
                return set(copy.layers) if copy is not None else set()

            def carried(rank: int) -> bool:  # the copy of that layer crosses on the publisher's very layer
                copy = link.sending.get(video.id)
                layer = a.node.media_engine.subscription_layer(copy.copies[rank].sub) if copy is not None else None
                return (layer is not None and layer[0] == video.layers[rank].index and layer[1] == -1
                        and copy is not None and copy.copies[rank].crossing)

            bob = Bot(b.ws_url, b.token(KEY[1], participant="bob", tenant=KEY[0], name="bob"), "bob")
            bots.append(bob)
            await bob.connect()
            assert await wait_for(lambda: video.id in bob.tracks, 20), (dict(a.relays.refused), bob.tracks)
            await bob.negotiate()
            await bob.send({"type": "viewport", "track": video.id, "width": 320, "height": 180})
            assert await wait_for(lambda: crossing() == {0} and carried(0), 20), (link.sending, link.meetings[KEY].needs)
            assert await wait_for(lambda: any(r.frames > 20 for r in bob.video()), 30), bob.video()

            carol = Bot(b.ws_url, b.token(KEY[1], participant="carol", tenant=KEY[0], name="carol"), "carol")
            bots.append(carol)
            await carol.connect()
            await carol.negotiate()
            await carol.send({"type": "viewport", "track": video.id, "width": 1280, "height": 720})
            room = b.node.rooms[KEY]

            def on(who: str) -> int | None:
                p = room.participants.get(who)
                sub = next((x for x in p.subscriptions.values() if x.track.id == video.id), None) if p else None
                return sub.layer.rank if sub is not None and sub.layer is not None and sub.target is None else None

            # carol climbs (eu-2-a's allocation, at keyframes) to the top layer; bob stays on the low one; the link
            # then carries exactly those two, and the publisher is asked to stop the middle one nobody takes
            assert await wait_for(lambda: on("carol") == 2 and on("bob") == 0 and crossing() == {0, 2}
                                  and carried(0) and carried(2), 60), (
                on("carol"), on("bob"), link.meetings[KEY].needs, link.sending)
            assert link.meetings[KEY].needs[video.id] == {0, 2} and video.relay_ranks == {0, 2}
            assert await wait_for(lambda: video.active_rids.get(h.rid) is False
                                  and video.active_rids.get(f.rid) is True, 10), video.active_rids
            frames = (max(r.frames for r in bob.video()), max(r.frames for r in carol.video()))
            assert await wait_for(lambda: max(r.frames for r in bob.video()) > frames[0] + 20
                                  and max(r.frames for r in carol.video()) > frames[1] + 20, 30)  # both decode

            # what leaves the home for eu-2-a: one copy of each needed layer (and of the audio), nothing else —
            # nobody on the home watches, and the middle layer's copy sends nothing
            engine = a.node.media_engine

            def sent() -> tuple[dict[tuple[str, int], int], int]:
                with held(engine):  # (the copies' counts and the engine's total at one instant)
                    stats = {(t, r): engine.subscription_stats(c.sub) for t, x in link.sending.items()
                             for r, c in x.copies.items()}
                    return ({k: st[0] if st is not None else 0 for k, st in stats.items()},
                            engine.counters()["forwarded_packets"])

            before, forwarded = sent()
            await asyncio.sleep(2.0)
            after, forwarded_after = sent()
            assert crossing() == {0, 2}  # (no move in between)
            delta = {k: after[k] - before.get(k, 0) for k in after}
            assert delta[(video.id, 1)] == 0 and delta[(video.id, 0)] > 0 and delta[(video.id, 2)] > 0, delta
            assert forwarded_after - forwarded == sum(delta.values()), (forwarded_after - forwarded, delta)

            # bob's tile grows: eu-2-a raises him from the low layer (the link carrying the layer he climbs to)
            await bob.send({"type": "viewport", "track": video.id, "width": 1280, "height": 720})
            assert await wait_for(lambda: (on("bob") or 0) >= 1, 60), (on("bob"), link.meetings[KEY].needs)
            frames = (max(r.frames for r in bob.video()), max(r.frames for r in carol.video()))
            assert await wait_for(lambda: max(r.frames for r in bob.video()) > frames[0] + 20
                                  and max(r.frames for r in carol.video()) > frames[1] + 20, 30)
            assert b.node.counts["keyframe_requests"] > 0 and not a.node.control_drops["relay_rtcp_unknown_ssrc"]
        finally:
            for bot in bots:
                with contextlib.suppress(Exception):
                    await bot.close()
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
