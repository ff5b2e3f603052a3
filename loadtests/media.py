"""Pre-encoded test media, made once with av and cached: VP8 (IVF), H264 (Annex B in MPEG-TS) and Opus (Ogg).

Every video frame carries its own number as a pattern of black/white 16x16 blocks, so a subscriber that
decodes a frame can say exactly which one it is: the proof that every frame arrives, decodes and is in order.
"""

from __future__ import annotations

import fractions
import os
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("CASTELLAN_MEDIA_CACHE", Path(__file__).resolve().parent.parent / ".cache" / "media"))
BITS = 12
BLOCK = 16


def _frame_image(i: int, width: int, height: int) -> np.ndarray:
    img = np.full((height, width, 3), 96, dtype=np.uint8)
    img[:, :, 2] = (np.arange(width) * 255 // max(1, width - 1)).astype(np.uint8)[None, :]  # texture to encode
    for b in range(BITS):
        v = 255 if (i >> b) & 1 else 0
        img[0:BLOCK, b * BLOCK : (b + 1) * BLOCK] = v
    return img


def read_frame_number(img: np.ndarray) -> int:
    """Reads the number back from a decoded frame (rgb24 array)."""
    n = 0
    for b in range(BITS):
        block = img[4 : BLOCK - 4, b * BLOCK + 4 : (b + 1) * BLOCK - 4]
        if block.mean() > 127:
            n |= 1 << b
    return n


def video_file(codec: str = "vp8", seconds: float = 10.0, fps: int = 30, width: int = 320, height: int = 240,
               bitrate: int = 600_000) -> Path:
    import av

    ext = {"vp8": "ivf", "h264": "ts"}[codec]
    path = CACHE / f"{codec}-{width}x{height}-{fps}fps-{seconds:g}s-{bitrate // 1000}k.{ext}"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp" + path.suffix)
    fmt = "ivf" if codec == "vp8" else "mpegts"  # Annex B with timestamps
    with av.open(str(tmp), "w", format=fmt) as out:
        stream = out.add_stream("libvpx" if codec == "vp8" else "libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bitrate
        stream.codec_context.time_base = fractions.Fraction(1, fps)
        if codec == "vp8":
            stream.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "g": str(fps * 2)}
        else:
            stream.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "g": str(fps * 2), "bf": "0"}
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(_frame_image(i, width, height), format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = fractions.Fraction(1, fps)
            for pkt in stream.encode(frame):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    tmp.rename(path)
    return path


def audio_file(seconds: float = 10.0) -> Path:
    import av

    path = CACHE / f"opus-{seconds:g}s.ogg"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.ogg")
    rate = 48000
    with av.open(str(tmp), "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=rate)
        stream.layout = "stereo"
        stream.bit_rate = 48000
        t = 0
        step = 960
        while t < seconds * rate:
            samples = (np.sin(2 * np.pi * 440 * (np.arange(t, t + step) / rate)) * 8000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(np.vstack([samples, samples]).reshape(1, -1), format="s16", layout="stereo")
            frame.sample_rate = rate
            frame.pts = t
            for pkt in stream.encode(frame):
                out.mux(pkt)
            t += step
        for pkt in stream.encode(None):
            out.mux(pkt)
    tmp.rename(path)
    return path
