"""Ten participants, speakers taking turns: the node follows the dominant speaker from the RFC 6464 levels
(a cough does not move it), tells every client, and with last-N = 3 each participant receives video of the
three most recent speakers only — so the forwarded video bitrate stays flat at about 3/9 of everyone's,
whoever talks; audio comes from the loudest two plus the dominant speaker.

Real node process, real bench peers (ICE, DTLS, SRTP) on loopback; levels are scripted in the publishers'
audio-level extension as a browser writes it (readable at the node under E2EE)."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from loadtests.bench import media as bmedia
from loadtests.bench.meeting import Meeting
from loadtests.bench.target import CastellanTarget

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

N = 10
LAST_N = 3
AUDIO_N = 2
TURN = 3.0  # seconds each speaker talks; 1 s samples, so the last sample of a turn is whole and settled
SPEAKERS = ["p0", "p1", "p2", "p3", "p4"]
COUGH = ("p9", 4.0, 4.3)  # p9 coughs during p1's turn


def who_speaks(t: float) -> set[str]:
    out = set()
    if 0 <= t < TURN * len(SPEAKERS):
        out.add(SPEAKERS[int(t // TURN)])
    if COUGH[1] <= t < COUGH[2]:
        out.add(COUGH[0])
    return out


def test_dominant_speaker_and_last_n_over_ten_participants() -> None:
    media = bmedia.load(seconds=4.0, width=320, height=180, bitrate=300_000)

    async def run():
        target = CastellanTarget(node_args=["--last-n", str(LAST_N), "--audio-n", str(AUDIO_N)])
        await target.start()
        meeting = Meeting(target, N, media)
        try:
            await meeting.join()
            await asyncio.sleep(1.0)  # everyone silent: subscriptions settle
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            meeting.script(who_speaks, t0)
            samples = await meeting.sample(TURN * len(SPEAKERS))
            events = {p.name: [(t - t0, who) for t, who in meeting.speaker_events(p.name) if t >= t0]
                      for p in meeting.peers}
            return samples, events, t0
        finally:
            meeting.close()
            await target.stop()

    samples, events, t0 = asyncio.run(run())

    # 1. the detector follows the turns, in order, each within ~2 s of the turn starting; the cough never wins
    for viewer in ("p5", "p9"):
        order = [who for _, who in events[viewer]]
        assert order == SPEAKERS, f"{viewer} saw {events[viewer]}"
        for k, (t, who) in enumerate(events[viewer]):
            assert TURN * k <= t <= TURN * k + 2.0, f"{who} announced at {t:.2f} s, turn began at {TURN * k} s"

    # 2. last-N: in the settled last second of each turn every viewer gets at most 3 videos, the speaker's among
    #    them; audio from at most AUDIO_N + 1 participants
    for k, speaker in enumerate(SPEAKERS):
        s = samples[int(TURN * (k + 1)) - 1]
        for p in (f"p{i}" for i in range(N)):
            videos = s.sources(p, "video", min_bytes=3000)
            audios = s.sources(p, "audio", min_bytes=1000)
            assert len(videos) <= LAST_N, f"turn {speaker}: {p} received video from {sorted(videos)}"
            assert len(audios) <= AUDIO_N + 1, f"turn {speaker}: {p} received audio from {sorted(audios)}"
            if p != speaker:
                assert speaker in videos, f"turn {speaker}: {p} did not receive the speaker's video ({videos})"
                assert speaker in audios, f"turn {speaker}: {p} did not hear the speaker ({audios})"

    # 3. forwarded video stays flat while the speakers change, at about LAST_N / (N - 1) of full fan-out
    totals = [s.total("video") for s in samples[1:]]
    full = N * (N - 1) * media.video_bitrate / 8  # bytes/s if everyone received everyone's video
    median = statistics.median(totals)
    assert max(totals) <= 1.6 * min(totals), f"video bytes per second not flat: {totals}"
    assert median <= 0.5 * full, f"median {median:.0f} B/s vs {full:.0f} B/s with everyone's video"
    assert median >= 0.2 * full, f"median {median:.0f} B/s: last-N starved the meeting"
    print(f"video B/s per second: {totals}; full fan-out would be {full:.0f}")
