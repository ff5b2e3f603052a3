"""Keyframe requests towards publishers (mediasoup: KeyFrameRequestManager).

A subscriber's PLI/FIR, a new subscription, a layer switch, a resumed last-N video and a subscription still
waiting for its first keyframe all end here; none leaves while the room is held for its recorder
(sfu/recording.py: the release asks for every track at once). Requests to one publisher track are throttled to one per
KEYFRAME_REQUEST_INTERVAL unless forced (a switch or a new receiver must not wait); the publisher gets a PLI,
or a FIR when it negotiated only `ccm fir`. The engine itself holds a subscription back until a keyframe
arrives (native/engine.pyx: `waiting`), so asking again is this module's only duty.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sfu.feedback import rtcp

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant
    from sfu.track import Layer, Track

KEYFRAME_REQUEST_INTERVAL = 0.5  # throttle for PLI/FIR towards one publisher track
KEYFRAME_RETRY = 1.0  # a subscription still waiting for its first keyframe asks again this often


class KeyframeRequests:
    def __init__(self, node: Node) -> None:
        self.node = node

    def request(self, track: Track, layer: Layer | None = None, force: bool = False) -> None:
        """Asks `track`'s publisher for a keyframe of `layer` (default: the track's first encoding)."""
        if track.kind != "video" or track.owner.room.recording.held:
            return  # audio has no keyframes; a room held for its recorder forwards nothing to start from
        now = time.monotonic()
        if not force and now - track.last_keyframe_request < KEYFRAME_REQUEST_INTERVAL:
            return
        track.last_keyframe_request = now
        ssrc = layer.ssrc if layer is not None else track.ssrc
        fb = track.negotiated.codec.feedback
        packet: rtcp.Pli | rtcp.Fir
        if "nack pli" in fb or "ccm fir" not in fb:
            packet = rtcp.Pli(sender_ssrc=self.node.node_ssrc, media_ssrc=ssrc)
        else:
            packet = rtcp.Fir(sender_ssrc=self.node.node_ssrc, entries=[(ssrc, int(now * 10) & 0xFF)])
        self.node.counts["keyframe_requests"] += 1
        self.node.media_engine.send_rtcp(track.owner.peer, rtcp.serialize([packet]))

    def on_request(self, peer: int, packet: rtcp.Pli | rtcp.Fir) -> None:
        """A subscriber's PLI or FIR, about the SSRC the node sends it: passed on to the publisher."""
        self.node.counts["pli" if isinstance(packet, rtcp.Pli) else "fir"] += 1
        ssrcs = [packet.media_ssrc] if isinstance(packet, rtcp.Pli) else [e[0] for e in packet.entries]
        for ssrc in ssrcs:
            sub = self.node.subs_by_ssrc.get((peer, ssrc))
            if sub is not None:
                self.request(sub.track, sub.wanted_layer)

    def retry_waiting(self, p: Participant, now: float) -> None:
        """Subscriptions of `p` the engine still holds back for want of a keyframe ask again (once a second)."""
        engine = self.node.media_engine
        for sub in p.subscriptions.values():
            if engine.subscription_waiting(sub.index) and sub.keyframe_retry_due(now, KEYFRAME_RETRY):
                self.request(sub.track, sub.wanted_layer)
