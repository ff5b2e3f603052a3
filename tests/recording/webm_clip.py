"""A short real WebM (VP8 video) made with PyAV, for the tests that play a recorded file in
Chromium: the archive stores it as the recorder would store a track it muxed (recording/muxer.py)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def vp8_webm(path: Path, seconds: float = 3.0, fps: int = 30, width: int = 320, height: int = 240) -> Path:
    """A moving gradient, keyframe first: a browser decodes and plays it (currentTime advances)."""
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        ramp = np.tile(np.arange(width, dtype=np.uint16), (height, 1))
        for i in range(int(seconds * fps)):
            rgb = np.zeros((height, width, 3), dtype=np.uint8)
            rgb[..., 0] = ((ramp + 4 * i) % 256).astype(np.uint8)
            rgb[..., 1] = 128
            rgb[..., 2] = (255 - (ramp + 4 * i) % 256).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
