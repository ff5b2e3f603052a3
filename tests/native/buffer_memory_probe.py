"""Run as a script (a process of its own, so its RSS is the engine's): publisher sessions on an engine, each
filling its retransmission buffers then leaving, with the Python heap growing a little in between as a node's
does. Prints one JSON line per session: VmRSS before the session and after it left, and the engine's counters.
Used by tests/native/test_buffer_memory.py."""

from __future__ import annotations

import json
import socket
import struct
import sys

from native import engine
from tests.native.loopback import wire_clients

PUB, SUB = 0, 1
VP8_KEY = bytes([0x10, 0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + bytes(1000)
VP8_DELTA = bytes([0x10, 0x31, 0x04, 0x00]) + bytes(1000)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def rtp(ssrc: int, seq: int, payload: bytes, pt: int = 96) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, seq * 3000, ssrc) + payload


def main(sessions: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    fwd = engine.Engine(sock.fileno(), max_peers=8, max_tracks=8, max_subs=8, measure_latency=False)
    kept: list[bytearray] = []            # what the rest of a node allocates meanwhile, and keeps
    for n in range(sessions):
        before = rss_kib()
        c = wire_clients(fwd, PUB, SUB)
        c.sub.setblocking(False)
        fwd.add_track(0, PUB, 0x1111, engine.CODEC_VP8, 90000, 512)     # the node's VIDEO_BUFFER
        fwd.add_track(1, PUB, 0x2222, engine.CODEC_OPUS, 48000, 128)    # ... and AUDIO_BUFFER
        fwd.add_subscription(0, 0, SUB, 0xAAAA, 96)                      # video without RTX: a sent ring
        for seq in range(600):                                           # every slot of both rings written
            c.pub.sendto(c.up.protect(rtp(0x1111, seq, VP8_KEY if seq == 0 else VP8_DELTA)), sock.getsockname())
            if seq % 32 == 31:
                fwd.poll()
                kept.extend(bytearray(4096) for _ in range(2))
                try:
                    while c.sub.recv(2048):
                        pass
                except BlockingIOError:
                    pass
        fwd.poll()
        during = fwd.counters()
        fwd.remove_peer(SUB)
        fwd.remove_peer(PUB)
        c.pub.close()
        c.sub.close()
        after = fwd.counters()
        print(json.dumps({"session": n, "rss_before": before, "rss_after": rss_kib(),
                          "forwarded": during["forwarded_packets"], "buffer_bytes_during": during.get("buffer_bytes", -1),
                          "buffer_bytes_after": after.get("buffer_bytes", -1), "sent_rings_after": after.get("sent_rings", -1),
                          "kept_kib": len(kept) * 4}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
