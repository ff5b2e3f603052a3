"""A first meeting, end to end on loopback: an aiortc publisher sends pre-encoded VP8 + Opus through the node;
subscriber bots decode every frame with av. The node never decodes: it forwards SRTP natively."""

from __future__ import annotations

import asyncio

import pytest

from loadtests import media
from loadtests.bots.loss import inject_loss
from loadtests.bots.peer import Bot
from tests.harness import running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


def assert_in_order(numbers: list[int]) -> None:
    assert numbers, "no video frame decoded"
    gaps = [(a, b) for a, b in zip(numbers, numbers[1:], strict=False) if b != a + 1]
    assert not gaps, f"decoded frames are not consecutive: {gaps[:5]}"


async def _meeting(n_subscribers: int, codec: str = "vp8", seconds: float = 5.0, loss: float = 0.0):
    async with running_node() as rn:
        pub = Bot(rn.ws_url, rn.token(name="publisher"), "publisher")
        await pub.connect()
        await pub.publish(video=str(media.video_file(codec)), audio=str(media.audio_file()))
        subs = []
        for i in range(n_subscribers):
            b = Bot(rn.ws_url, rn.token(name=f"sub{i}"), f"sub{i}")
            await b.connect()
            await b.negotiate()
            subs.append(b)
        if loss:
            assert await wait_for(lambda: subs[0].pc.connectionState == "connected", 10)
            conn = inject_loss(subs[0].pc, loss)
        assert await wait_for(lambda: all(len(s.video()) == 1 and s.video()[0].frames > 0 for s in subs), 15)
        await asyncio.sleep(seconds)
        stats = rn.node.stats()
        await pub.close()  # then let the subscribers drain: they decode everything that was sent
        await _settle(subs)
        results = [(s.video()[0].numbers[:], s.audio()[0].frames if s.audio() else 0) for s in subs]
        dropped = conn._castellan_dropped if loss else 0
        for b in subs:
            await b.close()
        return results, stats, dropped


async def _settle(subs, quiet: float = 1.5, limit: float = 15.0) -> None:
    """Waits until no subscriber has decoded a new frame for `quiet` seconds (bounded by `limit`)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    last = None
    stable_since = loop.time()
    while loop.time() < end:
        now = tuple(len(s.video()[0].numbers) for s in subs)
        if now != last:
            last, stable_since = now, loop.time()
        elif loop.time() - stable_since >= quiet:
            return
        await asyncio.sleep(0.1)


def test_one_publisher_three_subscribers_every_frame_decodes_in_order():
    results, stats, _ = asyncio.run(_meeting(3))
    for numbers, audio_frames in results:
        assert_in_order(numbers)
        assert len(numbers) >= 45  # at least 1.5 s of the ~3 s sent after the first keyframe, on a loaded machine
        assert audio_frames >= 75  # Opus 20 ms frames
    engine = stats["engine"]
    assert engine["forwarded_packets"] > 0
    assert engine["drops"]["srtp_auth"] == 0 and engine["drops"]["malformed"] == 0


def test_five_percent_loss_on_one_subscriber_is_repaired_by_nack_and_rtx():
    results, stats, dropped = asyncio.run(_meeting(2, seconds=6.0, loss=0.05))
    (lossy, _), (clean, _) = results
    assert dropped > 5, "the loss injection did not drop anything"
    assert stats["engine"]["rtx_packets"] > 0, "no retransmission was served"
    assert_in_order(lossy)
    assert_in_order(clean)
    # the lossy subscriber decodes every frame from its first keyframe on, as the clean one does; each starts at
    # a keyframe (the file has one every 60 frames), and on a loaded machine one subscription may become ready
    # too late for the keyframe the other started at (seen once in a full run: 0 and 60).
    # Only the last few may still sit in aiortc's jitter buffer when the publisher stops (a frame is released
    # when the next one starts)
    assert abs(lossy[0] - clean[0]) <= 60, (lossy[0], clean[0])
    assert clean[-1] - lossy[-1] <= 10, (lossy[-1], clean[-1])


def test_h264_packetization_mode_1_is_forwarded_and_decodes_in_order():
    results, stats, _ = asyncio.run(_meeting(1, codec="h264", seconds=4.0))
    (numbers, audio_frames), = results
    assert_in_order(numbers)
    assert len(numbers) >= 30
