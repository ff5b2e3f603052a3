"""A meeting whose fan-out spans media workers: real aiortc peers, a node with 2 workers and a room that spreads
from its 2nd participant on. Every subscriber decodes every frame in order and gets audio, whichever worker it
is on, and the engine really handed packets between its workers."""

from __future__ import annotations

import asyncio

import pytest

from loadtests import media
from loadtests.bots.peer import Bot
from sfu.metrics import metrics_endpoint
from tests.harness import running_node
from tests.media.test_forwarding import _settle, assert_in_order
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def test_a_rooms_subscribers_on_two_workers_all_get_every_frame() -> None:
    asyncio.run(_meeting())


async def _meeting() -> None:
    async with running_node(media_workers=2, room_spread_at=2) as rn:
        pub = Bot(rn.ws_url, rn.token(name="publisher"), "publisher")
        await pub.connect()
        await pub.publish(video=str(media.video_file("vp8")), audio=str(media.audio_file()))
        subs = []
        for i in range(3):
            b = Bot(rn.ws_url, rn.token(name=f"sub{i}"), f"sub{i}")
            await b.connect()
            await b.negotiate()
            subs.append(b)
        try:
            workers = {p.name: p.worker for p in rn.node.by_id.values()}
            assert set(workers.values()) == {0, 1}, workers       # the room spans both workers
            assert await wait_for(lambda: all(len(s.video()) == 1 and s.video()[0].frames > 20 for s in subs), 20)
            engine = rn.node.media_engine
            lanes = engine.worker_counters()
            assert engine.counters()["piped"] > 0 and all(fwd > 0 for _, fwd, _, _ in lanes), lanes
            scraped = metrics_endpoint(rn.node)[1]().decode()
            for w in ("0", "1"):
                line = next(x for x in scraped.splitlines()
                            if x.startswith("castellan_worker_forwarded_packets_total{") and f'worker="{w}"' in x)
                assert float(line.rsplit(" ", 1)[1]) > 0, line
            await pub.close()
            await _settle(subs)
            for s in subs:
                assert_in_order(s.video()[0].numbers)
                assert s.audio() and s.audio()[0].frames > 0
            assert engine.counters()["drops"]["pipe_full"] == 0
        finally:
            for b in subs:
                await b.close()
