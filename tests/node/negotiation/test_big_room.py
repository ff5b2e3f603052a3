"""A participant joining a room of 150+ tracks subscribes to all of them in one offer (issue 18, "big rooms").

A receiving m-line costs 1-4 KB of SDP (aiortc ~1.5 KB; a browser's with every codec it knows 2-4 KB), and
aiortc never recycles an m-line. The node refused offers over 64 KB, so anyone joining a room of more than
~40 tracks got `bad_sdp` and saw nobody. Now the limit grows with the room's tracks (2 KiB each) up to a
ceiling of 240 KiB that keeps the offer message inside the 256 KiB frame cap; the browser client offers only
the track's codec on each receiving m-line (about 1 KB), so its offers stay well inside. In a small room the
limit stays 64 KB: nobody can make the node parse a huge offer by joining an empty room.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import MediaStreamTrack, RTCRtpSender

from loadtests import media
from loadtests.bots.peer import Bot
from sfu.negotiation import sdp
from tests.harness import running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(240)

PUBLISHERS, TRACKS_EACH = 10, 15      # 150 silent tracks, plus one publisher with real media


class Silent(MediaStreamTrack):
    """A published track that never sends: the room has it, nobody pays to encode it."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Any:
        await asyncio.Event().wait()


class ManyTracks(Bot):
    """Publishes `TRACKS_EACH` silent tracks and subscribes to nothing."""

    async def _negotiator(self) -> None:
        return

    async def publish_silent(self) -> None:
        for i in range(TRACKS_EACH):
            kind = "video" if i % 2 == 0 else "audio"
            tr = self.pc.addTransceiver(Silent(kind), direction="sendonly")
            if kind == "video":
                caps = RTCRtpSender.getCapabilities("video").codecs
                tr.setCodecPreferences([c for c in caps if c.mimeType in ("video/VP8", "video/rtx")])
        self.tracks.clear()
        await self.negotiate()


class Recorder(Bot):
    """Keeps the size of every offer it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offer_sizes: list[int] = []

    def shape_offer(self, text: str) -> str:
        self.offer_sizes.append(len(text))
        return text


def test_a_newcomer_subscribes_to_every_track_of_a_150_track_room() -> None:
    async def run() -> dict[str, Any]:
        async with running_node() as rn:
            bots: list[Bot] = []
            try:
                real = Bot(rn.ws_url, rn.token(name="real"), "real", read_numbers=False)
                bots.append(real)
                await real.connect()
                await real.publish(video=str(media.video_file("vp8")), audio=str(media.audio_file()))
                for n in range(PUBLISHERS):
                    b = ManyTracks(rn.ws_url, rn.token(name=f"many-{n}"), f"many-{n}", read_numbers=False)
                    bots.append(b)
                    await b.connect()
                    await b.publish_silent()
                room_tracks = len(next(iter(rn.node.rooms.values())).tracks())
                sub = Recorder(rn.ws_url, rn.token(name="newcomer"), "newcomer", read_numbers=False)
                bots.append(sub)
                joined = await sub.connect()
                await sub.negotiate()
                p = rn.node.by_id[joined["participant"]]
                receiving = await wait_for(lambda: any(r.frames > 10 for r in sub.video()), 30)
                return {"room_tracks": room_tracks, "snapshot": len(joined["tracks"]), "offer": sub.offer_sizes[-1],
                        "subscribed": len(p.subscriptions), "errors": sub.errors, "receiving": receiving}
            finally:
                for b in bots:
                    await b.close()

    out = asyncio.run(run())
    print(f"big room: {out['room_tracks']} tracks, newcomer's offer {out['offer']} bytes")
    tracks = PUBLISHERS * TRACKS_EACH + 2
    assert out["room_tracks"] == out["snapshot"] == tracks
    assert out["offer"] > sdp.MAX_SDP, "the offer was not big enough to test anything"
    assert out["offer"] <= sdp.offer_limit(tracks) <= sdp.SDP_CEILING
    assert out["errors"] == []
    assert out["subscribed"] == tracks
    assert out["receiving"], "the real publisher's video did not reach the newcomer"


def test_the_offer_limit_grows_with_the_room_and_stops_at_the_ceiling() -> None:
    assert sdp.offer_limit(0) == sdp.MAX_SDP
    assert sdp.offer_limit(10) == sdp.MAX_SDP + 10 * sdp.SDP_PER_TRACK
    assert sdp.offer_limit(10_000) == sdp.SDP_CEILING < 256 * 1024
    big = "v=0\r\n" + "a=x\r\n" * (sdp.MAX_SDP // 5)
    with pytest.raises(sdp.SdpError, match="larger than"):
        sdp.parse(big)                 # an empty room: the small limit
    with pytest.raises(sdp.SdpError, match="larger than"):
        sdp.parse("v=0\r\n" + "a=x\r\n" * (sdp.SDP_CEILING // 5), sdp.offer_limit(10_000))
