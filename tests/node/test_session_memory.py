"""A publisher session that joined, published and left leaves nothing behind in the node (issue 18, soak).

The soak's node RSS rose in steps per publisher session. This test runs publisher sessions against a node with
a subscriber staying throughout, and after each one checks that every table is back to its baseline — the
node's (participants, engine peers, track and subscription indexes, ICE credentials and path checks), the
engine's (its retransmission buffers, in bytes) — and that the Python memory the node's own code retains grows
by less than RETAINED_PER_SESSION per session (tracemalloc, allocations with a node frame on their stack).
The engine's buffers going back to the kernel is tests/native/test_buffer_memory.py.

And that an ended session is freed by reference counting alone, the moment it ends (the second test).
"""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
import weakref
from collections import Counter
from typing import Any

import httpx
import pytest
import websockets

from loadtests import media
from loadtests.bench import media as bench_media
from loadtests.bench import sdp as bsdp
from loadtests.bench.peer import Publisher
from loadtests.bots.peer import Bot
from tests.harness import running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(180)

SESSIONS = 5
RETAINED_PER_SESSION = 16 * 1024     # bytes; a session's own state is hundreds of kilobytes while it lasts
NODE_CODE = ("*/sfu/*", "*/native/*", "*/signalling/*")


def node_retained(snapshot: tracemalloc.Snapshot) -> int:
    traces = snapshot.filter_traces([tracemalloc.Filter(True, pattern, all_frames=True) for pattern in NODE_CODE])
    return sum(stat.size for stat in traces.statistics("filename"))


async def publisher_session(rn: Any, name: str) -> dict[str, weakref.ref[Any]]:
    """A light bench peer (loadtests/bench/peer.py) joins, completes DTLS, publishes and leaves; weak references to
    its participant, DTLS session, room and tracks."""
    peer = Publisher(name, bench_media.load(4.0, 160, 120, 100_000))
    async with websockets.connect(rn.ws_url) as ws:
        await ws.send(json.dumps({"type": "join", "token": rn.token(name=name)}))
        joined = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert joined["type"] == "joined", joined
        await ws.send(json.dumps({"type": "offer", "sdp": peer.offer(), "subscriptions": {}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert answer["type"] == "answer", answer
        await peer.connect(bsdp.parse_answer(answer["sdp"]))
        pid = joined["participant"]
        assert await wait_for(lambda: rn.node.by_id[pid].media_ready, 10), "DTLS did not complete"
        p = rn.node.by_id[pid]
        refs = {"participant": weakref.ref(p), "dtls": weakref.ref(p.dtls), "room": weakref.ref(p.room)}
        refs.update({f"track {t.id}": weakref.ref(t) for t in p.published.values()})
        assert len(refs) == 5, "the session published no tracks: nothing was tested"
        del p
        await ws.send(json.dumps({"type": "leave"}))
        assert await wait_for(lambda: not rn.node.by_id, 10), "the session did not end"
    peer.close()
    await asyncio.sleep(0.2)  # the socket's handler finishes
    return refs


def test_publisher_sessions_leave_the_node_as_they_found_it() -> None:
    async def run() -> dict[str, Any]:
        async with running_node(resume_grace=2.0) as rn:
            node = rn.node
            sub = Bot(rn.ws_url, rn.token(name="sub"), "sub", read_numbers=False)
            await sub.connect()

            def tables() -> dict[str, int]:
                engine = node.media_engine.counters()
                return {"participants": len(node.by_id), "peers": len(node.by_peer),
                        "free_peers": len(node.peers._free), "free_tracks": len(node.track_ids._free),
                        "free_subs": len(node.sub_ids._free), "ufrags": len(node.ice._by_ufrag),
                        "path_checks": len(node.ice._probes), "buffer_bytes": engine["buffer_bytes"],
                        "sent_rings": engine["sent_rings"], "room_tracks": sum(len(r.tracks()) for r in node.rooms.values())}

            baseline = tables()
            after: list[dict[str, int]] = []
            during: list[int] = []
            retained: list[int] = []
            tracemalloc.start(8)
            try:
                for n in range(SESSIONS):
                    pub = Bot(rn.ws_url, rn.token(name=f"pub-{n}"), f"pub-{n}", read_numbers=False)
                    await pub.connect()
                    await pub.publish(video=str(media.video_file("vp8")), audio=str(media.audio_file()))
                    ok = await wait_for(lambda: any(r.frames > 10 for r in sub.video()), 15)
                    assert ok, f"session {n}: the subscriber received nothing"
                    during.append(node.media_engine.counters()["buffer_bytes"])
                    await pub.send({"type": "leave"})
                    await pub.close()
                    await wait_for(lambda: len(node.by_id) == baseline["participants"], 10)
                    await asyncio.sleep(0.5)
                    sub.received.clear()
                    after.append(tables())
                    gc.collect()
                    retained.append(node_retained(tracemalloc.take_snapshot()))
            finally:
                tracemalloc.stop()
                await sub.close()
            return {"baseline": baseline, "after": after, "during": during, "retained": retained}

    out = asyncio.run(run())
    assert all(b > 0 for b in out["during"]), "the sessions held no buffers: nothing was tested"
    for n, t in enumerate(out["after"]):
        assert t == out["baseline"], f"session {n} left something behind: {t} vs {out['baseline']}"
    growth = (out["retained"][-1] - out["retained"][1]) / (SESSIONS - 2)    # the first session warms caches up
    print(f"node code retains {out['retained']} bytes after each session: {growth:.0f} per session")
    assert growth < RETAINED_PER_SESSION, out["retained"]


def test_an_ended_session_is_freed_at_once_without_the_cyclic_collector() -> None:
    """A session's state must go when it ends, by reference counting alone. A reference cycle through it (its
    socket's overflow/replaced callbacks closed over the participant) kept each ended session's DTLS connection —
    OpenSSL's buffers, tens of kilobytes outside Python's view — its tracks and its room until a full cyclic
    collection, which on a node's large heap comes rarely: the soak's node RSS grew ~150-200 KB per session
    (issue 18). Light bench peers (loadtests/bench/peer.py) publish and leave with the collector off."""

    async def run() -> list[list[str]]:
        async with running_node() as rn:
            gc.collect()
            gc.disable()
            try:
                return [[name for name, ref in (await publisher_session(rn, f"pub-{n}")).items() if ref() is not None]
                        for n in range(3)]
            finally:
                gc.enable()

    survivors = asyncio.run(run())
    assert not any(survivors), f"ended sessions wait for the cyclic collector: {survivors}"


# the node's HTTP and WebSocket server (the bench peers in this process have cycles of their own: not the node's)
SERVER_SIDE = ("uvicorn.", "starlette.", "websockets.", "httptools.", "uvloop.")


def test_the_housekeeping_leaves_nothing_of_ended_sessions_to_the_collector() -> None:
    """After sessions end, the node's housekeeping (sfu/heap.py) collects the cyclic garbage before it trims the
    heap. What reference counting cannot free — uvicorn's HTTP connections (protocol, parser and transport refer
    to each other), one per request the control plane or a monitor makes — otherwise waited for a full
    collection, which on a node's large heap comes every tens of sessions, holding its native memory above what
    later sessions allocate. Sessions (bench publishers over the WebSocket) and HTTP requests come and go with the
    automatic collector off; after one housekeeping pass nothing of them is left: no participant, DTLS session,
    room or track reachable, and no garbage of the server's or the node's waiting for a collection."""

    async def run() -> tuple[list[list[str]], dict[str, int]]:
        async with running_node() as rn:
            gc.collect()
            gc.disable()
            try:
                rn.node.heap.interval = 0.0  # the housekeeping's next pass after a session ends collects and trims
                survivors = []
                async with httpx.AsyncClient(trust_env=False) as http:
                    for n in range(3):
                        for _ in range(3):  # a fresh connection each time, as the control plane's calls come
                            r = await http.get(f"{rn.http_url}/stats", headers={"connection": "close"})
                            assert r.status_code == 200
                        await asyncio.sleep(0.3)  # the server's side of the connections closes
                        refs = await publisher_session(rn, f"pub-{n}")
                        survivors.append([name for name, ref in refs.items() if ref() is not None])
                # a pass after the last session ended
                assert await wait_for(lambda: not rn.node.heap.pending, 10), "no housekeeping after sessions ended"
                gc.set_debug(gc.DEBUG_SAVEALL)
                try:
                    gc.collect()
                    left = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage
                                   if type(o).__module__.startswith(SERVER_SIDE))
                finally:
                    gc.garbage.clear()
                    gc.set_debug(0)
                return survivors, dict(left)
            finally:
                gc.enable()

    survivors, left = asyncio.run(run())
    assert not any(survivors), f"ended sessions still reachable: {survivors}"
    assert not left, f"garbage of ended sessions and connections left for the collector after the housekeeping: {left}"
