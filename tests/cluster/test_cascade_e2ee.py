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
import shutil
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


def test_members_on_two_node_processes_share_one_group(tmp_path: Path) -> None:
    procs = cl.Processes()
    report: list[str] = []
    try:
        redis = procs.add(cl.RedisProc(tmp_path / "redis", free_port()))
        redis.start()
        cp_port = free_port()
        cp_url = f"http://{HOST}:{cp_port}"
        seeded = cl.seed(tmp_path / "control" / "castellan.db",
                         regions=[("eu-1", "EU", "Frankfurt, DE", "EU Central"),
                                  ("eu-2", "EU", "Paris, FR", "EU West")],
                         tenants=[("acme", "ACME GmbH", "EU", ["eu-1", "eu-2"])],
                         links={"board": "acme"}, public_url=cp_url)
        procs.add(cl.control_plane(tmp_path, seeded.db, HOST, cp_port, redis.url))
        assert cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 20), procs.logs()
        urls: dict[str, str] = {}
        for node_id, region in (("eu-1a", "eu-1"), ("eu-2a", "eu-2")):
            http = free_port()
            procs.add(cl.node(tmp_path, node_id, region, HOST, http, free_port(HOST, UDP), redis.url, cp_url))
            urls[node_id] = f"http://{HOST}:{http}"
        assert cl.wait_until(lambda: cl.placeable(cp_url) == {"eu-1": 1, "eu-2": 1}, 30), procs.logs()
        link = seeded.links["board"]

        async def scenario() -> None:
            m = await Members.start()
            try:
                where: dict[str, str] = {}
                for name, hint in (("alice", "eu-1"), ("bob", "eu-2"), ("carol", "eu-2")):
                    status, body, _ = await join(cp_url, link["link"], name, link["password"], hint=hint)
                    assert status == 200, (name, status, body)
                    where[name] = body["node"]
                    await m.join(name, body["ws_url"], body["token"])
                assert where == {"alice": "eu-1a", "bob": "eu-2a", "carol": "eu-2a"}, where
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
