"""How hard and how often to probe one subscriber's downlink, and what each probe's result teaches (pure).

As libwebrtc's ProbeController does after its loss-based estimate has found a limit: a failed probe measured the
path, and later probes go at most PROBE_STEP (25 %) above what it measured. A probe at the upgrade's full rate
behind a small bottleneck queue (a token bucket of a few KB) dropped media with the padding: the picture stood
still ~0.75 s at each such probe. 25 % over the ceiling for 200 ms is a few KB, which such a queue absorbs.

- No ceiling known ("full"): probe at what the upgrade needs (`need_bps`, already with the probe margin) for
  PROBE_DURATION; it succeeds at the need. One that failed sets the ceiling to what it measured.
- Under a ceiling ("held"): at most PROBE_STEP above it, for PROBE_CAPPED_DURATION so that the small overshoot
  outlasts a shaper's burst (a token bucket lets it through at line rate until its bucket is spent), every
  PROBE_CAPPED_INTERVAL without the doubling back-off: cheap. It got through when it measured PROBE_CLEARS
  above the ceiling and built no queue by its end (sfu/congestion/bwe.py: probe_queueing_ms); else what it
  measured, if lower, is the ceiling now.
- After one got through ("rising": the limit lifted): the ceiling is what it measured and the next probe goes at
  once, at up to PROBE_RISE times it for PROBE_DURATION, so a lifted limit is followed within a few probe rounds
  of a fraction of a second each. One that reached the full need clears the ceiling; one that failed holds again.
- A full or rising probe that fell short of its rate (the padding's ticks came late on a busy node) but built no
  queue met no limit: it is tried again PROBE_SHORT_RETRY later (twice at most), and sets no ceiling.
- A probe whose feedback showed nothing measurable (too much lost, too little came back) backs off 5, then 10 s,
  and the media that got through before it is the ceiling if none was known.

Every rate a probe "measured" is bounded by what the node sent (sfu/congestion/bwe.py: probe_bitrate takes the
lower of the send and receive rates), so feedback claiming more than was sent moves the ceiling no faster than
25 % per round, and never above what the node itself sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PROBE_DURATION = 0.2  # an uncapped probe's padding is spread over this long
PROBE_CAPPED_DURATION = 0.6  # a capped one's over this long: its small overshoot must outlast a shaper's burst
PROBE_QUEUED_MS = 15.0  # a capped probe whose last packets took this much longer than its first queued
PROBE_MARGIN = 1.2  # an uncapped probe goes this much above what the upgrade needs; it succeeds at need
PROBE_STEP = 1.25  # a probe after a failed one goes at most this far above the ceiling ...
PROBE_RISE = 2.0  # ... and after one got through above it, at up to this many times what that one measured
PROBE_CLEARS = 1.1  # ... and counts as through once it measured this far above it
PROBE_CAPPED_INTERVAL = 2.5  # seconds between capped probes that did not get through
PROBE_SHORT_RETRY = 0.5  # a probe that sent less than meant and met no limit is tried again this soon ...
PROBE_SHORT_RETRIES = 2  # ... this many times in a row, then it counts as failed
PROBE_BACKOFF = 5.0  # after a probe with no measurable result, wait this long before the next ...
PROBE_BACKOFF_MAX = 10.0  # ... doubling up to this
PROBE_MIN_BPS = 100_000  # an uncapped probe's padding never below this (a probe must be measurable)


@dataclass(frozen=True)
class ProbeShape:
    """One probe about to go out: its total rate (media and padding), the padding rate, how long it lasts, its
    kind (module docstring) and the media rate it was added to."""

    target_bps: float
    padding_bps: float
    kind: Literal["full", "held", "rising"] = "full"
    duration: float = PROBE_DURATION
    acked_bps: float = 0.0

    @property
    def capped(self) -> bool:
        return self.kind != "full"


@dataclass
class ProbePlan:
    ceiling_bps: float | None = None  # what a failed probe measured (later probes stay near it)
    rising: bool = False  # the last probe under the ceiling got through: the next ones climb fast
    failures: int = 0  # probes in a row with no measurable result (the back-off doubles)
    shorts: int = 0  # probes in a row that fell short of their rate without meeting a limit
    not_before: float = 0.0  # no probe before this (monotonic seconds)

    def ready(self, now: float) -> bool:
        return now >= self.not_before

    def shape(self, need_bps: float, acked_bps: float | None) -> ProbeShape:
        """The probe for an upgrade that needs `need_bps` in all, while `acked_bps` of media gets through."""
        acked = acked_bps or 0.0
        c = self.ceiling_bps
        if c is None:
            return ProbeShape(need_bps, max(need_bps - acked, PROBE_MIN_BPS), "full", PROBE_DURATION, acked)
        if self.rising:
            target = min(need_bps, c * PROBE_RISE)
            return ProbeShape(target, max(target - acked, PROBE_MIN_BPS), "rising", PROBE_DURATION, acked)
        target = min(need_bps, c * PROBE_STEP)
        # the padding floor stays within the step, so the whole probe stays near the ceiling
        floor = min(PROBE_MIN_BPS, c * (PROBE_STEP - 1.0))
        return ProbeShape(target, max(target - acked, floor), "held", PROBE_CAPPED_DURATION, acked)

    def unsent(self, now: float) -> None:
        """No padding could be sent: try again after the back-off."""
        self.not_before = now + PROBE_BACKOFF

    def learn(self, shape: ProbeShape, rate_bps: float | None, now: float, queued_ms: float | None = None) -> bool:
        """A probe's result: the rate it measured (None: nothing measurable) and the queue it built on the path
        (sfu/congestion/bwe.py: probe_queueing_ms). True when it got through (what it showed may already cover
        the upgrade, or the next, larger probe goes at once); False when it failed."""
        if rate_bps is None:
            self.failures += 1
            self.not_before = now + min(PROBE_BACKOFF * 2 ** (self.failures - 1), PROBE_BACKOFF_MAX)
            if self.ceiling_bps is None and shape.acked_bps > 0:
                self.ceiling_bps = shape.acked_bps  # it lost too much: the path carries about the media alone
            self.rising = False
            return False
        self.failures = 0
        if shape.kind == "held":
            assert self.ceiling_bps is not None
            queued = queued_ms is None or queued_ms >= PROBE_QUEUED_MS
            if rate_bps >= self.ceiling_bps * PROBE_CLEARS and not queued:
                self.ceiling_bps, self.rising, self.not_before = rate_bps, True, now  # the limit lifted
                return True
            # still there, or lower now; never below the media that gets through (a probe that measured less
            # was cut short, not the path)
            self.ceiling_bps = max(min(rate_bps, self.ceiling_bps), shape.acked_bps)
            self.not_before = now + PROBE_CAPPED_INTERVAL
            return False
        if rate_bps >= shape.target_bps / PROBE_MARGIN:
            self.shorts = 0
            if shape.kind == "full" or shape.target_bps < (self.ceiling_bps or 0.0) * PROBE_RISE:
                self.ceiling_bps, self.rising = None, False  # the full need got through: no limit known
            else:
                self.ceiling_bps = rate_bps  # rising: on from what got through
            self.not_before = now
            return True
        if queued_ms is not None and queued_ms < PROBE_QUEUED_MS and self.shorts < PROBE_SHORT_RETRIES:
            # no queue built: everything sent got through, but less was sent than meant (a busy node's padding
            # ticks came late); the path showed no limit, so this is no ceiling: try again soon
            self.shorts += 1
            if self.ceiling_bps is not None:
                self.ceiling_bps = max(self.ceiling_bps, rate_bps)
            self.not_before = now + PROBE_SHORT_RETRY
            return False
        self.shorts = 0
        self.ceiling_bps, self.rising = max(rate_bps, shape.acked_bps), False
        self.not_before = now + PROBE_CAPPED_INTERVAL
        return False
