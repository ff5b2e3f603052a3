"""The probe plan (sfu/congestion/probe_plan.py) in simulated time, against a simulated token-bucket shaper like
`tc tbf rate 400kbit burst 4kb` (tests/cluster/test_throttled_subscriber.py): the media of the low layer goes on,
each probe adds padding for its duration, the shaper lets its bucket through, queues up to its limit and drops
the rest; the probe's feedback (what arrived, when) is measured with probe_bitrate, probe_queueing_ms and
probe_delivered_bitrate as the node does, and the allocation's steps (its 1 s tick, its 3 s hold) are simulated
too, so the time to the top layer after a lift can be compared with the plan before issue 14."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from sfu.allocation.layers import HEADROOM, UPGRADE_HOLD
from sfu.congestion import probe_plan
from sfu.congestion.bwe import PacketResult, probe_bitrate, probe_delivered_bitrate, probe_queueing_ms
from sfu.congestion.controller import TWCC_FEEDBACK_INTERVAL
from sfu.congestion.probe import PROBE_PADDING, PROBE_STOP_QUEUE_MS, PROBE_TICK
from sfu.congestion.probe_plan import (
    PROBE_BOOST_MAX,
    PROBE_DURATION,
    PROBE_FURTHER,
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
from sfu.feedback.reports import REPORT_INTERVAL

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
    queue: int = 0  # tbf: rate x latency (0: 100 ms, as the throttled test's `latency 100ms`)
    tokens: float = 4096.0

    def __post_init__(self) -> None:
        self.queue = self.queue or int((self.rate_bps or 0.0) / 8 * 0.1)
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
    padding_bytes: float


class Link:
    """A subscriber's downlink in simulated time: media at `media_bps`, probes as the plan says."""

    def __init__(self, shaper: Shaper, forge: bool = False, climb: bool = True) -> None:
        self.shaper = shaper
        self.forge = forge  # the subscriber reports every packet as arrived at once (forged feedback)
        self.climb = climb  # False: the plan before issue 14 (probes towards the next layer only, asked for)
        self.plan = ProbePlan()
        self.t = 0.0
        self.seq = 0
        self.next_frame = 0.0
        self.rounds: list[Round] = []
        self.estimate = 0.0  # what the last probe that got through showed (the node's estimate starts from it)
        self.layer_since = 0.0
        self.steps: list[float] = []  # when the allocation stepped up

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

    def probe(self, need_bps: float, media_bps: float, goal_bps: float | None = None) -> Round:
        """One probe now: padding in PROBE_TICK bursts with the media, stopped once the feedback so far shows a
        queue (feedback every 100 ms, as Chromium sends it), its result 100 ms after its end."""
        ceiling = self.plan.ceiling_bps
        shape = self.plan.shape(need_bps, media_bps, self.t, goal_bps)
        start = self.t
        packets: list[PacketResult] = []
        sent = 0.0
        for i in range(round(shape.duration / PROBE_TICK)):
            t = start + i * PROBE_TICK
            self.media_until(t, media_bps, packets)
            seen = [p for p in packets if p.recv_ms is not None and p.recv_ms <= (t - 0.1) * 1000]
            queued = probe_queueing_ms(seen)
            if queued is not None and queued >= PROBE_STOP_QUEUE_MS:
                break  # the padding stops at the first sign of a queue
            due = shape.padding_bps / 8 * (t - start + PROBE_TICK) - sent
            for _ in range(int(due // PADDING)):
                packets.append(self._packet(t, PADDING))
                sent += PADDING
        self.media_until(start + shape.duration + 0.1, media_bps)
        rate = probe_bitrate(packets)
        delivered = probe_delivered_bitrate(packets) if self.climb else None  # before issue 14: not used
        through = self.plan.learn(shape, rate, self.t, probe_queueing_ms(packets), delivered)
        sent_bps = sum(p.size for p in packets) * 8 / shape.duration
        lost = sum(1 for p in packets if p.recv_ms is None)
        r = Round(start, shape, ceiling, rate, sent_bps, lost, through, sent)
        self.rounds.append(r)
        return r

    def run(self, until: float, layers: list[float], layer: int) -> int:
        """Until `until` (s) or the top of `layers`, as the node does: every REPORT_INTERVAL, and right after a
        probe that got through, the allocation steps up one layer once the current one has been held UPGRADE_HOLD
        and the estimate (what the last probe that got through showed) covers the next, or asks for a probe when
        it does not and the plan allows; every TWCC_FEEDBACK_INTERVAL the plan climbs on by itself after a probe
        that got through (sfu/congestion/probe.py: climb). The layer reached."""
        goal = need(layers[-1]) if self.climb else None
        select_at = self.t
        through = False
        while self.t < until and layer + 1 < len(layers):
            if self.t >= select_at - 1e-9 or through:
                if not through:
                    select_at += REPORT_INTERVAL
                if self.t - self.layer_since >= UPGRADE_HOLD:
                    if self.estimate >= layers[layer + 1] / HEADROOM:
                        layer, self.layer_since = layer + 1, self.t
                        self.steps.append(self.t)
                        through = False
                        continue
                    if self.plan.ready(self.t):
                        through = self._probe(need(layers[layer + 1]), layers[layer], goal)
                        continue
            if self.climb and self.plan.rising and self.plan.ready(self.t):
                through = self._probe(need(layers[layer + 1]), layers[layer], goal)
                continue
            through = False
            self.media_until(min(self.t + TWCC_FEEDBACK_INTERVAL, until), layers[layer])
        return layer

    def _probe(self, need_bps: float, media_bps: float, goal_bps: float | None) -> bool:
        r = self.probe(need_bps, media_bps, goal_bps)
        if r.through:
            self.estimate = max(self.estimate, r.rate or 0.0)
        return r.through

    @property
    def padding_bytes(self) -> float:
        return sum(r.padding_bytes for r in self.rounds)


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
    assert len(later) >= 4, [r.at for r in link.rounds]                     # cheap: no 10 s back-off ...
    for a, b in zip(later, later[1:], strict=False):                       # ... every 2.5 s (the next tick)
        assert b.at - a.at <= a.shape.duration + 0.1 + PROBE_HELD_INTERVAL + REPORT_INTERVAL
    for r in later:
        assert r.ceiling_before is not None and r.shape.kind == "held" and not r.through, r
        assert r.shape.target_bps <= r.ceiling_before * PROBE_STEP + 1
        assert r.sent_bps <= r.ceiling_before * PROBE_STEP * 1.05, r      # the media's own jitter aside
        assert r.lost == 0, r                                             # nothing dropped: no stall
    lifted = link.t
    link.shaper.rate_bps = None
    assert link.run(lifted + 30.0, layers, 0) == 2
    after = [r for r in link.rounds if r.at >= lifted]
    assert after[0].shape.kind == "held" and all(r.through for r in after), after
    assert all(r.shape.kind == "rising" for r in after[1:])
    # the next held probe shows the lift; the climb after it goes on at once, and the top layer comes when the
    # allocation's hold after the step to h lets it, with no probe left to wait for
    assert after[0].at - lifted <= PROBE_HELD_INTERVAL + PROBE_HELD_DURATION + 0.2
    climbed = after[-1].at + after[-1].shape.duration + 0.1
    assert climbed - after[0].at <= len(after) * (PROBE_HELD_DURATION + 0.1)
    assert climbed <= link.steps[-2] + UPGRADE_HOLD and link.steps[-1] - link.steps[-2] <= UPGRADE_HOLD + 1.0


def before_issue_14(monkeypatch: pytest.MonkeyPatch, shaper: Shaper) -> Link:
    """The plan as it was before issue 14, to compare with: probes only when the allocation asks, towards the
    next layer only, rising 1.5 x a round after a held one got through, on the measured rate alone."""
    monkeypatch.setattr(probe_plan, "PROBE_FURTHER", probe_plan.PROBE_RISE)
    return Link(shaper, climb=False)


def rounds_to_climb(ceiling: float, goal: float) -> int:
    """Probes from a held one that shows a lift to one at `goal`: the held one, one at 1.5 x, then doublings."""
    return 2 + math.ceil(math.log(goal / (ceiling * PROBE_STEP * PROBE_RISE)) / math.log(PROBE_FURTHER))


def test_a_lift_from_300_kbps_to_unlimited_is_climbed_in_doublings_and_the_top_layer_follows_the_hold(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # throttled at 300 kb/s: q only; then the limit lifts. The held probe that shows it is followed at once by
    # probes at 1.5 x, then twice what got through, up to the top layer's need, so the estimate covers f before
    # the allocation's hold after the step to h ends; before, the probe for f went only when the hold had ended
    layers = [LOW, MID, TOP]
    tops = []
    for climb in (True, False):
        link = Link(Shaper(300_000)) if climb else before_issue_14(monkeypatch, Shaper(300_000))
        assert link.run(20.0, layers, 0) == 0
        ceiling, lifted = link.plan.ceiling_bps, link.t
        assert ceiling is not None and ceiling < 300_000
        link.shaper.rate_bps = None
        assert link.run(lifted + 30.0, layers, 0) == 2
        after = [r for r in link.rounds if r.at >= lifted]
        tops.append(link.steps[-1] - lifted)
        if climb:
            assert len(after) <= rounds_to_climb(ceiling, need(TOP)), after
            assert [r.shape.kind for r in after] == ["held"] + ["rising"] * (len(after) - 1)
            for a, b in zip(after, after[1:], strict=False):
                assert b.at - a.at <= a.shape.duration + 0.1 + 1e-9  # each at once after the one before
                rise = PROBE_FURTHER if a.shape.kind == "rising" else PROBE_RISE
                assert b.shape.target_bps == min(need(TOP), rise * (b.ceiling_before or 0.0))  # what a showed
                assert (b.ceiling_before or 0.0) <= a.sent_bps * 1.05
            assert link.estimate >= TOP / HEADROOM                        # the top layer's rate is covered ...
            assert after[-1].at + after[-1].shape.duration + 0.1 <= link.steps[-2] + UPGRADE_HOLD  # ... in time
            assert link.steps[-1] - link.steps[-2] <= UPGRADE_HOLD + REPORT_INTERVAL  # the next tick after it
        else:
            assert after[-1].shape.kind == "full" and after[-1].at >= link.steps[-2] + UPGRADE_HOLD
    assert tops[0] < tops[1], tops


@pytest.mark.parametrize("limit", [300_000, 400_000, 1_000_000])
def test_a_path_that_stays_limited_gets_no_more_probe_bytes_than_before(
        monkeypatch: pytest.MonkeyPatch, limit: float) -> None:
    # bytes, not time: a minute behind a token bucket at 300 or 400 kb/s (q only: held probes after the first full
    # one, and at 300 kb/s a held one now and then through the bucket's burst, with a rising one after it) or at
    # 1 Mb/s (h fits, f does not: the climb after the probe for h meets the limit where the probe for f met it
    # before, 3 s earlier, at a lower rate). Until the plan holds under the limit the climb sends no more padding
    # and drops no more than the probing before issue 14; from then on every held probe is the same as before
    # and comes as often
    layers = [LOW, MID, TOP]
    new = Link(Shaper(limit))
    new.run(60.0, layers, 0)
    old = before_issue_14(monkeypatch, Shaper(limit))
    old.run(60.0, layers, 0)
    assert len(new.steps) == len(old.steps) == (0 if limit < MID / HEADROOM else 1)

    def settling(link: Link) -> list[Round]:
        first_held = next(i for i, r in enumerate(link.rounds) if r.shape.kind == "held")
        return link.rounds[:first_held]

    assert sum(r.padding_bytes for r in settling(new)) <= sum(r.padding_bytes for r in settling(old))
    assert sum(r.lost for r in settling(new)) <= sum(r.lost for r in settling(old))
    late_new, late_old = new.rounds[-6:], old.rounds[-6:]
    assert [(r.shape.kind, round(r.padding_bytes, -2), r.lost) for r in late_new] == \
        [(r.shape.kind, round(r.padding_bytes, -2), r.lost) for r in late_old]
    assert [round(b.at - a.at, 6) for a, b in zip(late_new, late_new[1:], strict=False)] == \
        [round(b.at - a.at, 6) for a, b in zip(late_old, late_old[1:], strict=False)]


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
    # goes at most 25 % (held) or 2x (rising) above a rate the node itself sent, never beyond the top layer's need
    link = Link(Shaper(400_000), forge=True)
    link.plan.ceiling_bps = 380_000                   # an honest failed probe had measured the path
    layers = [LOW, MID, TOP]
    layer = link.run(10.0, layers, 0)
    sent_so_far = 380_000.0
    for r in link.rounds:
        assert r.rate is not None and r.rate <= r.sent_bps * 1.05, r   # never more than was sent
        assert r.ceiling_before is None or r.ceiling_before <= sent_so_far * 1.05
        if r.shape.kind == "held":
            assert r.shape.target_bps <= (r.ceiling_before or 0) * PROBE_STEP + 1
        if r.shape.kind == "rising":
            assert r.shape.target_bps <= (r.ceiling_before or 0) * PROBE_FURTHER + 1
        assert r.shape.target_bps <= need(TOP) + 1
        sent_so_far = max(sent_so_far, r.sent_bps)
    # it gets what an unlimited path would give it (its own downlink), no sooner: the same probes, the same steps
    assert layer == 2
    honest = Link(Shaper(None))
    honest.plan.ceiling_bps = 380_000
    assert honest.run(10.0, layers, 0) == 2
    assert link.steps == honest.steps
    assert len(link.rounds) == len(honest.rounds)
    # (a rising probe goes at a multiple of what the last one measured: forged or not, about what was sent)
    assert [r.shape.target_bps for r in link.rounds] == \
        pytest.approx([r.shape.target_bps for r in honest.rounds], rel=0.02)


def test_a_probe_cut_short_on_a_busy_node_is_no_ceiling_but_one_that_queued_is():
    # the padding's ticks came late: the probe sent 60 % of its rate, all of which got through with no queue; the
    # path carried more than the media alone, so the climb goes on from there at once, without a ceiling
    plan = ProbePlan()
    full = plan.shape(need(MID), LOW, goal_bps=need(TOP))
    short = 0.6 * full.target_bps
    assert plan.learn(full, short, 0.0, queued_ms=2.0)
    assert plan.rising and plan.ceiling_bps == short and plan.ready(0.0)
    rise = plan.shape(need(MID), LOW, 0.0, need(TOP))
    assert rise.kind == "rising" and rise.target_bps == short * PROBE_RISE
    # one that showed no more than the media: it said nothing, so it is tried again soon (twice), and only then
    # held as a ceiling
    plan = ProbePlan()
    assert not plan.learn(full, LOW, 0.0, queued_ms=2.0)
    assert plan.ceiling_bps is None and not plan.ready(0.4) and plan.ready(PROBE_SHORT_RETRY)
    assert not plan.learn(plan.shape(need(MID), LOW), LOW, 1.0, queued_ms=0.0)
    assert plan.ceiling_bps is None
    assert not plan.learn(plan.shape(need(MID), LOW), LOW, 2.0, queued_ms=0.0)
    assert plan.ceiling_bps == LOW and not plan.ready(2.0 + PROBE_HELD_INTERVAL - 0.1)
    # the same rate with a queue behind it: the limit, at once
    plan = ProbePlan()
    assert not plan.learn(full, short, 0.0, queued_ms=70.0)
    assert plan.ceiling_bps == short and not plan.rising
    # a rising probe cut short below what it climbed to keeps the ceiling and tries again soon; one that showed
    # 10 % more than it without a queue climbs on from there
    plan = ProbePlan(ceiling_bps=500_000, rising=True)
    assert not plan.learn(plan.shape(need(TOP), MID), 300_000, 0.0, queued_ms=1.0)
    assert plan.ceiling_bps == 500_000 and plan.rising and plan.ready(PROBE_SHORT_RETRY)
    assert plan.learn(plan.shape(need(TOP), MID, 1.0), 560_000, 1.0, queued_ms=1.0)
    assert plan.ceiling_bps == 560_000 and plan.rising and plan.ready(1.0)


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


def test_a_held_probe_whose_arrivals_a_starved_receiver_stamped_late_still_shows_a_lift():
    # after a lift, held probes at 422 kb/s measured 295 and 361 kb/s with no queue (the Chromium test on a busy
    # machine): the receiver stamped the last arrivals late, which the receive rate reads as a slower path. What
    # arrived over the time it took to send shows the lift; a queue building behind a limit still fails it
    plan = ProbePlan(ceiling_bps=338_000)
    held = plan.shape(need(MID), 250_000)
    n = 120
    size = round(held.target_bps / 8 * held.duration / n)
    gap = held.duration * 1000 / n

    def cluster(late: float, queue_per_packet: float) -> list[PacketResult]:
        return [PacketResult(i, i * gap, size, i * gap + 20.0 + queue_per_packet * i + (late if i == n - 1 else 0))
                for i in range(n)]

    stamped_late = cluster(90.0, 0.0)
    rate, queued = probe_bitrate(stamped_late), probe_queueing_ms(stamped_late)
    assert rate is not None and rate < 338_000 * 1.1 and queued == 0.0      # the receive rate alone: no lift
    delivered = probe_delivered_bitrate(stamped_late)
    assert delivered is not None and delivered > 338_000 * 1.1
    assert plan.learn(held, rate, 10.0, queued, delivered) and plan.rising
    limited = cluster(0.0, 0.3)                                              # 36 ms of queue by the end
    plan = ProbePlan(ceiling_bps=338_000)
    assert not plan.learn(held, probe_bitrate(limited), 10.0, probe_queueing_ms(limited),
                          probe_delivered_bitrate(limited))
    # what arrived: lost packets do not count, and nothing counts beyond what was sent
    lossy = [PacketResult(p.seq, p.send_ms, p.size, None if p.seq % 4 == 0 else p.recv_ms) for p in stamped_late]
    assert (probe_delivered_bitrate(lossy) or 0.0) < 0.8 * delivered
    assert delivered <= size * (n - 1) * 8000.0 / ((n - 1) * gap) + 1
