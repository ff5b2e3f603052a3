"""Transport-wide congestion control on both legs of a participant, and REMB.

- What a participant publishes: the engine logs each packet's transport seq and arrival; every
  TWCC_FEEDBACK_INTERVAL the node drains the log into transport-cc feedback (sfu/congestion/twcc.py) and sends
  it, so the browser's own estimator runs.
- What it receives: the engine stamps the node's transport seq on everything sent to it and logs send times;
  the participant's feedback, joined with that log, drives the node's send-side estimate of its downlink
  (sfu/congestion/bwe.py), preferred over REMB, and completes a probe (sfu/congestion/probe.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfu.congestion.bwe import PacketResult
from sfu.congestion.probe import Prober
from sfu.feedback import rtcp

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant

TWCC_FEEDBACK_INTERVAL = 0.1  # transport-cc feedback to each publisher that sent something new
MAX_FEEDBACK_DATAGRAM = 1200  # bytes of feedback packets batched into one compound RTCP datagram
DEFAULT_RTT_MS = 100.0  # before any receiver report gave an RTT


class CongestionControl:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.prober = Prober(node)

    def tick(self, now: float) -> None:
        """Every TWCC_FEEDBACK_INTERVAL: feedback to publishers; probes whose feedback is overdue end."""
        self.send_publisher_feedback()
        self.prober.expire(now)

    def send_publisher_feedback(self) -> None:
        """Drains each publisher's arrival log into transport-cc feedback and sends it."""
        node = self.node
        engine = node.media_engine
        for p in list(node.by_id.values()):
            builder = p.twcc_feedback
            if builder is None or not p.media_ready:
                continue
            arrivals = engine.twcc_arrivals(p.peer)
            if not arrivals:
                continue
            builder.add(arrivals)
            media_ssrc = next((t.ssrc for t in p.published.values()), 0)
            packets = builder.build(media_ssrc)
            batch: list[rtcp.RtcpPacket] = []
            size = 0
            for fb in packets:
                wire = rtcp.serialize([fb])
                if batch and size + len(wire) > MAX_FEEDBACK_DATAGRAM:
                    engine.send_rtcp(p.peer, rtcp.serialize(batch))
                    batch, size = [], 0
                batch.append(fb)
                size += len(wire)
            if batch:
                engine.send_rtcp(p.peer, rtcp.serialize(batch))
            node.counts["twcc_feedback_sent"] += len(packets)

    def on_transport_feedback(self, p: Participant, fb: rtcp.TransportCC, now: float) -> None:
        """A subscriber's transport-cc feedback about what the node sent it."""
        down = p.downlink
        if down.bwe is None or not fb.packets:
            return
        self.node.counts["twcc_feedback"] += 1
        rows = down.twcc_reader.read(fb)
        sent = self.node.media_engine.twcc_sent(p.peer, fb.base_seq, len(fb.packets))
        known = [(seq, PacketResult(ext, info[0] / 1000.0, info[1], None if arrival is None else arrival / 1000.0))
                 for (ext, seq, arrival), info in zip(rows, sent, strict=True) if info is not None]
        rtts = [s.rtt_ms for s in p.subscriptions.values() if s.rtt_ms is not None]
        down.bwe.on_feedback([r for _, r in known], now * 1000.0, max(rtts) if rtts else DEFAULT_RTT_MS)
        down.estimate_bps = int(down.bwe.estimate)
        if down.probe is not None and down.probe.record(known):
            self.prober.finish(p, now)

    def on_remb(self, p: Participant, remb: rtcp.Remb, now: float) -> None:
        p.downlink.on_remb(remb.bitrate, now)
        for ssrc in remb.ssrcs:
            sub = self.node.subs_by_ssrc.get((p.peer, ssrc))
            if sub is not None:
                sub.remb_bps = remb.bitrate
