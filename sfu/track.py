"""A published track and its layers (mediasoup: a Producer and its encodings).

A Track is what a participant publishes on one m-line; a Layer is one encoding of it (the whole track without
simulcast, else one RID). Each owns what its duties measure: the SR anchor for lip sync, the loss counters for
receiver reports, the bitrates and temporal/spatial layers for allocation, the keyframe-request throttle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sfu.negotiation.sdp import Negotiated
    from sfu.participant import Participant
    from sfu.subscription import Subscription

KEEP, NEWEST = 0.7, 0.3  # a bitrate's exponential average: the old value's weight, the newest measurement's


@dataclass
class Layer:
    """One encoding of a track: the whole track when there is no simulcast, else one RID."""

    rid: str
    rank: int
    ssrc: int
    index: int  # engine track index
    rtx_index: int | None = None
    last_sr: tuple[int, int, float] | None = None  # (ntp, rtp_ts, monotonic arrival)
    rr_prev: tuple[int, int] = (0, 0)
    octets: int = 0
    received: int = 0
    bitrate_bps: float = 0.0
    last_active: float = 0.0
    temporal_layers: int = 1  # VP8/VP9 temporal layers seen in this encoding's descriptors (TIDs 0..n-1)
    sending: bool = False  # the last reading saw new packets: the interval up to the next one is a whole one
    averaged: bool = False  # bitrate_bps holds the average of whole intervals since the layer (re)started
    relay_keyframe_at: float = 0.0  # the last keyframe request forced for a relay copy of it starting to cross

    def measure(self, received: int, octets: int, now: float, interval: float) -> None:
        """The engine's counters for this encoding, read every `interval` seconds: bitrate and activity.

        The average starts from the first whole interval the layer sent in, not from zero: the reading in which
        it starts (or resumes) sending covers an unknown part of its interval, and an average rising from zero
        reported a new layer at a third, half, two thirds of its rate after 1, 2, 3 s, so a subscriber's first
        step up looked covered by an estimate that does not cover it and was taken without a probe. An idle
        interval (no new packet) is a rate of zero, and the next start is measured afresh."""
        if received == self.received:
            self.bitrate_bps *= KEEP
            self.sending = self.averaged = False
        else:
            self.last_active = now
            if self.sending:
                rate = (octets - self.octets) * 8 / interval
                self.bitrate_bps = KEEP * self.bitrate_bps + NEWEST * rate if self.averaged else rate
                self.averaged = True
            self.sending = True
        self.received, self.octets = received, octets

    def loss_since_last_report(self, expected: int, received: int) -> int:
        """RFC 3550 fraction lost (0..255) since the previous receiver report, which this one becomes."""
        exp_i = expected - self.rr_prev[0]
        rec_i = received - self.rr_prev[1]
        self.rr_prev = (expected, received)
        return 0 if exp_i <= 0 or rec_i >= exp_i else min(255, ((exp_i - rec_i) << 8) // exp_i)


@dataclass
class Track:
    id: str
    owner: Participant
    index: int  # engine track index
    kind: str
    mid: str
    ssrc: int
    codec: str
    clock_rate: int
    negotiated: Negotiated
    rtx_ssrc: int | None = None
    rtx_index: int | None = None  # engine sink for the publisher's RTX stream (probing padding)
    stream_id: str = ""
    muted: bool = False
    last_sr: tuple[int, int, float] | None = None  # (ntp, rtp_ts, monotonic arrival)
    last_keyframe_request: float = 0.0
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)  # by rank; one entry without simulcast
    rid_ranks: dict[str, int] = field(default_factory=dict)  # simulcast RIDs offered -> rank
    active_rids: dict[str, bool] = field(default_factory=dict)  # what the publisher was last asked to send
    relay_ranks: frozenset[int] = frozenset()  # layers crossing a relay link to another node (sfu/cascade/meeting.py)
    spatial_layers: int = 1  # VP9 SVC: spatial layers in the one stream (scalability structure or SIDs seen)
    sid_octets: list[int] = field(default_factory=list)  # per SID, at the last measurement
    sid_bitrates: list[float] = field(default_factory=list)  # per SID, smoothed

    @property
    def simulcast(self) -> bool:
        return bool(self.rid_ranks)

    @property
    def layered(self) -> bool:
        """A codec whose payload descriptor carries temporal (VP8, VP9) or spatial (VP9) layers."""
        return self.kind == "video" and self.codec in ("vp8", "vp9")

    @property
    def scalable(self) -> bool:
        """Simulcast, VP9 SVC or temporal layers: the node chooses what each subscriber gets."""
        return self.simulcast or self.spatial_layers > 1 or any(layer.temporal_layers > 1 for layer in self.layers)

    def layer(self, rank: int) -> Layer | None:
        return next((layer for layer in self.layers if layer.rank == rank), None)

    def layer_by_index(self, index: int) -> Layer | None:
        return next((layer for layer in self.layers if layer.index == index), None)

    def on_sender_report(self, ssrc: int, ntp: int, rtp_ts: int, now: float) -> None:
        """The publisher's SR for one of this track's encodings: the anchor of its RTP clock."""
        self.last_sr = (ntp, rtp_ts, now)
        for layer in self.layers:
            if layer.ssrc == ssrc:
                layer.last_sr = self.last_sr

    def measure_spatial(self, ss_layers: int, max_sid: int, sid_octets: list[int], interval: float) -> None:
        """VP9 without simulcast: spatial layers in the stream, and each SID's bitrate."""
        self.spatial_layers = max(ss_layers, max_sid + 1, 1)
        n = self.spatial_layers
        prev = (self.sid_octets + [0] * n)[:n]
        rates = (self.sid_bitrates + [0.0] * n)[:n]
        self.sid_bitrates = [KEEP * r + NEWEST * (o - q) * 8 / interval
                             for r, o, q in zip(rates, sid_octets[:n], prev, strict=True)]
        self.sid_octets = list(sid_octets[:n])

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "participant": self.owner.id,
            "kind": self.kind,
            "codec": self.codec,
            "stream": self.stream_id,
            "muted": self.muted,
            "simulcast": sorted(self.rid_ranks, key=self.rid_ranks.__getitem__),
        }
