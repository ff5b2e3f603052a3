"""The relay link between nodes of one cascaded meeting (issue 14, residency/relay.py): only enrolled nodes of
regions the tenant allows, each the node the registry's signed record names, agree keys — and every attack
below, by a hostile node, a path attacker or a forger of control messages, is refused with its reason.

Keys are real Ed25519 node keys enrolled per region; the registry records are signed by the nodes
(NodeSigner) and believed only once `verify_record` accepts them, as the control plane and nodes do."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.errors import RelayRefused
from residency.identity import EnrolledKey, NodeSigner, enrolled_key, public_text, verify_record
from residency.model import Node
from residency.relay import RelayChannel, RelayEndpoint, RelayHello, RelayTrack, _unb64
from tests.residency.residency_world import FakeClock, make_node

EU = frozenset({"eu-1", "eu-2"})  # the tenant's allowed regions


@dataclass
class Deployment:
    clock: FakeClock
    keys: dict[str, EnrolledKey]
    records: dict[str, Node]
    endpoints: dict[str, RelayEndpoint]

    def add(self, node_id: str, region: str, *, enroll: str | None = None, enrolled: bool = True) -> RelayEndpoint:
        """A node with its own key, enrolled (for `enroll`, default its region) unless told, and its signed
        registry record — kept only if it verifies, as a trusting reader would."""
        key = Ed25519PrivateKey.generate()
        if enrolled:
            ek = enrolled_key(enroll or region, public_text(key), actor="operator", at=self.clock())
            self.keys[ek.key_id] = ek
        record = NodeSigner(key).sign(make_node(node_id, region), self.clock())
        try:
            verify_record(record, self.keys, now=self.clock(), max_age=30)
            self.records[node_id] = record
        except Exception:
            pass  # an unenrolled or mis-enrolled node has no trusted record
        ep = RelayEndpoint(node_id, region, key)
        self.endpoints[node_id] = ep
        return ep

    def accept(self, ep: RelayEndpoint, offer: RelayHello, allowed: frozenset[str] = EU):
        return ep.accept(offer, keys=self.keys, nodes=self.records, allowed=allowed, now=self.clock())


@pytest.fixture
def dep() -> Deployment:
    d = Deployment(FakeClock(), {}, {}, {})
    d.add("eu-1-a", "eu-1")
    d.add("eu-1-b", "eu-1")
    d.add("eu-2-a", "eu-2")
    d.add("us-1-a", "us-1")
    return d


def handshake(dep: Deployment, a: str, b: str):
    ea, eb = dep.endpoints[a], dep.endpoints[b]
    pending = ea.offer("eurocorp", "board", b, dep.clock())
    accept, kb = dep.accept(eb, pending.offer)
    ka = ea.finish(pending, accept, keys=dep.keys, nodes=dep.records, allowed=EU, now=dep.clock())
    return ka, kb


def test_two_allowed_nodes_agree_keys_for_each_direction(dep: Deployment) -> None:
    ka, kb = handshake(dep, "eu-1-a", "eu-2-a")
    assert (ka.peer, ka.peer_region, kb.peer, kb.peer_region) == ("eu-2-a", "eu-2", "eu-1-a", "eu-1")
    assert ka.profile == kb.profile == 8 and len(ka.send) == len(ka.receive) == 44
    assert ka.send == kb.receive and ka.receive == kb.send and ka.send != ka.receive
    assert ka.control_send == kb.control_receive and ka.control_receive == kb.control_send
    # fresh ephemeral keys: a second relay between the same nodes shares nothing with the first
    ka2, _ = handshake(dep, "eu-1-a", "eu-2-a")
    assert ka2.send != ka.send and ka2.control_send != ka.control_send
    # the control channel carries a track announcement both ways
    ca, cb = ka.channel(), kb.channel()
    track = RelayTrack("t1", "alice", "video", "vp8", 0x1234, (0, 1, 2))
    assert RelayTrack.from_message(cb.open(ca.seal(track.to_message()))) == track
    assert cb.open(ca.seal({"type": "x"})) == {"type": "x"}
    assert ca.open(cb.seal({"type": "layers", "track": "t1", "layers": [0]}))["layers"] == [0]


def test_a_node_of_a_disallowed_region_is_refused_both_ways(dep: Deployment) -> None:
    us, eu = dep.endpoints["us-1-a"], dep.endpoints["eu-1-a"]
    # a genuine, enrolled US node asks an EU node to relay the EU tenant's meeting
    with pytest.raises(RelayRefused) as e:
        dep.accept(eu, us.offer("eurocorp", "board", "eu-1-a", dep.clock()).offer)
    assert e.value.code == "relay_region_not_allowed"
    # an EU node (misconfigured or tricked) offers to the US node: the US node refuses to take part...
    pending = eu.offer("eurocorp", "board", "us-1-a", dep.clock())
    with pytest.raises(RelayRefused) as e:
        dep.accept(us, pending.offer)
    assert e.value.code == "relay_region_not_allowed"
    # ... and a hostile US node that answers anyway gets no keys from the EU node
    hostile = RelayEndpoint("us-1-a", "us-1", us.key)
    accept, _ = hostile.accept(pending.offer, keys=dep.keys, nodes=dep.records, allowed=frozenset({"us-1", *EU}),
                               now=dep.clock())
    with pytest.raises(RelayRefused) as e:
        eu.finish(pending, accept, keys=dep.keys, nodes=dep.records, allowed=EU, now=dep.clock())
    assert e.value.code == "relay_region_not_allowed"


def test_an_unenrolled_key_is_refused(dep: Deployment) -> None:
    rogue = dep.add("eu-1-x", "eu-1", enrolled=False)
    with pytest.raises(RelayRefused) as e:
        dep.accept(dep.endpoints["eu-2-a"], rogue.offer("eurocorp", "board", "eu-2-a", dep.clock()).offer)
    assert e.value.code == "relay_key_unknown"
    # an unenrolled key claiming to be a genuine node (its id, region) changes nothing
    impostor = RelayEndpoint("eu-1-a", "eu-1", Ed25519PrivateKey.generate())
    with pytest.raises(RelayRefused) as e:
        dep.accept(dep.endpoints["eu-2-a"], impostor.offer("eurocorp", "board", "eu-2-a", dep.clock()).offer)
    assert e.value.code == "relay_key_unknown"


def test_a_key_enrolled_for_another_region_cannot_claim_an_allowed_one(dep: Deployment) -> None:
    # a US node's genuine key, claiming eu-1 in its hello
    us = dep.endpoints["us-1-a"]
    liar = RelayEndpoint("us-1-a", "eu-1", us.key)
    with pytest.raises(RelayRefused) as e:
        dep.accept(dep.endpoints["eu-2-a"], liar.offer("eurocorp", "board", "eu-2-a", dep.clock()).offer)
    assert e.value.code == "relay_key_region_mismatch"


def test_a_peer_spoofing_another_nodes_identity_is_refused(dep: Deployment) -> None:
    # eu-1-b is a genuine node of an allowed region, but claims to be eu-1-a (e.g. to take its relays)
    spoof = RelayEndpoint("eu-1-a", "eu-1", dep.endpoints["eu-1-b"].key)
    with pytest.raises(RelayRefused) as e:
        dep.accept(dep.endpoints["eu-2-a"], spoof.offer("eurocorp", "board", "eu-2-a", dep.clock()).offer)
    assert e.value.code == "relay_identity_mismatch"
    # a path attacker rewrites a genuine offer: its own ephemeral key (to read the relay), another recipient,
    # room or time — the signature no longer verifies
    genuine = dep.endpoints["eu-1-a"].offer("eurocorp", "board", "eu-2-a", dep.clock()).offer
    mitm = dep.endpoints["eu-1-b"].offer("eurocorp", "board", "eu-2-a", dep.clock()).offer
    for forged in (replace(genuine, ephemeral=mitm.ephemeral), replace(genuine, room="townhall"),
                   replace(genuine, at=genuine.at + 1), replace(genuine, signature=mitm.signature)):
        with pytest.raises(RelayRefused) as e:
            dep.accept(dep.endpoints["eu-2-a"], forged)
        assert e.value.code == "relay_signature_invalid", forged
    # the genuine offer, relayed by the attacker to another node than its recipient
    with pytest.raises(RelayRefused) as e:
        dep.accept(dep.endpoints["eu-1-b"], genuine)
    assert e.value.code == "relay_wrong_recipient"
    # delivered once: accepted; replayed within its window: refused
    dep.accept(dep.endpoints["eu-2-a"], genuine)
    with pytest.raises(RelayRefused) as e:
        dep.accept(dep.endpoints["eu-2-a"], genuine)
    assert e.value.code == "relay_replayed"
    # an old offer, replayed later
    old = dep.endpoints["eu-1-a"].offer("eurocorp", "board", "eu-2-a", dep.clock()).offer
    dep.clock.advance(31)
    with pytest.raises(RelayRefused) as e:
        dep.accept(dep.endpoints["eu-2-a"], old)
    assert e.value.code == "relay_stale"


def test_an_accept_must_answer_this_very_offer_from_its_recipient(dep: Deployment) -> None:
    a, b, c = dep.endpoints["eu-1-a"], dep.endpoints["eu-2-a"], dep.endpoints["eu-1-b"]
    p1 = a.offer("eurocorp", "board", "eu-2-a", dep.clock())
    p2 = a.offer("eurocorp", "board", "eu-2-a", dep.clock())
    accept2, _ = dep.accept(b, p2.offer)
    with pytest.raises(RelayRefused) as e:  # an accept of another offer (a replayed handshake)
        a.finish(p1, accept2, keys=dep.keys, nodes=dep.records, allowed=EU, now=dep.clock())
    assert e.value.code == "relay_transcript_mismatch"
    p3 = a.offer("eurocorp", "board", "eu-2-a", dep.clock())
    # another allowed node saw the offer to eu-2-a on the path: it cannot readdress it to itself ...
    with pytest.raises(RelayRefused) as e:
        dep.accept(c, replace(p3.offer, recipient="eu-1-b"))
    assert e.value.code == "relay_signature_invalid"
    # ... and its own genuine accept (of an offer it did get) does not finish the handshake with eu-2-a
    accept_c, _ = dep.accept(c, a.offer("eurocorp", "board", "eu-1-b", dep.clock()).offer)
    with pytest.raises(RelayRefused) as e:
        a.finish(p3, accept_c, keys=dep.keys, nodes=dep.records, allowed=EU, now=dep.clock())
    assert e.value.code == "relay_identity_mismatch"


def test_a_forged_relay_message_cannot_announce_a_track(dep: Deployment) -> None:
    ka, kb = handshake(dep, "eu-1-a", "eu-2-a")
    other_a, _ = handshake(dep, "eu-1-b", "eu-2-a")  # a genuine node's keys of ANOTHER relay
    receiver = kb.channel()
    track = RelayTrack("evil", "mallory", "video", "vp8", 0xBAD, (0,)).to_message()
    # sealed under another relay's keys (a hostile node of the same region), or by no relay at all
    with pytest.raises(RelayRefused) as e:
        receiver.open(other_a.channel().seal(track))
    assert e.value.code == "relay_message_forged"
    with pytest.raises(RelayRefused) as e:
        receiver.open(RelayChannel(os.urandom(32), os.urandom(32)).seal(track))
    assert e.value.code == "relay_message_forged"
    # a genuine message with one bit flipped, anywhere
    genuine = ka.channel().seal(RelayTrack("t1", "alice", "audio", "opus", 7).to_message())
    raw = bytearray(genuine.encode())
    for i in range(0, len(raw), 7):
        flipped = bytearray(raw)
        flipped[i] = ord("A") if flipped[i] != ord("A") else ord("B")
        with pytest.raises(RelayRefused) as e:
            kb.channel().open(flipped.decode())
        assert e.value.code in ("relay_message_forged", "relay_message_malformed")
    # delivered: opens once; replayed: refused
    assert RelayTrack.from_message(receiver.open(genuine)).track == "t1"
    with pytest.raises(RelayRefused) as e:
        receiver.open(genuine)
    assert e.value.code == "relay_message_replayed"


def test_bad_input_is_a_clear_refusal_never_a_crash(dep: Deployment) -> None:
    rng = random.Random(14)
    channel = RelayChannel(os.urandom(32), os.urandom(32))
    good = dep.endpoints["eu-1-a"].offer("eurocorp", "board", "eu-2-a", dep.clock()).offer.to_dict()
    bad_hellos: list[object] = [None, [], "x", {}, {**good, "at": "now"}, {**good, "at": True},
                                {**good, "at": float("nan")}, {**good, "role": "hello"}, {**good, "room": 7},
                                {**good, "nonce": "é" * 3}, {**good, "room": "r" * 500}]
    for bad in bad_hellos:
        with pytest.raises(RelayRefused) as e:
            RelayHello.from_dict(bad)
        assert e.value.code == "relay_malformed"
    # a well-formed hello with a garbage ephemeral key or signature is refused, not raised as something else
    for field_name, value in (("ephemeral", "!!"), ("ephemeral", "AAAA"), ("signature", "%%")):
        with pytest.raises(RelayRefused):
            dep.accept(dep.endpoints["eu-2-a"], RelayHello.from_dict({**good, field_name: value}))
    for _ in range(300):
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        for candidate in (junk.hex(), junk.decode("latin-1"), junk):
            with pytest.raises(RelayRefused):
                channel.open(candidate)
    for bad_track in ({"type": "track"}, {**RelayTrack("t", "p", "video", "vp8", 1).to_message(), "ssrc": 0},
                      {**RelayTrack("t", "p", "video", "vp8", 1).to_message(), "kind": "data"},
                      {**RelayTrack("t", "p", "video", "vp8", 1).to_message(), "layers": [0, 9]},
                      {**RelayTrack("t", "p", "video", "vp8", 1).to_message(), "layers": [True]},
                      {**RelayTrack("t", "p", "video", "vp8", 1).to_message(), "layers": [0, 2]},  # a gap
                      {**RelayTrack("t", "p", "video", "vp8", 1).to_message(), "layers": [1]},
                      {**RelayTrack("t", "p", "video", "vp8", 1).to_message(), "layers": []},
                      # the top layer's SSRC (ssrc + 2) would not be an SSRC
                      {**RelayTrack("t", "p", "video", "vp8", 1).to_message(), "ssrc": (1 << 32) - 2,
                       "layers": [0, 1, 2]}):
        with pytest.raises(RelayRefused) as e:
            RelayTrack.from_message(bad_track)
        assert e.value.code == "relay_message_malformed"


def test_an_allowed_node_cannot_pull_a_meeting_this_node_does_not_carry(dep: Deployment) -> None:
    # a genuine EU node asks for another tenant's room (or a room that ended here): refused before any key
    offer = dep.endpoints["eu-1-a"].offer("othercorp", "secret-board", "eu-2-a", dep.clock()).offer
    with pytest.raises(RelayRefused) as e:
        dep.endpoints["eu-2-a"].accept(offer, keys=dep.keys, nodes=dep.records, allowed=EU, now=dep.clock(),
                                       rooms={("eurocorp", "board")})
    assert e.value.code == "relay_room_unknown"
    ok = dep.endpoints["eu-1-a"].offer("eurocorp", "board", "eu-2-a", dep.clock()).offer
    dep.endpoints["eu-2-a"].accept(ok, keys=dep.keys, nodes=dep.records, allowed=EU, now=dep.clock(),
                                   rooms={("eurocorp", "board")})


def test_the_handshake_lane_is_its_own_channel_on_the_same_keys(dep: Deployment) -> None:
    """The MLS handshake lane (sfu/cascade/handshakes.py) shares the link's keys but not its nonces: a message
    sealed on one lane opens on no other (no replay across lanes, no nonce reuse), each lane keeps its own
    sequence, and only the lane's larger size limit differs."""
    ka, kb = handshake(dep, "eu-1-a", "eu-2-a")
    tracks_a, tracks_b = ka.channel(), kb.channel()
    lane_a, lane_b = ka.channel(1, 1024 * 1024), kb.channel(1, 1024 * 1024)
    first_track, first_lane = tracks_a.seal({"type": "x"}), lane_a.seal({"type": "member"})
    # the same sequence number 1 on both lanes (what the nonce's lane prefix keeps apart), different ciphertexts
    assert _unb64(first_track)[:8] == _unb64(first_lane)[:8] == (1).to_bytes(8, "big")
    with pytest.raises(RelayRefused) as e:
        lane_b.open(first_track)
    assert e.value.code == "relay_message_forged"
    with pytest.raises(RelayRefused) as e:
        tracks_b.open(first_lane)
    assert e.value.code == "relay_message_forged"
    assert lane_b.open(first_lane) == {"type": "member"} and tracks_b.open(first_track) == {"type": "x"}
    big = {"type": "mls", "message": {"commit": "A" * 400_000}}
    assert lane_b.open(lane_a.seal(big)) == big  # a large commit fits the lane ...
    with pytest.raises(RelayRefused) as e:
        tracks_b.open(tracks_a.seal(big))  # ... not the track lane (16 Ki)
    assert e.value.code == "relay_message_malformed"
