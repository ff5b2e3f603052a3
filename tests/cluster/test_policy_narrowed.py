"""A tenant admin narrows the allowed regions while a meeting runs (docs/residency.md, "A policy narrowed
mid-meeting"), on network namespaces playing separate hosts, as in tests/cluster/test_region_proof.py:

    clients ns (bots) --veth-- cp ns (control plane + Redis, routes) --veth-- eu-1 ns (node eu-1-a)
                                                                    --veth-- eu-2 ns (node eu-2-a)

An EU tenant allowing eu-1 and eu-2 meets on eu-2 (every participant asks for it). Its admin then allows eu-1
only (`PUT /v1/tenants/{t}/regions`). Proved:
  * eu-2-a withdraws the meeting within the published bound: every participant is sent `left`
    {reason: region_withdrawn} and its socket closed; each joins again through the control plane (as the
    browser client does), which re-places the room on eu-1 — and the subscribers decode the publisher there;
  * a capture on eu-2's link started once the bound has passed after the change holds ZERO packets of the
    meeting (no UDP at all, nothing to or from the participants' address) while the meeting goes on on eu-1;
  * eu-2-a's `residency.withdrawn` record is in the tenant's audit export, which verifies;
  * the tenant's offline check (`castellan residency verify`) reports eu-2-a as "stopped N s after policy vK,
    within the published bound" and exits 4 (inside but for a node that stopped within the bound).
The namespaces have unique names per run and are deleted afterwards, whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtests.bots import netbot
from residency.audit import AuditLog, chain_of
from residency.identity import load_or_create_node_key, unb64
from residency.lease import POLICY_BOUND, withdrawal_payload
from tests.cluster import cluster as cl
from tests.cluster import meeting as mt
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(240)]

TENANT = "eurocorp"
REGIONS = [("eu-1", "EU", "Frankfurt, DE", "EU Central"), ("eu-2", "EU", "Paris, FR", "EU West")]
NODES = {"eu-1": "eu-1-a", "eu-2": "eu-2-a"}
HTTP_PORT, UDP_PORT, CP_PORT, REDIS_PORT = 7883, 40003, 8003, 6393
AFTER = 6.0  # seconds the post-bound capture on eu-2's link runs while the meeting goes on on eu-1


@pytest.fixture
def topology() -> Iterator[cl.Topology]:
    with cl.topology(["clients", *NODES]) as topo:
        yield topo


def test_a_narrowed_policy_moves_a_running_meeting_out_of_the_removed_region(topology: cl.Topology,
                                                                             tmp_path: Path) -> None:
    topo = topology
    clients = topo.spokes["clients"]
    cp_url = f"http://{clients.hub_addr}:{CP_PORT}"
    procs = cl.Processes()
    captures: dict[str, cl.Capture] = {}
    out: list[str] = []
    try:
        seeded = cl.deploy(topo, tmp_path, procs, cp_url, regions=REGIONS, nodes=NODES,
                           tenants=[(TENANT, "EuroCorp SE", "EU", ["eu-1", "eu-2"])], links={"board": TENANT},
                           ports=(REDIS_PORT, HTTP_PORT, UDP_PORT)).seeded

        # the tenant holds a head from before the meeting (and pins the log and node keys)
        tenant = cl.TenantHeads(seeded, cp_url, TENANT, tmp_path / "tenant", clients.ns)
        tenant.first(procs.logs)
        operator_key, fetched, heads, tenant_dir = tenant.operator_key, tenant.fetch, tenant.heads, tenant.dir

        netbot.set_host_addresses([clients.addr])
        with netbot.NamespaceLoop(clients.ns) as ns:
            async def scenario() -> dict[str, Any]:
                result: dict[str, Any] = {}
                async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
                    async def ready() -> bool:
                        return (await http.get(f"{cp_url}/readyz")).status_code == 200

                    assert await wait_for(ready, 20, 0.1, ignore=(httpx.TransportError,)), procs.logs()
                    assert await asyncio.to_thread(
                        cl.wait_until, lambda: cl.placeable(cp_url) == dict.fromkeys(NODES, 1), 30), procs.logs()
                    link = seeded.links["board"]
                    members = await mt.meeting(cp_url, "board", link, subscribers=2, hints=["eu-2"] * 3)
                    result["placed"] = [(m.name, m.node, m.region) for m in members]
                    assert {m.node for m in members} == {NODES["eu-2"]}, result["placed"]
                    assert await mt.decoding(members, frames=45, timeout=20), "no media on eu-2"

                    # the admin allows Frankfurt only
                    r = await http.put(f"{cp_url}/v1/tenants/{TENANT}/regions",
                                       json={"allowed_regions": ["eu-1"], "reason": "Frankfurt only from now on"},
                                       headers={"Authorization": f"Bearer {operator_key()}"})
                    assert r.status_code == 200, r.text
                    narrowed_at = time.monotonic()
                    moved = list(await asyncio.gather(
                        *(mt.rejoin(cp_url, m, frozenset({NODES["eu-2"]}), narrowed_at, timeout=POLICY_BOUND + 15)
                          for m in members)))
                    await mt.wait_first_frames(moved, narrowed_at)
                    result["table"] = mt.table(moved)
                    result["left"] = [next((x for x in m.bot.messages if x.get("type") == "left"), None)
                                      for m in members]
                    await mt.close(members)
                    assert {m.node for m in moved} == {NODES["eu-1"]}, [(m.name, m.node) for m in moved]
                    # the removed region's link, from the bound on: nothing of the meeting, while it goes on on eu-1
                    wait = narrowed_at + POLICY_BOUND - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    for region in NODES:
                        s = topo.spokes[region]
                        captures[region] = cl.Capture(s.ns, s.iface, tmp_path / f"{region}-after.pcap")
                    assert await asyncio.to_thread(cl.wait_until,
                                                   lambda: all(c.started() for c in captures.values()), 10)
                    assert await mt.decoding(moved, frames=30, timeout=AFTER + 10), "no media on eu-1 after the move"
                    await asyncio.sleep(max(0.0, AFTER - 2))
                    await asyncio.to_thread(lambda: [c.stop() for c in captures.values()])
                    result["frames_eu1"] = {m.name: m.bot.video_frames() for m in moved if m.role == "sub"}
                    result["eu2_stats"] = (await http.get(f"http://{topo.spokes['eu-2'].addr}:{HTTP_PORT}/stats")).json()
                    await mt.close(moved)
                return result

            result = ns.run(scenario(), timeout=200)
        for c in captures.values():
            c.stop()

        meeting_bpf = f"udp or host {clients.addr}"
        counts = {region: {"meeting": c.count(meeting_bpf), "udp": c.count("udp"), "all": c.count()}
                  for region, c in captures.items()}
        out.append(f"placed: {result['placed']}")
        out.append("-- policy narrowed to eu-1 -> each participant told region_withdrawn, joins again --\n"
                   + result["table"])
        out.append(f"capture from {POLICY_BOUND:.0f} s after the change, {AFTER:.0f} s: {counts}")
        out.append(f"frames decoded on eu-1 after the move: {result['frames_eu1']}")
        assert all(m is not None and m.get("reason") == "region_withdrawn" for m in result["left"]), result["left"]
        assert counts["eu-2"]["meeting"] == 0 and counts["eu-2"]["udp"] == 0, counts
        assert counts["eu-1"]["meeting"] > 100, counts
        assert result["eu2_stats"]["rooms"] == 0 and result["eu2_stats"]["participants"] == 0, result["eu2_stats"]

        verify, records = cl.audit_export(seeded, TENANT, tmp_path / f"{TENANT}-audit.jsonl")
        assert verify.returncode == 0 and verify.stdout.startswith("OK"), verify.stderr
        # the node's own chain holds its signed record; the tenant's audit holds the change and the re-placement
        kinds = [r["kind"] for r in records]
        out.append(f"audit kinds: {sorted(set(kinds))}")
        assert "policy.changed" in kinds and "placement.replaced" in kinds, kinds
        version = [r for r in records if r["kind"] == "policy.changed"][-1]["data"]["after"]["version"]
        # eu-2-a's own audit log: its withdrawal, signed with the key enrolled for eu-2
        node_dir = tmp_path / f"node-{NODES['eu-2']}"
        withdrawn = [r for r in AuditLog(node_dir / "node-audit.db").records(chain_of(TENANT))
                     if r.kind == "residency.withdrawn"]
        assert len(withdrawn) == 1, withdrawn
        data = dict(withdrawn[0].data)
        out.append(f"eu-2-a's record: {data}")
        assert data["policy_version"] == version and data["participants"] == 3 and data["region"] == "eu-2", data
        node_key = load_or_create_node_key(node_dir / "node-key.pem", create=False)
        node_key.public_key().verify(unb64(str(data["signature"])), withdrawal_payload(TENANT, data))

        room = seeded.links["board"]["room"]

        def verified() -> subprocess.CompletedProcess[str]:
            got = fetched("--meeting", room, "--out", str(tenant_dir / "evidence.json"))
            assert got.returncode == 0, got.stdout + got.stderr
            return cl.run_castellan("residency", "verify", room, "--heads", str(heads), "--evidence",
                                    str(tenant_dir / "evidence.json"), "--json")

        # eu-2-a's final receipt reaches the log once the meeting left it (sent within a second or two)
        runs: list[subprocess.CompletedProcess[str]] = []
        assert cl.wait_until(lambda: runs.append(verified()) or any(
            n["node"] == NODES["eu-2"] and n["final"] for n in json.loads(runs[-1].stdout or "{}").get("nodes", [])),
            30, 1.0), runs[-1].stdout + runs[-1].stderr
        report = json.loads(runs[-1].stdout)
        text = cl.run_castellan("residency", "verify", room, "--heads", str(heads), "--evidence",
                                str(tenant_dir / "evidence.json"))
        out.append("residency verify:\n" + text.stdout + text.stderr)
        eu2 = next(n for n in report["nodes"] if n["node"] == NODES["eu-2"])
        assert eu2["standing"] == "within_bound" and 0 <= eu2["after_change"] <= POLICY_BOUND, eu2
        assert f"after policy v{version}" in eu2["policy"] and "within the published bound" in eu2["policy"], eu2
        assert report["standing"] == "within_bound" and text.returncode == 4, (report, text.returncode)
    except BaseException:
        print(procs.logs())
        raise
    finally:
        netbot.reset_host_addresses()
        for c in captures.values():
            c.stop()
        procs.stop_all()
        print("\n".join(out))
