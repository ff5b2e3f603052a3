"""Codec payload descriptors: VP8 (RFC 7741) and VP9 (RFC 9628) parsing, the layer filter's view of a packet,
keyframe detection (VP8, VP9, H.264) and the VP8 picture-id rewrite: the Cython engine's test hooks
(py_parse_vp8, py_parse_vp9, py_layer_info, py_is_keyframe, py_munge_vp8) against native.reference.

Input: 5 parameter bytes (codec and key flag, munging offsets and last ids), then the payload."""

from __future__ import annotations

from native import engine
from native import reference as ref
from native.constants import CODEC_H264, CODEC_OPUS, CODEC_OTHER, CODEC_VP8, CODEC_VP9
from tests.fuzz._agree import agree

CODECS = (CODEC_VP8, CODEC_VP9, CODEC_H264, CODEC_OPUS, CODEC_OTHER, 7)


def check(data: bytes) -> None:
    p = data[:5].ljust(5, b"\0")
    payload = data[5:]
    codec, key = CODECS[p[0] % len(CODECS)], bool(p[0] & 0x80)
    agree("parse_vp8", engine.py_parse_vp8, ref.parse_vp8, payload)
    agree("parse_vp9", engine.py_parse_vp9, ref.parse_vp9, payload)
    for c in {codec, CODEC_VP8, CODEC_VP9, CODEC_H264}:
        agree("is_keyframe", engine.py_is_keyframe, ref.is_keyframe, c, payload)
        agree("layer_info", engine.py_layer_info, ref.layer_info, c, payload, key)
    pid_offset, tl0_offset = p[1] << 8 | p[2], p[3]
    agree("munge_vp8", engine.py_munge_vp8, ref.munge_vp8, payload, pid_offset, tl0_offset, bool(p[0] & 0x40),
          p[4] << 7 | p[2] & 0x7F, p[4])


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("codec_payload")
