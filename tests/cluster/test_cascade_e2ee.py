"""One MLS group for a meeting across two node processes (issues 12 and 14): a real redis-server, a `castellan
control-plane` process and two `castellan node` processes — eu-1a (eu-1) and eu-2a (eu-2) — with their own
enrolled keys, on loopback. Three headless members of the real client (tests/node/cascade/members.mjs) join
through the control plane: alice asks for eu-1 (the meeting's home), bob and carol for eu-2 (placed on eu-2a,
which dials the home by itself). Nobody publishes media. All three end in one epoch with one roster and one
safety code, frames sealed on one node open on the other, and when carol leaves she is committed away. Before
the home ordered every node's handshakes, bob and carol made a group of their own on eu-2a and alice never saw
them (tests/node/cascade/test_e2ee_cascade.py has the hostile and link-closing cases, in process)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtests.bots.netbot import join
from tests.cluster import cluster as cl
from tests.node.cascade.e2ee_members import Members
from tests.support.ports import UDP, free_port

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow,
              pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for the headless members")]

HOST = "127.0.0.1"


def _stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/stats", timeout=2, trust_env=False).json()



def _two_eu_nodes(tmp_path: Path, procs: cl.Processes,
                  redis_port: int) -> tuple[str, dict[str, str], dict[str, Any], dict[str, str]]:
    """A redis-server, the control plane and nodes eu-1a (eu-1) and eu-2a (eu-2) for an EU tenant allowing both,
    all verified: (control plane URL, the "board" link, the node processes, their HTTP URLs) by node id."""
    redis = procs.add(cl.RedisProc(tmp_path / "redis", redis_port))
    redis.start()
    cp_port = free_port()
    cp_url = f"http://{HOST}:{cp_port}"
    seeded = cl.seed(tmp_path / "control" / "castellan.db",
                     regions=[("eu-1", "EU", "Frankfurt, DE", "EU Central"), ("eu-2", "EU", "Paris, FR", "EU West")],
                     tenants=[("acme", "ACME GmbH", "EU", ["eu-1", "eu-2"])],
                     links={"board": "acme"}, public_url=cp_url)
    procs.add(cl.control_plane(tmp_path, seeded.db, HOST, cp_port, redis.url))
    assert cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 20), procs.logs()
    nodes: dict[str, Any] = {}
    urls: dict[str, str] = {}
    for node_id, region in (("eu-1a", "eu-1"), ("eu-2a", "eu-2")):
        http = free_port()
        nodes[node_id] = procs.add(cl.node(tmp_path, node_id, region, HOST, http, free_port(HOST, UDP), redis.url,
                                           cp_url))
        urls[node_id] = f"http://{HOST}:{http}"
    assert cl.wait_until(lambda: cl.placeable(cp_url) == {"eu-1": 1, "eu-2": 1}, 30), procs.logs()
    return cp_url, seeded.links["board"], nodes, urls


async def _seat_three(m: Members, cp_url: str, link: dict[str, str]) -> None:
    """alice asks for eu-1 (the home), bob and carol for eu-2: each joins through the control plane where placed."""
    where: dict[str, str] = {}
    for name, hint in (("alice", "eu-1"), ("bob", "eu-2"), ("carol", "eu-2")):
        status, body, _ = await join(cp_url, link["link"], name, link["password"], hint=hint)
        assert status == 200, (name, status, body)
        where[name] = body["node"]
        await m.join(name, body["ws_url"], body["token"])
    assert where == {"alice": "eu-1a", "bob": "eu-2a", "carol": "eu-2a"}, where

def test_members_on_two_node_processes_share_one_group(tmp_path: Path) -> None:
    procs = cl.Processes()
    report: list[str] = []
    try:
        redis_port = free_port()
        cp_url, link, _, urls = _two_eu_nodes(tmp_path, procs, redis_port)

        async def scenario() -> None:
            m = await Members.start()
            try:
                await _seat_three(m, cp_url, link)
                state = await m.agreed({"alice", "bob", "carol"})
                epoch = state["alice"]["epoch"]
                report.append(f"alice (eu-1a, home), bob and carol (eu-2a): epoch {epoch}, roster of 3, safety code "
                              f"{state['alice']['safety']} on all three")
                assert await m.frames_open("alice", ["bob", "carol"]), "far members cannot open the home's frames"
                assert await m.frames_open("carol", ["alice", "bob"]), "the home cannot open a far member's frames"
                report.append("frames sealed by alice open at bob and carol; carol's at alice and bob")
                await m.ask(op="leave", name="carol")
                state = await m.agreed({"alice", "bob"})
                assert state["alice"]["epoch"] > epoch
                report.append(f"carol left eu-2a: alice and bob at epoch {state['alice']['epoch']}, roster of 2")
                eu1 = await asyncio.to_thread(_stats, urls["eu-1a"])
                eu2 = await asyncio.to_thread(_stats, urls["eu-2a"])
                assert (eu1["participants"], eu2["participants"]) == (1, 1)  # relayed members are not joins
            finally:
                await m.close()

        asyncio.run(scenario())
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()
        print("\n".join(report))


def _placement(redis_port: int) -> tuple[str, int]:
    """The board room's placement from Redis (residency/registry.py keys): its home node and generation."""
    def cli(*args: str) -> str:
        return subprocess.run(["redis-cli", "-h", HOST, "-p", str(redis_port), *args], capture_output=True,
                              text=True, check=True, timeout=5).stdout
    keys = cli("--scan", "--pattern", "castellan:placement:acme:*").split()
    assert len(keys) == 1, keys
    doc = json.loads(cli("get", keys[0]))
    return doc["node"], int(doc["generation"])


def test_the_home_node_dies_and_the_group_reforms_on_the_new_home(tmp_path: Path) -> None:
    """alice on eu-1a (the meeting's home, its MLS Delivery Service), bob and carol on eu-2a share an epoch; eu-1a
    is SIGKILLed; alice asks the control plane again naming the node she lost and is placed on eu-2a, the new home
    (the placement's generation moves). All three end in one new epoch with one roster and one safety code, and
    frames sealed by one open at the others."""
    procs = cl.Processes()
    report: list[str] = []
    try:
        redis_port = free_port()
        cp_url, link, nodes, _ = _two_eu_nodes(tmp_path, procs, redis_port)

        async def scenario() -> None:
            m = await Members.start()
            try:
                await _seat_three(m, cp_url, link)
                state = await m.agreed({"alice", "bob", "carol"})
                before = state["alice"]["epoch"]
                home_before = await asyncio.to_thread(_placement, redis_port)
                assert home_before[0] == "eu-1a", home_before
                report.append(f"before: epoch {before}, safety code {state['alice']['safety']}, home {home_before}")

                killed_at = time.monotonic()
                await asyncio.to_thread(nodes["eu-1a"].kill)
                answers: list[tuple[int, str | None]] = []
                end = time.monotonic() + 30
                while True:  # as a client does: ask again, naming the node it lost, until placed elsewhere
                    status, body, _ = await join(cp_url, link["link"], "alice", link["password"], hint="eu-1",
                                                 unreachable="eu-1a")
                    answers.append((status, body.get("node")))
                    if status == 200 and body["node"] != "eu-1a":
                        break
                    assert time.monotonic() < end, answers[-3:]
                    await asyncio.sleep(0.1)
                assert body["node"] == "eu-2a", answers
                await m.join("alice", body["ws_url"], body["token"])
                report.append(f"alice re-placed on eu-2a after {len(answers)} asks, "
                              f"{time.monotonic() - killed_at:.2f} s after the kill")
                home_after = await asyncio.to_thread(_placement, redis_port)
                report.append(f"placement: {home_before} before the kill, {home_after} after")
                assert home_after[0] == "eu-2a" and home_after[1] > home_before[1], (home_before, home_after)

                state = await m.agreed({"alice", "bob", "carol"}, timeout=30.0, after=before)
                after = state["alice"]["epoch"]
                report.append(f"after: epoch {after}, roster of 3, safety code {state['alice']['safety']} on all "
                              f"three, {time.monotonic() - killed_at:.2f} s after the kill")
                for sender, receivers in (("alice", ["bob", "carol"]), ("bob", ["alice", "carol"]),
                                          ("carol", ["alice", "bob"])):
                    assert await m.frames_open(sender, receivers), f"{receivers} cannot open {sender}'s frames"
                    sealed = await m.ask(op="frame", **{"from": sender}, to=receivers)
                    assert sealed["frame"]["epoch"] > before, sealed  # the old epoch's key is not the one in use
                report.append("frames sealed by each open at the other two, under an epoch after the kill")
            finally:
                await m.close()

        asyncio.run(scenario())
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()
        print("\n".join(report))
