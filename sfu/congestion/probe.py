"""Bandwidth probes: before stepping a subscriber up a layer its estimate does not cover, padding at the rate
the upgrade needs goes out on an RTX stream for PROBE_DURATION; the upgrade happens only if the transport-cc
feedback shows it got through (sfu/congestion/bwe.py: probe_bitrate). Failed probes back off 5, then 10 s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sfu.allocation.layers import HEADROOM
from sfu.congestion.bwe import PacketResult, probe_bitrate

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant
    from sfu.subscription import Subscription
    from sfu.track import Layer

log = logging.getLogger("castellan.node")

PROBE_DURATION = 0.2  # a probe cluster's padding is spread over this long ...
PROBE_TICK = 0.01  # ... in bursts this far apart
PROBE_MARGIN = 1.2  # probe this much above what the upgrade needs
PROBE_MIN_BPS = 100_000  # padding rate never below this (a probe must be measurable)
PROBE_FEEDBACK_WAIT = 1.0  # feedback for a probe must arrive within this after it was sent
PROBE_BACKOFF = 5.0  # after a probe that showed too little room, wait this long before the next
PROBE_BACKOFF_MAX = 10.0
PROBE_PADDING = 255  # bytes of padding per probe packet
PROBE_BURST_MAX = 64  # padding packets per burst


@dataclass
class Probe:
    """A probe cluster: padding sent at `target_bps` (with the media) before stepping a layer up."""

    target_bps: float
    started: float
    first: int | None = None  # transport seqs of the padding (16 bits), once sent
    last: int | None = None
    sent_done: bool = False
    deadline: float = 0.0  # feedback for the cluster must have come by then
    results: dict[int, PacketResult] = field(default_factory=dict)  # extended seq -> result, in the cluster

    def record(self, known: list[tuple[int, PacketResult]]) -> bool:
        """Feedback rows (transport seq, result): keeps those inside the cluster; True once feedback reached its
        end (feedback during the cluster only covers its start)."""
        if self.first is None or self.last is None:
            return False
        span = (self.last - self.first) & 0xFFFF
        done = False
        for seq, r in known:
            offset = (seq - self.first) & 0xFFFF
            if offset <= span:
                self.results[r.seq] = r  # padding and the media sent among it
            if span <= offset < 0x8000:
                done = True
        return done and self.sent_done


class Prober:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._tasks: set[asyncio.Task[None]] = set()

    def probe_for(self, p: Participant, n_subs: int, want: Layer, now: float) -> bool:
        """Before an upgrade the estimate does not cover: starts (or waits for) a probe at the rate it needs.
        False when no probe is possible (no RTX stream with transport-cc to send padding on)."""
        down = p.downlink
        if down.bwe is None:
            return False
        carrier = next((s for s in p.subscriptions.values() if s.probe_carrier), None)
        if carrier is None:
            return False
        if down.probe is not None or now < down.probe_backoff_until:
            return True
        target = want.bitrate_bps * n_subs / HEADROOM * PROBE_MARGIN
        padding_bps = max(target - (down.bwe.acked_bps or 0.0), PROBE_MIN_BPS)
        down.probe = Probe(target_bps=target, started=now)
        self.node.counts["probes"] += 1
        task = asyncio.get_running_loop().create_task(self._run(p, carrier, down.probe, padding_bps))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, p: Participant, carrier: Subscription, probe: Probe, padding_bps: float) -> None:
        """Padding on `carrier`'s RTX stream at padding_bps for PROBE_DURATION, in PROBE_TICK bursts."""
        engine = self.node.media_engine
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent_bytes = 0.0
        per_packet = PROBE_PADDING + 36  # header, transport seq, SRTP tag
        for _ in range(int(PROBE_DURATION / PROBE_TICK) + 2):
            if p.left or p.downlink.probe is not probe:
                return
            elapsed = min(loop.time() - start + PROBE_TICK, PROBE_DURATION)
            due = padding_bps / 8 * elapsed - sent_bytes
            count = min(int(due // per_packet), PROBE_BURST_MAX)
            if count > 0:
                res = engine.send_padding(carrier.index, count, PROBE_PADDING)
                if res is None:
                    break
                first, last, nbytes = res
                if probe.first is None:
                    probe.first = first
                probe.last = last
                sent_bytes += nbytes
            if loop.time() - start >= PROBE_DURATION:
                break
            await asyncio.sleep(PROBE_TICK)
        probe.sent_done = True
        probe.deadline = time.monotonic() + PROBE_FEEDBACK_WAIT
        if probe.first is None and p.downlink.probe is probe:
            p.downlink.probe = None
            p.downlink.probe_backoff_until = time.monotonic() + PROBE_BACKOFF

    def finish(self, p: Participant, now: float) -> None:
        """The probe's feedback is in (or overdue): the estimate learns from it; a success re-runs layer choice."""
        down = p.downlink
        probe = down.probe
        down.probe = None
        if probe is None or down.bwe is None:
            return
        rate = probe_bitrate(list(probe.results.values()))
        log.debug("probe for %s: target %.0f kb/s, got %s", p.id, probe.target_bps / 1000,
                  f"{rate / 1000:.0f} kb/s" if rate else "no result")
        if rate is not None:
            down.bwe.on_probe(rate)
            down.estimate_bps = int(down.bwe.estimate)
        if rate is None or rate < probe.target_bps / PROBE_MARGIN:
            # each failed probe costs a constrained link some media: wait 5, then 10 s between them
            down.probe_failures += 1
            down.probe_backoff_until = now + min(PROBE_BACKOFF * 2 ** (down.probe_failures - 1), PROBE_BACKOFF_MAX)
            self.node.counts["probe_failed"] += 1
        else:
            down.probe_failures = 0
            self.node.counts["probe_succeeded"] += 1
            self.node.allocation.select_for(p, now)

    def expire(self, now: float) -> None:
        for p in list(self.node.by_id.values()):
            probe = p.downlink.probe
            if probe is not None and probe.sent_done and now > probe.deadline:
                self.finish(p, now)
