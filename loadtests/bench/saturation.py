"""Saturation: one publisher -> N subscribers through the engine's media workers, N raised until loss appears.

    python -m loadtests.bench.saturation [--workers 1,2] [--n 50,100,200,300,400,600,800] [--rate 2000]
                                         [--seconds 5] [--loss 0.001] [--veth] [--json FILE]

For each worker count, in one process: a ThreadedEngine with that many media workers (native/threaded.py, the
node's own arrangement: worker 0 owns the socket, subscribers placed as sfu/workers.py places a room's
participants), a publisher sending `rate` SRTP packets/s (1,100-byte payloads, paced every 5 ms; a tick more than
50 ms late is skipped, not sent in a burst: a starved sender loses packets as a real one would) from this
process, and N subscriber sockets on 127.0.0.1 that nobody reads (a small receive buffer: the kernel drops what
queues there, so no reader competes with the workers for the 2 cores; loopback delivery up to that socket is
paid by the sending worker, as in the floor). N grows until the engine forwards less than `1 - loss` of
(sent x N) over the whole run (its socket overflowed, or a worker's inbox did); the knee is the largest N
without loss. Per row: forwarded packets/s over the measurement window, the media threads' CPU (cores busy),
forwarded packets/s per core, and the engine's arrival -> sendmmsg-done p50/p99.

--veth (root): the engine's socket and the publisher in one network namespace, the subscribers in another,
across a veth pair (tests/support/topology.py, 10.213.0.1 <-> 10.213.0.2), created for the run and deleted
after: closer to a NIC than loopback, where the sending worker pays for the receiving socket's work too.

No signalling, ICE or DTLS: keys are installed directly, as in tests/native. The node's Python (RTCP, timers)
is not in the way; `loadtests.bench.forwarding` measures the whole node.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from native import reference as ref
from native.threaded import MediaThread, ThreadedEngine
from sfu.workers import WorkerPlacement

KEY = 30  # AES_CM_128_HMAC_SHA1_80 key + salt
PAYLOAD = 1100


@dataclass
class Trial:
    workers: int
    n: int
    rate: int
    sent: int = 0
    received: int = 0             # what the engine took from its socket (less: the socket overflowed)
    skipped: int = 0              # packets the publisher thread did not send: it ran > 50 ms late (starved)
    forwarded: int = 0            # over the whole run
    window_s: float = 0.0
    window_fwd: int = 0
    cpu_cores: float = 0.0        # media threads' CPU seconds per second of the window
    p50_us: float | None = None
    p99_us: float | None = None
    piped: int = 0
    drops: str = ""

    @property
    def loss(self) -> float:
        want = self.sent * self.n
        return max(0.0, 1 - self.forwarded / want) if want else 0.0

    @property
    def fwd_rate(self) -> float:
        return self.window_fwd / self.window_s if self.window_s else 0.0

    @property
    def per_core(self) -> float:
        return self.fwd_rate / self.cpu_cores if self.cpu_cores else 0.0


class Place:
    """Where the sockets are made: loopback, or (veth) the node's and the subscribers' namespaces."""

    def __init__(self, node_ns: str | None = None, subs_ns: str | None = None, node_addr: str = "127.0.0.1",
                 subs_addr: str = "127.0.0.1") -> None:
        self.node_ns, self.subs_ns, self.node_addr, self.subs_addr = node_ns, subs_ns, node_addr, subs_addr

    def socket(self, ns: str | None) -> socket.socket:
        """A UDP socket created inside namespace `ns` (it stays there; this thread comes back)."""
        if ns is None:
            return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        libc = ctypes.CDLL(None, use_errno=True)
        with open("/proc/thread-self/ns/net") as home, open(f"/var/run/netns/{ns}") as there:
            if libc.setns(there.fileno(), 0x40000000) != 0:        # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), f"setns {ns}")
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            finally:
                if libc.setns(home.fileno(), 0x40000000) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")


@contextlib.contextmanager
def veth() -> Iterator[Place]:
    from tests.support.topology import Topology

    topo = Topology(["subs"], hub="node", tag=f"sat{os.getpid() % 10000}")
    try:
        topo.create()
        spoke = topo.spokes["subs"]
        yield Place(topo.hub, spoke.ns, spoke.hub_addr, spoke.addr)
    finally:
        topo.destroy()


def media_cpu_seconds(tids: list[int]) -> float:
    """CPU seconds of the media worker threads `tids` (kernel thread ids in this process)."""
    total = 0
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1e9


def percentile(hist: list[int], q: float) -> float | None:
    total = sum(hist)
    if not total:
        return None
    seen = 0
    for us, c in enumerate(hist):
        seen += c
        if seen >= q * total:
            return float(us)
    return float(len(hist) - 1)


def packets(count: int, key: bytes) -> list[bytes]:
    up = ref.srtp_session(1, key, outbound=True)
    body = bytes(PAYLOAD)
    return [up.protect(struct.pack("!BBHII", 0x80, 111, i & 0xFFFF, i * 960, 0x1234) + body) for i in range(count)]


def trial(workers: int, n: int, rate: int, seconds: float, warmup: float = 1.0, place: Place | None = None) -> Trial:
    place = place or Place()
    row = Trial(workers, n, rate)
    node = place.socket(place.node_ns)
    node.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    node.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    node.bind((place.node_addr, 0))
    eng = ThreadedEngine(node.fileno(), n + 1, 4, n + 1, True, 0, workers)
    placement = WorkerPlacement(workers)
    up = os.urandom(KEY)
    pub = place.socket(place.node_ns)
    pub.bind((place.node_addr, 0))
    eng.add_peer(0, placement.place("room"))
    eng.set_peer_address(0, place.node_addr, pub.getsockname()[1])
    eng.set_peer_srtp(0, 1, up, os.urandom(KEY))
    eng.add_track(0, 0, 0x1234, 1, 48000)          # CODEC_OPUS: no keyframe wait
    sinks = []
    for i in range(n):
        s = place.socket(place.subs_ns)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind((place.subs_addr, 0))
        sinks.append(s)
        eng.add_peer(1 + i, placement.place("room"))
        eng.set_peer_address(1 + i, place.subs_addr, s.getsockname()[1])
        eng.set_peer_srtp(1 + i, 1, os.urandom(KEY), os.urandom(KEY))
        eng.add_subscription(i, 0, 1 + i, 0x5000 + i, 111)
    total = int(rate * (warmup + seconds))
    wire = packets(total, up)
    media = MediaThread(eng, lambda events: None)
    media.start()
    window: dict[str, float] = {}

    def send() -> None:
        per_tick = max(1, rate // 200)
        t0 = time.monotonic()
        dest = node.getsockname()
        for k in range(0, total, per_tick):
            if k >= rate * warmup and "t0" not in window:
                eng.latency_histogram(reset=True)
                window.update(t0=time.monotonic(), fwd0=eng.counters()["forwarded_packets"], cpu0=media_cpu_seconds(media.native_ids()))
            if time.monotonic() - (t0 + k / rate) > 0.05:
                window["skipped"] = window.get("skipped", 0) + per_tick   # late: a real sender's lost packets,
                continue                                                 # not a burst that floods the socket
            for data in wire[k:k + per_tick]:
                pub.sendto(data, dest)
            delay = t0 + (k + per_tick) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        window.update(t1=time.monotonic(), fwd1=eng.counters()["forwarded_packets"], cpu1=media_cpu_seconds(media.native_ids()))

    sender = threading.Thread(target=send, name="publisher")
    sender.start()
    sender.join(warmup + seconds + 60)
    # let the workers finish what is queued (bounded): a starved worker is late, not lossy, until its socket
    # overflows - only what never reached it counts as lost
    sent = total - int(window.get("skipped", 0))
    deadline = time.monotonic() + 10
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        c = eng.counters()
        if c["forwarded_packets"] != last:
            last, stable_since = c["forwarded_packets"], time.monotonic()
        elif c["rx_packets"] >= sent or time.monotonic() - stable_since > 1.0:
            break
        time.sleep(0.1)
    hist = eng.latency_histogram()
    c = eng.counters()
    media.stop()
    row.sent = total - int(window.get("skipped", 0))
    row.skipped = int(window.get("skipped", 0))
    row.forwarded = c["forwarded_packets"]
    row.received = c["rx_packets"]
    row.piped = c["piped"]
    row.drops = ", ".join(f"{k} {v}" for k, v in c["drops"].items() if v)
    if "t1" in window:
        row.window_s = window["t1"] - window["t0"]
        row.window_fwd = int(window["fwd1"] - window["fwd0"])
        row.cpu_cores = (window["cpu1"] - window["cpu0"]) / row.window_s
    row.p50_us, row.p99_us = percentile(hist, 0.5), percentile(hist, 0.99)
    for s in (*sinks, pub, node):
        s.close()
    return row


def table(rows: list[Trial]) -> str:
    out = ["| workers | N | forwarded pkt/s | loss | media CPU (cores) | pkt/s per core | p50 / p99 µs | drops |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.workers} | {r.n} | {r.fwd_rate:,.0f} | {r.loss * 100:.2f} % | {r.cpu_cores:.2f} | "
                   f"{r.per_core:,.0f} | {r.p50_us or 0:.0f} / {r.p99_us or 0:.0f} | {r.drops or '-'} |")
    return "\n".join(out)


def knees(rows: list[Trial], loss: float) -> str:
    lines = []
    base = None
    for w in dict.fromkeys(r.workers for r in rows):
        ok = [r for r in rows if r.workers == w and r.loss <= loss]
        if not ok:
            lines.append(f"{w} worker(s): loss from the first N")
            continue
        k = max(ok, key=lambda r: r.n)
        base = base or k.fwd_rate
        lines.append(f"{w} worker(s): knee N = {k.n}: {k.fwd_rate:,.0f} forwarded pkt/s on {k.cpu_cores:.2f} cores "
                     f"= {k.per_core:,.0f} per core ({k.fwd_rate / base:.2f}x the first worker count)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.bench.saturation", description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    ap.add_argument("--n", type=lambda s: [int(x) for x in s.split(",")], default=[50, 100, 200, 300, 400, 600, 800])
    ap.add_argument("--rate", type=int, default=2000, help="publisher packets/s")
    ap.add_argument("--seconds", type=float, default=5.0, help="measurement window per trial")
    ap.add_argument("--loss", type=float, default=0.001, help="loss that ends a worker count's climb")
    ap.add_argument("--veth", action="store_true", help="subscribers in another network namespace (root)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args(argv)
    with veth() if args.veth else contextlib.nullcontext(Place()) as place:
        rows = climb(args, place)
    print(table(rows))
    print()
    print(knees(rows, args.loss))
    print(f"load average at the end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) | {"loss": r.loss} for r in rows], f, indent=1)
    return 0


def climb(args: argparse.Namespace, place: Place) -> list[Trial]:
    rows: list[Trial] = []
    for w in args.workers:
        for n in args.n:
            print(f"workers {w}, N {n}: {args.rate} pkt/s in for {args.seconds:g} s ...", file=sys.stderr, flush=True)
            r = trial(w, n, args.rate, args.seconds, place=place)
            rows.append(r)
            print(f"  -> {r.fwd_rate:,.0f} fwd/s, loss {r.loss * 100:.2f} % ({r.sent - r.received} not received, "
                  f"{r.skipped} not sent: publisher late), "
                  f"{r.cpu_cores:.2f} cores, p99 {r.p99_us} µs, load {os.getloadavg()[0]:.1f}", file=sys.stderr,
                  flush=True)
            if r.loss > args.loss:
                break
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
