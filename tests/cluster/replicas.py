"""Control-plane replicas as real processes behind one address, for the HA test and the replica benchmark:
a PostgreSQL cluster (tests/support/postgres.py), a redis-server, N `castellan control-plane --database-url …
--redis-url …` processes sharing one key directory, one `castellan node`, and a round-robin TCP proxy in front
(tests/support/tcp_proxy.py, the Service/load balancer). Links are made on the database before the replicas
start: `open` (no password), `pw1`/`pw2` (password), `lobby` (waiting room), `capped` (4 participants).

`storm` runs joins through one URL with a bounded number at once, each client from its own loopback address (each
address has its own join-rate budget, as many users behind many addresses would), retrying a join whose
connection broke or that got a retryable 502/503, and records every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.cluster import cluster as cl
from tests.support.ports import UDP, free_port
from tests.support.postgres import PostgresServer
from tests.support.processes import Proc
from tests.support.tcp_proxy import TcpProxy

HOST = "127.0.0.1"
RETRYABLE_STATUS = {502, 503}


@dataclass
class Deployment:
    pg: PostgresServer
    redis: cl.RedisProc
    replicas: list[Proc]
    ports: list[int]
    proxy: TcpProxy
    links: dict[str, dict[str, Any]]
    procs: cl.Processes

    def url(self, i: int) -> str:
        return f"http://{HOST}:{self.ports[i]}"

    def logs(self) -> str:
        return self.procs.logs()


def _seed(tmp: Path, database_url: str, public_url: str) -> dict[str, dict[str, Any]]:
    from residency.registry import MemoryRegistry
    from signalling.control.app import build_control_plane
    from signalling.control.config import ControlConfig
    from signalling.control.residency_adapter import open_residency

    config = ControlConfig(db=tmp / "control" / "castellan.db", public_url=public_url, database_url=database_url,
                           signing_key_dir=tmp / "keys")
    adapter = open_residency(config, registry=MemoryRegistry())
    adapter.service.define_region("eu-1", "EU", "Frankfurt, DE", "EU Central", actor="operator:test")
    control = build_control_plane(config, residency=adapter)
    control.create_tenant("operator:test", tenant="acme", name="ACME GmbH", jurisdiction="EU")
    links = {
        "open": control.create_link("operator:test", tenant="acme", title="storm", no_password=True),
        "pw1": control.create_link("operator:test", tenant="acme", title="pw1", password=cl.PASSWORD),
        "pw2": control.create_link("operator:test", tenant="acme", title="pw2", password=cl.PASSWORD),
        "lobby": control.create_link("operator:test", tenant="acme", title="lobby", no_password=True, lobby=True),
        "capped": control.create_link("operator:test", tenant="acme", title="capped", no_password=True,
                                      max_participants=4),
    }
    control.close()
    adapter.service.db.close()
    control.store.close()
    return {name: dict(rec) for name, rec in links.items()}


def _ready(url: str) -> bool:
    return httpx.get(f"{url}/readyz", timeout=1, trust_env=False).status_code == 200


@contextlib.contextmanager
def deployment(tmp: Path, replicas: int = 2, fsync: bool = False) -> Iterator[Deployment]:
    procs = cl.Processes()
    pg = PostgresServer(fsync=fsync)
    try:
        pg.start()
        redis = procs.add(cl.RedisProc(tmp / "redis", free_port()))
        redis.start()
        ports = [free_port() for _ in range(replicas)]
        with TcpProxy([(HOST, p) for p in ports]) as proxy:
            links = _seed(tmp, pg.url, proxy.url)
            operator = f"cak_{secrets.token_hex(8)}.{secrets.token_urlsafe(32)}"
            env = {"CASTELLAN_OPERATOR_KEY": operator, "CASTELLAN_SIGNING_KEY_DIR": str(tmp / "keys")}
            cps = [procs.add(cl.control_plane(tmp, tmp / "control" / "castellan.db", HOST, port, redis.url,
                                              database_url=pg.url, name=f"control-plane-{i}", public_url=proxy.url,
                                              env=env))
                   for i, port in enumerate(ports)]
            for i, cp in enumerate(cps):
                assert cl.wait_until(lambda i=i: _ready(f"http://{HOST}:{ports[i]}"), 60), cp.tail()
            procs.add(cl.node(tmp, "eu-1a", "eu-1", HOST, free_port(), free_port(HOST, UDP), redis.url, proxy.url,
                              database_url=pg.url))
            assert cl.wait_until(lambda: set(cl.registry_nodes(redis.url)) == {"eu-1a"}, 30), procs.logs()
            # registered is not yet placeable: each replica places on the node only once it has answered that
            # replica's own signed challenge (residency/trust.py); a join before that is refused, as it should be
            for port in ports:
                assert cl.wait_until(lambda port=port: cl.placeable(f"http://{HOST}:{port}").get("eu-1") == 1,
                                     30), procs.logs()
            yield Deployment(pg, redis, cps, ports, proxy, links, procs)
    finally:
        procs.stop_all()
        pg.remove()


def source(block: int, i: int) -> str:
    """A loopback source address: 127.<block>.<i // 250>.<1 + i % 250>."""
    return f"127.{block}.{i // 250}.{1 + i % 250}"


@dataclass
class Attempt:
    status: int  # 0: the connection broke
    error: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class StormResult:
    joins: list[list[Attempt]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def succeeded(self) -> int:
        return sum(1 for j in self.joins if j and j[-1].status == 200)

    @property
    def retried(self) -> int:
        return sum(1 for j in self.joins if len(j) > 1)

    @property
    def most_attempts(self) -> int:
        return max((len(j) for j in self.joins), default=0)

    def failures(self) -> list[list[Attempt]]:
        return [j for j in self.joins if not j or j[-1].status != 200]


async def storm(url: str, link: str, total: int, concurrency: int, block: int = 2, attempts: int = 3,
                on_done: Callable[[int], None] | None = None, deadline: float = 120.0,
                keepalive: int | None = 0) -> StormResult:
    """`total` joins of `link` through `url` by `concurrency` clients at once, each from its own loopback address
    with its own keep-alive connection; a join is tried up to `attempts` times. After a broken connection a
    client reconnects (as a browser does), so a retry never reuses a connection to a replica that died."""
    result = StormResult()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(n)
    done = 0
    end = time.monotonic() + deadline

    def connect(w: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=source(block, w) if block else None,
                                                                    retries=0),
                                 limits=httpx.Limits(max_keepalive_connections=keepalive), trust_env=False,
                                 timeout=10)

    async def worker(w: int) -> None:
        nonlocal done
        client = connect(w)
        try:
            while time.monotonic() < end:
                try:
                    n = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                tries: list[Attempt] = []
                while len(tries) < attempts and time.monotonic() < end:
                    try:
                        r = await client.post(f"{url}/v1/join", json={"link": link, "name": f"p{n}"})
                        tries.append(Attempt(r.status_code, r.json().get("error")))
                    except (httpx.TransportError, ValueError) as e:
                        tries.append(Attempt(0, type(e).__name__))
                        await client.aclose()
                        client = connect(w)
                    if tries[-1].status not in RETRYABLE_STATUS and tries[-1].status != 0:
                        break
                    await asyncio.sleep(0.2)  # a client's retry, after a pause
                result.joins.append(tries)
                done += 1
                if on_done is not None:
                    on_done(done)
        finally:
            await client.aclose()

    t0 = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    result.seconds = time.monotonic() - t0
    return result
