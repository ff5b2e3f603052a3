"""RTCP terminated per leg: the publisher gets Receiver Reports from the node (so its stats show loss and
RTT), and each subscriber gets Sender Reports on its own rewritten SSRC whose NTP/RTP pair places the media on
the right wall-clock time (what browsers use for lip sync)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiortc import rtcrtpreceiver
from aiortc.rtp import RtcpSrPacket

from tests.harness import publisher_and_subscriber, running_node

pytestmark = pytest.mark.timeout(90)

NTP_UNIX = 2208988800


def test_sender_reports_downstream_map_rtp_time_to_wall_clock_and_receiver_reports_reach_the_publisher(monkeypatch):
    srs: list[tuple[float, int, float, int]] = []  # (ntp seconds, rtp ts, local arrival, ssrc)
    last_rtp: dict[int, tuple[int, float]] = {}   # ssrc -> (timestamp, arrival) of the newest media packet

    orig_rtcp = rtcrtpreceiver.RTCRtpReceiver._handle_rtcp_packet
    orig_rtp = rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet

    async def on_rtcp(self, packet):
        if isinstance(packet, RtcpSrPacket):
            ntp = packet.sender_info.ntp_timestamp
            srs.append(((ntp >> 32) + (ntp & 0xFFFFFFFF) / 2**32 - NTP_UNIX, packet.sender_info.rtp_timestamp, time.time(), packet.ssrc))
        return await orig_rtcp(self, packet)

    async def on_rtp(self, packet, arrival_time_ms):
        last_rtp[packet.ssrc] = (packet.timestamp, time.time())
        return await orig_rtp(self, packet, arrival_time_ms)

    monkeypatch.setattr(rtcrtpreceiver.RTCRtpReceiver, "_handle_rtcp_packet", on_rtcp)
    monkeypatch.setattr(rtcrtpreceiver.RTCRtpReceiver, "_handle_rtp_packet", on_rtp)

    async def run():
        async with running_node() as rn:
            pub, sub = await publisher_and_subscriber(rn)
            srs.clear()
            await asyncio.sleep(4.0)
            snapshot = dict(last_rtp)
            subs = rn.node.by_id[sub.joined["participant"]].subscriptions.values()
            sub_ssrcs = {s.ssrc: s.track.clock_rate for s in subs}
            pub_srs = {s.ssrc: (_ntp_s(s.track.last_sr[0]), s.track.last_sr[1], s.track.clock_rate) for s in subs}
            pub_stats = []
            for t in pub.pc.getTransceivers():
                report = await t.sender.getStats()
                pub_stats += [s for s in report.values() if s.type == "remote-inbound-rtp"]
            await sub.close()
            await pub.close()
            return snapshot, sub_ssrcs, pub_srs, pub_stats

    snapshot, sub_ssrcs, pub_srs, pub_stats = asyncio.run(run())
    video_srs = [sr for sr in srs if sr[3] in sub_ssrcs]
    assert video_srs, "no Sender Report on the subscriber's rewritten SSRCs"
    assert {sr[3] for sr in srs} <= set(sub_ssrcs), "an SR leaked the publisher's SSRC"
    assert {sr[3] for sr in video_srs} == set(sub_ssrcs), "audio and video both need SRs for lip sync"
    for ntp_s, rtp_ts, _, ssrc in video_srs[-8:]:
        # the node's SR must sit on the publisher's own NTP/RTP line (same host: same wall clock), so that the
        # subscriber aligns audio and video exactly as the publisher captured them
        pub_ntp, pub_rtp, clock = pub_srs[ssrc]
        rtp_delta = ((rtp_ts - pub_rtp + 2**31) % 2**32 - 2**31) / clock
        error_ms = abs(rtp_delta - (ntp_s - pub_ntp)) * 1000
        assert error_ms < 50, f"SR is {error_ms:.0f} ms off the publisher's NTP/RTP mapping"
    assert pub_stats, "the publisher got no Receiver Report"
    assert all(s.packetsLost == 0 for s in pub_stats)


def _ntp_s(ntp: int) -> float:
    return (ntp >> 32) + (ntp & 0xFFFFFFFF) / 2**32 - NTP_UNIX
