"""Data residency you can prove (issue 4 item 7): network namespaces play separate hosts in separate regions.

    clients ns (participants' bots) --veth-- cp ns (control plane + Redis, routes) --veth-- eu-1 ns (node eu-1-a)
                                                                                --veth-- eu-2 ns (node eu-2-a)
                                                                                --veth-- us-1 ns (node us-1-a)

An EU tenant whose admin allows eu-1 and eu-2 holds a meeting (a publisher and two subscribers, one of which
even asks for us-1 as its region hint). Proved, with packet captures on each region's link:
  * the meeting runs on eu-1 (frames decode), and the capture on us-1's link holds ZERO packets of it (no UDP at
    all, nothing to or from the participants' address) while eu-1's holds many;
  * eu-1's node is SIGKILLed; the participants ask the control plane again (POST /v1/join with link + password:
    a password-less re-join does not exist yet) and resume on eu-2, never us-1 (every join answer is checked);
  * with both EU nodes dead, a new join is refused: HTTP 503 `placement_refused` with the user-facing message
    (us-1 is alive and idle all along: fail closed, never spill);
  * the tenant's audit export verifies (`castellan audit verify`) and holds the placements and the refusal;
  * the nodes' own signed receipts say the same (issue 19): the tenant, holding a head fetched before the
    meeting, runs `castellan audit fetch --meeting` and `castellan residency verify`, which names exactly the
    regions whose links carried the meeting's packets in the captures (eu-1, eu-2), each inside the policy.
The namespaces have unique names per run and are deleted afterwards, whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadtests.bots import netbot
from tests.cluster import cluster as cl
from tests.cluster import meeting as mt
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(180)]

TENANT = "eurocorp"
REGIONS = [("eu-1", "EU", "Frankfurt, DE", "EU Central"), ("eu-2", "EU", "Paris, FR", "EU West"),
           ("us-1", "US", "Ashburn, US", "US East")]
NODES = {"eu-1": "eu-1-a", "eu-2": "eu-2-a", "us-1": "us-1-a"}
HTTP_PORT, UDP_PORT, CP_PORT, REDIS_PORT = 7880, 40000, 8000, 6390


@pytest.fixture
def topology() -> Iterator[cl.Topology]:
    with cl.topology(["clients", *NODES]) as topo:
        yield topo


def test_eu_meeting_never_touches_us_and_fails_closed(topology: cl.Topology, tmp_path: Path) -> None:
    topo = topology
    clients = topo.spokes["clients"]
    hub_addr = clients.hub_addr  # the control plane's and Redis's address, seen from every spoke
    cp_url = f"http://{hub_addr}:{CP_PORT}"
    redis_url = f"redis://{hub_addr}:{REDIS_PORT}/0"
    procs = cl.Processes()
    captures: dict[str, cl.Capture] = {}
    out: list[str] = []
    try:
        def redis_up() -> bool:
            import subprocess

            r = subprocess.run(["ip", "netns", "exec", topo.hub, "redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_PORT),
                                "ping"], capture_output=True, text=True, timeout=5)
            return "PONG" in r.stdout

        redis = procs.add(cl.RedisProc(tmp_path / "redis", REDIS_PORT, bind=("127.0.0.1", hub_addr), ns=topo.hub))
        redis.start(ping=redis_up)
        seeded = cl.seed(tmp_path / "control" / "castellan.db", regions=REGIONS,
                         tenants=[(TENANT, "EuroCorp SE", "EU", ["eu-1", "eu-2"])],
                         links={"board": TENANT, "townhall": TENANT}, public_url=cp_url)
        procs.add(cl.control_plane(tmp_path, seeded.db, hub_addr, CP_PORT, redis_url, ns=topo.hub))
        # nodes start once the control plane has published the regions (else a node refuses its unknown region);
        # Redis is reachable inside the hub namespace only
        def regions_published() -> bool:
            import subprocess

            r = subprocess.run(["ip", "netns", "exec", topo.hub, "redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_PORT),
                                "hkeys", "castellan:regions"], capture_output=True, text=True, timeout=5)
            return set(NODES) <= set(r.stdout.split())

        assert cl.wait_until(regions_published, 30), "control plane did not publish the regions:\n" + procs.logs()

        # the tenant holds a head from before the meeting (and pins the log and node keys)
        tenant = cl.TenantHeads(seeded, cp_url, TENANT, tmp_path / "tenant", clients.ns)
        tenant.first(procs.logs)
        operator_key, fetched, heads, tenant_dir = tenant.operator_key, tenant.fetch, tenant.heads, tenant.dir
        for region, node_id in NODES.items():
            s = topo.spokes[region]
            procs.add(cl.node(tmp_path, node_id, region, s.addr, HTTP_PORT, UDP_PORT, redis_url, cp_url, ns=s.ns))
        node_url = {region: f"http://{topo.spokes[region].addr}:{HTTP_PORT}" for region in NODES}
        node_proc = {p.name.split()[-1]: p for p in procs.items if isinstance(p, cl.Proc) and p.name.startswith("node")}

        netbot.set_host_addresses([clients.addr])  # the bots' ICE candidates: the clients namespace's address
        with netbot.NamespaceLoop(clients.ns) as ns:
            async def scenario() -> dict:
                result: dict = {}
                members: list[mt.Member] = []
                async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
                    async def ready() -> bool:
                        return (await http.get(f"{cp_url}/readyz")).status_code == 200

                    assert await wait_for(ready, 20, 0.1, ignore=(httpx.TransportError,)), \
                        "control plane not ready:\n" + procs.logs()
                    live = await asyncio.to_thread(cl.wait_until, lambda: set(cl.registry_nodes(redis_url)) == set(NODES.values()), 20)
                    assert live, "nodes did not register:\n" + procs.logs()
                    placeable = await asyncio.to_thread(
                        cl.wait_until, lambda: cl.placeable(cp_url) == dict.fromkeys(NODES, 1), 20)
                    assert placeable, "the control plane did not verify the nodes:\n" + procs.logs()

                    for region in NODES:
                        s = topo.spokes[region]
                        captures[region] = cl.Capture(s.ns, s.iface, tmp_path / f"{region}.pcap")
                    assert await asyncio.to_thread(cl.wait_until, lambda: all(c.started() for c in captures.values()), 10), \
                        "\n".join(c.tail() for c in captures.values())

                    # the meeting: publisher (hint eu-1), a subscriber, and a subscriber asking for us-1
                    link = seeded.links["board"]

                    async def receipt_from(node_id: str) -> bool:  # the node's first receipt is in the log
                        r = await http.get(f"{cp_url}/v1/tenants/{TENANT}/meetings/{link['room']}/residency",
                                           headers={"Authorization": f"Bearer {operator_key()}"})
                        return r.status_code == 200 and node_id in {n["node"] for n in r.json().get("nodes", [])}

                    members = await mt.meeting(cp_url, "board", link, subscribers=2, hints=["eu-1", None, "us-1"])
                    result["placed"] = [(m.name, m.node, m.region) for m in members]
                    assert {m.node for m in members} == {NODES["eu-1"]}, result["placed"]
                    assert await mt.decoding(members, frames=45, timeout=20), "no media on eu-1"
                    result["frames_eu1"] = {m.name: m.bot.video_frames() for m in members if m.role == "sub"}

                    assert await wait_for(lambda: receipt_from(NODES["eu-1"]), 20, 0.5), \
                        "no receipt from eu-1:\n" + procs.logs()
                    # eu-1 dies; everyone asks the control plane again and resumes on eu-2
                    killed_at = time.monotonic()
                    node_proc[NODES["eu-1"]].kill()
                    resumed = list(await asyncio.gather(
                        *(mt.rejoin(cp_url, m, frozenset({NODES["eu-1"]}), killed_at, timeout=25) for m in members)))
                    await mt.wait_first_frames(resumed, killed_at)
                    result["resume_table"] = mt.table(resumed)
                    result["answers"] = [a for m in [*members, *resumed] for a in m.history]
                    await mt.close(members)
                    members = resumed
                    assert {m.node for m in members} == {NODES["eu-2"]}, [(m.name, m.node) for m in members]
                    assert await mt.decoding(members, frames=45, timeout=20), "no media on eu-2 after the failover"
                    result["frames_eu2"] = {m.name: m.bot.video_frames() for m in members if m.role == "sub"}

                    assert await wait_for(lambda: receipt_from(NODES["eu-2"]), 20, 0.5), \
                        "no receipt from eu-2:\n" + procs.logs()
                    # both EU nodes gone: a new join (this meeting, and a new one) is refused, clearly, never us-1
                    node_proc[NODES["eu-2"]].kill()
                    refusals: list[tuple[int, dict]] = []
                    end = time.monotonic() + 15
                    while time.monotonic() < end:
                        status, body, _ = await netbot.join(cp_url, seeded.links["townhall"]["link"], "late-comer",
                                                            cl.PASSWORD, hint="us-1")
                        result["answers"].append({"status": status, "node": body.get("node"), "error": body.get("error"),
                                                  "region": (body.get("processing") or {}).get("region")})
                        if status != 200:
                            refusals.append((status, body))
                            break
                        await asyncio.sleep(0.2)
                    status, body, _ = await netbot.join(cp_url, link["link"], "board-again", cl.PASSWORD)
                    refusals.append((status, body))
                    result["refusals"] = refusals
                    # the captures end here: what follows is the test's own request to us-1, not the meeting's
                    await asyncio.to_thread(lambda: [c.stop() for c in captures.values()])
                    result["us_stats"] = (await http.get(f"{node_url['us-1']}/stats")).json()
                    await mt.close(members)
                return result

            result = ns.run(scenario(), timeout=150)
        for c in captures.values():
            c.stop()

        meeting_bpf = f"udp or host {clients.addr}"  # media (SRTP/STUN/DTLS) and anything to/from participants
        counts = {region: {"all": c.count(), "meeting": c.count(meeting_bpf), "udp": c.count("udp")}
                  for region, c in captures.items()}
        out.append(f"placed: {result['placed']}")
        out.append(f"frames decoded on eu-1 {result['frames_eu1']}, after failover on eu-2 {result['frames_eu2']}")
        out.append("-- kill eu-1 (SIGKILL) -> resume on eu-2 --\n" + result["resume_table"])
        out.append(f"capture counts (filter '{meeting_bpf}' = packets of the meeting):")
        for region, c in counts.items():
            out.append(f"  {region:<5} link: {c['meeting']:>6} meeting packets ({c['udp']} UDP) of {c['all']} captured")
        out.append(f"refusal: {result['refusals'][0]}")

        # residency: not one packet of the meeting on us-1's link; many on the EU links
        assert counts["us-1"]["meeting"] == 0 and counts["us-1"]["udp"] == 0, counts
        assert counts["eu-1"]["meeting"] > 200 and counts["eu-2"]["meeting"] > 200, counts
        assert result["us_stats"]["rooms"] == 0 and result["us_stats"]["participants"] == 0, result["us_stats"]
        # never us-1: no join answer named it, whatever the hint
        assert not [a for a in result["answers"] if a.get("region") == "us-1" or a.get("node") == NODES["us-1"]]
        # fail closed with the clear error
        for status, body in result["refusals"]:
            assert status == 503 and body["error"] == "placement_refused", (status, body)
            assert body.get("reason") == "no_node_in_allowed_regions", body
            assert "not sent anywhere else" in body["message"] and "EU Central" in body["message"], body

        # the tenant's audit export verifies and tells the story
        verify, records = cl.audit_export(seeded, TENANT, tmp_path / f"{TENANT}-audit.jsonl")
        out.append(f"audit verify: {verify.stdout.strip() or verify.stderr.strip()}")
        assert verify.returncode == 0 and verify.stdout.startswith("OK"), verify.stderr
        kinds = [r["kind"] for r in records]
        decided = [r["data"] for r in records if r["kind"] == "placement.decided"]
        replaced = [r["data"] for r in records if r["kind"] == "placement.replaced"]
        refused = [r["data"] for r in records if r["kind"] == "placement.refused"]
        out.append(f"audit kinds: {sorted(set(kinds))}")
        assert any(d["node"] == NODES["eu-1"] and d["room"] == seeded.links["board"]["room"] for d in decided), decided
        assert any(d["node"] == NODES["eu-2"] and d["previous_node"] == NODES["eu-1"] for d in replaced), replaced
        assert any(d.get("code") == "no_node_in_allowed_regions" for d in refused), refused
        assert not [d for d in decided + replaced if d["region"] == "us-1"]

        # the nodes' signed receipts, checked by the tenant offline against the head it held before the meeting
        room = seeded.links["board"]["room"]
        got = fetched("--meeting", room, "--out", str(tenant_dir / "evidence.json"))
        assert got.returncode == 0, got.stdout + got.stderr
        verify_meeting = cl.run_castellan("residency", "verify", room, "--heads", str(heads), "--evidence",
                                          str(tenant_dir / "evidence.json"))
        out.append("residency verify:\n" + verify_meeting.stdout + verify_meeting.stderr)
        assert verify_meeting.returncode == 0, verify_meeting.stderr
        report = json.loads(cl.run_castellan("residency", "verify", room, "--heads", str(heads), "--evidence",
                                             str(tenant_dir / "evidence.json"), "--json").stdout)
        carried = {n["region"] for n in report["nodes"]}
        captured = {region for region, c in counts.items() if c["meeting"] > 0}
        assert carried == captured == {"eu-1", "eu-2"}, (carried, captured)
        assert {n["node"] for n in report["nodes"]} == {NODES["eu-1"], NODES["eu-2"]}, report
        assert all(n["inside_policy"] and n["packets"] > 0 and n["participants"] >= 3 for n in report["nodes"]), report
    except BaseException:
        print(procs.logs())
        raise
    finally:
        netbot.reset_host_addresses()
        for c in captures.values():
            c.stop()
        procs.stop_all()
        print("\n".join(out))
