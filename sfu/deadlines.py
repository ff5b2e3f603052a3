"""The node's own deadlines under load (issue 14): how late its event loop runs what is due, and how often a duty
with a deadline — registry heartbeats, consent checks, the media timers — ran late.

A join storm is work on the one event loop (WebSocket frames, tokens, SDP, DTLS); if it starves the loop, a
heartbeat missed is a registration that expires (joins refused `node_not_registered`) and a consent pass missed
is media paused. These counters make that visible (`castellan_event_loop_lag_seconds`,
`castellan_deadline_misses_total`) so the fixes can be measured, not assumed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

LAG_PERIOD = 0.05  # the probe's sleep: one sample every 50 ms
LAG_WINDOW = 1200  # samples kept for the quantiles: the last minute

# how late a duty may run before it counts as a miss (seconds past its period)
HEARTBEAT_SLACK = 1.0  # the registry's TTL is three heartbeat intervals: one second late still leaves two
CONSENT_SLACK = 0.5  # the consent pass runs every second
TICK_SLACK = 0.1  # media timers (transport-cc feedback every 100 ms, DTLS retransmissions) on a 50 ms tick


def quantile(samples: list[float], q: float) -> float:
    """The q-quantile of `samples` (nearest rank); 0.0 when there are none."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Deadlines:
    """Event-loop lag samples and missed deadlines per duty; every method is cheap and may run on any thread."""

    lag: deque[float] = field(default_factory=lambda: deque(maxlen=LAG_WINDOW))
    lag_max: float = 0.0
    misses: Counter[str] = field(default_factory=Counter)
    _last: dict[str, float] = field(default_factory=dict)

    def ran(self, duty: str, period: float, slack: float, now: float | None = None) -> float:
        """`duty` (due every `period`) ran now: counts a miss when it ran more than `slack` late; returns how late."""
        now = time.monotonic() if now is None else now
        last = self._last.get(duty)
        self._last[duty] = now
        if last is None:
            return 0.0
        late = now - last - period
        if late > slack:
            self.misses[duty] += 1
        return max(0.0, late)

    def lag_sample(self, late: float) -> None:
        self.lag.append(late)
        self.lag_max = max(self.lag_max, late)

    def lag_quantile(self, q: float) -> float:
        return quantile(list(self.lag), q)

    async def watch_loop(self, period: float = LAG_PERIOD) -> None:
        """Samples the loop's lag for ever: how much later than asked a `sleep(period)` resumes."""
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(period)
            self.lag_sample(max(0.0, loop.time() - start - period))


class Rounds(Generic[T]):
    """One round over a list per period, served in slices, one per tick: a duty that must visit every participant
    once a second visits 1/20th of them on each 50 ms tick instead of all of them on one, so no single tick holds
    the event loop for long. A round that a late loop left unfinished is finished when the next one starts:
    nobody's turn is skipped."""

    def __init__(self, members: Callable[[], list[T]], ticks_per_round: float) -> None:
        self._members = members
        self._ticks = max(1.0, ticks_per_round)
        self._round: list[T] = []
        self._pos = 0
        self._leftover: list[T] = []

    def start(self) -> None:
        """A new round begins (once per period): whatever the last one did not reach goes first."""
        self._leftover = self._round[self._pos:]
        self._round = self._members()
        self._pos = 0

    def slice(self) -> list[T]:
        """This tick's share: the last round's leftovers (once), then ceil(len / ticks) of this round."""
        n = math.ceil(len(self._round) / self._ticks)
        out = self._leftover + self._round[self._pos:self._pos + n]
        self._leftover = []
        self._pos += n
        return out
