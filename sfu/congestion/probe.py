"""Bandwidth probes: before stepping a subscriber up a layer its estimate does not cover, padding goes out on an
RTX stream for a fraction of a second; the upgrade happens only if the transport-cc feedback shows room for it
(sfu/congestion/bwe.py: probe_bitrate). After one that got through, the probes climb on by themselves towards
the most the subscriber's layers could use (`climb`, `goal_bps`), so the estimate covers the top layer before the
allocation asks for it. How hard and how often to probe, after a failed probe too, is the downlink's plan
(sfu/congestion/probe_plan.py); this file sends the padding and reads the result.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sfu.allocation.layers import HEADROOM, viewport_cap
from sfu.allocation.selection import ACTIVE_WITHIN
from sfu.congestion.bwe import PacketResult, probe_bitrate, probe_delivered_bitrate, probe_queueing_ms
from sfu.congestion.probe_plan import PROBE_MARGIN, ProbeShape

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant
    from sfu.subscription import Subscription
    from sfu.track import Layer

log = logging.getLogger("castellan.node")

PROBE_TICK = 0.01  # a probe's padding goes in bursts this far apart
PROBE_FEEDBACK_WAIT = 1.0  # feedback for a probe must arrive within this after it was sent
PROBE_PADDING = 255  # bytes of padding per probe packet
PROBE_BURST_MAX = 64  # padding packets per burst
PROBE_CATCH_UP = 10  # a burst carries at most this many ticks' padding (the rest of a late tick's is skipped)
PROBE_STOP_QUEUE_MS = 10.0  # a probe whose feedback shows this much queueing while it is sent stops


@dataclass
class Probe:
    """A probe cluster: padding sent with the media as its shape says (sfu/congestion/probe_plan.py) before
    stepping a layer up."""

    shape: ProbeShape
    started: float
    first: int | None = None  # transport seqs of the padding (16 bits), once sent
    last: int | None = None
    sent_done: bool = False
    deadline: float = 0.0  # feedback for the cluster must have come by then
    stopped: bool = False  # feedback showed a queue building while it was sent: no more padding
    results: dict[int, PacketResult] = field(default_factory=dict)  # extended seq -> result, in the cluster

    def record(self, known: list[tuple[int, PacketResult]]) -> bool:
        """Feedback rows (transport seq, result): keeps those inside the cluster; True once feedback reached its
        end (feedback during the cluster only covers its start). Feedback during the cluster that shows a queue
        building stops the padding: the path's limit is found, and more would only delay or drop media."""
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
        if not self.sent_done and not self.stopped:
            queued = probe_queueing_ms(list(self.results.values()))
            self.stopped = queued is not None and queued >= PROBE_STOP_QUEUE_MS
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
        if down.probe is not None or not down.probe_plan.ready(now):
            return True
        need = want.bitrate_bps * n_subs / HEADROOM * PROBE_MARGIN
        self._start(p, carrier, down.probe_plan.shape(need, down.bwe.acked_bps, now, goal_bps(p, now)), now)
        return True

    def climb(self, p: Participant, now: float) -> None:
        """After a probe that got through, the next goes at once (or after a short retry's wait) towards what the
        subscriber could use at most, not only the next layer's need, whether or not the allocation asks yet:
        the estimate then covers the top layer by the time the allocation's hold lets it step up again."""
        down = p.downlink
        plan = down.probe_plan
        if down.bwe is None or down.probe is not None or not plan.rising or not plan.ready(now):
            return
        carrier = next((s for s in p.subscriptions.values() if s.probe_carrier), None)
        goal = goal_bps(p, now)
        if carrier is None or goal is None:
            return
        if (down.estimate_bps or 0) >= goal / PROBE_MARGIN:
            plan.reached()  # the estimate covers it already: nothing left to climb to
            return
        self._start(p, carrier, plan.shape(goal, down.bwe.acked_bps, now, goal), now)

    def _start(self, p: Participant, carrier: Subscription, shape: ProbeShape, now: float) -> None:
        down = p.downlink
        down.probe = Probe(shape=shape, started=now)
        self.node.counts["probes"] += 1
        if shape.capped:
            self.node.counts["probes_capped"] += 1
        task = asyncio.get_running_loop().create_task(self._run(p, carrier, down.probe))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, p: Participant, carrier: Subscription, probe: Probe) -> None:
        """Padding on `carrier`'s RTX stream at the probe's padding rate for its duration, in PROBE_TICK bursts."""
        padding_bps, duration = probe.shape.padding_bps, probe.shape.duration
        engine = self.node.media_engine
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent_bytes = 0.0
        per_packet = PROBE_PADDING + 36  # header, transport seq, SRTP tag
        catch_up = max(padding_bps / 8 * PROBE_TICK * PROBE_CATCH_UP, per_packet)
        for _ in range(int(duration / PROBE_TICK) + 2):
            if p.left or p.downlink.probe is not probe:
                return
            if probe.stopped:
                break
            elapsed = min(loop.time() - start + PROBE_TICK, duration)
            due = padding_bps / 8 * elapsed - sent_bytes
            if due > catch_up:
                # a late tick (a busy loop) does not send the backlog in one burst a small queue would drop
                sent_bytes += due - catch_up
                due = catch_up
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
            if loop.time() - start >= duration:
                break
            await asyncio.sleep(PROBE_TICK)
        probe.sent_done = True
        probe.deadline = time.monotonic() + PROBE_FEEDBACK_WAIT
        if probe.first is None and p.downlink.probe is probe:
            p.downlink.probe = None
            p.downlink.probe_plan.unsent(time.monotonic())

    def finish(self, p: Participant, now: float) -> None:
        """The probe's feedback is in (or overdue): the estimate learns from it; a success re-runs layer choice."""
        down = p.downlink
        probe = down.probe
        down.probe = None
        if probe is None or down.bwe is None:
            return
        results = list(probe.results.values())
        rate, queued = probe_bitrate(results), probe_queueing_ms(results)
        delivered = probe_delivered_bitrate(results)
        plan = down.probe_plan
        before = plan.ceiling_bps, plan.rising
        through = plan.learn(probe.shape, rate, now, queued, delivered)
        # what changes how the next probes go is worth a line at info (rare); each probe's result is at debug
        changed = (plan.rising != before[1] or (plan.ceiling_bps is None) != (before[0] is None)
                   or abs((plan.ceiling_bps or 0.0) - (before[0] or 0.0)) > 0.1 * (before[0] or 1.0))
        log.log(logging.INFO if changed else logging.DEBUG,
                "probe for %s: %s %.0f kb/s (padding %.0f on %.0f) for %.1f s, got %s (delivered %s, queue %s ms, result "
                "%.1f s after the start): %s, ceiling %s", p.id, probe.shape.kind, probe.shape.target_bps / 1000,
                probe.shape.padding_bps / 1000, probe.shape.acked_bps / 1000, probe.shape.duration,
                f"{rate / 1000:.0f} kb/s" if rate else "no result", delivered and round(delivered / 1000),
                queued and round(queued), now - probe.started,
                "through" if through else "failed", plan.ceiling_bps and int(plan.ceiling_bps))
        if rate is not None:
            # the estimate moves on the measured rate alone: the delivered one only tells the plan that a limit
            # lifted, and the climb's next probes, which go at once, raise the estimate
            down.bwe.on_probe(rate)
            down.estimate_bps = int(down.bwe.estimate)
        if through:
            plan.through_at = now
            self.node.counts["probe_succeeded"] += 1
            self.node.allocation.select_for(p, now)  # an upgrade the probe covered, or the next step at once
            self.climb(p, now)  # the allocation asked for no probe: on towards the goal all the same
        else:
            self.node.counts["probe_failed"] += 1

    def expire(self, now: float) -> None:
        """Every feedback tick: probes whose feedback is overdue end; a climb whose retry is due goes on."""
        for p in list(self.node.by_id.values()):
            probe = p.downlink.probe
            if probe is not None and probe.sent_done and now > probe.deadline:
                self.finish(p, now)
            elif probe is None:
                self.climb(p, now)


def goal_bps(p: Participant, now: float) -> float | None:
    """What `p`'s video subscriptions could use at most, as a probe's need (with the headroom and the probe
    margin): on each, the highest layer sending lately that its tile is large enough for (libwebrtc probes
    towards the most the encoders are allocated, LiveKit towards the optimal allocation). None without any."""
    total = 0.0
    for sub in p.subscriptions.values():
        if sub.paused or not sub.track.scalable:
            continue
        active = [layer for layer in sub.track.layers if now - layer.last_active < ACTIVE_WITHIN]
        if not active:
            continue
        cap = viewport_cap(sub.viewport_height, max(layer.rank for layer in active))
        total += max((layer.bitrate_bps for layer in active if layer.rank <= cap), default=0.0)
    return total / HEADROOM * PROBE_MARGIN if total > 0 else None
