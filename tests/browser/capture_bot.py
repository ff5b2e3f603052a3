"""A subscriber bot that records what the node forwards and tries to decode it with av:
`capture_bot.py WS_URL TOKEN SECONDS OUT_JSON [CAPTURE_DIR]`.

Built on loadtests/bots/peer.py (aiortc): the node's SRTP is hop-by-hop, so after SRTP the bot holds exactly the
payloads the node forwarded. aiortc's receiver reassembles them into encoded frames; we wrap its decoder (av's
libvpx / opus) to count frames that decode and frames av refuses, and keep the first few encoded frames as files.
With end-to-end encryption on, video must not decode; without it, it must.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiortc.rtcrtpreceiver as rtcrtpreceiver

from loadtests.bots.peer import Bot

COUNTS: dict[str, dict[str, int]] = {}
PICTURES: list[float] = []
ERRORS: list[str] = []


def save_png(rgb: Any, path: Path) -> None:
    """A PNG through av's own encoder (no Pillow needed)."""
    import av

    h, w = rgb.shape[:2]
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = w, h, "rgb24"
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)  # per decoded video frame: the fraction of pixels that look like the fake camera


CAPTURE: Path | None = None
DECODERS: list[CountingDecoder] = []
_real_get_decoder = rtcrtpreceiver.get_decoder


class CountingDecoder:
    def __init__(self, codec: Any) -> None:
        self.inner = _real_get_decoder(codec)
        self.kind = codec.mimeType.split("/")[0]
        self.name = codec.name.lower()
        self.c = COUNTS.setdefault(
            self.kind, {"encoded_frames": 0, "decoded": 0, "refused": 0, "keyframes": 0}
        )
        DECODERS.append(self)
        self.n = len(DECODERS)  # this track's number: files are named per track, so every publisher is kept
        self.saved = 0

    def decode(self, encoded_frame: Any) -> list[Any]:
        self.c["encoded_frames"] += 1
        data = bytes(encoded_frame.data)
        if self.name == "vp8" and data and not data[0] & 1:
            self.c["keyframes"] += 1
        if CAPTURE is not None and self.saved < 20:  # the first 20 frames of each track
            self.saved += 1
            (CAPTURE / f"{self.kind}-{self.n:02d}-{self.saved:03d}.{self.name}").write_bytes(data)
        try:
            frames = self.inner.decode(encoded_frame)
        except Exception:
            self.c["refused"] += 1
            raise
        self.c["decoded"] += len(frames)
        if self.kind == "video":
            for f in frames:
                try:
                    self.inspect(f)
                except Exception as e:  # noqa: BLE001 - never kill aiortc's decoder thread
                    ERRORS.append(repr(e))
        return frames

    def inspect(self, frame: Any) -> None:
        """How much of a decoded picture looks like Chromium's fake camera (green background and pie)."""
        rgb = frame.to_ndarray(format="rgb24")
        r, g = rgb[..., 0].astype(int), rgb[..., 1].astype(int)
        green = float(((g > 90) & (r < 90)).mean())
        PICTURES.append(green)
        if CAPTURE is not None and len(PICTURES) <= 3:
            save_png(rgb, CAPTURE / f"decoded-{len(PICTURES)}.png")


rtcrtpreceiver.get_decoder = CountingDecoder  # type: ignore[assignment]


async def run(url: str, token: str, seconds: float, out: Path) -> None:
    bot = Bot(url, token, name="capture", read_numbers=False)
    try:
        await bot.connect()
        await bot.negotiate()
        await asyncio.sleep(seconds)
        result = {
            "counts": COUNTS,
            "green_fraction": PICTURES,
            "errors": ERRORS[:5],
            "received": {r.track_id: {"kind": r.kind, "frames": r.frames} for r in bot.received.values()},
            "tracks": len(bot.tracks),
        }
    finally:
        await bot.close()
    out.write_text(json.dumps(result))


def main() -> int:
    global CAPTURE
    url, token, seconds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
    if len(sys.argv) > 5:
        CAPTURE = Path(sys.argv[5])
        CAPTURE.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(url, token, seconds, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
