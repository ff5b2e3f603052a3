"""A stream of RTP packets through one subscription's layer filter and rewrite (VP8 temporal layers, VP9 SVC,
start on a keyframe, late packets, seq / picture-id offsets, NACK mapping): the Cython engine's
py_filter_stream against native.reference.filter_stream.

Input: codec byte, initial-seq byte, then records [cap][length][packet]: cap 0xFF keeps the layer caps, else
(max_sid, max_tid) = (cap >> 4, cap & 15) with 15 meaning -1 (all layers). NACKs ask for every subscriber seq
the stream can have used."""

from __future__ import annotations

from native import engine
from native import reference as ref
from native.constants import CODEC_H264, CODEC_OPUS, CODEC_VP8, CODEC_VP9
from tests.fuzz._agree import agree

CODECS = (CODEC_VP8, CODEC_VP9, CODEC_H264, CODEC_OPUS)
MAX_PACKETS = 64


def _records(body: bytes) -> tuple[list[bytes], list[tuple[int, int] | None]]:
    packets: list[bytes] = []
    caps: list[tuple[int, int] | None] = []
    i = 0
    while i + 2 <= len(body) and len(packets) < MAX_PACKETS:
        cap, n = body[i], body[i + 1]
        sid, tid = cap >> 4, cap & 15
        caps.append(None if cap == 0xFF else (-1 if sid == 15 else sid, -1 if tid == 15 else tid))
        packets.append(body[i + 2:i + 2 + n])
        i += 2 + n
    return packets, caps


def check(data: bytes) -> None:
    if len(data) < 2:
        return
    codec = CODECS[data[0] % len(CODECS)]
    initial_seq = data[1] << 8 | data[0]
    packets, caps = _records(data[2:])
    nacks = [(initial_seq + k) & 0xFFFF for k in range(-2, len(packets) + 2)]
    agree("filter_stream", engine.py_filter_stream, ref.filter_stream, codec, packets, caps, nacks, initial_seq)


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("layer_stream")
