"""Where a node's packets went (sfu/accounting.py), over a real relay link between two engines: what the home
received from its publisher, what it sent across, what the far node received and what its viewer got — and a
packet a path attacker takes off the link shows as a hole on the link, not at the viewer nor at the publisher.
A datagram forged onto the link counts nowhere."""

from __future__ import annotations

import socket
import struct

from sfu.accounting import media_accounting
from sfu.participant import Participant
from sfu.subscription import Subscription
from sfu.track import Layer, Track
from tests.node.cascade.test_link import (
    AUDIO_SSRC,
    KEY,
    LAYER_SSRCS,
    VP8_KEY,
    Pair,
    drain,
    pair,
    rtp,
    subscribe,
)
from tests.support.waiting import wait_until

__all__ = ["pair"]  # the fixture


def track(owner: Participant, tid: str, kind: str, indexes: tuple[int, ...]) -> Track:
    return Track(tid, owner, indexes[0], kind, "0", 1, "vp8" if kind == "video" else "opus", 90000, None,  # type: ignore[arg-type]
                 layers=[Layer("", rank, 1 + rank, index) for rank, index in enumerate(indexes)])


def take(sock: socket.socket) -> bool:
    """Reads one datagram off `sock` if one is there."""
    try:
        return bool(sock.recv(2048, socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False


def test_every_packet_is_placed_on_its_hop_and_a_packet_taken_off_the_link_is_the_links(pair: Pair) -> None:
    p = pair
    alice = Participant(id="alice", name="Alice", room=None, peer=0, tenant=KEY[0])  # type: ignore[arg-type]
    cam_a, mic_a = track(alice, "cam", "video", p.local["cam"].indexes), track(alice, "mic", "audio", p.local["mic"].indexes)
    alice.published = {"0": cam_a, "1": mic_a}
    sealed, _ = p.link_a.apply(KEY, {"cam": {0}, "mic": {0}}, p.local)
    relayed = [p.link_b.receive(m) for m in sealed]
    cam_b, mic_b = relayed[0].indexes, relayed[1].indexes  # type: ignore[union-attr]
    # on B: alice as the link brings her in, and a viewer taking her camera's low layer and her microphone
    far_alice = Participant(id="alice", name="Alice", room=None, peer=0, tenant=KEY[0], relayed_from="eu-1-a")  # type: ignore[arg-type]
    far_alice.published = {"0": track(far_alice, "cam", "video", cam_b), "1": track(far_alice, "mic", "audio", mic_b)}
    sock_v, down_v, sub_v = subscribe(p, cam_b[0], 1, 96)
    sock_m, down_m, sub_m = subscribe(p, mic_b[0], 1 + 1, 111)
    viewer = Participant(id="viewer", name="Viewer", room=None, peer=1, tenant=KEY[0])  # type: ignore[arg-type]
    viewer.subscriptions = {
        "0": Subscription(sub_v, far_alice.published["0"], viewer, "0", 0x9001, None, 96, None, "c"),
        "1": Subscription(sub_m, far_alice.published["1"], viewer, "1", 0x9002, None, 111, None, "c"),
    }
    got_v: list[bytes] = []
    got_m: list[bytes] = []
    stolen = 0

    def forwarded(count: int) -> bool:
        p.a.poll()
        return int(p.a.counters()["rx_packets"]) >= count

    def all_in() -> bool:
        p.pump()
        drain(p, sock_v, down_v, got_v)
        drain(p, sock_m, down_m, got_m)
        return len(got_v) + len(got_m) >= 20 - stolen

    for seq in range(10):
        for layer, ssrc in enumerate(LAYER_SSRCS):
            p.pub.sendto(p.up.protect(rtp(ssrc, seq, VP8_KEY + bytes([layer]))), p.sa.getsockname())
        p.pub.sendto(p.up.protect(rtp(AUDIO_SSRC, seq, b"opus", pt=111, level=5)), p.sa.getsockname())
        assert wait_until(lambda s=seq: forwarded(4 * (s + 1)), 2.0, 0.002)  # type: ignore[misc]
        if seq == 4:  # a path attacker takes one datagram off the link, before B reads it
            assert wait_until(lambda: take(p.sb), 2.0, 0.002)
            stolen += 1
        # ... and forges one onto it: not under the link's keys, it counts nowhere
        p.pub.sendto(struct.pack("!BBHII", 0x80, 96, seq, 0, LAYER_SSRCS[0]) + bytes(40), p.sb.getsockname())
        p.pump()
    assert wait_until(all_in, 2.0, 0.005)

    home = media_accounting(p.a, [alice], {"eu-2-a": p.link_a})
    far = media_accounting(p.b, [far_alice, viewer], {"eu-1-a": p.link_b})
    # from the publisher: its 3 layers and its audio, 10 each, all there
    assert (home.from_publishers.received, home.from_publishers.expected) == (40, 40)
    # across: the low layer and the audio crossed (20); B received 19 of the 20 their sequence numbers say were sent
    sent, received = home.links["eu-2-a"]
    assert sent == 20 and (received.received, received.expected) == (0, 0)  # nothing came back from B
    far_sent, far_received = far.links["eu-1-a"]
    assert far_sent == 0 and (far_received.received, far_received.expected) == (20 - stolen, 20)
    # B forwarded all it received, and the viewer got all of that: the loss is the link's alone
    assert far.to_participants["video"] + far.to_participants["audio"] == 20 - stolen == len(got_v) + len(got_m)
    assert not far.from_publishers.received  # alice's tracks on B are the link's, counted there
    for sock in (sock_v, sock_m):
        sock.close()
