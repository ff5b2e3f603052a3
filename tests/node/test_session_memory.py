"""A publisher session that joined, published and left leaves nothing behind in the node (issue 18, soak).

The soak's node RSS rose in steps per publisher session. This test runs publisher sessions against a node with
a subscriber staying throughout, and after each one checks that every table is back to its baseline — the
node's (participants, engine peers, track and subscription indexes, ICE credentials and path checks), the
engine's (its retransmission buffers, in bytes) — and that the Python memory the node's own code retains grows
by less than RETAINED_PER_SESSION per session (tracemalloc, allocations with a node frame on their stack).
The engine's buffers going back to the kernel is tests/native/test_buffer_memory.py.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import pytest

from loadtests import media
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
