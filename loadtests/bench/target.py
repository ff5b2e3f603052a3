"""What the bench drives: a `Target` is an SFU process behind the same bench peers.

A Target starts and stops its process, reports that process's own CPU time and RSS, its forwarded-packet
counter (and, when it has one, a forwarding latency histogram), and adapts the bench peers to its signalling:
`join_publisher` / `join_subscriber` do whatever that SFU's protocol needs and end with `peer.connect(...)`
(ICE/DTLS/SRTP is the same for every SFU). `CastellanTarget` speaks docs/protocol.md to a node process; a
Janus target would implement the same methods over the VideoRoom plugin (there the SFU offers to subscribers,
so the adapter answers with `peer.mlines()` instead of offering).
"""

from __future__ import annotations

import abc
import asyncio
import atexit
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import websockets

from loadtests.bench import sdp as bsdp
from loadtests.bench.peer import BenchPeer, Publisher, Subscriber

ROOT = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of every thread of `pid`, from the scheduler's ns counters when available."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue
        return total / 1e9
    except FileNotFoundError:
        pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def main_thread_cpu_seconds(pid: int) -> float:
    """CPU time of the process's main thread only (Python's event loop; the media thread is another task)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return 0.0


def process_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _kill_if_alive(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target(abc.ABC):
    """One SFU under test."""

    label: str = "sfu"
    has_latency: bool = False

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @property
    @abc.abstractmethod
    def pid(self) -> int: ...

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def rss_bytes(self) -> int:
        return process_rss_bytes(self.pid)

    @abc.abstractmethod
    async def forwarded_packets(self) -> int: ...

    async def latency_histogram(self, reset: bool = False) -> dict[int, int] | None:
        return None

    @abc.abstractmethod
    async def join_publisher(self, peer: Publisher) -> None: ...

    @abc.abstractmethod
    async def join_subscriber(self, peer: Subscriber) -> None:
        """Subscribes `peer` to the publisher's audio and video; sets peer.kinds {ssrc: kind}."""

    async def leave(self, peer: BenchPeer) -> None:
        return None


class CastellanTarget(Target):
    """A Castellan node process (`python -m loadtests.bench.node`, i.e. sfu.server), native or pure-Python path."""

    def __init__(self, engine: str = "native", log_dir: Path | None = None, node_args: list[str] | None = None) -> None:
        self.engine = engine
        self.node_args = list(node_args or [])
        self.label = "castellan" if engine == "native" else "python-ref"
        self.has_latency = True
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmp = tempfile.TemporaryDirectory(prefix="castellan-bench-")
        self.log_path = (log_dir or Path(self.tmp.name)) / f"node-{engine}.log"
        from signalling.tokens import KeyRing, TokenIssuer

        self.keys = KeyRing()
        self.issuer = TokenIssuer(self.keys)
        self.node_id = "bench-node"
        self.region = "bench"
        self.room = "bench-" + secrets.token_hex(3)
        self.http = 0
        self.sockets: dict[str, Any] = {}
        self._readers: list[asyncio.Task[None]] = []
        self.answers: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.last_answer: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[tuple[float, dict[str, Any]]]] = {}  # other signalling messages, timed
        self.snapshots: dict[str, dict[str, Any]] = {}  # each peer's `joined`
        self.published_tracks: dict[str, str] = {}  # kind -> track id
        # peer name -> the client address a trusted proxy in front of the node vouches for (X-Forwarded-For; the
        # node must be started with --trusted-proxies 127.0.0.1/32): many users, not one address (the join storm)
        self.forwarded_for: dict[str, str] = {}
        # how long a reply (joined, answer) and ICE+DTLS may take: the join storm waits longer than the benchmarks,
        # since what it asserts is that nobody is refused, not how fast a saturated machine answers
        self.reply_timeout = 10.0
        self.connect_timeout = 15.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        jwks = Path(self.tmp.name) / "jwks.json"
        jwks.write_text(json.dumps(self.keys.jwks()))
        self.http = free_port()
        self.bench_port = free_port()
        udp = free_port(socket.SOCK_DGRAM)
        cmd = [
            sys.executable,
            "-m",
            "loadtests.bench.node",
            "--engine",
            self.engine,
            "--bench-port",
            str(self.bench_port),
            "--node-id",
            self.node_id,
            "--region",
            self.region,
            "--host",
            "127.0.0.1",
            "--http-port",
            str(self.http),
            "--udp-port",
            str(udp),
            "--jwks-file",
            str(jwks),
            "--log-level",
            "warning",
            *self.node_args,
        ]
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        atexit.register(
            _kill_if_alive, self.proc
        )  # whatever happens to the bench, its node never outlives it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited ({self.proc.returncode}); see {self.log_path}")
            with contextlib.suppress(OSError):
                if (await self._get("/readyz")).get("ready"):
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError("node did not become ready in 30 s")

    async def _get(self, path: str, tries: int = 2, port: int = 0) -> dict[str, Any]:
        def fetch() -> dict[str, Any]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port or self.http}{path}", timeout=30) as r:  # noqa: S310
                return json.loads(r.read())

        for attempt in range(tries):
            try:
                return await asyncio.to_thread(fetch)
            except OSError:
                if attempt == tries - 1 or (self.proc is not None and self.proc.poll() is not None):
                    raise
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        # the process first (a saturated node would make every WebSocket close wait), then our sockets
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 1.5)
            except TimeoutError:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
        for t in self._readers:
            t.cancel()
        await asyncio.gather(
            *(asyncio.wait_for(ws.close(), 1) for ws in list(self.sockets.values())), return_exceptions=True
        )
        self.sockets.clear()
        if getattr(self, "_log", None):
            self._log.close()

    async def stats(self) -> dict[str, Any]:
        return await self._get("/stats")

    async def forwarded_packets(self) -> int:
        # the same engine counters as GET /stats, served from a thread in the node (loadtests/bench/node.py)
        return int((await self._get("/counters", port=self.bench_port))["forwarded_packets"])

    async def cpu(self) -> dict[str, float]:
        """CPU seconds so far per node thread (event loop, media, DTLS...), read from a thread in the node."""
        return {k: float(v) for k, v in (await self._get("/cpu", port=self.bench_port)).items()}

    async def latency_histogram(self, reset: bool = False) -> dict[int, int] | None:
        d = await self._get("/latency" + ("?reset=1" if reset else ""), port=self.bench_port)
        return {int(k): v for k, v in d["hist"].items()}

    # ---------------------------------------------------------------- signalling (docs/protocol.md)

    async def _join(self, peer: BenchPeer) -> dict[str, Any]:
        token = self.issuer.mint(
            tenant="bench",
            room=self.room,
            participant=peer.name,
            region=self.region,
            node=self.node_id,
            name=peer.name,
            ttl=120,
        )
        xff = self.forwarded_for.get(peer.name)
        loop = asyncio.get_running_loop()
        peer.marks["start"] = loop.time()
        ws = await websockets.connect(f"ws://127.0.0.1:{self.http}/ws", max_size=2**20,
                                      open_timeout=self.reply_timeout, proxy=None,  # loopback: never a proxy
                                      # (nor the environment's proxy lookup, 0.5 ms a connect)
                                      additional_headers={"X-Forwarded-For": xff} if xff else None)
        peer.marks["websocket"] = loop.time()
        await ws.send(json.dumps({"type": "join", "token": token}))
        msg = json.loads(await asyncio.wait_for(ws.recv(), self.reply_timeout))
        peer.marks["joined"] = loop.time()
        if msg.get("type") != "joined":
            raise RuntimeError(f"{peer.name}: join refused: {msg}")
        self.sockets[peer.name] = ws
        self.snapshots[peer.name] = msg
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answers[peer.name] = q
        events = self.events.setdefault(peer.name, [])
        self._readers.append(asyncio.create_task(self._reader(ws, q, events)))
        return msg

    async def _reader(self, ws: Any, q: asyncio.Queue[dict[str, Any]],
                      events: list[tuple[float, dict[str, Any]]]) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(websockets.ConnectionClosed, asyncio.CancelledError):
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") in ("answer", "error"):
                    await q.put(msg)
                else:
                    events.append((loop.time(), msg))

    async def _negotiate(self, peer: BenchPeer, subscriptions: dict[str, str]) -> bsdp.Transport:
        ws = self.sockets[peer.name]
        await ws.send(json.dumps({"type": "offer", "sdp": peer.offer(), "subscriptions": subscriptions}))
        msg = await asyncio.wait_for(self.answers[peer.name].get(), self.reply_timeout)
        peer.marks["answer"] = asyncio.get_running_loop().time()
        if msg.get("type") != "answer":
            raise RuntimeError(f"{peer.name}: offer refused: {msg}")
        self.last_answer[peer.name] = msg
        return bsdp.parse_answer(msg["sdp"])

    async def join_publisher(self, peer: Publisher) -> None:
        await self._join(peer)
        transport = await self._negotiate(peer, {})
        await peer.connect(transport)

    async def leave(self, peer: BenchPeer) -> None:
        """`leave` on the peer's socket, then both its sockets closed (a session that ends cleanly)."""
        ws = self.sockets.pop(peer.name, None)
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.send(json.dumps({"type": "leave"}))
                await asyncio.wait_for(ws.close(), 5)
        self.answers.pop(peer.name, None)
        self.events.pop(peer.name, None)
        self.snapshots.pop(peer.name, None)
        peer.close()

    async def join_subscriber(self, peer: Subscriber) -> None:
        joined = await self._join(peer)
        tracks = {t["kind"]: t["id"] for t in joined["tracks"]}
        if "audio" not in tracks or "video" not in tracks:
            raise RuntimeError(f"{peer.name}: the publisher's tracks are not in the room: {joined['tracks']}")
        transport = await self._negotiate(peer, {"0": tracks["audio"], "1": tracks["video"]})
        peer.kinds = {
            s: ("audio" if mid == "0" else "video") for mid, ss in transport.ssrcs.items() for s in ss
        }
        await peer.connect(transport, timeout=self.connect_timeout)
