"""Engine.sender_reports: a participant's RTCP sender reports built and sent by the engine in one call.

Native and reference send the same bytes; they are what sfu/feedback/rtcp parses as SRs with the subscription's
SSRC, the NTP time given, the publisher's RTP time plus the subscription's offset, and its counts; 8 per compound
packet. Whatever indexes the caller passes - another peer's subscription, one not started, one that does not
exist, out of range - are skipped, never sent, never a crash.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import pytest

from native import reference as ref
from sfu.feedback.rtcp import SenderReport, parse_compound
from tests.native.test_engine_forwarding import PUB, SUB, Rig, rtp

engine = pytest.importorskip("native.engine")

NTP = 0xE9A1B2C3_12345678
TRACKS = 20


def make_rig(kind: str) -> Rig:
    def make(s: socket.socket) -> Any:
        if kind == "native":
            return engine.Engine(s.fileno(), max_peers=8, max_tracks=32, max_subs=32)
        return ref.ReferenceForwarder(s)

    return Rig(kind, make)


def publish(r: Rig) -> None:
    r.fwd.add_peer(5)                               # another subscriber, whose subscription must not be reported
    for t in range(TRACKS):
        r.fwd.add_track(t, PUB, 0x100 + t, engine.CODEC_OPUS, 48000)
        r.fwd.add_subscription(t, t, SUB, 0xA00 + t, 111, ts_offset=1000 * t)
    r.fwd.add_track(TRACKS, PUB, 0x999, engine.CODEC_OPUS, 48000)
    r.fwd.add_subscription(TRACKS, TRACKS, 5, 0xB00, 111)
    r.fwd.add_track(TRACKS + 1, PUB, 0x998, engine.CODEC_VP8, 90000)
    r.fwd.add_subscription(TRACKS + 1, TRACKS + 1, SUB, 0xC00, 96)   # video: not started before a keyframe
    for t in range(TRACKS):
        for seq in range(t % 3 + 1):
            r.send(rtp(0x100 + t, seq, 960 * seq, b"x" * (10 + t), pt=111))
    r.pump()
    r.received()                                    # the forwarded media, out of the way


@pytest.mark.parametrize("kind", ["native", "reference"])
def test_sender_reports_carry_each_subscriptions_timeline_and_counts(kind: str) -> None:
    r = make_rig(kind)
    try:
        publish(r)
        items = [(t, 5000 + t) for t in range(TRACKS)] + [(TRACKS, 1), (TRACKS + 1, 2), (999, 3), (-1, 4),
                                                         (10**6, 5), (TRACKS + 7, 6)]
        assert r.fwd.sender_reports(SUB, NTP, items) == TRACKS
        packets = r.received()
        assert len(packets) == 3                    # 8 + 8 + 4 reports
        srs = [p for pkt in packets for p in parse_compound(pkt)]
        assert [len(parse_compound(p)) for p in packets] == [8, 8, 4]
        assert srs == [SenderReport(ssrc=0xA00 + t, ntp=NTP, rtp_ts=5000 + t + 1000 * t, packet_count=t % 3 + 1,
                                    octet_count=(t % 3 + 1) * (10 + t), reports=[]) for t in range(TRACKS)]
        assert r.fwd.counters()["rtcp_sent"] == 3
        assert r.fwd.sender_reports(SUB, NTP, []) == 0
        with pytest.raises(ValueError):
            r.fwd.sender_reports(99, NTP, items)
    finally:
        r.close()


def test_native_and_reference_send_the_same_reports() -> None:
    got = {}
    for kind in ("native", "reference"):
        r = make_rig(kind)
        try:
            publish(r)
            r.fwd.sender_reports(SUB, NTP, [(t, (1 << 32) - 1 - t) for t in range(TRACKS)])   # wraps past 2^32
            got[kind] = r.received()
        finally:
            r.close()
    assert got["native"] == got["reference"]
    assert struct.unpack_from("!I", got["native"][0], 16)[0] == ((1 << 32) - 1 + 0) & 0xFFFFFFFF
