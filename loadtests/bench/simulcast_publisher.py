"""Runs one simulcast bench publisher against a node: `python -m loadtests.bench.simulcast_publisher WS_URL TOKEN
SECONDS`. It joins (docs/protocol.md), offers audio + one video m-line with q/h/f RIDs, connects (ICE, DTLS,
SRTP) and sends the three encodings (320x180, 640x360, 1280x720; frame numbers drawn in the pixels, 1 s GOP)
for SECONDS, then leaves. For tests that need a simulcast sender whose frames can be counted at the far end."""

from __future__ import annotations

import asyncio
import json
import sys

import websockets

from loadtests.bench import media as bmedia
from loadtests.bench import sdp as bsdp
from loadtests.bench.peer import SimulcastPublisher


async def publish(url: str, token: str, seconds: float) -> SimulcastPublisher:
    layers = await asyncio.to_thread(bmedia.load_simulcast)
    pub = SimulcastPublisher("simulcast-bot", layers)
    async with websockets.connect(url, max_size=2**20) as ws:
        await ws.send(json.dumps({"type": "join", "token": token}))
        joined = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if joined.get("type") != "joined":
            raise RuntimeError(f"join refused: {joined}")
        await ws.send(json.dumps({"type": "offer", "sdp": pub.offer(), "subscriptions": {}}))
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg.get("type") == "answer":
                break
            if msg.get("type") == "error":
                raise RuntimeError(f"offer refused: {msg}")
        await pub.connect(bsdp.parse_answer(msg["sdp"]))
        pub.start_media()
        print("publishing", flush=True)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            try:
                await asyncio.wait_for(ws.recv(), max(0.01, end - loop.time()))
            except TimeoutError:
                break
        print(f"sent video {pub.sent_video} audio {pub.sent_audio} packets, {pub.plis} keyframe requests", flush=True)
        pub.close()
    return pub


def main() -> int:
    url, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    asyncio.run(publish(url, token, seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
