"""The soak's output: a line per event and per sample while it runs, then the final table (and the same figures
as markdown for docs/reliability.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loadtests.soak.sampling import growth_per_hour

if TYPE_CHECKING:
    from loadtests.soak.scenario import Event, Result, Sample

RSS_TARGET = 1.0  # %/hour after warm-up (issue 18)


def clock(t: float) -> str:
    return f"{int(t // 60):3d}:{int(t % 60):02d}"


def event_line(e: Event) -> str:
    return f"[{clock(e.t)}] {'ok  ' if e.ok else 'FAIL'} {e.what}: {e.detail}"


def sample_line(s: Sample, prev: Sample | None) -> str:
    procs = "  ".join(f"{name} {rss / 1024:.1f}M/{fds}fd" for name, (rss, fds) in sorted(s.procs.items()))
    if prev is not None:
        deltas = {n: s.frames[n] - prev.frames.get(n, 0) for n in s.frames}
        slowest = min(deltas, key=lambda n: deltas[n])
        frames = f"frames +{sum(deltas.values())} (slowest {slowest} +{deltas[slowest]})"
    else:
        frames = f"frames {sum(s.frames.values())}"
    worst, stalls = s.lag
    lag = f"bots' loop late by up to {worst * 1000:.0f} ms" + (f", {stalls} stalls > 0.5 s" if stalls else "")
    audio = sum(s.audio_lost.values()) - (sum(prev.audio_lost.values()) if prev is not None else 0)
    overflow = s.rcvbuf_errors - prev.rcvbuf_errors if prev is not None else 0
    drops = " ".join(f"{n} {d}" for n, d in sorted(s.udp_drops.items()))
    return (f"[{clock(s.t)}] {procs}  | {frames}  lost {sum(s.lost.values())}  audio lost +{audio} (clean)"
            f"  | udp overflows +{overflow} host-wide" + (f" (live sockets: {drops})" if drops else "")
            + f"  | host {s.host} | {lag}")


def host_spans(samples: list[Sample]) -> list[tuple[str, float, float]]:
    """(node, first, last sample time) for each stretch during which one node hosted the meeting."""
    spans: list[tuple[str, float, float]] = []
    for s in samples:
        if spans and spans[-1][0] == s.host:
            spans[-1] = (s.host, spans[-1][1], s.t)
        else:
            spans.append((s.host, s.t, s.t))
    return spans


@dataclass
class Growth:
    process: str
    role: str
    start: float
    end: float
    points: int
    rss_first: int
    rss_last: int
    rss_slope: float | None  # % per hour
    fds_first: int
    fds_last: int
    fds_min: int
    fds_max: int


def growth(result: Result) -> list[Growth]:
    """RSS slope and descriptor growth after warm-up: each node over the time it hosted the meeting, the control
    plane, redis and the bots' own process over the whole run."""
    warm = result.config.warmup_period()
    out: list[Growth] = []

    def one(process: str, role: str, start: float, end: float) -> None:
        pts = [(s.t, *s.procs[process]) for s in result.samples if start <= s.t <= end and process in s.procs]
        if len(pts) < 2:
            return
        ts, rss, fds = [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]
        out.append(Growth(process, role, ts[0], ts[-1], len(pts), rss[0], rss[-1],
                          growth_per_hour(ts, [float(x) for x in rss]), fds[0], fds[-1], min(fds), max(fds)))

    for node, first, last in result.host_spans:
        if node:
            one(node, "node hosting the meeting", first + warm, last)
    end = result.samples[-1].t if result.samples else 0.0
    for process, role in (("control-plane", "control plane"), ("redis", "redis"), ("bots", "the 10 bots")):
        one(process, role, warm, end)
    return out


@dataclass
class Received:
    name: str
    role: str
    node: str
    sessions: int
    frames: int
    fps: float  # decoded video frames per second in the meeting, per publisher received
    receiving: bool
    injected: float  # % of inbound RTP dropped on purpose
    video_rx: int
    video_gaps: int  # holes in the video sequence numbers
    video_lost: int  # holes never repaired by NACK/RTX
    video_residual: float  # %
    audio_lost: int  # Opus is not retransmitted: equals what was dropped of it
    audio_residual: float  # %


def received(result: Result) -> list[Received]:
    pubs = sum(p.role == "pub" for p in result.participants)
    rows = []
    for p in result.participants:
        rtp = result.final_rtp.get(p.name)
        if rtp is None:
            continue
        streams = max(1, pubs - (p.role == "pub"))
        secs = p.seconds_in()
        rows.append(Received(p.name, p.role, p.node, len(p.sessions), p.frames(),
                             p.frames() / secs / streams if secs > 0 else 0.0,
                             bool(result.receiving_at_end.get(p.name)), rtp.injected, rtp.video_rx, rtp.video_gaps,
                             rtp.video_lost,
                             rtp.video_residual, rtp.audio_lost, rtp.audio_residual))
    return rows


def _f(x: float | None, fmt: str = "+.2f") -> str:
    return "-" if x is None else format(x, fmt)


def table(result: Result) -> str:
    lines = ["", "== processes (after warm-up) =="]
    lines.append(f"{'process':<14} {'while':<26} {'span':>13} {'n':>3} {'RSS first':>9} {'RSS last':>9} "
                 f"{'RSS %/h':>8} {'fds first/last (min-max)':>24}")
    for g in growth(result):
        lines.append(f"{g.process:<14} {g.role:<26} {clock(g.start).strip() + '-' + clock(g.end).strip():>13} "
                     f"{g.points:>3} {g.rss_first / 1024:>8.1f}M {g.rss_last / 1024:>8.1f}M {_f(g.rss_slope):>8} "
                     f"{f'{g.fds_first}/{g.fds_last} ({g.fds_min}-{g.fds_max})':>24}")
    lines += ["", "== participants (fps: decoded video frames per second in the meeting, per publisher received) =="]
    lines.append(f"{'participant':<11} {'role':<4} {'node':<6} {'sessions':>8} {'frames':>7} {'fps':>5} "
                 f"{'receiving':>9} {'injected':>8} {'video rx':>8} {'holes':>5} {'lost':>5} {'residual':>8} "
                 f"{'audio lost':>10} {'residual':>8}")
    for r in received(result):
        lines.append(f"{r.name:<11} {r.role:<4} {r.node:<6} {r.sessions:>8} {r.frames:>7} {r.fps:>5.1f} "
                     f"{'yes' if r.receiving else 'NO':>9} {r.injected:>7.2f}% {r.video_rx:>8} {r.video_gaps:>5} {r.video_lost:>5} "
                     f"{r.video_residual:>7.2f}% {r.audio_lost:>10} {r.audio_residual:>7.2f}%")
    stale = [s for p in result.participants for s in p.stale_tokens]
    lines += ["", f"stale tokens presented: {len(stale)}, refused as expired: "
                  f"{sum(s.code == 'token_expired' for s in stale)}"
              + (f", other answers: {sorted({s.code for s in stale if s.code != 'token_expired'})}"
                 if any(s.code != "token_expired" for s in stale) else "")]
    if result.drained:
        lines.append(f"drain: {result.drained} -> {sorted(set(result.moved.values()))}, moves took "
                     f"{_f(min(result.move_seconds.values(), default=None), '.1f')}-"
                     f"{_f(max(result.move_seconds.values(), default=None), '.1f')} s, node exited "
                     f"{result.drained_exit} after {_f(result.drained_exit_after, '.1f')} s")
    fails = result.failures()
    lines.append("result: " + ("PASS" if not fails else "FAIL\n  " + "\n  ".join(fails)))
    return "\n".join(lines)


def markdown(result: Result) -> str:
    """The figures as a markdown fragment (tables) for docs/reliability.md."""
    c = result.config
    lines = [f"Run: {c.seconds / 60:g} min, sample every {c.sample:g} s, warm-up {c.warmup_period() / 60:g} min, "
             f"{c.participants} participants ({c.publishers} publishing VP8+Opus), churn every "
             f"{c.churn_period() / 60:g} min, {c.loss * 100:g} % injected loss on one subscriber.", "",
             "| process | while | span (min) | samples | RSS first → last (MB) | RSS slope (%/h) | fds first → last (min–max) |",
             "|---|---|---|---|---|---|---|"]
    for g in growth(result):
        lines.append(f"| {g.process} | {g.role} | {g.start / 60:.0f}–{g.end / 60:.0f} | {g.points} | "
                     f"{g.rss_first / 1024:.1f} → {g.rss_last / 1024:.1f} | {_f(g.rss_slope)} | "
                     f"{g.fds_first} → {g.fds_last} ({g.fds_min}–{g.fds_max}) |")
    lines += ["", "| participant | sessions | frames decoded | fps per publisher | receiving at the end | "
                  "injected loss | video holes | video lost after NACK/RTX | audio lost |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in received(result):
        lines.append(f"| {r.name} | {r.sessions} | {r.frames} | {r.fps:.1f} | {'yes' if r.receiving else 'NO'} | "
                     f"{r.injected:.2f} % | {r.video_gaps} | {r.video_lost} of {r.video_rx + r.video_lost} "
                     f"({r.video_residual:.2f} %) | "
                     f"{r.audio_residual:.2f} % |")
    lines += ["", "Events:", ""]
    lines += [f"- `{clock(e.t).strip()}` {'' if e.ok else '**FAIL** '}{e.what}: {e.detail}" for e in result.events]
    return "\n".join(lines)
