"""The media node: one UDP port, the native engine, and the lookup tables the duties share.

The node keeps lifecycle (start, stop, the ticker that drives the periodic duties) and the tables (rooms,
participants by id and engine peer, tracks and subscriptions by SSRC, engine index pools); participants join,
resume, detach and leave here. Each duty lives in its own module and object (docs/architecture.md):

  transport/   connectivity (ICE binding, consent, DTLS → SRTP keys), demux (engine events → duties)
  negotiation/ offer (offer → answer), publications (tracks and subscriptions in the engine; SSRC learning)
  feedback/    inbound RTCP routing, keyframe requests, NACK service, sender/receiver reports
  congestion/  transport-cc both ways, REMB, probes, the downlink estimate
  allocation/  layer selection (simulcast, SVC, temporal), active speaker and last-N

Steady-state media never reaches Python: the engine forwards it natively.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import socket
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from native import engine as native
from native.interface import EngineApi
from native.threaded import MediaThread, ThreadedEngine, held
from sfu import presence
from sfu.admission import Admission, JoinRefused
from sfu.allocation.lastn import LastN
from sfu.allocation.selection import LayerAllocation
from sfu.config import NodeConfig
from sfu.congestion.controller import TWCC_FEEDBACK_INTERVAL, CongestionControl
from sfu.deadlines import CONSENT_SLACK, TICK_SLACK, Deadlines, Rounds
from sfu.e2ee.stats import HandshakeStats
from sfu.feedback.inbound import RtcpInbound
from sfu.feedback.keyframes import KeyframeRequests
from sfu.feedback.nack import NackResponder
from sfu.feedback.reports import REPORT_INTERVAL, Reports
from sfu.heap import HeapTrim, glibc_trim
from sfu.host import HostControls
from sfu.negotiation.offer import Negotiation
from sfu.negotiation.publications import Publications
from sfu.participant import Participant
from sfu.recording import MediaHold
from sfu.recording import describe as recording_state
from sfu.room import Room
from sfu.transport.connectivity import Connectivity
from sfu.transport.demux import Demux
from sfu.transport.dtls import Certificate
from sfu.transport.handshakes import Handshakes
from sfu.transport.ice import IceLite, new_credentials
from sfu.turn import ice_server
from sfu.workers import WorkerPlacement, cores_given, worker_count

if TYPE_CHECKING:
    from sfu.subscription import Subscription
    from sfu.track import Track
    from signalling.tokens import JoinClaims

__all__ = ["JoinRefused", "Node", "NodeConfig"]

log = logging.getLogger("castellan.node")

TICK = 0.05  # the ticker's period; each duty runs at its own interval on it


class IndexPool:
    """Free indexes of one engine table (peers, tracks, subscriptions)."""

    def __init__(self, size: int) -> None:
        self._free = list(range(size - 1, -1, -1))

    def take(self) -> int:
        if not self._free:
            raise JoinRefused("node_full", "this node has no capacity left")
        return self._free.pop()

    def give(self, i: int) -> None:
        self._free.append(i)


class Node:
    def __init__(self, config: NodeConfig, admission: Admission | None = None) -> None:
        self.config = config
        # a node built without one still applies the region rule (standalone: tests, benchmarks)
        self.admission = admission or Admission(config.region)
        self.certificate = Certificate()
        # a transaction id stays known for the consent window: a replayed check can neither move nor keep a path
        self.ice: IceLite[Participant] = IceLite(replay_window=config.consent_timeout)
        # the lookup tables
        self.rooms: dict[tuple[str, str], Room] = {}
        self.by_peer: dict[int, Participant] = {}
        self.by_id: dict[str, Participant] = {}
        self.tracks_by_ssrc: dict[tuple[int, int], Track] = {}
        self.subs_by_ssrc: dict[tuple[int, int], Subscription] = {}
        self.peers = IndexPool(config.max_peers)
        self.track_ids = IndexPool(config.max_tracks)
        self.sub_ids = IndexPool(config.max_subs)
        self.control_drops: Counter[str] = Counter()
        self.heap = HeapTrim(glibc_trim())
        self.deadlines = Deadlines()  # event-loop lag and duties run late (issue 14)
        self._per_participant: Rounds[Participant] = Rounds(lambda: list(self.by_id.values()), REPORT_INTERVAL / TICK)
        self.counts: Counter[str] = Counter()  # nacks, plis, firs received etc.
        self.handshakes = HandshakeStats()  # the MLS Delivery Service's counts (sfu/e2ee)
        # lock, mute request, remove, end (sfu/host.py); the factory gives it the node's audit log
        self.host_controls = HostControls(lambda p, reason: self.leave(p, reason=reason), audit=None)
        self.node_ssrc = secrets.randbits(32) or 1
        self.draining = False
        self.registry_ok = True  # false while the registry is unreachable: no new participants
        self.sock: socket.socket | None = None
        self.engine: EngineApi | None = None
        self.workers = WorkerPlacement(worker_count(config.media_workers, cores_given()), config.room_spread_at)
        self._media: MediaThread | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # the duties
        self.dtls_handshakes = Handshakes()  # DTLS handshake steps on a thread of their own, not the loop
        self.connectivity = Connectivity(self)
        self.demux = Demux(self)
        self.negotiation = Negotiation(self)
        self.publications = Publications(self)
        self.rtcp = RtcpInbound(self)
        self.keyframes = KeyframeRequests(self)
        self.nacks = NackResponder(self)
        self.reports = Reports(self)
        self.congestion = CongestionControl(self)
        self.allocation = LayerAllocation(self)
        self.last_n = LastN(self)
        self.recording = MediaHold(self)  # "required": no media before the recorder (sfu/recording.py)

    @property
    def media_engine(self) -> EngineApi:
        """The engine, once the node has started (the duties run only then)."""
        if self.engine is None:
            raise RuntimeError("the node has not started")
        return self.engine

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
        cls: type[native.Engine] = ThreadedEngine if self.config.media_thread else native.Engine
        engine = self.engine = cls(
            sock.fileno(),
            self.config.max_peers,
            self.config.max_tracks,
            self.config.max_subs,
            self.config.measure_latency,
            self.config.max_sent_rings,
            self.workers.count,
        )
        loop = asyncio.get_running_loop()
        if self.config.media_thread:
            # stamped on the media thread: a check's arrival, not a busy loop's later turn, is what consent judges
            self._media = MediaThread(engine, lambda events: loop.call_soon_threadsafe(self.demux.deliver, events,
                                                                                     time.monotonic()))
            self._media.start()
        else:
            loop.add_reader(sock.fileno(), self.demux.on_readable)
        self._tasks.append(asyncio.create_task(self._ticker()))
        self._tasks.append(asyncio.create_task(self.deadlines.watch_loop()))
        log.info("node %s (%s) media on udp %s:%d, %d media worker(s)", self.config.node_id, self.config.region,
                 self.config.host, self.config.udp_port, self.workers.count)

    async def stop(self) -> None:
        for p in list(self.by_id.values()):
            self.leave(p, reason="node_stopping")
        for t in self._tasks:
            t.cancel()
        self.dtls_handshakes.shutdown()
        if self.sock is not None:
            if self._media is not None:
                await asyncio.to_thread(self._media.stop)
                self._media = None
            else:
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    # ------------------------------------------------------------------ participants

    def _locked(self, claims: JoinClaims) -> bool:
        room = self.rooms.get((claims.tenant, claims.room))
        return room is not None and room.locked

    def admit(self, claims: JoinClaims) -> None:
        """Every node-side refusal of a verified join token (sfu/admission.py); asks the registry, so it may block:
        signalling runs it on a worker thread, never on the event loop."""
        self.admission.check(claims, draining=self.draining, registry_ok=self.registry_ok,
                             locked=self._locked(claims))

    def join(self, claims: JoinClaims, admitted: bool = False) -> Participant:
        """Admits a participant whose join token verified (unless `admit` already did). Token expiry matters here
        only, never later."""
        if not admitted:
            self.admit(claims)
        elif self.draining:  # a drain that began while the admission was on its thread
            raise JoinRefused("node_draining", "this node is draining; ask the control plane again")
        elif self._locked(claims) and not claims.host:  # a lock that came while the admission was on its thread
            raise JoinRefused("meeting_locked", "the host has locked this meeting")
        key = (claims.tenant, claims.room)
        if claims.participant in self.by_id:
            self.leave(self.by_id[claims.participant], reason="replaced")
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = Room(tenant=claims.tenant, name=claims.room)
        peer = self.peers.take()
        worker = self.workers.place(key)
        self.media_engine.add_peer(peer, worker)
        p = Participant(id=claims.participant, name=claims.name or claims.participant, room=room, peer=peer,
                        tenant=claims.tenant, worker=worker, host=claims.host, recorder=claims.recorder)
        p.ice_ufrag, p.ice_pwd = new_credentials()
        self.ice.register(p.ice_ufrag, p.ice_pwd, p)
        room.participants[p.id] = p
        room.speakers.join(p.id)
        self.by_peer[peer] = p
        self.by_id[p.id] = p
        # batched with the other joins and leaves of its interval: one frame per recipient, not one per join
        room.announce(presence.joined(p.describe()), time.monotonic())
        self.recording.joined(p, claims.recording, claims.link)
        log.info("join room=%s/%s participant=%s", room.tenant, room.name, p.id,
                 extra={"tenant": room.tenant, "room": room.name, "participant": p.id})
        return p

    def snapshot(self, p: Participant, resumed: bool = False) -> dict[str, Any]:
        return {
            "type": "joined",
            "protocol": 2,  # 2: joins and leaves come batched in `presence` (sfu/presence.py)
            "participant": p.id,
            "name": p.name,
            "room": p.room.name,
            "node": self.config.node_id,
            "region": self.config.region,
            "resume_secret": p.resume_secret,
            "resumed": resumed,
            "participants": [q.describe() for q in p.room.participants.values() if q is not p],
            "tracks": [t.describe() for t in p.room.tracks() if t.owner is not p],
            # fresh at every join and resume: the region's TURN, for participants whose UDP is blocked
            "ice_servers": [ice_server(self.config.turn, p.id, time.time())] if self.config.turn else [],
            "mls": {"epoch": p.room.group.epoch},
            "host": p.host,  # this participant may use the host controls
            "recorder": p.recorder,  # this credential is the meeting's recorder (a production page's recorder mode)
            "locked": p.room.locked,
            "recording": recording_state(p.room),
        }

    def resume(self, participant_id: str, secret: str) -> Participant:
        p = self.by_id.get(participant_id)
        if p is None or p.left or not hmac.compare_digest(p.resume_secret, str(secret)):
            raise JoinRefused("resume_refused", "nothing to resume: the session ended or the secret is wrong")
        p.attach()
        self.recording.update(p.room)  # a recorder back on its socket counts again
        return p

    def detach(self, p: Participant) -> None:
        """The signalling socket dropped: media continues; the participant may resume within the grace period."""
        p.detach(time.monotonic())
        self.recording.update(p.room)  # a recorder whose socket died no longer counts (fail closed)

    def handle_offer(self, p: Participant, offer_sdp: str, subscriptions: dict[str, str]) -> str:
        return self.negotiation.handle_offer(p, offer_sdp, subscriptions)

    def leave(self, p: Participant, reason: str = "left") -> None:
        if p.left or p.relayed_from is not None:  # a relayed publisher goes with its relay (sfu/cascade/members.py)
            return
        p.send({"type": "left", "reason": reason})  # the last message its socket carries
        p.mark_left()
        self.heap.session_ended()
        for sub in list(p.subscriptions.values()):
            self.publications.remove_subscription(sub)
        for track in list(p.published.values()):
            self.publications.remove_track(track)
        self.ice.unregister(p.ice_ufrag)
        self.connectivity.close(p)
        self.media_engine.remove_peer(p.peer)
        self.workers.release(p.room.key, p.worker)
        self.peers.give(p.peer)
        self.by_peer.pop(p.peer, None)
        self.by_id.pop(p.id, None)
        room = p.room
        room.participants.pop(p.id, None)
        room.speakers.leave(p.id)
        room.announce(presence.left(p.id, reason), time.monotonic())
        self.handshakes.bytes_out += room.deliver(room.group.left(p.id, list(room.participants)))
        self.recording.update(room)  # a recorder leaving holds the media again
        try:
            self.admission.left(p.tenant, room.name, p.id)
        except Exception:  # noqa: BLE001
            log.exception("occupancy update failed")
        if not room.participants:
            self.rooms.pop(room.key, None)
        log.info("leave room=%s/%s participant=%s reason=%s", room.tenant, room.name, p.id, reason,
                 extra={"tenant": room.tenant, "room": room.name, "participant": p.id, "reason": reason})

    def end_room(self, tenant: str, name: str, reason: str = "ended") -> bool:
        room = self.rooms.get((tenant, name))
        if room is None:
            return False
        for p in list(room.participants.values()):
            self.leave(p, reason=reason)
        return True

    # ------------------------------------------------------------------ timers

    async def _ticker(self) -> None:
        last_reports = 0.0
        last_speakers = 0.0
        last_feedback = 0.0
        while True:
            await asyncio.sleep(TICK)
            try:
                now = time.monotonic()
                self.deadlines.ran("media_timers", TICK, TICK_SLACK, now)
                self.connectivity.retransmit_handshakes()
                self._flush_presence(now)
                if now - last_feedback >= TWCC_FEEDBACK_INTERVAL - 0.01:
                    last_feedback = now
                    self.congestion.tick(now)
                if now - last_speakers >= self.config.speaker_interval:
                    last_speakers = now
                    self.last_n.detect_speakers(now)
                if now - last_reports >= REPORT_INTERVAL:
                    last_reports = now
                    self.deadlines.ran("consent", REPORT_INTERVAL, CONSENT_SLACK, now)
                    self._per_participant.start()
                    self.heap.tick(now)
                    self.allocation.sync()
                    self.allocation.select(now)
                self._every_second(self._per_participant.slice(), now)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("node ticker failed")

    def _flush_presence(self, now: float) -> None:
        for room in list(self.rooms.values()):
            if room.presence.due(now):
                room.flush_presence()

    def _every_second(self, participants: list[Participant], now: float) -> None:
        """Sessions past their resume grace or consent end; the others' reports, layer rates and retries. Each
        participant's turn comes once a second, spread over the second's ticks (`Rounds`): with hundreds of
        participants one pass for all at once held the event loop for hundreds of milliseconds. The slice's
        engine calls take the media lock once (`held`), not three times per participant: each take may wait for
        a media batch whose fan-out grows with the room, so per-participant takes grew with the square of it."""
        ready: list[Participant] = []
        for p in participants:
            if p.left:
                continue
            if not p.connected and now - p.detached_at > self.config.resume_grace:
                self.leave(p, reason="signalling_lost")
                continue
            if self.connectivity.consent_expired(p, now):
                self.leave(p, reason="consent_expired")
                continue
            if p.media_ready:
                ready.append(p)
        if not ready:
            return
        with held(self.media_engine):
            for p in ready:
                self.allocation.measure(p, now)
                self.reports.send(p, now)
                self.keyframes.retry_waiting(p, now)

    # ------------------------------------------------------------------ observability

    def stats(self) -> dict[str, Any]:
        c = self.media_engine.counters()
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
        estimates = sorted(p.downlink.estimate_bps for p in self.by_id.values()
                           if p.subscriptions and p.downlink.estimate_bps)

        def quantile(q: float) -> int | None:
            return estimates[min(len(estimates) - 1, int(q * len(estimates)))] if estimates else None

        return {
            "estimates": len(estimates),
            "transport_cc": sum(1 for p in self.by_id.values() if p.downlink.send_side),
            "p10_bps": quantile(0.1),
            "p50_bps": quantile(0.5),
            "p90_bps": quantile(0.9),
            "probes": self.counts["probes"],
            "probes_succeeded": self.counts["probe_succeeded"],
            "probes_failed": self.counts["probe_failed"],
            "probes_capped": self.counts["probes_capped"],  # kept near what a failed probe measured
        }
