"""One large meeting across three node processes (issue 14, "Large meetings"):

    .venv/bin/python -m loadtests.bench.large_meeting --viewers 300 --publishers 3 --rate 50 --bot-procs 2

A real redis-server, a `castellan control-plane` and three `castellan node` processes (eu-1a, eu-2a, eu-3a,
each its own region, all allowed for the tenant; `--last-n` on), everything on 127.0.0.1. `--publishers`
light simulcast bench publishers (loadtests/bench/peer.py `SimulcastPublisher`: q/h/f, Opus with an RFC 6464
level) ask the control plane for eu-1 (the meeting's home); `--viewers` light bench subscribers ask for eu-1,
eu-2, eu-3 in turn (so the meeting cascades over relay links) and join at `--rate` per second, spread over
`--bot-procs` worker processes (one Python process cannot drive a thousand peers). Each viewer joins through
the control plane (POST /v1/join, its own X-Forwarded-For behind a trusted proxy as through the chart's
ingress), waits for every publisher's audio and video track (snapshot, then `track_published` as the relays
open), and subscribes to all of them, as a browser does: last-N decides which video reaches it. Viewers report
a thumbnail-sized downlink (`--viewer-kbps`, REMB), so the node keeps them on low layers; publishers answer a
keyframe request at once, as a browser does. The publishers then take turns speaking (`--turn` seconds each,
cycling: with more publishers than `--last-n`, each turn's speaker was not forwarded when its turn began).
Audio-N stays off by default (`--audio-n 0`). With `--video-only` the viewers take no audio at all: a far node
then learns who speaks only from the levels the home sends on the link (sfu/cascade/levels.py; docs/benchmark.md,
"Large meeting across 3 nodes").

Measured: per viewer and turn, the time from the turn's start to the first packet of the speaker's video
(each packet timed by the kernel's receive timestamp, SO_TIMESTAMPNS, not when the bot's loop read it: a
lagging bot does not delay an onset), p50/p95/max over viewers
and turns, and how many got it within 2 s; join errors by reason and the placement per node; packet loss per
viewer (sequence gaps per SSRC); from each node's /metrics its event-loop lag and deadline misses (as
loadtests/bench/storm.py reads them), from /stats its engine's packets (on the remote nodes, what arrives is the
relay link from the home plus the viewers' RTCP); and each bot process's own CPU and loop lag, so loss can be
told from a starved harness. After the turns the publishers stop and every hop is read (`Result.accounting_table`):
what the publishers sent, what each node received, carried over each relay link and sent its viewers (its
/metrics, sfu/accounting.py), what the viewers read and the sequence numbers they saw skipped, and the kernel's
drops on every receiving socket. Bounded in count and time; every process started here is stopped at the end.

`run` is what tests/cluster/test_large_meeting.py runs with ~60 viewers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from loadtests.bench import media as bmedia
from loadtests.bench import sdp as bsdp
from loadtests.bench.meeting import SILENT, SPEAKING
from loadtests.bench.peer import MediaDrain, SimulcastPublisher, Subscriber
from loadtests.bench.storm import METRIC_LINE, LoopLag, own_cpu, parse_metrics
from loadtests.bench.target import free_port, process_cpu_seconds
from loadtests.soak.sampling import udp_drops, udp_drops_by_inode, udp_rcvbuf_errors
from tests.cluster import cluster as cl
from tests.support.processes import PYTHON, REPO, Proc

HOST = "127.0.0.1"
REGIONS = ("eu-1", "eu-2", "eu-3")
GAP = 0.5  # a speaker's video counts as (re)starting at a viewer after this long without a packet
WITHIN = 2.0  # the bar: every viewer receives the active speaker within this after a turn
QUIET = 1.5  # after the publishers stop, before the hops are read: the packets in flight land


# ---------------------------------------------------------------- a viewer (in a bot process)


class Viewer(Subscriber):
    """Receives every publisher's audio and video (a recvonly m-line each, as a browser in a meeting does: the
    node's last-N / audio-N pause what it should not get) — or, `video_only`, only their video (a wall display, a
    viewer that has not subscribed their audio); per publisher, the intervals its video arrived in."""

    def __init__(self, name: str, publishers: int, video_only: bool = False) -> None:
        super().__init__(name)
        self.count = publishers
        self.video_only = video_only
        self.owner: dict[int, str] = {}  # SSRC of a video the node sends -> publishing participant id
        self.runs: dict[str, list[list[float]]] = {}  # participant -> [[first, last], ...] wall-clock seconds
        self.node = ""
        self.last_at: dict[int, float] = {}  # SSRC -> when its latest packet was read
        # sequence numbers skipped (before any late packet fills them), by kind and by whether the stream had
        # paused for more than GAP before the jump ("video_resume") or was flowing ("video_stream")
        self.holes: dict[str, int] = {}
        self.last_hdr: dict[int, bytes] = {}
        self.hole_log: list[dict[str, Any]] = []

    def mlines(self) -> list[bsdp.MLine]:
        return [bsdp.MLine(kind, str(2 * i + k), "recvonly") for i in range(self.count)
                for k, kind in enumerate(("audio", "video")) if kind == "video" or not self.video_only]

    def on_media(self, data: bytes) -> None:
        if len(data) < 12 or 192 <= data[1] <= 223:
            super().on_media(data)
            return
        ssrc = int.from_bytes(data[8:12], "big")
        now = self.arrival or time.time()  # the kernel's receive time: onsets free of the bot's own loop lag
        st = self.streams.get(ssrc)
        if st is not None:
            # a jump in the sequence: after a pause (the node resumed this stream) or within a flowing one
            delta = ((data[2] << 8 | data[3]) - st.max_ext) & 0xFFFF
            if 1 < delta < 0x8000:
                idle = now - self.last_at.get(ssrc, now)
                where = "resume" if idle > GAP else "stream"
                key = f"{self.kinds.get(ssrc, 'other')}_{where}"
                self.holes[key] = self.holes.get(key, 0) + delta - 1
                prev = self.last_hdr.get(ssrc, b"")
                if len(self.hole_log) < 30 and len(prev) >= 8:
                    self.hole_log.append({"kind": key, "missing": delta - 1, "t": now, "idle": round(idle, 3),
                                          "marker_before": prev[1] >> 7, "marker_after": data[1] >> 7,
                                          "ts_delta": (int.from_bytes(data[4:8], "big") - int.from_bytes(prev[4:8], "big")) & 0xFFFFFFFF})
        self.last_at[ssrc] = now
        self.last_hdr[ssrc] = data[:12]
        super().on_media(data)
        who = self.owner.get(ssrc)
        if who is None:
            return
        runs = self.runs.setdefault(who, [])
        if runs and now - runs[-1][1] <= GAP:
            runs[-1][1] = now
        else:
            runs.append([now, now])

    def loss(self) -> tuple[int, int]:
        """(expected, received) over every SSRC since its first packet."""
        expected = sum(st.max_ext - st.first + 1 for st in self.streams.values())
        return expected, sum(st.received - st.duplicates for st in self.streams.values())

    def accounting(self, socket_drops: dict[int, int]) -> dict[str, Any]:
        """This viewer's share of the hop table: packets read, the sequence span, reordered and duplicated, the
        holes by kind, and what the kernel dropped on its socket (receive buffer full)."""
        expected, received = self.loss()
        by_kind: dict[str, list[int]] = {}
        for ssrc, st in self.streams.items():
            e_r = by_kind.setdefault(self.kinds.get(ssrc, "other"), [0, 0])
            e_r[0] += st.max_ext - st.first + 1
            e_r[1] += st.received - st.duplicates
        return {"expected": expected, "received": received, "by_kind": by_kind, "holes": self.holes,
                "hole_log": self.hole_log,
                "reordered": sum(st.reordered for st in self.streams.values()),
                "duplicates": sum(st.duplicates for st in self.streams.values()),
                "socket_drops": socket_drops.get(os.fstat(self.sock.fileno()).st_ino, 0)}


async def _post_join(client: httpx.AsyncClient, cp_url: str, link: str, name: str, hint: str,
                     xff: str) -> tuple[int, dict[str, Any]]:
    r = await client.post(f"{cp_url}/v1/join", json={"link": link, "name": name, "region_hint": hint},
                          headers={"X-Forwarded-For": xff}, timeout=60)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, {"raw": r.text[:200]}


class Signalling:
    """One participant's WebSocket to its node (docs/protocol.md): answers queued, other messages handled."""

    def __init__(self, ws: Any, joined: dict[str, Any]) -> None:
        self.ws = ws
        self.joined = joined
        self.answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.tracks: dict[str, dict[str, Any]] = {t["id"]: t for t in joined.get("tracks", [])}
        self.changed = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed, asyncio.CancelledError):
            async for raw in self.ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind in ("answer", "error"):
                    await self.answers.put(msg)
                elif kind == "track_published":
                    t = msg.get("track") or {}
                    if "id" in t:
                        self.tracks[t["id"]] = t
                        self.changed.set()

    def video(self) -> dict[str, str]:
        """Video track id -> its participant."""
        return self.of_kind("video")

    def of_kind(self, kind: str) -> dict[str, str]:
        return {tid: str(t.get("participant")) for tid, t in self.tracks.items() if t.get("kind") == kind}

    async def negotiate(self, offer: str, subscriptions: dict[str, str], timeout: float) -> dict[str, Any]:
        await self.ws.send(json.dumps({"type": "offer", "sdp": offer, "subscriptions": subscriptions}))
        msg = await asyncio.wait_for(self.answers.get(), timeout)
        if msg.get("type") != "answer":
            raise RuntimeError(f"offer refused: {msg.get('code') or msg}")
        return msg

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 1)


async def enter(client: httpx.AsyncClient, cp_url: str, link: str, name: str, hint: str, xff: str,
                timeout: float = 60.0) -> tuple[Signalling, dict[str, Any]]:
    """POST /v1/join, then `join` on the node it names; raises with the refusal's code."""
    status, body = await _post_join(client, cp_url, link, name, hint, xff)
    if status != 200:
        raise RuntimeError(f"control plane {status} {body.get('error', '')}")
    ws = await websockets.connect(body["ws_url"], max_size=2**22, open_timeout=timeout, proxy=None,
                                  additional_headers={"X-Forwarded-For": xff})
    await ws.send(json.dumps({"type": "join", "token": body["token"]}))
    joined = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    if joined.get("type") != "joined":
        await ws.close()
        raise RuntimeError(f"node refused join: {joined.get('code') or joined}")
    return Signalling(ws, joined), body


async def join_viewer(client: httpx.AsyncClient, cp_url: str, link: str, v: Viewer, hint: str, xff: str,
                      timeout: float) -> Signalling:
    sig, body = await enter(client, cp_url, link, v.name, hint, xff, timeout)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    # relayed tracks reach a far node's room once its link is open
    while len(sig.video()) < v.count or len(sig.of_kind("audio")) < v.count:
        if loop.time() > end:
            raise RuntimeError(f"saw {len(sig.video())} video, {len(sig.of_kind('audio'))} audio of {v.count}")
        sig.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sig.changed.wait(), max(0.01, end - loop.time()))
    video = sorted(sig.video().items(), key=lambda kv: kv[1])[: v.count]
    audio = sorted(sig.of_kind("audio").items(), key=lambda kv: kv[1])[: v.count]
    subs = {} if v.video_only else {str(2 * i): a[0] for i, a in enumerate(audio)}
    subs |= {str(2 * i + 1): t[0] for i, t in enumerate(video)}
    answer = await sig.negotiate(v.offer(), subs, timeout)
    transport = bsdp.parse_answer(answer["sdp"])
    videos = {str(2 * i + 1): who for i, (_, who) in enumerate(video)}
    v.owner = {s: videos[mid] for mid, ss in transport.ssrcs.items() if mid in videos for s in ss}
    v.kinds = {s: ("video" if mid in videos else "audio") for mid, ss in transport.ssrcs.items() for s in ss}
    await v.connect(transport, timeout=timeout)
    v.node = body["node"]  # counted as joined only now
    return sig


def _reason(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text.split(":")[0][:60] if not isinstance(e, TimeoutError) else "timeout"


async def worker(index: int, procs: int, viewers: int, publishers: int, rate: float, cp_url: str, link: str,
                 timeout: float, viewer_kbps: int = 0, video_only: bool = False) -> None:
    """One bot process: its share of the viewers (every `procs`-th), joined on the shared schedule. Talks to the
    parent over stdin/stdout: READY, then GO <t0>, JOINED <json>, then STOP, RESULT <json>."""
    mine = list(range(index, viewers, procs))
    peers = [Viewer(f"v{j}", publishers, video_only) for j in mine]  # certificates made before the storm
    drain = MediaDrain()
    for v in peers:
        v.drain = drain
        v.stamp_arrivals()
        # a thumbnail-sized downlink (REMB, as a browser's estimate): the node keeps such a viewer on low layers
        v.remb_bps = viewer_kbps * 1000 if viewer_kbps else None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("READY", flush=True)
    line = (await reader.readline()).decode().split()
    t0 = float(line[1])
    errors: dict[str, int] = {}
    sigs: list[Signalling] = []
    join_s: list[float] = []
    # each viewer is its own user: its own connection to the control plane, as its browser's would be (a shared
    # keep-alive pool can race the server closing an idle connection: a ReadError that is the harness's)
    client = httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=200, max_keepalive_connections=0))
    lag = LoopLag()
    lag.start()
    cpu0, wall0 = own_cpu(), time.monotonic()

    async def one(j: int, v: Viewer) -> None:
        await asyncio.sleep(max(0.0, t0 + j / rate - time.time()))
        start = time.monotonic()
        try:
            sigs.append(await join_viewer(client, cp_url, link, v, REGIONS[j % len(REGIONS)],
                                          f"10.{(j >> 16) & 255}.{(j >> 8) & 255}.{j & 255}", timeout))
            join_s.append(time.monotonic() - start)
        except Exception as e:  # noqa: BLE001 - every failure is counted by its reason
            key = _reason(e)
            errors[key] = errors.get(key, 0) + 1

    await asyncio.wait_for(asyncio.gather(*(one(j, v) for j, v in zip(mine, peers, strict=True))),
                           viewers / rate + 3 * timeout)
    storm_cpu, storm_wall = own_cpu() - cpu0, time.monotonic() - wall0
    drops_joined = udp_drops(os.getpid()) or 0
    turn_lag = LoopLag()  # the loop's lag while the media flows (the storm's is in `lag`)
    turn_lag.start()
    print("JOINED " + json.dumps({"errors": errors, "joined": len(join_s), "join_s": join_s}), flush=True)
    await reader.readline()  # STOP (or the parent gone: EOF)
    for v in peers:  # what is left in the sockets is read before counting: all of it, batch by batch (bounded)
        if v.node and not v.closed:
            for _ in range(1000):
                if v._on_readable():
                    break
    sockets = udp_drops_by_inode(os.getpid()) or {}
    counts = {"cpu": own_cpu() - cpu0, "wall": time.monotonic() - wall0, "storm_cpu": storm_cpu,
              "storm_wall": storm_wall, "lag": lag.stop(), "turn_lag": turn_lag.stop(),
              "socket_drops": {"joined": drops_joined, "end": sum(sockets.values())},
              "rcvbuf": min((v.rcvbuf for v in peers), default=0)}
    out = {"viewers": {v.name: {"node": v.node, "runs": v.runs, "loss": v.loss(), "accounting": v.accounting(sockets)}
                       for v in peers if v.node}, **counts}
    print("RESULT " + json.dumps(out), flush=True)
    for s in sigs:
        await s.close()
    for v in peers:
        v.close()
    drain.close()
    await client.aclose()


# ---------------------------------------------------------------- the deployment and the run (parent)


@dataclass
class Result:
    viewers: int
    publishers: int
    rate: float
    last_n: int
    joined: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    placement: dict[str, int] = field(default_factory=dict)
    join_seconds: float = 0.0  # first join asked -> last viewer connected (or failed)
    join_p50: float = 0.0
    join_max: float = 0.0
    turns: int = 0  # measured (viewer, turn) pairs
    skipped: int = 0  # pairs where the speaker was already being forwarded when its turn began
    latencies: list[float] = field(default_factory=list)
    missed: int = 0  # pairs where the speaker's video never arrived during its turn
    missed_on: dict[str, int] = field(default_factory=dict)  # those, by the viewer's node
    lost: int = 0
    expected: int = 0
    worst_loss: float = 0.0  # the worst viewer's loss fraction
    lossy_viewers: int = 0  # viewers with any loss
    nodes: dict[str, dict[str, float]] = field(default_factory=dict)
    bots: list[dict[str, Any]] = field(default_factory=list)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)
    hops: dict[str, Any] = field(default_factory=dict)  # publishers' sent, each node's per-hop gauges, host drops
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # per node: its viewers' accounting, summed
    hole_log: list[dict[str, Any]] = field(default_factory=list)  # the first holes each viewer saw, in detail

    def q(self, p: float) -> float:
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")

    @property
    def within(self) -> int:
        return sum(1 for x in self.latencies if x <= WITHIN)

    @property
    def ok(self) -> bool:
        """The functional claims (the CI test's): every join succeeded, every viewer got each speaker."""
        return self.joined == self.viewers and not self.errors and self.missed == 0 and self.turns > 0

    def table(self) -> str:
        rows = [
            "| viewers | joins/s | joined | join errors | joins done in | turn -> speaker video p50 / p95 / max "
            "| within 2 s | missed | loss (worst viewer) | load 1/5 min |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {self.viewers} | {self.rate:g} | {self.joined} | {sum(self.errors.values())} "
            f"{self.errors or ''} | {self.join_seconds:.1f} s | {self.q(0.5):.2f} / {self.q(0.95):.2f} / "
            f"{max(self.latencies, default=float('nan')):.2f} s | {self.within}/{self.turns} | {self.missed} "
            f"| {self.lost / max(1, self.expected):.2%} ({self.worst_loss:.1%}) "
            f"| {self.load[0]:.1f} / {self.load[1]:.1f} |",
            "",
            "| node | viewers placed | loop lag p50 / p99 / max | misses heartbeat / consent / media timers "
            "| CPU s (turns) | engine rx pkt/s | forwarded pkt/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, m in self.nodes.items():
            rows.append(f"| {name} | {self.placement.get(name, 0)} | {m.get('lag_0.5', 0) * 1000:.0f} / "
                        f"{m.get('lag_0.99', 0) * 1000:.0f} / {m.get('lag_max', 0) * 1000:.0f} ms | "
                        f"{m.get('misses_heartbeat', 0):.0f} / {m.get('misses_consent', 0):.0f} / "
                        f"{m.get('misses_media_timers', 0):.0f} | {m.get('cpu', 0):.1f} | {m.get('rx_pps', 0):.0f} "
                        f"| {m.get('fwd_pps', 0):.0f} |")
        rows += ["", "| bot process | viewers | CPU s / wall s (storm) | CPU s / wall s (all) | loop lag p50 / p99 / max |",
                 "|---|---|---|---|---|"]
        for i, b in enumerate(self.bots):
            lag = b.get("lag", {})
            rows.append(f"| {b.get('name', i)} | {b.get('count', '')} | {b.get('storm_cpu', 0):.1f} / "
                        f"{b.get('storm_wall', 0):.1f} | {b.get('cpu', 0):.1f} / {b.get('wall', 0):.1f} | "
                        f"{lag.get('p50', 0) * 1000:.0f} / {lag.get('p99', 0) * 1000:.0f} / "
                        f"{lag.get('max', 0) * 1000:.0f} ms |")
        return "\n".join(rows + ["", *self.accounting_table()])

    def unexplained_holes(self) -> dict[str, int]:
        """Per node: sequence numbers its viewers never got beyond what their own sockets dropped (receive buffer
        full) — holes the node made, or packets lost where nothing counts them. Empty when every one is explained."""
        out = {}
        for node, v in self.seen.items():
            left = v.get("expected", 0) - v.get("received", 0) - v.get("socket_drops", 0)
            if left > 0:
                out[node] = left
        return out

    def accounting_table(self) -> list[str]:
        """Where every packet went, hop by hop, over the run (read after the publishers stopped): what one end
        sent, what the other received, the sequence numbers it saw skipped (holes: expected - received) and what
        the kernel dropped on the receiving sockets (receive buffer full)."""
        h = self.hops
        if not h:
            return []
        rows = ["| hop | sent | received | lost on the way | holes at the receiver | receiving sockets' overflows |",
                "|---|---|---|---|---|---|"]
        home = REGIONS[0] + "a"
        pub = h.get(home, {})
        rows.append(f"| publishers -> {home} | {h['publishers_sent']} | {pub.get('publishers_received', 0)} | "
                    f"{h['publishers_sent'] - pub.get('publishers_received', 0)} | "
                    f"{pub.get('publishers_expected', 0) - pub.get('publishers_received', 0)} | "
                    f"{pub.get('socket_drops', 0)} (node, whole run) |")
        for far in (f"{r}a" for r in REGIONS[1:]):
            sent = pub.get("links", {}).get(far, {}).get("sent", 0)
            got = h.get(far, {}).get("links", {}).get(home, {})
            rows.append(f"| {home} -> {far} (relay) | {sent} | {got.get('received', 0)} | "
                        f"{sent - got.get('received', 0)} | {got.get('expected', 0) - got.get('received', 0)} | "
                        f"{h.get(far, {}).get('socket_drops', 0)} (node, whole run) |")
        for node in (f"{r}a" for r in REGIONS):
            n, v = h.get(node, {}), self.seen.get(node, {})
            sent = n.get("sent_audio", 0) + n.get("sent_video", 0)
            holes = ", ".join(f"{k} {x}" for k, x in sorted(v.get("holes", {}).items()) if x) or "none"
            rows.append(f"| {node} -> its {v.get('viewers', 0)} viewers | {sent} | {v.get('received', 0)} | "
                        f"{sent - v.get('received', 0)} | {v.get('expected', 0) - v.get('received', 0)} ({holes}; "
                        f"reordered {v.get('reordered', 0)}) | {v.get('socket_drops', 0)} "
                        f"(viewers' sockets) |")
        drops = {n: h[n].get("drops") for n in (f"{r}a" for r in REGIONS) if h.get(n, {}).get("drops")}
        rows += ["", f"Node drop counters: {drops or 'none'}; bots' sockets over the run "
                 f"{[b.get('socket_drops', {}).get('end', 0) for b in self.bots]} (by the end of the joins "
                 f"{[b.get('socket_drops', {}).get('joined', 0) for b in self.bots]}; each viewer's receive buffer "
                 f"{min((b.get('rcvbuf', 0) for b in self.bots), default=0) // 1024} KiB); the publishers' process "
                 f"{h.get('parent_socket_drops', 0)}; host UDP RcvbufErrors during the run (every process on the "
                 f"machine) {h.get('host_rcvbuf_errors', 0)}; bots' loop lag while media flowed p99 / max "
                 f"{[round(b.get('turn_lag', {}).get('p99', 0) * 1000) for b in self.bots]} / "
                 f"{[round(b.get('turn_lag', {}).get('max', 0) * 1000) for b in self.bots]} ms."]
        return rows


def _node_argv(work: Path, node_id: str, region: str, http: int, udp: int, redis_url: str, cp_url: str,
               capacity: int, last_n: int, audio_n: int) -> list[str]:
    data = work / f"node-{node_id}"
    data.mkdir(parents=True, exist_ok=True)
    key = data / "node-key.pem"
    cl.enroll_node_key(work / "control" / "castellan.db", region, key)
    return cl.castellan("node", "--node-id", node_id, "--region", region, "--host", HOST, "--udp-host", HOST,
                        "--node-key", str(key), "--http-port", str(http), "--udp-port", str(udp), "--public-ip", HOST,
                        "--redis-url", redis_url, "--control-plane-url", cp_url, "--data-dir", str(data),
                        "--capacity", str(capacity), "--last-n", str(last_n), "--audio-n", str(audio_n),
                        "--trusted-proxies", "127.0.0.1/32", "--log-level", "warning")


def hop_metrics(text: str) -> dict[str, Any]:
    """A node's per-hop packet gauges (sfu/accounting.py) out of its /metrics: its own publishers' packets
    received / expected, what it sent its participants, and per relay link (by peer) sent / received /
    expected."""
    out: dict[str, Any] = {"links": {}}
    for line in text.splitlines():
        m = METRIC_LINE.match(line)
        if m is None:
            continue
        name, labels, value = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), int(float(m.group(3)))
        if name == "castellan_media_hop_packets":
            out[labels["hop"]] = value
        elif name == "castellan_relay_link_packets":
            out["links"].setdefault(labels["peer"], {})[labels["direction"]] = value
        elif name == "castellan_dropped_packets_total" and value:
            out.setdefault("drops", {})[labels["reason"]] = value
    return out


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as r:  # noqa: S310 - loopback
        return r.read().decode()


class Turns:
    """Who speaks when (wall clock): publisher k % P from t0 + k * turn, nobody before t0 or after the last."""

    def __init__(self) -> None:
        self.t0 = float("inf")
        self.turn = 1.0
        self.count = 0
        self.names: list[str] = []

    def speaker(self, now: float) -> str | None:
        k = int((now - self.t0) // self.turn) if now >= self.t0 else -1
        return self.names[k % len(self.names)] if 0 <= k < self.count else None


async def run(viewers: int, publishers: int = 3, rate: float = 50.0, bot_procs: int = 2, last_n: int = 2,
              turns: int = 6, turn: float = 4.0, audio_n: int = 0, keyframe_on_pli: bool = True,
              timeout: float = 60.0, workdir: Path | None = None, progress: Any = None, viewer_kbps: int = 500,
              video_only: bool = False) -> Result:
    say = progress or (lambda _msg: None)
    if publishers <= last_n:
        raise ValueError("--publishers must exceed --last-n: each turn's speaker must not already be forwarded")
    tmp = tempfile.TemporaryDirectory(prefix="castellan-large-")
    work = workdir or Path(tmp.name)
    procs = cl.Processes()
    result = Result(viewers, publishers, rate, last_n)
    pubs: list[SimulcastPublisher] = []
    pub_sigs: list[Signalling] = []
    bots: list[asyncio.subprocess.Process] = []
    client = httpx.AsyncClient(trust_env=False)
    rcvbuf0 = udp_rcvbuf_errors()  # host-wide: every process's overflows, the soak's and other tests' too
    try:
        redis = procs.add(cl.RedisProc(work / "redis", free_port()))
        redis.start()
        cp_port = free_port()
        cp_url = f"http://{HOST}:{cp_port}"
        seeded = await asyncio.to_thread(
            cl.seed, work / "control" / "castellan.db",
            [(r, "EU", f"Bench {r}", r) for r in REGIONS], [("bench", "Bench", "EU", list(REGIONS))],
            {"large": "bench"}, cp_url, ["large"])
        link = seeded.links["large"]["link"]
        procs.add(Proc("control-plane", cl.castellan(
            "control-plane", "--host", HOST, "--port", str(cp_port), "--db", str(seeded.db), "--redis-url", redis.url,
            "--public-url", cp_url, "--trust-forwarded-for", "--trusted-proxies", "127.0.0.1/32"),
            work / "control-plane.log"))
        https: dict[str, int] = {}
        nodes: dict[str, Proc] = {}
        for r in REGIONS:
            node_id = f"{r}a"
            https[node_id] = free_port()
            argv = await asyncio.to_thread(_node_argv, work, node_id, r, https[node_id], free_port(socket.SOCK_DGRAM), redis.url,
                                           cp_url, viewers + publishers + 50, last_n, audio_n)
            nodes[node_id] = procs.add(Proc(f"node {node_id}", argv, work / f"node-{node_id}.log"))
        ready = await asyncio.to_thread(cl.wait_until, lambda: cl.placeable(cp_url) == dict.fromkeys(REGIONS, 1), 60)
        if not ready:
            raise RuntimeError("nodes not placeable:\n" + procs.logs())
        say(f"control plane and 3 nodes up ({', '.join(nodes)}); starting {publishers} simulcast publishers on eu-1")

        plan = Turns()
        layers = await asyncio.to_thread(bmedia.load_simulcast)
        for i in range(publishers):
            p = SimulcastPublisher(f"pub{i}", layers)
            # a browser answers the node's keyframe request at once (the class's default waits for the 1 s GOP's
            # next keyframe, for switch-continuity tests): a resumed speaker's video starts at that keyframe
            p.jump_to_keyframe = keyframe_on_pli
            sig, body = await enter(client, cp_url, link, p.name, "eu-1", f"10.255.0.{i + 1}", timeout)
            p.level_at = (lambda name: lambda _now: SPEAKING if plan.speaker(time.time()) == name else SILENT)(
                str(sig.joined["participant"]))
            answer = await sig.negotiate(p.offer(), {}, timeout)
            await p.connect(bsdp.parse_answer(answer["sdp"]), timeout=timeout)
            p.start_media()
            pubs.append(p)
            pub_sigs.append(sig)
            plan.names.append(str(sig.joined["participant"]))
        say(f"publishers on {body['node']}; starting {bot_procs} bot processes for {viewers} viewers")

        for w in range(bot_procs):
            bots.append(await asyncio.create_subprocess_exec(
                PYTHON, "-m", "loadtests.bench.large_meeting", "--worker", str(w), "--bot-procs", str(bot_procs),
                "--viewers", str(viewers), "--publishers", str(publishers), "--rate", str(rate), "--cp", cp_url,
                "--link", link, "--timeout", str(timeout), "--viewer-kbps", str(viewer_kbps),
                *(["--video-only"] if video_only else []), cwd=REPO, stdin=asyncio.subprocess.PIPE,
                limit=1 << 26,  # RESULT is one line of JSON: every viewer's runs (~100 bytes each)
                stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)}))

        async def line(b: asyncio.subprocess.Process, word: str, wait: float) -> str:
            assert b.stdout is not None
            end = time.monotonic() + wait
            while time.monotonic() < end:
                raw = await asyncio.wait_for(b.stdout.readline(), max(0.1, end - time.monotonic()))
                if not raw:
                    raise RuntimeError(f"bot process exited before {word}")
                text = raw.decode().strip()
                if text.startswith(word):
                    return text[len(word):].strip()
            raise TimeoutError(word)

        await asyncio.gather(*(line(b, "READY", 120) for b in bots))
        t_storm = time.time() + 1.0
        for b in bots:
            assert b.stdin is not None
            b.stdin.write(f"GO {t_storm}\n".encode())
            await b.stdin.drain()
        say(f"join storm: {viewers} viewers at {rate:g}/s over eu-1/eu-2/eu-3")
        joined = await asyncio.gather(*(line(b, "JOINED", viewers / rate + 4 * timeout) for b in bots))
        result.join_seconds = time.time() - t_storm
        spans: list[float] = []
        for text in joined:
            j = json.loads(text)
            result.joined += j["joined"]
            spans += j["join_s"]
            for k, n in j["errors"].items():
                result.errors[k] = result.errors.get(k, 0) + n
        spans.sort()
        result.join_p50 = spans[len(spans) // 2] if spans else 0.0
        result.join_max = spans[-1] if spans else 0.0
        say(f"joined {result.joined}/{viewers} in {result.join_seconds:.1f} s (one join p50 {result.join_p50:.2f} s, "
            f"max {result.join_max:.2f} s); errors {result.errors or 'none'}; {turns} turns of {turn:g} s")

        async def stats() -> dict[str, dict[str, Any]]:
            out = {}
            for n, port in https.items():
                out[n] = json.loads(await asyncio.to_thread(_get, f"http://{HOST}:{port}/stats"))
                out[n]["cpu"] = process_cpu_seconds(nodes[n].pid)
                out[n]["t"] = time.monotonic()
            return out

        before = await stats()
        plan.turn, plan.count, plan.t0 = turn, turns, time.time() + 1.0
        for k in range(turns):
            await asyncio.sleep(max(0.0, plan.t0 + (k + 1) * turn - time.time()))
            say(f"turn {k + 1}/{turns} ({plan.names[k % publishers]}) done")
        after = await stats()
        for n, port in https.items():
            m = parse_metrics(await asyncio.to_thread(_get, f"http://{HOST}:{port}/metrics"))
            secs = after[n]["t"] - before[n]["t"]
            e0, e1 = before[n]["engine"], after[n]["engine"]
            m.update(cpu=after[n]["cpu"] - before[n]["cpu"], rx_pps=(e1["rx_packets"] - e0["rx_packets"]) / secs,
                     fwd_pps=(e1["forwarded_packets"] - e0["forwarded_packets"]) / secs)
            result.nodes[n] = m
        # the quiet cut: publishers stop, what is in flight lands, then every hop is read (publishers' counts, the
        # nodes' per-hop gauges and sockets, the viewers' counts and sockets after STOP)
        for p in pubs:
            p.stop_media()
        await asyncio.sleep(QUIET)
        result.hops["publishers_sent"] = sum(p.sent_audio + p.sent_video for p in pubs)
        for n, port in https.items():
            result.hops[n] = hop_metrics(await asyncio.to_thread(_get, f"http://{HOST}:{port}/metrics"))
            result.hops[n]["socket_drops"] = udp_drops(nodes[n].pid) or 0
        result.hops["parent_socket_drops"] = udp_drops(os.getpid()) or 0
        for b in bots:
            assert b.stdin is not None
            b.stdin.write(b"STOP\n")
            await b.stdin.drain()
        outs = [json.loads(t) for t in await asyncio.gather(*(line(b, "RESULT", 120) for b in bots))]
        result.hops["host_rcvbuf_errors"] = udp_rcvbuf_errors() - rcvbuf0
        result.load = os.getloadavg()
        tally(result, outs, plan)
        return result
    finally:
        for b in bots:
            with contextlib.suppress(ProcessLookupError):
                b.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(b.wait(), 5)
        for s in pub_sigs:
            await s.close()
        for p in pubs:
            p.close()
        await client.aclose()
        procs.stop_all()
        tmp.cleanup()


def tally(result: Result, outs: list[dict[str, Any]], plan: Turns) -> None:
    """Per viewer and turn: when the speaker's video started reaching it, relative to the turn's start."""
    for i, out in enumerate(outs):
        result.bots.append({"name": f"bots #{i}", "count": len(out["viewers"]),
                            **{k: v for k, v in out.items() if k != "viewers"}})
        for v in out["viewers"].values():
            result.placement[v["node"]] = result.placement.get(v["node"], 0) + 1
            expected, received = v["loss"]
            seen = result.seen.setdefault(v["node"], {"viewers": 0, "holes": {}})
            seen["viewers"] += 1
            for k, x in v.get("accounting", {}).items():
                if k == "hole_log":
                    result.hole_log += [{**h, "node": v["node"], "turn": int((h["t"] - plan.t0) // plan.turn),
                                         "into_turn": round((h["t"] - plan.t0) % plan.turn, 2)} for h in x]
                elif k == "holes":
                    for hk, hx in x.items():
                        seen["holes"][hk] = seen["holes"].get(hk, 0) + hx
                elif isinstance(x, int):
                    seen[k] = seen.get(k, 0) + x
            lost = max(0, expected - received)
            result.lost += lost
            result.expected += expected
            result.lossy_viewers += lost > 0
            result.worst_loss = max(result.worst_loss, lost / max(1, expected))
            for k in range(plan.count):
                start = plan.t0 + k * plan.turn
                runs = v["runs"].get(plan.names[k % len(plan.names)], [])
                if any(a < start - 0.1 and b >= start - 0.1 for a, b in runs):
                    result.skipped += 1  # already forwarded when its turn began
                    continue
                result.turns += 1
                onset = next((a for a, _ in runs if start - 0.1 <= a < start + plan.turn), None)
                if onset is None:
                    result.missed += 1
                    result.missed_on[v["node"]] = result.missed_on.get(v["node"], 0) + 1
                else:
                    result.latencies.append(max(0.0, onset - start))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="loadtests.bench.large_meeting", description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, default=300)
    ap.add_argument("--publishers", type=int, default=3)
    ap.add_argument("--rate", type=float, default=50.0, help="viewer joins started per second")
    ap.add_argument("--bot-procs", type=int, default=2, help="OS processes the viewers are spread over")
    ap.add_argument("--last-n", type=int, default=2)
    ap.add_argument("--audio-n", type=int, default=0,
                    help="loudest audio forwarded (0: all): see docs/benchmark.md, 'Large meeting across 3 nodes'")
    ap.add_argument("--gop-keyframes-only", action="store_true",
                    help="publishers ignore keyframe requests (their next keyframe comes with the 1 s GOP)")
    ap.add_argument("--viewer-kbps", type=int, default=500,
                    help="downlink each viewer reports (REMB; 0: none, the node climbs to the top layer)")
    ap.add_argument("--video-only", action="store_true",
                    help="viewers subscribe to the publishers' video only (no audio: a far node must still learn "
                         "who speaks)")
    ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("--turn", type=float, default=4.0, help="seconds each speaker talks")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds one join may take")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--workdir", default=None, help="keep the processes' data and logs here (default: a temporary one)")
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cp", default="", help=argparse.SUPPRESS)
    ap.add_argument("--link", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker is not None:
        asyncio.run(worker(args.worker, args.bot_procs, args.viewers, args.publishers, args.rate, args.cp, args.link,
                           args.timeout, args.viewer_kbps, args.video_only))
        return 0
    t0 = time.monotonic()

    def say(msg: str) -> None:
        print(f"[{time.monotonic() - t0:6.1f} s] {msg}", file=sys.stderr, flush=True)

    say(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    result = asyncio.run(run(args.viewers, args.publishers, args.rate, args.bot_procs, args.last_n, args.turns,
                             args.turn, args.audio_n, not args.gop_keyframes_only, args.timeout,
                             workdir=Path(args.workdir) if args.workdir else None, viewer_kbps=args.viewer_kbps,
                             progress=say, video_only=args.video_only))
    print(result.table())
    print(f"\n(viewer, turn) pairs measured {result.turns}, skipped {result.skipped} (speaker already forwarded); "
          f"missed by node {result.missed_on or 'none'}; viewers with any loss {result.lossy_viewers}; one join p50 {result.join_p50:.2f} s, max "
          f"{result.join_max:.2f} s")
    print("PASS" if result.ok else "FAIL")
    if args.json:
        Path(args.json).write_text(json.dumps(result.__dict__, indent=2, default=str))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
