"""Bots for multi-host tests: `peer.Bot` with a configurable ICE host address, run inside a network namespace.

`loadtests.bots.peer` pins aioice to 127.0.0.1 host candidates (the loopback network rule). In a test whose
"hosts" are network namespaces, the participants live in their own namespace and must offer that namespace's
address instead. This module keeps `peer.py` untouched and:

  * `set_host_addresses(["10.213.0.2"])` - the host candidates every bot of this process offers (module-level,
    because aioice looks the function up globally; default stays loopback);
  * `NetBot` - a `Bot` without ICE servers (aiortc's default STUN server is on the Internet) that also records when its WebSocket closed and when it decoded its first video frame
    (`ws_closed_at`, `first_video_at`, both `time.monotonic()`), for resume-time measurements;
  * `NamespaceLoop` - an asyncio loop on a thread that has entered a network namespace (setns(2) is per
    thread): every socket the bots, aiortc and httpx open from that loop lives in that namespace, while the
    test itself stays in its own;
  * `join(control_url, link, name, password)` - POST /v1/join (status, JSON body, headers);
  * `short_gop_video()` - VP8 test media with a keyframe every `gop` frames. Pre-encoded media cannot answer a
    PLI with a fresh keyframe the way a browser does, so a subscriber that arrives mid-GOP waits for the next
    scheduled one; a short GOP keeps that artefact of the bots small when resume times are measured.
"""

from __future__ import annotations

import asyncio
import ctypes
import fractions
import os
import threading
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import aioice.ice
import httpx

from loadtests import media
from loadtests.bots import peer
from loadtests.bots.peer import Bot

T = TypeVar("T")
CLONE_NEWNET = 0x40000000

HOST_ADDRESSES: list[str] = ["127.0.0.1"]


def _configured_addresses(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    return list(HOST_ADDRESSES)


def set_host_addresses(addresses: Sequence[str]) -> None:
    """The ICE host candidates of every bot in this process (replaces peer.py's loopback-only choice)."""
    HOST_ADDRESSES[:] = list(addresses)
    aioice.ice.get_host_addresses = _configured_addresses


def reset_host_addresses() -> None:
    HOST_ADDRESSES[:] = ["127.0.0.1"]
    aioice.ice.get_host_addresses = peer._loopback_only


class NetBot(Bot):
    """A `Bot` that timestamps the end of its signalling socket and its first decoded video frame."""

    def __init__(self, url: str, token: str, name: str = "bot", read_numbers: bool = True) -> None:
        super().__init__(url, token, name, read_numbers)
        self.ws_closed_at: float | None = None
        self.first_video_at: float | None = None
        self.connected_at: float | None = None

        @self.pc.on("track")
        def _stamp_first_frame(track: Any) -> None:
            if track.kind != "video":
                return
            original = track.recv

            async def recv() -> Any:
                frame = await original()
                if self.first_video_at is None:
                    self.first_video_at = time.monotonic()
                return frame

            track.recv = recv

    async def connect(self) -> dict[str, Any]:
        msg = await super().connect()
        self.connected_at = time.monotonic()
        self._tasks.append(asyncio.create_task(self._watch_socket()))
        if self.tracks:  # tracks already in the room: subscribe now (later ones arrive as track_published)
            self._renegotiate.set()
        return msg

    async def _watch_socket(self) -> None:
        await self.ws.wait_closed()
        self.ws_closed_at = time.monotonic()

    def video_frames(self) -> int:
        return sum(r.frames for r in self.video())


async def join(control_url: str, link: str, name: str, password: str | None = None, hint: str | None = None,
               timeout: float = 10.0, unreachable: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST /v1/join (optionally with a `region_hint`); returns (status, body, headers), never raises on an
    HTTP error status (a refused connection does raise httpx.ConnectError)."""
    body: dict[str, Any] = {"link": link, "name": name}
    if password is not None:
        body["password"] = password
    if hint is not None:
        body["region_hint"] = hint
    if unreachable is not None:
        body["unreachable_node"] = unreachable  # the node this client lost: the control plane checks it
    r = await _client().post(f"{control_url}/v1/join", json=body, timeout=timeout)
    try:
        data = r.json()
    except ValueError:
        data = {"raw": r.text}
    return r.status_code, data, dict(r.headers)


_CLIENTS: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def _client() -> httpx.AsyncClient:
    """One HTTP client per event loop: building one loads a CA bundle, which would stall every bot sharing the
    loop if each join built its own (http:// only here; the control plane of a test has no TLS)."""
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None or client.is_closed:
        client = _CLIENTS[loop] = httpx.AsyncClient(trust_env=False, verify=False)
    for old in [lp for lp in _CLIENTS if lp.is_closed()]:
        del _CLIENTS[old]
    return client


def _enter_netns(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


class NamespaceLoop:
    """An asyncio event loop on a thread inside network namespace `netns` (None: the caller's namespace).

        with NamespaceLoop("cst-ab12-clients") as ns:
            status, body, _ = ns.run(join(url, link, "alice"), timeout=10)
    """

    def __init__(self, netns: str | None) -> None:
        self.netns = netns
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"netns-{netns}", daemon=True)

    def _main(self) -> None:
        try:
            if self.netns is not None:
                _enter_netns(self.netns)
        except BaseException as e:  # noqa: BLE001 - reported to the starter
            self._error = e
            self._ready.set()
            return
        asyncio.set_event_loop(self.loop)
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def __enter__(self) -> NamespaceLoop:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return self.submit(coro).result(timeout)

    def __exit__(self, *exc: Any) -> None:
        if self._error is None and self._thread.is_alive():
            async def _cancel_all() -> None:
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

            try:
                self.run(_cancel_all(), timeout=10)
            except Exception:  # noqa: BLE001 - best effort
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


def short_gop_video(gop: int = 15, seconds: float = 20.0, fps: int = 30, width: int = 320, height: int = 240,
                    bitrate: int = 500_000) -> Path:
    """VP8 (IVF) numbered frames like `loadtests.media.video_file`, with a keyframe every `gop` frames."""
    import av

    path = media.CACHE / f"vp8-{width}x{height}-{fps}fps-{seconds:g}s-{bitrate // 1000}k-gop{gop}.ivf"
    if path.exists():
        return path
    media.CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.ivf")
    with av.open(str(tmp), "w", format="ivf") as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bitrate
        stream.codec_context.time_base = fractions.Fraction(1, fps)
        stream.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "g": str(gop),
                          "keyint_min": str(gop)}
        for i in range(int(seconds * fps)):
            img = media._frame_image(i, width, height)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = fractions.Fraction(1, fps)
            for pkt in stream.encode(frame):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    tmp.rename(path)
    return path
