"""A Y4M file whose every frame carries its number (the pattern of loadtests/media.py), for Chromium's fake camera
(`--use-file-for-fake-video-capture`): what the recorder writes can then be read back frame by frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from loadtests.media import BITS, BLOCK


def numbered_y4m(path: Path, frames: int, width: int = 320, height: int = 240, fps: int = 30) -> Path:
    if path.exists() and path.stat().st_size > 0:
        return path
    tmp = path.with_suffix(".tmp")
    y = np.full((height, width), 96, dtype=np.uint8)
    y[:, :] += (np.arange(width) * 60 // max(1, width - 1)).astype(np.uint8)[None, :]  # texture to encode
    chroma = np.full((height // 2) * (width // 2) * 2, 128, dtype=np.uint8).tobytes()
    with open(tmp, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            img = y.copy()
            for b in range(BITS):
                img[0:BLOCK, b * BLOCK:(b + 1) * BLOCK] = 235 if (i >> b) & 1 else 16
            f.write(b"FRAME\n")
            f.write(img.tobytes())
            f.write(chroma)
    tmp.rename(path)
    return path
