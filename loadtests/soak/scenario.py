"""The soak's timeline and its checks: one meeting held for `seconds`, with churn, a publisher restart and a drain.

    t = 0          10 participants join through the control plane (2 publish VP8+Opus, 8 subscribe; one
                   subscriber drops `loss` of its incoming RTP)
    every churn    the participant in the meeting longest leaves, is away a few seconds, presents its old token
                   to the node (older than the 60 s token lifetime: it must be refused as expired), then joins
                   back with a new one and must receive again
    0.25 x (*)     one publisher restarts: its socket drops without a goodbye, it joins again and publishes a new
                   track that everyone must receive
    0.5 x (*)      SIGTERM to the node hosting the meeting: everyone on it must get `drain`, ask the control
                   plane again, be placed on the region's other node and receive there; the drained node must
                   exit by itself; a replacement node starts
    end            everyone must be receiving every publisher; stale tokens are presented once more

(*) of the run's length by default (`restart_at`, `drain_at`).

A sampler runs alongside: every `sample` seconds, each process's RSS and descriptors, each participant's frames.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.bots.rcvbuf import roomy_receive_buffers
from loadtests.soak import report
from loadtests.soak.deployment import Deployment
from loadtests.soak.participant import Participant, Rtp
from loadtests.soak.sampling import LoopLag, open_fds, rss_kb, udp_drops, udp_rcvbuf_errors

TOKEN_TTL = 60.0  # the control plane's default join-token lifetime (signalling/control/config.py)
STALE_AFTER = TOKEN_TTL + 2.0 + 1.0  # lifetime + the node's leeway + a margin


@dataclass
class Config:
    seconds: float = 3600.0
    sample: float = 60.0
    participants: int = 10
    publishers: int = 2
    loss: float = 0.03
    audio: bool = True
    churn_every: float | None = None  # default: seconds / 15, between 20 s and 5 min
    warmup: float | None = None  # default: 10 % of the run, at least two samples
    drain_deadline: float = 120.0
    restart_at: float = 0.25  # share of the run at which a publisher restarts
    drain_at: float = 0.5  # share of the run at which the hosting node is drained
    workdir: Path = Path("/tmp/castellan-soak")
    quiet: bool = False

    def churn_period(self) -> float:
        return self.churn_every or min(300.0, max(20.0, self.seconds / 15))

    def warmup_period(self) -> float:
        return self.warmup if self.warmup is not None else max(2 * self.sample, 0.1 * self.seconds)

    def away(self) -> float:
        return min(10.0, self.churn_period() / 3)


@dataclass
class Sample:
    t: float  # seconds since the meeting started
    procs: dict[str, tuple[int, int]]  # process -> (RSS kB, open fds)
    frames: dict[str, int]  # participant -> video frames decoded so far (all sessions)
    lost: dict[str, int]  # participant -> video RTP packets lost after retransmissions so far
    nodes: dict[str, str]  # participant -> node it is on
    host: str  # the node most participants are on
    lag: tuple[float, int] = (0.0, 0)  # the bots' event loop since the last sample: worst lateness (s), stalls > 0.5 s
    # participant without injected loss -> audio RTP packets lost so far (Opus is not retransmitted): when it
    # moves, the minute says when the loss happened (the hour's report only gives the total)
    audio_lost: dict[str, int] = field(default_factory=dict)
    udp_drops: dict[str, int] = field(default_factory=dict)  # process -> drops on its live UDP sockets (their life)
    rcvbuf_errors: int = 0  # the host's UDP receive-buffer overflows since boot


@dataclass
class Event:
    t: float
    what: str
    ok: bool
    detail: str


@dataclass
class Result:
    config: Config
    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    receiving_at_end: dict[str, bool] = field(default_factory=dict)
    final_rtp: dict[str, Rtp] = field(default_factory=dict)
    drained: str = ""
    drained_exit: int | None = None
    drained_exit_after: float | None = None
    moved: dict[str, str] = field(default_factory=dict)  # participant -> node after the drain
    move_seconds: dict[str, float] = field(default_factory=dict)
    drain_seen: dict[str, bool] = field(default_factory=dict)
    host_spans: list[tuple[str, float, float]] = field(default_factory=list)  # node, from, to (meeting seconds)
    started: float = 0.0
    error: str = ""

    def failures(self) -> list[str]:
        out = [f"{e.what}: {e.detail}" for e in self.events if not e.ok]
        out += [f"{n} not receiving at the end" for n, ok in self.receiving_at_end.items() if not ok]
        if self.error:
            out.append(self.error)
        return out


async def receiving(ps: list[Participant], frames: int = 5, timeout: float = 20.0) -> dict[str, bool]:
    """Per participant: did every video track of every other current publisher advance by `frames` decoded
    frames within `timeout`? (A participant that sees fewer publishers than there are is not receiving.)"""
    pubs = [p for p in ps if p.role == "pub" and p.bot is not None]

    def expected(p: Participant) -> set[str]:
        assert p.bot is not None
        others = {q.sessions[-1].participant_id for q in pubs if q is not p}
        return {tid for tid, t in p.bot.tracks.items() if t.get("kind") == "video" and t.get("participant") in others}

    start: dict[str, dict[str, int]] = {p.name: dict(p.bot.frames_by_track()) for p in ps if p.bot is not None}

    def done(p: Participant) -> bool:
        if p.bot is None:
            return False
        want = expected(p)
        if len(want) < len([q for q in pubs if q is not p]):
            return False
        now = p.bot.frames_by_track()
        return all(now.get(t, 0) - start[p.name].get(t, 0) >= frames for t in want)

    end = time.monotonic() + timeout
    while time.monotonic() < end and not all(done(p) for p in ps):
        await asyncio.sleep(0.2)
    return {p.name: done(p) for p in ps}


class Soak:
    def __init__(self, config: Config, out: Callable[[str], None] = print) -> None:
        self.config = config
        self.out = out if not config.quiet else (lambda _line: None)
        self.result = Result(config)
        self.dep = Deployment(config.workdir, drain_deadline=config.drain_deadline)
        self.ps: list[Participant] = []
        self.t0 = 0.0
        self.lag = LoopLag()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def event(self, what: str, ok: bool, detail: str) -> None:
        e = Event(self.now(), what, ok, detail)
        self.result.events.append(e)
        self.out(report.event_line(e))

    def host(self) -> str:
        on = [p.node for p in self.ps if p.bot is not None]
        return max(set(on), key=on.count) if on else ""

    # -- sampling ---------------------------------------------------------------------------------------------
    async def take_sample(self) -> Sample:
        self.dep.poll()
        procs: dict[str, tuple[int, int]] = {}
        drops: dict[str, int] = {}
        for name, pid in {**self.dep.pids(), "bots": os.getpid()}.items():
            rss, fds = rss_kb(pid), open_fds(pid)
            if rss is not None and fds is not None:
                procs[name] = (rss, fds)
            d = udp_drops(pid)
            if d:
                drops[name] = d
        lost: dict[str, int] = {}
        audio_lost: dict[str, int] = {}
        for p in self.ps:
            rtp = await p.rtp()
            lost[p.name] = rtp.video_lost
            if p.loss == 0:
                audio_lost[p.name] = rtp.audio_lost
        s = Sample(self.now(), procs, {p.name: p.frames() for p in self.ps}, lost,
                   {p.name: p.node if p.bot is not None else "-" for p in self.ps}, self.host(), self.lag.take(),
                   audio_lost, drops, udp_rcvbuf_errors())
        self.result.samples.append(s)
        prev = self.result.samples[-2] if len(self.result.samples) > 1 else None
        self.out(report.sample_line(s, prev))
        return s

    async def sampler(self) -> None:
        n = int(self.now() // self.config.sample) + 1
        while True:
            await asyncio.sleep(max(0.0, self.t0 + n * self.config.sample - time.monotonic()))
            n += 1
            try:
                await self.take_sample()
            except Exception as e:  # noqa: BLE001 - a sample must never end the soak
                self.out(f"sample failed: {type(e).__name__}: {e}")

    # -- events -------------------------------------------------------------------------------------------------
    async def churn(self) -> None:
        candidates = [p for p in self.ps if p.bot is not None]
        p = min(candidates, key=lambda q: q.sessions[-1].joined_at)
        was = p.node
        await p.leave()
        await asyncio.sleep(self.config.away())
        stale = None
        if any(n.id == was and n.alive() for n in self.dep.nodes.values()):
            stale = await p.present_stale_token(STALE_AFTER)
        await p.join()
        got = await receiving([p], timeout=30)
        ok = got[p.name] and (stale is None or stale.code == "token_expired")
        token = "token too young to test" if stale is None else f"old token ({stale.age:.0f} s) -> {stale.code}"
        self.event("churn", ok, f"{p.name} left {was}, back on {p.node}; {token}; "
                               f"{'receiving' if got[p.name] else 'NOT receiving'}")

    async def restart_publisher(self) -> None:
        p = [q for q in self.ps if q.role == "pub"][-1]
        was = p.sessions[-1].participant_id
        t = time.monotonic()
        await p.crash()
        await asyncio.sleep(2.0)  # the app starts again
        await p.join()
        got = await receiving(self.ps, timeout=40)
        back = time.monotonic() - t
        missing = [n for n, ok in got.items() if not ok]
        self.event("publisher restart", not missing,
                   f"{p.name} ({was} -> {p.sessions[-1].participant_id}): everyone receiving its new track "
                   f"{back:.1f} s after the crash" if not missing else f"not receiving after {back:.0f} s: {missing}")

    async def drain(self) -> None:
        r = self.result
        host = self.host()
        r.drained = host
        on_host = [p for p in self.ps if p.bot is not None and p.node == host]
        sigterm = time.monotonic()
        self.dep.drain(host)
        end = sigterm + 10
        while time.monotonic() < end and not all(p.bot is not None and p.bot.drain_received() for p in on_host):
            await asyncio.sleep(0.05)
        r.drain_seen = {p.name: p.bot is not None and p.bot.drain_received() for p in on_host}
        self.event("drain: SIGTERM", all(r.drain_seen.values()),
                   f"{host}: {sum(r.drain_seen.values())}/{len(on_host)} participants got `drain` "
                   f"within {time.monotonic() - sigterm:.1f} s")
        moves = await asyncio.gather(*(p.move(timeout=self.config.drain_deadline + 30) for p in on_host),
                                     return_exceptions=True)
        for p, m in zip(on_host, moves, strict=True):
            if isinstance(m, BaseException):
                r.moved[p.name] = f"failed: {m}"
            else:
                r.moved[p.name], r.move_seconds[p.name] = p.node, m
        stayed = [n for n, node in r.moved.items() if node == host or node.startswith("failed")]
        worst = max(r.move_seconds.values(), default=0.0)
        self.event("drain: moved", not stayed,
                   f"{len(on_host) - len(stayed)}/{len(on_host)} moved to {sorted({v for v in r.moved.values()})}, "
                   f"slowest {worst:.1f} s after SIGTERM"
                   + (f"; refusals {self.refusals()}" if self.refusals() else ""))
        got = await receiving(self.ps, timeout=30)
        missing = [n for n, ok in got.items() if not ok]
        self.event("drain: media", not missing, "everyone receiving on the new node" if not missing
                   else f"not receiving: {missing}")
        node = self.dep.nodes[host]
        while node.alive() and time.monotonic() < sigterm + self.config.drain_deadline + 15:
            await asyncio.sleep(0.2)
        self.dep.poll()
        r.drained_exit, r.drained_exit_after = node.exit_code, (node.exited_at or time.monotonic()) - sigterm
        self.event("drain: exit", node.exit_code == 0,
                   f"{host} exited with {node.exit_code} {r.drained_exit_after:.1f} s after SIGTERM")
        replacement = await asyncio.to_thread(self.dep.start_node)
        self.event("rolling restart", True, f"replacement node {replacement.id} registered")

    def refusals(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for p in self.ps:
            for k, v in p.refusals.items():
                total[k] = total.get(k, 0) + v
        return total

    def timeline(self) -> list[tuple[float, str, Callable[[], Awaitable[None]]]]:
        c = self.config
        d = c.seconds
        fixed = [(c.restart_at * d, "publisher restart", self.restart_publisher), (c.drain_at * d, "drain", self.drain)]
        period = c.churn_period()
        events = list(fixed)
        t = period
        while t < d - period / 2:
            if all(abs(t - f) >= c.away() + 5 for f, _, _ in fixed):
                events.append((t, "churn", self.churn))
            t += period
        return sorted(events, key=lambda e: e[0])

    # -- the run ------------------------------------------------------------------------------------------------
    async def run_meeting(self) -> None:
        c = self.config
        r = self.result
        link = self.dep.link
        names = [f"pub-{i + 1}" for i in range(c.publishers)] + [f"sub-{i + 1}" for i in range(c.participants - c.publishers)]
        for i, name in enumerate(names):
            lossy = name == f"sub-{c.participants - c.publishers}" and c.loss > 0
            self.ps.append(Participant(name, "pub" if name.startswith("pub") else "sub", self.dep.cp_url, link,
                                       loss=c.loss if lossy else 0.0, audio=c.audio))
            del i
        r.participants = self.ps
        self.t0 = time.monotonic()
        for p in self.ps:
            await p.join()
        got = await receiving(self.ps, timeout=60)
        missing = [n for n, ok in got.items() if not ok]
        self.event("meeting", not missing, f"{len(self.ps)} participants on {self.host()}, "
                   + ("everyone receiving" if not missing else f"not receiving: {missing}"))
        await self.take_sample()
        sampler = asyncio.create_task(self.sampler())
        lag = asyncio.create_task(self.lag.run())
        try:
            for at, what, action in self.timeline():
                await asyncio.sleep(max(0.0, self.t0 + at - time.monotonic()))
                try:
                    await action()
                except Exception as e:  # noqa: BLE001 - one failed event is reported, the soak goes on
                    self.event(what, False, f"{type(e).__name__}: {e}")
            await asyncio.sleep(max(0.0, self.t0 + c.seconds - time.monotonic()))
        finally:
            sampler.cancel()
            lag.cancel()
        await self.take_sample()
        r.receiving_at_end = await receiving(self.ps, frames=10, timeout=30)
        missing = [n for n, ok in r.receiving_at_end.items() if not ok]
        self.event("end", not missing, "everyone receiving every publisher" if not missing
                   else f"not receiving: {missing}")
        present = [p for p in self.ps if p.bot is not None and any(n.id == p.node and n.alive()
                                                                   for n in self.dep.nodes.values())]
        if present and not any(p.stale_tokens for p in self.ps):
            # a short run may end before any token outlived its lifetime: wait for the oldest one (< 63 s)
            oldest = min(p.token_at for p in present)
            await asyncio.sleep(max(0.0, oldest + STALE_AFTER - time.monotonic()))
        for p in present:
            if p.bot is not None:
                stale = await p.present_stale_token(STALE_AFTER)
                if stale is not None and stale.code != "token_expired":
                    self.event("stale token", False, f"{p.name}: {stale.age:.0f} s old token -> {stale.code}")
        for p in self.ps:
            r.final_rtp[p.name] = await p.rtp()
        r.host_spans = report.host_spans(r.samples)

    async def run_async(self) -> Result:
        try:
            await asyncio.to_thread(self.dep.start)
            self.out(f"deployment up in {self.config.workdir}: control plane {self.dep.cp_url}, nodes "
                     f"{', '.join(self.dep.nodes)}; {self.config.seconds / 60:g} min, sample every "
                     f"{self.config.sample:g} s")
            await self.run_meeting()
        except Exception as e:  # noqa: BLE001 - reported with the logs; the caller decides
            self.result.error = f"{type(e).__name__}: {e}"
            self.out(f"soak aborted: {self.result.error}\n{self.dep.logs()}")
        finally:
            for p in self.ps:
                await p.leave("end")
            await asyncio.to_thread(self.dep.stop)
        return self.result


def run(config: Config, out: Callable[[str], None] = print) -> Result:
    """Runs the soak; whatever happens (an interrupt included), every process it started is stopped."""
    config.workdir.mkdir(parents=True, exist_ok=True)
    # the ten bots share one event loop: a stall of it must not overflow their sockets and pass for node loss
    roomy_receive_buffers()
    soak = Soak(config, out)
    try:
        return asyncio.run(soak.run_async())
    finally:
        soak.dep.stop()
