"""Several media workers: the same forwarding whatever worker owns whom, in parallel and under attack.

- The forwarding script of test_engine_forwarding (keyframe wait, reordering, RTCP, STUN, DTLS, an unknown SSRC,
  RTX) goes through a two-worker engine with the publisher and the subscriber on either worker: the subscriber
  decrypts what it gets from one worker, and the counters (hand-offs included) match the reference's model.
- On real media threads, one track's fan-out spans both workers and every subscriber gets every packet in order.
- A publisher flooding a worker that does not keep up fills that worker's inbox: bounded, counted
  (pipe_full), and forwarding resumes when it drains.
- A track removed while its packets wait in another worker's inbox: none of them reaches the subscribers of the
  track that takes its index (each item carries the track's generation).
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pylibsrtp
import pytest

from native import reference as ref
from tests.native.loopback import KEY_LENGTHS
from tests.native.test_engine_forwarding import PUB, SUB, Rig, run_script, without_abs_send
from tests.support.waiting import wait_until

engine = pytest.importorskip("native.engine")
from native.threaded import MediaThread, ThreadedEngine  # noqa: E402  (needs the compiled engine)


class OnWorkers:
    """A forwarder whose add_peer puts each peer on the worker `owners` names (the rest as the forwarder's)."""

    def __init__(self, fwd: Any, owners: dict[int, int]) -> None:
        self._fwd, self._owners = fwd, owners

    def add_peer(self, peer: int, worker: int = 0) -> None:
        self._fwd.add_peer(peer, self._owners.get(peer, worker))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fwd, name)


def two_worker_rig(kind: str, owners: dict[int, int]) -> Rig:
    def make(s: socket.socket) -> Any:
        if kind == "native":
            return OnWorkers(engine.Engine(s.fileno(), max_peers=8, max_tracks=8, max_subs=8, workers=2), owners)
        return OnWorkers(ref.ReferenceForwarder(s, workers=2), owners)

    return Rig(kind, make)


@pytest.mark.parametrize("owners", [{PUB: 0, SUB: 1}, {PUB: 1, SUB: 0}, {PUB: 1, SUB: 1}],
                         ids=["sub-on-1", "pub-on-1", "both-on-1"])
def test_the_script_forwards_the_same_whoever_owns_whom(owners: dict[int, int]) -> None:
    results = {}
    for kind in ("native", "reference"):
        r = two_worker_rig(kind, owners)
        try:
            results[kind] = run_script(r)
            results[kind]["lanes"] = r.fwd.worker_counters()
            results[kind]["owners"] = [r.fwd.peer_worker(p) for p in (PUB, SUB)]
        finally:
            r.close()
    one = Rig("native")
    try:
        single = run_script(one)
    finally:
        one.close()
    native, reference = results["native"], results["reference"]
    assert native["owners"] == [owners[PUB], owners[SUB]]
    # what the subscriber decrypts is what one worker alone sends it
    assert [without_abs_send(p) for p in native["subscriber"]] == [without_abs_send(p) for p in single["subscriber"]]
    assert [without_abs_send(p) for p in native["subscriber"]] == [without_abs_send(p) for p in reference["subscriber"]]
    for key in ("rtx_sent", "counters", "video_stats", "audio_level", "subs", "lanes"):
        assert native[key] == reference[key], key
    assert [(k, p, d) for k, p, _, d in native["events"]] == [(k, p, d) for k, p, _, d in single["events"]]
    if owners[PUB] != owners[SUB]:
        assert native["counters"]["piped"] > 0          # the fan-out really crossed workers


def test_a_worker_index_outside_the_engine_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for bad in (0, engine.MAX_WORKERS + 1):
            with pytest.raises(ValueError):
                engine.Engine(s.fileno(), 4, 4, 4, False, workers=bad)
            with pytest.raises(ValueError):
                ref.ReferenceForwarder(s, workers=bad)
        e = engine.Engine(s.fileno(), 4, 4, 4, False, workers=2)
        for fwd in (e, ref.ReferenceForwarder(s, workers=2)):
            with pytest.raises(ValueError):
                fwd.add_peer(0, 2)
            with pytest.raises(ValueError):
                fwd.add_peer(1, -1)
            assert fwd.peer_worker(0) == -1
        with pytest.raises(ValueError):
            e.serve(lambda events: None, 2)


# ---- on real media threads ----

class Fanout:
    """A ThreadedEngine with `workers` workers, one publisher (peer 0, worker 0) and subscribers spread over
    the workers, each a loopback socket collecting what it decrypts on its own thread (and counting what its SRTP
    refuses: every test asserts none)."""

    def __init__(self, workers: int, subscribers: int, start: tuple[int, ...] | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.eng = ThreadedEngine(self.sock.fileno(), 64, 16, 64, True, workers=workers)
        n = KEY_LENGTHS[1]
        self.up = os.urandom(n)
        self.pub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.pub.bind(("127.0.0.1", 0))
        self.eng.add_peer(0, 0)
        self.eng.set_peer_address(0, "127.0.0.1", self.pub.getsockname()[1])
        self.eng.set_peer_srtp(0, 1, self.up, os.urandom(n))
        self.protect = ref.srtp_session(1, self.up, outbound=True)
        self.subs: list[socket.socket] = []
        self.got: list[list[bytes]] = []
        self.rejected: list[int] = []  # packets a subscriber's SRTP refused (a replayed index, a bad tag)
        self._stop = threading.Event()
        self._readers: list[threading.Thread] = []
        for i in range(subscribers):
            peer, key = 1 + i, os.urandom(n)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.05)
            self.eng.add_peer(peer, i % workers)
            self.eng.set_peer_address(peer, "127.0.0.1", s.getsockname()[1])
            self.eng.set_peer_srtp(peer, 1, os.urandom(n), key)
            self.subs.append(s)
            self.got.append([])
            self.rejected.append(0)
            t = threading.Thread(target=self._read, args=(i, s, ref.srtp_session(1, key, outbound=False)),
                                 daemon=True)
            t.start()
            self._readers.append(t)
        self.media = MediaThread(self.eng, lambda events: None)
        self._threads: list[threading.Thread] = []
        if start is None:
            self.media.start()
        else:   # only some workers run (the others' inboxes fill)
            self._threads = [threading.Thread(target=self.eng.serve, args=(lambda ev: None, w), daemon=True)
                             for w in start]
            for t in self._threads:
                t.start()

    def _read(self, i: int, s: socket.socket, down: Any) -> None:
        while not self._stop.is_set():
            try:
                data, _ = s.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            try:
                self.got[i].append(down.unprotect(data))
            except pylibsrtp.Error:
                # a packet the subscriber's SRTP refuses: an index it already had (a stale or repeated packet) or
                # a bad tag; counted, and every test asserts there is none (the reader lives on to tell it)
                self.rejected[i] += 1

    def assert_none_rejected(self) -> None:
        assert self.rejected == [0] * len(self.subs), f"packets a subscriber's SRTP refused: {self.rejected}"

    def subscribe_all(self, track: int, ssrc: int) -> None:
        """Every subscriber takes `track` (published as `ssrc`) as a new stream of its own, as the node gives a new
        subscription a new SSRC: (the publisher's SSRC << 8) + i, with its own replay window at the subscriber."""
        self.eng.add_track(track, 0, ssrc, engine.CODEC_OPUS, 48000)
        for i in range(len(self.subs)):
            self.eng.add_subscription(track * 16 + i, track, 1 + i, (ssrc << 8) + i, 111)

    def send(self, ssrc: int, seq: int, payload: bytes = b"opus" * 20) -> None:
        pkt = struct.pack("!BBHII", 0x80, 111, seq, seq * 960, ssrc) + payload
        self.pub.sendto(self.protect.protect(pkt), self.sock.getsockname())

    def close(self) -> None:
        self.eng.stop_serving()
        for t in self._threads:
            t.join(2)
        self.media.stop() if not self._threads else None
        self._stop.set()
        for t in self._readers:
            t.join(2)
        for s in (*self.subs, self.pub, self.sock):
            s.close()


@pytest.fixture
def fanout(request: pytest.FixtureRequest) -> Iterator[Fanout]:
    f = Fanout(*request.param)
    yield f
    f.close()


@pytest.mark.parametrize("fanout", [(2, 6), (3, 7)], indirect=True, ids=["2-workers", "3-workers"])
def test_one_tracks_fanout_spans_every_worker_in_order(fanout: Fanout) -> None:
    fanout.subscribe_all(0, 0x1234)
    for seq in range(300):
        fanout.send(0x1234, seq)
    wait_until(lambda: all(len(g) >= 300 for g in fanout.got), timeout=10, message="every subscriber gets 300")
    for g in fanout.got:
        assert [struct.unpack_from("!H", p, 2)[0] for p in g] == list(range(300))
    lanes = fanout.eng.worker_counters()
    assert all(fwd > 0 for _, fwd, _, _ in lanes), lanes          # every worker sent its own subscribers' share
    assert sum(fwd for _, fwd, _, _ in lanes) == 300 * len(fanout.subs)
    assert fanout.eng.counters()["drops"]["pipe_full"] == 0
    fanout.assert_none_rejected()


@pytest.mark.parametrize("fanout", [(2, 2, (0,))], indirect=True, ids=["worker-1-stalled"])
def test_a_flood_for_a_stalled_worker_is_bounded_and_counted(fanout: Fanout) -> None:
    # worker 1 does not run: what worker 0 hands it waits in its inbox, up to INBOX_SIZE (1024), then drops
    fanout.subscribe_all(0, 0x1234)
    for seq in range(1500):
        fanout.send(0x1234, seq)
    wait_until(lambda: fanout.eng.counters()["drops"]["pipe_full"] >= 1500 - 1024 and len(fanout.got[0]) >= 1500,
               timeout=10, message="the overflow is counted; worker 0's subscriber gets all")
    assert fanout.eng.counters()["drops"]["pipe_full"] == 1500 - 1024
    assert fanout.got[1] == []
    # the stalled worker starts: it drains what its inbox held, in order, then forwards live again
    t = threading.Thread(target=fanout.eng.serve, args=(lambda ev: None, 1), daemon=True)
    t.start()
    fanout._threads.append(t)
    wait_until(lambda: len(fanout.got[1]) >= 1024, timeout=10, message="worker 1 drains its inbox")
    fanout.send(0x1234, 1500)
    wait_until(lambda: len(fanout.got[1]) == 1025, timeout=10, message="worker 1 forwards live again")
    assert [struct.unpack_from("!H", p, 2)[0] for p in fanout.got[1]] == [*range(1024), 1500]
    fanout.assert_none_rejected()


@pytest.mark.parametrize("fanout", [(2, 2, (0,))], indirect=True, ids=["worker-1-stalled"])
def test_a_removed_tracks_packets_never_reach_the_track_that_takes_its_index(fanout: Fanout) -> None:
    # packets of the old track wait in worker 1's inbox while Python removes the track and publishes another
    # (another SSRC) under the same index to the same subscribers: worker 1 must drop the old ones
    fanout.subscribe_all(0, 0x1111)
    for seq in range(100):
        fanout.send(0x1111, seq, b"old!" * 20)
    wait_until(lambda: len(fanout.got[0]) >= 100 and fanout.eng.worker_counters()[0][2] >= 100, timeout=10,
               message="worker 0 forwards and hands 100 packets on")
    fanout.eng.remove_track(0)
    fanout.subscribe_all(0, 0x2222)
    t = threading.Thread(target=fanout.eng.serve, args=(lambda ev: None, 1), daemon=True)
    t.start()
    fanout._threads.append(t)
    for seq in range(100, 110):
        fanout.send(0x2222, seq, b"new!" * 20)
    wait_until(lambda: len(fanout.got[1]) >= 10 and fanout.eng.worker_counters()[1][3] >= 110, timeout=10,
               message="worker 1 takes the stale items and forwards the new track")
    assert all(p.endswith(b"new!") for p in fanout.got[1]), [p[-4:] for p in fanout.got[1]][:5]
    assert len(fanout.got[1]) == 10
    fanout.assert_none_rejected()
