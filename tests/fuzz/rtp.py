"""RTP header, RFC 8285 header extensions, the subscriber rewrite and RTX wrapping: the Cython engine
(native.engine: parse_rtp, find_extension, py_rewrite_rtp, py_wrap_rtx) against native.reference.

Input: 8 parameter bytes (extension id looked up, id map, abs-send-time / transport-cc ids, SSRC, PT and
offsets), then the packet. Both implementations must return the same thing, None (a refusal) included."""

from __future__ import annotations

import struct

from native import engine
from native import reference as ref
from native.constants import MAX_RTP
from tests.fuzz._agree import agree


def _params(p: bytes) -> tuple[int, bytes, int, int, int, int, int, int, int]:
    p = p.ljust(8, b"\0")
    want_id = p[0]
    # an id map: identity rotated by p[1], with the ids whose bit is set in p[2..3] dropped (0)
    drop = p[2] | p[3] << 8
    ext_map = bytes(0 if drop >> i & 1 else (i + p[1]) & 0xFF for i in range(16 if p[1] < 0xF0 else p[1] - 0xE0))
    abs_send_out, twcc_out = p[1] & 0x0F, p[4]
    ssrc, = struct.unpack("!I", p[4:8])
    return want_id, ext_map, abs_send_out, twcc_out, ssrc, p[5] & 0x7F, p[6] << 8 | p[7], p[7] << 24 | p[6], p[3]


def check(data: bytes) -> None:
    want_id, ext_map, abs_send_out, twcc_out, ssrc, pt, seq_off, ts_off, twcc_seq = _params(data[:8])
    pkt = data[8:]
    info = agree("parse_rtp", engine.parse_rtp, ref.parse_rtp, pkt)
    for eid in {want_id, *range(16)}:
        agree("find_extension", engine.find_extension, ref.find_extension, pkt, eid)
    agree("rewrite_rtp", engine.py_rewrite_rtp, ref.rewrite_rtp, pkt, ssrc, pt, seq_off, ts_off, ext_map,
          abs_send_out, ssrc & 0xFFFFFF, twcc_out, twcc_seq)
    agree("wrap_rtx", engine.py_wrap_rtx, ref.wrap_rtx, pkt, ssrc ^ 0x5A5A5A5A, pt ^ 0x11, seq_off)
    if info is not None and len(pkt) <= MAX_RTP:
        out = ref.rewrite_rtp(pkt, ssrc, pt, seq_off, ts_off, ext_map, abs_send_out, 0, twcc_out, twcc_seq)
        if out is None or ref.parse_rtp(out) is None:
            raise AssertionError(f"the rewrite of a well-formed packet is not well-formed: {out!r}")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("rtp")
