"""A relay link rides through a peer node that answers late (sfu/cascade/stall.py): the home eu-1-a behind a TCP
proxy that holds everything sent to it for longer than a post's timeout (what a starved or paused process does:
the connection is taken, nothing answered), then lets it through — the late posts are applied then, and their
retries arrive as replays, skipped. The far node eu-2-a keeps its link, the relayed publisher and the subscriber's
stream (no new handshake, no renegotiation); once the proxy is gone (nothing listens: a dead node) the link closes
at the next post, as before."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from loadtests.bots.peer import Bot
from sfu.cascade.dial import TIMEOUT
from tests.harness import wait_for
from tests.node.cascade.nodes import alice_publishes_bob_joins, relayed_nodes

pytest.importorskip("native.engine")
pytestmark = pytest.mark.timeout(120)

NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"))
KEY = ("eurocorp", "board")


class Tarpit:
    """A loopback TCP proxy to `target` that, while held, takes connections and bytes but passes nothing on."""

    def __init__(self) -> None:
        self.target: tuple[str, int] | None = None
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def front(self, url: str) -> None:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.target = (host, int(port))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.target is not None
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        for pipe in (self._pipe(reader, up_writer), self._pipe(up_reader, writer)):
            t = asyncio.create_task(pipe)
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
            await self.flowing.wait()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for t in list(self.tasks):
            t.cancel()
        await self.server.wait_closed()


def test_a_home_that_answers_late_keeps_the_link_and_the_far_stream_and_a_dead_one_is_closed() -> None:
    asyncio.run(_run())


async def _run() -> None:
    bots: list[Bot] = []
    tarpit = Tarpit()
    proxy = await tarpit.start()

    def via(node_id: str, url: str) -> str:  # eu-2-a dials and posts to the home through the proxy
        if node_id != "eu-1-a":
            return url
        tarpit.front(url)
        return proxy

    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: "eu-1-a", via=via)
        a, b = nodes["eu-1-a"], nodes["eu-2-a"]
        assert a.relays is not None and b.relays is not None
        ra, rb = a.relays, b.relays
        try:
            pub, sub = await alice_publishes_bob_joins(a, b, KEY, bots)
            assert await wait_for(lambda: any(r.frames > 20 for r in sub.video()), 30), (
                sub.video(), dict(rb.refused), dict(ra.refused))
            link = rb.links["eu-1-a"]
            alice = b.node.rooms[KEY].participants["alice"]
            receiver = sub.video()[0]

            # the home answers nothing for longer than a post may take, then everything at once
            tarpit.flowing.clear()
            await asyncio.sleep(TIMEOUT + 2.5)
            tarpit.flowing.set()
            at_thaw = receiver.frames
            assert await wait_for(lambda: receiver.frames > at_thaw + 20, 15), (sub.video(), dict(rb.refused))
            assert rb.refused["relay_peer_slow"] >= 1, rb.refused  # it did wait
            assert rb.links.get("eu-1-a") is link and ra.links["eu-2-a"].peer is not None
            assert b.node.rooms[KEY].participants.get("alice") is alice and not alice.left
            assert not [m for m in sub.messages if m.get("type") == "participant_left"], sub.messages[-5:]
            assert not rb.refused["relay_peer_unreachable"] and not ra.closed_by_peer

            # the home gone (nothing listens where its record points): the link closes at the next post
            await tarpit.stop()
            assert await wait_for(lambda: rb.links.get("eu-1-a") is not link, 10), dict(rb.refused)
            assert rb.refused["relay_peer_unreachable"] >= 1
        finally:
            for bot in bots:
                await bot.close()
