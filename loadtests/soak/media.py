"""Pre-encoded media played in a loop for as long as a soak lasts, with timestamps that keep increasing.

aiortc's MediaPlayer(loop=True) with decode=False seeks back to the start of the file: its packets' timestamps
jump back to zero and, from then on, nothing paces them (they are sent as fast as they are read). A real camera
never does either, and a node (or a receiver's jitter buffer) fed that would be tested on an artefact of the
player. `LoopedTrack` reads the file's packets once, then plays them round and round in real time, each lap's
timestamps continuing the previous one's. The packets are passed through untouched (never re-encoded): aiortc
only packetizes them.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass
from pathlib import Path

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from loadtests import media
from loadtests.bots.netbot import short_gop_video


@dataclass(frozen=True)
class Clip:
    """A file's encoded packets (payload, timestamp from 0) and the length of one lap, in `time_base` units."""

    kind: str
    payloads: tuple[bytes, ...]
    stamps: tuple[int, ...]
    time_base: fractions.Fraction
    lap: int


def read_clip(path: Path, kind: str) -> Clip:
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        payloads: list[bytes] = []
        stamps: list[int] = []
        step = 0
        for packet in container.demux(stream):
            if not packet.size or packet.pts is None:
                continue
            payloads.append(bytes(packet))
            stamps.append(int(packet.pts))
            step = int(packet.duration or step)
        time_base = stream.time_base
    if not payloads or time_base is None:
        raise RuntimeError(f"{path}: no {kind} packets")
    first = stamps[0]
    stamps = [s - first for s in stamps]
    if step <= 0:  # no duration in the container: the usual gap between packets
        step = max(1, (stamps[-1] - stamps[0]) // max(1, len(stamps) - 1))
    return Clip(kind, tuple(payloads), tuple(stamps), fractions.Fraction(time_base), stamps[-1] + step)


_CLIPS: dict[tuple[str, str], Clip] = {}


def clip(kind: str) -> Clip:
    """The soak's media, made once and cached: VP8 160x120 at 15 fps with a keyframe every second; Opus 48 kHz."""
    path = (short_gop_video(gop=15, seconds=20, fps=15, width=160, height=120, bitrate=150_000) if kind == "video"
            else media.audio_file(10.0))
    key = (kind, str(path))
    if key not in _CLIPS:
        _CLIPS[key] = read_clip(path, kind)
    return _CLIPS[key]


class LoopedTrack(MediaStreamTrack):
    """A `MediaStreamTrack` of encoded packets (av.Packet), looped forever, paced in real time."""

    def __init__(self, source: Clip) -> None:
        super().__init__()
        self.kind = source.kind
        self.clip = source
        self.index = 0
        self.started: float | None = None
        self.sent = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        c = self.clip
        lap, i = divmod(self.index, len(c.payloads))
        stamp = lap * c.lap + c.stamps[i]
        due = float(stamp * c.time_base)
        if self.started is None:
            self.started = time.monotonic()
        wait = self.started + due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(c.payloads[i])
        packet.pts = stamp
        packet.dts = stamp
        packet.time_base = c.time_base
        self.index += 1
        self.sent += 1
        return packet
