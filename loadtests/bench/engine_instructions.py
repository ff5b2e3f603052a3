"""A short, deterministic loop through the native engine, for instruction counts that repeat run after run
(the forwarding benchmark's CPU figures move with the machine's load; these do not).

    valgrind --tool=callgrind --toggle-collect='__pyx_pw_*Engine_*poll' --callgrind-out-file=/tmp/cg.poll \\
        .venv/bin/python -m loadtests.bench.engine_instructions --subs 10 --packets 2000
    valgrind --tool=callgrind --toggle-collect='__pyx_pw_*py_filter_stream*' --callgrind-out-file=/tmp/cg.filter \\
        .venv/bin/python -m loadtests.bench.engine_instructions --filter

`--no-rtx`: the subscribers negotiated no RTX, so the engine also keeps a copy of each protected packet for NACKs.

`--toggle-collect` limits the count to `Engine.poll` (recvmmsg -> unprotect -> parse -> rewrite -> protect ->
sendmmsg, GIL released) or to `py_filter_stream` (the per-subscription rewrite alone, no I/O, no SRTP); the
total is the "Collected" line callgrind prints. Keys, packets and batch sizes are fixed: the publisher sends
`--chunk` datagrams on loopback (sendto delivers them synchronously), then one `poll()` forwards them all to
`--subs` subscribers, whose sockets are drained outside the counted function. Uses only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import socket
import struct

from loadtests.bench.media import load
from native import engine

KEY = bytes(range(30))          # profile 1 (AES_CM_128_HMAC_SHA1_80): 16-byte key + 14-byte salt
TWCC_ID = 3


def video_packets(count: int) -> list[bytes]:
    """The bench's VP8 payloads as plaintext RTP (PT 96, SSRC 0x1234), each with a transport-cc extension."""
    out: list[bytes] = []
    seq = ts = 0
    frames = load().video
    while True:                                  # the clip again (from its first keyframe) until `count`
        for frame in frames:
            for i, payload in enumerate(frame.payloads):
                marker = 0x80 if i == len(frame.payloads) - 1 else 0
                hdr = struct.pack("!BBHII", 0x90, marker | 96, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x1234)
                ext = struct.pack("!HHBHB", 0xBEDE, 1, (TWCC_ID << 4) | 1, seq & 0xFFFF, 0)
                out.append(hdr + ext + payload)
                seq += 1
                if len(out) == count:
                    return out
            ts += 3000


def forward(subs: int, packets: list[bytes], chunk: int, rtx: bool = True) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    eng = engine.Engine(sock.fileno(), 64, 64, 256, False)
    port = sock.getsockname()[1]
    pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pub.bind(("127.0.0.1", 0))
    eng.add_peer(0)
    eng.set_peer_address(0, "127.0.0.1", pub.getsockname()[1])
    eng.set_peer_srtp(0, 1, KEY, KEY)
    eng.set_peer_extensions(0, twcc_id=TWCC_ID)
    eng.add_track(0, 0, 0x1234, engine.CODEC_VP8, 90000, 512)
    readers = []
    for i in range(1, subs + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.setblocking(False)
        readers.append(s)
        eng.add_peer(i)
        eng.set_peer_address(i, "127.0.0.1", s.getsockname()[1])
        eng.set_peer_srtp(i, 1, KEY, KEY)
        if rtx:
            eng.add_subscription(i, 0, i, 0x5000 + i, 100, 0x6000 + i, 101, b"", 0, 1000, 0, TWCC_ID)
        else:  # without RTX the engine also keeps each packet as sent, for NACKs (native: keep_sent)
            eng.add_subscription(i, 0, i, 0x5000 + i, 100, 0, -1, b"", 0, 1000, 0, TWCC_ID)
    up = engine.SrtpSession(1, KEY, True)
    wire = [up.protect(p) for p in packets]
    received = 0
    for start in range(0, len(wire), chunk):
        for d in wire[start:start + chunk]:
            pub.sendto(d, ("127.0.0.1", port))
        eng.poll(1)
        for s in readers:
            while True:
                try:
                    s.recv(2048)
                except BlockingIOError:
                    break
                received += 1
    fwd = eng.counters()["forwarded_packets"]
    for s in [sock, pub, *readers]:
        s.close()
    assert received == fwd == len(packets) * subs, (received, fwd)
    return fwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subs", type=int, default=10)
    ap.add_argument("--packets", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=32, help="datagrams per poll() (<= 64: one recvmmsg)")
    ap.add_argument("--filter", action="store_true", help="run py_filter_stream over the packets instead")
    ap.add_argument("--no-rtx", action="store_true", help="subscribers without RTX (the engine keeps what it sent)")
    a = ap.parse_args()
    packets = video_packets(a.packets)
    if a.filter:
        out, _ = engine.py_filter_stream(engine.CODEC_VP8, packets, [], [])
        print(f"filter: {len(packets)} packets in, {sum(isinstance(o, bytes) for o in out)} out")
    else:
        print(f"forward: {len(packets)} packets x {a.subs} subscribers = {forward(a.subs, packets, a.chunk, not a.no_rtx)} sent")


if __name__ == "__main__":
    main()
