"""A relay between two nodes is one engine peer on each side (issue 14, docs/architecture.md "Cascading"): node A
subscribes the relay peer to its publisher's tracks (one copy per remote node), node B publishes what arrives on
it as its own tracks and fans them out. Two real engines on loopback sockets, with the SRTP keys the real relay
handshake (residency/relay.py) agreed, show:

* media crosses A -> B -> subscribers on B, payloads byte for byte (E2EE ciphertext is relayed as is), one copy
  on the link whatever the number of subscribers on B; audio levels cross too (B's speaker detection);
* RTCP crosses the encrypted link both ways (a PLI from B's subscriber reaches A's event loop from the relay);
* a path attacker who spoofs A's source address and sends SRTP with keys it made up, or replays a captured relay
  packet, injects nothing: every packet is a counted drop (srtp_auth / srtp_replay), no track is learnt on B;
* a hostile node holding a genuine relay's keys of ANOTHER pair, sending from its own address, is a counted drop.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from native import reference as ref
from residency.relay import RelayKeys
from sfu.feedback.rtcp import Pli, parse_compound, serialize
from tests.native.loopback import KEY_LENGTHS
from tests.support.relays import relay_keys
from tests.support.waiting import wait_until

engine = pytest.importorskip("native.engine")

VP8_KEY = bytes([0x10, 0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + bytes(20)
VP8_DELTA = bytes([0x10, 0x31, 0x04, 0x00]) + bytes(20)
PUB_VIDEO, PUB_AUDIO = 0x1111, 0x2222    # the publisher's SSRCs on A
LINK_VIDEO, LINK_AUDIO = 0x5001, 0x5002  # the same tracks on the relay link
LEVEL_ID = 1


def rtp(ssrc: int, seq: int, ts: int, payload: bytes, pt: int = 96, marker: bool = False,
        level: int | None = None) -> bytes:
    ext = b""
    if level is not None:
        ext = bytes([LEVEL_ID << 4, level]) + bytes(2)
    b0 = 0x80 | (0x10 if ext else 0)
    head = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    if ext:
        head += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    return head + payload


def handshake() -> tuple[RelayKeys, RelayKeys, RelayKeys]:
    """Real relay handshakes eu-1-a <-> eu-2-a, and eu-1-b <-> eu-2-b (another pair, for the hostile node)."""
    (ka, kb), (other, _) = relay_keys([("eu-1-a", "eu-2-a"), ("eu-1-b", "eu-2-b")])
    return ka, kb, other


def udp(reuse: bool = False) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    return s


@dataclass
class Cascade:
    """Node A (publisher peer 0, relay peer 1) and node B (relay peer 0, subscriber peers 1 and 2)."""

    sock_a: socket.socket
    sock_b: socket.socket
    a: Any
    b: Any
    pub: socket.socket
    subs: list[socket.socket]
    up: Any
    downs: list[Any]
    keys_a: RelayKeys
    keys_b: RelayKeys
    other: RelayKeys
    events_a: list[tuple[int, int, tuple[str, int], bytes]]
    events_b: list[tuple[int, int, tuple[str, int], bytes]]

    def pump(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            time.sleep(0.002)
            self.events_a += self.a.poll()
            self.events_b += self.b.poll()

    def drain(self, sub: int, expect: int) -> list[bytes]:
        """What subscriber `sub` decrypts, pumping both engines until `expect` packets or a 2 s deadline."""
        out: list[bytes] = []
        s = self.subs[sub]
        s.setblocking(False)

        def got_all() -> bool:
            self.pump(1)
            while True:
                try:
                    data, _ = s.recvfrom(2048)
                except BlockingIOError:
                    break
                if 192 <= data[1] <= 223:
                    continue  # RTCP (the node's own reports): not what is counted here
                out.append(self.downs[sub].unprotect(data))
            return len(out) >= expect

        wait_until(got_all, 2.0, 0.005)
        return out


@pytest.fixture
def cascade() -> Iterator[Cascade]:
    ka, kb, other = handshake()
    sock_a, sock_b = udp(reuse=True), udp()
    a = engine.Engine(sock_a.fileno(), max_peers=8, max_tracks=8, max_subs=8)
    b = engine.Engine(sock_b.fileno(), max_peers=8, max_tracks=8, max_subs=8)
    pub, subs = udp(), [udp(), udp()]
    n = KEY_LENGTHS[1]
    up_key = bytes(range(n))
    a.add_peer(0)
    a.set_peer_address(0, "127.0.0.1", pub.getsockname()[1])
    a.set_peer_srtp(0, 1, up_key, bytes(n))
    a.set_peer_extensions(0, audio_level_id=LEVEL_ID)
    # the relay peer on each side: the other node's UDP address, the handshake's keys (profile 8)
    a.add_peer(1)
    a.set_peer_address(1, "127.0.0.1", sock_b.getsockname()[1])
    a.set_peer_srtp(1, ka.profile, ka.receive, ka.send)
    b.add_peer(0)
    b.set_peer_address(0, "127.0.0.1", sock_a.getsockname()[1])
    b.set_peer_srtp(0, kb.profile, kb.receive, kb.send)
    b.set_peer_extensions(0, audio_level_id=LEVEL_ID)
    downs = []
    for i, s in enumerate(subs, start=1):
        down = bytes([i]) * n
        b.add_peer(i)
        b.set_peer_address(i, "127.0.0.1", s.getsockname()[1])
        b.set_peer_srtp(i, 1, bytes(n), down)
        downs.append(ref.srtp_session(1, down, outbound=False))
    # A: the publisher's tracks, each with ONE subscription: the relay peer (keeping the audio level id)
    level_map = bytes([0, LEVEL_ID])
    a.add_track(0, 0, PUB_VIDEO, engine.CODEC_VP8, 90000)
    a.add_track(1, 0, PUB_AUDIO, engine.CODEC_OPUS, 48000)
    a.add_subscription(0, 0, 1, LINK_VIDEO, 96)
    a.add_subscription(1, 1, 1, LINK_AUDIO, 111, ext_map=level_map)
    # B: the relayed tracks, announced over the sealed channel, published by the relay peer; two subscribers each
    b.add_track(0, 0, LINK_VIDEO, engine.CODEC_VP8, 90000)
    b.add_track(1, 0, LINK_AUDIO, engine.CODEC_OPUS, 48000)
    for i in (1, 2):
        b.add_subscription(2 * (i - 1), 0, i, 0x7000 + i, 96)
        b.add_subscription(2 * (i - 1) + 1, 1, i, 0x8000 + i, 111, ext_map=level_map)
    c = Cascade(sock_a, sock_b, a, b, pub, subs, ref.srtp_session(1, up_key, outbound=True), downs, ka, kb, other,
                [], [])
    yield c
    for s in (sock_a, sock_b, pub, *subs):
        s.close()


def publish(c: Cascade, first_seq: int, count: int) -> list[bytes]:
    """A keyframe then delta frames, and Opus at a loud level; returns the video payloads sent."""
    payloads = []
    for i in range(count):
        payload = (VP8_KEY if i == 0 else VP8_DELTA) + bytes([i & 0xFF]) * 8  # opaque, like E2EE ciphertext
        payloads.append(payload)
        c.pub.sendto(c.up.protect(rtp(PUB_VIDEO, first_seq + i, 3000 * i, payload, marker=True)),
                     c.sock_a.getsockname())
        c.pub.sendto(c.up.protect(rtp(PUB_AUDIO, first_seq + i, 960 * i, b"opus" * 8, pt=111, level=10)),
                     c.sock_a.getsockname())
        if i % 8 == 7:
            c.pump(1)
    return payloads


def test_media_crosses_the_relay_once_and_fans_out_on_the_far_node(cascade: Cascade) -> None:
    c = cascade
    sent = publish(c, 100, 40)
    got = [c.drain(i, 80) for i in (0, 1)]
    for sub, packets in enumerate(got):
        video = [p for p in packets if ref.parse_rtp(p)[4] == 0x7001 + sub]  # type: ignore[index]
        audio = [p for p in packets if ref.parse_rtp(p)[4] == 0x8001 + sub]  # type: ignore[index]
        assert len(video) == 40 and len(audio) == 40, (sub, len(video), len(audio))
        assert [p[ref.parse_rtp(p)[9]:] for p in video] == sent  # type: ignore[index]
    # one copy per remote node: A forwarded each packet once (to the relay), B twice (to its two subscribers)
    assert c.a.counters()["forwarded_packets"] == 80
    assert c.b.counters()["forwarded_packets"] == 160
    assert c.a.subscription_stats(0)[0] == 40 and c.b.track_stats(0)[0] == 40
    # the audio level crossed: B's speaker detection reads it on the relayed track
    activity = c.b.audio_activity(1)
    assert activity is not None and activity[0] > 0, activity
    assert sum(c.b.counters()["drops"].values()) == 0, c.b.counters()["drops"]


def test_a_pli_from_the_far_subscriber_reaches_the_publishers_node_over_the_link(cascade: Cascade) -> None:
    c = cascade
    publish(c, 100, 4)
    c.drain(0, 8)
    # B's feedback routing sends the PLI for the relayed track to the relay peer, with the link's SSRCs
    assert c.b.send_rtcp(0, serialize([Pli(sender_ssrc=1, media_ssrc=LINK_VIDEO)]))

    def pli_at_a() -> bool:
        c.pump(1)
        return any(k == engine.EV_RTCP and peer == 1 for k, peer, _, _ in c.events_a)

    assert wait_until(pli_at_a, 2.0, 0.005), c.events_a
    payload = next(p for k, peer, _, p in c.events_a if k == engine.EV_RTCP and peer == 1)
    assert any(isinstance(pkt, Pli) and pkt.media_ssrc == LINK_VIDEO for pkt in parse_compound(payload))


def test_a_path_attacker_spoofing_node_a_injects_nothing(cascade: Cascade) -> None:
    c = cascade
    publish(c, 100, 4)
    assert len(c.drain(0, 8)) == 8
    # capture what A sends on the link, to replay it: a socket that sits where B is (the attacker's tap)
    tap = udp()
    c.a.set_peer_address(1, "127.0.0.1", tap.getsockname()[1])
    publish(c, 104, 2)
    c.pump(2)
    tap.settimeout(2)
    captured = [tap.recvfrom(2048)[0] for _ in range(4)]
    tap.close()
    c.a.set_peer_address(1, "127.0.0.1", c.sock_b.getsockname()[1])
    before = dict(c.b.counters()["drops"])
    forwarded = c.b.counters()["forwarded_packets"]
    # the attacker sends from A's very address and port (SO_REUSEPORT stands for a spoofed source)
    spoof = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    spoof.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    spoof.bind(c.sock_a.getsockname())
    try:
        made_up = ref.srtp_session(8, bytes(44), outbound=True)
        guessed = ref.srtp_session(8, c.other.send, outbound=True)  # a genuine key of another relay
        forged = [made_up.protect(rtp(LINK_VIDEO, 500 + i, 0, VP8_KEY, marker=True)) for i in range(10)]
        forged += [made_up.protect(rtp(0x6666, 1 + i, 0, VP8_KEY)) for i in range(10)]  # a new track
        forged += [guessed.protect(rtp(LINK_VIDEO, 600 + i, 0, VP8_KEY)) for i in range(10)]
        for pkt in forged:
            spoof.sendto(pkt, c.sock_b.getsockname())
        # the captured genuine packets, delivered by the attacker first (so B accepts them once) then replayed
        for pkt in captured + captured:
            spoof.sendto(pkt, c.sock_b.getsockname())

        def counted() -> bool:
            c.pump(1)
            d = c.b.counters()["drops"]
            return d["srtp_auth"] - before["srtp_auth"] >= 30 and d["srtp_replay"] - before["srtp_replay"] >= 4

        assert wait_until(counted, 2.0, 0.005), (before, c.b.counters()["drops"])
    finally:
        spoof.close()
    # nothing forged reached a subscriber: only the 4 captured packets (delivered once), each to 2 subscribers
    after = c.b.counters()
    print(f"spoofed source: 30 forged + 4 captured x2 sent; B drops srtp_auth "
          f"{after['drops']['srtp_auth'] - before['srtp_auth']}, srtp_replay "
          f"{after['drops']['srtp_replay'] - before['srtp_replay']}; forwarded {after['forwarded_packets'] - forwarded}")
    assert after["forwarded_packets"] - forwarded == 8
    assert not [e for e in c.events_b if e[0] == engine.EV_UNKNOWN_SSRC]


def test_a_hostile_node_with_another_relays_keys_is_dropped(cascade: Cascade) -> None:
    c = cascade
    hostile = udp()
    try:
        session = ref.srtp_session(8, c.other.send, outbound=True)
        for i in range(10):
            hostile.sendto(session.protect(rtp(LINK_VIDEO, 900 + i, 0, VP8_KEY)), c.sock_b.getsockname())

        def counted() -> bool:
            c.pump(1)
            return c.b.counters()["drops"]["unknown_address"] >= 10

        assert wait_until(counted, 2.0, 0.005), c.b.counters()["drops"]
    finally:
        hostile.close()
    assert c.b.counters()["forwarded_packets"] == 0
