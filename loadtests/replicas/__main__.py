"""Join rate through two control-plane replicas vs one, on one PostgreSQL and one Redis (all on loopback):

    .venv/bin/python -m loadtests.replicas [--seconds 10] [--concurrency 32] [--fsync]

Starts the HA deployment of tests/cluster/replicas.py (PostgreSQL cluster, redis-server, two `castellan
control-plane` processes, a node, a round-robin TCP proxy), then runs the same join storm (open link: link ->
placement -> token, no password) for `--seconds` through a proxy to replica 0 alone, then through the proxy to
both, and prints joins/s, latency and errors for each. `--fsync` runs PostgreSQL with fsync and synchronous
commit on (off by default, like the tests). On a 2-CPU machine the replicas, PostgreSQL, Redis and the load
generator share the same cores: the ratio says more on a real cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.cluster.replicas import HOST, deployment, source
from tests.support.tcp_proxy import TcpProxy


async def _run(url: str, link: str, seconds: float, concurrency: int, block: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    end = time.monotonic() + seconds

    async def worker(w: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=source(block, w)),
                                     trust_env=False, timeout=10) as c:
            n = 0
            while time.monotonic() < end:
                t = time.monotonic()
                try:
                    r = await c.post(f"{url}/v1/join", json={"link": link, "name": f"b{w}-{n}"})
                    ok = r.status_code == 200
                except httpx.TransportError:
                    ok = False
                n += 1
                if ok:
                    latencies.append(time.monotonic() - t)
                else:
                    errors += 1

    t0 = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    took = time.monotonic() - t0
    lat = sorted(latencies) or [0.0]
    return {"joins": len(latencies), "rate": len(latencies) / took, "errors": errors,
            "p50": statistics.median(lat) * 1000, "p99": lat[int(len(lat) * 0.99) - 1 if len(lat) > 1 else 0] * 1000}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--fsync", action="store_true")
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="castellan-replicas-") as tmp, \
            deployment(Path(tmp), replicas=2, fsync=args.fsync) as d:
        link = d.links["open"]["link"]
        with TcpProxy([(HOST, d.ports[0])]) as one:
            asyncio.run(_run(one.url, link, 2, 4, 20))  # warm-up (room placed, pools filled)
            print(f"replicas: 1 replica, {args.concurrency} clients for {args.seconds:.0f} s ...", flush=True)
            results.append(("1 replica", asyncio.run(_run(one.url, link, args.seconds, args.concurrency, 21))))
        print(f"replicas: 2 replicas, {args.concurrency} clients for {args.seconds:.0f} s ...", flush=True)
        results.append(("2 replicas", asyncio.run(_run(d.proxy.url, link, args.seconds, args.concurrency, 22))))
    print(f"\n{'through the proxy':<18} {'joins':>7} {'joins/s':>8} {'errors':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for label, r in results:
        print(f"{label:<18} {int(r['joins']):>7} {r['rate']:>8.1f} {int(r['errors']):>7} {r['p50']:>7.1f} "
              f"{r['p99']:>7.1f}")
    print(f"(token path: link -> placement -> token; PostgreSQL fsync {'on' if args.fsync else 'off'}; "
          f"{os.cpu_count()} CPUs shared by replicas, PostgreSQL, Redis, node and load generator; "
          f"load average {os.getloadavg()[0]:.1f})")
    return 1 if any(r["errors"] for _, r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
