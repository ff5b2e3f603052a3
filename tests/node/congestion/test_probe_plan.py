"""The probe plan (sfu/congestion/probe_plan.py) in simulated time, against a simulated token-bucket shaper like
`tc tbf rate 400kbit burst 4kb` (tests/cluster/test_throttled_subscriber.py): the media of the low layer goes on,
each probe adds padding for its duration, the shaper lets its bucket through, queues up to its limit and drops
the rest; the probe's feedback (what arrived, when) is measured with probe_bitrate as the node does."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from sfu.congestion.bwe import PacketResult, probe_bitrate, probe_queueing_ms
from sfu.congestion.probe import PROBE_PADDING, PROBE_TICK
from sfu.congestion.probe_plan import (
    PROBE_BOOST_MAX,
    PROBE_DURATION,
    PROBE_HELD_DROP,
    PROBE_HELD_DURATION,
    PROBE_HELD_INTERVAL,
    PROBE_MARGIN,
    PROBE_RISE,
    PROBE_SHORT_RETRY,
    PROBE_STEP,
    ProbePlan,
    ProbeShape,
)

HEADROOM = 0.85
LOW, MID, TOP = 190_000, 490_000, 1_200_000  # the throttled test's q, h, f (with audio and headers)
MEDIA_PACKET = 800  # bytes: a frame of the low layer at 30 fps is about one packet
PADDING = PROBE_PADDING + 36


def need(layer_bps: float) -> float:
    return layer_bps / HEADROOM * PROBE_MARGIN


@dataclass
class Shaper:
    """A token bucket (rate, burst) with a FIFO of at most `queue` bytes; rate None: no limit."""

    rate_bps: float | None
    burst: int = 4096
    queue: int = 5000  # tbf: rate x latency (400 kb/s x 100 ms)
    tokens: float = 4096.0
    last_out: float = 0.0  # when the last packet left
    waiting: list[tuple[float, int]] = field(default_factory=list)  # (leaves at, size) of packets queued

    def send(self, t: float, size: int) -> float | None:
        """A packet offered at t (s): when it leaves, or None when the queue is full (dropped)."""
        if self.rate_bps is None:
            return t
        rate = self.rate_bps / 8
        self.waiting = [(out, n) for out, n in self.waiting if out > t]
        start = max(t, self.last_out)
        tokens = min(self.burst, self.tokens + rate * (start - self.last_out))
        if tokens >= size:
            out, left = start, tokens - size
        else:
            if sum(n for _, n in self.waiting) + size > self.queue:
                return None
            out, left = start + (size - tokens) / rate, 0.0
        self.tokens, self.last_out = left, out
        self.waiting.append((out, size))
        return out


@dataclass
class Round:
    at: float
    shape: ProbeShape
    ceiling_before: float | None
    rate: float | None
    sent_bps: float  # media and padding sent during the probe
    lost: int  # packets the shaper dropped during the probe (media among them)
    through: bool


class Link:
    """A subscriber's downlink in simulated time: media at `media_bps`, probes as the plan says."""

    def __init__(self, shaper: Shaper, forge: bool = False) -> None:
        self.shaper = shaper
        self.forge = forge  # the subscriber reports every packet as arrived at once (forged feedback)
        self.plan = ProbePlan()
        self.t = 0.0
        self.seq = 0
        self.next_frame = 0.0
        self.rounds: list[Round] = []

    def _packet(self, t: float, size: int) -> PacketResult:
        out = self.shaper.send(t, size)
        self.seq += 1
        if self.forge:
            return PacketResult(self.seq, t * 1000, size, 0.05 * self.seq)  # "arrived" 50 µs apart
        return PacketResult(self.seq, t * 1000, size, None if out is None else out * 1000 + 20.0)

    def media_until(self, end: float, media_bps: float, into: list[PacketResult] | None = None) -> None:
        frame = media_bps / 8 / 30
        while self.next_frame < end:
            for _ in range(max(1, round(frame / MEDIA_PACKET))):
                r = self._packet(self.next_frame, round(frame / max(1, round(frame / MEDIA_PACKET))))
                if into is not None:
                    into.append(r)
            self.next_frame += 1 / 30
        self.t = end

    def probe(self, need_bps: float, media_bps: float) -> Round:
        """One probe now: padding in PROBE_TICK bursts with the media, its feedback 100 ms after its end."""
        ceiling = self.plan.ceiling_bps
        shape = self.plan.shape(need_bps, media_bps)
        start = self.t
        packets: list[PacketResult] = []
        sent = 0.0
        for i in range(round(shape.duration / PROBE_TICK)):
            t = start + i * PROBE_TICK
            self.media_until(t, media_bps, packets)
            due = shape.padding_bps / 8 * (t - start + PROBE_TICK) - sent
            for _ in range(int(due // PADDING)):
                packets.append(self._packet(t, PADDING))
                sent += PADDING
        self.media_until(start + shape.duration + 0.1, media_bps)
        rate = probe_bitrate(packets)
        through = self.plan.learn(shape, rate, self.t, probe_queueing_ms(packets))
        sent_bps = sum(p.size for p in packets) * 8 / shape.duration
        lost = sum(1 for p in packets if p.recv_ms is None)
        r = Round(start, shape, ceiling, rate, sent_bps, lost, through)
        self.rounds.append(r)
        return r

    def run(self, until: float, layers: list[float], layer: int) -> int:
        """Until `until` (s) or the top of `layers`: probe whenever the plan allows towards the next layer up;
        an upgrade when a probe that got through shows room for it. The layer reached."""
        while self.t < until and layer + 1 < len(layers):
            if self.plan.ready(self.t):
                r = self.probe(need(layers[layer + 1]), layers[layer])
                if r.through and (r.rate or 0) >= need(layers[layer + 1]) / PROBE_MARGIN:
                    layer += 1
                    continue
            self.media_until(min(self.t + 0.1, until), layers[layer])
        return layer


@pytest.mark.parametrize("burst", [2000, 4096])
def test_behind_a_token_bucket_probes_after_the_first_failure_lose_nothing_and_a_lift_is_followed_in_seconds(
        burst: int) -> None:
    # the full-rate probe for h (~690 kb/s for 200 ms) behind a 400 kb/s bucket measures the limit (and, with the
    # smaller bucket, drops packets, media among them); the probes after it stay 25 % above what it measured, last
    # long enough for the queue to show once the bucket is spent, drop nothing, and come every 2.5 s without
    # backing off further; once the limit lifts, the next one shows it and the top layer follows within seconds
    link = Link(Shaper(400_000, burst=burst, tokens=burst))
    layers = [LOW, MID, TOP]
    assert link.run(20.0, layers, 0) == 0
    first, later = link.rounds[0], link.rounds[1:]
    assert first.shape.kind == "full" and not first.through and (first.lost > 0) == (burst < 4096)
    assert first.rate is not None and first.rate < 400_000
    assert len(later) >= 5, [r.at for r in link.rounds]                     # cheap: no 10 s back-off
    for r in later:
        assert r.ceiling_before is not None and r.shape.kind == "held" and not r.through, r
        assert r.shape.target_bps <= r.ceiling_before * PROBE_STEP + 1
        assert r.sent_bps <= r.ceiling_before * PROBE_STEP * 1.05, r      # the media's own jitter aside
        assert r.lost == 0, r                                             # nothing dropped: no stall
    lifted = link.t
    link.shaper.rate_bps = None
    assert link.run(lifted + 30.0, layers, 0) == 2
    after = [r for r in link.rounds if r.at >= lifted]
    top_at = after[-1].at + after[-1].shape.duration + 0.1
    assert top_at - lifted <= PROBE_HELD_INTERVAL + PROBE_HELD_DURATION + 2.0, [(r.at - lifted, r) for r in after]
    assert len(after) <= 4 and all(r.through for r in after)


def test_a_held_probe_that_gets_through_without_queueing_lifts_the_ceiling_and_the_next_climbs_at_once():
    plan = ProbePlan()
    full = plan.shape(need(MID), LOW)
    assert full.kind == "full" and full.target_bps == need(MID)
    assert not plan.learn(full, 380_000, 10.0, queued_ms=80.0)  # failed: 380 measured, the ceiling
    assert plan.ceiling_bps == 380_000 and not plan.ready(11.0) and plan.ready(10.0 + PROBE_HELD_INTERVAL)
    held = plan.shape(need(MID), LOW)
    assert held.kind == "held" and held.target_bps == 380_000 * PROBE_STEP
    assert held.padding_bps == held.target_bps - LOW and held.duration == PROBE_HELD_DURATION
    assert not plan.learn(held, 395_000, 12.5, queued_ms=40.0)  # not 10 % above, and queued: still there
    assert plan.ceiling_bps == 380_000 and plan.failures == 0 and not plan.ready(13.0)
    assert not plan.learn(held, 470_000, 15.0, queued_ms=8.0)   # through the bucket's burst, but it queued
    assert plan.ceiling_bps == 380_000 and not plan.rising and not plan.ready(16.0)
    assert not plan.learn(held, 330_000, 17.5, queued_ms=0.0)   # sent too little to say: the ceiling stands
    assert plan.ceiling_bps == 380_000 and not plan.rising
    assert plan.learn(held, 470_000, 20.0, queued_ms=1.0)       # through, no queue: the limit lifted
    assert plan.ceiling_bps == 470_000 and plan.rising and plan.ready(20.0)    # the next probe at once ...
    rise = plan.shape(need(TOP), MID)
    assert rise.kind == "rising" and rise.target_bps == 470_000 * PROBE_RISE  # ... above what got through
    assert rise.duration == PROBE_DURATION
    assert plan.learn(rise, 700_000, 20.4, queued_ms=0.0) and plan.ceiling_bps == 700_000 and plan.ready(20.4)
    rise = plan.shape(need(TOP), MID)
    assert plan.learn(rise, 1_200_000, 20.8, queued_ms=1.0) and plan.ceiling_bps == 1_200_000
    rise = plan.shape(need(TOP), MID)
    assert rise.target_bps == need(TOP)                         # within the rise: the full need
    assert plan.learn(rise, need(TOP), 21.2, queued_ms=0.0)
    assert plan.ceiling_bps is None and not plan.rising         # the full need got through: no ceiling
    # a rising probe that queued holds again, at what it measured, even if its rate looked enough
    plan = ProbePlan(ceiling_bps=470_000, rising=True)
    rise = plan.shape(need(TOP), MID)
    assert not plan.learn(rise, rise.target_bps, 0.0, queued_ms=30.0)
    assert plan.ceiling_bps == rise.target_bps and not plan.rising and plan.shape(need(TOP), MID).kind == "held"


def test_a_probe_with_nothing_measurable_backs_off_5_then_10_s_and_the_media_rate_becomes_the_ceiling():
    plan = ProbePlan()
    full = plan.shape(need(TOP), MID)
    assert not plan.learn(full, None, 0.0)                      # too much of it lost to measure
    assert plan.ceiling_bps == MID and not plan.ready(4.9) and plan.ready(5.0)
    held = plan.shape(need(TOP), MID)
    assert held.kind == "held" and held.target_bps == MID * PROBE_STEP
    assert not plan.learn(held, None, 5.0)
    assert plan.ceiling_bps == MID and not plan.ready(14.9) and plan.ready(15.0)
    assert not plan.learn(plan.shape(need(TOP), MID), None, 15.0)
    assert plan.ready(25.0)                                      # at most 10 s


def test_a_held_probes_padding_floor_stays_within_the_step():
    # media alone near the ceiling: the padding floor that makes a probe measurable must not push it past 25 %
    plan = ProbePlan(ceiling_bps=200_000)
    shape = plan.shape(need(MID), 240_000)
    assert shape.capped and shape.target_bps == 250_000
    assert shape.padding_bps <= 200_000 * (PROBE_STEP - 1) + 1
    assert ProbePlan().shape(need(MID), need(MID)).padding_bps == 100_000   # uncapped: the usual floor


def test_forged_feedback_claiming_huge_receive_rates_moves_probes_no_faster_than_what_was_sent():
    # a hostile subscriber behind the same 400 kb/s shaper reports every packet as arrived 50 µs apart (a receive
    # rate of gigabits, and no queue): what a probe measured is bounded by what the node sent in it, so each probe
    # goes at most 25 % (held) or 2x (rising) above a rate the node itself sent, never beyond the upgrade's need
    link = Link(Shaper(400_000), forge=True)
    link.plan.ceiling_bps = 380_000                   # an honest failed probe had measured the path
    layers = [LOW, MID, TOP]
    layer = link.run(5.0, layers, 0)
    sent_so_far = 380_000.0
    for r in link.rounds:
        assert r.rate is not None and r.rate <= r.sent_bps * 1.05, r   # never more than was sent
        assert r.ceiling_before is None or r.ceiling_before <= sent_so_far * 1.05
        if r.shape.kind == "held":
            assert r.shape.target_bps <= (r.ceiling_before or 0) * PROBE_STEP + 1
        if r.shape.kind == "rising":
            assert r.shape.target_bps <= (r.ceiling_before or 0) * PROBE_RISE + 1
        assert r.shape.target_bps <= need(TOP) + 1
        sent_so_far = max(sent_so_far, r.sent_bps)
    # it gets what an unlimited path would give it (its own downlink), no sooner: one layer per probe that showed it
    assert layer == 2
    honest = Link(Shaper(None))
    honest.plan.ceiling_bps = 380_000
    assert honest.run(5.0, layers, 0) == 2
    assert len(link.rounds) == len(honest.rounds)
    assert [r.shape.target_bps for r in link.rounds] == [r.shape.target_bps for r in honest.rounds]


def test_a_probe_cut_short_on_a_busy_node_is_no_ceiling_but_one_that_queued_is():
    # the padding's ticks came late: the probe sent 60 % of its rate, all of which got through with no queue; the
    # path showed no limit, so it is tried again soon (twice), and only then held as a ceiling
    plan = ProbePlan()
    full = plan.shape(need(MID), LOW)
    short = 0.6 * full.target_bps
    assert not plan.learn(full, short, 0.0, queued_ms=2.0)
    assert plan.ceiling_bps is None and not plan.ready(0.4) and plan.ready(PROBE_SHORT_RETRY)
    assert not plan.learn(plan.shape(need(MID), LOW), short, 1.0, queued_ms=0.0)
    assert plan.ceiling_bps is None
    assert not plan.learn(plan.shape(need(MID), LOW), short, 2.0, queued_ms=0.0)
    assert plan.ceiling_bps == short and not plan.ready(2.0 + PROBE_HELD_INTERVAL - 0.1)
    # the same rate with a queue behind it: the limit, at once
    plan = ProbePlan()
    assert not plan.learn(full, short, 0.0, queued_ms=70.0)
    assert plan.ceiling_bps == short
    # a rising probe cut short keeps the ceiling it climbed to and tries again soon
    plan = ProbePlan(ceiling_bps=500_000, rising=True)
    assert not plan.learn(plan.shape(need(TOP), MID), 300_000, 0.0, queued_ms=1.0)
    assert plan.ceiling_bps == 500_000 and plan.rising and plan.ready(PROBE_SHORT_RETRY)


def test_a_held_probe_that_queued_lowers_the_ceiling_by_at_most_a_fifth_a_round():
    plan = ProbePlan(ceiling_bps=380_000)
    held = plan.shape(need(TOP), LOW)
    assert not plan.learn(held, 130_000, 0.0, queued_ms=40.0)   # a starved node's odd measurement
    assert plan.ceiling_bps == 380_000 * PROBE_HELD_DROP
    assert not plan.learn(plan.shape(need(TOP), LOW), 300_000, 2.5, queued_ms=40.0)
    assert plan.ceiling_bps == 300_000


def test_a_probe_right_after_another_pads_on_the_media_rate_the_last_one_saw():
    # the rate that got through in the last half second still holds the last probe's padding: padding the next
    # one on it made the Chromium test's rising probes fall short (666 kb/s meant, 481 sent)
    plan = ProbePlan(ceiling_bps=380_000)
    held = plan.shape(need(MID), LOW, now=10.0)
    assert plan.learn(held, 470_000, 10.7, queued_ms=0.0)
    rise = plan.shape(need(MID), 459_000, now=10.7)             # acked now: media and the held probe's padding
    assert rise.acked_bps == LOW and rise.padding_bps == rise.target_bps - LOW
    assert plan.shape(need(MID), 230_000, now=12.0).acked_bps == 230_000   # later: what got through is media again


def test_a_probe_stops_padding_once_its_feedback_shows_a_queue():
    from sfu.congestion.probe import Probe

    probe = Probe(shape=ProbePlan().shape(need(MID), LOW), started=0.0, first=0, last=40)
    # the first 20 packets of the cluster arrive as sent, then each waits 2 ms longer than the one before
    rows = [(i, PacketResult(i, i * 5.0, PADDING, i * 5.0 + 20.0 + max(0, i - 10) * 2.0)) for i in range(20)]
    assert not probe.record(rows[:10]) and not probe.stopped       # no queue yet: it goes on
    assert not probe.record(rows[10:]) and probe.stopped            # 18 ms of queue: no more padding


def test_held_probes_that_measured_short_without_a_queue_pad_more_until_one_queues():
    # on a busy node a held probe measured 300 of the 400 kb/s it meant, with no queue: it said nothing about the
    # path, so the next pads more; one that queued (the limit) resets it, as does one that got through
    plan = ProbePlan(ceiling_bps=320_000)
    held = plan.shape(need(MID), 260_000)
    assert held.padding_bps == 400_000 - 260_000
    assert not plan.learn(held, 300_000, 0.0, queued_ms=0.0)
    assert plan.ceiling_bps == 320_000 and abs(plan.boost - 400 / 300) < 1e-9
    more = plan.shape(need(MID), 260_000, now=5.0)
    assert abs(more.padding_bps - 140_000 * 400 / 300) < 1e-6 and more.target_bps == 400_000
    for i in range(5):
        plan.learn(plan.shape(need(MID), 260_000, now=10.0 + 5 * i), 100_000, 10.0 + 5 * i, queued_ms=0.0)
    assert plan.boost == PROBE_BOOST_MAX
    assert not plan.learn(plan.shape(need(MID), 260_000, now=40.0), 330_000, 40.0, queued_ms=30.0)
    assert plan.boost == 1.0
