"""A subscriber's outbound SRTP session keeps one libsrtp stream per SSRC it was sent (libsrtp clones it from the
session's template on the first packet). Every subscription has SSRCs of its own (sfu/negotiation/offer.py
new_ssrc), so a participant who stays while publishers come and go got three more streams per publisher that
left (video, its RTX, audio), ~384 bytes each, until it left itself (issue 18, node memory per session). The
engine now removes a subscription's streams with the subscription."""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
import struct
from typing import Any

import pytest

from native import engine
from native import reference as ref
from tests.native.loopback import wire_clients

PUB, SUB = 0, 1
SUBSCRIPTIONS = 400


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _heap_in_use() -> int:
    libc = ctypes.util.find_library("c")
    fn = getattr(ctypes.CDLL(libc), "mallinfo2", None) if libc else None
    if fn is None:
        pytest.skip("needs glibc's mallinfo2")
    fn.restype = _Mallinfo2
    return int(fn().uordblks)


def _rtp(ssrc: int, seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 111, seq & 0xFFFF, seq * 960, ssrc) + bytes(80)


@pytest.mark.parametrize("kind", ["native", "reference"])
def test_a_staying_subscriber_keeps_no_srtp_stream_of_subscriptions_gone(kind: str) -> None:
    """Before the fix: +384 bytes of heap per subscription that came and went (one stream each); after: none.
    The reference forwarder (native/reference.py, pylibsrtp) does the same."""
    in_use = _heap_in_use()  # (skips first without glibc)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    fwd: Any = (engine.Engine(sock.fileno(), max_peers=4, max_tracks=4, max_subs=4, measure_latency=False)
                if kind == "native" else ref.ReferenceForwarder(sock))
    c = wire_clients(fwd, PUB, SUB)
    c.sub.settimeout(5)
    fwd.add_track(0, PUB, 0x1111, engine.CODEC_OPUS, 48000, 128)
    try:
        seq = 0
        for n in range(SUBSCRIPTIONS + 50):
            if n == 50:  # after a warm-up
                in_use = _heap_in_use()
            fwd.add_subscription(0, 0, SUB, 0x10000 + n, 111)
            seq += 1
            c.pub.sendto(c.up.protect(_rtp(0x1111, seq)), sock.getsockname())
            fwd.poll()
            down = ref.srtp_session(1, c.down_key, outbound=False)  # the test's own session: freed each time
            got = down.unprotect(c.sub.recv(2048))  # it was protected with this subscription's SSRC
            assert struct.unpack("!I", got[8:12])[0] == 0x10000 + n
            fwd.remove_subscription(0)
        grown = _heap_in_use() - in_use
    finally:
        c.pub.close()
        c.sub.close()
        sock.close()
    assert grown < 16 * SUBSCRIPTIONS, f"heap +{grown} bytes over {SUBSCRIPTIONS} subscriptions that ended"
