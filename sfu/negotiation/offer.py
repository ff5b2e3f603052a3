"""A participant's offer applied: the answer, and what it changes — ICE restart, header-extension ids, the
publications it sends (recvonly on our side) and the tracks it maps onto its receiving m-lines (sendonly).
The client always offers (docs/protocol.md); the node never re-offers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from native.threaded import held
from sfu.congestion.twcc import FeedbackBuilder
from sfu.negotiation import sdp
from sfu.negotiation.publications import new_ssrc
from sfu.transport.ice import new_credentials

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant


class Negotiation:
    def __init__(self, node: Node) -> None:
        self.node = node

    def handle_offer(self, p: Participant, offer_sdp: str, subscriptions: dict[str, str]) -> str:
        """Applies the participant's offer (publications + the tracks it maps to its recvonly m-lines)."""
        node = self.node
        pubs = node.publications
        offer = sdp.parse(offer_sdp, sdp.offer_limit(len(p.room.tracks())))
        ufrag, pwd, fingerprints, _ = offer.transport()
        if p.remote_ufrag and ufrag != p.remote_ufrag:
            # ICE restart: new local credentials too (RFC 8839 §4.4.1.1.1); DTLS and SRTP carry on
            node.ice.unregister(p.ice_ufrag)
            p.ice_ufrag, p.ice_pwd = new_credentials()
            node.ice.register(p.ice_ufrag, p.ice_pwd, p)
        p.remote_ufrag, p.remote_pwd = ufrag, pwd
        if p.dtls is None:
            p.remote_fingerprints = fingerprints
        p.ext_ids = {}
        for sec in offer.media:
            for ext_id, uri in sec.extensions.items():
                p.ext_ids.setdefault(uri, ext_id)
        twcc_id = p.ext_ids.get(sdp.URI_TWCC, 0)
        if twcc_id and p.twcc_feedback is None:
            p.twcc_feedback = FeedbackBuilder(node.node_ssrc)
        room_tracks = {t.id: t for t in p.room.tracks() if t.owner is not p}
        directions: dict[str, str] = {}
        outgoing: dict[str, sdp.OutgoingStream] = {}
        wanted: dict[str, str] = {}
        seen_mids: set[str] = set()
        mapped: set[str] = set()  # track ids given a sending m-line in this answer
        for sec in offer.media:
            if not sec.mid:
                continue
            seen_mids.add(sec.mid)
            if sec.sends:
                # a recorder credential publishes nothing: it cannot be used as a person's (docs/recording.md)
                directions[sec.mid] = "inactive" if p.recorder else "recvonly"
            elif sec.receives:
                track = room_tracks.get(str(subscriptions.get(sec.mid, "")))
                # a track once per subscriber: each subscription holds engine state (send buffers), so m-lines
                # asking for the same track again would let one participant multiply it
                if track is not None and track.kind == sec.kind and track.id not in mapped:
                    mapped.add(track.id)
                    directions[sec.mid] = "sendonly"
                    wanted[sec.mid] = track.codec
                    existing = p.subscriptions.get(sec.mid)
                    if existing is not None and existing.track is not track:
                        pubs.remove_subscription(existing)
                        existing = None
                    ssrc = existing.ssrc if existing else new_ssrc()
                    rtx = existing.rtx_ssrc if existing else new_ssrc()
                    outgoing[sec.mid] = sdp.OutgoingStream(ssrc, rtx, f"castellan-{track.owner.id}", track.stream_id,
                                                           track.id)
                else:
                    directions[sec.mid] = "inactive"
        p.offer_version += 1
        answer, negotiated = sdp.build_answer(
            offer,
            ice_ufrag=p.ice_ufrag,
            ice_pwd=p.ice_pwd,
            fingerprint=node.certificate.fingerprint,
            host=node.config.public_ip,
            port=node.config.udp_port,
            session_id=p.session_id,
            version=p.offer_version,
            directions=directions,
            outgoing=outgoing,
            wanted_codecs=wanted,
        )
        for mid in [m for m in outgoing if m not in negotiated]:
            # the subscriber's m-line cannot receive the track's codec (say VP9 offered only VP8): the answer
            # rejected it (port 0), so there is no subscription on it
            del outgoing[mid]
            directions[mid] = "inactive"
        # the engine's share of the offer under one take of the media lock (each take may wait for a media batch)
        with held(node.media_engine):
            node.media_engine.set_peer_extensions(
                p.peer, p.ext_ids.get(sdp.URI_ABS_SEND_TIME, 0), p.ext_ids.get(sdp.URI_AUDIO_LEVEL, 0), twcc_id
            )
            # publications
            for sec in offer.media:
                neg = negotiated.get(sec.mid)
                current = p.published.get(sec.mid)
                if neg is not None and directions.get(sec.mid) == "recvonly":
                    signalled, rtx_ssrc = sec.primary_ssrcs()
                    if current is not None and (current.simulcast or signalled is None or current.ssrc == signalled):
                        continue
                    if current is not None:
                        pubs.remove_track(current)
                    stream_id = sec.msid.split()[0] if sec.msid else p.id
                    if sec.rids and sec.simulcast:
                        if current is None:
                            p.pending_publications[sec.mid] = (sec, neg)  # layers are learned from the RID extension
                    elif signalled is None:
                        p.pending_publications[sec.mid] = (sec, neg)  # learn the SSRC from the MID extension
                    else:
                        pubs.add_track(p, sec.mid, neg, signalled, rtx_ssrc, stream_id)
                elif current is not None:
                    pubs.remove_track(current)
            for mid in list(p.published):
                if mid not in seen_mids:
                    pubs.remove_track(p.published[mid])
            # subscriptions
            for mid, sub in list(p.subscriptions.items()):
                if directions.get(mid) != "sendonly":
                    pubs.remove_subscription(sub)
            for mid, out in outgoing.items():
                if mid not in p.subscriptions:
                    pubs.add_subscription(p, mid, room_tracks[out.track_id], negotiated[mid], out)
        return answer
