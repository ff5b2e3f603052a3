"""A relay link's engine side (sfu/cascade/link.py) between two real engines on loopback, keyed by the real
relay handshake: the sending node's plan becomes engine subscriptions of the relay peer and sealed
announcements; the receiving node turns announcements into engine tracks its subscribers take, one per layer. A
track nobody on the far node needs does not cross; of a simulcast track exactly the layers asked for cross, each
once on its own SSRC, and a far subscriber moves between them at a keyframe. The far node's `need` is sealed like
the announcements. Attacks: an announcement or a need sealed under another relay's keys, replayed, or flooding
the link changes nothing; a need for a track the link does not announce (another meeting's) or a layer a track
does not have is left out; a flood of need changes is dropped past the rate; a bad message is a refusal, never a
crash; closing the link leaves nothing in the engine."""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from native import reference as ref
from residency.errors import RelayRefused
from residency.relay import RelayChannel, RelayTrack
from sfu.cascade.link import (
    NEED_BURST,
    NEED_RATE,
    CloseAsked,
    Dropped,
    LocalTrack,
    NeedApplied,
    OpenAsked,
    Relayed,
    RelayLink,
    scoped,
)
from sfu.node import IndexPool
from sfu.ratelimit import TokenBucket
from tests.support.relays import relay_keys
from tests.support.waiting import wait_until

engine = pytest.importorskip("native.engine")

VP8_KEY = bytes([0x10, 0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + bytes(20)
LAYER_SSRCS = (0x100, 0x101, 0x102)  # the publisher's simulcast encodings (q, h, f)
AUDIO_SSRC = 0x200
LEVEL_IN = 3  # the publisher's audio-level extension id (the link uses its own)
KEY = ("eurocorp", "board")  # the meeting the handshake opened the link for


def rtp(ssrc: int, seq: int, payload: bytes, pt: int = 96, level: int | None = None) -> bytes:
    ext = bytes([LEVEL_IN << 4, level]) + bytes(2) if level is not None else b""
    head = struct.pack("!BBHII", 0x90 if ext else 0x80, 0x80 | pt, seq, seq * 3000, ssrc)
    if ext:
        head += struct.pack("!HH", 0xBEDE, 1) + ext
    return head + payload


def udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


@dataclass
class Pair:
    a: Any
    b: Any
    sa: socket.socket
    sb: socket.socket
    link_a: RelayLink
    link_b: RelayLink
    pools_b: tuple[IndexPool, IndexPool]
    pub: socket.socket
    up: Any
    local: dict[str, LocalTrack]
    other_channel: RelayChannel

    def pump(self) -> None:
        time.sleep(0.002)
        self.a.poll()
        self.b.poll()


@pytest.fixture
def pair() -> Iterator[Pair]:
    (ka, kb), (other, _) = relay_keys([("eu-1-a", "eu-2-a"), ("eu-1-b", "eu-2-b")])
    sa, sb, pub = udp(), udp(), udp()
    a = engine.Engine(sa.fileno(), max_peers=8, max_tracks=16, max_subs=16)
    b = engine.Engine(sb.fileno(), max_peers=8, max_tracks=16, max_subs=16)
    tracks_a, subs_a = IndexPool(16), IndexPool(16)
    tracks_b, subs_b = IndexPool(16), IndexPool(16)
    up_key = os.urandom(30)
    a.add_peer(0)
    a.set_peer_address(0, *pub.getsockname())
    a.set_peer_srtp(0, 1, up_key, os.urandom(30))
    a.set_peer_extensions(0, audio_level_id=LEVEL_IN)
    indexes = []
    for ssrc in LAYER_SSRCS:
        i = tracks_a.take()
        a.add_track(i, 0, ssrc, engine.CODEC_VP8, 90000)
        indexes.append(i)
    audio = tracks_a.take()
    a.add_track(audio, 0, AUDIO_SSRC, engine.CODEC_OPUS, 48000)
    local = {"cam": LocalTrack("alice", "video", "vp8", tuple(indexes)),
             "mic": LocalTrack("alice", "audio", "opus", (audio,), level_id=LEVEL_IN)}
    link_a = RelayLink.open(a, 5, ka, sb.getsockname(), tracks_a, subs_a, meeting=KEY)
    link_b = RelayLink.open(b, 0, kb, sa.getsockname(), tracks_b, subs_b, meeting=KEY)
    p = Pair(a, b, sa, sb, link_a, link_b, (tracks_b, subs_b), pub, ref.srtp_session(1, up_key, outbound=True),
             local, other.channel())
    yield p
    for s in (sa, sb, pub):
        s.close()


def subscribe(p: Pair, track_index: int, peer: int, pt: int) -> tuple[socket.socket, Any, int]:
    """A subscriber on node B taking the relayed engine track: its socket, SRTP session and engine subscription."""
    s = udp()
    key = os.urandom(30)
    p.b.add_peer(peer)
    p.b.set_peer_address(peer, *s.getsockname())
    p.b.set_peer_srtp(peer, 1, os.urandom(30), key)
    sub = p.pools_b[1].take()
    p.b.add_subscription(sub, track_index, peer, 0x9000 + peer, pt)
    return s, ref.srtp_session(1, key, outbound=False), sub


def send_round(p: Pair, rounds: range) -> None:
    """The publisher sends every layer (each packet a keyframe, its last byte the layer) and audio."""
    for seq in rounds:
        for layer, ssrc in enumerate(LAYER_SSRCS):
            p.pub.sendto(p.up.protect(rtp(ssrc, seq, VP8_KEY + bytes([layer]))), p.sa.getsockname())
        p.pub.sendto(p.up.protect(rtp(AUDIO_SSRC, seq, b"opus", pt=111, level=5)), p.sa.getsockname())
        p.pump()


def drain(p: Pair, sock: socket.socket, session: Any, out: list[bytes]) -> None:
    sock.setblocking(False)
    while True:
        try:
            out.append(session.unprotect(sock.recv(2048)))
        except BlockingIOError:
            break


def test_the_plan_becomes_engine_subscriptions_and_far_tracks_that_carry_media(pair: Pair) -> None:
    p = pair
    # B's subscribers take only the microphone so far: both tracks are announced (B learns the camera and its
    # three layers exist), only the microphone crosses
    sealed, woken = p.link_a.apply(KEY, {"mic": {0}}, p.local)
    assert len(sealed) == 2 and set(p.link_a.sending) == {"cam", "mic"} and woken == [("mic", 0)]
    added = [p.link_b.receive(m) for m in sealed]
    relayed = [e for e in added if isinstance(e, Relayed)]
    assert [(e.key, e.event, e.what.track, e.what.layers, len(e.indexes)) for e in relayed] == [
        (KEY, "track", "cam", (0, 1, 2), 3), (KEY, "track", "mic", (0,), 1)]
    cam_q, _, cam_f = relayed[0].indexes
    mic_index = relayed[1].index
    s, down, _ = subscribe(p, cam_q, 1, 96)  # a thumbnail viewer on B: the low layer
    s2, down2, _ = subscribe(p, mic_index, 2, 111)
    s3, down3, big_sub = subscribe(p, cam_q, 3, 96)  # a viewer on B who will go full screen (starts low, as B's do)
    got: list[bytes] = []
    audio: list[bytes] = []
    big: list[bytes] = []
    send_round(p, range(20))

    def arrived(video: int, sound: int, full: int = 0) -> bool:
        p.pump()
        drain(p, s, down, got)
        drain(p, s2, down2, audio)
        drain(p, s3, down3, big)
        return len(got) >= video and len(audio) >= sound and len(big) >= full

    assert wait_until(lambda: arrived(0, 20), 2.0, 0.005), len(audio)
    assert not got and not big and p.a.counters()["forwarded_packets"] == 20  # nobody on B takes the camera
    activity = p.b.audio_activity(mic_index)  # B's speaker detection reads the level the publisher sent
    assert activity is not None and activity[0] > 0, activity

    # both viewers on B take the camera's low layer: only layer 0 crosses, once, on its SSRC
    sealed, woken = p.link_a.apply(KEY, {"cam": {0}, "mic": {0}}, p.local)
    assert sealed == [] and woken == [("cam", 0)]
    send_round(p, range(20, 40))
    assert wait_until(lambda: arrived(20, 40, 20), 2.0, 0.005), (len(got), len(audio), len(big))
    assert {pkt[-1] for pkt in got} == {pkt[-1] for pkt in big} == {0}
    assert p.a.counters()["forwarded_packets"] == 20 + 20 + 20  # audio throughout, the low layer once
    # one viewer goes full screen: B needs the low and the top layer — both cross, each once, on its own SSRC
    # (not the middle one); B moves that viewer onto the top layer's engine track at its keyframe
    sealed, woken = p.link_a.apply(KEY, {"cam": {0, 2}, "mic": {0}}, p.local)
    assert sealed == [] and woken == [("cam", 2)]
    assert p.link_a.sending["cam"].layers == {0, 2}
    p.b.switch_layer(big_sub, cam_f)
    send_round(p, range(40, 60))
    assert wait_until(lambda: arrived(40, 60, 40), 2.0, 0.005), (len(got), len(audio), len(big))
    assert {pkt[-1] for pkt in got} == {0}  # the thumbnail viewer stays on the low layer
    full = [pkt[-1] for pkt in big[20:]]  # at most a low packet sent just before the top layer's keyframe
    assert full[-20:] == [2] * 20 and full[:-20] in ([], [0]), full
    seqs = [struct.unpack("!H", pkt[2:4])[0] for pkt in big]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]  # one continuous stream for the viewer
    assert p.a.counters()["forwarded_packets"] == 60 + 20 + 2 * 20  # two layers on the link, nothing else
    # feedback from B about a relayed SSRC maps back to the publisher's track and that copy's layer on A; an
    # SSRC the link does not send maps to nothing
    cam = p.link_a.sending["cam"]
    f_copy, q_copy = cam.copies[2], cam.copies[0]
    assert f_copy.ssrc == cam.ssrc + 2 and q_copy.ssrc == cam.ssrc
    assert p.link_a.copy_of(f_copy.ssrc) == (KEY, "cam", 2, f_copy.sub)
    assert p.link_a.copy_of(q_copy.ssrc) == (KEY, "cam", 0, q_copy.sub)
    assert p.link_a.copy_of(0xDEAD) is None and p.link_a.copy_of(cam.ssrc - 1) is None
    # B's subscriber lost packets on the link: A's engine serves the NACK from that layer's subscription buffer
    offset = p.a.subscription_stats(f_copy.sub)[5]  # the link's sequence numbers = the publisher's + offset
    resent = p.a.retransmit(f_copy.sub, [(offset + 43) & 0xFFFF, (offset + 44) & 0xFFFF, (offset - 9) & 0xFFFF])
    assert resent == 2, resent  # two it sent, one it never did
    # nobody on B takes the camera any more: no layer crosses, still announced (no track_unpublished there)
    sealed, woken = p.link_a.apply(KEY, {"mic": {0}}, p.local)
    assert sealed == [] and woken == [] and not p.link_a.sending["cam"].crossing
    before = (len(got), len(big))
    send_round(p, range(60, 70))
    assert wait_until(lambda: arrived(0, 70), 2.0, 0.005) and (len(got), len(big)) == before
    # the publisher's camera goes: B is told it stopped, and its three engine tracks go
    free = len(p.pools_b[0]._free)
    sealed, _ = p.link_a.apply(KEY, {"mic": {0}}, {"mic": p.local["mic"]})
    gone = [p.link_b.receive(m) for m in sealed][0]
    assert isinstance(gone, Relayed) and gone.event == "untrack" and len(p.pools_b[0]._free) == free + 3
    for sock in (s, s2, s3):
        sock.close()


def test_a_copy_moves_onto_a_layer_learned_after_it_started(pair: Pair) -> None:
    p = pair
    q, _, f = p.local["cam"].indexes
    only_f = {"cam": LocalTrack("alice", "video", "vp8", (f, f, f))}  # q/h/f offered, only f's packets seen yet
    p.link_a.apply(KEY, {"cam": {0}}, only_f)
    q_copy = p.link_a.sending["cam"].copies[0]
    assert p.a.subscription_layer(q_copy.sub)[0] == f  # f stands in for q
    # q learned: the copy of rank 0 switches onto it (at its keyframe) and asks for one
    _, woken = p.link_a.apply(KEY, {"cam": {0}}, {"cam": LocalTrack("alice", "video", "vp8", (q, q, f))})
    assert woken == [("cam", 0)] and p.a.subscription_layer(q_copy.sub)[1] == q


def test_a_need_is_sealed_and_only_for_the_links_own_tracks(pair: Pair) -> None:
    p = pair
    for m in p.link_a.apply(KEY, {}, p.local)[0]:
        p.link_b.receive(m)
    # B tells A what its subscribers take; A keeps it (a need names the whole set each time)
    asked = {"cam": frozenset({0, 1}), "mic": frozenset({0})}
    need = p.link_b.ask(KEY, asked)
    assert need is not None and p.link_b.ask(KEY, dict(asked)) is None  # unchanged: nothing to send
    assert p.link_a.receive(need) == NeedApplied(KEY, 0) and p.link_a.meetings[KEY].needs == asked
    # a path attacker's need (another relay's keys, made-up keys) or a replay of B's changes nothing
    evil = scoped(KEY, {"type": "need", "tracks": {"cam": [2]}})
    for forged, code in ((p.other_channel.seal(evil), "relay_message_forged"),
                         (RelayChannel(os.urandom(32), os.urandom(32)).seal(evil), "relay_message_forged"),
                         (need, "relay_message_replayed")):
        with pytest.raises(RelayRefused) as e:
            p.link_a.receive(forged)
        assert e.value.code == code
    assert p.link_a.meetings[KEY].needs == asked
    # B itself (enrolled, verified) asks for a track this link never announced — another meeting's on A —, and
    # for layers the microphone does not have: each left out, counted by the caller
    other = scoped(KEY, {"type": "need", "tracks": {"cam": [0], "mic": [0, 1, 2], "other-room-cam": [2]}})
    assert p.link_a.receive(p.link_b.channel.seal(other)) == NeedApplied(KEY, 1, 2)
    assert p.link_a.meetings[KEY].needs == {"cam": {0}, "mic": {0}}
    only_missing = scoped(KEY, {"type": "need", "tracks": {"cam": [0], "mic": [2]}})  # nothing of it is there
    assert p.link_a.receive(p.link_b.channel.seal(only_missing)) == NeedApplied(KEY, 0, 1)
    assert p.link_a.meetings[KEY].needs == {"cam": {0}}
    for bad in ({"type": "need"}, {"type": "need", "tracks": {"cam": [3]}}, {"type": "need", "tracks": {"cam": 0}},
                {"type": "need", "tracks": {"cam": [True]}}, {"type": "need", "tracks": {"cam": []}},
                {"type": "need", "tracks": {"cam": [0, 0]}}, {"type": "need", "tracks": {"cam": [-1]}},
                {"type": "need", "tracks": [["cam", 0]]}, {"type": "need", "tracks": {"": [0]}},
                {"type": "need", "tracks": {f"t{n}": [0] for n in range(257)}}):
        with pytest.raises(RelayRefused) as e:
            p.link_a.receive(p.link_b.channel.seal(scoped(KEY, bad)))
        assert e.value.code == "relay_message_malformed"
    assert p.link_a.meetings[KEY].needs == {"cam": {0}}
    # B's `close` opens as such; one sealed by anyone else, or replayed, is refused (the caller keeps the link)
    close = p.link_b.farewell()
    for forged in (p.other_channel.seal({"type": "close"}),
                   RelayChannel(os.urandom(32), os.urandom(32)).seal({"type": "close"})):
        with pytest.raises(RelayRefused) as e:
            p.link_a.receive(forged)
        assert e.value.code == "relay_message_forged"
    assert p.link_a.receive(close) == CloseAsked()
    with pytest.raises(RelayRefused) as e:
        p.link_a.receive(close)
    assert e.value.code == "relay_message_replayed"


def test_a_flood_of_need_changes_is_dropped_past_the_rate(pair: Pair) -> None:
    """B (genuine keys, hostile or buggy) sends need after need, each changing what it asks: a node's passes send
    at most two a second, so the link takes NEED_BURST at once and NEED_RATE a second after that; the rest are
    dropped (counted by the caller) and change nothing. An unchanged need costs nothing."""
    p = pair
    for m in p.link_a.apply(KEY, {}, p.local)[0]:
        p.link_b.receive(m)
    now = [100.0]
    m = p.link_a.meetings[KEY]
    m.need_bucket = TokenBucket(NEED_RATE, NEED_BURST, clock=lambda: now[0])
    def flood(count: int) -> tuple[int, int]:
        """`count` needs, each asking for another layer than the one before: (changes applied, dropped)."""
        changed = dropped = 0
        for n in range(count):
            before = m.needs
            event = p.link_a.receive(p.link_b.channel.seal(scoped(KEY, {"type": "need", "tracks": {"cam": [n % 3]}})))
            if isinstance(event, Dropped):
                assert event == Dropped("relay_need_flood") and m.needs == before
                dropped += 1
            else:
                assert event == NeedApplied(KEY, 0)
                changed += m.needs != before
        return changed, dropped

    changed, dropped = flood(40)
    assert changed == NEED_BURST and dropped >= 40 - NEED_BURST - 40 // 3  # (a repeat of what stands is no change)
    same = scoped(KEY, {"type": "need", "tracks": {"cam": sorted(m.needs["cam"])}})
    assert p.link_a.receive(p.link_b.channel.seal(same)) == NeedApplied(KEY, 0)  # no change: always taken
    now[0] += 1.0  # a second on: NEED_RATE changes more
    assert flood(10)[0] == NEED_RATE


def test_forged_replayed_or_flooding_announcements_add_no_track(pair: Pair) -> None:
    p = pair
    free_before = len(p.pools_b[0]._free)
    evil = RelayTrack("evil", "mallory", "video", "vp8", 0xBAD, (0,)).to_message()
    for forged in (p.other_channel.seal(evil), RelayChannel(os.urandom(32), os.urandom(32)).seal(evil),
                   "x" * 40, 12, None, "A" * 20000):
        with pytest.raises(RelayRefused):
            p.link_b.receive(forged)
    genuine = p.link_a.apply(KEY, {"mic": {0}}, {"mic": p.local["mic"]})[0][0]
    p.link_b.receive(genuine)
    with pytest.raises(RelayRefused) as e:
        p.link_b.receive(genuine)
    assert e.value.code == "relay_message_replayed"
    assert len(p.pools_b[0]._free) == free_before - 1 and len(p.link_b.receiving) == 1
    # a genuine peer (compromised, or buggy) announcing more than the link allows, the same SSRC twice, a layer
    # on an SSRC in use, or layers that are not 0..n-1
    p.link_b.max_tracks = 3
    sealer = p.link_a.channel
    taken = next(iter(p.link_b.receiving))
    for clash in (RelayTrack("cam", "alice", "video", "vp8", taken, (0,)),
                  RelayTrack("cam", "alice", "video", "vp8", taken - 1, (0, 1))):
        with pytest.raises(RelayRefused) as e:
            p.link_b.receive(sealer.seal(scoped(KEY, clash.to_message())))
        assert e.value.code == "relay_message_malformed"
    for gap in ([0, 2], [1], [0, 1, 2, 3], [0, 0]):
        with pytest.raises(RelayRefused) as e:
            p.link_b.receive(sealer.seal(scoped(KEY, {**RelayTrack("g", "alice", "video", "vp8", 0x7200)
                                                      .to_message(), "layers": gap})))
        assert e.value.code == "relay_message_malformed"
    with pytest.raises(RelayRefused) as e:  # three layers where two engine tracks are left
        p.link_b.receive(sealer.seal(scoped(KEY, RelayTrack("t3", "alice", "video", "vp8", 0x7010, (0, 1, 2))
                                            .to_message())))
    assert e.value.code == "relay_too_many_tracks"
    for n in range(2):
        p.link_b.receive(sealer.seal(scoped(KEY, RelayTrack(f"t{n}", "alice", "video", "vp8", 0x7000 + n,
                                                            (0,)).to_message())))
    with pytest.raises(RelayRefused) as e:
        p.link_b.receive(sealer.seal(scoped(KEY, RelayTrack("t9", "alice", "video", "vp8", 0x7009, (0,)).to_message())))
    assert e.value.code == "relay_too_many_tracks"
    unnamed = RelayTrack("y", "a", "video", "vp8", 0x7101, (0,)).to_message()  # (no meeting named)
    for bad in (scoped(KEY, {"type": "untrack", "ssrc": 1}), scoped(KEY, {"type": "untrack"}), {"type": "hello"},
                scoped(KEY, RelayTrack("x", "a", "video", "av1", 0x7100, (0,)).to_message()), unnamed):
        with pytest.raises(RelayRefused):
            p.link_b.receive(sealer.seal(bad))
    # closing the link removes every engine entry it made, on both sides
    p.link_b.close()
    p.link_a.close()
    assert len(p.pools_b[0]._free) == free_before and not p.link_b.receiving and not p.link_a.sending


OTHER = ("eurocorp", "audit")  # a second meeting between the same two nodes


def test_two_meetings_share_the_link_and_neither_reaches_the_other(pair: Pair) -> None:
    """A second meeting is added with `open` (up once both sides said it) and keeps its own copies, needs and
    announcements; a message of a meeting the receiver did not admit is dropped (counted by the caller), a need
    or an untrack naming one meeting and another's tracks changes nothing of the other; taking one meeting off
    leaves the other's copies and tracks in the engine."""
    p = pair
    for m in p.link_a.apply(KEY, {"mic": {0}}, {"mic": p.local["mic"]})[0]:
        p.link_b.receive(m)
    # before B admitted the second meeting, nothing of it is sent, and B takes nothing of it
    assert p.link_a.apply(OTHER, {"cam": {0}}, {"cam": p.local["cam"]}) == ([], [])
    stray = p.link_a.channel.seal(scoped(OTHER, RelayTrack("cam", "alice", "video", "vp8", 0x7300, (0, 1, 2))
                                         .to_message()))
    assert p.link_b.receive(stray) == Dropped("relay_meeting_unknown")
    assert set(p.link_b.receiving) == {p.link_a.sending["mic"].ssrc}
    # A opens it; B admits it and answers; it is up on both sides
    asked = p.link_b.receive(p.link_a.opening(OTHER))
    assert asked == OpenAsked(OTHER, answer=False) and p.link_b.up(OTHER) is None
    assert p.link_a.receive(p.link_b.opening(OTHER)) == OpenAsked(OTHER, answer=True)
    assert p.link_a.up(OTHER) is not None and p.link_b.up(OTHER) is not None
    sealed, _ = p.link_a.apply(OTHER, {}, {"cam": p.local["cam"]})
    events = [p.link_b.receive(m) for m in sealed]
    assert [(e.key, e.what.track) for e in events if isinstance(e, Relayed)] == [(OTHER, "cam")]
    assert set(p.link_b.meetings[KEY].receiving) == {p.link_a.meetings[KEY].sending["mic"].ssrc}
    # B names the first meeting's microphone in the second meeting's need, and vice versa: each left out
    need = p.link_b.channel.seal(scoped(OTHER, {"type": "need", "tracks": {"mic": [0], "cam": [1]}}))
    assert p.link_a.receive(need) == NeedApplied(OTHER, 1)
    assert p.link_a.meetings[OTHER].needs == {"cam": {1}} and p.link_a.meetings[KEY].needs == {}
    # an untrack of the first meeting's SSRC, naming the second: refused, the track stays
    mic_ssrc = p.link_a.meetings[KEY].sending["mic"].ssrc
    with pytest.raises(RelayRefused):
        p.link_b.receive(p.link_a.channel.seal(scoped(OTHER, {"type": "untrack", "ssrc": mic_ssrc})))
    assert mic_ssrc in p.link_b.meetings[KEY].receiving
    # a `close` of the second meeting: B takes it off — its engine track goes, the first meeting's stays
    free = len(p.pools_b[0]._free)
    assert p.link_b.receive(p.link_a.farewell(OTHER)) == CloseAsked(OTHER)
    gone = p.link_b.drop(OTHER)
    assert [(g.key, g.what.track) for g in gone] == [(OTHER, "cam")] and len(p.pools_b[0]._free) == free + 3
    assert set(p.link_b.receiving) == {mic_ssrc} and set(p.link_b.meetings) == {KEY}
    # what A still sends of it is dropped on B, never applied to the first meeting
    late = p.link_a.channel.seal(scoped(OTHER, {"type": "untrack", "ssrc": mic_ssrc}))
    assert p.link_b.receive(late) == Dropped("relay_meeting_unknown") and mic_ssrc in p.link_b.receiving
