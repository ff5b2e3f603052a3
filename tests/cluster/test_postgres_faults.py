"""PostgreSQL restarted mid-meeting (issue 13), on loopback: a real PostgreSQL cluster (Debian's server, started by
tests/support/postgres.py), a real redis-server, a `castellan control-plane --database-url postgresql://…` and a
`castellan node`. While PostgreSQL is down:
  * the running meeting keeps its media (frames keep decoding: media never touches the database);
  * a join gets a clear, retryable refusal: HTTP 503 `store_unavailable` with Retry-After, never a 500 or a hang,
    and the control plane's /readyz is 503;
When PostgreSQL is back (same address): joins succeed again with no restart of the control plane (its pool
tests connections before use), /readyz is 200, and the running meeting still has its media.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from loadtests.bots.netbot import join
from tests.cluster import cluster as cl
from tests.cluster import meeting as mt
from tests.support.ports import UDP, free_port
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

HOST = "127.0.0.1"
OUTAGE = 4.0  # seconds PostgreSQL stays down


def test_postgres_restart_mid_meeting(tmp_path: Path) -> None:
    procs = cl.Processes()
    pg = PostgresServer()  # its own cluster (this test stops it), in a temporary directory the server may enter
    out: list[str] = []
    try:
        pg.start()
        redis = procs.add(cl.RedisProc(tmp_path / "redis", free_port()))
        redis.start()
        cp_port = free_port()
        cp_url = f"http://{HOST}:{cp_port}"
        seeded = cl.seed(tmp_path / "control" / "castellan.db", regions=[("eu-1", "EU", "Frankfurt, DE", "EU Central")],
                         tenants=[("acme", "ACME GmbH", "EU", None)], links={"running": "acme", "new": "acme"},
                         public_url=cp_url, database_url=pg.url)
        assert not (tmp_path / "control" / "castellan.db").exists()  # the data went to PostgreSQL
        cp = procs.add(cl.control_plane(tmp_path, seeded.db, HOST, cp_port, redis.url, database_url=pg.url))
        assert cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 30), cp.tail()
        http = free_port()
        procs.add(cl.node(tmp_path, "eu-1a", "eu-1", HOST, http, free_port(HOST, UDP), redis.url, cp_url,
                          database_url=pg.url))
        assert cl.wait_until(lambda: set(cl.registry_nodes(redis.url)) == {"eu-1a"}, 20), procs.logs()
        assert cl.wait_until(lambda: cl.placeable(cp_url).get("eu-1") == 1, 30), procs.logs()  # challenge answered

        async def scenario() -> None:
            members: list[mt.Member] = []
            try:
                members = await mt.meeting(cp_url, "running", seeded.links["running"], subscribers=1)
                assert await mt.decoding(members, frames=20), "no media before the outage"

                # -- PostgreSQL goes away ---------------------------------------------------------------------
                await asyncio.to_thread(pg.stop)
                stopped = time.monotonic()
                answers = []
                while time.monotonic() - stopped < OUTAGE:
                    answers.append(await join(cp_url, seeded.links["new"]["link"], "late", cl.PASSWORD))
                    await asyncio.sleep(0.3)
                codes = {(s, b.get("error")) for s, b, _ in answers}
                assert codes == {(503, "store_unavailable")}, answers[:3]
                assert all(h.get("retry-after") for _, _, h in answers)
                assert all("127.0.0.1" not in str(b) and "psycopg" not in str(b) for _, b, _ in answers)
                async with httpx.AsyncClient(trust_env=False, timeout=5) as c:
                    ready = await c.get(f"{cp_url}/readyz")
                assert ready.status_code == 503 and ready.json()["checks"]["store"] is False, ready.text
                assert await mt.decoding(members, frames=20), "media stopped while PostgreSQL was down"
                out.append(f"{len(answers)} joins refused (503 store_unavailable, Retry-After) during the outage")

                # -- PostgreSQL is back -----------------------------------------------------------------------
                await asyncio.to_thread(pg.start)
                back = time.monotonic()
                late = await mt.enter(cp_url, "running", seeded.links["running"], "late", "sub")
                members.append(late)
                recovered = time.monotonic() - back
                refused = [h for h in late.history if h["status"] != 200]
                assert all((h["status"], h["error"]) == (503, "store_unavailable") for h in refused), refused
                assert late.node == members[0].node
                assert await mt.decoding(members, frames=20), "no media after PostgreSQL came back"
                async with httpx.AsyncClient(trust_env=False, timeout=5) as c:
                    assert (await c.get(f"{cp_url}/readyz")).status_code == 200
                out.append(f"first join {recovered:.2f} s after PostgreSQL was back ({len(refused)} retries)")
            finally:
                for m in members:
                    await m.bot.close()

        asyncio.run(scenario())
        print("\n".join(out))
        assert cp.alive(), cp.tail()
    except BaseException:
        print(procs.logs())
        print(pg.log_tail())
        raise
    finally:
        procs.stop_all()
        pg.remove()
