"""Join storm into one node (issue 14, "joins never starve the node"):

    .venv/bin/python -m loadtests.bench.storm --peers 400            # ~2 min on 2 cores

A real node process (`loadtests.bench.node`, i.e. `castellan node`) registered in a real redis-server, one bench
publisher sending light VP8 + Opus, then `--peers` light bench subscribers (loadtests/bench/peer.py: ICE, DTLS,
SRTP on one UDP socket each, read together once connected: `MediaDrain`) joining at `--rate` per second (default 100: 400 in 4 s), each from its own address
behind a trusted proxy as through the chart's ingress — WebSocket, join token, offer/answer, STUN, DTLS — and
staying `--hold` seconds. What it checks, every quarter second from its own thread: the node's registration is
in Redis the whole time. At the end, from the node's /metrics: event-loop lag (p50, p99, max), deadline misses
(heartbeat, consent, media timers), consent expiries; from the peers: joins refused or failed, and subscribers
that received no media in the last seconds of the hold; presence: how many frames told each subscriber about joins
(batched since protocol 2: at most one per PRESENCE_INTERVAL, not one per join) and whether the roster each one
builds from its snapshot and those frames is the room; the node's frames sent, by type. Loopback only; every loop
bounded in count and time.

The bench measures the node only if its own peers keep up: it also reports its own event loop's lag (the peers
share one loop) and the CPU seconds each side used from the first join to the end (the node by thread: event
loop, media, DTLS; the bench's peers; the wall time), so a slow join is told from a starved harness.

`run_storm` is what tests/node/test_join_storm.py runs with fewer peers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.bench import media as bench_media
from loadtests.bench.peer import MediaDrain, Publisher, Subscriber
from loadtests.bench.target import CastellanTarget, free_port
from residency.model import Region, TenantView
from residency.registry import RedisRegistry
from sfu import presence
from tests.cluster.cluster import RedisProc

RECEIVING_WINDOW = 3.0  # a subscriber counts as receiving if media reached it in the last this many seconds


@dataclass
class StormResult:
    peers: int
    joined: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # error code (or exception) -> count
    receiving: int = 0
    join_seconds: float = 0.0  # first join sent -> last peer connected (DTLS done)
    join_p99: float = 0.0  # one peer's WebSocket open -> DTLS done
    registry_gaps: int = 0  # registry polls that found no node record
    metrics: dict[str, float] = field(default_factory=dict)
    presence_frames: dict[str, int] = field(default_factory=dict)  # subscriber -> frames carrying presence
    room_frames: dict[str, int] = field(default_factory=dict)  # subscriber -> other room messages (each may flush)
    rosters_wrong: int = 0  # subscribers whose snapshot + presence is not the room at the end
    bench_lag: dict[str, float] = field(default_factory=dict)  # the bench's own loop: p50, p99, max (seconds)
    phases: dict[str, tuple[float, float]] = field(default_factory=dict)  # join step -> (p50, p99) seconds
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds from the first join to the last, by side
    cpu_hold: dict[str, float] = field(default_factory=dict)  # CPU seconds from the last join to the end

    @property
    def presence_max(self) -> int:
        return max(self.presence_frames.values(), default=0)

    @property
    def ok(self) -> bool:
        m = self.metrics
        return (self.joined == self.peers and not self.refused and self.receiving == self.peers
                and self.registry_gaps == 0 and self.rosters_wrong == 0 and m.get("consent_expired", 0) == 0
                and m.get("misses_heartbeat", 0) == 0 and m.get("misses_consent", 0) == 0)

    def lines(self) -> list[str]:
        m = self.metrics
        return [
            f"peers {self.peers}: joined {self.joined}, refused/failed {sum(self.refused.values())} {self.refused}, "
            f"receiving at the end {self.receiving}",
            f"storm: all joined in {self.join_seconds:.1f} s (one join p99 {self.join_p99:.2f} s)",
            f"registration missing from the registry: {self.registry_gaps} polls",
            f"event-loop lag p50 {m.get('lag_0.5', 0) * 1000:.1f} ms, p99 {m.get('lag_0.99', 0) * 1000:.1f} ms, "
            f"max {m.get('lag_max', 0) * 1000:.0f} ms",
            f"deadline misses: heartbeat {m.get('misses_heartbeat', 0):.0f}, consent {m.get('misses_consent', 0):.0f}, "
            f"media timers {m.get('misses_media_timers', 0):.0f}; consent expired {m.get('consent_expired', 0):.0f}",
            f"presence frames per subscriber: max {self.presence_max}, mean "
            f"{sum(self.presence_frames.values()) / max(1, len(self.presence_frames)):.1f} (joins: {self.joined}); "
            f"rosters not the room: {self.rosters_wrong}",
            "one join by step, p50 / p99: " + ", ".join(f"{k} {a:.2f} / {b:.2f} s" for k, (a, b) in self.phases.items()),
            f"bench's own loop lag p50 {self.bench_lag.get('p50', 0) * 1000:.1f} ms, "
            f"p99 {self.bench_lag.get('p99', 0) * 1000:.1f} ms, max {self.bench_lag.get('max', 0) * 1000:.0f} ms",
            "CPU seconds during the storm: " + ", ".join(f"{k} {v:.1f}" for k, v in _by_size(self.cpu)),
            "CPU seconds during the hold: " + ", ".join(f"{k} {v:.1f}" for k, v in _by_size(self.cpu_hold)),
            f"node frames sent: {m.get('sent_total', 0):.0f} "
            f"({', '.join(f'{k[5:]} {v:.0f}' for k, v in sorted(m.items()) if k.startswith('sent_') and k != 'sent_total')})",
            "PASS" if self.ok else "FAIL",
        ]


METRIC_LINE = re.compile(r'^(castellan_[a-z_]+)\{([^}]*)\} ([0-9.e+-]+)$')


def parse_metrics(text: str) -> dict[str, float]:
    """The storm's figures out of the node's Prometheus text."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if m is None:
            continue
        name, labels, value = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), float(m.group(3))
        if name == "castellan_event_loop_lag_seconds":
            out[f"lag_{labels['quantile']}"] = value
        elif name == "castellan_deadline_misses_total":
            out[f"misses_{labels['duty']}"] = value
        elif name == "castellan_consent_expired_total":
            out["consent_expired"] = value
        elif name == "castellan_signalling_messages_sent_total":
            out[f"sent_{labels['type']}"] = value
            out["sent_total"] = out.get("sent_total", 0) + value
    return out


PRESENCE_TYPES = ("presence", "participant_joined", "participant_left")


def presence_figures(result: StormResult, snapshots: dict[str, dict[str, Any]],
                     events: dict[str, list[tuple[float, dict[str, Any]]]], names: list[str]) -> None:
    """Per subscriber: frames carrying presence, other room messages, and whether its snapshot + presence
    (applied as a client does, sfu/presence.py `apply`) is everyone who joined."""
    everyone = {snap["participant"] for snap in snapshots.values()}
    for name in names:
        snap = snapshots.get(name)
        if snap is None:
            continue
        roster = {q["id"]: q for q in snap.get("participants", [])}
        frames = room = 0
        for _, msg in events.get(name, []):
            if msg.get("type") in PRESENCE_TYPES:
                frames += 1
                presence.apply(roster, msg, snap["participant"])
            else:
                room += 1
        result.presence_frames[name], result.room_frames[name] = frames, room
        result.rosters_wrong += set(roster) != everyone - {snap["participant"]}


class RegistryWatch:
    """Polls the node's record in Redis from a thread (the storm's own loop is busy too)."""

    def __init__(self, url: str, node_id: str, period: float = 0.25) -> None:
        self.registry = RedisRegistry(url)
        self.node_id = node_id
        self.period = period
        self.gaps = 0
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.polls += 1
            if self.registry.get_node(self.node_id) is None:
                self.gaps += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


async def run_storm(peers: int, hold: float = 15.0, rate: float = 100.0, workdir: Path | None = None,
                    progress: Any = None) -> StormResult:
    say = progress or (lambda _msg: None)
    tmp = tempfile.TemporaryDirectory(prefix="castellan-storm-")
    work = workdir or Path(tmp.name)
    redis = RedisProc(work / "redis", free_port())
    redis.start()
    target: CastellanTarget | None = None
    watch: RegistryWatch | None = None
    subs: list[Subscriber] = []
    drain: MediaDrain | None = None
    pub: Publisher | None = None
    result = StormResult(peers)
    try:
        registry = RedisRegistry(redis.url)
        target = CastellanTarget(log_dir=work, node_args=["--redis-url", redis.url, "--data-dir", str(work / "node"),
                                                          "--capacity", str(max(200, peers * 2)),
                                                          "--trusted-proxies", "127.0.0.1/32"])
        target.reply_timeout = target.connect_timeout = 60.0  # nobody refused is the claim, not how fast
        registry.put_region(Region(target.region, "EU", "loopback", "Bench"))
        registry.put_tenant_view(TenantView("bench", "EU", frozenset({target.region}), 1))
        await target.start()
        watch = RegistryWatch(redis.url, target.node_id)
        watch.start()
        media = await asyncio.to_thread(bench_media.load, 4.0, 160, 120, 100_000)
        pub = Publisher("pub", media)
        await target.join_publisher(pub)
        pub.start_media()
        say(f"publisher up; making {peers} subscribers")
        subs = [Subscriber(f"sub-{i}") for i in range(peers)]  # certificates made before the storm
        drain = MediaDrain()  # connected subscribers are read together: the harness must not starve itself
        for s in subs:
            s.drain = drain
        for i, s in enumerate(subs):  # each its own user behind the ingress (pre-join caps are per address)
            target.forwarded_for[s.name] = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        durations: list[float] = []
        loop = asyncio.get_running_loop()

        async def one(i: int, sub: Subscriber) -> None:
            await asyncio.sleep(i / rate)  # arrivals at `rate` joins per second
            start = loop.time()
            try:
                await target.join_subscriber(sub)  # type: ignore[union-attr]
            except Exception as e:  # noqa: BLE001 - every failure is counted by its reason
                text = f"{e}"
                where = e.__traceback__.tb_next.tb_frame.f_code.co_name if e.__traceback__ and e.__traceback__.tb_next else ""
                code = re.search(r"'code': '([a-z_]+)'", text)
                key = code.group(1) if code else f"{type(e).__name__} in {where}"
                result.refused[key] = result.refused.get(key, 0) + 1
                return
            durations.append(loop.time() - start)

        async def cpu_now() -> dict[str, float]:
            node = await target.cpu() if target is not None else {}  # type: ignore[union-attr]
            return {**{f"node {k}": v for k, v in node.items()}, "bench peers": own_cpu(), "wall": time.monotonic()}

        lag = LoopLag()
        lag.start()
        cpu0 = await cpu_now()
        t0 = loop.time()
        say(f"storm: {peers} joins at {rate:g} per second")
        await asyncio.wait_for(asyncio.gather(*(one(i, s) for i, s in enumerate(subs))), 60 + peers * 0.5)
        result.join_seconds = loop.time() - t0
        cpu1 = await cpu_now()
        result.cpu = cpu_spent(cpu0, cpu1)
        result.joined = len(durations)
        durations.sort()
        result.join_p99 = durations[min(len(durations) - 1, int(0.99 * len(durations)))] if durations else 0.0
        result.phases = join_phases([s.marks for s in subs])
        say(f"joined {result.joined}/{peers} in {result.join_seconds:.1f} s; holding {hold:.0f} s")
        deadline = loop.time() + hold
        while loop.time() < deadline:
            await asyncio.sleep(min(1.0, max(0.0, deadline - loop.time())))
        before = {s.name: s.media_packets for s in subs}
        await asyncio.sleep(RECEIVING_WINDOW)
        result.receiving = sum(1 for s in subs if s.media_packets > before[s.name])
        result.cpu_hold = cpu_spent(cpu1, await cpu_now())
        result.bench_lag = lag.stop()
        text = await asyncio.to_thread(_fetch_text, f"http://127.0.0.1:{target.http}/metrics")
        result.metrics = parse_metrics(text)
        presence_figures(result, target.snapshots, target.events, [s.name for s in subs])
        watch.stop()
        result.registry_gaps = watch.gaps
        return result
    finally:
        if watch is not None:
            watch.stop()
        for s in subs:
            s.close()
        if drain is not None:
            drain.close()
        if pub is not None:
            pub.close()
        if target is not None:
            await target.stop()
        redis.stop()
        tmp.cleanup()


class LoopLag:
    """The bench's own event loop's lag (its peers share it): how late a 50 ms sleep resumes."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(100_000):  # bounded: 50 ms each, at most ~80 min
            start = loop.time()
            await asyncio.sleep(0.05)
            self.samples.append(max(0.0, loop.time() - start - 0.05))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
        s = sorted(self.samples)
        pick = (lambda q: s[min(len(s) - 1, int(q * len(s)))]) if s else (lambda q: 0.0)
        return {"p50": pick(0.5), "p99": pick(0.99), "max": s[-1] if s else 0.0}


STEPS = (("websocket", "start"), ("joined", "websocket"), ("answer", "joined"), ("ice", "answer"), ("dtls", "ice"))


def join_phases(marks: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Per step of a join (WebSocket open; `join` -> `joined`; `offer` -> `answer`; STUN answered; DTLS done): its
    p50 and p99 over the peers that completed it — which step a slow join waited in."""
    out: dict[str, tuple[float, float]] = {}
    for end, begin in STEPS:
        spans = sorted(m[end] - m[begin] for m in marks if end in m and begin in m)
        if spans:
            out[end] = (spans[len(spans) // 2], spans[min(len(spans) - 1, int(0.99 * len(spans)))])
    return out


def _by_size(cpu: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(cpu.items(), key=lambda kv: (kv[0] != "wall", -kv[1]))


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds between two readings, per key (keys are the node's threads, `bench peers`, `wall`)."""
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after if after[k] - before.get(k, 0.0) >= 0.05}


def _fetch_text(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=120) as r:  # noqa: S310 - loopback; a saturated loop answers late
        return r.read().decode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="loadtests.bench.storm", description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", type=int, default=400)
    ap.add_argument("--hold", type=float, default=20.0, help="seconds to stay after the storm")
    ap.add_argument("--rate", type=float, default=100.0, help="joins started per second")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)

    result = asyncio.run(run_storm(args.peers, args.hold, args.rate, progress=say))
    for line in result.lines():
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps(result.__dict__, indent=2, default=str))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
