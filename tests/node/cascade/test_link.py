"""A relay link's engine side (sfu/cascade/link.py) between two real engines on loopback, keyed by the real
relay handshake: the sending node's plan becomes engine subscriptions of the relay peer and sealed
announcements; the receiving node turns announcements into engine tracks its subscribers take. A simulcast
track relays only the layers asked for. Attacks: an announcement sealed under another relay's keys, replayed,
or flooding the link adds no engine track; a bad message is a refusal, never a crash; closing the link leaves
nothing in the engine."""

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
from sfu.cascade.link import LocalTrack, RelayLink
from sfu.node import IndexPool
from tests.support.relays import relay_keys
from tests.support.waiting import wait_until

engine = pytest.importorskip("native.engine")

VP8_KEY = bytes([0x10, 0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + bytes(20)
LAYER_SSRCS = (0x100, 0x101, 0x102)  # the publisher's simulcast encodings (q, h, f)
AUDIO_SSRC = 0x200
LEVEL_IN = 3  # the publisher's audio-level extension id (the link uses its own)


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
    link_a = RelayLink.open(a, 5, ka, sb.getsockname(), tracks_a, subs_a)
    link_b = RelayLink.open(b, 0, kb, sa.getsockname(), tracks_b, subs_b)
    p = Pair(a, b, sa, sb, link_a, link_b, (tracks_b, subs_b), pub, ref.srtp_session(1, up_key, outbound=True),
             local, other.channel())
    yield p
    for s in (sa, sb, pub):
        s.close()


def subscribe(p: Pair, track_index: int, peer: int, pt: int) -> tuple[socket.socket, Any]:
    """A subscriber on node B taking the relayed engine track."""
    s = udp()
    key = os.urandom(30)
    p.b.add_peer(peer)
    p.b.set_peer_address(peer, *s.getsockname())
    p.b.set_peer_srtp(peer, 1, os.urandom(30), key)
    p.b.add_subscription(p.pools_b[1].take(), track_index, peer, 0x9000 + peer, pt)
    return s, ref.srtp_session(1, key, outbound=False)


def test_the_plan_becomes_engine_subscriptions_and_far_tracks_that_carry_media(pair: Pair) -> None:
    p = pair
    # B's subscribers take the camera's layer 2 and the microphone: A relays exactly those, one copy each
    sealed = p.link_a.apply({("cam", 2), ("mic", 0)}, p.local)
    assert len(sealed) == 2 and set(p.link_a.sending) == {("cam", 2), ("mic", 0)}
    added = [p.link_b.receive(m) for m in sealed]
    assert [(kind, what.track, what.layers) for kind, what, _ in added] == [("track", "cam", (2,)),
                                                                          ("track", "mic", (0,))]
    (_, _, cam_index), (_, _, mic_index) = added
    s, down = subscribe(p, cam_index, 1, 96)
    s2, down2 = subscribe(p, mic_index, 2, 111)
    for seq in range(20):
        for layer, ssrc in enumerate(LAYER_SSRCS):
            p.pub.sendto(p.up.protect(rtp(ssrc, seq, VP8_KEY + bytes([layer]))), p.sa.getsockname())
        p.pub.sendto(p.up.protect(rtp(AUDIO_SSRC, seq, b"opus", pt=111, level=5)), p.sa.getsockname())
        p.pump()
    got: list[bytes] = []
    audio: list[bytes] = []
    s.setblocking(False)
    s2.setblocking(False)

    def all_arrived() -> bool:
        p.pump()
        for sock, session, out in ((s, down, got), (s2, down2, audio)):
            while True:
                try:
                    out.append(session.unprotect(sock.recv(2048)))
                except BlockingIOError:
                    break
        return len(got) >= 20 and len(audio) >= 20

    assert wait_until(all_arrived, 2.0, 0.005), (len(got), len(audio))
    # only layer 2 crossed: every video payload ends with the layer byte 2; layers 0 and 1 never left A
    assert {pkt[-1] for pkt in got} == {2}
    assert p.a.counters()["forwarded_packets"] == 40  # 20 video + 20 audio: one copy on the link
    activity = p.b.audio_activity(mic_index)  # B's speaker detection reads the level the publisher sent
    assert activity is not None and activity[0] > 0, activity
    # feedback from B about a relayed SSRC maps back to the publisher's track and layer on A; an SSRC the link
    # does not send maps to nothing
    cam_ssrc = p.link_a.sending[("cam", 2)][1]
    assert p.link_a.copy_of(cam_ssrc) == ("cam", 2, p.link_a.sending[("cam", 2)][0])
    assert p.link_a.copy_of(0xDEAD) is None
    # B's subscriber lost packets on the link: A's engine serves the NACK from the relay subscription's buffer
    relay_sub = p.link_a.sending[("cam", 2)][0]
    offset = p.a.subscription_stats(relay_sub)[5]  # the link's sequence numbers = the publisher's + offset
    resent = p.a.retransmit(relay_sub, [(offset + 3) & 0xFFFF, (offset + 4) & 0xFFFF, (offset - 9) & 0xFFFF])
    assert resent == 2, resent  # two it sent, one it never did
    # the viewers drop to layer 0: the link switches copies (start 0, stop 2), B's track 2 goes away
    sealed = p.link_a.apply({("cam", 0), ("mic", 0)}, p.local)
    changes = [p.link_b.receive(m) for m in sealed]
    assert [(k, w.layers) for k, w, _ in changes] == [("untrack", (2,)), ("track", (0,))]
    assert changes[0][2] == cam_index and [w.layers for _, w in p.link_b.receiving.values()] == [(0,), (0,)]
    assert p.b.track_stats(changes[1][2])[0] == 0  # the new copy's track starts empty (layer 2's is gone)
    s.close()
    s2.close()


def test_forged_replayed_or_flooding_announcements_add_no_track(pair: Pair) -> None:
    p = pair
    free_before = len(p.pools_b[0]._free)
    evil = RelayTrack("evil", "mallory", "video", "vp8", 0xBAD, (0,)).to_message()
    for forged in (p.other_channel.seal(evil), RelayChannel(os.urandom(32), os.urandom(32)).seal(evil),
                   "x" * 40, 12, None, "A" * 20000):
        with pytest.raises(RelayRefused):
            p.link_b.receive(forged)
    genuine = p.link_a.apply({("mic", 0)}, p.local)[0]
    p.link_b.receive(genuine)
    with pytest.raises(RelayRefused) as e:
        p.link_b.receive(genuine)
    assert e.value.code == "relay_message_replayed"
    assert len(p.pools_b[0]._free) == free_before - 1 and len(p.link_b.receiving) == 1
    # a genuine peer (compromised, or buggy) announcing more than the link allows, or the same SSRC twice
    p.link_b.max_tracks = 3
    sealer = p.link_a.channel
    dup = RelayTrack("cam", "alice", "video", "vp8", next(iter(p.link_b.receiving)), (0,)).to_message()
    with pytest.raises(RelayRefused) as e:
        p.link_b.receive(sealer.seal(dup))
    assert e.value.code == "relay_message_malformed"
    for n in range(2):
        p.link_b.receive(sealer.seal(RelayTrack(f"t{n}", "alice", "video", "vp8", 0x7000 + n, (0,)).to_message()))
    with pytest.raises(RelayRefused) as e:
        p.link_b.receive(sealer.seal(RelayTrack("t9", "alice", "video", "vp8", 0x7009, (0,)).to_message()))
    assert e.value.code == "relay_too_many_tracks"
    for bad in ({"type": "untrack", "ssrc": 1}, {"type": "untrack"}, {"type": "hello"},
                {**RelayTrack("x", "a", "video", "av1", 0x7100, (0,)).to_message()}):
        with pytest.raises(RelayRefused):
            p.link_b.receive(sealer.seal(bad))
    # closing the link removes every engine entry it made, on both sides
    p.link_b.close()
    p.link_a.close()
    assert len(p.pools_b[0]._free) == free_before and not p.link_b.receiving and not p.link_a.sending
