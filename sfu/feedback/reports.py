"""Sender and receiver reports, both ways (RFC 3550 §6.4).

In: a publisher's SR anchors its RTP clock to its wall clock (lip sync for what the node re-sends); every report
block tells a subscription its loss and, when it echoes our SR, its RTT. Out, once a second per participant:
RRs about what it publishes (loss, jitter, LSR/DLSR from the engine's counters) and SRs about what it receives,
on the rewritten SSRC and RTP timeline (built and sent by the engine, Engine.sender_reports: one call per
participant).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sfu.feedback import rtcp

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant

REPORT_INTERVAL = 1.0
MAX_BLOCKS = 31  # report blocks in one RR (a 5-bit count)


def ntp_seconds(ntp: int) -> float:
    return (ntp >> 32) - 2208988800 + (ntp & 0xFFFFFFFF) / 2**32


class Reports:
    def __init__(self, node: Node) -> None:
        self.node = node

    # ---- in

    def on_sender_report(self, p: Participant, sr: rtcp.SenderReport, now: float) -> None:
        track = self.node.tracks_by_ssrc.get((p.peer, sr.ssrc))
        if track is not None:
            track.on_sender_report(sr.ssrc, sr.ntp, sr.rtp_ts, now)
            p.clock_offsets.append(time.time() - ntp_seconds(sr.ntp))
        self.on_report_blocks(p, sr.reports)

    def on_report_blocks(self, p: Participant, reports: list[rtcp.ReportBlock]) -> None:
        for block in reports:
            sub = self.node.subs_by_ssrc.get((p.peer, block.ssrc))
            if sub is None:
                continue
            rtt = None
            if block.lsr:
                # RTT = now - LSR - DLSR, all in 1/65536 s of the compact NTP timeline
                rtt = (rtcp.ntp_to_compact(rtcp.ntp_now()) - block.lsr - block.dlsr) & 0xFFFFFFFF
            sub.on_report_block(block.fraction_lost, rtt)

    # ---- out

    def send(self, p: Participant, now: float) -> None:
        self.send_receiver_reports(p, now)
        self.send_sender_reports(p, now)

    def send_receiver_reports(self, p: Participant, now: float) -> None:
        engine = self.node.media_engine
        blocks = []
        for layer in (lyr for t in p.published.values() for lyr in t.layers):
            st = engine.track_stats(layer.index)
            if st is None or st[0] == 0:
                continue
            received, ext_max, base, jitter = st[0], st[2], st[3], st[4]
            expected = ext_max - base + 1
            lost = max(0, expected - received)
            fraction = layer.loss_since_last_report(expected, received)
            lsr = dlsr = 0
            if layer.last_sr is not None:
                lsr = rtcp.ntp_to_compact(layer.last_sr[0])
                dlsr = int((now - layer.last_sr[2]) * 65536) & 0xFFFFFFFF
            blocks.append(
                rtcp.ReportBlock(
                    ssrc=layer.ssrc, fraction_lost=fraction, cumulative_lost=min(lost, 0x7FFFFF),
                    highest_seq=ext_max & 0xFFFFFFFF, jitter=jitter & 0xFFFFFFFF, lsr=lsr, dlsr=dlsr,
                )
            )
        if blocks:
            rr = rtcp.ReceiverReport(ssrc=self.node.node_ssrc, reports=blocks[:MAX_BLOCKS])
            engine.send_rtcp(p.peer, rtcp.serialize([rr]))

    def send_sender_reports(self, p: Participant, now: float) -> None:
        """SRs for what this participant receives, on the rewritten SSRC and timeline, so lip sync works. Python
        computes each source's RTP clock now; the engine adds each subscription's offset and counts, builds the
        compound packets and sends them in one call (native: no per-subscription stats read)."""
        items: list[tuple[int, int]] = []
        wall = time.time()
        ntp = rtcp.ntp_now()    # the same instant as `wall`: the SRs' NTP and RTP times must agree
        for sub in p.subscriptions.values():
            track = sub.track
            anchor = sub.layer.last_sr if sub.layer is not None else track.last_sr
            if anchor is None or not track.owner.clock_offsets:
                continue
            sr_ntp, sr_rtp, _ = anchor
            # the publisher's RTP clock now = its SR anchor advanced by the time elapsed on ITS wall clock
            elapsed = (wall - min(track.owner.clock_offsets)) - ntp_seconds(sr_ntp)
            items.append((sub.index, (sr_rtp + int(elapsed * track.clock_rate)) & 0xFFFFFFFF))
        if items:
            self.node.media_engine.sender_reports(p.peer, ntp, items)
