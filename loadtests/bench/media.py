"""The bench's media: VP8 ~1.5 Mb/s 640x360 + Opus, encoded once with av, packetized into RTP payloads once
and cached; every run replays the same packets (no encoding per run).

loadtests/media.py's test pattern is almost static, so libvpx makes ~0.1 Mb/s of it whatever the target; the
bench adds per-frame noise to the same pattern (frame number blocks kept) so the encoder really spends
~1.5 Mb/s, like a camera would.
"""

from __future__ import annotations

import fractions
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loadtests import media as base_media

VIDEO_MTU_PAYLOAD = 1150  # VP8 bytes per RTP packet (browsers use ~1200-byte packets)
FPS = 30


@dataclass
class VideoFrame:
    payloads: list[
        bytes
    ]  # VP8 payload descriptor (RFC 7741, 15-bit PictureID like browsers) + partition bytes
    keyframe: bool


@dataclass
class BenchMedia:
    video: list[VideoFrame]  # 30 fps
    audio: list[bytes]  # Opus, 20 ms each
    seconds: float

    @property
    def video_bitrate(self) -> float:
        return sum(len(p) for f in self.video for p in f.payloads) * 8 / self.seconds

    @property
    def keyframes(self) -> list[int]:
        return [i for i, f in enumerate(self.video) if f.keyframe]


def _noisy_video(path: Path, seconds: float, width: int, height: int, bitrate: int, gop: int) -> None:
    import av

    rng = np.random.default_rng(1)
    tmp = path.with_suffix(".tmp.ivf")
    with av.open(str(tmp), "w", format="ivf") as out:
        stream = out.add_stream("libvpx", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bitrate
        stream.codec_context.time_base = fractions.Fraction(1, FPS)
        stream.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "g": str(gop),
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "bufsize": str(bitrate),
            "error-resilient": "1",
        }
        for i in range(int(seconds * FPS)):
            img = base_media._frame_image(i, width, height).astype(np.int16)
            img[base_media.BLOCK :] += rng.integers(
                -24, 24, size=img[base_media.BLOCK :].shape, dtype=np.int16
            )
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = fractions.Fraction(1, FPS)
            for pkt in stream.encode(frame):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    tmp.rename(path)


def _vp8_payloads(frame: bytes, picture_id: int) -> list[bytes]:
    out = []
    for off in range(0, len(frame), VIDEO_MTU_PAYLOAD):
        first = off == 0
        # X=1, S on the first packet, PID 0; I=1; 15-bit PictureID (M=1)
        desc = bytes([0x90 if first else 0x80, 0x80, 0x80 | ((picture_id >> 8) & 0x7F), picture_id & 0xFF])
        out.append(desc + frame[off : off + VIDEO_MTU_PAYLOAD])
    return out


def load(seconds: float = 10.0, width: int = 640, height: int = 360, bitrate: int = 1_500_000,
         gop: int = FPS * 2) -> BenchMedia:
    """Encodes (first time only) and packetizes; the result is cached next to loadtests/media.py's files."""
    import av

    base_media.CACHE.mkdir(parents=True, exist_ok=True)
    stem = f"bench-vp8-{width}x{height}-{FPS}fps-{seconds:g}s-{bitrate // 1000}k"
    if gop != FPS * 2:
        stem += f"-g{gop}"
    cached = base_media.CACHE / (stem + ".rtp.pickle")
    if cached.exists():
        with open(cached, "rb") as f:
            raw = pickle.load(f)  # noqa: S301 - our own cache file, plain lists/bytes only
        return BenchMedia([VideoFrame(p, k) for p, k in raw["video"]], raw["audio"], raw["seconds"])
    ivf = base_media.CACHE / (stem + ".ivf")
    if not ivf.exists():
        _noisy_video(ivf, seconds, width, height, bitrate, gop)
    video: list[VideoFrame] = []
    with av.open(str(ivf)) as c:
        for pkt in c.demux(c.streams.video[0]):
            if pkt.size == 0:
                continue
            data = bytes(pkt)
            video.append(VideoFrame(_vp8_payloads(data, len(video) & 0x7FFF), bool(pkt.is_keyframe)))
    audio: list[bytes] = []
    with av.open(str(base_media.audio_file(seconds))) as c:
        for apkt in c.demux(c.streams.audio[0]):
            if apkt.size:
                audio.append(bytes(apkt))
    m = BenchMedia(video=video, audio=audio, seconds=len(video) / FPS)
    tmp = cached.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(
            {"video": [(f.payloads, f.keyframe) for f in m.video], "audio": m.audio, "seconds": m.seconds}, fh
        )
    tmp.rename(cached)
    return m


if __name__ == "__main__":
    m = load()
    n = sum(len(f.payloads) for f in m.video)
    print(
        f"video {len(m.video)} frames, {n} packets, {m.video_bitrate / 1e6:.2f} Mb/s, keyframes at {m.keyframes}; "
        f"audio {len(m.audio)} packets"
    )


SIMULCAST = ((320, 180, 150_000), (640, 360, 500_000), (1280, 720, 1_200_000))  # q, h, f as browsers send them


def load_simulcast(seconds: float = 4.0, gop: int = FPS) -> list[BenchMedia]:
    """The three encodings of one simulcast camera (same frames, same keyframe positions)."""
    return [load(seconds, w, h, b, gop) for w, h, b in SIMULCAST]
