"""A cascaded meeting's packets stay in its allowed regions (issue 14; docs/proofs.md §6): network namespaces play
separate hosts, as in tests/cluster/test_region_proof.py —

    clients ns (bots) --veth-- cp ns (control plane + Redis, routes) --veth-- eu-1 ns (node eu-1-a)
                                                                    --veth-- eu-2 ns (node eu-2-a)
                                                                    --veth-- us-1 ns (node us-1-a)

An EU tenant allowing eu-1 and eu-2 meets: the publisher asks for eu-1 (the meeting's home), the subscriber for
eu-2, a third participant for us-1 (placed on a node of the meeting: never us-1). eu-2-a dials eu-1-a by itself; the
subscriber decodes the publisher's video and audio through the relay. Captured on each region's link: SRTP
between the two EU nodes' addresses on both EU links (the relay), and on us-1's link — a node enrolled,
registered, alive and idle all along — not one packet of the meeting (no UDP at all, nothing to or from the
participants' address, nothing from either EU node's media port). Then the same meeting with its far node,
eu-2-a, SIGKILLed: the subscriber resumes on eu-1-a (never us-1), eu-1-a's relay link closes, and us-1's link still
carries nothing of the meeting. Then the same meeting with its home, eu-1-a, SIGKILLed: the room moves to eu-2-a
(never us-1), the publisher resumes there, the subscriber decodes it again, and us-1's link carries nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtests import media
from loadtests.bots import netbot
from tests.cluster import cluster as cl
from tests.cluster import meeting as mt
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(180)]

TENANT = "eurocorp"
REGIONS = [("eu-1", "EU", "Frankfurt, DE", "EU Central"), ("eu-2", "EU", "Paris, FR", "EU West"),
           ("us-1", "US", "Ashburn, US", "US East")]
NODES = {"eu-1": "eu-1-a", "eu-2": "eu-2-a", "us-1": "us-1-a"}
HTTP_PORT, UDP_PORT, CP_PORT, REDIS_PORT = 7881, 40001, 8001, 6391


@pytest.fixture
def topology() -> Iterator[cl.Topology]:
    with cl.topology(["clients", *NODES]) as topo:
        yield topo


async def _enter(cp_url: str, link: dict[str, str], name: str, hint: str) -> tuple[netbot.NetBot, dict[str, Any]]:
    status, body, _ = await netbot.join(cp_url, link["link"], name, link["password"], hint=hint)
    assert status == 200, (name, status, body)
    bot = netbot.NetBot(body["ws_url"], body["token"], name, read_numbers=False)
    await bot.connect()
    return bot, body



def _deploy(topo: cl.Topology, tmp_path: Path, procs: cl.Processes, cp_url: str) -> tuple[Any, Any, Any, Any, Any]:
    """Redis and the control plane in the hub, one node per region in its own namespace: (redis_cli, the seeded
    database, the node processes, their URLs and addresses by region)."""
    d = cl.deploy(topo, tmp_path, procs, cp_url, regions=REGIONS, nodes=NODES,
                  tenants=[(TENANT, "EuroCorp SE", "EU", ["eu-1", "eu-2"])], links={"board": TENANT},
                  ports=(REDIS_PORT, HTTP_PORT, UDP_PORT))
    return d.redis_cli, d.seeded, d.node_proc, d.node_url, d.addr


async def _serving_and_captured(http: httpx.AsyncClient, cp_url: str, procs: cl.Processes, topo: cl.Topology,
                                captures: dict[str, cl.Capture], tmp_path: Path) -> None:
    """Waits for the control plane to serve and to have verified every node, then starts a capture on each
    region's link (into `captures`) and waits until they all run."""
    async def ready() -> bool:
        return (await http.get(f"{cp_url}/readyz")).status_code == 200

    assert await wait_for(ready, 20, 0.1, ignore=(httpx.TransportError,)), procs.logs()
    placeable = await asyncio.to_thread(cl.wait_until, lambda: cl.placeable(cp_url) == dict.fromkeys(NODES, 1), 30)
    assert placeable, "the control plane did not verify the nodes:\n" + procs.logs()
    for region in NODES:
        s = topo.spokes[region]
        captures[region] = cl.Capture(s.ns, s.iface, tmp_path / f"{region}.pcap")
    assert await asyncio.to_thread(cl.wait_until, lambda: all(c.started() for c in captures.values()), 10), \
        "\n".join(c.tail() for c in captures.values())

def test_a_cascaded_eu_meeting_relays_between_eu_nodes_and_never_touches_us(topology: cl.Topology,
                                                                          tmp_path: Path) -> None:
    topo = topology
    clients = topo.spokes["clients"]
    cp_url = f"http://{clients.hub_addr}:{CP_PORT}"
    procs = cl.Processes()
    captures: dict[str, cl.Capture] = {}
    out: list[str] = []
    try:
        redis_cli, seeded, node_proc, node_url, addr = _deploy(topo, tmp_path, procs, cp_url)

        netbot.set_host_addresses([clients.addr])  # the bots' ICE candidates: the clients namespace's address
        with netbot.NamespaceLoop(clients.ns) as ns:
            async def scenario() -> dict[str, Any]:
                result: dict[str, Any] = {}
                bots: list[netbot.NetBot] = []
                async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
                    await _serving_and_captured(http, cp_url, procs, topo, captures, tmp_path)
                    link = seeded.links["board"]
                    try:
                        pub, where = await _enter(cp_url, link, "pub", "eu-1")
                        bots.append(pub)
                        await pub.publish(video=mt.video(), audio=str(media.audio_file()))
                        sub, where_sub = await _enter(cp_url, link, "sub", "eu-2")
                        bots.append(sub)
                        spy, where_spy = await _enter(cp_url, link, "spy", "us-1")
                        bots.append(spy)
                        result["placed"] = [(n, w["node"], w["processing"]["region"])
                                            for n, w in (("pub", where), ("sub", where_sub), ("spy", where_spy))]
                        decoded = await wait_for(lambda: any(r.frames >= 45 for r in sub.video())
                                                 and any(r.frames >= 45 for r in sub.audio()), 45, 0.1)
                        result["decoded"] = ([r.frames for r in sub.video()], [r.frames for r in sub.audio()])
                        result["decoded_ok"] = decoded
                    finally:
                        # the captures end here: what follows is the test's own request to us-1, not the meeting's
                        await asyncio.to_thread(lambda: [c.stop() for c in captures.values()])
                        for b in bots:
                            await b.close()
                    result["us_stats"] = (await http.get(f"{node_url['us-1']}/stats")).json()
                return result

            result = ns.run(scenario(), timeout=150)

        relay_bpf = f"udp and host {addr['eu-1']} and host {addr['eu-2']}"
        meeting_bpf = f"udp or host {clients.addr} or host {addr['eu-1']} or host {addr['eu-2']}"
        counts = {region: {"relay": c.count(relay_bpf), "meeting": c.count(meeting_bpf), "udp": c.count("udp"),
                           "all": c.count()} for region, c in captures.items()}
        out.append(f"placed: {result['placed']}")
        out.append(f"sub on eu-2-a decoded (video, audio) frames: {result['decoded']}")
        for region, c in counts.items():
            out.append(f"  {region:<5} link: {c['relay']:>5} relay packets (eu-1-a <-> eu-2-a), {c['meeting']:>6} "
                       f"meeting packets, {c['udp']} UDP, of {c['all']} captured")
        # the spy's US hint is ignored: it joins a node already carrying the meeting, never us-1-a
        assert result["placed"][:2] == [("pub", "eu-1-a", "eu-1"), ("sub", "eu-2-a", "eu-2")]
        assert result["placed"][2] in (("spy", "eu-1-a", "eu-1"), ("spy", "eu-2-a", "eu-2")), result["placed"]
        assert result["decoded_ok"], result["decoded"]
        assert counts["eu-1"]["relay"] > 100 and counts["eu-2"]["relay"] > 100, counts
        assert counts["us-1"]["meeting"] == 0 and counts["us-1"]["udp"] == 0, counts
        stats = result["us_stats"]
        assert stats["rooms"] == 0 and stats["participants"] == 0 and stats["engine"]["rx_packets"] == 0, stats
    except BaseException:
        print(procs.logs())
        raise
    finally:
        netbot.reset_host_addresses()
        for c in captures.values():
            c.stop()
        procs.stop_all()
        print("\n".join(out))


def _relay_links(node_url: str) -> int:
    """The node's open relay links, from its `castellan_relay_links` metric."""
    text = httpx.get(f"{node_url}/metrics", timeout=2, trust_env=False).text
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("castellan_relay_links{"))


def test_the_far_eu_node_dies_the_subscriber_resumes_in_eu_and_us_never_sees_the_meeting(
        topology: cl.Topology, tmp_path: Path) -> None:
    """The same meeting, then eu-2-a (the subscriber's node, the far end of the relay) is SIGKILLed: the subscriber
    asks the control plane again (naming the node it lost, as a client does) and is placed on eu-1-a — eu-2 has no
    node left and us-1 is not allowed, although us-1-a is idle and registered — and decodes the publisher there;
    eu-1-a closes its link to the dead node; us-1's link carries not one packet of the meeting before, during or
    after the death."""
    topo = topology
    clients = topo.spokes["clients"]
    cp_url = f"http://{clients.hub_addr}:{CP_PORT}"
    procs = cl.Processes()
    captures: dict[str, cl.Capture] = {}
    out: list[str] = []
    try:
        redis_cli, seeded, node_proc, node_url, addr = _deploy(topo, tmp_path, procs, cp_url)

        netbot.set_host_addresses([clients.addr])
        with netbot.NamespaceLoop(clients.ns) as ns:
            async def scenario() -> dict[str, Any]:
                result: dict[str, Any] = {}
                members: list[mt.Member] = []
                async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
                    await _serving_and_captured(http, cp_url, procs, topo, captures, tmp_path)
                    link = seeded.links["board"]
                    try:
                        pub = await mt.enter(cp_url, "board", link, "pub", "pub", hint="eu-1")
                        members.append(pub)
                        sub = await mt.enter(cp_url, "board", link, "sub", "sub", hint="eu-2")
                        members.append(sub)
                        result["placed"] = [(m.name, m.node, m.region) for m in (pub, sub)]
                        assert result["placed"] == [("pub", "eu-1-a", "eu-1"), ("sub", "eu-2-a", "eu-2")], \
                            result["placed"]
                        assert await mt.decoding([pub, sub], frames=20, timeout=45), "no media through the relay"
                        result["before"] = sub.bot.video_frames()
                        result["links_before"] = await asyncio.to_thread(_relay_links, node_url["eu-1"])

                        killed_at = time.monotonic()
                        await asyncio.to_thread(node_proc["eu-2"].kill)
                        # it names the node it lost, as a client does; the control plane checks a reported node
                        # only when it is the room's home, so eu-2-a is dropped when its registration expires
                        new = await mt.rejoin(cp_url, sub, frozenset({"eu-2-a"}), killed_at, timeout=30,
                                              report_dead=True)
                        members.append(new)
                        await mt.wait_first_frames([new], killed_at, timeout=30)
                        result["rejoin"] = mt.table([new])
                        result["replaced"] = (new.name, new.node, new.region)
                        result["answers"] = [(h["status"], h["node"], h["region"], h["error"]) for h in new.history]
                        result["decoding_after"] = await mt.decoding([pub, new], frames=20, timeout=30)
                        result["after"] = new.bot.video_frames()
                        result["links_closed"] = await asyncio.to_thread(
                            cl.wait_until, lambda: _relay_links(node_url["eu-1"]) == 0, 30)
                        result["links_after"] = await asyncio.to_thread(_relay_links, node_url["eu-1"])
                        result["closed_after"] = time.monotonic() - killed_at
                    finally:
                        for c in captures.values():  # after the rejoin and the link's close
                            await asyncio.to_thread(c.stop)
                        await mt.close(members)
                    result["us_stats"] = (await http.get(f"{node_url['us-1']}/stats")).json()
                return result

            result = ns.run(scenario(), timeout=150)

        relay_bpf = f"udp and host {addr['eu-1']} and host {addr['eu-2']}"
        meeting_bpf = f"udp or host {clients.addr} or host {addr['eu-1']} or host {addr['eu-2']}"
        counts = {region: {"relay": c.count(relay_bpf), "meeting": c.count(meeting_bpf), "udp": c.count("udp"),
                           "all": c.count()} for region, c in captures.items()}
        out.append(f"placed: {result['placed']}; sub decoded {result['before']} video frames through the relay")
        answered = [a[1] for a in result["answers"]]
        out.append(f"eu-2-a SIGKILLed; sub's join answers: {answered.count('eu-2-a')} x the dead eu-2-a, then "
                   f"{answered[-1]} ({len(answered)} asks; statuses {sorted({a[0] for a in result['answers']})})")
        out.append(result["rejoin"])
        out.append(f"sub re-placed: {result['replaced']}, decoded {result['after']} video frames there")
        out.append(f"eu-1-a relay links: {result['links_before']} before the kill, {result['links_after']} "
                   f"{result['closed_after']:.1f} s after it")
        for region, n in counts.items():
            out.append(f"  {region:<5} link: {n['relay']:>5} relay packets (eu-1-a <-> eu-2-a), {n['meeting']:>6} "
                       f"meeting packets, {n['udp']} UDP, of {n['all']} captured")
        # eu-2 has no node left and us-1 is not allowed: the meeting's other node, whatever the hint
        assert result["replaced"] == ("sub", "eu-1-a", "eu-1"), result["replaced"]
        assert all(a[1] != "us-1-a" for a in result["answers"]), result["answers"]
        assert result["decoding_after"], result["after"]
        assert result["links_before"] == 1 and result["links_closed"], (result["links_before"], result["links_after"])
        # video only (tests/cluster/meeting.py): ~50 relay packets carry the first 20 frames
        assert counts["eu-1"]["relay"] > 20 and counts["eu-2"]["relay"] > 20, counts
        assert counts["us-1"]["meeting"] == 0 and counts["us-1"]["udp"] == 0, counts
        stats = result["us_stats"]
        assert stats["rooms"] == 0 and stats["participants"] == 0 and stats["engine"]["rx_packets"] == 0, stats
    except BaseException:
        print(procs.logs())
        raise
    finally:
        netbot.reset_host_addresses()
        for c in captures.values():
            c.stop()
        procs.stop_all()
        print("\n".join(out))


def _placement(redis_cli: Any) -> tuple[str, str, int]:
    """The board room's placement from Redis (residency/registry.py keys): its home node, region and generation."""
    keys = redis_cli("--scan", "--pattern", f"castellan:placement:{TENANT}:*").split()
    assert len(keys) == 1, keys
    doc = json.loads(redis_cli("get", keys[0]))
    return doc["node"], doc["region"], int(doc["generation"])


def test_the_home_eu_node_dies_the_meeting_moves_to_eu_2_and_us_never_sees_it(
        topology: cl.Topology, tmp_path: Path) -> None:
    """The same meeting, then eu-1-a (the meeting's home, the publisher's node) is SIGKILLed: the publisher asks the
    control plane again, naming the node it lost, and the room is re-placed on the tenant's other allowed node —
    never us-1-a, idle and registered all along; the publisher and the subscriber end up in one meeting again and
    the subscriber decodes the publisher's video again; us-1's link carries not one packet of the meeting before,
    during or after the death. The bots are aiortc without E2EE: no MLS group is involved here."""
    topo = topology
    clients = topo.spokes["clients"]
    cp_url = f"http://{clients.hub_addr}:{CP_PORT}"
    procs = cl.Processes()
    captures: dict[str, cl.Capture] = {}
    out: list[str] = []
    try:
        redis_cli, seeded, node_proc, node_url, addr = _deploy(topo, tmp_path, procs, cp_url)

        netbot.set_host_addresses([clients.addr])
        with netbot.NamespaceLoop(clients.ns) as ns:
            async def scenario() -> dict[str, Any]:
                result: dict[str, Any] = {}
                members: list[mt.Member] = []
                async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
                    await _serving_and_captured(http, cp_url, procs, topo, captures, tmp_path)
                    link = seeded.links["board"]
                    try:
                        pub = await mt.enter(cp_url, "board", link, "pub", "pub", hint="eu-1")
                        members.append(pub)
                        sub = await mt.enter(cp_url, "board", link, "sub", "sub", hint="eu-2")
                        members.append(sub)
                        result["placed"] = [(m.name, m.node, m.region) for m in (pub, sub)]
                        assert result["placed"] == [("pub", "eu-1-a", "eu-1"), ("sub", "eu-2-a", "eu-2")], \
                            result["placed"]
                        assert await mt.decoding([pub, sub], frames=20, timeout=45), "no media through the relay"
                        result["before"] = sub.bot.video_frames()
                        result["links_before"] = await asyncio.to_thread(_relay_links, node_url["eu-2"])
                        result["home_before"] = await asyncio.to_thread(_placement, redis_cli)
                        old_tracks = {id(r) for r in sub.bot.video()}  # the publisher's track on eu-1-a

                        killed_at = time.monotonic()
                        await asyncio.to_thread(node_proc["eu-1"].kill)
                        new_pub = await mt.rejoin(cp_url, pub, frozenset({"eu-1-a"}), killed_at, timeout=30,
                                                  report_dead=True)
                        members.append(new_pub)
                        result["answers"] = [(h["status"], h["node"], h["region"], h["error"])
                                             for h in new_pub.history]
                        now_sub = sub
                        if sub.bot.ws_closed_at is not None:  # its node closed it: it asks again, as a client does
                            now_sub = await mt.rejoin(cp_url, sub, frozenset({"eu-1-a"}), killed_at, timeout=30,
                                                      report_dead=True)
                            members.append(now_sub)
                        result["sub_rejoined"] = now_sub is not sub

                        def new_track_frames() -> int:  # decoded from the publisher's new track on its new node
                            return sum(r.frames for r in now_sub.bot.video() if id(r) not in old_tracks)

                        if await wait_for(lambda: new_track_frames() > 0, 30, 0.02):
                            result["first_frame_after"] = time.monotonic() - killed_at
                        result["decoding_after"] = await wait_for(lambda: new_track_frames() >= 20, 30, 0.05)
                        result["resumed_after"] = time.monotonic() - killed_at
                        result["after"] = new_track_frames()
                        result["rejoin"] = mt.table([new_pub] + ([now_sub] if now_sub is not sub else []))
                        result["replaced"] = [(m.name, m.node, m.region) for m in (new_pub, now_sub)]
                        result["home_after"] = await asyncio.to_thread(_placement, redis_cli)
                        result["links_closed"] = await asyncio.to_thread(
                            cl.wait_until, lambda: _relay_links(node_url["eu-2"]) == 0, 30)
                        result["links_after"] = await asyncio.to_thread(_relay_links, node_url["eu-2"])
                        result["closed_after"] = time.monotonic() - killed_at
                    finally:
                        for c in captures.values():  # after the rejoin and the resumed media
                            await asyncio.to_thread(c.stop)
                        await mt.close(members)
                    result["us_stats"] = (await http.get(f"{node_url['us-1']}/stats")).json()
                return result

            result = ns.run(scenario(), timeout=150)

        relay_bpf = f"udp and host {addr['eu-1']} and host {addr['eu-2']}"
        meeting_bpf = f"udp or host {clients.addr} or host {addr['eu-1']} or host {addr['eu-2']}"
        counts = {region: {"relay": c.count(relay_bpf), "meeting": c.count(meeting_bpf), "udp": c.count("udp"),
                           "all": c.count()} for region, c in captures.items()}
        out.append(f"placed: {result['placed']}; sub decoded {result['before']} video frames through the relay")
        answered = [a[1] for a in result["answers"]]
        out.append(f"eu-1-a (home) SIGKILLed; pub's join answers: {answered.count('eu-1-a')} x the dead eu-1-a, "
                   f"then {answered[-1]} ({len(answered)} asks; statuses {sorted({a[0] for a in result['answers']})})")
        out.append(result["rejoin"])
        out.append(f"after: {result['replaced']}; sub rejoined: {result['sub_rejoined']}; sub decoded "
                   f"the new track's first frame {result.get('first_frame_after', -1):.2f} s after the kill, "
                   f"{result['after']} frames of it {result['resumed_after']:.2f} s after")
        out.append(f"room placement (home): {result['home_before']} before the kill, {result['home_after']} after")
        out.append(f"eu-2-a relay links: {result['links_before']} before the kill, {result['links_after']} "
                   f"{result['closed_after']:.1f} s after it")
        for region, n in counts.items():
            out.append(f"  {region:<5} link: {n['relay']:>5} relay packets (eu-1-a <-> eu-2-a), {n['meeting']:>6} "
                       f"meeting packets, {n['udp']} UDP, of {n['all']} captured")
        assert all(a[1] != "us-1-a" for a in result["answers"]), result["answers"]
        # eu-1 has no node left and us-1 is not allowed: the tenant's other allowed node, whatever the hint
        assert result["replaced"][0] == ("pub", "eu-2-a", "eu-2"), result["replaced"]
        assert result["replaced"][1][1] == "eu-2-a", result["replaced"]
        assert result["decoding_after"], result["after"]
        # the home role moved (placement.replace): same room, next generation, on the surviving allowed node
        assert result["home_before"][:2] == ("eu-1-a", "eu-1"), result["home_before"]
        assert result["home_after"][:2] == ("eu-2-a", "eu-2"), result["home_after"]
        assert result["home_after"][2] > result["home_before"][2], (result["home_before"], result["home_after"])
        assert result["links_before"] == 1 and result["links_closed"], (result["links_before"], result["links_after"])
        # the relay carried the first 20 frames before the kill (~26 packets: the video only, tests/cluster/meeting.py)
        assert counts["eu-1"]["relay"] > 10 and counts["eu-2"]["relay"] > 10, counts
        assert counts["us-1"]["meeting"] == 0 and counts["us-1"]["udp"] == 0, counts
        stats = result["us_stats"]
        assert stats["rooms"] == 0 and stats["participants"] == 0 and stats["engine"]["rx_packets"] == 0, stats
    except BaseException:
        print(procs.logs())
        raise
    finally:
        netbot.reset_host_addresses()
        for c in captures.values():
            c.stop()
        procs.stop_all()
        print("\n".join(out))
