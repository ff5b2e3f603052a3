"""How hard and how often to probe one subscriber's downlink, and what each probe's result teaches (pure).

As libwebrtc's ProbeController does after its loss-based estimate has found a limit: a failed probe measured the
path, and later probes go at most PROBE_STEP (25 %) above what it measured. A probe at the upgrade's full rate
behind a small bottleneck queue (a token bucket of a few KB) dropped media with the padding: the picture stood
still ~0.75 s at each such probe. 25 % over the ceiling is a few KB, which such a queue absorbs.

- No ceiling known ("full"): probe at what the upgrade needs (`need_bps`, already with the probe margin) for
  PROBE_DURATION; it succeeds at the need. One that failed sets the ceiling to what it measured.
- Under a ceiling ("held"): at most PROBE_STEP above it, for PROBE_HELD_DURATION so that the small overshoot
  outlasts a shaper's burst (a token bucket lets it through at line rate until its bucket is spent), every
  PROBE_HELD_INTERVAL without the doubling back-off: cheap. It got through when it measured PROBE_CLEARS above
  the ceiling and its last packets queued no longer than its first (sfu/congestion/bwe.py: probe_queueing_ms).
  One that queued failed: what it measured is the ceiling, lowered by at most PROBE_HELD_DROP a round (a starved
  node measures low now and then). One that neither queued nor got above the ceiling sent too little to say: the
  next held probe pads more (by the shortfall, at most PROBE_BOOST_MAX times), until one queues or gets through;
  the padding stops as soon as the feedback shows a queue (sfu/congestion/probe.py), which bounds the overshoot.
- After one got through ("rising": the limit lifted, or a full probe showed the need), the climb goes on at
  once towards the goal (what the subscriber could use at most: its top layers' need, as libwebrtc probes towards
  the encoders' allocation), not only the next layer's need, and whether or not the allocation asks yet
  (sfu/congestion/probe.py: climb): PROBE_RISE (1.5) times what the last one measured, and PROBE_FURTHER (2)
  times once a rising one got through too (two in a row are no shaper's burst). So the estimate covers the top
  layer within a second of a lift, before the allocation's hold after the step up ends; one at the goal that gets
  through ends the climb with no ceiling, one that queued holds again at what it measured.
- A full or rising probe that fell short of its rate (the padding's ticks came late on a busy node) but built no
  queue met no limit: if it showed PROBE_CLEARS above what was known (the media's rate, or the climb's ceiling),
  the climb goes on from what it showed; else it is tried again PROBE_SHORT_RETRY later (twice at most), and sets
  no ceiling.
- A probe right after another (within PROBE_ACKED_STALE) pads on the media rate the last one saw: the rate that
  got through lately still holds the last one's padding, and a probe padded on it fell short.
- A probe whose feedback showed nothing measurable (too much lost, too little came back) backs off 5, then 10 s,
  and the media that got through before it is the ceiling if none was known.

Every rate a probe "measured" is bounded by what the node sent (sfu/congestion/bwe.py: probe_bitrate takes the
lower of the send and receive rates), so feedback claiming more than was sent (or no queue) moves the ceiling no
faster than PROBE_FURTHER a round from what the node itself sent, and never past the goal: a forged receiver gets
the probes of an unlimited path, no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PROBE_DURATION = 0.2  # a full or rising probe's padding is spread over this long
PROBE_HELD_DURATION = 0.6  # a held one's over this long: its small overshoot must outlast a shaper's burst
PROBE_QUEUED_MS = 5.0  # a probe whose last packets took this much longer than its first met a queue
PROBE_MARGIN = 1.2  # a full probe goes this much above what the upgrade needs; it succeeds at the need
PROBE_STEP = 1.25  # a probe after a failed one goes at most this far above the ceiling ...
PROBE_CLEARS = 1.1  # ... and got through once it measured this far above it, without queueing
PROBE_RISE = 1.5  # after one got through: the next goes this many times what it measured ...
PROBE_FURTHER = 2.0  # ... and after a rising one got through too, this many (libwebrtc's further probing)
PROBE_HELD_DROP = 0.8  # a held probe that queued lowers the ceiling to at least this share of it
PROBE_BOOST_MAX = 3.0  # held padding at most this many times what the step asks (a padding stop bounds it)
PROBE_HELD_INTERVAL = 2.5  # seconds between held probes
PROBE_SHORT_RETRY = 0.5  # a probe that sent less than meant and met no limit is tried again this soon ...
PROBE_SHORT_RETRIES = 2  # ... this many times in a row, then it counts as failed
PROBE_ACKED_STALE = 1.0  # seconds after a probe's result during which the acknowledged rate still holds its padding
PROBE_BACKOFF = 5.0  # after a probe with no measurable result, wait this long before the next ...
PROBE_BACKOFF_MAX = 10.0  # ... doubling up to this
PROBE_MIN_BPS = 100_000  # a full or rising probe's padding never below this (a probe must be measurable)


@dataclass(frozen=True)
class ProbeShape:
    """One probe about to go out: its total rate (media and padding), the padding rate, how long it lasts, its
    kind (module docstring) and the media rate it was added to."""

    target_bps: float
    padding_bps: float
    kind: Literal["full", "held", "rising"] = "full"
    duration: float = PROBE_DURATION
    acked_bps: float = 0.0
    goal_bps: float = 0.0  # what the climb aims at: the most the subscriber could use (0: this probe's target)

    @property
    def capped(self) -> bool:
        return self.kind != "full"


@dataclass
class ProbePlan:
    ceiling_bps: float | None = None  # what a failed probe measured (later probes stay near it)
    rising: bool = False  # the last probe got through short of the goal: the next ones climb fast
    risen: int = 0  # rising probes in a row that got through (the second one on climbs by PROBE_FURTHER)
    failures: int = 0  # probes in a row with no measurable result (the back-off doubles)
    shorts: int = 0  # probes in a row that fell short of their rate without meeting a limit
    not_before: float = 0.0  # no probe before this (monotonic seconds)
    boost: float = 1.0  # held padding is multiplied by this after held probes that measured short of their rate
    media_bps: float = 0.0  # the media rate the last probe was added to ...
    last_result: float = -1e9  # ... and when the last probe's result came
    through_at: float = -1e9  # when a probe last got through (the allocation may then skip its hold)

    def ready(self, now: float) -> bool:
        return now >= self.not_before

    def shape(self, need_bps: float, acked_bps: float | None, now: float = 0.0,
              goal_bps: float | None = None) -> ProbeShape:
        """The probe for an upgrade that needs `need_bps` in all, while `acked_bps` of media gets through;
        `goal_bps` (at least the need) is what the subscriber could use at most, where a climb stops."""
        if now - self.last_result < PROBE_ACKED_STALE:
            acked = self.media_bps  # what got through lately still holds the last probe's padding
        else:
            acked = self.media_bps = acked_bps or 0.0
        goal = max(need_bps, goal_bps or 0.0)
        c = self.ceiling_bps
        if c is None:
            return ProbeShape(need_bps, max(need_bps - acked, PROBE_MIN_BPS), "full", PROBE_DURATION, acked, goal)
        if self.rising:
            target = min(goal, c * (PROBE_FURTHER if self.risen else PROBE_RISE))
            return ProbeShape(target, max(target - acked, PROBE_MIN_BPS), "rising", PROBE_DURATION, acked, goal)
        target = min(need_bps, c * PROBE_STEP)
        # the padding floor stays within the step, so the whole probe stays near the ceiling
        floor = min(PROBE_MIN_BPS, c * (PROBE_STEP - 1.0))
        return ProbeShape(target, max(target - acked, floor) * self.boost, "held", PROBE_HELD_DURATION, acked, goal)

    def reached(self) -> None:
        """The estimate covers the goal already (the media grew into it): the climb is over, no limit known."""
        self.ceiling_bps, self.rising = None, False

    def unsent(self, now: float) -> None:
        """No padding could be sent: try again after the back-off."""
        self.not_before = now + PROBE_BACKOFF

    def learn(self, shape: ProbeShape, rate_bps: float | None, now: float, queued_ms: float | None = None,
              delivered_bps: float | None = None) -> bool:
        """A probe's result: the rate it measured (None: nothing measurable), the queue it met on the path
        (sfu/congestion/bwe.py: probe_queueing_ms; None: too few packets to say) and what of it arrived over the
        time it took to send (probe_delivered_bitrate). True when it got through (what it showed may already
        cover the upgrade, or the next, larger probe goes at once); False otherwise."""
        self.last_result = now
        if rate_bps is None:
            self.failures += 1
            self.not_before = now + min(PROBE_BACKOFF * 2 ** (self.failures - 1), PROBE_BACKOFF_MAX)
            if self.ceiling_bps is None and shape.acked_bps > 0:
                self.ceiling_bps = shape.acked_bps  # it lost too much: the path carries about the media alone
            self.rising = False
            return False
        self.failures = 0
        queued = queued_ms is not None and queued_ms >= PROBE_QUEUED_MS
        measured = rate_bps
        if queued_ms is not None and not queued and delivered_bps is not None:
            # no queue built: the path carried what arrived, at the rate it was sent, even where the receiver's
            # late timestamps make the receive rate look lower (after a lift, held probes measured 295-361 of
            # 422 kb/s that way and the lift went unseen for 8 s). That decides whether it got through; the climb
            # goes on from what was measured, so a held probe through a shaper's burst costs what it did before
            rate_bps = max(rate_bps, delivered_bps)
        if shape.kind == "held":
            c = self.ceiling_bps
            assert c is not None
            self.not_before = now + PROBE_HELD_INTERVAL
            if queued_ms is not None and not queued and rate_bps >= c * PROBE_CLEARS:
                self.ceiling_bps, self.rising, self.not_before, self.boost = max(measured, c), True, now, 1.0  # lifted
                self.risen = 0
                return True
            if queued:
                self.ceiling_bps = max(min(rate_bps, c), c * PROBE_HELD_DROP)  # still there, or lower now
                self.boost = 1.0
            elif queued_ms is not None:
                # it met no queue but measured short of what it meant to send (late padding ticks, an acknowledged
                # rate above the media's): pad more next time, until one queues or gets through
                self.boost = min(self.boost * shape.target_bps / max(rate_bps, 1.0), PROBE_BOOST_MAX)
            return False
        if rate_bps >= shape.target_bps / PROBE_MARGIN and not (shape.kind == "rising" and queued):
            self.shorts = 0
            if shape.target_bps >= shape.goal_bps:
                self.ceiling_bps, self.rising = None, False  # the goal got through: no limit known
            else:
                # on from what got through, at once: a second success in a row is no shaper's burst, so it doubles
                self.risen = self.risen + 1 if shape.kind == "rising" else 0
                known = self.ceiling_bps if shape.kind == "rising" else None
                self.ceiling_bps, self.rising = max(measured, known or shape.acked_bps), True
            self.not_before = now
            return True
        known = self.ceiling_bps if shape.kind == "rising" else shape.acked_bps
        if queued_ms is not None and not queued and known and rate_bps >= known * PROBE_CLEARS:
            # short of its rate (late padding ticks on a busy node, a receiver's late timestamps), but the path
            # carried more than was known without a queue: the climb goes on from there at once
            self.shorts = 0
            if shape.kind != "rising":
                self.risen = 0
            self.ceiling_bps, self.rising, self.not_before = rate_bps, True, now
            return True
        if queued_ms is not None and not queued and self.shorts < PROBE_SHORT_RETRIES:
            # no queue met: everything sent got through, but less was sent than meant (a busy node's padding
            # ticks came late); the path showed no limit, so this is no ceiling: try again soon
            self.shorts += 1
            self.not_before = now + PROBE_SHORT_RETRY
            return False
        self.shorts = 0
        self.ceiling_bps, self.rising = rate_bps, False
        self.not_before = now + PROBE_HELD_INTERVAL
        return False
