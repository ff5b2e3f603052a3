"""A NACK served without RTX never encrypts again: the subscriber gets the very bytes first sent under that
sequence number (issue 18).

Attacker's view of the node -> browser hop: re-protecting one SRTP index with other header bytes (a later
abs-send-time, the next transport-wide seq) reuses the AES-GCM nonce (AES-CM: the keystream). XOR of the two
ciphertexts is then the XOR of the two plaintexts, and under GCM the pair gives away the GHASH key, with which
packets can be forged. So a capture of everything the node sends must never hold two different ciphertexts
for one (SSRC, sequence number). Both forwarders (native engine and the pure-Python reference), every SRTP
profile the node offers; the NACKs come after the header-extension state has moved on.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest

from native import reference as ref
from tests.native.loopback import wire_clients

engine = pytest.importorskip("native.engine")

PUB, SUB = 0, 1
VIDEO, AUDIO = 0, 1
ABS_ID = 3                                  # the publisher's abs-send-time id
OUT_ABS_ID, OUT_TWCC_ID = 2, 5              # the subscriber's: restamped per send, and the node's transport seq
VIDEO_MAP = bytes([0, 0, 0, OUT_ABS_ID])
VP8_KEY = bytes([0x10, 0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + bytes(20)
VP8_DELTA = bytes([0x10, 0x31, 0x04, 0x00]) + bytes(20)
FIRST_OUT = 500                             # the subscription's first sequence number


def rtp(ssrc: int, seq: int, ts: int, payload: bytes, pt: int = 96) -> bytes:
    ext = bytes([(ABS_ID << 4) | 2]) + (0x010203).to_bytes(3, "big")
    return struct.pack("!BBHII", 0x90, pt, seq & 0xFFFF, ts, ssrc) + struct.pack("!HH", 0xBEDE, 1) + ext + payload


class Rig:
    """A forwarder, a publisher and a subscriber without RTX but with abs-send-time and transport-cc: the two
    header extensions whose values change with every send."""

    def __init__(self, kind: str, profile: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.fwd: Any = (engine.Engine(self.sock.fileno(), max_peers=8, max_tracks=8, max_subs=8)
                         if kind == "native" else ref.ReferenceForwarder(self.sock))
        c = wire_clients(self.fwd, PUB, SUB, profile)
        self.pub, self.sub, self.up, self.down = c.pub, c.sub, c.up, c.down
        self.sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)   # a few hundred packets, read late
        self.fwd.set_peer_extensions(PUB, abs_send_id=ABS_ID)
        self.fwd.add_track(VIDEO, PUB, 0x1111, engine.CODEC_VP8, 90000)
        self.fwd.add_subscription(VIDEO, VIDEO, SUB, 0xAAAA, 100, ext_map=VIDEO_MAP, abs_send_out=OUT_ABS_ID,
                                  initial_seq=FIRST_OUT, twcc_out=OUT_TWCC_ID)
        self.next_seq = 10
        self.capture: list[bytes] = []      # every datagram the subscriber got, as on the wire

    def close(self) -> None:
        for s in (self.sock, self.pub, self.sub):
            s.close()

    def publish(self, count: int) -> None:
        """`count` packets (a keyframe first), forwarded in rounds of 16."""
        for i in range(count):
            seq = self.next_seq
            payload = VP8_KEY if seq == 10 else VP8_DELTA
            self.pub.sendto(self.up.protect(rtp(0x1111, seq, 3000 * (seq // 4), payload)), self.sock.getsockname())
            self.next_seq += 1
            if i % 16 == 15:
                self.pump()
        self.pump()

    def pump(self) -> None:
        time.sleep(0.002)
        self.fwd.poll()

    def wire(self) -> dict[int, bytes]:
        """What reached the subscriber since the last call (until 50 ms of silence), by RTP sequence number."""
        got: dict[int, bytes] = {}
        self.sub.settimeout(0.05)
        while True:
            try:
                data = self.sub.recv(2048)
            except TimeoutError:
                return got
            self.capture.append(data)
            got[struct.unpack_from("!H", data, 2)[0]] = data


@pytest.fixture(params=[(kind, profile) for kind in ("native", "reference") for profile in (1, 7, 8)],
                ids=lambda p: f"{p[0]}-profile{p[1]}")
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    r = Rig(*request.param)
    yield r
    r.close()


def one_ciphertext_per_index(capture: list[bytes]) -> bool:
    by_index: dict[tuple[int, int], set[bytes]] = {}
    for data in capture:
        ssrc, seq = struct.unpack_from("!I", data, 8)[0], struct.unpack_from("!H", data, 2)[0]
        by_index.setdefault((ssrc, seq), set()).add(data)
    return all(len(copies) == 1 for copies in by_index.values())


def test_a_nack_is_answered_with_the_bytes_first_sent_even_after_the_header_state_moved(rig: Rig) -> None:
    rig.publish(8)
    first = rig.wire()
    assert sorted(first) == list(range(FIRST_OUT, FIRST_OUT + 8))
    time.sleep(0.01)                            # a later abs-send-time ...
    rig.publish(3)                              # ... and a transport seq that moved on
    rig.wire()
    lost = FIRST_OUT + 2
    assert rig.fwd.retransmit(VIDEO, [lost]) == 1
    again = rig.wire()
    time.sleep(0.01)
    rig.publish(1)
    rig.wire()
    assert rig.fwd.retransmit(VIDEO, [lost, lost + 1]) == 2   # NACKed again (libwebrtc repeats every RTT)
    again2 = rig.wire()
    assert again == {lost: first[lost]}
    assert again2 == {lost: first[lost], lost + 1: first[lost + 1]}
    assert one_ciphertext_per_index(rig.capture)
    # the receiver that lost it takes the copy: it decrypts to what the original carried
    for seq in sorted(first):
        if seq != lost:
            rig.down.unprotect(first[seq])
    plain = rig.down.unprotect(again[lost])
    assert struct.unpack_from("!H", plain, 2)[0] == lost
    assert ref.find_extension(plain, OUT_TWCC_ID) == struct.pack("!H", 2)   # the original's transport seq
    counters = rig.fwd.counters()
    assert counters["rtx_packets"] == 3 and counters["drops"]["send_failed"] == 0


def test_only_what_the_ring_still_holds_is_resent(rig: Rig) -> None:
    rig.publish(engine.SENT_RING + 20)
    sent = rig.wire()
    assert len(sent) == engine.SENT_RING + 20
    oldest, newest = FIRST_OUT, FIRST_OUT + engine.SENT_RING + 19
    never = newest + 5
    assert rig.fwd.retransmit(VIDEO, [oldest, never]) == 0          # overwritten / never sent: nothing goes out
    assert rig.fwd.retransmit(VIDEO, [newest, newest - engine.SENT_RING + 1]) == 2
    assert rig.wire() == {newest: sent[newest], newest - engine.SENT_RING + 1: sent[newest - engine.SENT_RING + 1]}
    assert one_ciphertext_per_index(rig.capture)


def test_audio_without_rtx_is_not_resent(rig: Rig) -> None:
    """The node negotiates no NACK for audio: nothing is kept for it, and a stray NACK re-sends nothing."""
    rig.fwd.add_track(AUDIO, PUB, 0x2222, engine.CODEC_OPUS, 48000)
    rig.fwd.add_subscription(AUDIO, AUDIO, SUB, 0xBBBB, 111, ext_map=VIDEO_MAP, abs_send_out=OUT_ABS_ID)
    rig.pub.sendto(rig.up.protect(rtp(0x2222, 7, 960, b"opus", pt=111)), rig.sock.getsockname())
    rig.pump()
    (out_seq,) = rig.wire()
    assert rig.fwd.retransmit(AUDIO, [out_seq]) == 0
    assert rig.wire() == {}


def test_native_and_reference_resend_alike() -> None:
    results = []
    for kind in ("native", "reference"):
        r = Rig(kind, 7)
        try:
            r.publish(12)
            first = r.wire()
            served = r.fwd.retransmit(VIDEO, [FIRST_OUT + 3, FIRST_OUT + 11, FIRST_OUT + 40, FIRST_OUT - 1])
            again = r.wire()
            assert all(again[seq] == first[seq] for seq in again)
            results.append((served, sorted(again), r.fwd.subscription_stats(VIDEO)[7], r.fwd.counters()["rtx_packets"]))
        finally:
            r.close()
    assert results[0] == results[1] == (2, [FIRST_OUT + 3, FIRST_OUT + 11], 2, 2)
