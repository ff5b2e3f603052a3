"""A hostile node for the E2EE proofs (issue 12): a WebSocket proxy between Chromium and the real node's signalling
that can drop, rewrite, replay, reorder and inject messages — the position of an operator, an intruder on the
node or anyone on the path of a plain `ws://`. Media still flows between the browsers and the real node.

Runs in a thread of the Playwright driver (tests/browser/driver.py), so a scenario switches attacks while the
meeting runs. Every message each way is recorded per connection, for replays and for the test's evidence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection, serve

Msg = dict[str, Any]


@dataclass
class Link:
    """One browser's connection through the proxy."""

    n: int
    participant: str | None = None
    from_node: list[Msg] = field(default_factory=list)  # as the node sent them (before any rewrite)
    to_node: list[Msg] = field(default_factory=list)
    client: ServerConnection | None = None
    loop: asyncio.AbstractEventLoop | None = None

    def inject(self, msg: Msg) -> None:
        """Sends `msg` to this browser as if the node had (thread-safe)."""
        if self.client is None or self.loop is None:
            raise RuntimeError("not connected")
        asyncio.run_coroutine_threadsafe(self.client.send(json.dumps(msg)), self.loop).result(5)


# an attack: (link, message from the node) -> the messages the browser gets instead (a list; [] drops it)
Rewrite = Callable[[Link, Msg], list[Msg]]
Upstream = Callable[[Link, Msg], list[Msg]]


class HostileNode:
    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream
        self.port = port
        self.links: list[Link] = []
        self.down: Rewrite | None = None  # node -> browser
        self.up: Upstream | None = None  # browser -> node
        self.dropped: list[tuple[str | None, Msg]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> HostileNode:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("hostile node did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def link(self, participant: str) -> Link:
        return next(x for x in reversed(self.links) if x.participant == participant)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._serve, "127.0.0.1", self.port, max_size=2**20):
            self._ready.set()
            await self._stop.wait()

    async def _serve(self, client: ServerConnection) -> None:
        link = Link(len(self.links), client=client, loop=asyncio.get_running_loop())
        self.links.append(link)
        async with websockets.connect(self.upstream, max_size=2**20) as node:
            async def downstream() -> None:
                async for raw in node:
                    msg = json.loads(raw)
                    link.from_node.append(msg)
                    if msg.get("type") == "joined":
                        link.participant = msg["participant"]
                    out = self.down(link, msg) if self.down else [msg]
                    if not out:
                        self.dropped.append((link.participant, msg))
                    for m in out:
                        await client.send(json.dumps(m))

            async def upstream() -> None:
                async for raw in client:
                    msg = json.loads(raw)
                    link.to_node.append(msg)
                    for m in self.up(link, msg) if self.up else [msg]:
                        await node.send(json.dumps(m))

            tasks = [asyncio.create_task(downstream()), asyncio.create_task(upstream())]
            with contextlib.suppress(websockets.ConnectionClosed):
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                t.cancel()
