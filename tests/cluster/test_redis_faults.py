"""Redis restarted mid-meeting (issue 7 item 5), on loopback: a real redis-server (no persistence, so a restart
loses every key, as a Redis pod restart does), a `castellan control-plane` and two `castellan node` processes
(both eu-1). While Redis is down:
  * the running meeting keeps its media (frames keep decoding: media never touches Redis);
  * a join gets a clear, retryable refusal: HTTP 503 `registry_unavailable`, and the control plane's /readyz is 503;
  * a node that lost Redis stops taking participants: a valid join token (minted just before the outage) is
    refused on its WebSocket with `registry_unavailable`.
When Redis is back (same address, empty): the control plane re-publishes regions and policies, the nodes
re-register, and a new meeting can be joined again, with media (time to recovery is printed).

Known gaps, checked last and reported as an expected failure (xfail) until fixed in the product:
  * the node's /readyz still says ready while it cannot reach Redis (sfu/app/signalling.py);
  * the running meeting's placement is not restored after the restart, so a participant joining it may be
    placed on another node than the one the meeting is on (a split meeting).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import websockets

from loadtests.bots.netbot import join
from tests.cluster import cluster as cl
from tests.cluster import meeting as mt
from tests.support.ports import UDP, free_port

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]

HOST = "127.0.0.1"
RETRYABLE = {"registry_unavailable", "service_unavailable"}
OUTAGE = 6.0  # seconds Redis stays down: three node heartbeats (2 s) fail


async def _ws_join(ws_url: str, token: str) -> dict:
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "join", "token": token}))
        return json.loads(await asyncio.wait_for(ws.recv(), 5))


def test_redis_restart_mid_meeting(tmp_path: Path) -> None:
    procs = cl.Processes()
    out: list[str] = []
    gaps: list[str] = []
    failures: list[str] = []  # checked after everything else ran, so one run shows every problem
    try:
        redis = procs.add(cl.RedisProc(tmp_path / "redis", free_port()))
        redis.start()
        cp_port = free_port()
        cp_url = f"http://{HOST}:{cp_port}"
        seeded = cl.seed(tmp_path / "control" / "castellan.db", regions=[("eu-1", "EU", "Frankfurt, DE", "EU Central")],
                         tenants=[("acme", "ACME GmbH", "EU", None)],
                         links={"running": "acme", "new": "acme", "open": "acme"}, open_links=["open"],
                         public_url=cp_url)
        cp = procs.add(cl.control_plane(tmp_path, seeded.db, HOST, cp_port, redis.url))
        assert cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 20), cp.tail()
        nodes: dict[str, str] = {}
        for node_id in ("eu-1a", "eu-1b"):
            http = free_port()
            procs.add(cl.node(tmp_path, node_id, "eu-1", HOST, http, free_port(HOST, UDP), redis.url, cp_url))
            nodes[node_id] = f"http://{HOST}:{http}"
        assert cl.wait_until(lambda: set(cl.registry_nodes(redis.url)) == set(nodes), 20), procs.logs()
        assert cl.wait_until(lambda: cl.placeable(cp_url).get("eu-1") == len(nodes), 20), procs.logs()

        async def scenario() -> None:
            members: list[mt.Member] = []
            async with httpx.AsyncClient(trust_env=False, timeout=3) as http:
                try:
                    members = await mt.meeting(cp_url, "running", seeded.links["running"], subscribers=1)
                    host = members[0].node
                    assert all(m.node == host for m in members)
                    assert await mt.decoding(members, frames=20), "no media before the outage"
                    spare = await join(cp_url, seeded.links["running"]["link"], "spare", cl.PASSWORD)
                    assert spare[0] == 200 and spare[1]["node"] == host, spare

                    # -- Redis goes away -------------------------------------------------------------------
                    before = members[1].bot.video_frames()
                    down_at = time.monotonic()
                    redis.stop()
                    # a link without a password goes straight to placement; one with a password first asks the
                    # (Redis-shared) password-failure limiter: both must answer 503 with a clear code
                    for name, password in (("open", None), ("new", cl.PASSWORD)):
                        status, body, headers = await join(cp_url, seeded.links[name]["link"], "during", password)
                        out.append(f"join ({'password' if password else 'no password'}) while Redis is down: "
                                   f"HTTP {status} {body} Retry-After={headers.get('retry-after')}")
                        if status != 503 or body.get("error") not in RETRYABLE or not body.get("message"):
                            failures.append(f"join ({'password' if password else 'no password'} link) while Redis "
                                            f"is down answered HTTP {status} {body}, not 503 with a retryable code")
                    cp_ready = await http.get(f"{cp_url}/readyz")
                    out.append(f"control plane /readyz while Redis is down: {cp_ready.status_code} {cp_ready.json()}")
                    assert cp_ready.status_code == 503, cp_ready.text
                    await asyncio.sleep(max(0.0, down_at + 4.5 - time.monotonic()))  # > 2 failed heartbeats
                    refused = await _ws_join(spare[1]["ws_url"], spare[1]["token"])
                    out.append(f"node {host}: join with a valid token while Redis is down -> {refused}")
                    assert refused.get("type") == "error" and refused.get("code") == "registry_unavailable", refused
                    node_ready = await http.get(f"{nodes[host]}/readyz")
                    out.append(f"node {host} /readyz while Redis is down: {node_ready.status_code} {node_ready.text}")
                    if node_ready.status_code != 503:
                        gaps.append(f"node /readyz is {node_ready.status_code} while the node cannot reach Redis")
                    await asyncio.sleep(max(0.0, down_at + OUTAGE - time.monotonic()))
                    during = members[1].bot.video_frames() - before
                    out.append(f"frames decoded by the subscriber during the {time.monotonic() - down_at:.1f} s outage: {during}")
                    assert during >= 15 * (OUTAGE - 1) * 0.5, f"media stalled while Redis was down ({during} frames)"

                    # -- Redis is back, empty ------------------------------------------------------------------
                    # First a participant for the RUNNING meeting (asked until it is accepted, as a client
                    # would): it must be sent where the meeting runs. Asked before any other meeting starts, so
                    # the other node is the less loaded one and a lost placement shows as a split meeting.
                    up_at = time.monotonic()
                    await asyncio.to_thread(redis.start)
                    answers = []
                    while time.monotonic() < up_at + 15:
                        late = await join(cp_url, seeded.links["running"]["link"], "late", cl.PASSWORD)
                        answers.append((late[0], late[1].get("error")))
                        if late[0] == 200:
                            break
                        await asyncio.sleep(0.2)
                    recovered_after = time.monotonic() - up_at
                    out.append(f"Redis back: first join accepted {recovered_after:.2f} s after the restart (answers "
                               f"before it: {sorted(set(answers[:-1]))}); it was sent to node "
                               f"{late[1].get('node')}, the meeting runs on {host}")
                    assert late[0] == 200, answers
                    if late[1]["node"] != host:
                        gaps.append(f"after the Redis restart the running meeting's placement was lost: a new "
                                    f"participant was sent to {late[1]['node']} while the meeting runs on {host} "
                                    "(a split meeting)")
                    newcomers = await mt.meeting(cp_url, "new", seeded.links["new"], subscribers=1)
                    members += newcomers
                    assert await mt.decoding(newcomers, frames=15), "no media in a meeting started after the restart"
                    out.append(f"a meeting started after the restart has media {time.monotonic() - up_at:.2f} s "
                               f"after the restart (on {newcomers[0].node})")
                    assert await asyncio.to_thread(cl.wait_until, lambda: set(cl.registry_nodes(redis.url)) == set(nodes), 10)
                    cp_ready = await http.get(f"{cp_url}/readyz")
                    assert cp_ready.status_code == 200, cp_ready.text
                    assert await mt.decoding(members[:2], frames=15), "the running meeting lost its media"
                finally:
                    await mt.close(members)

        asyncio.run(scenario())
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()
        print("\n".join(out))
    assert not failures, "\n".join(failures)
    if gaps:
        pytest.xfail("known gaps (see docs/proofs.md): " + "; ".join(gaps))
