"""The send-side bandwidth estimator (sfu/congestion/bwe.py), fed the way the node feeds it: transport-cc feedback every
100 ms about packets sent through a simulated path — a FIFO bottleneck of a given capacity (queueing delay grows
when the sender exceeds it), random loss, or a clean path. Then the node's use of it for layer choice: an upgrade
the estimate does not cover waits for a probe; REMB-only subscribers keep stepping up after a clean hold."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from sfu.config import NodeConfig
from sfu.congestion.bwe import (
    NORMAL,
    OVERUSING,
    UNDERUSING,
    InterArrival,
    OveruseDetector,
    PacketResult,
    SendSideBwe,
    TrendlineEstimator,
    probe_bitrate,
)
from sfu.congestion.probe_plan import PROBE_DURATION
from sfu.negotiation import sdp
from sfu.node import Node
from sfu.participant import Participant
from sfu.room import Room
from sfu.subscription import Subscription
from sfu.track import Layer, Track

PACKET = 1200


class Path:
    """Packets sent at `send_bps` through a bottleneck of `capacity_bps` (None: unlimited) with `loss`;
    feedback every 100 ms lists what arrived by then and what was lost."""

    def __init__(self, bwe: SendSideBwe, seed: int = 1) -> None:
        self.bwe = bwe
        self.rng = random.Random(seed)
        self.now = 0.0
        self.seq = 0
        self.free_at = 0.0            # when the bottleneck finishes what it already holds
        self.pending: list[PacketResult] = []
        self.estimates: list[float] = []

    def run(self, seconds: float, send_bps: float, capacity_bps: float | None = None, loss: float = 0.0,
            base_delay: float = 20.0) -> None:
        interval = PACKET * 8 * 1000 / send_bps
        end = self.now + seconds * 1000
        next_fb = self.now + 100
        t = self.now
        while t < end:
            lost = self.rng.random() < loss
            if capacity_bps is None:
                recv: float | None = t + base_delay + self.rng.uniform(0, 1)
            else:
                self.free_at = max(self.free_at, t) + PACKET * 8 * 1000 / capacity_bps
                recv = self.free_at + base_delay
            self.pending.append(PacketResult(self.seq, t, PACKET, None if lost else recv))
            self.seq += 1
            t += interval
            while next_fb <= t:
                self._feedback(next_fb)
                next_fb += 100
        self.now = end

    def _feedback(self, at: float) -> None:
        ready = [p for p in self.pending if p.recv_ms is None and p.send_ms < at - 50 or
                 p.recv_ms is not None and p.recv_ms <= at]
        if not ready:
            return
        last = max(p.seq for p in ready)
        batch = [p for p in self.pending if p.seq <= last]
        self.pending = [p for p in self.pending if p.seq > last]
        self.bwe.on_feedback(batch, at)
        self.estimates.append(self.bwe.estimate)


def test_steady_delay_lets_the_estimate_grow_with_what_is_sent():
    bwe = SendSideBwe(start_bps=300_000)
    path = Path(bwe)
    path.run(10, send_bps=600_000)
    assert bwe.state == NORMAL
    assert bwe.estimate > 600_000, bwe.estimate           # grew from 300 kb/s ...
    assert bwe.estimate <= 1.5 * 600_000 * 1.1 + 10_000    # ... but not far beyond what was acknowledged
    assert 540_000 < (bwe.acked_bps or 0) < 660_000


def test_growing_delay_is_overuse_and_the_estimate_falls_below_the_bottleneck():
    bwe = SendSideBwe(start_bps=2_000_000)
    path = Path(bwe)
    path.run(3, send_bps=1_000_000)                        # a clean start
    high = bwe.estimate
    states = []
    for _ in range(30):
        path.run(0.2, send_bps=1_000_000, capacity_bps=500_000)
        states.append(bwe.state)
    assert OVERUSING in states
    assert bwe.estimate < 500_000, bwe.estimate            # ~0.85 x what got through, not what was sent
    assert bwe.estimate > 250_000
    assert high > bwe.estimate


def test_the_queue_draining_is_underuse_then_the_estimate_recovers():
    bwe = SendSideBwe(start_bps=1_000_000)
    path = Path(bwe)
    path.run(3, send_bps=800_000, capacity_bps=500_000)   # a standing queue builds
    low = bwe.estimate
    states = []
    for _ in range(20):
        path.run(0.2, send_bps=200_000, capacity_bps=500_000)
        states.append(bwe.state)
    assert UNDERUSING in states                            # delay shrinking while the queue drains
    path.run(8, send_bps=400_000)
    assert bwe.state == NORMAL and bwe.estimate > low


def test_heavy_loss_decreases_and_low_loss_does_not():
    lossy = SendSideBwe(start_bps=1_000_000)
    Path(lossy, seed=2).run(5, send_bps=800_000, loss=0.25)
    clean = SendSideBwe(start_bps=1_000_000)
    Path(clean, seed=2).run(5, send_bps=800_000, loss=0.01)
    assert lossy.estimate < 700_000, lossy.estimate
    assert lossy.loss.last_fraction > 0.15
    assert clean.estimate >= 1_000_000


def test_probe_bitrate_is_the_rate_that_got_through():
    # 20 packets of 1000 B sent 1 ms apart (8 Mb/s) arriving 1 ms apart: 19 kB over 19 ms on both sides
    fast = [PacketResult(i, 100.0 + i, 1000, 150.0 + i) for i in range(20)]
    assert abs((probe_bitrate(fast) or 0) - 8_000_000) < 1
    # the same cluster squeezed through 2 Mb/s: arrivals 4 ms apart, the path is saturated -> 95 % of that
    slow = [PacketResult(i, 100.0 + i, 1000, 150.0 + 4 * i) for i in range(20)]
    assert abs((probe_bitrate(slow) or 0) - 0.95 * 2_000_000) < 1
    # too many lost, or too few packets: no result
    lost = [PacketResult(i, 100.0 + i, 1000, None if i % 3 else 150.0 + i) for i in range(20)]
    assert probe_bitrate(lost) is None
    assert probe_bitrate(fast[:3]) is None


def test_a_probe_lifts_the_estimate_and_overuse_brings_it_back():
    bwe = SendSideBwe(start_bps=300_000)
    path = Path(bwe)
    path.run(2, send_bps=300_000)
    assert bwe.estimate < 700_000
    bwe.on_probe(2_000_000)
    assert bwe.estimate >= 2_000_000
    path.run(2, send_bps=300_000)                          # quiet: the estimate holds (no decrease without cause)
    assert bwe.estimate >= 2_000_000
    for _ in range(15):
        path.run(0.2, send_bps=1_500_000, capacity_bps=800_000)
    assert bwe.estimate < 800_000


def test_groups_and_trend_and_threshold():
    ia = InterArrival()
    assert ia.update(0.0, 10.0, 100) is None
    assert ia.update(2.0, 12.0, 100) is None                # same 5 ms burst
    assert ia.update(10.0, 20.0, 100) is None               # second group opens; nothing to compare yet
    assert ia.update(20.0, 34.0, 100) == (8.0, 8.0, 20.0)   # groups 1 -> 2: sent 8 ms apart, arrived 8 apart
    trend = TrendlineEstimator()
    values = [trend.update(10.0, 12.0, 10.0 * i) for i in range(40)]   # 2 ms more queueing per group
    assert values[-1] > 12.5
    det = OveruseDetector()
    assert [det.detect(t, 10.0, 10.0 * i) for i, t in enumerate([20.0, 21.0, 22.0])][-1] == OVERUSING
    assert det.detect(-40.0, 10.0, 40.0) == UNDERUSING
    assert det.detect(0.0, 10.0, 50.0) == NORMAL


# ---------------- the node's use of it: probe before an upgrade the estimate does not cover ----------------

class FakeEngine:
    """Records what the node asks of the engine; padding 'sent' gets transport seqs 100.."""

    def __init__(self) -> None:
        self.switches: list[tuple[int, int]] = []
        self.padding: list[tuple[int, int]] = []
        self.next = 100

    def switch_layer(self, sub: int, track: int) -> None:
        self.switches.append((sub, track))

    def send_rtcp(self, peer: int, data: bytes) -> bool:
        return True

    def send_padding(self, sub: int, count: int, size: int) -> tuple[int, int, int]:
        self.padding.append((sub, count))
        first, self.next = self.next, self.next + count
        return first, self.next - 1, count * (size + 30)


def _setup(rtx: bool = True, transport_cc: bool = True) -> tuple[Node, Participant, Subscription, FakeEngine]:
    node = Node(NodeConfig())
    eng = FakeEngine()
    node.engine = eng  # type: ignore[assignment]
    now = time.monotonic()
    room = Room("t", "r")
    pub = Participant(id="pub", name="pub", room=room, peer=0, tenant="t")
    neg = sdp.Negotiated("0", "video", sdp.Codec(96, "VP8", 90000, feedback=["nack pli"]), 97, {})
    layers = [Layer(rid, rank, ssrc=10 + rank, index=rank, bitrate_bps=bps, last_active=now,
                    averaged=True)
              for rid, rank, bps in (("q", 0, 150_000), ("h", 1, 400_000), ("f", 2, 1_000_000))]
    track = Track(id="T", owner=pub, index=0, kind="video", mid="0", ssrc=10, codec="vp8", clock_rate=90000,
                  negotiated=neg, layers=layers, rid_ranks={"q": 0, "h": 1, "f": 2})
    p = Participant(id="s", name="s", room=room, peer=1, tenant="t")
    sub = Subscription(index=5, track=track, subscriber=p, mid="0", ssrc=20, rtx_ssrc=21 if rtx else None, pt=96,
                       rtx_pt=97 if rtx else None, cname="c", layer=layers[0], transport_cc=transport_cc)
    sub.layer_since = now - 10.0
    p.subscriptions["0"] = sub
    node.by_id = {"pub": pub, "s": p}
    return node, p, sub, eng


def test_remb_only_subscribers_step_up_after_a_clean_hold_without_probing():
    node, p, sub, eng = _setup()
    p.downlink.estimate_bps = 200_000                       # REMB: follows what is sent, says nothing about more
    node.allocation.select_for(p, time.monotonic())
    assert eng.switches == [(5, 1)] and eng.padding == [] and node.counts["probes"] == 0


def test_a_covered_upgrade_needs_no_probe():
    node, p, sub, eng = _setup()
    p.downlink.bwe = SendSideBwe()
    p.downlink.bwe.feedbacks = 1
    p.downlink.estimate_bps = 1_000_000
    node.allocation.select_for(p, time.monotonic())
    assert eng.switches == [(5, 1)] and node.counts["probes"] == 0


def test_after_a_probe_got_through_the_subscriber_goes_straight_to_the_layer_it_covers():
    """Issue 14: 1 s on q, an estimate of 2 Mb/s that a probe showed 0.2 s ago: straight to f (1 Mb/s), not h now
    and f 3 s later; the same estimate without a probe lately (it crept up) waits for the hold."""
    node, p, sub, eng = _setup()
    p.downlink.bwe = SendSideBwe()
    p.downlink.bwe.feedbacks = 1
    p.downlink.estimate_bps = 2_000_000
    now = time.monotonic()
    sub.layer_since = now - 1.0
    node.allocation.select_for(p, now)
    assert eng.switches == [] and node.counts["probes"] == 0
    p.downlink.probe_plan.through_at = now - 0.2
    node.allocation.select_for(p, now)
    assert eng.switches == [(5, 2)] and node.counts["probes"] == 0


def test_an_uncovered_upgrade_waits_for_a_probe_and_follows_its_result():
    async def run() -> tuple[Any, ...]:
        node, p, sub, eng = _setup()
        p.downlink.bwe = SendSideBwe()
        p.downlink.bwe.feedbacks = 1
        p.downlink.estimate_bps = 300_000                   # share 300k * 0.85 < 400k: not covered
        now = time.monotonic()
        node.allocation.select_for(p, now)
        assert eng.switches == [] and node.counts["probes"] == 1 and p.downlink.probe is not None
        target = p.downlink.probe.shape.target_bps
        await asyncio.sleep(PROBE_DURATION + 0.15)  # the padding goes out in bursts
        probe = p.downlink.probe
        assert probe is not None and probe.sent_done and probe.first == 100
        sent_padding = sum(c for _, c in eng.padding)
        node.allocation.select_for(p, now)                   # while the probe is out: no second probe, no switch
        assert node.counts["probes"] == 1 and eng.switches == []
        # the feedback: the cluster got through at ~1 Mb/s
        assert probe.last is not None
        n = (probe.last - probe.first + 1) & 0xFFFF
        probe.results = {i: PacketResult(i, 1000.0 + i, 1250, 1050.0 + 10 * i) for i in range(n)}
        node.congestion.prober.finish(p, time.monotonic())
        return target, sent_padding, p.downlink.estimate_bps, eng.switches, node.counts["probe_succeeded"]

    target, sent_padding, estimate, switches, ok = asyncio.run(run())
    assert abs(target - 400_000 / 0.85 * 1.2) < 1
    assert sent_padding > 5
    assert estimate >= 900_000 and ok == 1
    assert switches == [(5, 1)]


def test_a_failed_probe_backs_off_and_no_rtx_means_the_remb_way():
    node, p, sub, eng = _setup()
    p.downlink.bwe = SendSideBwe()
    p.downlink.bwe.feedbacks = 1
    p.downlink.estimate_bps = 300_000
    now = time.monotonic()
    p.downlink.probe_plan.not_before = now + 5
    node.allocation.select_for(p, now)
    assert eng.switches == [] and node.counts["probes"] == 0     # backing off: neither probe nor upgrade
    node, p, sub, eng = _setup(rtx=False)
    p.downlink.bwe = SendSideBwe()
    p.downlink.bwe.feedbacks = 1
    p.downlink.estimate_bps = 300_000
    node.allocation.select_for(p, time.monotonic())
    assert eng.switches == [(5, 1)] and node.counts["probes"] == 0  # cannot probe: a clean hold decides


def test_a_shapers_burst_does_not_pass_for_capacity():
    # 400 kb/s token bucket with a 4 KB burst: the first 14 packets of a 500 kb/s probe arrive at once, the rest
    # at 400 kb/s; the probe must measure the 400, not the burst
    packets = []
    t_free = 0.0
    bucket = 4096.0
    for i in range(60):
        send = i * 291 * 8 / 500.0  # ms at 500 kb/s
        if bucket >= 291:
            bucket -= 291
            recv = send + 1.0
        else:
            t_free = max(t_free, send) + 291 * 8 / 400.0
            recv = t_free + 1.0
        packets.append(PacketResult(i, send, 291, recv))
    rate = probe_bitrate(packets)
    assert rate is not None and rate < 450_000, rate


def test_a_remb_catching_up_after_an_upgrade_is_not_congestion_but_a_falling_or_stuck_one_is():
    from sfu.congestion.downlink import remb_falling

    def upgraded(remb_then: int) -> tuple[Node, Participant, Subscription, FakeEngine, float]:
        node, p, sub, eng = _setup()
        now = time.monotonic()
        sub.layer = sub.track.layers[1]              # on h (400 kb/s) since an upgrade 3 s ago
        sub.layer_since = sub.upgraded_at = now - 3.0
        p.downlink.remb_at_upgrade = remb_then
        return node, p, sub, eng, now

    # the receiver's REMB grew from 235k to 300k since the upgrade: still catching up, h stays
    node, p, sub, eng, now = upgraded(235_000)
    p.downlink.estimate_bps = 300_000
    node.allocation.select_for(p, now)
    assert eng.switches == []
    # the same REMB that has not grown in 3 s: the path does not carry h
    node, p, sub, eng, now = upgraded(300_000)
    p.downlink.estimate_bps = 300_000
    node.allocation.select_for(p, now)
    assert eng.switches == [(5, 0)]
    # a REMB cut by the receiver (overuse) counts at once
    node, p, sub, eng, now = upgraded(235_000)
    for t, bps in ((now - 1.0, 330_000), (now - 0.5, 340_000)):
        remb_falling(p.downlink.remb_recent, t, bps)
    p.downlink.estimate_bps = 280_000
    p.downlink.remb_falling = remb_falling(p.downlink.remb_recent, now, 280_000)
    assert p.downlink.remb_falling
    node.allocation.select_for(p, now)
    assert eng.switches == [(5, 0)]
