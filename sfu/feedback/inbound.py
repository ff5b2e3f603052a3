"""RTCP from a participant, each packet handed to the duty it concerns.

SR/RR → reports; PLI/FIR → keyframe requests; NACK → NACK service; transport-cc and REMB → congestion control.
A malformed compound packet is a counted drop (`rtcp_malformed`), never an exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sfu.feedback import rtcp

if TYPE_CHECKING:
    from sfu.node import Node

log = logging.getLogger("castellan.node")


class RtcpInbound:
    def __init__(self, node: Node) -> None:
        self.node = node
        # RTCP from a relay link's peer (another node of a cascaded meeting): sfu/cascade/feedback.py
        self.from_relay: Callable[[int, bytes], None] | None = None

    def on_rtcp(self, peer: int, data: bytes) -> None:
        node = self.node
        p = node.by_peer.get(peer)
        if p is None:
            if self.from_relay is not None:
                self.from_relay(peer, data)
            return
        try:
            packets = rtcp.parse_compound(data)
        except rtcp.RtcpError as e:
            node.control_drops["rtcp_malformed"] += 1
            log.debug("malformed RTCP from %s: %s", p.id, e)
            return
        now = time.monotonic()
        for pkt in packets:
            if isinstance(pkt, rtcp.SenderReport):
                node.reports.on_sender_report(p, pkt, now)
            elif isinstance(pkt, rtcp.ReceiverReport):
                node.reports.on_report_blocks(p, pkt.reports)
            elif isinstance(pkt, rtcp.Pli | rtcp.Fir):
                node.keyframes.on_request(peer, pkt)
            elif isinstance(pkt, rtcp.Nack):
                node.nacks.on_nack(peer, pkt)
            elif isinstance(pkt, rtcp.TransportCC):
                node.congestion.on_transport_feedback(p, pkt, now)
            elif isinstance(pkt, rtcp.Remb):
                node.congestion.on_remb(p, pkt, now)
