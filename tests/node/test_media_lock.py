"""The event loop takes the media lock as seldom as it can (issue 14, "joins never starve the node").

Every engine call from the loop takes the media lock, which a media thread holds while it fans a batch out to
every subscriber — so each take may wait for a batch that grows with the room, and under CPU contention for a
media thread that is not even running. A join storm profile of 300 peers found those waits the loop's largest
cost (0.9 s of 8,100 takes): three takes per participant per second for reports and keyframe checks, one per
record of every DTLS flight. Now the per-second slice takes it once (`native.threaded.held`), a DTLS flight goes
out on the node's socket without it, and the DTLS retransmission timers look only at handshakes under way.

Takes are counted by the engine's own lock method; before these changes the slice below took it at least five
times for two participants and the DTLS flight once per record — each test fails on the old code.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from native.threaded import ThreadedEngine, held
from sfu.transport.dtls import Certificate, DtlsSession
from tests.harness import publisher_and_subscriber, running_node

pytestmark = pytest.mark.timeout(120)


def count_takes(engine: Any) -> Callable[[], int]:
    """Counts the engine's lock takes from now on (the instance's own `_lock`, which every locked call and
    `held` go through); returns a reader of the count."""
    takes = [0]
    base = type(engine)._lock

    def counted() -> None:
        takes[0] += 1
        base(engine)

    engine._lock = counted
    return lambda: takes[0]


def first_record(datagram: bytes) -> bytes:
    """The body of a datagram's first DTLS record (after its 13-byte header: type, version, epoch, sequence
    number, length): a retransmitted flight repeats the bodies under new sequence numbers."""
    return datagram[13:13 + int.from_bytes(datagram[11:13], "big")]


def test_held_takes_the_lock_once_for_a_run_of_calls_and_nests() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        e = ThreadedEngine(s.fileno(), 4, 4, 4, False)
        takes = count_takes(e)
        e.add_peer(1)
        e.twcc_state(1)
        assert takes() == 2, "outside `held` each call takes the lock"
        with held(e):
            e.add_peer(2)
            with held(e):  # re-entrant on the holding thread (a second take of the mutex would deadlock)
                assert e.twcc_state(2) == (0, 0, 0)
            e.counters()
        assert takes() == 3, "a run of calls inside `held` takes the lock once"
        e.remove_peer(2)
        assert takes() == 4, "after `held` calls take it again"


def test_the_per_second_slice_takes_the_media_lock_once() -> None:
    async def run() -> int:
        async with running_node() as rn:
            pub, sub = await publisher_and_subscriber(rn)
            try:
                node = rn.node
                everyone = list(node.by_id.values())
                assert len(everyone) == 2 and all(p.media_ready for p in everyone)
                takes = count_takes(node.engine)
                node._every_second(everyone, time.monotonic())  # no await until counted: nothing else runs
                return takes()
            finally:
                await sub.close()
                await pub.close()

    takes = asyncio.run(run())
    assert takes == 1, f"the slice of 2 participants took the media lock {takes} times (one per call before)"


def test_an_offer_takes_the_media_lock_once() -> None:
    """A subscriber's offer for a publisher's audio and video: the peer's extensions and both subscriptions go
    into the engine under one take (three before)."""

    async def run() -> tuple[int, int]:
        from loadtests.bench.peer import Subscriber

        async with running_node() as rn:
            pub, sub = await publisher_and_subscriber(rn)
            bench = Subscriber("bench")
            try:
                node = rn.node
                p = node.join(rn.signalling.verifier.verify(rn.token(name="bench")), admitted=True)
                tracks = {t.kind: t.id for t in p.room.tracks()}
                takes = count_takes(node.engine)
                node.handle_offer(p, bench.offer(), {"0": tracks["audio"], "1": tracks["video"]})
                return takes(), len(p.subscriptions)
            finally:
                bench.close()
                await sub.close()
                await pub.close()

    takes, subscriptions = asyncio.run(run())
    assert subscriptions == 2
    assert takes == 1, f"the offer took the media lock {takes} times"


def test_a_dtls_flight_goes_out_on_the_socket_without_the_lock_and_is_retransmitted() -> None:
    """A participant's handshake as on_stun starts it; the peer (a plain socket) sends a ClientHello and never
    answers the node's flight. The flight reaches the bound address; a record flushed takes no media lock; the
    node's DTLS timer sends the flight again (the timers now look only at handshakes under way)."""

    async def run() -> tuple[bytes, int, bytes, int]:
        async with running_node() as rn:
            node = rn.node
            p = node.join(rn.signalling.verifier.verify(rn.token()), admitted=True)
            peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(30)
            try:
                hello: list[bytes] = []
                DtlsSession(Certificate(), [("sha-256", "00")], hello.append, server=False).start()
                p.remote_fingerprints = [("sha-256", "00")]
                node.connectivity._bind(p, peer.getsockname(), time.monotonic())
                p.handshake = node.dtls_handshakes.new(
                    lambda send: DtlsSession(node.certificate, p.remote_fingerprints, send, server=True))
                p.dtls = p.handshake.session
                node.connectivity.handshaking[id(p)] = p
                for record in hello:
                    node.connectivity.on_dtls(p.peer, record)
                first = await asyncio.to_thread(peer.recv, 2048)
                # a record flushed now: on the socket, no lock (synchronous: nothing else runs meanwhile)
                takes = count_takes(node.engine)
                p.handshake.outgoing.append(b"\x16probe")
                node.connectivity._flush(p)
                flush_takes = takes()
                seen = 0
                again = b""
                for _ in range(50):  # bounded: the rest of the flight, the probe, then the retransmission
                    data = await asyncio.to_thread(peer.recv, 2048)
                    seen += 1
                    if first_record(data) == first_record(first):  # the same message, a new record number
                        again = data
                        break
                return first, flush_takes, again, seen
            finally:
                peer.close()

    first, takes, again, seen = asyncio.run(run())
    assert first[0] == 22, "the node's flight (a DTLS handshake record) reached the bound address"
    assert takes == 0, f"flushing a DTLS record took the media lock {takes} times"
    assert again, f"the flight was not retransmitted ({seen} datagrams read)"


def test_the_retransmission_timers_forget_finished_handshakes() -> None:
    async def run() -> int:
        async with running_node() as rn:
            pub, sub = await publisher_and_subscriber(rn)
            try:
                rn.node.connectivity.retransmit_handshakes()
                return len(rn.node.connectivity.handshaking)
            finally:
                await sub.close()
                await pub.close()

    assert asyncio.run(run()) == 0, "connected participants are still visited by the retransmission timers"
