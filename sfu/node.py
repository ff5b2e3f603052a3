"""The media node: one UDP port, the native engine, and the decisions Python makes for it.

Python here handles what needs judgement — ICE-lite binding, DTLS, SDP, rooms and subscriptions, RTCP (keyframe
requests, NACK service, reports), bandwidth estimation and layer choice — and keeps the engine's tables up to date.
Steady-state media never reaches this module: the engine forwards it natively.

Transport-wide congestion control (when a peer negotiates it), per leg:
- publishers: the engine logs each packet's transport seq and arrival; every TWCC_FEEDBACK_INTERVAL the node
  drains the log and sends transport-cc feedback (sfu/congestion/twcc.py), so the browser's own estimator runs;
- subscribers: the engine stamps the node's transport seq on everything sent to them and logs send times; their
  feedback feeds a send-side estimator per subscriber (sfu/congestion/bwe.py), preferred over REMB. Before stepping a
  subscriber up a simulcast layer its estimate does not already cover, the node sends a 200 ms probe (padding on
  an RTX stream at the rate the upgrade needs) and upgrades only if the probe got through.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import socket
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from native import engine as native  # type: ignore[attr-defined]  # the compiled extension
from native.threaded import MediaThread, ThreadedEngine
from sfu.allocation.layers import HEADROOM, TEMPORAL_ALL, LayerState, next_upgrade_hold, rank_rids, svc_layers
from sfu.allocation.layers import plan as plan_layers
from sfu.allocation.speaker import last_n
from sfu.congestion.bwe import PacketResult, SendSideBwe, probe_bitrate
from sfu.congestion.twcc import FeedbackBuilder
from sfu.feedback import rtcp
from sfu.negotiation import sdp
from sfu.room import CODEC_IDS, Layer, Participant, Probe, Room, Subscription, Track
from sfu.transport.dtls import Certificate, DtlsSession
from sfu.transport.ice import IceLite, new_credentials

log = logging.getLogger("castellan.node")

KEYFRAME_REQUEST_INTERVAL = 0.5  # throttle for PLI/FIR towards one publisher track
KEYFRAME_RETRY = 1.0  # a subscription still waiting for its first keyframe asks again this often
REPORT_INTERVAL = 1.0
TWCC_FEEDBACK_INTERVAL = 0.1  # transport-cc feedback to each publisher that sent something new
PROBE_DURATION = 0.2  # a probe cluster's padding is spread over this long ...
PROBE_TICK = 0.01  # ... in bursts this far apart
PROBE_MARGIN = 1.2  # probe this much above what the upgrade needs
PROBE_MIN_BPS = 100_000  # padding rate never below this (a probe must be measurable)
PROBE_FEEDBACK_WAIT = 1.0  # feedback for a probe must arrive within this after it was sent
PROBE_BACKOFF = 5.0  # after a probe that showed too little room, wait this long before the next
PROBE_BACKOFF_MAX = 10.0
PROBE_PADDING = 255  # bytes of padding per probe packet


REMB_WINDOW = 1.5  # seconds of REMB values kept to tell a falling estimate from one still catching up
REMB_CATCH_UP = 20.0  # after an upgrade, a growing REMB below the layer's rate is trusted to catch up this long


def remb_falling(recent: deque[tuple[float, int]], now: float, bps: int) -> bool:
    """Records a REMB value; True when it is more than 5 % below the highest of the last REMB_WINDOW seconds
    (the receiver's estimator saw overuse and cut), False while it holds or grows."""
    recent.append((now, bps))
    while recent and now - recent[0][0] > REMB_WINDOW:
        recent.popleft()
    return bps < 0.95 * max(v for _, v in recent)


def _ntp_seconds(ntp: int) -> float:
    return (ntp >> 32) - 2208988800 + (ntp & 0xFFFFFFFF) / 2**32


class JoinRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class NodeConfig:
    node_id: str = "node-1"
    region: str = "local"
    host: str = "127.0.0.1"  # UDP bind address
    udp_port: int = 40000
    public_ip: str = "127.0.0.1"  # the address put in SDP candidates
    resume_grace: float = 30.0
    consent_timeout: float = 30.0  # RFC 7675: stop sending to a peer whose consent checks stopped
    last_n: int = 0  # each subscriber receives video of the N most recent speakers only (0: everyone's)
    audio_n: int = 0  # ... and audio of the N loudest, plus the dominant speaker (0: everyone's)
    speaker_interval: float = 0.1
    max_peers: int = 1024
    max_tracks: int = 4096
    max_subs: int = 16384
    measure_latency: bool = True
    media_thread: bool = True  # forward on a dedicated native thread (False: from the event loop)


class IndexPool:
    def __init__(self, size: int) -> None:
        self._free = list(range(size - 1, -1, -1))

    def take(self) -> int:
        if not self._free:
            raise JoinRefused("node_full", "this node has no capacity left")
        return self._free.pop()

    def give(self, i: int) -> None:
        self._free.append(i)


class Node:
    def __init__(self, config: NodeConfig, admit: Callable[[Any], None] | None = None) -> None:
        self.config = config
        self.admit = admit  # residency/link checks on join claims; raises to refuse
        self.certificate = Certificate()
        self.ice: IceLite[Participant] = IceLite()
        self.rooms: dict[tuple[str, str], Room] = {}
        self.by_peer: dict[int, Participant] = {}
        self.by_id: dict[str, Participant] = {}
        self.tracks_by_ssrc: dict[tuple[int, int], Track] = {}
        self.subs_by_ssrc: dict[tuple[int, int], Subscription] = {}
        self.peers = IndexPool(config.max_peers)
        self.track_ids = IndexPool(config.max_tracks)
        self.sub_ids = IndexPool(config.max_subs)
        self.control_drops: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()  # nacks, plis, firs received etc.
        self.node_ssrc = secrets.randbits(32) or 1
        self.draining = False
        self.registry_ok = True  # false while the registry is unreachable: no new participants
        self.sock: socket.socket | None = None
        self.engine: native.Engine | None = None
        self._media: MediaThread | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._probe_tasks: set[asyncio.Task[None]] = set()
        self.on_room_empty: Callable[[Room], None] | None = None
        self.on_leave: Callable[[Participant], None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        sock.bind((self.config.host, self.config.udp_port))
        sock.setblocking(False)
        self.sock = sock
        self.config.udp_port = sock.getsockname()[1]
        cls = ThreadedEngine if self.config.media_thread else native.Engine
        self.engine = cls(
            sock.fileno(),
            self.config.max_peers,
            self.config.max_tracks,
            self.config.max_subs,
            self.config.measure_latency,
        )
        loop = asyncio.get_running_loop()
        if self.config.media_thread:
            self._media = MediaThread(self.engine, lambda events: loop.call_soon_threadsafe(self._dispatch, events))
            self._media.start()
        else:
            loop.add_reader(sock.fileno(), self._on_readable)
        self._tasks.append(asyncio.create_task(self._ticker()))
        log.info("node %s (%s) media on udp %s:%d", self.config.node_id, self.config.region, self.config.host, self.config.udp_port)

    async def stop(self) -> None:
        for p in list(self.by_id.values()):
            self.leave(p, reason="node_stopping")
        for t in self._tasks:
            t.cancel()
        if self.sock is not None:
            if self._media is not None:
                await asyncio.to_thread(self._media.stop)
                self._media = None
            else:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    # ------------------------------------------------------------------ joining

    def join(self, claims: Any) -> Participant:
        """Admits a participant whose join token verified. Token expiry matters here only, never later."""
        if self.draining:
            raise JoinRefused("node_draining", "this node is draining; ask the control plane again")
        if not self.registry_ok:
            raise JoinRefused("registry_unavailable", "this node cannot reach the registry; retry shortly")
        if claims.region != self.config.region:
            raise JoinRefused("wrong_region", f"this node serves region {self.config.region!r}, not {claims.region!r}")
        if self.admit is not None:
            self.admit(claims)
        if claims.participant in self.by_id:
            self.leave(self.by_id[claims.participant], reason="replaced")
        key = (claims.tenant, claims.room)
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = Room(tenant=claims.tenant, name=claims.room)
        peer = self.peers.take()
        assert self.engine is not None
        self.engine.add_peer(peer)
        p = Participant(id=claims.participant, name=claims.name or claims.participant, room=room, peer=peer, tenant=claims.tenant)
        p.ice_ufrag, p.ice_pwd = new_credentials()
        self.ice.register(p.ice_ufrag, p.ice_pwd, p)
        room.participants[p.id] = p
        room.speakers.join(p.id)
        self.by_peer[peer] = p
        self.by_id[p.id] = p
        room.broadcast({"type": "participant_joined", "participant": p.describe()}, exclude=p)
        log.info("join room=%s/%s participant=%s", room.tenant, room.name, p.id,
                 extra={"tenant": room.tenant, "room": room.name, "participant": p.id})
        return p

    def snapshot(self, p: Participant, resumed: bool = False) -> dict[str, Any]:
        return {
            "type": "joined",
            "protocol": 1,
            "participant": p.id,
            "name": p.name,
            "room": p.room.name,
            "node": self.config.node_id,
            "region": self.config.region,
            "resume_secret": p.resume_secret,
            "resumed": resumed,
            "participants": [q.describe() for q in p.room.participants.values() if q is not p],
            "tracks": [t.describe() for t in p.room.tracks() if t.owner is not p],
        }

    def resume(self, participant_id: str, secret: str) -> Participant:
        p = self.by_id.get(participant_id)
        if p is None or p.left or not hmac.compare_digest(p.resume_secret, str(secret)):
            raise JoinRefused("resume_refused", "nothing to resume: the session ended or the secret is wrong")
        p.connected = True
        p.detached_at = 0.0
        while not p.outbox.empty():
            p.outbox.get_nowait()
        return p

    def detach(self, p: Participant) -> None:
        """The signalling socket dropped: media continues; the participant may resume within the grace period."""
        if p.left:
            return
        p.connected = False
        p.detached_at = time.monotonic()

    def leave(self, p: Participant, reason: str = "left") -> None:
        if p.left:
            return
        p.left = True
        assert self.engine is not None
        for sub in list(p.subscriptions.values()):
            self._remove_subscription(sub)
        for track in list(p.published.values()):
            self._remove_track(track)
        self.ice.unregister(p.ice_ufrag)
        if p.dtls is not None:
            p.dtls.close()
        self.engine.remove_peer(p.peer)
        self.peers.give(p.peer)
        self.by_peer.pop(p.peer, None)
        self.by_id.pop(p.id, None)
        room = p.room
        room.participants.pop(p.id, None)
        room.speakers.leave(p.id)
        room.broadcast({"type": "participant_left", "participant": p.id, "reason": reason})
        p.send({"type": "left", "reason": reason})
        if self.on_leave is not None:
            try:
                self.on_leave(p)
            except Exception:  # noqa: BLE001
                log.exception("on_leave hook failed")
        if not room.participants:
            self.rooms.pop(room.key, None)
            if self.on_room_empty is not None:
                self.on_room_empty(room)
        log.info("leave room=%s/%s participant=%s reason=%s", room.tenant, room.name, p.id, reason,
                 extra={"tenant": room.tenant, "room": room.name, "participant": p.id, "reason": reason})

    def end_room(self, tenant: str, name: str, reason: str = "ended") -> bool:
        room = self.rooms.get((tenant, name))
        if room is None:
            return False
        for p in list(room.participants.values()):
            self.leave(p, reason=reason)
        return True

    # ------------------------------------------------------------------ negotiation

    def handle_offer(self, p: Participant, offer_sdp: str, subscriptions: dict[str, str]) -> str:
        """Applies the participant's offer (publications + the tracks it maps to its recvonly m-lines)."""
        offer = sdp.parse(offer_sdp)
        ufrag, pwd, fingerprints, _ = offer.transport()
        if p.remote_ufrag and ufrag != p.remote_ufrag:
            # ICE restart: new local credentials too (RFC 8839 §4.4.1.1.1); DTLS and SRTP carry on
            self.ice.unregister(p.ice_ufrag)
            p.ice_ufrag, p.ice_pwd = new_credentials()
            self.ice.register(p.ice_ufrag, p.ice_pwd, p)
        p.remote_ufrag = ufrag
        if p.dtls is None:
            p.remote_fingerprints = fingerprints
        p.ext_ids = {}
        for sec in offer.media:
            for ext_id, uri in sec.extensions.items():
                p.ext_ids.setdefault(uri, ext_id)
        assert self.engine is not None
        twcc_id = p.ext_ids.get(sdp.URI_TWCC, 0)
        self.engine.set_peer_extensions(
            p.peer, p.ext_ids.get(sdp.URI_ABS_SEND_TIME, 0), p.ext_ids.get(sdp.URI_AUDIO_LEVEL, 0), twcc_id
        )
        if twcc_id and p.twcc_feedback is None:
            p.twcc_feedback = FeedbackBuilder(self.node_ssrc)
        room_tracks = {t.id: t for t in p.room.tracks() if t.owner is not p}
        directions: dict[str, str] = {}
        outgoing: dict[str, sdp.OutgoingStream] = {}
        wanted: dict[str, str] = {}
        seen_mids: set[str] = set()
        for sec in offer.media:
            if not sec.mid:
                continue
            seen_mids.add(sec.mid)
            if sec.sends:
                directions[sec.mid] = "recvonly"
            elif sec.receives:
                track = room_tracks.get(str(subscriptions.get(sec.mid, "")))
                if track is not None and track.kind == sec.kind:
                    directions[sec.mid] = "sendonly"
                    wanted[sec.mid] = track.codec
                    existing = p.subscriptions.get(sec.mid)
                    if existing is not None and existing.track is not track:
                        self._remove_subscription(existing)
                        existing = None
                    ssrc = existing.ssrc if existing else self._new_ssrc()
                    rtx = existing.rtx_ssrc if existing else self._new_ssrc()
                    outgoing[sec.mid] = sdp.OutgoingStream(ssrc, rtx, f"castellan-{track.owner.id}", track.stream_id, track.id)
                else:
                    directions[sec.mid] = "inactive"
        p.offer_version += 1
        answer, negotiated = sdp.build_answer(
            offer,
            ice_ufrag=p.ice_ufrag,
            ice_pwd=p.ice_pwd,
            fingerprint=self.certificate.fingerprint,
            host=self.config.public_ip,
            port=self.config.udp_port,
            session_id=p.session_id,
            version=p.offer_version,
            directions=directions,
            outgoing=outgoing,
            wanted_codecs=wanted,
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
                    self._remove_track(current)
                stream_id = sec.msid.split()[0] if sec.msid else p.id
                if sec.rids and sec.simulcast:
                    if current is None:
                        p.pending_publications[sec.mid] = (sec, neg)  # layers are learned from the RID extension
                elif signalled is None:
                    p.pending_publications[sec.mid] = (sec, neg)  # learn the SSRC from the MID extension
                else:
                    self._add_track(p, sec.mid, neg, signalled, rtx_ssrc, stream_id)
            elif current is not None:
                self._remove_track(current)
        for mid in list(p.published):
            if mid not in seen_mids:
                self._remove_track(p.published[mid])
        # subscriptions
        for mid, sub in list(p.subscriptions.items()):
            if directions.get(mid) != "sendonly":
                self._remove_subscription(sub)
        for mid, out in outgoing.items():
            if mid not in p.subscriptions:
                self._add_subscription(p, mid, room_tracks[out.track_id], negotiated[mid], out)
        return answer

    def _new_ssrc(self) -> int:
        return secrets.randbits(32) or 1

    def _add_track(self, p: Participant, mid: str, neg: sdp.Negotiated, ssrc: int, rtx_ssrc: int | None, stream_id: str,
                   rid: str = "", rid_ranks: dict[str, int] | None = None) -> Track:
        assert self.engine is not None
        if (p.peer, ssrc) in self.tracks_by_ssrc:
            raise sdp.SdpError(f"SSRC {ssrc} is already published")
        index = self.track_ids.take()
        codec = neg.codec.name.lower()
        self.engine.add_track(index, p.peer, ssrc, CODEC_IDS.get(codec, 0), neg.codec.clock_rate, 512 if neg.kind == "video" else 128)
        ranks = rid_ranks or {}
        layer = Layer(rid=rid, rank=ranks.get(rid, 0), ssrc=ssrc, index=index)
        track = Track(
            id="TR_" + secrets.token_urlsafe(9),
            owner=p,
            index=index,
            kind=neg.kind,
            mid=mid,
            ssrc=ssrc,
            codec=codec,
            clock_rate=neg.codec.clock_rate,
            negotiated=neg,
            rtx_ssrc=rtx_ssrc,
            stream_id=stream_id,
            layers=[layer],
            rid_ranks=ranks,
        )
        if rtx_ssrc is not None and (p.peer, rtx_ssrc) not in self.tracks_by_ssrc:
            # a sink for the publisher's RTX/padding (bandwidth probes), so it never reaches Python
            track.rtx_index = layer.rtx_index = self.track_ids.take()
            self.engine.add_track(track.rtx_index, p.peer, rtx_ssrc, 0, neg.codec.clock_rate, 16)
        p.published[mid] = track
        p.pending_publications.pop(mid, None)
        self.tracks_by_ssrc[(p.peer, ssrc)] = track
        p.room.broadcast({"type": "track_published", "track": track.describe()}, exclude=p)
        log.info("publish participant=%s track=%s kind=%s codec=%s ssrc=%d", p.id, track.id, track.kind, codec, ssrc,
                 extra={"room": p.room.name, "participant": p.id, "track": track.id})
        return track

    def _remove_track(self, track: Track) -> None:
        assert self.engine is not None
        for sub in list(track.subscriptions.values()):
            self._remove_subscription(sub)
        for layer in track.layers:
            self.engine.remove_track(layer.index)
            self.track_ids.give(layer.index)
            if layer.rtx_index is not None:
                self.engine.remove_track(layer.rtx_index)
                self.track_ids.give(layer.rtx_index)
            self.tracks_by_ssrc.pop((track.owner.peer, layer.ssrc), None)
        track.owner.published.pop(track.mid, None)
        track.owner.room.broadcast({"type": "track_unpublished", "track": track.id}, exclude=track.owner)

    def _add_subscription(self, p: Participant, mid: str, track: Track, neg: sdp.Negotiated, out: sdp.OutgoingStream) -> None:
        assert self.engine is not None
        index = self.sub_ids.take()
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
        self.engine.add_subscription(
            index, first.index, p.peer, out.ssrc, neg.codec.pt, out.rtx_ssrc or 0, rtx_pt, bytes(ext_map), abs_out,
            secrets.randbits(15), 0, twcc_out,
        )
        if twcc_out and p.bwe is None:
            p.bwe = SendSideBwe()
        sub = Subscription(
            index=index, track=track, subscriber=p, mid=mid, ssrc=out.ssrc, rtx_ssrc=out.rtx_ssrc,
            pt=neg.codec.pt, rtx_pt=neg.rtx_pt, cname=out.cname, layer=first, transport_cc=bool(twcc_out),
        )
        p.subscriptions[mid] = sub
        track.subscriptions[index] = sub
        self.subs_by_ssrc[(p.peer, out.ssrc)] = sub
        if out.rtx_ssrc:
            self.subs_by_ssrc[(p.peer, out.rtx_ssrc)] = sub
        self._apply_selection(p)
        if not sub.paused:
            self.request_keyframe(track, first)

    def _remove_subscription(self, sub: Subscription) -> None:
        assert self.engine is not None
        self.engine.remove_subscription(sub.index)
        self.sub_ids.give(sub.index)
        sub.track.subscriptions.pop(sub.index, None)
        if sub.subscriber.subscriptions.get(sub.mid) is sub:
            del sub.subscriber.subscriptions[sub.mid]
        self.subs_by_ssrc.pop((sub.subscriber.peer, sub.ssrc), None)
        if sub.rtx_ssrc:
            self.subs_by_ssrc.pop((sub.subscriber.peer, sub.rtx_ssrc), None)

    # ------------------------------------------------------------------ datagrams the engine hands up

    def _on_readable(self) -> None:
        assert self.engine is not None
        try:
            events = self.engine.poll()
        except Exception:  # noqa: BLE001 - the loop must survive anything
            log.exception("engine poll failed")
            return
        self._dispatch(events)

    def _dispatch(self, events: list[Any]) -> None:
        """Control datagrams from the engine (STUN, DTLS, RTCP, unannounced SSRCs), on the event loop."""
        if self.engine is None:
            return
        for kind, peer, addr, data in events:
            try:
                if kind == native.EV_STUN:
                    self._on_stun(data, addr)
                elif kind == native.EV_DTLS:
                    self._on_dtls(peer, data)
                elif kind == native.EV_RTCP:
                    self._on_rtcp(peer, data)
                elif kind == native.EV_UNKNOWN_SSRC:
                    self._on_unknown_ssrc(peer, data)
            except Exception:  # noqa: BLE001 - one bad datagram must never hurt others
                self.control_drops["handler_error"] += 1
                log.exception("control datagram handler failed (kind %s)", kind)

    def _on_stun(self, data: bytes, addr: tuple[str, int]) -> None:
        out = self.ice.handle(data, addr)
        if out.drop_reason:
            self.control_drops[out.drop_reason] += 1
        if out.response is not None and self.sock is not None:
            self.sock.sendto(out.response, addr)
        p = out.owner
        if p is None or p.left:
            return
        now = time.monotonic()
        assert self.engine is not None
        if p.media_address != addr:
            # bind on first contact, on nomination, or when the old path went quiet (NAT rebinding / ICE restart)
            if p.media_address is None or out.nominated or now - p.address_seen > 2.0:
                self.engine.set_peer_address(p.peer, addr[0], addr[1])
                if p.media_address is not None:
                    log.info("participant %s moved %s -> %s", p.id, p.media_address, addr)
                p.media_address = addr
                p.address_seen = now
        else:
            p.address_seen = now
        if p.dtls is None and p.remote_fingerprints:
            peer = p.peer
            engine = self.engine
            p.dtls = DtlsSession(self.certificate, p.remote_fingerprints, lambda d: engine.send_raw(peer, d), server=True)

    def _on_dtls(self, peer: int, data: bytes) -> None:
        p = self.by_peer.get(peer)
        if p is None or p.dtls is None:
            self.control_drops["dtls_unexpected"] += 1
            return
        keys = p.dtls.feed(data)
        if p.dtls.state == "failed":
            self.control_drops["dtls_failed"] += 1
            log.warning("participant %s: %s", p.id, p.dtls.error)
            p.send({"type": "error", "code": "dtls_failed", "message": p.dtls.error or "DTLS failed"})
            return
        if keys is not None:
            assert self.engine is not None
            self.engine.set_peer_srtp(p.peer, keys.profile, keys.rx_key, keys.tx_key)
            p.media_ready = True
            log.info("participant %s media ready (SRTP profile %d)", p.id, keys.profile)
            for sub in p.subscriptions.values():
                self.request_keyframe(sub.track, sub.layer, force=True)

    def _on_unknown_ssrc(self, peer: int, data: bytes) -> None:
        p = self.by_peer.get(peer)
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
            self._add_track(p, mid, neg, ssrc, None, stream_id, rid=rid, rid_ranks=ranks)
        else:
            self._add_track(p, mid, neg, ssrc, None, stream_id)

    def _learn_layer(self, p: Participant, track: Track, ssrc: int, pt: int, rid_raw: bytes | None, rrid_raw: bytes | None) -> None:
        """Another encoding of a simulcast track (RID), or the repair stream of one (repaired RID)."""
        assert self.engine is not None
        if rrid_raw is not None:
            layer = next((lyr for lyr in track.layers if lyr.rid == rrid_raw.decode(errors="replace")), None)
            if layer is not None and layer.rtx_index is None and (p.peer, ssrc) not in self.tracks_by_ssrc:
                layer.rtx_index = self.track_ids.take()  # a sink: its padding probes never reach Python
                self.engine.add_track(layer.rtx_index, p.peer, ssrc, 0, track.clock_rate, 16)
            return
        if rid_raw is None or pt != track.negotiated.codec.pt:
            return
        rid = rid_raw.decode(errors="replace")
        if rid not in track.rid_ranks or any(lyr.rid == rid for lyr in track.layers):
            return
        index = self.track_ids.take()
        self.engine.add_track(index, p.peer, ssrc, CODEC_IDS.get(track.codec, 0), track.clock_rate, 512)
        track.layers.append(Layer(rid=rid, rank=track.rid_ranks[rid], ssrc=ssrc, index=index))
        track.layers.sort(key=lambda lyr: lyr.rank)
        self.tracks_by_ssrc[(p.peer, ssrc)] = track
        log.info("simulcast layer %s (rank %d) of track %s learned", rid, track.rid_ranks[rid], track.id)

    # ------------------------------------------------------------------ RTCP decisions

    def _on_rtcp(self, peer: int, data: bytes) -> None:
        p = self.by_peer.get(peer)
        if p is None:
            return
        try:
            packets = rtcp.parse_compound(data)
        except rtcp.RtcpError as e:
            self.control_drops["rtcp_malformed"] += 1
            log.debug("malformed RTCP from %s: %s", p.id, e)
            return
        now = time.monotonic()
        for pkt in packets:
            if isinstance(pkt, rtcp.SenderReport):
                track = self.tracks_by_ssrc.get((peer, pkt.ssrc))
                if track is not None:
                    track.last_sr = (pkt.ntp, pkt.rtp_ts, now)
                    for layer in track.layers:
                        if layer.ssrc == pkt.ssrc:
                            layer.last_sr = track.last_sr
                    p.clock_offsets.append(time.time() - _ntp_seconds(pkt.ntp))
                self._on_report_blocks(p, pkt.reports)
            elif isinstance(pkt, rtcp.ReceiverReport):
                self._on_report_blocks(p, pkt.reports)
            elif isinstance(pkt, rtcp.Pli | rtcp.Fir):
                self.counts["pli" if isinstance(pkt, rtcp.Pli) else "fir"] += 1
                ssrcs = [pkt.media_ssrc] if isinstance(pkt, rtcp.Pli) else [e[0] for e in pkt.entries]
                for ssrc in ssrcs:
                    sub = self.subs_by_ssrc.get((peer, ssrc))
                    if sub is not None:
                        self.request_keyframe(sub.track, sub.target or sub.layer)
            elif isinstance(pkt, rtcp.Nack):
                self.counts["nack"] += 1
                sub = self.subs_by_ssrc.get((peer, pkt.media_ssrc))
                if sub is not None and pkt.lost:
                    assert self.engine is not None
                    # the newest first: old entries a receiver keeps asking for may be gone from the buffer
                    self.counts["nack_served"] += self.engine.retransmit(sub.index, pkt.lost[-64:])
            elif isinstance(pkt, rtcp.TransportCC):
                self._on_transport_feedback(p, pkt, now)
            elif isinstance(pkt, rtcp.Remb):
                if p.bwe is None or not p.bwe.feedbacks:
                    p.estimate_bps = pkt.bitrate  # REMB covers the whole downlink (unless transport-cc does)
                    p.remb_falling = remb_falling(p.remb_recent, now, pkt.bitrate)
                for ssrc in pkt.ssrcs:
                    sub = self.subs_by_ssrc.get((peer, ssrc))
                    if sub is not None:
                        sub.remb_bps = pkt.bitrate

    # ------------------------------------------------------------------ transport-wide congestion control

    def _send_transport_feedback(self) -> None:
        """Drains each publisher's arrival log into transport-cc feedback (sfu/congestion/twcc.py) and sends it."""
        assert self.engine is not None
        for p in list(self.by_id.values()):
            builder = p.twcc_feedback
            if builder is None or not p.media_ready:
                continue
            arrivals = self.engine.twcc_arrivals(p.peer)
            if not arrivals:
                continue
            builder.add(arrivals)
            media_ssrc = next((t.ssrc for t in p.published.values()), 0)
            packets = builder.build(media_ssrc)
            batch: list[Any] = []
            size = 0
            for fb in packets:
                wire = rtcp.serialize([fb])
                if batch and size + len(wire) > 1200:
                    self.engine.send_rtcp(p.peer, rtcp.serialize(batch))
                    batch, size = [], 0
                batch.append(fb)
                size += len(wire)
            if batch:
                self.engine.send_rtcp(p.peer, rtcp.serialize(batch))
            self.counts["twcc_feedback_sent"] += len(packets)

    def _on_transport_feedback(self, p: Participant, fb: rtcp.TransportCC, now: float) -> None:
        """A subscriber's transport-cc feedback about what the node sent it: joined with the engine's send log,
        it drives the send-side estimate (sfu/congestion/bwe.py) and completes a probe."""
        if p.bwe is None or not fb.packets:
            return
        assert self.engine is not None
        self.counts["twcc_feedback"] += 1
        rows = p.twcc_reader.read(fb)
        sent = self.engine.twcc_sent(p.peer, fb.base_seq, len(fb.packets))
        known = [(seq, PacketResult(ext, info[0] / 1000.0, info[1], None if arrival is None else arrival / 1000.0))
                 for (ext, seq, arrival), info in zip(rows, sent, strict=True) if info is not None]
        results = [r for _, r in known]
        rtts = [s.rtt_ms for s in p.subscriptions.values() if s.rtt_ms is not None]
        p.bwe.on_feedback(results, now * 1000.0, max(rtts) if rtts else 100.0)
        p.estimate_bps = int(p.bwe.estimate)
        probe = p.probe
        if probe is None or probe.first is None or probe.last is None:
            return
        span = (probe.last - probe.first) & 0xFFFF
        done = False
        for seq, r in known:
            offset = (seq - probe.first) & 0xFFFF
            if offset <= span:
                probe.results[r.seq] = r    # padding and the media sent among it
            if span <= offset < 0x8000:
                done = True                 # feedback reached the end of the cluster
        if done and probe.sent_done:        # (feedback during the cluster only covers its start)
            self._finish_probe(p, now)

    def _finish_probe(self, p: Participant, now: float) -> None:
        probe = p.probe
        p.probe = None
        if probe is None or p.bwe is None:
            return
        rate = probe_bitrate(list(probe.results.values()))
        log.debug("probe for %s: target %.0f kb/s, got %s", p.id, probe.target_bps / 1000,
                  f"{rate / 1000:.0f} kb/s" if rate else "no result")
        if rate is not None:
            p.bwe.on_probe(rate)
            p.estimate_bps = int(p.bwe.estimate)
        if rate is None or rate < probe.target_bps / PROBE_MARGIN:
            # each failed probe costs a constrained link some media: wait 5, then 10 s between them
            p.probe_failures += 1
            p.probe_backoff_until = now + min(PROBE_BACKOFF * 2 ** (p.probe_failures - 1), PROBE_BACKOFF_MAX)
            self.counts["probe_failed"] += 1
        else:
            p.probe_failures = 0
            self.counts["probe_succeeded"] += 1
            self._select_for(p, now)

    def _probe_for(self, p: Participant, n_subs: int, want: Layer, now: float) -> bool:
        """Before an upgrade the estimate does not cover: starts (or waits for) a probe at the rate it needs.
        False when no probe is possible (no RTX stream with transport-cc to send padding on)."""
        assert self.engine is not None
        if p.bwe is None:
            return False
        carrier = next((s for s in p.subscriptions.values()
                        if s.rtx_pt is not None and s.transport_cc and s.track.kind == "video"), None)
        if carrier is None:
            return False
        if p.probe is not None or now < p.probe_backoff_until:
            return True
        target = want.bitrate_bps * n_subs / HEADROOM * PROBE_MARGIN
        padding_bps = max(target - (p.bwe.acked_bps or 0.0), PROBE_MIN_BPS)
        p.probe = Probe(target_bps=target, started=now)
        self.counts["probes"] += 1
        task = asyncio.get_running_loop().create_task(self._run_probe(p, carrier, p.probe, padding_bps))
        self._probe_tasks.add(task)
        task.add_done_callback(self._probe_tasks.discard)
        return True

    async def _run_probe(self, p: Participant, carrier: Subscription, probe: Probe, padding_bps: float) -> None:
        """Padding on `carrier`'s RTX stream at padding_bps for PROBE_DURATION, in PROBE_TICK bursts."""
        assert self.engine is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent_bytes = 0.0
        per_packet = PROBE_PADDING + 36  # header, transport seq, SRTP tag
        for _ in range(int(PROBE_DURATION / PROBE_TICK) + 2):
            if p.left or p.probe is not probe:
                return
            elapsed = min(loop.time() - start + PROBE_TICK, PROBE_DURATION)
            due = padding_bps / 8 * elapsed - sent_bytes
            count = min(int(due // per_packet), 64)
            if count > 0:
                res = self.engine.send_padding(carrier.index, count, PROBE_PADDING)
                if res is None:
                    break
                first, last, nbytes = res
                if probe.first is None:
                    probe.first = first
                probe.last = last
                sent_bytes += nbytes
            if loop.time() - start >= PROBE_DURATION:
                break
            await asyncio.sleep(PROBE_TICK)
        probe.sent_done = True
        probe.deadline = time.monotonic() + PROBE_FEEDBACK_WAIT
        if probe.first is None and p.probe is probe:
            p.probe = None
            p.probe_backoff_until = time.monotonic() + PROBE_BACKOFF

    def _expire_probes(self, now: float) -> None:
        for p in list(self.by_id.values()):
            if p.probe is not None and p.probe.sent_done and now > p.probe.deadline:
                self._finish_probe(p, now)

    def _on_report_blocks(self, p: Participant, reports: list[Any]) -> None:
        for block in reports:
            sub = self.subs_by_ssrc.get((p.peer, block.ssrc))
            if sub is None:
                continue
            sub.fraction_lost = block.fraction_lost / 256.0
            if block.lsr:
                # RTT = now - LSR - DLSR, all in 1/65536 s of the compact NTP timeline
                rtt = (rtcp.ntp_to_compact(rtcp.ntp_now()) - block.lsr - block.dlsr) & 0xFFFFFFFF
                if rtt < 0x80000000:
                    sub.rtt_ms = rtt * 1000.0 / 65536.0

    def request_keyframe(self, track: Track, layer: Layer | None = None, force: bool = False) -> None:
        if track.kind != "video":
            return
        now = time.monotonic()
        if not force and now - track.last_keyframe_request < KEYFRAME_REQUEST_INTERVAL:
            return
        track.last_keyframe_request = now
        ssrc = layer.ssrc if layer is not None else track.ssrc
        fb = track.negotiated.codec.feedback
        packet: Any
        if "nack pli" in fb or "ccm fir" not in fb:
            packet = rtcp.Pli(sender_ssrc=self.node_ssrc, media_ssrc=ssrc)
        else:
            packet = rtcp.Fir(sender_ssrc=self.node_ssrc, entries=[(ssrc, int(now * 10) & 0xFF)])
        self.counts["keyframe_requests"] += 1
        assert self.engine is not None
        self.engine.send_rtcp(track.owner.peer, rtcp.serialize([packet]))

    # ------------------------------------------------------------------ timers

    # ------------------------------------------------------------------ speakers and last-N

    def _detect_speakers(self, now: float) -> None:
        assert self.engine is not None
        for room in list(self.rooms.values()):
            loudness: dict[str, float | None] = {}
            for p in room.participants.values():
                total = count = 0
                for t in p.published.values():
                    if t.kind == "audio" and not t.muted:
                        act = self.engine.audio_activity(t.index)
                        if act is not None:
                            total, count = total + act[0], count + act[1]
                loudness[p.id] = total / count if count else None
            if len(room.participants) < 2:
                continue
            changed = room.speakers.update(loudness, now)
            if changed is not None:
                room.broadcast({"type": "active_speaker", "participant": changed})
                for p in room.participants.values():
                    self._apply_selection(p)

    def _apply_selection(self, p: Participant) -> None:
        """Pauses what `p` should not receive (last-N video, quiet audio) and resumes the rest."""
        cfg = self.config
        if cfg.last_n <= 0 and cfg.audio_n <= 0:
            return
        speakers = p.room.speakers
        videos = last_n(speakers.order, p.id, cfg.last_n)
        audible = set(speakers.loudest(cfg.audio_n)) | ({speakers.dominant} if speakers.dominant else set())
        assert self.engine is not None
        for sub in p.subscriptions.values():
            owner = sub.track.owner.id
            if sub.track.kind == "video":
                paused = cfg.last_n > 0 and owner not in videos
            else:
                paused = cfg.audio_n > 0 and owner not in audible
            if paused == sub.paused:
                continue
            sub.paused = paused
            self.engine.set_paused(sub.index, paused)
            if not paused:
                self.request_keyframe(sub.track, sub.layer, force=True)
            p.send({"type": "track_paused", "track": sub.track.id, "paused": paused, "reason": "last_n"})

    async def _ticker(self) -> None:
        last_reports = 0.0
        last_speakers = 0.0
        last_feedback = 0.0
        while True:
            await asyncio.sleep(0.05)
            try:
                now = time.monotonic()
                for p in list(self.by_id.values()):
                    if p.dtls is not None and p.dtls.state == "connecting":
                        t = p.dtls.timeout()
                        if t is not None and t <= 0:
                            p.dtls.handle_timeout()
                if now - last_feedback >= TWCC_FEEDBACK_INTERVAL - 0.01:
                    last_feedback = now
                    self._send_transport_feedback()
                    self._expire_probes(now)
                if now - last_speakers >= self.config.speaker_interval:
                    last_speakers = now
                    self._detect_speakers(now)
                if now - last_reports >= REPORT_INTERVAL:
                    last_reports = now
                    self._periodic(now)
                    self._sync_layers()
                    self.select_layers(now)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("node ticker failed")

    def _periodic(self, now: float) -> None:
        assert self.engine is not None
        for p in list(self.by_id.values()):
            if not p.connected and now - p.detached_at > self.config.resume_grace:
                self.leave(p, reason="signalling_lost")
                continue
            creds_age = now - p.address_seen if p.media_address else 0.0
            if p.media_address is not None and creds_age > self.config.consent_timeout:
                self.engine.clear_peer_address(p.peer)
                p.media_address = None
                log.info("participant %s: consent expired, media paused", p.id)
                if not p.connected:
                    self.leave(p, reason="consent_expired")
                    continue
            if not p.media_ready:
                continue
            self._measure_layers(p, now)
            self._send_receiver_reports(p, now)
            self._send_sender_reports(p, now)
            for sub in p.subscriptions.values():
                if self.engine.subscription_waiting(sub.index) and now - sub.last_keyframe_request > KEYFRAME_RETRY:
                    sub.last_keyframe_request = now
                    self.request_keyframe(sub.track, sub.target or sub.layer)

    def _measure_layers(self, p: Participant, now: float) -> None:
        assert self.engine is not None
        for track in p.published.values():
            layered = track.kind == "video" and track.codec in ("vp8", "vp9")
            if not track.simulcast and not layered:
                continue
            for layer in track.layers:
                st = self.engine.track_stats(layer.index)
                if st is None:
                    continue
                received, octets = st[0], st[1]
                if received != layer.received:
                    layer.last_active = now
                layer.bitrate_bps = 0.7 * layer.bitrate_bps + 0.3 * (octets - layer.octets) * 8 / REPORT_INTERVAL
                layer.received, layer.octets = received, octets
                if layered:
                    self._measure_scalability(track, layer)

    def _measure_scalability(self, track: Track, layer: Layer) -> None:
        """Temporal layers per encoding; for VP9 without simulcast, spatial layers and their bitrates per SID."""
        assert self.engine is not None
        info = self.engine.track_layers(layer.index)
        if info is None:
            return
        max_sid, max_tid, ss_layers, sid_octets = info
        layer.temporal_layers = max_tid + 1 if max_tid >= 0 else 1
        if track.codec != "vp9" or track.simulcast:
            return
        track.spatial_layers = max(ss_layers, max_sid + 1, 1)
        n = track.spatial_layers
        prev = (track.sid_octets + [0] * n)[:n]
        rates = (track.sid_bitrates + [0.0] * n)[:n]
        track.sid_bitrates = [0.7 * r + 0.3 * (o - q) * 8 / REPORT_INTERVAL for r, o, q in zip(rates, sid_octets[:n], prev, strict=True)]
        track.sid_octets = list(sid_octets[:n])

    def select_layers(self, now: float) -> None:
        """Each subscriber gets, per simulcast track, the best layer its estimate and its tile allow — per VP9 SVC
        track the best spatial layer, and for temporal layers the frame rate (`layers.plan`); simulcast layers
        nobody takes are switched off at the publisher (layer 0 always stays on)."""
        assert self.engine is not None
        for p in list(self.by_id.values()):
            self._select_for(p, now)
        for p in list(self.by_id.values()):
            for track in p.published.values():
                if track.simulcast:
                    self._update_layer_activity(track)

    def _select_for(self, p: Participant, now: float) -> None:
        """One subscriber's layer moves. With a send-side (transport-cc) estimate, a step up the estimate does
        not cover waits for a probe that shows room for it; with REMB only, a clean hold is the probe."""
        assert self.engine is not None
        subs = [s for s in p.subscriptions.values() if s.track.scalable and not s.paused]
        if not subs:
            return
        share = p.estimate_bps / len(subs) if p.estimate_bps else None
        send_side = p.bwe is not None and p.bwe.feedbacks > 0
        catching_up = False
        if not send_side and share is not None and not p.remb_falling:
            # a receiver's REMB trails what it receives (it grows ~8 %/s after an upgrade): below the new layer's
            # rate it means congestion only if it falls, or has not grown at all 2 s on; while it climbs, loss is
            # the signal (for at most REMB_CATCH_UP seconds)
            since = now - max(s.upgraded_at for s in subs)
            if since < REMB_CATCH_UP and (since < 2.0 or (p.estimate_bps or 0) >= 1.05 * p.remb_at_upgrade):
                share, catching_up = None, True
        for sub in subs:
            if sub.track.spatial_layers > 1:
                self._select_svc(sub, now, share)
                continue
            if sub.target is not None or sub.layer is None:
                continue  # a switch is under way: wait for its keyframe
            states = [LayerState(lyr.rank, lyr.bitrate_bps, now - lyr.last_active < 2.0) for lyr in sub.track.layers]
            # the layer, and (temporal layers) the frame rate: fewer frames before a smaller picture
            rank, tid = plan_layers(sub.layer.rank, sub.max_tid, states, sub.viewport[1] if sub.viewport else None,
                                    share, sub.fraction_lost, now - sub.layer_since, sub.layer.temporal_layers,
                                    sub.upgrade_hold)
            want = sub.track.layer(rank)
            if catching_up and rank > sub.layer.rank:
                continue  # no further step up before the REMB shows the last one fits
            if (want is not None and rank > sub.layer.rank and send_side
                    and (share is None or want.bitrate_bps > share * HEADROOM)
                    and self._probe_for(p, len(subs), want, now)):
                continue  # not yet: a probe decides
            sub.upgrade_hold = next_upgrade_hold(sub.upgrade_hold, rank > sub.layer.rank, rank < sub.layer.rank,
                                                 now - sub.upgraded_at)
            if want is None:
                continue
            if want is sub.layer:
                if tid != sub.max_tid:
                    log.info("subscription %s of %s: temporal layers %s -> %s (estimate %s, layer rate %d)", sub.mid,
                             p.id, sub.max_tid, tid, share and int(share), int(sub.layer.bitrate_bps))
                    self.engine.set_temporal(sub.index, tid)
                    sub.max_tid = tid
                    sub.layer_since = now
                continue
            if rank > sub.layer.rank:
                sub.upgraded_at = now
                p.remb_at_upgrade = p.estimate_bps or 0
            log.info("subscription %s of %s: layer %s -> %s (estimate %s, loss %.2f, layer rates %s)", sub.mid, p.id,
                     sub.layer.rid, want.rid, share and int(share), sub.fraction_lost,
                     [int(s.bitrate_bps) for s in states])
            self.engine.switch_layer(sub.index, want.index)
            if sub.max_tid != TEMPORAL_ALL:
                self.engine.set_temporal(sub.index, TEMPORAL_ALL)
                sub.max_tid = TEMPORAL_ALL
            sub.target = want
            sub.layer_since = now
            self.request_keyframe(sub.track, want, force=True)

    def _select_svc(self, sub: Subscription, now: float, share: float | None) -> None:
        """VP9 SVC: the spatial layer (rank = SID) and temporal layer a subscriber gets from the one stream. Going
        up needs a keyframe (the engine waits for one); going down happens at the next picture."""
        assert self.engine is not None
        track = sub.track
        n = track.spatial_layers
        current = sub.max_sid if 0 <= sub.max_sid < n else n - 1
        rank, tid = plan_layers(current, sub.max_tid, svc_layers(track.sid_bitrates, n),
                                sub.viewport[1] if sub.viewport else None, share, sub.fraction_lost,
                                now - sub.layer_since, track.layers[0].temporal_layers if track.layers else 1)
        if rank == current and tid == sub.max_tid:
            return
        self.engine.set_svc(sub.index, rank, tid)
        if rank > current:
            self.request_keyframe(track, track.layers[0] if track.layers else None, force=True)
        sub.max_sid, sub.max_tid, sub.layer_since = rank, tid, now

    def _update_layer_activity(self, track: Track) -> None:
        used = {0}
        for sub in track.subscriptions.values():
            for lyr in (sub.layer, sub.target):
                if lyr is not None:
                    used.add(lyr.rank)
            if sub.layer is not None and sub.layer.rank < max(track.rid_ranks.values()):
                used.add(sub.layer.rank + 1)  # keep the next layer warm, so upgrades are possible
        active = {rid: rank in used for rid, rank in track.rid_ranks.items()}
        if active != track.active_rids:
            track.active_rids = active
            track.owner.send({"type": "layers", "track": track.id, "active": active})

    def _sync_layers(self) -> None:
        """Learns which layer each subscription is on now (the engine switches at keyframes)."""
        assert self.engine is not None
        for p in self.by_id.values():
            for sub in p.subscriptions.values():
                if sub.target is None:
                    continue
                state = self.engine.subscription_layer(sub.index)
                if state is not None and state[1] == -1:
                    sub.layer = next((lyr for lyr in sub.track.layers if lyr.index == state[0]), sub.layer)
                    sub.target = None

    def _send_receiver_reports(self, p: Participant, now: float) -> None:
        assert self.engine is not None
        blocks = []
        for _track, layer in ((t, lyr) for t in p.published.values() for lyr in t.layers):
            st = self.engine.track_stats(layer.index)
            if st is None or st[0] == 0:
                continue
            received, _, ext_max, base, jitter = st[0], st[1], st[2], st[3], st[4]
            expected = ext_max - base + 1
            lost = max(0, expected - received)
            exp_i = expected - layer.rr_prev[0]
            rec_i = received - layer.rr_prev[1]
            layer.rr_prev = (expected, received)
            fraction = 0 if exp_i <= 0 or rec_i >= exp_i else min(255, ((exp_i - rec_i) << 8) // exp_i)
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
            self.engine.send_rtcp(p.peer, rtcp.serialize([rtcp.ReceiverReport(ssrc=self.node_ssrc, reports=blocks[:31])]))

    def _send_sender_reports(self, p: Participant, now: float) -> None:
        """SRs for what this participant receives, on the rewritten SSRC and timeline, so lip sync works."""
        assert self.engine is not None
        packets: list[Any] = []
        wall = time.time()
        ntp = rtcp.ntp_now()
        for sub in p.subscriptions.values():
            track = sub.track
            st = self.engine.subscription_stats(sub.index)
            anchor = sub.layer.last_sr if sub.layer is not None else track.last_sr
            if st is None or not st[4] or anchor is None or not track.owner.clock_offsets:
                continue
            sr_ntp, sr_rtp, _ = anchor
            # the publisher's RTP clock now = its SR anchor advanced by the time elapsed on ITS wall clock
            elapsed = (wall - min(track.owner.clock_offsets)) - _ntp_seconds(sr_ntp)
            rtp_ts = (sr_rtp + int(elapsed * track.clock_rate) + st[6]) & 0xFFFFFFFF
            packets.append(
                rtcp.SenderReport(ssrc=sub.ssrc, ntp=ntp, rtp_ts=rtp_ts, packet_count=st[0] & 0xFFFFFFFF, octet_count=st[1] & 0xFFFFFFFF, reports=[])
            )
        for i in range(0, len(packets), 8):
            self.engine.send_rtcp(p.peer, rtcp.serialize(packets[i : i + 8]))

    # ------------------------------------------------------------------ observability

    def stats(self) -> dict[str, Any]:
        assert self.engine is not None
        c = self.engine.counters()
        return {
            "node": self.config.node_id,
            "region": self.config.region,
            "rooms": len(self.rooms),
            "participants": len(self.by_id),
            "tracks": len(self.tracks_by_ssrc),
            "subscriptions": len(self.subs_by_ssrc),
            "engine": c,
            "control_drops": dict(self.control_drops),
            "rtcp": dict(self.counts),
            "bandwidth": self.bandwidth_stats(),
        }

    def bandwidth_stats(self) -> dict[str, Any]:
        """Downlink estimates of the participants that receive media: how many come from the node's own
        transport-cc estimator (else REMB), their spread, and the probes sent before upgrades."""
        estimates = sorted(p.estimate_bps for p in self.by_id.values() if p.subscriptions and p.estimate_bps)

        def quantile(q: float) -> int | None:
            return estimates[min(len(estimates) - 1, int(q * len(estimates)))] if estimates else None

        return {
            "estimates": len(estimates),
            "transport_cc": sum(1 for p in self.by_id.values() if p.bwe is not None and p.bwe.feedbacks),
            "p10_bps": quantile(0.1),
            "p50_bps": quantile(0.5),
            "p90_bps": quantile(0.9),
            "probes": self.counts["probes"],
            "probes_succeeded": self.counts["probe_succeeded"],
            "probes_failed": self.counts["probe_failed"],
        }
