"""The event loop's once-a-second sender reports, per 100 subscriptions: per-subscription path vs the engine's.

    python -m loadtests.bench.reports [--subs 100] [--rounds 300]

One ThreadedEngine (2 workers, so every call takes both locks, as in the node), one subscriber peer with
`subs` started subscriptions on loopback. `per-subscription`: what sfu/feedback/reports.py did before -
subscription_stats per subscription, a SenderReport each, serialize + send_rtcp per 8. `engine`:
Engine.sender_reports, one call. Prints the CPU ms one second's reports cost the calling thread.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import time

from native.threaded import ThreadedEngine
from sfu.feedback import rtcp

KEY = 30


def setup(subs: int) -> tuple[ThreadedEngine, list[socket.socket]]:
    node = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    node.bind(("127.0.0.1", 0))
    eng = ThreadedEngine(node.fileno(), 4, subs + 1, subs + 1, False, 0, 2)
    pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pub.bind(("127.0.0.1", 0))
    sub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # nobody reads: the kernel drops
    sub.bind(("127.0.0.1", 0))
    up = os.urandom(KEY)
    for peer, s, rx in ((0, pub, up), (1, sub, os.urandom(KEY))):
        eng.add_peer(peer)
        eng.set_peer_address(peer, "127.0.0.1", s.getsockname()[1])
        eng.set_peer_srtp(peer, 1, rx, os.urandom(KEY))
    from native import reference as ref

    protect = ref.srtp_session(1, up, outbound=True)
    for t in range(subs):
        eng.add_track(t, 0, 0x100 + t, 1, 48000)
        eng.add_subscription(t, t, 1, 0xA00 + t, 111)
        pub.sendto(protect.protect(struct.pack("!BBHII", 0x80, 111, 1, 960, 0x100 + t) + b"x" * 50),
                   node.getsockname())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(not (eng.subscription_stats(t) or (0,) * 5)[4] for t in range(subs)):
        eng.poll()
    return eng, [node, pub, sub]


def per_subscription(eng: ThreadedEngine, subs: int) -> None:
    ntp = rtcp.ntp_now()
    packets: list[rtcp.RtcpPacket] = []
    for t in range(subs):
        st = eng.subscription_stats(t)
        if st is None or not st[4]:
            continue
        packets.append(rtcp.SenderReport(ssrc=0xA00 + t, ntp=ntp, rtp_ts=(12345 + st[6]) & 0xFFFFFFFF,
                                         packet_count=st[0] & 0xFFFFFFFF, octet_count=st[1] & 0xFFFFFFFF, reports=[]))
    for i in range(0, len(packets), 8):
        eng.send_rtcp(1, rtcp.serialize(packets[i:i + 8]))


def batched(eng: ThreadedEngine, subs: int) -> None:
    eng.sender_reports(1, rtcp.ntp_now(), [(t, 12345) for t in range(subs)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m loadtests.bench.reports", description=__doc__.split("\n\n")[0])
    ap.add_argument("--subs", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args(argv)
    eng, socks = setup(args.subs)
    try:
        for name, fn in (("per-subscription", per_subscription), ("engine", batched)):
            fn(eng, args.subs)
            c0 = time.thread_time()
            for _ in range(args.rounds):
                fn(eng, args.subs)
            ms = (time.thread_time() - c0) * 1000 / args.rounds
            print(f"{name:>17}: {ms:.3f} ms of the event loop per second for {args.subs} subscriptions "
                  f"({ms * 100 / args.subs:.3f} ms/s per 100)")
        print(f"rtcp packets sent: {eng.counters()['rtcp_sent']}; load average {os.getloadavg()[0]:.1f}")
    finally:
        for s in socks:
            s.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
