"""Node memory per session (issue 18): a node process, one publisher and one subscriber staying, then `--sessions`
short sessions — a bench publisher joining, sending VP8 + Opus for `--seconds`, leaving; and a subscriber joining
and leaving beside it — with the node's RSS and glibc heap (loadtests/bench/node.py `/heap`) after each.

    .venv/bin/python -m loadtests.bench.churn --sessions 40

Prints one line per session and the growth per session over the second half (after warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from loadtests.bench import media as bench_media
from loadtests.bench.peer import Publisher, Subscriber
from loadtests.bench.target import CastellanTarget


async def run_churn(sessions: int, seconds: float = 2.0, node_args: list[str] | None = None,
                    say: Any = print, trace_at: tuple[int, ...] = ()) -> list[dict[str, int]]:
    target = CastellanTarget(node_args=node_args)
    await target.start()
    samples: list[dict[str, int]] = []
    keep: list[Any] = []
    try:
        media = await asyncio.to_thread(bench_media.load, 4.0, 160, 120, 100_000)
        pub = Publisher("pub-stay", media)
        await target.join_publisher(pub)
        pub.start_media()
        keep.append(pub)
        sub = Subscriber("sub-stay")
        await target.join_subscriber(sub)
        keep.append(sub)
        for n in range(sessions):
            p = Publisher(f"pub-{n}", media)
            await target.join_publisher(p)
            p.start_media()
            s = Subscriber(f"sub-{n}")
            await target.join_subscriber(s)
            await asyncio.sleep(seconds)
            await target.leave(s)
            await target.leave(p)
            await asyncio.sleep(0.5)
            heap = await target._get("/heap", port=target.bench_port)
            samples.append(heap)
            if trace_at and n + 1 in trace_at:
                growth = await target._get("/tracemalloc", port=target.bench_port)
                say(f"tracemalloc after session {n + 1}: {growth.get('traced', 0) / 1e6:.2f} MB traced, "
                    f"{growth.get('gc_objects')} gc objects")
                for g in growth.get("growth", [])[:15]:
                    say(f"  {g['size_diff']:+9d} B {g['count_diff']:+6d}  " + " <- ".join(g["where"][-4:][::-1]))
            say(f"session {n + 1:3d}: RSS {heap['VmRSS'] / 1e6:7.2f} MB  heap in use {heap.get('uordblks', 0) / 1e6:7.2f} MB"
                f"  free in heap {heap.get('fordblks', 0) / 1e6:6.2f} MB  mmap {heap.get('hblkhd', 0) / 1e6:6.2f} MB"
                f"  arena {heap.get('arena', 0) / 1e6:6.2f} MB  threads {heap.get('threads', 0)}")
        return samples
    finally:
        for peer in keep:
            peer.close()
        await target.stop()


def per_session(samples: list[dict[str, int]], key: str) -> float:
    """Least-squares growth of `key` per session over the second half of the samples (bytes per session)."""
    half = samples[len(samples) // 2:]
    if len(half) < 2:
        return 0.0
    xs = list(range(len(half)))
    ys = [s.get(key, 0) for s in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="loadtests.bench.churn", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--trace-at", default="", help="sessions after which to print tracemalloc growth, e.g. 10,30 "
                                                   "(start with CASTELLAN_BENCH_TRACEMALLOC=<frames>)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    samples = asyncio.run(run_churn(args.sessions, args.seconds,
                                    say=lambda m: print(f"[{time.monotonic() - t0:6.1f} s] {m}", file=sys.stderr),
                                    trace_at=tuple(int(x) for x in args.trace_at.split(",") if x)))
    for key in ("VmRSS", "uordblks", "arena", "hblkhd"):
        print(f"{key}: {per_session(samples, key) / 1024:+.1f} KiB per session (second half)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
