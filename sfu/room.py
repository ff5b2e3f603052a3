"""Rooms, participants, tracks and subscriptions: the node's vocabulary, as plain objects.

mediasoup's words map onto these: a Participant owns one WebRTC transport; a Track is a Producer; a
Subscription is a Consumer. The engine indexes (peer, track, sub) are the native tables' keys.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from native.constants import CODEC_IDS  # noqa: F401 - the node's codec name -> engine codec id, defined once
from sfu.allocation.speaker import SpeakerDetector
from sfu.congestion.bwe import SendSideBwe
from sfu.congestion.twcc import FeedbackBuilder, FeedbackReader

if TYPE_CHECKING:
    from sfu.negotiation.sdp import MediaSection, Negotiated
    from sfu.transport.dtls import DtlsSession


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
    rr_prev: tuple[int, int] = (0, 0)  # (expected, received) at the last RR, for fraction lost
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)  # by rank; one entry without simulcast
    rid_ranks: dict[str, int] = field(default_factory=dict)  # simulcast RIDs offered -> rank
    active_rids: dict[str, bool] = field(default_factory=dict)  # what the publisher was last asked to send
    spatial_layers: int = 1  # VP9 SVC: spatial layers in the one stream (scalability structure or SIDs seen)
    sid_octets: list[int] = field(default_factory=list)  # per SID, at the last measurement
    sid_bitrates: list[float] = field(default_factory=list)  # per SID, smoothed

    @property
    def simulcast(self) -> bool:
        return bool(self.rid_ranks)

    @property
    def scalable(self) -> bool:
        """Simulcast, VP9 SVC or temporal layers: the node chooses what each subscriber gets."""
        return self.simulcast or self.spatial_layers > 1 or any(layer.temporal_layers > 1 for layer in self.layers)

    def layer(self, rank: int) -> Layer | None:
        return next((layer for layer in self.layers if layer.rank == rank), None)

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
    max_tid: int = -1  # the temporal layer cap given to the engine (-1: every layer)
    max_sid: int = -1  # VP9 SVC: the spatial layer cap given to the engine (-1: every layer)


@dataclass
class Probe:
    """A probe cluster: padding sent at `target_bps` (with the media) before stepping a layer up."""

    target_bps: float
    started: float
    first: int | None = None  # transport seqs of the padding (16 bits), once sent
    last: int | None = None
    sent_done: bool = False
    deadline: float = 0.0  # feedback for the cluster must have come by then
    results: dict[int, Any] = field(default_factory=dict)  # extended seq -> sfu.congestion.bwe.PacketResult in the cluster


@dataclass
class Participant:
    id: str
    name: str
    room: Room
    peer: int  # engine peer index
    tenant: str
    resume_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ice_ufrag: str = ""
    ice_pwd: str = ""
    remote_ufrag: str = ""
    remote_fingerprints: list[tuple[str, str]] = field(default_factory=list)
    dtls: DtlsSession | None = None
    media_address: tuple[str, int] | None = None
    address_seen: float = 0.0
    media_ready: bool = False
    offer_version: int = 0
    session_id: int = field(default_factory=lambda: secrets.randbits(62))
    published: dict[str, Track] = field(default_factory=dict)  # mid -> track
    pending_publications: dict[str, tuple[MediaSection, Negotiated]] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)  # mid -> subscription
    ext_ids: dict[str, int] = field(default_factory=dict)  # uri -> id, BUNDLE-wide, from the offer
    estimate_bps: int | None = None  # the downlink estimate: the node's own from transport-cc, else the receiver's REMB
    remb_recent: deque[tuple[float, int]] = field(default_factory=deque)  # (time, REMB) of the last seconds
    remb_falling: bool = False  # the receiver's REMB is falling (its estimator saw overuse)
    remb_at_upgrade: int = 0  # the REMB when this participant's last step up was decided
    twcc_feedback: FeedbackBuilder | None = None  # transport-cc feedback for what this participant sends
    twcc_reader: FeedbackReader = field(default_factory=FeedbackReader)
    bwe: SendSideBwe | None = None  # the node's send-side estimate of this participant's downlink (transport-cc)
    probe: Probe | None = None  # a bandwidth probe towards this participant, under way or awaiting feedback
    probe_backoff_until: float = 0.0  # after a probe that did not show enough room, wait before the next
    probe_failures: int = 0  # failed probes in a row (the wait before the next doubles)
    # wall-clock offset of this publisher's NTP clock from ours: the smallest (arrival - SR time) seen, i.e. the
    # least-delayed SR; one value per publisher so its audio and video stay mutually in sync
    clock_offsets: deque[float] = field(default_factory=lambda: deque(maxlen=16))
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(maxsize=1024))
    connected: bool = True  # signalling attached
    detached_at: float = 0.0
    joined_at: float = field(default_factory=time.time)
    left: bool = False

    def send(self, message: dict[str, Any]) -> None:
        """Queues a signalling message; a participant whose socket is gone gets a snapshot on resume instead."""
        if not self.connected:
            return
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            pass

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass
class Room:
    tenant: str
    name: str
    participants: dict[str, Participant] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    speakers: SpeakerDetector = field(default_factory=SpeakerDetector)

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant, self.name)

    def tracks(self) -> list[Track]:
        return [t for p in self.participants.values() for t in p.published.values()]

    def broadcast(self, message: dict[str, Any], exclude: Participant | None = None) -> None:
        for p in self.participants.values():
            if p is not exclude:
                p.send(message)
