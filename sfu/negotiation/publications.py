"""Tracks and subscriptions entering and leaving the engine's tables.

A publication becomes a Track (one engine track per layer, plus a sink for its RTX stream so padding probes
never reach Python); a subscription gets its engine entry with the header-extension map, RTX and transport-cc
ids negotiated for the subscriber. Publishers that did not signal SSRCs (or send simulcast) are learned from
the first packets: the MID and RID header extensions name the m-line and the encoding.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from native import engine as native
from native.constants import CODEC_IDS
from sfu.allocation.layers import rank_rids
from sfu.congestion.bwe import SendSideBwe
from sfu.negotiation import sdp
from sfu.subscription import Subscription
from sfu.track import Layer, Track

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant

log = logging.getLogger("castellan.node")

VIDEO_BUFFER = 512  # packets the engine keeps per video layer (NACK service) ...
AUDIO_BUFFER = 128  # ... per audio track
SINK_BUFFER = 16  # ... per RTX sink (nothing is re-sent from it)


def new_ssrc() -> int:
    return secrets.randbits(32) or 1


class Publications:
    def __init__(self, node: Node) -> None:
        self.node = node

    # ---- tracks

    def add_track(self, p: Participant, mid: str, neg: sdp.Negotiated, ssrc: int, rtx_ssrc: int | None,
                  stream_id: str, rid: str = "", rid_ranks: dict[str, int] | None = None) -> Track:
        node = self.node
        engine = node.media_engine
        if (p.peer, ssrc) in node.tracks_by_ssrc:
            raise sdp.SdpError(f"SSRC {ssrc} is already published")
        index = node.track_ids.take()
        codec = neg.codec.name.lower()
        try:
            engine.add_track(index, p.peer, ssrc, CODEC_IDS.get(codec, 0), neg.codec.clock_rate,
                             VIDEO_BUFFER if neg.kind == "video" else AUDIO_BUFFER)
        except ValueError as e:  # the engine's own check: the SSRC is already an RTX sink of this peer
            node.track_ids.give(index)
            raise sdp.SdpError(f"SSRC {ssrc}: {e}") from None
        ranks = rid_ranks or {}
        layer = Layer(rid=rid, rank=ranks.get(rid, 0), ssrc=ssrc, index=index)
        track = Track(
            id="TR_" + secrets.token_urlsafe(9), owner=p, index=index, kind=neg.kind, mid=mid, ssrc=ssrc,
            codec=codec, clock_rate=neg.codec.clock_rate, negotiated=neg, rtx_ssrc=rtx_ssrc, stream_id=stream_id,
            layers=[layer], rid_ranks=ranks,
        )
        if rtx_ssrc is not None and (p.peer, rtx_ssrc) not in node.tracks_by_ssrc:
            # a sink for the publisher's RTX/padding (bandwidth probes), so it never reaches Python
            rtx_index = node.track_ids.take()
            try:
                engine.add_track(rtx_index, p.peer, rtx_ssrc, 0, neg.codec.clock_rate, SINK_BUFFER)
            except ValueError as e:  # already a track or sink of this peer (offers are checked, learned ones not)
                node.track_ids.give(rtx_index)
                engine.remove_track(index)
                node.track_ids.give(index)
                raise sdp.SdpError(f"RTX SSRC {rtx_ssrc}: {e}") from None
            track.rtx_index = layer.rtx_index = rtx_index
        p.published[mid] = track
        p.pending_publications.pop(mid, None)
        node.tracks_by_ssrc[(p.peer, ssrc)] = track
        p.room.broadcast({"type": "track_published", "track": track.describe()}, exclude=p)
        log.info("publish participant=%s track=%s kind=%s codec=%s ssrc=%d", p.id, track.id, track.kind, codec, ssrc,
                 extra={"room": p.room.name, "participant": p.id, "track": track.id})
        return track

    def remove_track(self, track: Track) -> None:
        node = self.node
        engine = node.media_engine
        for sub in list(track.subscriptions.values()):
            self.remove_subscription(sub)
        node.recording.track_removed(track)
        for layer in track.layers:
            engine.remove_track(layer.index)
            node.track_ids.give(layer.index)
            if layer.rtx_index is not None:
                engine.remove_track(layer.rtx_index)
                node.track_ids.give(layer.rtx_index)
            node.tracks_by_ssrc.pop((track.owner.peer, layer.ssrc), None)
        track.owner.published.pop(track.mid, None)
        track.owner.room.broadcast({"type": "track_unpublished", "track": track.id}, exclude=track.owner)

    # ---- subscriptions

    def add_subscription(self, p: Participant, mid: str, track: Track, neg: sdp.Negotiated,
                         out: sdp.OutgoingStream) -> None:
        node = self.node
        index = node.sub_ids.take()
        ext_map = bytearray(256)
        abs_out = 0
        for pub_id, uri in track.negotiated.extensions.items():
            if uri not in sdp.FORWARDED_EXTENSIONS:
                continue
            sub_id = next((i for i, u in neg.extensions.items() if u == uri), 0)
            if sub_id and pub_id < 256:
                ext_map[pub_id] = sub_id
                if uri == sdp.URI_ABS_SEND_TIME:
                    abs_out = sub_id
        rtx_pt = neg.rtx_pt if neg.rtx_pt is not None else -1
        first = track.layers[0]
        # the node's transport seq, on every packet to this subscriber (one-byte ids only: 1..14)
        twcc_out = next((i for i, u in neg.extensions.items() if u == sdp.URI_TWCC and 1 <= i <= 14), 0)
        node.media_engine.add_subscription(
            index, first.index, p.peer, out.ssrc, neg.codec.pt, out.rtx_ssrc or 0, rtx_pt, bytes(ext_map), abs_out,
            secrets.randbits(15), 0, twcc_out, p.room.recording.held,
        )
        if twcc_out and p.downlink.bwe is None:
            p.downlink.bwe = SendSideBwe()
        sub = Subscription(
            index=index, track=track, subscriber=p, mid=mid, ssrc=out.ssrc, rtx_ssrc=out.rtx_ssrc,
            pt=neg.codec.pt, rtx_pt=neg.rtx_pt, cname=out.cname, layer=first, transport_cc=bool(twcc_out),
        )
        p.subscriptions[mid] = sub
        track.subscriptions[index] = sub
        node.subs_by_ssrc[(p.peer, out.ssrc)] = sub
        if out.rtx_ssrc:
            node.subs_by_ssrc[(p.peer, out.rtx_ssrc)] = sub
        node.last_n.apply(p)
        if not sub.paused:
            node.keyframes.request(track, first)
        if p.recorder:  # the recorder now receives the room's tracks: its state may be "live" (sfu/recording.py)
            node.recording.refresh(p.room)

    def remove_subscription(self, sub: Subscription) -> None:
        node = self.node
        node.media_engine.remove_subscription(sub.index)
        node.sub_ids.give(sub.index)
        sub.track.subscriptions.pop(sub.index, None)
        if sub.subscriber.subscriptions.get(sub.mid) is sub:
            del sub.subscriber.subscriptions[sub.mid]
        node.subs_by_ssrc.pop((sub.subscriber.peer, sub.ssrc), None)
        if sub.rtx_ssrc:
            node.subs_by_ssrc.pop((sub.subscriber.peer, sub.rtx_ssrc), None)

    # ---- SSRCs learned from the first packets

    def on_unknown_ssrc(self, peer: int, data: bytes) -> None:
        """RTP on an SSRC nobody announced: a pending publication (MID) or a simulcast layer (RID) to learn."""
        p = self.node.by_peer.get(peer)
        if p is None:
            return
        info = native.parse_rtp(data)
        if info is None:
            return
        mid_raw = native.find_extension(data, p.ext_ids.get(sdp.URI_MID, 0))
        if mid_raw is None:
            return
        mid = mid_raw.decode(errors="replace")
        pt, ssrc = info[0], info[4]
        rid_raw = native.find_extension(data, p.ext_ids.get(sdp.URI_RID, 0))
        rrid_raw = native.find_extension(data, p.ext_ids.get(sdp.URI_RRID, 0))
        track = p.published.get(mid)
        if track is not None and track.simulcast:
            self._learn_layer(p, track, ssrc, pt, rid_raw, rrid_raw)
            return
        pending = p.pending_publications.get(mid)
        if pending is None:
            return
        sec, neg = pending
        if pt != neg.codec.pt:
            return  # RTX or FEC of a stream we have not learned yet
        stream_id = sec.msid.split()[0] if sec.msid else p.id
        if sec.rids and sec.simulcast:
            rid = rid_raw.decode(errors="replace") if rid_raw else ""
            ranks = rank_rids([r for r, _ in sec.rids])
            if rid not in ranks:
                return
            self.add_track(p, mid, neg, ssrc, None, stream_id, rid=rid, rid_ranks=ranks)
        else:
            self.add_track(p, mid, neg, ssrc, None, stream_id)

    def _learn_layer(self, p: Participant, track: Track, ssrc: int, pt: int, rid_raw: bytes | None,
                     rrid_raw: bytes | None) -> None:
        """Another encoding of a simulcast track (RID), or the repair stream of one (repaired RID)."""
        node = self.node
        engine = node.media_engine
        if rrid_raw is not None:
            layer = next((lyr for lyr in track.layers if lyr.rid == rrid_raw.decode(errors="replace")), None)
            if layer is not None and layer.rtx_index is None and (p.peer, ssrc) not in node.tracks_by_ssrc:
                layer.rtx_index = node.track_ids.take()  # a sink: its padding probes never reach Python
                engine.add_track(layer.rtx_index, p.peer, ssrc, 0, track.clock_rate, SINK_BUFFER)
            return
        if rid_raw is None or pt != track.negotiated.codec.pt:
            return
        rid = rid_raw.decode(errors="replace")
        if rid not in track.rid_ranks or any(lyr.rid == rid for lyr in track.layers):
            return
        index = node.track_ids.take()
        engine.add_track(index, p.peer, ssrc, CODEC_IDS.get(track.codec, 0), track.clock_rate, VIDEO_BUFFER)
        track.layers.append(Layer(rid=rid, rank=track.rid_ranks[rid], ssrc=ssrc, index=index))
        track.layers.sort(key=lambda lyr: lyr.rank)
        node.tracks_by_ssrc[(p.peer, ssrc)] = track
        log.info("simulcast layer %s (rank %d) of track %s learned", rid, track.rid_ranks[rid], track.id)
