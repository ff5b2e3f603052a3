"""Two meetings between the same two nodes, at once, over one relay link (sfu/cascade/relays.py, link.py,
meeting.py, handshakes.py): two nodes built by the factory under uvicorn on loopback, enrolled keys, the real
handshake; every meeting placed on eu-1-a. Alice publishes in "board" and Carol in "audit" on eu-1-a; Bob
watches "board" and Dave "audit" on eu-2-a. The first meeting opens the link, the second is added to it (one
engine peer, one link object on each side throughout), and both get their media across at once — each only its
own meeting's.

The attacker's view: eu-2-a itself (enrolled, of an allowed region, sealing with the link's genuine keys) names
the other meeting in its messages — a `need` for Carol's track in "board", a track announced for a meeting the
link does not carry, an MLS handshake in "board" in the name of Dave (announced in "audit"), a meeting whose
tenant does not allow eu-2: each a counted refusal, nothing of it reaches anyone. An honest eu-2-a does not even
offer that last meeting: it checks the tenant's regions itself.

Dave leaves: "audit" is taken off the link (its `close` naming it), Bob's media goes on over the same link. A post
the home refuses closes the link on eu-2-a, which sends its `close` (not waiting for a keepalive to be refused):
the home closes its side at once, and Bob's meeting comes back over a new link."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from loadtests import media
from loadtests.bots.netbot import short_gop_video
from loadtests.bots.peer import Bot
from sfu.cascade.link import scoped
from sfu.metrics import RelayCollector
from signalling.tokens.claims import JoinClaims
from tests.harness import RunningNode, wait_for
from tests.node.cascade.nodes import EU, relayed_nodes

pytest.importorskip("native.engine")
pytestmark = pytest.mark.timeout(180)

NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"))
BOARD = ("eurocorp", "board")
AUDIT = ("eurocorp", "audit")
HOMEONLY = ("homecorp", "standup")  # a tenant that allows eu-1 only


def allowed(tenant: str) -> frozenset[str]:
    return frozenset({"eu-1"}) if tenant == HOMEONLY[0] else EU


def test_two_meetings_share_one_link_and_neither_reaches_the_other() -> None:
    asyncio.run(_run())


def _relay_metrics(rn: RunningNode) -> dict[str, float]:
    """The node's relay metrics as Prometheus renders them, by name and reason (node and region labels dropped)."""
    assert rn.relays is not None
    registry = CollectorRegistry()
    registry.register(RelayCollector(rn.node, rn.relays))
    out: dict[str, float] = {}
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("castellan_relay"):
            name, value = line.rsplit(" ", 1)
            label = re.search(r'(reason|direction)="([^"]+)"', name)
            out[name.split("{")[0] + (f'{{{label.group(1)}="{label.group(2)}"}}' if label else "")] = float(value)
    return out


def _frames(bot: Bot) -> int:
    return max((r.frames for r in bot.video()), default=0)


async def _join(rn: RunningNode, key: tuple[str, str], who: str, bots: list[Bot]) -> Bot:
    bot = Bot(rn.ws_url, rn.token(key[1], participant=who, tenant=key[0], name=who), who)
    bots.append(bot)
    await bot.connect()
    return bot


async def _run() -> None:
    bots: list[Bot] = []
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: "eu-1-a", allowed=allowed)
        a, b = nodes["eu-1-a"], nodes["eu-2-a"]
        assert a.relays is not None and b.relays is not None and a.handshakes is not None
        try:
            alice = await _join(a, BOARD, "alice", bots)
            await alice.publish(video=str(short_gop_video(gop=8, fps=15, bitrate=200_000)),
                                audio=str(media.audio_file()))
            carol = await _join(a, AUDIT, "carol", bots)
            await carol.publish(video=str(short_gop_video(gop=8, fps=15, bitrate=200_000)))
            bob = await _join(b, BOARD, "bob", bots)
            assert await wait_for(lambda: "eu-2-a" in a.relays.links and "eu-1-a" in b.relays.links, 20), (
                dict(a.relays.refused), dict(b.relays.refused))
            link, far = a.relays.links["eu-2-a"], b.relays.links["eu-1-a"]
            dave = await _join(b, AUDIT, "dave", bots)

            # the second meeting is added to the same link; both get their media across at once
            assert await wait_for(lambda: link.up(AUDIT) is not None and far.up(AUDIT) is not None, 10), (
                link.meetings, far.meetings, dict(a.relays.refused))
            assert await wait_for(lambda: _frames(bob) > 20 and _frames(dave) > 20, 40), (bob.video(), dave.video())
            assert a.relays.links["eu-2-a"] is link and b.relays.links["eu-1-a"] is far
            assert set(link.meetings) == set(far.meetings) == {BOARD, AUDIT}
            # each only its own meeting's tracks and participants
            board_ids = {t.id for t in a.node.rooms[BOARD].tracks() if t.owner.id == "alice"}
            audit_ids = {t.id for t in a.node.rooms[AUDIT].tracks() if t.owner.id == "carol"}
            assert set(bob.tracks) == board_ids and set(dave.tracks) == audit_ids
            assert set(b.node.rooms[BOARD].participants) == {"alice", "bob"}
            assert set(b.node.rooms[AUDIT].participants) == {"carol", "dave"}
            assert set(link.meetings[BOARD].sending) == board_ids and set(link.meetings[AUDIT].sending) == audit_ids

            # the attacker's view: eu-2-a names the other meeting with its genuine keys
            hs = b.handshakes
            assert hs is not None
            before = dict(a.relays.refused)
            carol_track = next(iter(audit_ids))
            crossing = {t for t, c in link.meetings[AUDIT].sending.items() if c.crossing}
            b.relays.outbox.setdefault("eu-1-a", []).extend([
                # Carol's track asked for in "board"
                far.channel.seal(scoped(BOARD, {"type": "need", "tracks": {**dict.fromkeys(board_ids, [0]),
                                                                           carol_track: [2]}})),
                # a track announced for a meeting the link does not carry
                far.channel.seal(scoped(("eurocorp", "secret"), {"type": "track", "track": "x", "participant": "m",
                                                                 "kind": "video", "codec": "vp8", "ssrc": 0x7777,
                                                                 "layers": [0]})),
                # a meeting whose tenant does not allow eu-2
                far.opening(HOMEONLY),
            ])
            lane = hs.lanes[("eu-1-a", BOARD)]  # an MLS handshake in "board", in the name of "audit"'s Dave
            lane.seal({"type": "mls", "from": "dave", "message": {"type": "mls_key_package", "data": "AAAA"}})
            lane.wire.wake.set()
            assert await wait_for(lambda: a.relays.refused["relay_need_unknown_track"] > before.get(
                "relay_need_unknown_track", 0) and a.relays.refused["relay_meeting_unknown"] > 0
                and a.relays.refused["relay_region_not_allowed"] > 0 and a.handshakes is not None
                and a.handshakes.counts["handshake_not_theirs"] > 0, 10), (dict(a.relays.refused), a.handshakes.counts)
            # what an operator sees of it (the node's /metrics): one link, two meetings, the refusals by code
            scraped = _relay_metrics(a)
            assert scraped["castellan_relay_links"] == 1 and scraped["castellan_relay_meetings"] >= 2, scraped
            assert scraped['castellan_relay_refusals_total{reason="relay_meeting_unknown"}'] >= 1, scraped
            # and where the link's packets went: what eu-1-a sent across, eu-2-a received (sfu/accounting.py)
            far_scraped = _relay_metrics(b)
            assert scraped['castellan_relay_link_packets{direction="sent"}'] > 0, scraped
            assert far_scraped['castellan_relay_link_packets{direction="received"}'] > 0, far_scraped
            # the home refused the meeting (and said `close`): it is off the link on both sides, nothing of it opened
            assert await wait_for(lambda: HOMEONLY not in far.meetings, 5), far.meetings
            assert HOMEONLY not in link.meetings and HOMEONLY not in a.node.rooms
            assert carol_track not in link.meetings[BOARD].needs and 0x7777 not in link.receiving
            assert {t for t, c in link.meetings[AUDIT].sending.items() if c.crossing} == crossing
            assert not a.node.rooms[BOARD].group.members & {"dave"}
            assert set(a.node.rooms[BOARD].participants) == {"alice", "bob"}
            assert a.relays.links["eu-2-a"] is link and a.relays.closed_by_peer["eu-2-a"] == 0
            # an honest eu-2-a carrying a participant of that tenant's meeting (let in by a bug): it checks the
            # tenant's regions itself before it adds the meeting, and sends nothing of it
            refused = b.relays.refused["relay_region_not_allowed"]
            b.node.join(JoinClaims(tenant=HOMEONLY[0], room=HOMEONLY[1], participant="eve", region="eu-2",
                                   node="eu-2-a"))
            assert await wait_for(lambda: b.relays.refused["relay_region_not_allowed"] > refused, 10), b.relays.refused
            await asyncio.sleep(0.6)  # a pass of each side's cascade
            assert HOMEONLY not in far.meetings and HOMEONLY not in link.meetings and HOMEONLY not in a.node.rooms

            # Dave leaves: "audit" comes off the link; Bob's media goes on over the same link
            await dave.send({"type": "leave"})
            await dave.close()
            bots.remove(dave)
            assert await wait_for(lambda: AUDIT not in link.meetings and AUDIT not in far.meetings, 10), link.meetings
            assert a.relays.left_by_peer["eu-2-a"] == 1 and set(a.node.rooms[AUDIT].participants) == {"carol"}
            assert not any(t.subscriptions for t in a.node.rooms[AUDIT].tracks())
            frames = _frames(bob)
            assert await wait_for(lambda: _frames(bob) > frames + 20, 20), bob.video()
            assert a.relays.links["eu-2-a"] is link and b.relays.links["eu-1-a"] is far and link.up(BOARD)

            # a post the home refuses (a malformed message): eu-2-a closes the link and says so; the home closes
            # its side on that `close`, not when a keepalive of its own is refused
            b.relays.outbox.setdefault("eu-1-a", []).append(far.channel.seal({"type": "hello"}))
            assert await wait_for(lambda: a.relays.closed_by_peer["eu-2-a"] == 1, 10), dict(a.relays.refused)
            assert b.relays.refused["relay_peer_refused"] >= 1
            # bob is still on eu-2-a: a new link (fresh keys), and his meeting's media comes back over it
            assert await wait_for(lambda: a.relays.links.get("eu-2-a") not in (None, link), 20)
            frames = _frames(bob)
            assert await wait_for(lambda: _frames(bob) > frames + 20, 30), bob.video()
            assert set(a.relays.links["eu-2-a"].meetings) == {BOARD}
        finally:
            for bot in bots:
                with contextlib.suppress(Exception):
                    await bot.close()
