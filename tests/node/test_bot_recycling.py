"""The soak's bots reuse m-lines as browsers do (loadtests/bots/recycling.py): a participant who stays while
publishers come and go keeps an offer of the meeting's size, and still receives every new publisher — video
decoded, its holes repaired, no jump between the old and the new stream taken for loss. Before, every publisher
that came left two dead m-lines in each staying bot's offer, and the node's memory grew with them over the soak."""

from __future__ import annotations

import asyncio

import pytest

from loadtests import media
from loadtests.bots.peer import Bot
from tests.harness import running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

ROUNDS = 3


def _mlines(sdp: str) -> int:
    return sdp.count("\r\nm=")


def test_a_staying_bot_reuses_its_m_lines_and_receives_every_new_publisher() -> None:
    async def run() -> None:
        async with running_node() as rn:
            stay = Bot(rn.ws_url, rn.token(name="stay"), "stay", read_numbers=False)
            stay.recycle = True
            await stay.connect()
            sizes: list[int] = []
            for n in range(ROUNDS):
                pub = Bot(rn.ws_url, rn.token(name=f"pub-{n}"), f"pub-{n}", read_numbers=False)
                await pub.connect()
                await pub.publish(video=str(media.video_file("vp8")), audio=str(media.audio_file()))
                video = next(t for t in (await _announced(stay, pub)) if stay.tracks[t]["kind"] == "video")
                got = await wait_for(lambda v=video: stay.received.get(v) is not None
                                     and stay.received[v].frames > 20, 20)
                assert got, f"round {n}: the staying bot decoded nothing of the new publisher ({stay.received})"
                sizes.append(_mlines(stay.pc.localDescription.sdp))
                audio_lost = _audio_lost(stay)
                assert audio_lost == 0, f"round {n}: {audio_lost} audio packets counted lost (a jump taken for loss)"
                gen = stay.pc.getTransceivers()
                missing = [len(tr.receiver._RTCRtpReceiver__nack_generator.missing) for tr in gen
                           if tr.kind == "video" and tr.receiver._RTCRtpReceiver__nack_generator is not None]
                assert sum(missing) < 16, f"round {n}: the stream change was taken for {missing} missing packets"
                await pub.send({"type": "leave"})
                await pub.close()
                gone = pub.joined["participant"]
                assert await wait_for(lambda g=gone: not any(t.get("participant") == g
                                                             for t in stay.tracks.values()), 10), "the publisher stayed"
            await stay.close()
            assert stay.recycled == 2 * (ROUNDS - 1), f"m-lines reused: {stay.recycled}"
            assert sizes == [2] * ROUNDS, f"the staying bot's offer grew: {sizes} m-lines"

    asyncio.run(run())


async def _announced(stay: Bot, pub: Bot) -> list[str]:
    who = pub.joined["participant"]
    assert await wait_for(lambda: sum(t.get("participant") == who for t in stay.tracks.values()) == 2, 10)
    assert await wait_for(lambda: sum(t == tid for t in stay.mid_to_track.values()
                                      for tid in stay.tracks if stay.tracks[tid].get("participant") == who) == 2, 10)
    return [tid for tid, t in stay.tracks.items() if t.get("participant") == who]


def _audio_lost(bot: Bot) -> int:
    lost = 0
    for tr in bot.pc.getTransceivers():
        if tr.kind == "audio":
            for stream in getattr(tr.receiver, "_RTCRtpReceiver__remote_streams", {}).values():
                lost += max(0, int(stream.packets_lost))
    return lost
