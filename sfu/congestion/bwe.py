"""Send-side bandwidth estimation for one subscriber's downlink, from its transport-cc feedback.

In the spirit of Google Congestion Control (draft-ietf-rmcat-gcc-02) and libwebrtc's send-side estimator, in
plain Python with time passed in (milliseconds, any monotonic clock), so every piece is testable without sockets:

- `InterArrival`: packets are grouped by send time (a group spans at most 5 ms: a burst the pacer or the
  forwarder sent together); a packet that arrives in a burst with the group is kept in it too. Consecutive
  groups give the inter-departure and inter-arrival deltas, whose difference is the delay variation.
- `TrendlineEstimator`: accumulated delay variation, exponentially smoothed, and the slope of a least-squares
  line over the last 20 groups (arrival time -> smoothed delay), scaled by the number of deltas and a gain.
- `OveruseDetector`: compares the trend with an adaptive threshold (k_up 0.01, k_down 0.00018, 6..600 ms):
  "overusing" when it stays above for 10 ms and keeps growing, "underusing" below minus the threshold.
- `AimdRateControl`: decreases to 0.85 x the acknowledged bitrate on overuse (at most once per response
  time), holds on underuse, increases otherwise: multiplicatively (8 %/s) far from the last congestion point,
  additively (about one packet per response time) near it; never above 1.5 x acknowledged + 10 kb/s by
  increasing (only a probe lifts it further).
- `LossBasedControl`: loss over at least 20 packets / 0.5 s: > 10 % cuts the rate by half the loss fraction,
  < 2 % lets it grow 8 %/s, in between holds.
- `AckedBitrate`: what actually arrived, per receive-time window.
- `probe_bitrate`: the rate a probe cluster got through: min(send rate, receive rate) over its packets;
  `probe_queueing_ms`: how much longer its last packets took than its first (a queue built on the path);
  `probe_delivered_bitrate`: what of it arrived over the time it took to send (what the path carried, when no
  queue built).

`SendSideBwe` ties them: estimate = min(delay-based, loss-based), within [MIN_BPS, MAX_BPS].
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MIN_BPS = 30_000
MAX_BPS = 50_000_000
START_BPS = 300_000

BURST_MS = 5.0                 # send-time span of one packet group
TRENDLINE_WINDOW = 20
TRENDLINE_SMOOTHING = 0.9
TRENDLINE_GAIN = 4.0
THRESHOLD_START_MS = 12.5
K_UP = 0.01
K_DOWN = 0.00018
OVERUSE_TIME_MS = 10.0
BETA = 0.85                    # multiplicative decrease, of the acknowledged bitrate
ACKED_WINDOW_MS = 500.0


@dataclass(frozen=True)
class PacketResult:
    """One packet the node sent and what the feedback says about it (recv_ms None: reported lost)."""

    seq: int                   # extended transport-wide sequence number
    send_ms: float
    size: int                  # bytes on the wire
    recv_ms: float | None


# ---------------------------------------------------------------- delay-based


@dataclass
class _Group:
    first_send: float
    last_send: float
    first_recv: float
    last_recv: float
    size: int = 0


class InterArrival:
    """Packet groups -> (send delta ms, arrival delta ms, arrival time ms) between consecutive groups."""

    def __init__(self, burst_ms: float = BURST_MS) -> None:
        self.burst_ms = burst_ms
        self.current: _Group | None = None
        self.previous: _Group | None = None

    def _in_group(self, send: float, recv: float) -> bool:
        g = self.current
        assert g is not None
        if send - g.first_send <= self.burst_ms:
            return True
        # arrived in a burst with the group (queued behind it on the path): same group
        recv_delta = recv - g.last_recv
        send_delta = send - g.last_send
        return recv_delta - send_delta < 0 and recv_delta <= self.burst_ms

    def update(self, send: float, recv: float, size: int) -> tuple[float, float, float] | None:
        g = self.current
        if g is None:
            self.current = _Group(send, send, recv, recv, size)
            return None
        if send < g.first_send:
            return None                                  # sent before the group began: reordered, ignore
        if self._in_group(send, recv):
            g.last_send = max(g.last_send, send)
            g.last_recv = max(g.last_recv, recv)
            g.size += size
            return None
        out = None
        if self.previous is not None:
            send_delta = g.last_send - self.previous.last_send
            recv_delta = g.last_recv - self.previous.last_recv
            if recv_delta >= 0 or -recv_delta < 3000:   # a clock jump would be larger
                out = (send_delta, recv_delta, g.last_recv)
        self.previous = g
        self.current = _Group(send, send, recv, recv, size)
        return out


class TrendlineEstimator:
    """Delay variation -> trend (ms of queueing growth, scaled), draft-ietf-rmcat-gcc §5.3 / libwebrtc."""

    def __init__(self, window: int = TRENDLINE_WINDOW, smoothing: float = TRENDLINE_SMOOTHING,
                 gain: float = TRENDLINE_GAIN) -> None:
        self.window = window
        self.smoothing = smoothing
        self.gain = gain
        self.accumulated = 0.0
        self.smoothed = 0.0
        self.first_arrival: float | None = None
        self.points: deque[tuple[float, float]] = deque(maxlen=window)
        self.num_deltas = 0
        self.trend = 0.0

    def update(self, send_delta: float, recv_delta: float, arrival_ms: float) -> float:
        if self.first_arrival is None:
            self.first_arrival = arrival_ms
        self.num_deltas = min(self.num_deltas + 1, 1000)
        self.accumulated += recv_delta - send_delta
        self.smoothed = self.smoothing * self.smoothed + (1 - self.smoothing) * self.accumulated
        self.points.append((arrival_ms - self.first_arrival, self.smoothed))
        if len(self.points) == self.window:
            slope = _slope(self.points)
            if slope is not None:
                self.trend = slope
        return min(self.num_deltas, 60) * self.trend * self.gain


def _slope(points: Iterable[tuple[float, float]]) -> float | None:
    pts = list(points)
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    den = sum((x - mx) ** 2 for x, _ in pts)
    if den == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / den


NORMAL, OVERUSING, UNDERUSING = "normal", "overusing", "underusing"


class OveruseDetector:
    """Trend vs an adaptive threshold -> NORMAL / OVERUSING / UNDERUSING (gcc §5.4)."""

    def __init__(self) -> None:
        self.threshold = THRESHOLD_START_MS
        self.state = NORMAL
        self.time_over = -1.0
        self.count_over = 0
        self.prev_trend = 0.0
        self.last_update: float | None = None

    def detect(self, trend: float, ts_delta_ms: float, now_ms: float) -> str:
        if trend > self.threshold:
            if self.time_over < 0:
                self.time_over = ts_delta_ms / 2           # assume the overuse began half a delta ago
            else:
                self.time_over += ts_delta_ms
            self.count_over += 1
            if self.time_over > OVERUSE_TIME_MS and self.count_over > 1 and trend >= self.prev_trend:
                self.time_over = 0.0
                self.count_over = 0
                self.state = OVERUSING
        elif trend < -self.threshold:
            self.time_over = -1.0
            self.count_over = 0
            self.state = UNDERUSING
        else:
            self.time_over = -1.0
            self.count_over = 0
            self.state = NORMAL
        self.prev_trend = trend
        self._adapt(trend, now_ms)
        return self.state

    def _adapt(self, trend: float, now_ms: float) -> None:
        if self.last_update is None:
            self.last_update = now_ms
        if abs(trend) > self.threshold + 15.0:             # a spike (e.g. a route change): do not adapt to it
            self.last_update = now_ms
            return
        k = K_DOWN if abs(trend) < self.threshold else K_UP
        dt = min(now_ms - self.last_update, 100.0)
        self.threshold += k * (abs(trend) - self.threshold) * dt
        self.threshold = min(max(self.threshold, 6.0), 600.0)
        self.last_update = now_ms


class AimdRateControl:
    """The delay-based rate: additive/multiplicative increase, multiplicative decrease (gcc §5.5)."""

    def __init__(self, start_bps: float = START_BPS) -> None:
        self.bitrate = start_bps
        self.state = "increase"
        self.last_change: float | None = None
        self.last_decrease: float | None = None
        self.link_capacity: float | None = None           # acked bitrate at overuse, smoothed
        self.link_var = 0.01                               # its relative variance

    def _near_capacity(self) -> bool:
        """Within 3 standard deviations of where congestion last set in (then increase additively)."""
        if self.link_capacity is None:
            return False
        std = max(math.sqrt(self.link_var), 0.05) * self.link_capacity
        if self.bitrate > self.link_capacity + 3 * std:
            self.link_capacity = None                     # well past it: the path changed, forget it
            return False
        return abs(self.bitrate - self.link_capacity) <= 3 * std

    def update(self, signal: str, acked_bps: float | None, now_ms: float, rtt_ms: float = 100.0) -> float:
        dt = 0.0 if self.last_change is None else max(0.0, now_ms - self.last_change) / 1000.0
        dt = min(dt, 1.0)
        response_ms = 100.0 + rtt_ms
        if signal == OVERUSING:
            if self.last_decrease is None or now_ms - self.last_decrease >= response_ms:
                target = BETA * (acked_bps if acked_bps else self.bitrate)
                if acked_bps:
                    if self.link_capacity is None:
                        self.link_capacity = acked_bps
                    else:
                        err = acked_bps - self.link_capacity
                        self.link_capacity += 0.05 * err
                        self.link_var = (1 - 0.05) * self.link_var + 0.05 * (err / max(self.link_capacity, 1.0)) ** 2
                self.bitrate = min(self.bitrate, target)
                self.last_decrease = now_ms
            self.state = "hold"
        elif signal == UNDERUSING:
            self.state = "hold"
        else:
            if self.state == "hold":
                self.state = "increase"
            elif self.state == "increase":
                if self._near_capacity():
                    bits_per_frame = self.bitrate / 30.0
                    packets = max(1.0, math.ceil(bits_per_frame / (1200 * 8)))
                    avg_packet_bits = bits_per_frame / packets
                    increase = max(4000.0, avg_packet_bits * 1000.0 / response_ms) * dt
                else:
                    increase = max(1000.0, self.bitrate * (1.08 ** dt - 1.0))
                limit = 1.5 * acked_bps + 10_000 if acked_bps else math.inf
                self.bitrate = min(self.bitrate + increase, max(self.bitrate, limit))
        self.last_change = now_ms
        self.bitrate = min(max(self.bitrate, MIN_BPS), MAX_BPS)
        return self.bitrate

    def raise_to(self, bps: float) -> None:
        """A probe showed the path carries `bps`: start from there."""
        if bps > self.bitrate:
            self.bitrate = min(bps, MAX_BPS)
            self.link_capacity = None


# ---------------------------------------------------------------- loss-based and throughput


class LossBasedControl:
    """gcc §6: the loss fraction over >= 20 packets / 0.5 s moves the rate."""

    def __init__(self, start_bps: float = START_BPS) -> None:
        self.bitrate = start_bps
        self.lost = 0
        self.total = 0
        self.since: float | None = None
        self.last_decrease: float | None = None
        self.last_fraction = 0.0

    def update(self, lost: int, total: int, now_ms: float, current_bps: float, rtt_ms: float = 100.0) -> float:
        if self.since is None:
            self.since = now_ms
        self.lost += lost
        self.total += total
        elapsed = now_ms - self.since
        if self.total < 20 or elapsed < 500.0:
            return self.bitrate
        fraction = self.lost / self.total
        self.last_fraction = fraction
        dt = min(elapsed, 1000.0) / 1000.0
        self.lost = self.total = 0
        self.since = now_ms
        if fraction > 0.10:
            if self.last_decrease is None or now_ms - self.last_decrease >= 300.0 + rtt_ms:
                self.bitrate = min(self.bitrate, current_bps) * (1.0 - 0.5 * fraction)
                self.last_decrease = now_ms
        elif fraction < 0.02:
            self.bitrate = self.bitrate * 1.08 ** dt + 1000.0 * dt
        self.bitrate = min(max(self.bitrate, MIN_BPS), MAX_BPS)
        return self.bitrate


class AckedBitrate:
    """Bytes that arrived within the last `window_ms` of receive time, as bits per second."""

    def __init__(self, window_ms: float = ACKED_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self.packets: deque[tuple[float, int]] = deque()
        self.bytes = 0

    def add(self, recv_ms: float, size: int) -> None:
        self.packets.append((recv_ms, size))
        self.bytes += size
        newest = max(recv_ms, self.packets[-1][0])
        while self.packets and self.packets[0][0] < newest - self.window_ms:
            _, old = self.packets.popleft()
            self.bytes -= old

    def bitrate(self) -> float | None:
        if len(self.packets) < 2:
            return None
        span = self.packets[-1][0] - self.packets[0][0]
        if span < 100.0:
            return None
        return self.bytes * 8 * 1000.0 / max(span, self.window_ms * 0.5)


def probe_bitrate(packets: Sequence[PacketResult], min_packets: int = 5, min_received: float = 0.8) -> float | None:
    """The rate a probe cluster (its packets and whatever was sent among them) got through, or None when too
    few arrived to say: min(send rate, receive rate), each without the packet that opens its interval (the
    receive rate also over the later half of the arrivals alone, past any shaper's burst); a receive rate
    clearly below the send rate means the path is saturated (then 95 % of the receive rate)."""
    if len(packets) < min_packets:
        return None
    received = [p for p in packets if p.recv_ms is not None]
    if len(received) < min_packets or len(received) < min_received * len(packets):
        return None
    by_send = sorted(packets, key=lambda p: p.send_ms)
    send_span = by_send[-1].send_ms - by_send[0].send_ms
    by_recv = sorted(received, key=lambda p: p.recv_ms or 0.0)
    recv_span = (by_recv[-1].recv_ms or 0.0) - (by_recv[0].recv_ms or 0.0)
    if send_span <= 0.5 or recv_span <= 0.5 or send_span > 1000.0 or recv_span > 1000.0:
        return None
    send_rate = (sum(p.size for p in by_send) - by_send[-1].size) * 8000.0 / send_span
    recv_rate = (sum(p.size for p in by_recv) - by_recv[0].size) * 8000.0 / recv_span
    # a token-bucket shaper lets its burst through at line rate, then the rest at its own rate: the later half
    # of the arrivals measures the path, not the bucket
    tail = by_recv[len(by_recv) // 2:]
    tail_span = (tail[-1].recv_ms or 0.0) - (tail[0].recv_ms or 0.0)
    if len(tail) >= min_packets and tail_span > 0.5:
        recv_rate = min(recv_rate, (sum(p.size for p in tail) - tail[0].size) * 8000.0 / tail_span)
    if recv_rate < 0.9 * send_rate:
        return 0.95 * recv_rate
    return min(send_rate, recv_rate)


def probe_delivered_bitrate(packets: Sequence[PacketResult]) -> float | None:
    """What of a probe cluster arrived, over the time it took to send (without the packet that closes that
    interval): with no queue built (probe_queueing_ms), the path carried it, however the receiver's clock spread
    the arrivals (a starved receiver stamps late packets later, which probe_bitrate's receive rate reads as a
    slower path). Never more than was sent; None for fewer than two packets or no time between them."""
    if len(packets) < 2:
        return None
    by_send = sorted(packets, key=lambda p: p.send_ms)
    span = by_send[-1].send_ms - by_send[0].send_ms
    if span <= 0.5:
        return None
    return sum(p.size for p in by_send[:-1] if p.recv_ms is not None) * 8000.0 / span


def probe_queueing_ms(packets: Sequence[PacketResult], edge: int = 5) -> float | None:
    """How much longer (ms) the last `edge` received packets of a probe cluster took on the path than the first
    `edge` (one-way delay, on two clocks whose offset cancels): a queue that built while it was sent. A shaper's
    burst hides a small overshoot from the rate; once its bucket is empty the queue shows here. None when too
    few arrived to say."""
    received = sorted((p for p in packets if p.recv_ms is not None), key=lambda p: p.send_ms)
    if len(received) < 2 * edge:
        return None
    delays = [(p.recv_ms or 0.0) - p.send_ms for p in received]
    # the least delay of each edge: a packet that waited behind its own frame's burst says nothing of a queue
    return min(delays[-edge:]) - min(delays[:edge])


# ---------------------------------------------------------------- together


@dataclass
class SendSideBwe:
    """One subscriber peer's downlink estimate from its transport-cc feedback."""

    start_bps: float = START_BPS
    inter_arrival: InterArrival = field(default_factory=InterArrival)
    trendline: TrendlineEstimator = field(default_factory=TrendlineEstimator)
    detector: OveruseDetector = field(default_factory=OveruseDetector)
    acked: AckedBitrate = field(default_factory=AckedBitrate)
    delay: AimdRateControl = field(init=False)
    loss: LossBasedControl = field(init=False)
    state: str = NORMAL
    feedbacks: int = 0
    last_seq: int | None = None          # highest extended seq already accounted

    def __post_init__(self) -> None:
        self.delay = AimdRateControl(self.start_bps)
        self.loss = LossBasedControl(self.start_bps)

    @property
    def estimate(self) -> float:
        return min(max(min(self.delay.bitrate, self.loss.bitrate), MIN_BPS), MAX_BPS)

    @property
    def acked_bps(self) -> float | None:
        return self.acked.bitrate()

    def on_feedback(self, results: Iterable[PacketResult], now_ms: float, rtt_ms: float = 100.0) -> float:
        """Feeds one feedback's packets (already joined with their send times), returns the estimate."""
        fresh = sorted((r for r in results if self.last_seq is None or r.seq > self.last_seq), key=lambda r: r.seq)
        if not fresh:
            return self.estimate
        self.last_seq = fresh[-1].seq
        self.feedbacks += 1
        lost = 0
        for r in sorted(fresh, key=lambda r: (r.recv_ms is None, r.recv_ms or 0.0, r.seq)):
            if r.recv_ms is None:
                lost += 1
                continue
            self.acked.add(r.recv_ms, r.size)
            deltas = self.inter_arrival.update(r.send_ms, r.recv_ms, r.size)
            if deltas is not None:
                send_delta, recv_delta, arrival = deltas
                trend = self.trendline.update(send_delta, recv_delta, arrival)
                self.state = self.detector.detect(trend, send_delta, now_ms)
        acked = self.acked.bitrate()
        self.delay.update(self.state, acked, now_ms, rtt_ms)
        self.loss.update(lost, len(fresh), now_ms, self.estimate, rtt_ms)
        return self.estimate

    def on_probe(self, bps: float) -> float:
        """A probe cluster's delivered rate: both controllers may start from it."""
        self.delay.raise_to(bps)
        if bps > self.loss.bitrate:
            self.loss.bitrate = min(bps, MAX_BPS)
        return self.estimate
