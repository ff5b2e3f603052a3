"""Relayed publishers as participants of the far node's room (sfu/cascade/members.py), on two nodes built by the
factory under uvicorn with a real relay link between them (real handshake over HTTP, real engines). The other
node announces tracks on the sealed channel: a genuine one makes its publisher a participant of the room here,
told to the local participant; the other node trying to pose as a local participant, or to reuse a track id of
the room, is refused and counted and changes nothing; `Node.leave` (a host removing everyone, the room ending)
cannot take the link's engine peer away through a relayed participant; an untrack and a closed link remove
them, each told to the local participant."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from residency.relay import RelayTrack
from sfu.cascade.dial import dial, send
from sfu.cascade.link import scoped
from signalling.tokens.claims import JoinClaims
from tests.harness import wait_for
from tests.node.cascade.nodes import relayed_nodes

pytest.importorskip("native.engine")

NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"))
KEY = ("eurocorp", "board")


def _outbox(p) -> list[dict]:  # type: ignore[no-untyped-def]
    """What the node queued for `p`, presence batches unpacked into their changes (protocol 2)."""
    out = []
    while not p.outbox.empty():
        m = p.outbox.get_nowait()
        m = dict(m)
        out.extend(m["changes"] if m.get("type") == "presence" else [m])
    return out


def test_relayed_publishers_join_and_leave_the_far_room_and_cannot_pose_as_local_ones() -> None:
    asyncio.run(_run())


async def _run() -> None:
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, NODES)
        a, b = nodes["eu-1-a"], nodes["eu-2-a"]
        assert a.relays is not None and b.relays is not None
        bob = b.node.join(JoinClaims(tenant=KEY[0], room=KEY[1], participant="bob", region="eu-2", node="eu-2-a"))
        room = b.node.rooms[KEY]

        async with httpx.AsyncClient() as client:
            link = await dial(a.relays, *KEY, "eu-2-a", client)
            far = b.relays.links["eu-1-a"]

            async def announce(*messages: dict) -> None:
                await send(a.relays, "eu-2-a", [link.channel.seal(scoped(KEY, m)) for m in messages], client)

            cam = RelayTrack("TR_cam", "alice", "video", "vp8", 0x43430001, (0,))
            mic = RelayTrack("TR_mic", "alice", "audio", "opus", 0x43430002, (0,))
            await announce(cam.to_message(), mic.to_message())
            alice = room.participants["alice"]
            assert alice.relayed_from == "eu-1-a" and alice.peer == far.peer
            assert {t.id: tuple(lyr.index for lyr in t.layers) for t in alice.published.values()} == {
                "TR_cam": far.receiving[0x43430001][0], "TR_mic": far.receiving[0x43430002][0]}
            told = _outbox(bob)
            assert [m["type"] for m in told] == ["participant_joined", "track_published", "track_published"]
            assert b.node.snapshot(bob)["participants"] == [{"id": "alice", "name": "alice", "host": False}]
            assert "alice" in room.speakers.scores

            # a keyframe request from this side for alice's camera reaches eu-1-a as RTCP from the link; eu-1-a
            # sends no copy with that SSRC (these announcements were sealed by hand): a counted drop, no PLI
            b.node.keyframes.request(alice.published["TR_cam"], force=True)
            assert await wait_for(lambda: a.node.control_drops["relay_rtcp_unknown_ssrc"] == 1, 5), a.node.control_drops
            assert a.node.counts["relay_keyframe_requests"] == 0

            # the other node poses as bob (a participant of this node), then reuses alice's track id for "eve"
            await announce(RelayTrack("TR_x", "bob", "video", "vp8", 0x43430003, (0,)).to_message(),
                           RelayTrack("TR_cam", "eve", "audio", "opus", 0x43430004, (0,)).to_message())
            assert b.members is not None
            assert dict(b.members.refused) == {"relay_participant_clash": 1, "relay_track_clash": 1}
            assert bob.relayed_from is None and not bob.published and set(room.participants) == {"bob", "alice"}
            assert not _outbox(bob)

            # the room's end (or a host's remove) cannot take the link's engine peer through alice
            b.node.leave(alice, reason="removed_by_host")
            assert room.participants["alice"] is alice and b.relays.links["eu-1-a"] is far

            # alice stops her camera, then her microphone: she leaves this room with her last track
            await announce({"type": "untrack", "ssrc": 0x43430001})
            assert set(alice.published) == {"TR_mic"} and [m["type"] for m in _outbox(bob)] == ["track_unpublished"]
            await announce({"type": "untrack", "ssrc": 0x43430002})
            assert "alice" not in room.participants
            assert [(m["type"], m.get("reason")) for m in _outbox(bob)] == [
                ("track_unpublished", None), ("participant_left", "relay_untracked")]

            # a new publisher with three layers: a simulcast track here, a layer per SSRC (0x43430005 + rank)
            await announce(RelayTrack("TR_cam2", "carol", "video", "vp8", 0x43430005, (0, 1, 2)).to_message())
            assert "carol" in room.participants
            cam2 = room.participants["carol"].published["TR_cam2"]
            assert cam2.simulcast and [(lyr.rank, lyr.ssrc) for lyr in cam2.layers] == [
                (0, 0x43430005), (1, 0x43430006), (2, 0x43430007)]
            assert [lyr.index for lyr in cam2.layers] == list(far.receiving[0x43430005][0])
            assert {b.node.tracks_by_ssrc[(far.peer, 0x43430005 + r)].id for r in range(3)} == {"TR_cam2"}
            # (then the link closes: it leaves too)
            b.relays.close("eu-1-a")
            assert set(room.participants) == {"bob"} and not b.node.tracks_by_ssrc
            assert _outbox(bob)[-1] == {"type": "participant_left", "participant": "carol", "reason": "relay_closed"}
        a.relays.close("eu-2-a")
        b.node.leave(bob)
        assert KEY not in b.node.rooms
