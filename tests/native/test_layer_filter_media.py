"""Real VP8 with temporal layers (libvpx through PyAV, 3 layers in the 0-2-1-2 pattern) through a real engine
capped at TL0: the subscriber's stream depacketizes and decodes to exactly the TL0 pictures of the full stream —
the layer dropping leaves a stream a decoder can use, not only well-formed RTP."""

from __future__ import annotations

import fractions
import struct

import pytest

from native import reference as ref
from tests.native.test_layer_filter import SUB, Rig, rtp, seqs_of

engine = pytest.importorskip("native.engine")
av = pytest.importorskip("av")
np = pytest.importorskip("numpy")

PATTERN = [0, 2, 1, 2]


def encode(frames: int = 40) -> list[bytes]:
    ctx = av.codec.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 320, 240, "yuv420p"
    ctx.time_base = fractions.Fraction(1, 30)
    ctx.framerate = 30
    ctx.bit_rate = 600_000
    ctx.options = {
        "ts-parameters": "ts_number_layers=3:ts_target_bitrate=240,360,600:ts_rate_decimator=4,2,1:"
                         "ts_periodicity=4:ts_layer_id=0,2,1,2:ts_layering_mode=3",
        "deadline": "realtime", "lag-in-frames": "0", "error-resilient": "1", "auto-alt-ref": "0",
    }
    ctx.open()
    out: list[bytes] = []
    for i in range(frames):
        img = np.zeros((240, 320, 3), dtype=np.uint8)
        img[:, :, 0] = (np.arange(320)[None, :] + 7 * i) % 256
        img[(3 * i) % 200:(3 * i) % 200 + 40, (5 * i) % 280:(5 * i) % 280 + 40] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [bytes(p) for p in ctx.encode(frame)]
    out += [bytes(p) for p in ctx.encode(None)]
    assert len(out) == frames
    return out


def decode(frames: list[bytes]) -> list[np.ndarray]:
    dec = av.codec.CodecContext.create("libvpx", "r")
    pictures = []
    for data in frames:
        for f in dec.decode(av.Packet(data)):
            pictures.append(f.to_ndarray(format="yuv420p"))
    return pictures


def packetize(frames: list[bytes], mtu: int = 400) -> list[bytes]:
    packets, seq, tl0 = [], 30000, 0
    for i, data in enumerate(frames):
        tid = PATTERN[i % 4]
        tl0 += tid == 0
        chunks = [data[o:o + mtu] for o in range(0, len(data), mtu)]
        for j, chunk in enumerate(chunks):
            desc = bytes([0x80 | (0x10 if j == 0 else 0), 0xE0, 0x80 | (i >> 8), i & 0xFF, tl0 & 0xFF,
                          tid << 6 | (1 if tid else 0) << 5])
            packets.append(rtp(seq, 3000 * i, desc + chunk, j == len(chunks) - 1))
            seq += 1
    return packets


def depacketize(packets: list[bytes]) -> list[bytes]:
    frames, cur = [], b""
    for p in packets:
        info = ref.parse_rtp(p)
        assert info is not None
        payload = p[info[9]:info[9] + info[10]]
        d = ref.parse_vp8(payload)
        assert d is not None
        cur += payload[d[8]:]
        if info[1]:
            frames.append(cur)
            cur = b""
    return frames


def test_libvpx_temporal_layers_survive_the_engine_at_tl0() -> None:
    frames = encode()
    full = decode(frames)
    assert len(full) == 40
    rig = Rig(engine.CODEC_VP8)
    rig.eng.set_temporal(SUB, 0)
    got = rig.send(packetize(frames))
    assert seqs_of(got) == list(range(500, 500 + len(got)))
    pids = [((p[14] & 0x7F) << 8) | p[15] for p in got if p[12] & 0x10]
    assert pids == list(range(10))
    thinned = decode(depacketize(got))
    assert len(thinned) == 10
    for k, picture in enumerate(thinned):
        assert np.array_equal(picture, full[4 * k]), f"TL0 picture {k} differs from the full decode"
    # the control: without TL1, TL2-only frames decode to something else (they really depend on TL1)
    broken = decode([f for i, f in enumerate(frames) if PATTERN[i % 4] != 1])
    assert any(not np.array_equal(a, full[i]) for a, i in zip(broken, [i for i in range(40) if PATTERN[i % 4] != 1],
                                                               strict=True))
    assert struct.unpack_from("!I", got[0], 8)[0] == 5555
