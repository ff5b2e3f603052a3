"""A far node's speaker levels reaching this node's detection (sfu/cascade/levels.py, sfu/cascade/members.py), on
three nodes built by the factory under uvicorn with real relay links (real handshakes over HTTP, real engines):
eu-2-a holds bob (a local participant); eu-1-a announces alice (a microphone) and dave (a camera only); eu-2-b
announces carol (a microphone). Nobody on eu-2-a takes anyone's audio.

Alice's levels from eu-1-a make her eu-2-a's dominant speaker. The attacker's view — eu-1-a enrolled and allowed,
but hostile: its levels for bob (this node's participant), carol (eu-2-b's), dave (its own, but with no audio) or
a name nobody has are refused and counted, and none of them moves; values out of range are refused; more than
the backlog is dropped and counted; a flood of messages past the rate is dropped and counted; levels of a meeting
not on the link reach no room."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest

from residency.errors import RelayRefused
from residency.relay import RelayTrack
from sfu.cascade.dial import dial, send
from sfu.cascade.levels import LEVEL_BACKLOG
from sfu.cascade.link import LEVEL_BURST, scoped
from signalling.tokens.claims import JoinClaims
from tests.harness import wait_for
from tests.node.cascade.nodes import relayed_nodes

pytest.importorskip("native.engine")
pytestmark = pytest.mark.timeout(120)

NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"), ("eu-2-b", "eu-2"))
KEY = ("eurocorp", "board")
OTHER = ("eurocorp", "audit")


def test_far_levels_make_only_that_nodes_own_speakers_speak_here() -> None:
    asyncio.run(_run())


async def _run() -> None:
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, NODES)
        a, b, c = nodes["eu-1-a"], nodes["eu-2-a"], nodes["eu-2-b"]
        ra = a.relays
        assert ra is not None and b.relays is not None and c.relays is not None and b.members is not None
        b.node.join(JoinClaims(tenant=KEY[0], room=KEY[1], participant="bob", region="eu-2", node="eu-2-a"))
        room = b.node.rooms[KEY]
        async with httpx.AsyncClient() as client:
            hostile = await dial(ra, *KEY, "eu-2-a", client)
            other = await dial(c.relays, *KEY, "eu-2-a", client)

            async def from_a(*messages: dict[str, Any], key: tuple[str, str] = KEY) -> None:
                await send(ra, "eu-2-a", [hostile.channel.seal(scoped(key, m)) for m in messages], client)

            await from_a(RelayTrack("TR_amic", "alice", "audio", "opus", 0x43430001, (0,)).to_message(),
                         RelayTrack("TR_dcam", "dave", "video", "vp8", 0x43430002, (0,)).to_message())
            await send(c.relays, "eu-2-a", [other.channel.seal(scoped(KEY, RelayTrack(
                "TR_cmic", "carol", "audio", "opus", 0x43430003, (0,)).to_message()))], client)
            assert set(room.participants) == {"bob", "alice", "dave", "carol"}

            refused = b.members.refused
            # the hostile node speaks for everyone but its own microphone: each refused, counted, nothing queued
            await from_a({"type": "levels", "levels": {"bob": [127] * 5, "carol": [127] * 5, "dave": [127] * 5,
                                                       "nobody": [127] * 5}})
            assert refused["relay_level_not_owned"] == 4
            assert not any(room.far_levels.queues.get(p) for p in ("bob", "carol", "dave", "nobody"))
            # ... and for a meeting it has not opened on the link: dropped before any room
            await from_a({"type": "levels", "levels": {"alice": [127] * 5}}, key=OTHER)
            assert b.relays.refused["relay_meeting_unknown"] == 1
            # out of range: the message refused
            with pytest.raises(RelayRefused):
                await from_a({"type": "levels", "levels": {"alice": [128]}})
            assert b.relays.refused["relay_message_malformed"] == 1

            # alice speaking, as eu-1-a's passes would send it (a message of 5 intervals each half second):
            # she becomes the speaker here, though no audio of hers reaches this node
            for _ in range(8):
                await from_a({"type": "levels", "levels": {"alice": [100] * 5}})
                await asyncio.sleep(0.5)
            assert await wait_for(lambda: room.speakers.dominant == "alice", 3), room.speakers.scores
            assert room.speakers.scores["bob"] == room.speakers.scores["carol"] == 0.0
            assert b.node.media_engine.audio_activity(room.participants["alice"].published["TR_amic"].index) in (
                None, (0, 0, 0))  # nothing of her audio came here: only her node's word, within its bounds

            # more than the backlog at once: the rest dropped and counted (one is taken per interval anyway)
            before = refused["relay_level_overflow"]
            await from_a({"type": "levels", "levels": {"alice": [100] * 10}},
                         {"type": "levels", "levels": {"alice": [100] * 10}})
            assert refused["relay_level_overflow"] - before >= 20 - LEVEL_BACKLOG - 2  # (the node's loop took a few)
            # a flood of messages: past the burst they are dropped and counted
            await from_a(*({"type": "levels", "levels": {"alice": [100]}} for _ in range(3 * int(LEVEL_BURST))))
            assert b.relays.refused["relay_level_flood"] >= LEVEL_BURST
            assert refused["relay_level_not_owned"] == 4

            # alice's microphone gone: her queued levels go with it, and she is silent from then on
            await from_a({"type": "untrack", "ssrc": 0x43430001})
            assert "alice" not in room.far_levels.queues
        ra.close("eu-2-a")
        c.relays.close("eu-2-a")
