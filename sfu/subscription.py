"""A subscription: one participant receiving one track (mediasoup: a Consumer; LiveKit: a DownTrack).

It owns the receiver-side state its duties need: what the receiver reports (loss, RTT, REMB), which layer it is
forwarded and which one waits for its keyframe, its temporal/spatial caps, the size it renders the track at,
whether last-N paused it. The engine holds the per-packet state under `index`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sfu.allocation.layers import TEMPORAL_ALL

if TYPE_CHECKING:
    from sfu.participant import Participant
    from sfu.track import Layer, Track


@dataclass
class Subscription:
    index: int  # engine subscription index
    track: Track
    subscriber: Participant
    mid: str
    ssrc: int
    rtx_ssrc: int | None
    pt: int
    rtx_pt: int | None
    cname: str
    transport_cc: bool = False  # packets to it carry the node's transport seq (probes can go on its RTX stream)
    last_keyframe_request: float = 0.0
    fraction_lost: float = 0.0
    rtt_ms: float | None = None
    remb_bps: int | None = None
    paused: bool = False
    layer: Layer | None = None  # the layer being forwarded
    target: Layer | None = None  # a layer waiting for its keyframe to take over
    viewport: tuple[int, int] | None = None  # (width, height) the subscriber renders this track at
    layer_since: float = field(default_factory=time.monotonic)  # when the current layer was chosen
    upgrade_hold: float = 3.0  # seconds clean before the next step up (sfu.allocation.layers.next_upgrade_hold)
    upgraded_at: float = 0.0  # when the last step up was decided
    max_tid: int = TEMPORAL_ALL  # the temporal layer cap given to the engine
    max_sid: int = -1  # VP9 SVC: the spatial layer cap given to the engine (-1: every layer)

    @property
    def wanted_layer(self) -> Layer | None:
        """The layer a keyframe is wanted for: the one being switched to, else the one forwarded."""
        return self.target or self.layer

    @property
    def probe_carrier(self) -> bool:
        """Padding for a bandwidth probe can go on this subscription's RTX stream."""
        return self.rtx_pt is not None and self.transport_cc and self.track.kind == "video"

    @property
    def viewport_height(self) -> int | None:
        return self.viewport[1] if self.viewport else None

    def on_report_block(self, fraction_lost: int, rtt_compact: int | None) -> None:
        """A receiver report block about this subscription's stream (RTT in 1/65536 s, if it echoed our SR)."""
        self.fraction_lost = fraction_lost / 256.0
        if rtt_compact is not None and rtt_compact < 0x80000000:
            self.rtt_ms = rtt_compact * 1000.0 / 65536.0

    def begin_switch(self, want: Layer, now: float) -> None:
        """Another simulcast layer was chosen; the engine switches at its next keyframe."""
        if self.layer is not None and want.rank > self.layer.rank:
            self.upgraded_at = now
        self.target = want
        self.layer_since = now
        self.max_tid = TEMPORAL_ALL

    def switched(self, layer_index: int) -> None:
        """The engine reports the switch done: `layer_index` is now forwarded."""
        self.layer = self.track.layer_by_index(layer_index) or self.layer
        self.target = None

    def keyframe_retry_due(self, now: float, interval: float) -> bool:
        """Still waiting for a first keyframe `interval` after the last request: ask again (and note it)."""
        if now - self.last_keyframe_request <= interval:
            return False
        self.last_keyframe_request = now
        return True
