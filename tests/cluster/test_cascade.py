"""One meeting across two node processes of two allowed regions (issue 14, "Cascading"), on loopback: a real
redis-server, a `castellan control-plane` process and three `castellan node` processes — eu-1a (eu-1), eu-2a
(eu-2) and us-1a (us-1), each with its own enrolled key. An EU tenant (EU regions only) meets:

  * the publisher asks for eu-1 and is placed there (the meeting's home); the subscriber asks for eu-2 and is
    placed on eu-2a (`place_participant`): two nodes, one meeting;
  * eu-2a learns the meeting's home from the registry, dials eu-1a (signed handshake, both regions allowed), and
    the subscriber decodes the publisher's video and audio through the relay; on eu-2a the publisher is a
    participant of the room (the subscriber's `participant_joined`, `track_published`);
  * the attacker's view: a participant asking for us-1 is placed on a node of the meeting in the EU (never
    us-1a, although it is idle),
    and us-1a — enrolled, registered, alive — holds no room, no participant, and its engine received no packet.
    When the publisher leaves, the subscriber is told it left.

(The capture on a third region's own network link, with namespaces, is tests/cluster/test_region_proof.py's kind
of proof; for a cascaded meeting it is listed as left in docs/proofs.md §6.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtests import media
from loadtests.bots.netbot import NetBot
from tests.cluster import cluster as cl
from tests.cluster import meeting as mt
from tests.support.ports import UDP, free_port
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

HOST = "127.0.0.1"


def _stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/stats", timeout=2, trust_env=False).json()


def test_a_meeting_across_two_node_processes_relays_media_and_leaves_the_us_node_out(tmp_path: Path) -> None:
    procs = cl.Processes()
    report: list[str] = []
    try:
        redis = procs.add(cl.RedisProc(tmp_path / "redis", free_port()))
        redis.start()
        cp_port = free_port()
        cp_url = f"http://{HOST}:{cp_port}"
        seeded = cl.seed(tmp_path / "control" / "castellan.db",
                         regions=[("eu-1", "EU", "Frankfurt, DE", "EU Central"),
                                  ("eu-2", "EU", "Paris, FR", "EU West"),
                                  ("us-1", "US", "Ashburn, US", "US East")],
                         tenants=[("acme", "ACME GmbH", "EU", ["eu-1", "eu-2"])],
                         links={"board": "acme"}, public_url=cp_url)
        procs.add(cl.control_plane(tmp_path, seeded.db, HOST, cp_port, redis.url))
        assert cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 20), procs.logs()
        urls: dict[str, str] = {}
        for node_id, region in (("eu-1a", "eu-1"), ("eu-2a", "eu-2"), ("us-1a", "us-1")):
            http = free_port()
            procs.add(cl.node(tmp_path, node_id, region, HOST, http, free_port(HOST, UDP), redis.url, cp_url))
            urls[node_id] = f"http://{HOST}:{http}"
        assert cl.wait_until(lambda: cl.placeable(cp_url) == {"eu-1": 1, "eu-2": 1, "us-1": 1}, 30), procs.logs()
        link = seeded.links["board"]

        async def scenario() -> None:
            bots: list[NetBot] = []
            try:
                pub, where = await mt.enter_bot(cp_url, link, "pub", "eu-1")
                bots.append(pub)
                assert (where["node"], where["processing"]["region"]) == ("eu-1a", "eu-1")
                await pub.publish(video=mt.video(), audio=str(media.audio_file()))
                sub, where = await mt.enter_bot(cp_url, link, "sub", "eu-2")
                bots.append(sub)
                assert (where["node"], where["processing"]["region"]) == ("eu-2a", "eu-2")
                spy, where = await mt.enter_bot(cp_url, link, "spy", "us-1")
                bots.append(spy)
                # the US hint is ignored: never spilled to us-1a, but to a node already carrying the meeting (the
                # less loaded of the two, as their heartbeats last said)
                assert where["node"] in ("eu-1a", "eu-2a"), where
                spy_on_eu2 = where["node"] == "eu-2a"
                report.append(f"placed: pub eu-1a (home), sub eu-2a, spy (hint us-1) {where['node']}")

                pub_id = pub.joined["participant"]
                got = await wait_for(lambda: any(r.frames >= 30 for r in sub.video())
                                     and any(r.frames >= 30 for r in sub.audio()), 45, 0.1)
                report.append(f"sub on eu-2a decoded {[r.frames for r in sub.video()]} video and "
                              f"{[r.frames for r in sub.audio()]} audio frames of pub on eu-1a")
                assert got, f"no relayed media: video {sub.video()}, audio {sub.audio()}"
                assert pub_id in sub.participants, sub.messages[:10]  # its snapshot or a presence change
                assert {t["participant"] for t in sub.tracks.values()} == {pub_id}

                eu2 = await asyncio.to_thread(_stats, urls["eu-2a"])
                eu1 = await asyncio.to_thread(_stats, urls["eu-1a"])
                us1 = await asyncio.to_thread(_stats, urls["us-1a"])
                report.append(f"eu-1a: {eu1['participants']} participants, engine {eu1['engine']['rx_packets']} rx / "
                              f"{eu1['engine']['forwarded_packets']} fwd; eu-2a: {eu2['participants']} participants, "
                              f"{eu2['engine']['rx_packets']} rx / {eu2['engine']['forwarded_packets']} fwd; "
                              f"us-1a: {us1['rooms']} rooms, {us1['engine']['rx_packets']} rx")
                # sub (and the spy when it went there); pub is relayed, not joined here
                assert eu2["participants"] == 1 + spy_on_eu2 and eu2["rooms"] == 1
                assert us1["rooms"] == 0 and us1["participants"] == 0 and us1["engine"]["rx_packets"] == 0, us1

                await pub.send({"type": "leave"})
                await pub.close()
                bots.remove(pub)
                assert await wait_for(lambda: pub_id not in sub.participants, 15), sub.messages[-5:]
            finally:
                for b in bots:
                    await b.close()

        asyncio.run(scenario())
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()
        print("\n".join(report))


def test_two_meetings_across_the_same_two_node_processes_both_get_media_at_once(tmp_path: Path) -> None:
    """Two meetings of one tenant, each with its publisher on eu-1a (their home) and its subscriber on eu-2a: one
    relay link between the two node processes carries both (the second is added to it with `open`), so both
    subscribers decode their own meeting's media at once — before, the second meeting waited for the first's link
    to close. The second subscriber leaves: its meeting comes off the link, the first one's media goes on."""
    procs = cl.Processes()
    report: list[str] = []
    try:
        redis, cp_url, seeded = cl.redis_and_control_plane(procs, tmp_path, HOST,
                                                           links={"board": "acme", "audit": "acme"})
        assert cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 20), procs.logs()
        for node_id, region in (("eu-1a", "eu-1"), ("eu-2a", "eu-2")):
            procs.add(cl.node(tmp_path, node_id, region, HOST, free_port(), free_port(HOST, UDP), redis.url, cp_url))
        assert cl.wait_until(lambda: cl.placeable(cp_url) == {"eu-1": 1, "eu-2": 1}, 30), procs.logs()

        async def scenario() -> None:
            bots: list[NetBot] = []
            try:
                subs: dict[str, NetBot] = {}
                pubs: dict[str, str] = {}
                for meeting in ("board", "audit"):
                    pub, where = await mt.enter_bot(cp_url, seeded.links[meeting], f"pub-{meeting}", "eu-1")
                    bots.append(pub)
                    assert where["node"] == "eu-1a", where
                    await pub.publish(video=mt.video(), audio=str(media.audio_file()))
                    pubs[meeting] = pub.joined["participant"]
                    sub, where = await mt.enter_bot(cp_url, seeded.links[meeting], f"sub-{meeting}", "eu-2")
                    bots.append(sub)
                    assert where["node"] == "eu-2a", where
                    subs[meeting] = sub

                def frames(sub: NetBot) -> int:
                    return max((r.frames for r in sub.video()), default=0)

                got = await wait_for(lambda: all(frames(s) >= 30 and any(r.frames >= 30 for r in s.audio())
                                                 for s in subs.values()), 60, 0.1)
                report.append("; ".join(f"sub-{m} on eu-2a decoded {[r.frames for r in s.video()]} video, "
                                        f"{[r.frames for r in s.audio()]} audio frames" for m, s in subs.items()))
                assert got, {m: (s.video(), s.audio()) for m, s in subs.items()}
                for meeting, sub in subs.items():  # each its own meeting's publisher, never the other's
                    assert {t["participant"] for t in sub.tracks.values()} == {pubs[meeting]}, sub.tracks

                # the audit meeting's subscriber leaves: the board meeting's media goes on over the link
                await subs["audit"].send({"type": "leave"})
                await subs["audit"].close()
                bots.remove(subs["audit"])
                before = frames(subs["board"])
                assert await wait_for(lambda: frames(subs["board"]) >= before + 30, 30, 0.1), subs["board"].video()
                report.append(f"after sub-audit left: sub-board {before} -> {frames(subs['board'])} video frames")
            finally:
                for b in bots:
                    await b.close()

        asyncio.run(scenario())
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()
        print("\n".join(report))
