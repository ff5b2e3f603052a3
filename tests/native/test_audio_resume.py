"""Audio-N pauses a subscriber's copy of a quiet participant's audio and resumes it when they speak. The copy must
resume on the next sequence number: a receiver takes a hole in the sequence for packets lost (its jitter buffer
conceals them, its stats count them, and it may NACK them), where nothing was lost, only not sent. The RTP
timestamp jumps by the time paused, as a sender's does after silence suppression. Found by
`loadtests.bench.large_meeting --audio-n 1`: every viewer "lost" 25-28 % of its audio. The engine and its
pure-Python reference must agree."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

import pytest

from native import reference as ref
from tests.native.loopback import wire_clients

engine = pytest.importorskip("native.engine")

PUB, SUB = 0, 1
OPUS = bytes([0x78]) + bytes(40)


def rtp(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 111, seq, seq * 960, 0x2222) + OPUS


def forwarder(kind: str, sock: socket.socket) -> Any:
    if kind == "native":
        return engine.Engine(sock.fileno(), max_peers=4, max_tracks=4, max_subs=8)
    return ref.ReferenceForwarder(sock)


@pytest.mark.parametrize("kind", ["native", "reference"])
def test_resumed_audio_continues_its_sequence_and_its_timestamp_jumps(kind: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    fwd = forwarder(kind, sock)
    c = wire_clients(fwd, PUB, SUB)
    c.sub.settimeout(0.5)
    fwd.add_track(0, PUB, 0x2222, engine.CODEC_OPUS, 48000, 512)
    fwd.add_subscription(0, 0, SUB, 0xB0, 111)
    seq = 100
    got: list[tuple[int, int]] = []

    def publish(n: int, expect: int) -> None:
        nonlocal seq
        for _ in range(n):
            c.pub.sendto(c.up.protect(rtp(seq)), sock.getsockname())
            seq += 1
        time.sleep(0.01)
        fwd.poll()
        for _ in range(expect):
            plain = c.down.unprotect(c.sub.recv(2048))
            got.append(struct.unpack("!HI", plain[2:8]))

    try:
        publish(5, 5)
        fwd.set_paused(0, True)
        publish(7, 0)  # quiet: not sent
        fwd.set_paused(0, False)
        publish(5, 5)
    finally:
        for s in (sock, c.pub, c.sub):
            s.close()
    seqs = [s for s, _ in got]
    assert seqs == list(range(seqs[0], seqs[0] + 10)), f"a hole where nothing was lost: {seqs}"
    stamps = [t for _, t in got]
    assert stamps[5] - stamps[4] == 8 * 960, "the timestamp keeps the sender's clock: it jumps by the pause"
