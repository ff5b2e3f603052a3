"""Keyframe requests across a relay link (issue 14): the far node asks for a keyframe of a relayed copy (its
subscriber joined, lost packets, was resumed) with a PLI or FIR about the SSRC the link carries; here the link
maps that SSRC back to the meeting, track and layer it copies (`RelayLink.copy_of`) and the request goes to the track's
publisher (`KeyframeRequests.request`, throttled as for local subscribers) — or, for a track that itself came
over another link, on to the node it came from. A copy that starts asks at once, so the far node's subscribers
do not wait for the publisher's next periodic keyframe (a browser sends none without a request).

RTCP from a peer that is neither a participant nor a link is not this module's; an SSRC the link does not send
(stale, forged) is a counted drop (`relay_rtcp_unknown_ssrc`), a malformed packet too (`rtcp_malformed`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sfu.allocation import relaying
from sfu.feedback import rtcp
from sfu.feedback.keyframes import KEYFRAME_REQUEST_INTERVAL

if TYPE_CHECKING:
    from sfu.cascade.link import Key
    from sfu.cascade.relays import Relays
    from sfu.node import Node


class RelayFeedback:
    def __init__(self, node: Node, relays: Relays) -> None:
        self.node = node
        self.relays = relays
        node.rtcp.from_relay = self.on_rtcp

    def on_rtcp(self, peer: int, data: bytes) -> None:
        sender = next((n for n, link in self.relays.links.items() if link.peer == peer), None)
        if sender is None:
            return
        link = self.relays.links[sender]
        try:
            packets = rtcp.parse_compound(data)
        except rtcp.RtcpError:
            self.node.control_drops["rtcp_malformed"] += 1
            return
        for pkt in packets:
            if isinstance(pkt, rtcp.Pli):
                ssrcs = [pkt.media_ssrc]
            elif isinstance(pkt, rtcp.Fir):
                ssrcs = [ssrc for ssrc, _ in pkt.entries]
            else:
                continue  # reports, NACKs (the engine's relay subscription keeps what it sent), congestion
            for ssrc in ssrcs:
                copy = link.copy_of(ssrc)
                if copy is None:
                    self.node.control_drops["relay_rtcp_unknown_ssrc"] += 1
                    continue
                self.request(sender, copy[0], copy[1], copy[2])

    def request(self, to: str, key: Key, track_id: str, layer: int, force: bool = False) -> None:
        """A keyframe of meeting `key`'s `track_id` at `layer` (a rank; the learned layer carrying it) for the copy
        sent to node `to`; throttled per track (a far node cannot make the publisher send keyframes faster than
        local subscribers can) unless `force` (the copy just started) — itself at most once per layer per
        KEYFRAME_REQUEST_INTERVAL, so a far node whose needs start and stop a layer again and again makes no flood
        of keyframe requests either."""
        room = self.node.rooms.get(key)
        if room is None:
            return
        track = next((t for t in room.tracks() if t.id == track_id), None)
        if track is None or track.kind != "video":
            return
        if not track.layers:
            return
        learned = {lyr.rank: lyr for lyr in track.layers}
        target = learned[relaying.nearest(layer, learned)]
        if force:  # a copy that just started: forced, but once per layer per throttle interval, however often a
            # far node's needs start and stop it (beyond that the track's throttle applies)
            now = time.monotonic()
            force = now - target.relay_keyframe_at >= KEYFRAME_REQUEST_INTERVAL
            if force:
                target.relay_keyframe_at = now
        self.node.counts["relay_keyframe_requests"] += 1
        self.node.keyframes.request(track, target, force=force)
