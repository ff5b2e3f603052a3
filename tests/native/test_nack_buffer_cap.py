"""NACK buffers without RTX have a node-wide cap (issue 18).

Each video subscription without RTX keeps its last SENT_RING packets as sent (512 KiB) to answer NACKs with the
same bytes. Without a cap, a node's memory grew with every such subscription: a few hundred RTX-less receivers
(a browser that does not negotiate RTX, or a client that strips it on purpose) could take gigabytes. Now the
engine holds at most `max_sent_rings`; at the cap the subscription that sent least recently (paused, unwatched)
gives its ring to the newcomer and goes on without NACK service, counted in `sent_ring_evictions`. The engine
and its pure-Python reference must agree on every step.
"""

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
VP8_KEY = bytes([0x10, 0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + bytes(20)
VP8_DELTA = bytes([0x10, 0x31, 0x04, 0x00]) + bytes(20)
RING = 256 * 2048                     # one sent ring (SENT_RING packets of 2048 bytes)
TRACK_RING = 512 * 2048


def rtp(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 0x1111) + (VP8_KEY if seq == 0 else VP8_DELTA)


def forwarder(kind: str, sock: socket.socket, cap: int) -> Any:
    if kind == "native":
        return engine.Engine(sock.fileno(), max_peers=4, max_tracks=4, max_subs=8, max_sent_rings=cap)
    return ref.ReferenceForwarder(sock, max_sent_rings=cap)


def scenario(kind: str, cap: int) -> list[Any]:
    """Subscriptions 0 and 1 (no RTX) receive; 1 is paused; then 2 arrives. What each can retransmit, and the
    counters after every step."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    fwd = forwarder(kind, sock, cap)
    c = wire_clients(fwd, PUB, SUB)
    seq = 0

    def publish(n: int) -> None:
        nonlocal seq
        for _ in range(n):
            c.pub.sendto(c.up.protect(rtp(seq)), sock.getsockname())
            seq += 1
        time.sleep(0.01)
        fwd.poll()

    def state() -> tuple[int, int, int]:
        k = fwd.counters()
        return k["buffer_bytes"], k["sent_rings"], k["sent_ring_evictions"]

    out: list[Any] = []
    fwd.add_track(0, PUB, 0x1111, engine.CODEC_VP8, 90000, 512)
    fwd.add_subscription(0, 0, SUB, 0xA0, 96)
    fwd.add_subscription(1, 0, SUB, 0xA1, 96)
    out.append(state())
    publish(4)
    fwd.set_paused(1, True)
    time.sleep(0.005)                 # later arrivals: subscription 0 sent last, 1 least recently
    publish(4)
    fwd.add_subscription(2, 0, SUB, 0xA2, 96)
    out.append(state())
    publish(1)                        # a keyframe is not needed to test the ring: 2 waits; NACK 0 and 1's seqs
    out.append([fwd.retransmit(s, [1, 2]) for s in (0, 1, 2)])
    fwd.remove_subscription(0)
    out.append(state())
    fwd.remove_track(0)
    out.append(state())
    for s in (sock, c.pub, c.sub):
        s.close()
    return out


@pytest.mark.parametrize("kind", ["native", "reference"])
def test_at_the_cap_the_least_recently_sending_subscription_gives_its_ring(kind: str) -> None:
    steps = scenario(kind, cap=2)
    assert steps[0] == (TRACK_RING + 2 * RING, 2, 0)
    assert steps[1] == (TRACK_RING + 2 * RING, 2, 1), "at the cap: one ring changed hands, none added"
    assert steps[2] == [2, 0, 0], "the paused subscription lost NACK service, the sending one kept it"
    assert steps[3] == (TRACK_RING + RING, 1, 1)
    assert steps[4] == (0, 0, 1), "the track and its subscriptions left nothing behind"


@pytest.mark.parametrize("kind", ["native", "reference"])
def test_a_cap_of_zero_keeps_no_ring_and_evicts_nothing(kind: str) -> None:
    steps = scenario(kind, cap=0)
    assert steps[0] == (TRACK_RING, 0, 0)
    assert steps[2] == [0, 0, 0]
    assert steps[4] == (0, 0, 0)


def test_the_engine_and_the_reference_agree_step_by_step() -> None:
    for cap in (0, 1, 2, 3):
        assert scenario("native", cap) == scenario("reference", cap), f"cap {cap}"


def test_a_negative_cap_is_refused() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(ValueError):
        engine.Engine(sock.fileno(), max_sent_rings=-1)
    with pytest.raises(ValueError):
        ref.ReferenceForwarder(sock, max_sent_rings=-1)
    sock.close()
