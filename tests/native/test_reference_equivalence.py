"""The native hot path and the pure-Python reference agree, byte for byte, on any input.

Packets are generated the way they occur on the wire (CSRCs, RFC 8285 one- and two-byte extension blocks
with padding bytes, RTP padding, random payloads) and then, often, damaged: truncated, a byte flipped, a
length lying. Whatever the input, the native test hooks and `native.reference` must return the same thing.
Then the keyframe detectors are shown real keyframe starts for each codec.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native import reference as ref

engine = pytest.importorskip("native.engine")

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------- packet generation ----------------

@st.composite
def one_byte_elements(draw: st.DrawFn) -> bytes:
    out = bytearray()
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["elem"] * 6 + ["pad", "id15", "id0"]))
        if kind == "pad":
            out += bytes(draw(st.integers(1, 3)))
        elif kind == "id15":
            out += bytes([0xF0 | draw(st.integers(0, 15))]) + draw(st.binary(max_size=4))
        else:
            eid = 0 if kind == "id0" else draw(st.integers(1, 14))
            length = draw(st.integers(1, 16))
            if eid == 0 and length == 1:
                length = 2                                   # 0x00 would just be a padding byte
            out += bytes([(eid << 4) | (length - 1)]) + draw(st.binary(min_size=length, max_size=length))
    return bytes(out)


@st.composite
def two_byte_elements(draw: st.DrawFn) -> bytes:
    out = bytearray()
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.integers(0, 5)) == 0:
            out += bytes(draw(st.integers(1, 3)))
            continue
        eid = draw(st.integers(1, 255))
        value = draw(st.binary(max_size=20))
        out += bytes([eid, len(value)]) + value
    return bytes(out)


@st.composite
def extension_blocks(draw: st.DrawFn) -> bytes:
    """A header extension: 16-bit profile, 16-bit length in words, data (usually consistent)."""
    form = draw(st.sampled_from(["one", "one", "two", "other"]))
    if form == "one":
        profile, data = 0xBEDE, draw(one_byte_elements())
    elif form == "two":
        profile, data = 0x1000 | draw(st.integers(0, 15)), draw(two_byte_elements())
    else:
        profile, data = draw(st.integers(0, 0xFFFF)), draw(st.binary(max_size=12))
    data += bytes(-len(data) % 4)
    words = len(data) // 4
    if draw(st.integers(0, 7)) == 0:
        words = draw(st.integers(0, words + 3))              # a length that lies
    return struct.pack("!HH", profile, words) + data


@st.composite
def rtp_packets(draw: st.DrawFn, max_payload: int = 80, damage: bool = True) -> bytes:
    version = draw(st.sampled_from([2] * 12 + [0, 1, 3]))
    cc = draw(st.integers(0, 2) | st.integers(0, 15))
    ext = draw(st.one_of(st.none(), extension_blocks(), extension_blocks()))
    padded = draw(st.booleans())
    b0 = (version << 6) | (0x20 if padded else 0) | (0x10 if ext is not None else 0) | cc
    pkt = bytearray(struct.pack("!BBHII", b0, draw(st.integers(0, 255)), draw(st.integers(0, 0xFFFF)),
                                draw(st.integers(0, 0xFFFFFFFF)), draw(st.integers(0, 0xFFFFFFFF))))
    pkt += draw(st.binary(min_size=4 * cc, max_size=4 * cc))
    if ext is not None:
        pkt += ext
    pkt += draw(st.binary(max_size=max_payload))
    if padded:
        count = draw(st.integers(1, 12))
        pkt += bytes(count - 1) + bytes([draw(st.sampled_from([count] * 6 + [0, 255, count + 1]))])
    if damage:
        how = draw(st.sampled_from(["none"] * 7 + ["truncate", "flip", "append"]))
        if how == "truncate" and pkt:
            pkt = pkt[:draw(st.integers(0, len(pkt) - 1))]
        elif how == "flip" and pkt:
            i = draw(st.integers(0, len(pkt) - 1))
            pkt[i] ^= draw(st.integers(1, 255))
        elif how == "append":
            pkt += draw(st.binary(min_size=1, max_size=8))
    return bytes(pkt)


ext_maps = st.binary(max_size=256).map(lambda m: b"\x00" + m[1:] if m else m)   # ID 0 is never negotiated


# ---------------- equivalence on arbitrary packets ----------------

@FAST
@given(rtp_packets())
def test_parse_rtp_agrees(pkt: bytes) -> None:
    assert engine.parse_rtp(pkt) == ref.parse_rtp(pkt)


@FAST
@given(rtp_packets(), st.integers(0, 20) | st.integers(0, 255))
def test_find_extension_agrees(pkt: bytes, ext_id: int) -> None:
    assert engine.find_extension(pkt, ext_id) == ref.find_extension(pkt, ext_id)


@FAST
@given(rtp_packets(), st.integers(0, 0xFFFFFFFF), st.integers(0, 127), st.integers(-0x20000, 0x20000),
       st.integers(0, 0xFFFFFFFF), ext_maps, st.integers(0, 20) | st.integers(0, 255), st.integers(0, 0xFFFFFFFF))
def test_rewrite_agrees(pkt: bytes, ssrc: int, pt: int, seq_offset: int, ts_offset: int, ext_map: bytes,
                        abs_send_out: int, abs_send: int) -> None:
    args = (pkt, ssrc, pt, seq_offset, ts_offset, ext_map, abs_send_out, abs_send)
    assert engine.py_rewrite_rtp(*args) == ref.rewrite_rtp(*args)


@FAST
@given(rtp_packets(), st.integers(0, 0xFFFFFFFF), st.integers(0, 127), st.integers(0, 0xFFFF))
def test_wrap_rtx_agrees(pkt: bytes, rtx_ssrc: int, rtx_pt: int, rtx_seq: int) -> None:
    assert engine.py_wrap_rtx(pkt, rtx_ssrc, rtx_pt, rtx_seq) == ref.wrap_rtx(pkt, rtx_ssrc, rtx_pt, rtx_seq)


@FAST
@given(st.integers(0, 5), st.binary(max_size=24) | st.binary(max_size=300))
def test_keyframe_agrees_on_arbitrary_payloads(codec: int, payload: bytes) -> None:
    assert engine.py_is_keyframe(codec, payload) == ref.is_keyframe(codec, payload)


# ---------------- what the rewrite means (the reference, checked against itself) ----------------

@FAST
@given(rtp_packets(damage=False), st.integers(0, 0xFFFFFFFF), st.integers(0, 127), st.integers(0, 0xFFFF),
       st.integers(0, 0xFFFFFFFF))
def test_rewrite_keeps_payload_and_moves_seq_ts(pkt: bytes, ssrc: int, pt: int, seq_offset: int,
                                               ts_offset: int) -> None:
    src = ref.parse_rtp(pkt)
    out = ref.rewrite_rtp(pkt, ssrc, pt, seq_offset, ts_offset)
    if src is None:
        assert out is None
        return
    assert out is not None
    got = ref.parse_rtp(out)
    assert got is not None
    assert got[:5] == (pt, src[1], (src[2] + seq_offset) & 0xFFFF, (src[3] + ts_offset) & 0xFFFFFFFF, ssrc)
    assert got[6] == -1                                              # an empty ext_map strips every element
    assert out[got[9]:] == pkt[src[9]:]                              # payload and padding untouched


def test_rewrite_maps_ids_and_stamps_abs_send_time() -> None:
    # one-byte block: id 1 (audio level, 1 byte), id 3 (abs-send-time, 3 bytes), id 5 (2 bytes), padding
    ext = bytes([0x10, 0x85, 0x32, 0xAA, 0xBB, 0xCC, 0x51, 0x01, 0x02, 0x00, 0x00, 0x00])
    pkt = struct.pack("!BBHII", 0x90, 111, 1000, 48000, 0xA) + struct.pack("!HH", 0xBEDE, 3) + ext + b"opus"
    ext_map = bytes([0, 4, 0, 2, 0, 0])                              # 1 -> 4, 3 -> 2, 5 dropped
    for fn in (engine.py_rewrite_rtp, ref.rewrite_rtp):
        out = fn(pkt, 0xB, 100, 10, 20, ext_map, 2, 0x123456)
        assert out is not None
        assert ref.find_extension(out, 4) == b"\x85"
        assert ref.find_extension(out, 2) == b"\x12\x34\x56"
        assert ref.find_extension(out, 5) is None
        assert out.endswith(b"opus")


@FAST
@given(rtp_packets(damage=False), st.integers(0, 0xFFFFFFFF), st.integers(0, 127), st.integers(0, 0xFFFF))
def test_rtx_carries_the_original_seq(pkt: bytes, rtx_ssrc: int, rtx_pt: int, rtx_seq: int) -> None:
    src = ref.parse_rtp(pkt)
    out = ref.wrap_rtx(pkt, rtx_ssrc, rtx_pt, rtx_seq)
    if src is None:
        return
    assert out is not None
    got = ref.parse_rtp(out)
    assert got is not None
    assert got[:5] == (rtx_pt, src[1], rtx_seq, src[3], rtx_ssrc)
    assert out[got[9]:got[9] + 2] == struct.pack("!H", src[2])
    assert out[got[9] + 2:] == pkt[src[9]:]


# ---------------- oversized input ----------------

def test_oversized_packets_are_refused_like_the_engine_does() -> None:
    # The engine never forwards RTP over MAX_RTP (1500); py_wrap_rtx refuses it, py_rewrite_rtp should too.
    pkt = struct.pack("!BBHII", 0x80, 96, 1, 2, 3) + bytes(1600)
    assert ref.rewrite_rtp(pkt, 1, 96, 0, 0) is None
    assert ref.wrap_rtx(pkt, 1, 97, 0) is None
    assert engine.py_wrap_rtx(pkt, 1, 97, 0) is None
    assert engine.py_rewrite_rtp(pkt, 1, 96, 0, 0) is None


def test_a_one_byte_element_with_id_0_is_never_forwarded_even_if_id_0_is_mapped() -> None:
    # Found by fuzzing (tests/fuzz/rtp): 0x01 is ID 0 with a 2-byte value (not a padding byte); the engine
    # forwarded it when ext_map[0] was set, the reference never does (ID 0 is never negotiated).
    block = bytes([0x10, 0xCD, 0x01, 0xAA, 0xBB, 0x00, 0x00, 0x00])
    pkt = struct.pack("!BBHII", 0x90, 96, 1, 2, 3) + struct.pack("!HH", 0xBEDE, 2) + block + b"payload"
    ext_map = bytes([5]) + bytes(range(1, 16))
    want = ref.rewrite_rtp(pkt, 9, 97, 0, 0, ext_map)
    assert want is not None and ref.find_extension(want, 5) is None and ref.find_extension(want, 1) == b"\xcd"
    assert engine.py_rewrite_rtp(pkt, 9, 97, 0, 0, ext_map) == want


def test_rewrite_hook_survives_packets_larger_than_its_buffer() -> None:
    # py_rewrite_rtp copies into a 2048-byte stack buffer without checking the input length: a 4 KB packet
    # overruns it. Run in a child so a crash fails this test instead of killing the session.
    code = textwrap.dedent("""
        import struct
        from native import engine
        pkt = struct.pack("!BBHII", 0x80, 96, 1, 2, 3) + bytes(range(256)) * 32
        for _ in range(50):
            engine.py_rewrite_rtp(pkt, 1, 96, 0, 0)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-500:]


# ---------------- real keyframe starts ----------------

def vp8(descriptor: bytes, frame: bytes) -> bytes:
    return descriptor + frame


# VP8 key frame header: size0/H/VER/P=0, then the 3-byte start code 9d 01 2a and the dimensions
VP8_KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01])
VP8_DELTA = bytes([0x31, 0x04, 0x00]) + bytes(7)

KEYFRAMES = [
    # VP8: X=1 S=1 PID=0; I L T K all set, 15-bit picture id (M=1), TL0PICIDX, TID/Y/KEYIDX
    (ref.CODEC_VP8, vp8(bytes([0x90, 0xF0, 0x80 | 0x12, 0x34, 0x07, 0x40]), VP8_KEY)),
    # VP8: the minimal descriptor, S=1 PID=0
    (ref.CODEC_VP8, vp8(bytes([0x10]), VP8_KEY)),
    # VP8: X=1, only a 7-bit picture id
    (ref.CODEC_VP8, vp8(bytes([0x90, 0x80, 0x21]), VP8_KEY)),
    # VP9: I=1 (15-bit picture id), P=0, L=1, B=1, E=0, V=1; layer indices TID=0 U=0 SID=0 D=0; TL0PICIDX
    (ref.CODEC_VP9, bytes([0x80 | 0x20 | 0x08 | 0x02, 0x81, 0x23, 0x00, 0x05]) + bytes(16)),
    # VP9: flexible mode without layer indices, B=1, P=0
    (ref.CODEC_VP9, bytes([0x80 | 0x10 | 0x08, 0x11]) + bytes(16)),
    # H.264: STAP-A with SPS (0x67), PPS (0x68), as Chrome sends before an IDR
    (ref.CODEC_H264, bytes([0x78, 0x00, 0x0A, 0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01, 0x40, 0x16, 0xE8, 0x40,
                            0x00, 0x04, 0x68, 0xCE, 0x3C, 0x80])),
    # H.264: STAP-A where the SPS comes second
    (ref.CODEC_H264, bytes([0x78, 0x00, 0x02, 0x09, 0xF0, 0x00, 0x04, 0x67, 0x42, 0xC0, 0x1F])),
    # H.264: FU-A (indicator NRI=3 type 28), header S=1 type 5 (IDR slice)
    (ref.CODEC_H264, bytes([0x7C, 0x85, 0x88, 0x84, 0x00, 0x33]) + bytes(32)),
    # H.264: a single IDR NAL unit
    (ref.CODEC_H264, bytes([0x65, 0x88, 0x84]) + bytes(8)),
]

NOT_KEYFRAMES = [
    (ref.CODEC_VP8, vp8(bytes([0x90, 0x80, 0x21]), VP8_DELTA)),          # P=1: an inter frame
    (ref.CODEC_VP8, vp8(bytes([0x00]), VP8_KEY)),                        # S=0: not the frame's first packet
    (ref.CODEC_VP8, vp8(bytes([0x11]), VP8_KEY)),                        # PID=1: a later partition
    (ref.CODEC_VP8, bytes([0x90, 0xF0, 0x80])),                          # descriptor cut short
    (ref.CODEC_VP9, bytes([0x80 | 0x40 | 0x08, 0x11]) + bytes(8)),       # P=1: inter-predicted
    (ref.CODEC_VP9, bytes([0x80 | 0x20 | 0x08, 0x11, 0x02, 0x05]) + bytes(8)),   # SID=1
    (ref.CODEC_VP9, bytes([0x80 | 0x04, 0x11]) + bytes(8)),              # B=0: a middle packet
    (ref.CODEC_H264, bytes([0x7C, 0x05, 0x88]) + bytes(8)),              # FU-A continuation of an IDR
    (ref.CODEC_H264, bytes([0x7C, 0x81, 0x9A]) + bytes(8)),              # FU-A start of a non-IDR slice
    (ref.CODEC_H264, bytes([0x41, 0x9A]) + bytes(8)),                    # non-IDR slice
    (ref.CODEC_H264, bytes([0x78, 0x00, 0x09, 0x67, 0x42])),             # STAP-A whose SPS is truncated
]


@pytest.mark.parametrize(("codec", "payload"), KEYFRAMES)
def test_real_keyframe_starts_are_detected(codec: int, payload: bytes) -> None:
    assert ref.is_keyframe(codec, payload)
    assert engine.py_is_keyframe(codec, payload)


@pytest.mark.parametrize(("codec", "payload"), NOT_KEYFRAMES)
def test_other_packets_are_not_keyframes(codec: int, payload: bytes) -> None:
    assert not ref.is_keyframe(codec, payload)
    assert not engine.py_is_keyframe(codec, payload)


def test_audio_and_unknown_codecs_never_wait() -> None:
    for codec in (ref.CODEC_OPUS, ref.CODEC_OTHER):
        assert ref.is_keyframe(codec, b"") and engine.py_is_keyframe(codec, b"")
    assert not ref.is_keyframe(9, b"\x65") and not engine.py_is_keyframe(9, b"\x65")
