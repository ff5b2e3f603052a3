"""Forwarding benchmark: 1 publisher (VP8 ~1.5 Mb/s 640x360 + Opus) -> N subscribers, for several N.

    python -m loadtests.bench.forwarding [--n 1,10,50,100] [--duration 10] [--warmup 2] [--paths castellan,python,floor]

For each N, in the same run and for the same packets:
- castellan: a node process (sfu.server via loadtests/bench/node.py) with the native engine;
- python-ref: the same node with the pure-Python reference path (native.reference.ReferenceForwarder);
- floor: native.engine.floor_loop — SRTP protect + sendmmsg of each packet to N loopback destinations.

Node CPU is the node process's own CPU time (all threads, /proc/<pid>/task/*/schedstat) over the measurement
window only (all subscribers receiving, after a warm-up); forwarded packets from the node's /stats engine
counters over the same window; loss is expected-by-sequence minus received at the subscribers; latency is the
node's own arrival->send histogram (GET /bench/latency). See docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from loadtests.bench import media as bench_media
from loadtests.bench.peer import Publisher, SimulcastPublisher, Subscriber, plaintext_packets
from loadtests.bench.target import ROOT, CastellanTarget, Target, main_thread_cpu_seconds

PROFILE_NAMES = {1: "AES_CM_128_HMAC_SHA1_80", 7: "AEAD_AES_128_GCM", 8: "AEAD_AES_256_GCM"}
KEY_LEN = {1: 30, 7: 28, 8: 44}


@dataclass
class Row:
    n: int
    path: str
    seconds: float = 0.0
    forwarded: int = 0
    cpu_s: float = 0.0
    lost: int = 0
    expected: int = 0
    received: int = 0
    p50_us: float | None = None
    p99_us: float | None = None
    max_us: float | None = None
    rss_mb: float | None = None
    wake_p50_us: float | None = None
    wake_p99_us: float | None = None
    profile: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def us_per_pkt(self) -> float:
        return self.cpu_s * 1e6 / self.forwarded if self.forwarded else math.nan

    @property
    def rate(self) -> float:
        return self.forwarded / self.seconds if self.seconds else 0.0


class Progress:
    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.monotonic()
        self._last = ""
        self._at = 0.0

    def __call__(self, msg: str, final: bool = False) -> None:
        now = time.monotonic()
        line = f"[{now - self.t0:6.1f}s] {msg}"
        step = msg.split(":")[0] + msg.split(":")[-1].strip().split(" ")[0]
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        elif final or step != self._last or now - self._at > 2.0:  # a log: a line per step, at most every 2 s
            self.stream.write(line + "\n")
            self._at = now
        self._last = step
        self.stream.flush()


def percentile(hist: dict[int, int], q: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    want = q * total
    acc = 0
    for us in sorted(hist):
        acc += hist[us]
        if acc >= want:
            return float(us)
    return float(max(hist))


class WakeProbe:
    """A datagram every 5 ms to loadtests.bench.wakeprobe: the machine's kernel-arrival -> user-space delay."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.proc: subprocess.Popen[str] | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import socket

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loadtests.bench.wakeprobe", f"{self.limit:g}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        port = json.loads(await asyncio.to_thread(self.proc.stdout.readline))["port"]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addr = ("127.0.0.1", port)

        async def tick() -> None:
            for _ in range(int(self.limit / 0.005)):
                self.sock.sendto(b"probe", self.addr)
                await asyncio.sleep(0.005)

        self.task = asyncio.create_task(tick())

    async def stop(self) -> dict[int, int] | None:
        if self.task is not None:
            self.task.cancel()
        if self.proc is None:
            return None
        try:
            self.sock.sendto(b"stop", self.addr)
            assert self.proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 5)
            return {int(k): v for k, v in json.loads(line)["hist"].items()}
        except (TimeoutError, ValueError, KeyError):
            return None
        finally:
            self.sock.close()
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()


async def _bounded(coro: Any, seconds: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(coro, seconds)
    except TimeoutError:
        raise RuntimeError(f"timed out after {seconds:g} s: {what}") from None


def start_profilers(pid: int, duration: float, out_dir: str, tag: str) -> list[subprocess.Popen[bytes]]:
    """perf (kernel + native frames) and, if available, py-spy (Python frames) on the node during the window."""
    os.makedirs(out_dir, exist_ok=True)
    procs = []
    procs.append(
        subprocess.Popen(
            [
                "perf",
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                "2999",
                "-g",
                "-p",
                str(pid),
                "-o",
                os.path.join(out_dir, f"perf-{tag}.data"),
                "--",
                "sleep",
                f"{duration:g}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    spy = os.environ.get("PY_SPY", "py-spy")
    try:
        procs.append(
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, int(duration))),
                    "--rate",
                    "997",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "-o",
                    os.path.join(out_dir, f"pyspy-{tag}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    except FileNotFoundError:
        pass
    return procs


async def measure_target(
    target: Target,
    media: bench_media.BenchMedia,
    n: int,
    warmup: float,
    duration: float,
    progress: Progress,
    profile_dir: str | None = None,
    pacing: float = 2.5,
    simulcast: list[bench_media.BenchMedia] | None = None,
) -> Row:
    row = Row(n, target.label + ("-simulcast" if simulcast else ""))
    tag = f"N={n} {target.label}"
    progress(f"{tag}: starting node")
    await _bounded(target.start(), 40, "node start")
    pub: Publisher | None = None
    subs: list[Subscriber] = []
    try:
        if simulcast:
            rate = sum(m.video_bitrate for m in simulcast)
            pub = SimulcastPublisher("publisher", simulcast, pacing_bps=pacing * rate)
        else:
            pub = Publisher("publisher", media, pacing_bps=pacing * media.video_bitrate)
        await _bounded(target.join_publisher(pub), 20, "publisher join")
        row.profile = pub.keys.profile if pub.keys else 0
        if simulcast:  # RID-signalled layers become a track when their first packets arrive (as from a browser)
            pub.start_media()
            await asyncio.sleep(1.0)
        sem = asyncio.Semaphore(8)
        joined: list[Subscriber] = []
        failures: list[str] = []

        async def join(i: int) -> None:
            async with sem:
                s = Subscriber(f"sub{i:03d}-{secrets.token_hex(2)}")
                if simulcast:  # mixed links: a third report 250 kb/s, a third 800 kb/s, a third nothing (fast)
                    s.remb_bps = (250_000, 800_000, None)[i % 3]
                subs.append(s)
                try:
                    await target.join_subscriber(s)
                except Exception as e:  # noqa: BLE001 - counted and reported; the row says how many joined
                    failures.append(f"{s.name}: {e}")
                    return
                joined.append(s)
                progress(f"{tag}: joining subscribers {len(joined)}/{n}")

        tasks = [asyncio.create_task(join(i)) for i in range(n)]
        _done, pending = await asyncio.wait(tasks, timeout=30 + n * 0.5)
        for t in pending:
            t.cancel()
        if len(joined) < n:
            progress(
                f"{tag}: only {len(joined)}/{n} subscribers joined ({len(pending)} timed out, "
                f"{len(failures)} failed: {failures[:2]})",
                final=True,
            )
        if not joined:
            raise RuntimeError(f"{tag}: no subscriber joined")
        row.extra["joined"] = len(joined)
        pub.start_media()

        def receiving() -> int:
            return sum(1 for s in joined if {s.kinds.get(x) for x in s.streams} >= {"audio", "video"})

        deadline = time.monotonic() + 20
        while receiving() < len(joined):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"only {receiving()}/{len(joined)} subscribers receive audio and video after 20 s"
                )
            progress(f"{tag}: waiting for media {receiving()}/{len(joined)}")
            await asyncio.sleep(0.1)
        t_end = time.monotonic() + warmup
        while time.monotonic() < t_end:
            progress(f"{tag}: warm-up {t_end - time.monotonic():4.1f}s")
            await asyncio.sleep(min(0.25, max(0.0, t_end - time.monotonic())))
        # ---- measurement window
        if target.has_latency:
            await target.latency_histogram(reset=True)
        fwd0 = await target.forwarded_packets()
        cpu0 = target.cpu_seconds()
        main0 = main_thread_cpu_seconds(target.pid)
        t0 = time.monotonic()
        for s in joined:
            s.mark()
        sent0 = pub.sent_video + pub.sent_audio
        probe = WakeProbe(duration + 20)
        await probe.start()
        profilers = (
            start_profilers(target.pid, duration, profile_dir, f"{target.label}-N{n}") if profile_dir else []
        )
        t_end = t0 + duration
        while time.monotonic() < t_end:
            progress(f"{tag}: measuring {t_end - time.monotonic():4.1f}s")
            await asyncio.sleep(min(0.25, max(0.0, t_end - time.monotonic())))
        for s in joined:
            s.mark()
        fwd1 = await target.forwarded_packets()
        cpu1 = target.cpu_seconds()
        main1 = main_thread_cpu_seconds(target.pid)
        t1 = time.monotonic()  # a saturated node answers /stats late: the rate is over the counters' own span
        hist = await target.latency_histogram() if target.has_latency else None
        row.rss_mb = target.rss_bytes() / 2**20
        wake = await probe.stop()
        if wake:
            row.wake_p50_us, row.wake_p99_us = percentile(wake, 0.5), percentile(wake, 0.99)
        for p in profilers:
            try:
                await asyncio.wait_for(asyncio.to_thread(p.wait), 15)
            except TimeoutError:
                p.kill()
        if profilers:
            row.extra["profiled"] = True
        row.seconds = t1 - t0
        row.forwarded = fwd1 - fwd0
        row.cpu_s = cpu1 - cpu0
        for s in joined:
            media_ssrcs = set(s.kinds)
            exp, rec = s.window(media_ssrcs)
            row.expected += exp
            row.received += rec
        row.lost = max(0, row.expected - row.received)
        if hist:
            row.p50_us, row.p99_us, row.max_us = (
                percentile(hist, 0.5),
                percentile(hist, 0.99),
                float(max(hist)),
            )
        row.extra = {
            "published_pkts": pub.sent_video + pub.sent_audio - sent0,
            "plis_at_publisher": pub.plis,
            "reordered": sum(st.reordered for s in subs for st in s.streams.values()),
            "duplicates": sum(st.duplicates for s in subs for st in s.streams.values()),
        }
        row.extra["main_thread_ms_per_s"] = round((main1 - main0) * 1000 / max(row.seconds, 1e-9), 1)
        if simulcast:  # which layer each subscriber ended up on, from its video packet rate in the window
            per_layer = [sum(len(f.payloads) for f in m.video) / m.seconds for m in simulcast]
            counts = [0] * len(per_layer)
            for s in joined:
                _exp, got = s.window({x for x, k in s.kinds.items() if k == "video"})
                rate = got / max(row.seconds, 1e-9)
                counts[min(range(len(per_layer)), key=lambda i: abs(per_layer[i] - rate))] += 1
            row.extra["layers"] = " / ".join(str(c) for c in counts)
        with_stats = getattr(target, "stats", None)
        if with_stats is not None:
            try:
                st = await asyncio.wait_for(with_stats(), 10)
                row.extra["node_drops"] = {k: v for k, v in st["engine"]["drops"].items() if v}
            except (TimeoutError, OSError):
                row.extra["node_drops"] = "node too busy to answer /stats"
        progress(
            f"{tag}: {row.forwarded} forwarded, {row.us_per_pkt:.2f} µs/pkt, lost {row.lost}", final=True
        )
        return row
    finally:
        await target.stop()  # first: the node process must go whatever else fails here
        for peer in [*subs, *([pub] if pub is not None else [])]:
            try:
                peer.close()
            except Exception:  # noqa: BLE001, S112 - best effort: the sockets are ours, the node is gone
                continue


def measure_floor(
    packets: list[bytes], n: int, profile: int, min_sends: int, progress: Progress, repeats: int = 3
) -> Row:
    """SRTP protect + sendmmsg per forwarded packet (native.engine.floor_loop) to n drained loopback sockets."""
    import socket

    from native.engine import floor_loop

    row = Row(n, "floor", profile=profile)
    progress(f"N={n} floor: starting drain")
    drain = subprocess.Popen(
        [sys.executable, "-m", "loadtests.bench.drain", str(n), "120"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert drain.stdout is not None and drain.stdin is not None
        ports = json.loads(drain.stdout.readline())
        dsts = [("127.0.0.1", p) for p in ports]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        sock.bind(("127.0.0.1", 0))
        key = os.urandom(KEY_LEN[profile])
        rounds = max(1, math.ceil(min_sends / (len(packets) * n)))
        floor_loop(sock.fileno(), packets[:64], profile, key, dsts, 1)  # warm caches and the drain
        results = []
        for r in range(repeats):
            progress(f"N={n} floor: run {r + 1}/{repeats}")
            c0, w0 = time.thread_time(), time.monotonic()
            sent = floor_loop(sock.fileno(), packets, profile, key, dsts, rounds)
            c1, w1 = time.thread_time(), time.monotonic()
            results.append((c1 - c0, sent, w1 - w0))
            time.sleep(0.2)
        sock.close()
        cpu, sent, wall = sorted(results, key=lambda x: x[0] / max(1, x[1]))[len(results) // 2]
        row.cpu_s, row.forwarded, row.seconds = cpu, sent, wall
        row.extra = {"runs_us_per_pkt": [round(c * 1e6 / max(1, s), 3) for c, s, _ in results]}
        drain.stdin.close()
        done = json.loads(drain.stdout.readline() or "{}")
        total = sum(s for _, s, _ in results) + min(64, len(packets)) * n
        row.received = int(done.get("received", 0))
        row.expected = total
        row.lost = max(0, total - row.received)
        progress(f"N={n} floor: {row.us_per_pkt:.2f} µs/pkt", final=True)
        return row
    finally:
        if drain.poll() is None:
            drain.kill()
        drain.wait()


def fmt(v: float | None, spec: str = ".2f") -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def table(rows: list[Row]) -> str:
    head = [
        "N",
        "path",
        "fwd pkts",
        "fwd pkt/s",
        "CPU µs/pkt",
        "lost",
        "loss %",
        "p50 µs",
        "p99 µs",
        "RSS MB",
        "wake p50/p99 µs",
    ]
    repeated = any("cpu_runs" in r.extra for r in rows)
    if repeated:
        head.append("CPU µs/pkt, every run")
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" if i != 1 else "---" for i in range(len(head))) + "|",
    ]
    for r in rows:
        loss = 100.0 * r.lost / r.expected if r.expected else None
        joined = r.extra.get("joined", r.n)
        lines.append(
            "| "
            + " | ".join(
                [
                    str(r.n) if joined == r.n else f"{r.n} ({joined} joined)",
                    r.path,
                    str(r.forwarded),
                    fmt(r.rate, ".0f"),
                    fmt(r.us_per_pkt),
                    str(r.lost),
                    fmt(loss, ".3f"),
                    fmt(r.p50_us, ".0f"),
                    fmt(r.p99_us, ".0f"),
                    fmt(r.rss_mb, ".1f"),
                    f"{fmt(r.wake_p50_us, '.0f')}/{fmt(r.wake_p99_us, '.0f')}"
                    if r.wake_p99_us is not None
                    else "—",
                    *([" ".join(map(str, r.extra.get("cpu_runs", [])))] if repeated else []),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def ratios(rows: list[Row]) -> str:
    lines = [
        "| N | node / floor | python / node | node p99 µs | node lost | target N=50 |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for n in sorted({r.n for r in rows}):
        by = {r.path: r for r in rows if r.n == n}
        node, floor, py = by.get("castellan"), by.get("floor"), by.get("python-ref")
        nf = node.us_per_pkt / floor.us_per_pkt if node and floor else None
        pn = py.us_per_pkt / node.us_per_pkt if node and py else None
        verdict = ""
        if n == 50 and node:
            ok = [
                nf is not None and nf <= 2.0,
                node.p99_us is not None and node.p99_us < 1000,
                node.lost == 0,
            ]
            verdict = (
                "PASS"
                if all(ok)
                else "MISS ("
                + ", ".join(
                    w
                    for w, good in zip(("cpu ≤ 2× floor", "p99 < 1 ms", "no loss"), ok, strict=True)
                    if not good
                )
                + ")"
            )
        lines.append(
            f"| {n} | {fmt(nf)} | {fmt(pn)} | {fmt(node.p99_us if node else None, '.0f')} | "
            f"{node.lost if node else '—'} | {verdict} |"
        )
    sim_lines = []
    for n in sorted({r.n for r in rows}):
        by = {r.path: r for r in rows if r.n == n}
        node, sim = by.get("castellan"), by.get("castellan-simulcast")
        if node and sim:
            ratio = sim.us_per_pkt / node.us_per_pkt
            sim_lines.append(
                f"| {n} | {node.us_per_pkt:.2f} | {sim.us_per_pkt:.2f} | {ratio:.2f} | "
                f"{sim.extra.get('layers', '')} | {'PASS' if ratio <= 1.2 else 'MISS'} (≤ 1.20) |"
            )
    if sim_lines:
        lines += ["", "| N | single-layer µs/pkt | simulcast µs/pkt | simulcast / single | subscribers per layer | target |",
                  "|---:|---:|---:|---:|---|---|", *sim_lines]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> list[Row]:
    progress = Progress()
    progress("preparing media (encoded and packetized once, then cached)")
    media = await asyncio.to_thread(bench_media.load)
    simulcast = await asyncio.to_thread(bench_media.load_simulcast) if "simulcast" in args.paths else None
    packets = plaintext_packets(media)
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    rows: list[Row] = []
    profile = 0
    for n in args.n:
        for _rep in range(args.repeat):
            for path in paths:
                if path == "floor":
                    continue
                node_args = ["--media-workers", str(args.media_workers)] if args.media_workers else []
                target = CastellanTarget("python" if path == "python" else "native", node_args=node_args)
                row = await measure_target(
                    target,
                    media,
                    n,
                    args.warmup,
                    args.duration,
                    progress,
                    args.profile if path in ("castellan", "simulcast") else None,
                    args.pacing,
                    simulcast if path == "simulcast" else None,
                )
                profile = profile or row.profile
                rows.append(row)
                await asyncio.sleep(0.5)
            if "floor" in paths:
                nodes = [r for r in rows if r.n == n and r.path == "castellan"]
                min_sends = max(args.floor_sends, nodes[0].forwarded if nodes else 0)
                rows.append(
                    await asyncio.to_thread(measure_floor, packets, n, profile or 8, min_sends, progress)
                )
    return rows


def summarize(rows: list[Row]) -> list[Row]:
    """With --repeat: per (N, path), the run with the median CPU µs/pkt, every run's figure kept in extra."""
    out = []
    keys = list(dict.fromkeys((r.n, r.path) for r in rows))
    for key in keys:
        group = sorted((r for r in rows if (r.n, r.path) == key), key=lambda r: r.us_per_pkt)
        med = group[(len(group) - 1) // 2]
        if len(group) > 1:
            med.extra["cpu_runs"] = [round(r.us_per_pkt, 2) for r in rows if (r.n, r.path) == key]
            med.extra["p99_runs"] = [r.p99_us for r in rows if (r.n, r.path) == key]
        out.append(med)
    return out


def build_info() -> str:
    """Which engine was measured: the working tree is shared, so say what the .so was built from."""
    import glob

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "native/", "sfu/"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "?", []
    if not head and (ROOT / ".bench-commit").exists():  # an exported tree (git archive): no .git
        head = (ROOT / ".bench-commit").read_text().strip() + " (exported tree)"
    so = sorted(glob.glob(str(ROOT / "native" / "engine*.so")))
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(os.path.getmtime(so[0]))) if so else "?"
    from native.engine import srtp_version

    changed = ", ".join(x for x in dirty if "/" in x) or "none"
    return f"engine built {built} UTC at HEAD {head} (uncommitted changes in native/ sfu/: {changed}); {srtp_version()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m loadtests.bench.forwarding", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument(
        "--n",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 10, 50, 100],
        help="subscriber counts, comma-separated (default 1,10,50,100)",
    )
    ap.add_argument("--duration", type=float, default=10.0, help="measurement window per N and path, seconds")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds after every subscriber receives media")
    ap.add_argument("--paths", default="castellan,python,floor", help="any of castellan,simulcast,python,floor (simulcast: 1 publisher with q/h/f layers, subscribers "
                    "reporting 250 kb/s, 800 kb/s or nothing)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="cycles (castellan, python, floor) per N; the table "
        "shows the median run and lists every run (a shared, noisy machine needs 3)",
    )
    ap.add_argument("--floor-sends", type=int, default=200_000, help="minimum datagrams per floor run")
    ap.add_argument(
        "--pacing",
        type=float,
        default=2.5,
        help="publisher pacing rate as a multiple of the video "
        "bitrate (libwebrtc's pacing factor is 2.5); 0 sends every frame as one burst",
    )
    ap.add_argument("--media-workers", type=int, default=0,
                    help="the node's --media-workers (default: its own default, one per core)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument(
        "--profile",
        metavar="DIR",
        help="record perf (+ py-spy if found, or $PY_SPY) of the castellan "
        "node during each window into DIR (perturbs the CPU figures: profile in a separate run)",
    )
    args = ap.parse_args(argv)
    if not 1 <= args.repeat <= 10:
        ap.error("--repeat must be in [1, 10]")
    if not 0 < args.duration <= 120 or not 0 <= args.warmup <= 30 or any(not 1 <= n <= 500 for n in args.n):
        ap.error("duration must be in (0, 120], warmup in [0, 30], N in [1, 500]")
    t0 = time.time()
    load0 = os.getloadavg()
    all_rows = asyncio.run(run(args))
    rows = summarize(all_rows)
    media = bench_media.load()
    prof = next((r.profile for r in rows if r.profile), 0)
    print()
    print(
        f"Castellan forwarding benchmark — 1 publisher (VP8 {media.video_bitrate / 1e6:.2f} Mb/s 640x360 30 fps + Opus) "
        f"-> N subscribers on 127.0.0.1; SRTP {PROFILE_NAMES.get(prof, prof)}; {args.duration:g} s window per N "
        f"after {args.warmup:g} s warm-up; publisher pacing {args.pacing:g}x (0 = frame bursts); load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
        f"{time.time() - t0:.0f} s total"
    )
    print(build_info())
    print()
    print(table(rows))
    print()
    print(ratios(rows))
    print()
    for r in rows:
        ms = r.extra.get("main_thread_ms_per_s")
        if r.path.startswith("castellan") and ms is not None:
            subs = 2 * r.extra.get("joined", r.n)   # audio + video per subscriber
            print(f"N={r.n} {r.path}: main thread (event loop) {ms:.1f} ms/s = {ms * 100 / max(subs, 1):.1f} ms/s "
                  f"per 100 subscriptions")
    print()
    print(
        "CPU µs/pkt: node process CPU (all threads, user+sys) / packets the node forwarded in the window; floor: "
        "thread CPU of floor_loop (protect + sendmmsg only). p50/p99: inside the node, kernel arrival -> sendmmsg "
        "done (python-ref: recvfrom returned -> sendto returned). lost: expected by sequence - received, at the "
        "subscribers (floor: datagrams the drain did not get). wake: the machine's own kernel-arrival -> user-space "
        "delay over the same window (loadtests/bench/wakeprobe.py, a datagram every 5 ms): scheduling noise that "
        "the node's p50/p99 include."
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) | {"us_per_pkt": r.us_per_pkt} for r in all_rows], f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
