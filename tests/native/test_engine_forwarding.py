"""The native Engine and the pure-Python ReferenceForwarder forward the same session the same way.

A publisher and a subscriber talk SRTP to the forwarder over loopback UDP. The same script (a VP8 stream that
starts with a delta frame, a keyframe, reordering, a late packet; Opus with audio levels; RTCP, STUN, DTLS,
an unannounced SSRC; then a NACK served as RTX) goes through both implementations, and what the subscriber
decrypts, the events, the counters and the stats must match (abs-send-time values aside: they are stamped
with each forwarder's clock). Then two long-run properties each implementation must have: forwarding never
stops as sequence numbers travel around the 16-bit space, and abs-send-time is the wall clock in 6.18.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from native import reference as ref
from sfu.feedback.rtcp import ReceiverReport, Sdes, SenderReport, parse_compound, serialize
from tests.native.loopback import wire_clients

engine = pytest.importorskip("native.engine")

PUB, SUB = 0, 1
VIDEO, AUDIO = 0, 1
LEVEL_ID, ABS_ID, TWCC_ID = 1, 3, 4          # the publisher's extension ids
OUT_LEVEL_ID, OUT_ABS_ID, OUT_TWCC_ID = 1, 2, 5
VIDEO_MAP = bytes([0, 0, 0, OUT_ABS_ID, OUT_TWCC_ID])
AUDIO_MAP = bytes([0, OUT_LEVEL_ID, 0, OUT_ABS_ID])

VP8_KEY = bytes([0x10, 0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + bytes(20)
VP8_DELTA = bytes([0x10, 0x31, 0x04, 0x00]) + bytes(20)
VP8_MORE = bytes([0x00]) + bytes(30)


def make_forwarder(kind: str) -> Callable[[socket.socket], Any]:
    if kind == "native":
        return lambda s: engine.Engine(s.fileno(), max_peers=8, max_tracks=8, max_subs=8)
    return lambda s: ref.ReferenceForwarder(s)


class Rig:
    """A forwarder on a loopback socket, a publisher (peer 0) and a subscriber (peer 1), profile 1 keys."""

    def __init__(self, kind: str, make: Callable[[socket.socket], Any] | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.fwd = (make or make_forwarder(kind))(self.sock)
        c = wire_clients(self.fwd, PUB, SUB)
        self.pub, self.sub, self.up, self.down = c.pub, c.sub, c.up, c.down
        self.fwd.set_peer_extensions(PUB, abs_send_id=ABS_ID, audio_level_id=LEVEL_ID)
        self.events: list[tuple[int, int, tuple[str, int], bytes]] = []

    def close(self) -> None:
        for s in (self.sock, self.pub, self.sub):
            s.close()

    def send(self, data: bytes, protect: str = "rtp") -> None:
        if protect == "rtp":
            data = self.up.protect(data)
        elif protect == "rtcp":
            data = self.up.protect_rtcp(data)
        self.pub.sendto(data, self.sock.getsockname())

    def pump(self) -> None:
        time.sleep(0.002)
        self.events += self.fwd.poll()

    def received(self, expect: int = 1 << 30) -> list[bytes]:
        """What the subscriber decrypts, until `expect` packets or 50 ms of silence."""
        out: list[bytes] = []
        self.sub.settimeout(0.05)
        while len(out) < expect:
            try:
                data, _ = self.sub.recvfrom(2048)
            except TimeoutError:
                return out
            out.append(self.down.unprotect_rtcp(data) if 192 <= data[1] <= 223 else self.down.unprotect(data))
        return out


@pytest.fixture(params=["native", "reference"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    r = Rig(request.param)
    yield r
    r.close()


def rtp(ssrc: int, seq: int, ts: int, payload: bytes, pt: int = 96, marker: bool = False,
        ext: bytes = b"", csrcs: tuple[int, ...] = ()) -> bytes:
    b0 = 0x80 | (0x10 if ext else 0) | len(csrcs)
    head = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    head += b"".join(struct.pack("!I", c) for c in csrcs)
    if ext:
        ext += bytes(-len(ext) % 4)
        head += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    return head + payload


def exts(level: int | None = None, abs_send: int = 0x010203, twcc_seq: int | None = None) -> bytes:
    out = bytes([(ABS_ID << 4) | 2]) + abs_send.to_bytes(3, "big")
    if level is not None:
        out += bytes([LEVEL_ID << 4, level])
    if twcc_seq is not None:
        out += bytes([(TWCC_ID << 4) | 1]) + struct.pack("!H", twcc_seq)
    return out


def abs_send_of(pkt: bytes) -> int | None:
    value = ref.find_extension(pkt, OUT_ABS_ID)
    return None if value is None else int.from_bytes(value, "big")


def without_abs_send(pkt: bytes) -> bytes:
    """The packet with its abs-send-time value zeroed (the only clock-dependent bytes)."""
    value = ref.find_extension(pkt, OUT_ABS_ID)
    if value is None:
        return pkt
    info = ref.parse_rtp(pkt)
    assert info is not None
    i = pkt.index(bytes([(OUT_ABS_ID << 4) | 2]) + value, info[7])
    return pkt[:i + 1] + bytes(3) + pkt[i + 4:]


def run_script(r: Rig) -> dict[str, Any]:
    r.fwd.add_track(VIDEO, PUB, 0x1111, engine.CODEC_VP8, 90000)
    r.fwd.add_track(AUDIO, PUB, 0x2222, engine.CODEC_OPUS, 48000)
    r.fwd.add_subscription(VIDEO, VIDEO, SUB, 0xAAAA, 100, rtx_ssrc=0xAAAB, rtx_pt=101, ext_map=VIDEO_MAP,
                           abs_send_out=OUT_ABS_ID, initial_seq=500, ts_offset=1000)
    r.fwd.add_subscription(AUDIO, AUDIO, SUB, 0xBBBB, 111, ext_map=AUDIO_MAP, abs_send_out=OUT_ABS_ID)
    video = [
        (10, 0, VP8_DELTA, True),       # the subscriber must wait for a keyframe
        (11, 3000, VP8_KEY, False),
        (12, 3000, VP8_MORE, True),
        (13, 6000, VP8_DELTA, False),
        (15, 6000, VP8_MORE, True),     # reordered
        (14, 6000, VP8_MORE, False),
        (9, 0, VP8_MORE, False),        # from before the start: not forwarded
    ]
    for seq, ts, payload, marker in video:
        r.send(rtp(0x1111, seq, ts, payload, marker=marker, ext=exts(twcc_seq=seq), csrcs=(0x77,)))
    for i in range(5):
        r.send(rtp(0x2222, 100 + i, 960 * i, b"opus" * 10, pt=111, ext=exts(level=30 + i)))
    sr = serialize([SenderReport(0x1111, 0xE9A1B2C3_00000000, 3000, 6, 600), Sdes([(0x1111, {1: b"cname"})])])
    r.send(sr, protect="rtcp")
    r.send(rtp(0x3333, 1, 1, b"who"))
    r.send(b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12), protect="none")
    r.send(b"\x16\xfe\xfd" + bytes(20), protect="none")
    r.pump()
    rtx_sent = r.fwd.retransmit(VIDEO, [501, 503, 999])
    rr = serialize([ReceiverReport(0xAAAA, [])])
    assert r.fwd.send_rtcp(SUB, rr)
    return {
        "subscriber": r.received(),
        "events": r.events,
        "rtx_sent": rtx_sent,
        "counters": r.fwd.counters(),
        "video_stats": r.fwd.track_stats(VIDEO)[:4] + r.fwd.track_stats(VIDEO)[5:6],
        "audio_level": r.fwd.track_stats(AUDIO)[7:],
        "subs": [r.fwd.subscription_stats(s)[:3] + r.fwd.subscription_stats(s)[4:] for s in (VIDEO, AUDIO)],
        "sr": sr,
        "rr": rr,
    }


def test_the_script_forwards_as_it_should(rig: Rig) -> None:
    got = run_script(rig)
    media, rr = got["subscriber"][:-1], got["subscriber"][-1]
    assert rr == got["rr"]
    headers = [ref.parse_rtp(p) for p in media]
    assert all(h is not None for h in headers)
    seqs = [(h[4], h[2]) for h in headers if h]
    assert seqs == ([(0xAAAA, s) for s in (500, 501, 502, 504, 503)] + [(0xBBBB, i) for i in range(5)]
                    + [(0xAAAB, 0), (0xAAAB, 1)])
    assert all(abs_send_of(p) is not None for p in media)
    assert ref.find_extension(media[0], OUT_TWCC_ID) == struct.pack("!H", 11)
    assert ref.find_extension(media[5], OUT_LEVEL_ID) == bytes([30])
    assert got["rtx_sent"] == 2
    kinds = [(k, peer) for k, peer, _, _ in got["events"]]
    assert kinds == [(engine.EV_RTCP, PUB), (engine.EV_UNKNOWN_SSRC, PUB), (engine.EV_STUN, PUB), (engine.EV_DTLS, PUB)]
    assert parse_compound(got["events"][0][3]) == parse_compound(got["sr"])
    drops = got["counters"]["drops"]
    assert (drops["not_started"], drops["unknown_ssrc"]) == (2, 1)
    assert got["audio_level"] == (34, 0)


def test_native_and_reference_agree() -> None:
    results = {}
    for kind in ("native", "reference"):
        r = Rig(kind)
        try:
            results[kind] = run_script(r)
        finally:
            r.close()
    native, reference = results["native"], results["reference"]
    assert [without_abs_send(p) for p in native["subscriber"]] == [without_abs_send(p) for p in reference["subscriber"]]
    for key in ("rtx_sent", "counters", "video_stats", "audio_level", "subs"):
        assert native[key] == reference[key], key
    strip = [(k, peer, payload) for k, peer, _, payload in native["events"]]
    assert strip == [(k, peer, payload) for k, peer, _, payload in reference["events"]]


def test_forwarding_continues_around_the_sequence_space(rig: Rig) -> None:
    # 60 packets 1000 sequence numbers apart travel once around the 16-bit space (each step is well inside
    # SRTP's index estimation). Every one must reach the subscriber, and a NACK for the newest be served (as
    # RTX: without it, only video keeps what it sent for NACKs, tests/native/test_nack_without_rtx.py).
    rig.fwd.add_track(AUDIO, PUB, 0x2222, engine.CODEC_OPUS, 48000)
    rig.fwd.add_subscription(AUDIO, AUDIO, SUB, 0xBBBB, 111, rtx_ssrc=0xBBBC, rtx_pt=112, initial_seq=7)
    got: list[bytes] = []
    for i in range(60):
        rig.send(rtp(0x2222, i * 1000, 960 * i, b"opus", pt=111))
        rig.pump()
        got += rig.received(expect=1)
    assert [struct.unpack_from("!H", p, 2)[0] for p in got] == [(7 + 1000 * i) & 0xFFFF for i in range(60)]
    assert rig.fwd.retransmit(AUDIO, [(7 + 59000) & 0xFFFF]) == 1


def test_abs_send_time_is_wall_clock_6_18(rig: Rig) -> None:
    rig.fwd.add_track(AUDIO, PUB, 0x2222, engine.CODEC_OPUS, 48000)
    rig.fwd.add_subscription(AUDIO, AUDIO, SUB, 0xBBBB, 111, ext_map=AUDIO_MAP, abs_send_out=OUT_ABS_ID)
    rig.send(rtp(0x2222, 1, 960, b"opus", pt=111, ext=exts(level=10)))
    rig.pump()
    (pkt,) = rig.received(expect=1)
    stamped = abs_send_of(pkt)
    assert stamped is not None
    expected = ref.abs_send_time(time.time_ns())
    off = ((expected - stamped + 0x800000) & 0xFFFFFF) - 0x800000     # signed distance, modulo 64 s
    assert abs(off) < 1 << 16, f"stamped {stamped / 2**18:.3f} s, wall clock {expected / 2**18:.3f} s (mod 64)"


def test_a_late_packet_far_behind_the_newest_is_still_forwarded(rig: Rig) -> None:
    # Found by fuzzing (tests/fuzz/engine_path): the engine's outbound SRTP window was 64, and libsrtp refuses to
    # protect a packet older than the window, so a late packet (reordered upstream, or repaired by the
    # publisher's RTX) more than 64 sequence numbers behind the newest was dropped as send_failed.
    rig.fwd.add_track(VIDEO, PUB, 0x1111, engine.CODEC_VP8, 90000)
    rig.fwd.add_subscription(VIDEO, VIDEO, SUB, 0xAAAA, 100, initial_seq=500)
    for seq in (11, 12, 13, 214, 14):           # 14 arrives 200 behind the newest
        rig.send(rtp(0x1111, seq, 3000 * (seq - 10), VP8_KEY if seq == 11 else VP8_MORE))
    rig.pump()
    got = [struct.unpack_from("!H", p, 2)[0] for p in rig.received()]
    assert got == [500, 501, 502, 703, 503]
    assert rig.fwd.counters()["drops"]["send_failed"] == 0


def test_a_nack_for_what_was_not_forwarded_yet_is_not_served(rig: Rig) -> None:
    # Found by differential fuzzing (tests/fuzz/engine_path): packet 14 arrives before the keyframe 13 that
    # starts the subscription, so it is buffered but never forwarded. A NACK for its subscriber seq (501) before
    # anything newer was forwarded asks for the future: the engine declined, the reference sent it as RTX.
    rig.fwd.add_track(VIDEO, PUB, 0x1111, engine.CODEC_VP8, 90000)
    rig.fwd.add_subscription(VIDEO, VIDEO, SUB, 0xAAAA, 100, rtx_ssrc=0xAAAB, rtx_pt=101, initial_seq=500)
    rig.send(rtp(0x1111, 14, 3000, VP8_MORE))
    rig.send(rtp(0x1111, 13, 3000, VP8_KEY))
    rig.pump()
    assert rig.fwd.retransmit(VIDEO, [500, 501]) == 1          # 500 (seq 13) was sent; 501 was not, yet
    rig.send(rtp(0x1111, 15, 3000, VP8_MORE))
    rig.pump()
    assert rig.fwd.retransmit(VIDEO, [501]) == 1                # now the subscriber can have missed it
