"""A participant's path to the node: ICE-lite binding requests bind (and move) its media address, consent
freshness (RFC 7675) pauses media to a peer that stopped answering, and the DTLS handshake yields the SRTP keys
the engine needs before any media flows. Only a fresh authenticated check (a transaction id never seen before,
sfu/transport/ice.py) binds the first address, and a move needs more: the node checks the new address itself
and moves when it answers (`IceLite.verify`), so a captured check replayed from elsewhere moves nothing, even
after the transaction-id window.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from native.threaded import held
from sfu.participant import MediaState
from sfu.transport.dtls import DtlsSession, SrtpKeys

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant
    from sfu.transport.handshakes import Handshake
    from sfu.transport.ice import StunOutcome

log = logging.getLogger("castellan.node")

REBIND_AFTER = 2.0  # a new address takes over once the bound one has been quiet this long (NAT rebinding)


class Connectivity:
    def __init__(self, node: Node) -> None:
        self.node = node
        # participants whose DTLS handshake is under way (by id(p)): the ticker's retransmission timers look at
        # these, not at every participant of the node 20 times a second
        self.handshaking: dict[int, Participant] = {}

    def on_stun(self, data: bytes, addr: tuple[str, int]) -> None:
        """A STUN datagram. Consent and rebinding judge a check by when the media thread received it
        (`Demux.arrived`), so a loop busy with a join storm does not age a fresh check."""
        node = self.node
        out = node.ice.handle(data, addr)
        if out.drop_reason:
            node.control_drops[out.drop_reason] += 1
        probe: bytes | None = None
        try:
            probe = self._checked(out, addr)
        finally:
            # the answer goes out after the bind: a peer starts DTLS the moment it is answered, and its first
            # record must find its address bound in the engine and its handshake made — answered first, the
            # ClientHello often came before the bind (which may wait for the media lock) and was dropped: a 1 s
            # DTLS retransmission. The node's own check of a new address still follows the answer.
            if node.sock is not None:
                if out.response is not None:
                    node.sock.sendto(out.response, addr)
                if probe is not None:
                    node.sock.sendto(probe, addr)

    def _checked(self, out: StunOutcome[Participant], addr: tuple[str, int]) -> bytes | None:
        """What an answered check does: binds or moves the participant's address, refreshes consent, starts the
        DTLS handshake; returns the node's own check of a new address (sent after the answer), if any."""
        node = self.node
        arrived = node.demux.arrived
        p = out.owner
        probe: bytes | None = None
        if p is None or p.left:
            return None
        now = time.monotonic() if arrived is None else min(arrived, time.monotonic())
        if out.verified is not None:
            # the new address answered the node's own check: it holds the participant's ICE password
            if p.media_address != out.verified:
                self._bind(p, out.verified, now)
            return None
        # only a fresh check binds, moves or refreshes: a retransmitted one proves nothing new (it was answered
        # above), and a replayed one from another address was refused by IceLite
        if out.fresh and p.media_address != addr:
            if p.media_address is None and not p.address_seen:
                self._bind(p, addr, now)  # first contact: nothing to take over yet
            elif p.media_address is None or out.nominated or now - p.address_seen > REBIND_AFTER:
                # a move (nomination, NAT rebinding, ICE restart, back after consent expired): only once the
                # new address answers a check of the node's own; a fresh-looking check may be an old capture
                probe = node.ice.verify(p.ice_ufrag, p.remote_ufrag, p.remote_pwd, addr)
        elif out.fresh:
            p.address_seen = now
        if p.dtls is None and p.remote_fingerprints:
            fingerprints = p.remote_fingerprints
            p.handshake = node.dtls_handshakes.new(
                lambda send: DtlsSession(node.certificate, fingerprints, send, server=True))
            p.dtls = p.handshake.session
            self.handshaking[id(p)] = p
        return probe

    def _bind(self, p: Participant, addr: tuple[str, int], now: float) -> None:
        self.node.media_engine.set_peer_address(p.peer, addr[0], addr[1])
        if p.media_address is not None:
            log.info("participant %s moved %s -> %s", p.id, p.media_address, addr)
        p.media_address = addr
        p.address_seen = now

    def on_dtls(self, peer: int, data: bytes) -> None:
        """A DTLS record. Handshake steps run on the handshake thread (transport/handshakes.py); a record after
        the handshake (an alert, a close) is read here."""
        node = self.node
        p = node.by_peer.get(peer)
        h = p.handshake if p is not None else None
        if p is None or h is None:
            node.control_drops["dtls_unexpected"] += 1
            return
        if h.session.state == "connected" and not h.busy:
            h.session.feed(data)
            self._flush(p)
            return
        if not node.dtls_handshakes.feed(h, data, lambda h, keys: self._stepped(p, h, keys)):
            node.control_drops["dtls_queue_full"] += 1

    def _stepped(self, p: Participant, h: Handshake, keys: SrtpKeys | None) -> None:
        """After a handshake step (on the loop): send what it wrote; a failure or the keys."""
        node = self.node
        if p.left or p.handshake is not h or p.dtls is None:
            return
        self._flush(p)
        if p.dtls.state == "failed":
            node.control_drops["dtls_failed"] += 1
            p.media = MediaState.FAILED
            log.warning("participant %s: %s", p.id, p.dtls.error)
            p.send({"type": "error", "code": "dtls_failed", "message": p.dtls.error or "DTLS failed"})
            return
        if keys is not None:
            with held(node.media_engine):  # the keys and the keyframe requests: one take of the media lock
                node.media_engine.set_peer_srtp(p.peer, keys.profile, keys.rx_key, keys.tx_key)
                p.media = MediaState.READY
                log.info("participant %s media ready (SRTP profile %d)", p.id, keys.profile)
                for sub in p.subscriptions.values():
                    node.keyframes.request(sub.track, sub.layer, force=True)

    def _flush(self, p: Participant) -> None:
        """What the participant's DTLS session wrote, to its media address (from the loop only). Sent on the
        node's socket as STUN answers are, to the address the engine has bound (`_bind` sets both; consent
        expiry clears both): not through the engine, whose lock may wait for a media batch per flight."""
        h = p.handshake
        if h is None or not h.outgoing:
            return
        out = h.outgoing[:]
        h.outgoing.clear()  # the same list: the session appends to it
        sock, addr = self.node.sock, p.media_address
        if sock is None or addr is None:
            return  # no address: nothing could be sent (the engine's send_raw dropped it too); DTLS retransmits
        for record in out:
            try:
                sock.sendto(record, addr)
            except (BlockingIOError, InterruptedError):
                self.node.control_drops["dtls_send_full"] += 1  # a full socket buffer: DTLS retransmits
            except OSError:
                self.node.control_drops["dtls_send_failed"] += 1

    def close(self, p: Participant) -> None:
        """The participant leaves: its DTLS session closes (its close_notify sent while the peer still exists)."""
        if p.handshake is not None:
            self.node.dtls_handshakes.close(p.handshake)
            self._flush(p)

    def retransmit_handshakes(self) -> None:
        """DTLS retransmission timers of handshakes under way (not of one whose step is on the thread); a
        handshake that ended (keys, failure, close) or whose participant left is forgotten here."""
        for key, p in list(self.handshaking.items()):
            h = p.handshake
            if p.left or h is None or h.session.state not in ("new", "connecting"):
                del self.handshaking[key]
                continue
            if not h.busy and h.session.state == "connecting":
                t = h.session.timeout()
                if t is not None and t <= 0:
                    h.session.handle_timeout()
                    self._flush(p)

    def consent_expired(self, p: Participant, now: float) -> bool:
        """Stops sending to a participant whose consent checks stopped; True when it then has to leave (its
        signalling is gone too)."""
        age = now - p.address_seen if p.media_address else 0.0
        if p.media_address is None or age <= self.node.config.consent_timeout:
            return False
        self.node.media_engine.clear_peer_address(p.peer)
        p.media_address = None
        self.node.counts["consent_expired"] += 1
        log.info("participant %s: consent expired, media paused", p.id)
        return not p.connected
