"""Pure-Python reference of the native media path (native/engine.pyx), written from the RFCs.

The functions mirror the engine's public functions (`parse_rtp`, `find_extension`) and its test hooks
(`py_is_keyframe`, `py_rewrite_rtp`, `py_wrap_rtx`, ...) signature for signature, so tests can compare the two
on arbitrary input:

- RTP header: RFC 3550 §5.1; header extensions: RFC 8285 (one-byte 0xBEDE, two-byte 0x100X);
- keyframes: RFC 7741 (VP8), RFC 9628 (VP9), RFC 6184 (H.264); retransmission: RFC 4588.

Where the RFCs leave malformed input open, the choice is written next to the code.

`ArrivalLog` is the engine's transport-cc arrival log (`native.engine.ArrivalLogHook`); `rewrite_rtp` also adds
the node's transport-wide sequence number as the engine does.

`ReferenceForwarder` is the same forwarding path as `native.engine.Engine`, in plain Python over a socket
(recvfrom/sendto, pylibsrtp), for the benchmark's comparison, transport-cc logs and padding probes included.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pylibsrtp

from native.constants import (
    ARRIVAL_LOG_SIZE,
    CODEC_H264,
    CODEC_OPUS,
    CODEC_OTHER,
    CODEC_VP8,
    CODEC_VP9,
    DROP_REASONS,
    EV_DTLS,
    EV_RTCP,
    EV_STUN,
    EV_UNKNOWN_SSRC,
    HIST_BUCKETS,
    LAYER_ALL,
    MAX_RTP,
    MAX_WORKERS,
    OFF_RING,
    SEND_LOG_SIZE,
    SENT_RING,
    SRS_PER_PACKET,
    START_WINDOW,
)
from native.interface import (
    Counters,
    Event,
    RtpHeader,
    SubscriptionLayers,
    SubscriptionStats,
    TrackLayers,
    TrackStats,
)

PROFILE_ONE_BYTE = 0xBEDE

RtpTuple = RtpHeader


# ---------------- RTP (RFC 3550 §5.1) ----------------

def parse_rtp(data: bytes) -> RtpTuple | None:
    """(pt, marker, seq, ts, ssrc, hdr_len, ext_profile, ext_off, ext_len, payload_off, payload_len, pad_len),
    or None when `data` is not a well-formed RTP packet. ext_profile is -1 without an extension;
    hdr_len covers the fixed header and CSRCs; ext_off/ext_len locate the extension data after its 4-byte header."""
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data, 0)
    if b0 >> 6 != 2:
        return None
    hdr_len = 12 + 4 * (b0 & 0x0F)
    if hdr_len > len(data):
        return None
    ext_profile, ext_off, ext_len = -1, 0, 0
    payload_off = hdr_len
    if b0 & 0x10:
        if hdr_len + 4 > len(data):
            return None
        ext_profile, words = struct.unpack_from("!HH", data, hdr_len)
        ext_off = hdr_len + 4
        ext_len = 4 * words
        payload_off = ext_off + ext_len
        if payload_off > len(data):
            return None
    pad_len = 0
    if b0 & 0x20:
        # the last octet counts the padding, itself included, so 0 is not a valid count
        pad_len = data[-1]
        if pad_len == 0 or payload_off + pad_len > len(data):
            return None
    return (b1 & 0x7F, b1 >> 7, seq, ts, ssrc, hdr_len, ext_profile, ext_off, ext_len, payload_off,
            len(data) - payload_off - pad_len, pad_len)


def _is_two_byte(profile: int) -> bool:
    return profile >= 0 and profile & 0xFFF0 == 0x1000       # 0x100 then 4 "appbits"


def _elements(data: bytes, profile: int, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(id, value offset, value length) of each RFC 8285 element, in order. Zero bytes are padding.
    Parsing stops at a one-byte ID 15 (RFC 8285 §4.2: "processing ... MUST terminate") and at an element
    that overruns the block (malformed: elements before it still count). A one-byte element whose ID is 0
    but whose length nibble is not (so not a padding byte) is yielded as ID 0: nobody negotiates ID 0,
    so it is never found nor forwarded."""
    i = start
    if profile == PROFILE_ONE_BYTE:
        while i < end:
            if data[i] == 0:
                i += 1
                continue
            eid, length = data[i] >> 4, (data[i] & 0x0F) + 1
            if eid == 15 or i + 1 + length > end:
                return
            yield eid, i + 1, length
            i += 1 + length
    elif _is_two_byte(profile):
        while i < end:
            if data[i] == 0:
                i += 1
                continue
            if i + 2 > end or i + 2 + data[i + 1] > end:
                return
            yield data[i], i + 2, data[i + 1]
            i += 2 + data[i + 1]


def find_extension(data: bytes, ext_id: int) -> bytes | None:
    """The value of the first header extension element with `ext_id`, or None."""
    info = parse_rtp(data)
    if info is None or info[6] < 0 or ext_id == 0:
        return None
    for eid, off, length in _elements(data, info[6], info[7], info[7] + info[8]):
        if eid == ext_id:
            return data[off:off + length]
    return None


# ---------------- keyframes ----------------

def _vp8_keyframe(p: bytes) -> bool:
    """RFC 7741 §4.2 descriptor (X R N S R PID; then I L T K; PictureID 7/15 bits; TL0PICIDX; TID/Y/KEYIDX),
    then the VP8 payload header, whose low bit P is 0 on a key frame (RFC 7741 §4.3). The frame starts where
    S=1 and PID=0."""
    start, pid = p[0] & 0x10, p[0] & 0x07
    i = 1
    if p[0] & 0x80:
        if len(p) < 2:
            return False
        ext = p[1]
        i = 2
        if ext & 0x80:
            if len(p) <= i:
                return False
            i += 2 if p[i] & 0x80 else 1
        if ext & 0x40:
            i += 1
        if ext & 0x30:
            i += 1
    if i >= len(p):
        return False
    return bool(start) and pid == 0 and not p[i] & 0x01


def _vp9_keyframe(p: bytes) -> bool:
    """RFC 9628 §4.2 descriptor I P L F B E V Z: the first packet (B) of a picture that is not
    inter-predicted (P=0), in spatial layer 0 when layer indices (L: TID U SID D) are present."""
    b0 = p[0]
    if b0 & 0x40 or not b0 & 0x08:
        return False
    i = 1
    if b0 & 0x80:
        if len(p) < 2:
            return False
        i += 2 if p[1] & 0x80 else 1
    if b0 & 0x20:
        if i >= len(p):
            return False
        return (p[i] >> 1) & 0x07 == 0
    return True


def _h264_keyframe(p: bytes) -> bool:
    """RFC 6184: a single NAL unit that is an IDR slice (5) or SPS (7); a STAP-A (24) holding one; or the
    start fragment (S bit) of an FU-A/FU-B (28/29) of one. A malformed STAP-A ends the search."""
    nal = p[0] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24:
        i = 1
        while i < len(p):
            if i + 3 > len(p):
                return False
            size = (p[i] << 8) | p[i + 1]
            if size == 0 or i + 2 + size > len(p):
                return False
            if p[i + 2] & 0x1F in (5, 7):
                return True
            i += 2 + size
        return False
    if nal in (28, 29):
        return len(p) >= 2 and bool(p[1] & 0x80) and p[1] & 0x1F in (5, 7)
    return False


def is_keyframe(codec: int, payload: bytes) -> bool:
    """Whether a subscriber may start decoding at this payload. Audio and other codecs: always."""
    if codec in (CODEC_OTHER, CODEC_OPUS):
        return True
    if not payload:
        return False
    if codec == CODEC_VP8:
        return _vp8_keyframe(payload)
    if codec == CODEC_VP9:
        return _vp9_keyframe(payload)
    if codec == CODEC_H264:
        return _h264_keyframe(payload)
    return False


# ---------------- rewrite and RTX ----------------

def rewrite_rtp(data: bytes, ssrc: int, pt: int, seq_offset: int, ts_offset: int, ext_map: bytes = b"",
                abs_send_out: int = 0, abs_send: int = 0, twcc_out: int = 0, twcc_seq: int = 0) -> bytes | None:
    """The subscriber's view of a publisher packet: its SSRC and PT, seq + seq_offset, ts + ts_offset
    (both wrapping). Header extension element ID i becomes ext_map[i] (0 or absent = dropped; a one-byte
    block keeps only IDs 1..14); the element mapped to `abs_send_out` with a 3-byte value is stamped with
    `abs_send` (24 bits). Zero padding bytes are dropped and the block re-padded; without surviving elements,
    or with a non-RFC-8285 profile, the extension is removed (X cleared). CSRCs, marker, payload and RTP
    padding are kept. None for malformed or oversized (> MAX_RTP) input.

    Transport-wide congestion control: with `twcc_out` in 1..14 (the low 8 bits are used; 15 and up mean
    off), the node's transport sequence number `twcc_seq` (16 bits) is appended as the block's last element,
    in the block's own form (two-byte for a two-byte block, else one-byte, creating a 0xBEDE block if
    needed); a source element mapped onto `twcc_out` is dropped."""
    if len(data) > MAX_RTP:
        return None
    info = parse_rtp(data)
    if info is None:
        return None
    _, _, seq, ts, _, hdr_len, profile, ext_off, ext_len, payload_off, _, _ = info
    out = bytearray(struct.pack("!BBHII", data[0] & ~0x10 & 0xFF, (data[1] & 0x80) | (pt & 0x7F),
                                (seq + seq_offset) & 0xFFFF, (ts + ts_offset) & 0xFFFFFFFF, ssrc & 0xFFFFFFFF))
    out += data[12:hdr_len]
    block = bytearray()
    one_byte = profile == PROFILE_ONE_BYTE
    twcc = twcc_out & 0xFF
    if twcc >= 15:
        twcc = 0
    for eid, off, length in _elements(data, profile, ext_off, ext_off + ext_len):
        new_id = ext_map[eid] if 0 < eid < len(ext_map) else 0
        if new_id == 0 or (one_byte and new_id > 14) or new_id == twcc:
            continue
        value = data[off:off + length]
        if new_id == abs_send_out and length == 3:
            value = (abs_send & 0xFFFFFF).to_bytes(3, "big")
        block += bytes([(new_id << 4) | (length - 1)]) if one_byte else bytes([new_id, length])
        block += value
    if twcc:
        stamp = struct.pack("!H", twcc_seq & 0xFFFF)
        block += (bytes([twcc, 2]) if _is_two_byte(profile) else bytes([(twcc << 4) | 1])) + stamp
        if not _is_two_byte(profile):
            profile = PROFILE_ONE_BYTE
    if block:
        block += bytes(-len(block) % 4)
        out[0] |= 0x10
        out += struct.pack("!HH", profile, len(block) // 4) + block
    out += data[payload_off:]
    return bytes(out)


def wrap_rtx(data: bytes, rtx_ssrc: int, rtx_pt: int, rtx_seq: int) -> bytes | None:
    """RFC 4588 §4: the retransmission of `data` on the RTX stream. Same header (marker, timestamp, CSRCs,
    extensions) with the RTX PT, SSRC and sequence number; the payload is the original sequence number (OSN)
    followed by the original payload (with its RTP padding, so the P bit stays valid)."""
    if len(data) > MAX_RTP:
        return None
    info = parse_rtp(data)
    if info is None:
        return None
    payload_off = info[9]
    head = bytearray(data[:payload_off])
    head[1] = (head[1] & 0x80) | (rtx_pt & 0x7F)
    struct.pack_into("!H", head, 2, rtx_seq & 0xFFFF)
    struct.pack_into("!I", head, 8, rtx_ssrc & 0xFFFFFFFF)
    return bytes(head) + struct.pack("!H", info[2]) + data[payload_off:]


def munge_vp8(payload: bytes, pid_offset: int, tl0_offset: int, resync: bool = False, last_pid: int = 0,
              last_tl0: int = 0) -> tuple[bytes, int, int]:
    """RFC 7741 descriptor: PictureID (7 or 15 bits) and TL0PICIDX shifted by per-subscriber offsets; on
    `resync` the offsets are recomputed so the first rewritten values follow last_pid / last_tl0."""
    p = bytearray(payload)
    if len(p) < 2 or not p[0] & 0x80:
        return bytes(p), last_pid, last_tl0
    i = 2
    if p[1] & 0x80:
        if i >= len(p):
            return bytes(p), last_pid, last_tl0
        wide = bool(p[i] & 0x80)
        if wide and i + 1 >= len(p):
            return bytes(p), last_pid, last_tl0
        pid = ((p[i] & 0x7F) << 8 | p[i + 1]) if wide else p[i] & 0x7F
        if resync:
            pid_offset = (last_pid + 1 - pid) & 0xFFFF
        out = (pid + pid_offset) & (0x7FFF if wide else 0x7F)
        if wide:
            p[i], p[i + 1] = 0x80 | out >> 8, out & 0xFF
            i += 2
        else:
            p[i] = out
            i += 1
        last_pid = out
    if p[1] & 0x40:
        if i >= len(p):
            return bytes(p), last_pid, last_tl0
        if resync:
            tl0_offset = (last_tl0 + 1 - p[i]) & 0xFF
        p[i] = (p[i] + tl0_offset) & 0xFF
        last_tl0 = p[i]
    return bytes(p), last_pid, last_tl0


class ArrivalLog:
    """Transport-cc, receive side: the engine's bounded per-peer log of (transport seq, arrival), drained by
    Python. Holding at most `capacity` entries, it drops the oldest (counting an overflow) when more arrive
    between two drains."""

    def __init__(self, capacity: int = ARRIVAL_LOG_SIZE) -> None:
        self.capacity = capacity
        self.entries: list[tuple[int, int]] = []
        self.overflow = 0

    def push(self, seq: int, arrival_ns: int) -> None:
        self.entries.append((seq & 0xFFFF, arrival_ns))
        if len(self.entries) > self.capacity:
            del self.entries[0]
            self.overflow += 1

    def drain(self) -> list[tuple[int, int]]:
        """[(seq, arrival µs), ...] in arrival order since the last drain."""
        out = [(seq, ns // 1000) for seq, ns in self.entries]
        self.entries = []
        return out


# ---------------- layer descriptors and the layer filter (VP8 temporal layers, VP9 SVC) ----------------

Vp8Desc = tuple[int, int, int, int, int, int, int, int, int]
Vp9Desc = tuple[int, int, int, int, int, int, int, int, int, int]



def read_picture_id(p: bytes, i: int) -> tuple[int, int, int] | None:
    """(picture id, wide, offset after it) for the PictureID at p[i], as VP8 and VP9 share it; None if cut short."""
    if i >= len(p):
        return None
    if p[i] & 0x80:
        if i + 1 >= len(p):
            return None
        return (p[i] & 0x7F) << 8 | p[i + 1], 1, i + 2
    return p[i] & 0x7F, 0, i + 1

def parse_vp8(p: bytes) -> Vp8Desc | None:
    """RFC 7741 §4.2: (start S, partition PID, picture id, wide (M), TL0PICIDX, TID, Y, KEYIDX, descriptor
    length); -1 for an absent field. TID and Y are present when T=1, KEYIDX when K=1 (one shared byte when
    either is set). None when the descriptor is cut short."""
    if not p:
        return None
    start, part = (p[0] >> 4) & 1, p[0] & 0x07
    pid = wide = tl0 = tid = y = keyidx = -1
    i = 1
    if p[0] & 0x80:
        if len(p) < 2:
            return None
        x, i = p[1], 2
        if x & 0x80:
            got = read_picture_id(p, i)
            if got is None:
                return None
            pid, wide, i = got
        if x & 0x40:
            if i >= len(p):
                return None
            tl0, i = p[i], i + 1
        if x & 0x30:
            if i >= len(p):
                return None
            if x & 0x20:
                tid, y = p[i] >> 6, (p[i] >> 5) & 1
            if x & 0x10:
                keyidx = p[i] & 0x1F
            i += 1
    return (start, part, pid, wide, tl0, tid, y, keyidx, i)


def parse_vp9(p: bytes) -> Vp9Desc | None:
    """RFC 9628 §4.2: (byte 0 = I P L F B E V Z, picture id, wide (M), TID, U, SID, D, TL0PICIDX, spatial
    layers announced by the scalability structure (N_S + 1, else 0), descriptor length); -1 for absent fields.
    Layer indices follow L; TL0PICIDX only in non-flexible mode (F=0); flexible mode with P=1 carries 1 to 3
    P_DIFF bytes chained by N (a fourth is malformed); V adds the SS: N_S Y G, Y: N_S+1 x width/height,
    G: N_G then per picture T U R and R P_DIFFs. None when cut short or malformed."""
    if not p:
        return None
    b0, i = p[0], 1
    pid = wide = tid = u = sid = d = tl0 = -1
    ns = 0
    if b0 & 0x80:
        got = read_picture_id(p, i)
        if got is None:
            return None
        pid, wide, i = got
    if b0 & 0x20:
        if i >= len(p):
            return None
        tid, u, sid, d = p[i] >> 5, (p[i] >> 4) & 1, (p[i] >> 1) & 0x07, p[i] & 1
        i += 1
        if not b0 & 0x10:
            if i >= len(p):
                return None
            tl0, i = p[i], i + 1
    if b0 & 0x10 and b0 & 0x40:
        for k in range(4):
            if i >= len(p) or k == 3:
                return None
            i += 1
            if not p[i - 1] & 1:
                break
    if b0 & 0x02:
        if i >= len(p):
            return None
        ns, ss = (p[i] >> 5) + 1, p[i]
        i += 1
        if ss & 0x10:
            i += 4 * ns
            if i > len(p):
                return None
        if ss & 0x08:
            if i >= len(p):
                return None
            ng, i = p[i], i + 1
            for _ in range(ng):
                if i >= len(p):
                    return None
                i += 1 + ((p[i] >> 2) & 0x03)
                if i > len(p):
                    return None
    return (b0, pid, wide, tid, u, sid, d, tl0, ns, i)


def vp8_set_ids(payload: bytes, pid_offset: int, tl0_offset: int) -> bytes:
    """The picture id and TL0PICIDX shifted by fixed offsets (late packets, retransmissions); a descriptor
    cut short is left alone."""
    d = parse_vp8(payload)
    if d is None:
        return payload
    p = bytearray(payload)
    i = 2
    if d[2] >= 0:
        out = (d[2] + pid_offset) & (0x7FFF if d[3] else 0x7F)
        if d[3]:
            p[i], p[i + 1] = 0x80 | out >> 8, out & 0xFF
            i += 2
        else:
            p[i] = out
            i += 1
    if d[4] >= 0:
        p[i] = (d[4] + tl0_offset) & 0xFF
    return bytes(p)


LayerTuple = tuple[int, int, int, int, int, int, int, int, int]


def layer_info(codec: int, payload: bytes, key: bool = False) -> LayerTuple:
    """(layered, tid, sid, pic_start, sync, end, key, pid, ss): what the layer filter reads from a packet.
    pic_start: VP8 S=1 with partition 0; VP9 B=1 in spatial layer 0. sync: VP8 Y; VP9 U. end: VP9 E.
    Without layer indices a packet is in layer 0; other codecs and broken descriptors are not `layered`."""
    k = int(bool(key))
    if codec == CODEC_VP8:
        d8 = parse_vp8(payload)
        if d8 is not None:
            tid, y = (d8[5], d8[6]) if d8[5] >= 0 else (0, 0)
            return (1, tid, 0, int(d8[0] == 1 and d8[1] == 0), y, 0, k, d8[2], 0)
    elif codec == CODEC_VP9:
        d9 = parse_vp9(payload)
        if d9 is not None:
            tid, sid, u = (d9[3], d9[5], d9[4]) if d9[3] >= 0 else (0, 0, 0)
            return (1, tid, sid, int(bool(d9[0] & 0x08) and sid == 0), u, int(bool(d9[0] & 0x04)), k, d9[1], d9[8])
    return (0, 0, 0, 0, 0, 0, k, -1, 0)


def _s16(x: int) -> int:
    x &= 0xFFFF
    return x - 0x10000 if x & 0x8000 else x


@dataclass
class LayerSub:
    """One subscription's layer filter and the history of its seq offset (the state `Sub` holds natively)."""

    next_seq: int
    seq_offset: int = 0
    pid_offset: int = 0
    tl0_offset: int = 0
    max_tid: int = LAYER_ALL
    max_sid: int = LAYER_ALL
    cur_tid: int = LAYER_ALL
    cur_sid: int = LAYER_ALL
    started: bool = False
    start_seq: int = 0
    max_in: int = 0
    drop_pid: int = -1
    last_out_ts: int = 0
    filtered: int = 0
    last_pid: int = 0
    last_tl0: int = 0
    # (from input seq, seq offset, picture id offset), oldest first, at most OFF_RING
    offsets: list[tuple[int, int, int]] = field(default_factory=list)

    def admit(self, codec: int, info: LayerTuple, update: bool) -> tuple[bool, bool]:
        """(forward, set the marker): caps move down at a picture start, up at a keyframe or a sync point
        (VP8: Y=1 on the next layer up; VP9: U=1 on a picture in a forwarded layer)."""
        layered, tid, sid, pic_start, sync, end, key = info[:7]
        if not layered:
            return True, False
        if update and pic_start:
            if key:
                self.cur_tid, self.cur_sid = self.max_tid, self.max_sid
            else:
                self.cur_sid = min(self.cur_sid, self.max_sid)
                if self.max_tid < self.cur_tid:
                    self.cur_tid = self.max_tid
                elif self.max_tid > self.cur_tid and sync:
                    if codec == CODEC_VP8:
                        if tid == self.cur_tid + 1:
                            self.cur_tid = tid
                    elif tid <= self.cur_tid:
                        self.cur_tid = self.max_tid
        if tid > self.cur_tid or sid > self.cur_sid:
            return False, False
        return True, bool(end) and sid == self.cur_sid

    def _drop(self, codec: int, seq: int, pid: int) -> None:
        self.max_in = seq
        if codec == CODEC_VP8 and pid >= 0 and pid != self.drop_pid:
            self.pid_offset = (self.pid_offset - 1) & 0xFFFF
            self.drop_pid = pid
        self.seq_offset = (self.seq_offset - 1) & 0xFFFF
        entry = ((seq + 1) & 0xFFFF, self.seq_offset, self.pid_offset)
        if self.offsets[-1][0] == seq:
            self.offsets[-1] = entry
        else:
            self.offsets.append(entry)
            del self.offsets[:-OFF_RING]

    def rewrite(self, codec: int, pkt: bytes, key: bool, ssrc: int = 0x5555, pt: int = 100) -> bytes | None | int:
        """The subscriber's copy (before SRTP), None when filtered, -1 before the start (as sub_rewrite)."""
        info = parse_rtp(pkt)
        assert info is not None
        seq, ts = info[2], info[3]
        if not self.started:
            if not key:
                return -1
            self.started, self.seq_offset, self.start_seq = True, (self.next_seq - seq) & 0xFFFF, seq
            self.offsets = [(seq, self.seq_offset, self.pid_offset)]
            self.max_in, self.drop_pid = (seq - 1) & 0xFFFF, -1
        elif _s16(seq - self.start_seq) < 0:
            return -1
        if (seq - self.start_seq) & 0xFFFF > START_WINDOW:
            self.start_seq = (seq - START_WINDOW) & 0xFFFF
            # the history starts at start_seq: every entry stays comparable with the newest packet
            while len(self.offsets) > 1 and _s16(self.offsets[1][0] - self.start_seq) <= 0:
                self.offsets.pop(0)
            if _s16(self.offsets[0][0] - self.start_seq) < 0:
                self.offsets[0] = (self.start_seq, *self.offsets[0][1:])
        late = _s16(seq - self.max_in) <= 0
        payload = pkt[info[9]:info[9] + info[10]]
        layers = layer_info(codec, payload, key)
        forward, marker = self.admit(codec, layers, not late)
        if not forward:
            self.filtered += 1
            if not late:
                self._drop(codec, seq, layers[7])
            return None
        if not late:
            self.max_in = seq
        entry = None
        seq_off = self.seq_offset
        if _s16(seq - self.offsets[-1][0]) < 0:
            entry = next((e for e in reversed(self.offsets) if _s16(seq - e[0]) >= 0), None)
            if entry is None:
                return -1
            seq_off = entry[1]
        out = rewrite_rtp(pkt, ssrc, pt, seq_off, 0)
        assert out is not None
        at = len(out) - info[10] - info[11]            # the rewritten header may be shorter (extensions)
        head = bytearray(out[:at])
        if marker:
            head[1] |= 0x80
        body = out[at:]
        if codec == CODEC_VP8:
            if entry is not None:
                munged = vp8_set_ids(body[:info[10]], entry[2], self.tl0_offset)
            else:
                munged, self.last_pid, self.last_tl0 = munge_vp8(body[:info[10]], self.pid_offset, self.tl0_offset,
                                                                 False, self.last_pid, self.last_tl0)
                self.offsets[-1] = (self.offsets[-1][0], self.offsets[-1][1], self.pid_offset)
            body = munged + body[info[10]:]
        out_seq = (seq + seq_off) & 0xFFFF
        if _s16(out_seq - self.next_seq) >= 0:
            self.next_seq, self.last_out_ts = (out_seq + 1) & 0xFFFF, ts
        return bytes(head) + body

    def input_seq(self, out_seq: int) -> int:
        """The input seq a subscriber seq (a NACK) was sent as, or -1: older than the history or not sent yet."""
        if not self.started:
            return -1
        for start, seq_off, _ in reversed(self.offsets):
            in_seq = (out_seq - seq_off) & 0xFFFF
            if _s16(in_seq - start) >= 0:
                return -1 if _s16(in_seq - self.max_in) > 0 else in_seq
        return -1


def filter_stream(codec: int, packets: list[bytes], caps: list[tuple[int, int] | None], nacks: list[int],
                  initial_seq: int = 1000) -> tuple[list[bytes | None | int], list[int]]:
    """Mirror of the native hook `py_filter_stream`: one subscription's copies of a stream, then NACK mapping."""
    sub = LayerSub(next_seq=initial_seq & 0xFFFF)
    outs: list[bytes | None | int] = []
    for i, pkt in enumerate(packets):
        cap = caps[i] if i < len(caps) else None
        if cap is not None:
            sub.max_sid = LAYER_ALL if not 0 <= cap[0] <= LAYER_ALL else cap[0]
            sub.max_tid = LAYER_ALL if not 0 <= cap[1] <= LAYER_ALL else cap[1]
        info = parse_rtp(pkt) if len(pkt) <= MAX_RTP else None
        if info is None:
            outs.append(-1)
            continue
        outs.append(sub.rewrite(codec, pkt, is_keyframe(codec, pkt[info[9]:info[9] + info[10]])))
    return outs, [sub.input_seq(n & 0xFFFF) for n in nacks]


def abs_send_time(ns: int) -> int:
    """abs-send-time: 24 bits of 6.18 fixed-point seconds (wall clock mod 64 s; as NTP, since the
    NTP-Unix epoch offset is a multiple of 64 s)."""
    return ((ns % 64_000_000_000) << 18) // 1_000_000_000 & 0xFFFFFF


# ---------------- the forwarder ----------------

_PROFILES = {
    1: (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    7: (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
    8: (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}


def srtp_session(profile: int, key: bytes, outbound: bool) -> pylibsrtp.Session:
    """A pylibsrtp session configured like the engine's: any-SSRC, window 1024, and never one SRTP index
    protected twice (allow_repeat_tx off: the same index with other bytes would reuse the GCM nonce)."""
    if profile not in _PROFILES:
        raise ValueError(f"unsupported SRTP profile {profile}")
    prof, need = _PROFILES[profile]
    if len(key) != need:
        raise ValueError(f"SRTP key for profile {profile} must be {need} bytes, got {len(key)}")
    policy = pylibsrtp.Policy(
        key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND,
        srtp_profile=prof)
    policy.allow_repeat_tx = False
    policy.window_size = 1024
    return pylibsrtp.Session(policy)


@dataclass
class _Peer:
    addr: tuple[str, int] | None = None
    rx: pylibsrtp.Session | None = None
    tx: pylibsrtp.Session | None = None
    abs_send_id: int = 0
    audio_level_id: int = 0
    twcc_id: int = 0
    arrivals: ArrivalLog | None = None
    twcc_next: int = 0
    twcc_sent: int = 0
    sent_log: dict[int, tuple[int, int, int]] | None = None   # slot -> (transport seq, send µs, bytes)
    rx_packets: int = 0
    tx_packets: int = 0
    worker: int = 0

    def next_twcc(self) -> int:
        seq = self.twcc_next
        self.twcc_next = (seq + 1) & 0xFFFF
        return seq


@dataclass
class _Track:
    peer: int
    ssrc: int
    codec: int
    clock_rate: int
    mask: int
    ring: dict[int, bytes] = field(default_factory=dict)   # seq & mask -> plaintext packet
    subs: list[int] = field(default_factory=list)
    received: int = 0
    octets: int = 0
    base_seq: int = -1
    max_seq: int = 0
    cycles: int = 0
    jitter: float = 0.0
    last_transit: int | None = None
    last_ts: int = -1
    keyframes: int = 0
    last_keyframe_ns: int = 0
    audio_level: int = -1
    voice: int = 0
    loudness_sum: int = 0       # audio_activity(): since its last call
    level_count: int = 0
    voice_count: int = 0


@dataclass
class _Sub:
    track: int
    peer: int
    ssrc: int
    pt: int
    rtx_ssrc: int
    rtx_pt: int                 # -1: no RTX
    ext_map: bytes
    abs_send_out: int
    next_seq: int
    ts_offset: int
    need_keyframe: bool
    started: bool = False
    seq_offset: int = 0
    start_seq: int = 0
    max_in: int = 0             # the newest input seq forwarded: a NACK for anything newer asks for the future
    rtx_seq: int = 0
    last_out_ts: int = 0
    packets: int = 0
    octets: int = 0
    rtx_packets: int = 0
    last_send_ns: int = 0
    twcc_out: int = 0
    paused: bool = False
    paused_packets: int = 0
    # video without RTX: out seq & (SENT_RING - 1) -> (out seq, the protected bytes sent), re-sent as they are
    sent: dict[int, tuple[int, bytes]] | None = None



BUFFER_SLOT = 2048  # bytes the engine maps per buffered packet (its SLOT): what counters()["buffer_bytes"] counts


def _older(a: int, b: int) -> bool:
    """a precedes b in 16-bit sequence space."""
    return (a - b) & 0xFFFF >= 0x8000


class ReferenceForwarder:
    """The engine's forwarding path in plain Python: same control methods, same `poll()` events
    (kind, peer, (host, port), payload) for STUN, DTLS, RTCP (decrypted) and RTP of an unknown SSRC."""

    def __init__(self, sock: socket.socket, batch: int = 64, max_sent_rings: int = 512, workers: int = 1) -> None:
        if max_sent_rings < 0:
            raise ValueError("max_sent_rings must be >= 0")
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}")
        # media workers: forwarding is the same whatever the worker count (one thread here); what the engine's
        # workers would each handle and hand each other is counted, for worker_counters()
        self.workers = workers
        self._lanes = [[0, 0, 0, 0] for _ in range(workers)]   # rx, forwarded, piped out, piped in
        self._sending = 0                                      # whose send _send_protected counts
        self.sock = sock
        self.batch = batch
        self.max_sent_rings = max_sent_rings
        self.sent_ring_evictions = 0
        self.peers: dict[int, _Peer] = {}
        self.tracks: dict[int, _Track] = {}
        self.subs: dict[int, _Sub] = {}
        self._by_addr: dict[tuple[str, int], int] = {}
        self._by_ssrc: dict[tuple[int, int], int] = {}
        self._counts = dict.fromkeys(("rx_packets", "rx_bytes", "forwarded_packets", "forwarded_bytes",
                                      "rtx_packets", "rtcp_sent", "batches", "probe_packets", "layer_filtered"), 0)
        self._drops = dict.fromkeys(DROP_REASONS, 0)
        self._running = False

    # ---- control ----

    def _peer(self, peer: int) -> _Peer:
        if peer not in self.peers:
            raise ValueError(f"peer {peer} unknown")
        return self.peers[peer]

    def add_peer(self, peer: int, worker: int = 0) -> None:
        if not 0 <= worker < self.workers:
            raise ValueError(f"worker index {worker} out of range")
        if peer in self.peers:
            raise ValueError(f"peer {peer} already exists")
        self.peers[peer] = _Peer(worker=worker)

    def peer_worker(self, peer: int) -> int:
        return self.peers[peer].worker if peer in self.peers else -1

    def worker_count(self) -> int:
        return self.workers

    def worker_counters(self) -> list[tuple[int, int, int, int]]:
        return [(a, b, c, d) for a, b, c, d in self._lanes]

    def _pipe(self, src: int, dst: int) -> None:
        self._lanes[src][2] += 1
        self._lanes[dst][3] += 1

    def set_peer_address(self, peer: int, host: str, port: int) -> None:
        p = self._peer(peer)
        addr = (str(ipaddress.ip_address(host)), port)
        if p.addr is not None:
            self._by_addr.pop(p.addr, None)
        p.addr = addr
        self._by_addr[addr] = peer

    def clear_peer_address(self, peer: int) -> None:
        p = self._peer(peer)
        if p.addr is not None:
            self._by_addr.pop(p.addr, None)
            p.addr = None

    def set_peer_srtp(self, peer: int, profile: int, rx_key: bytes, tx_key: bytes) -> None:
        p = self._peer(peer)
        p.rx = srtp_session(profile, rx_key, outbound=False)
        p.tx = srtp_session(profile, tx_key, outbound=True)

    def set_peer_extensions(self, peer: int, abs_send_id: int = 0, audio_level_id: int = 0,
                            twcc_id: int = 0) -> None:
        p = self._peer(peer)
        p.abs_send_id, p.audio_level_id, p.twcc_id = abs_send_id, audio_level_id, twcc_id
        if twcc_id and p.arrivals is None:
            p.arrivals = ArrivalLog()

    def twcc_arrivals(self, peer: int) -> list[tuple[int, int]]:
        p = self._peer(peer)
        return p.arrivals.drain() if p.arrivals is not None else []

    def remove_peer(self, peer: int) -> None:
        if peer not in self.peers:
            return
        for s in [s for s, sub in self.subs.items() if sub.peer == peer]:
            self.remove_subscription(s)
        for t in [t for t, tr in self.tracks.items() if tr.peer == peer]:
            self.remove_track(t)
        self.clear_peer_address(peer)
        del self.peers[peer]

    def add_track(self, track: int, peer: int, ssrc: int, codec: int, clock_rate: int,
                  buffer_packets: int = 512) -> None:
        self._peer(peer)
        if track in self.tracks:
            raise ValueError(f"track {track} already exists")
        if buffer_packets < 16 or buffer_packets & (buffer_packets - 1):
            raise ValueError("buffer_packets must be a power of two >= 16")
        if (peer, ssrc) in self._by_ssrc:
            raise ValueError(f"ssrc {ssrc} already published by peer {peer}")
        self.tracks[track] = _Track(peer, ssrc, codec, clock_rate, buffer_packets - 1)
        self._by_ssrc[(peer, ssrc)] = track

    def remove_track(self, track: int) -> None:
        t = self.tracks.get(track)
        if t is None:
            return
        for s in list(t.subs):
            self.remove_subscription(s)     # before the track goes: each unlinks itself from it
        del self.tracks[track]
        del self._by_ssrc[(t.peer, t.ssrc)]

    def add_subscription(self, sub: int, track: int, peer: int, ssrc: int, pt: int, rtx_ssrc: int = 0,
                         rtx_pt: int = -1, ext_map: bytes = b"", abs_send_out: int = 0, initial_seq: int = 0,
                         ts_offset: int = 0, twcc_out: int = 0, paused: bool = False) -> None:
        if sub in self.subs:
            raise ValueError(f"subscription {sub} already exists")
        if track not in self.tracks or peer not in self.peers:
            raise ValueError("unknown track or peer")
        if len(ext_map) > 256:
            raise ValueError("ext_map too long")
        if not 0 <= twcc_out <= 14:
            raise ValueError("twcc_out must be a one-byte extension id (1..14) or 0")
        t = self.tracks[track]
        self.subs[sub] = _Sub(track, peer, ssrc, pt & 0x7F, rtx_ssrc, rtx_pt & 0x7F if rtx_pt >= 0 else -1,
                              bytes(ext_map), abs_send_out, initial_seq & 0xFFFF, ts_offset & 0xFFFFFFFF,
                              need_keyframe=t.codec not in (CODEC_OPUS, CODEC_OTHER), twcc_out=twcc_out)
        self.subs[sub].paused = paused
        if rtx_pt < 0 and t.codec not in (CODEC_OPUS, CODEC_OTHER):
            # NACKs are served from what was sent (no NACK is negotiated for audio), within the node-wide cap
            if self._sent_rings() >= self.max_sent_rings:
                self._evict_sent_ring()
            if self._sent_rings() < self.max_sent_rings:
                self.subs[sub].sent = {}
        t.subs.insert(0, sub)           # the engine links new subscriptions at the head

    def _sent_rings(self) -> int:
        return sum(1 for s in self.subs.values() if s.sent is not None)

    def _evict_sent_ring(self) -> None:
        """At the cap: the ring of the subscription that sent least recently (ties: the lowest index) is
        dropped; that subscription goes on without NACK service."""
        held = [(s.last_send_ns, i) for i, s in self.subs.items() if s.sent is not None]
        if held:
            self.subs[min(held)[1]].sent = None
            self.sent_ring_evictions += 1

    def remove_subscription(self, sub: int) -> None:
        s = self.subs.pop(sub, None)
        if s is not None:
            self.tracks[s.track].subs.remove(sub)
            peer = self.peers.get(s.peer)
            if peer is not None and peer.tx is not None:  # its SSRCs' streams go with it (engine: _drop_srtp_streams)
                for ssrc in (s.ssrc, s.rtx_ssrc) if s.rtx_ssrc else (s.ssrc,):
                    with contextlib.suppress(pylibsrtp.Error):  # never sent: no stream
                        peer.tx.remove_stream(ssrc)

    def restart_subscription(self, sub: int) -> None:
        s = self.subs.get(sub)
        if s is not None and self.tracks[s.track].codec not in (CODEC_OPUS, CODEC_OTHER):
            s.started, s.need_keyframe = False, True

    def subscription_waiting(self, sub: int) -> bool:
        s = self.subs.get(sub)
        return s is not None and not s.started

    def set_paused(self, sub: int, paused: bool) -> None:
        """Stops or resumes forwarding; sequence numbers continue where they stopped (audio at once, video at a
        keyframe), the timestamp keeps the sender's clock."""
        s = self.subs.get(sub)
        if s is None:
            return
        if s.paused and not paused:
            s.started, s.need_keyframe = False, self.tracks[s.track].codec not in (CODEC_OPUS, CODEC_OTHER)
        s.paused = bool(paused)

    def audio_activity(self, track: int) -> tuple[int, int, int] | None:
        """(sum of loudness 0..127, packets with a level, packets with the voice bit) since the last call."""
        t = self.tracks.get(track)
        if t is None:
            return None
        out = (t.loudness_sum, t.level_count, t.voice_count)
        t.loudness_sum = t.level_count = t.voice_count = 0
        return out

    # ---- layers: the reference forwards one layer, unfiltered ----
    # Layer filtering has its own reference (LayerSub, filter_stream: tests compare it with py_filter_stream);
    # simulcast switching is tested on the engine alone. The reference refuses to pretend otherwise.

    def switch_layer(self, sub: int, track: int) -> None:
        raise NotImplementedError("the reference forwards one layer per subscription (no simulcast switch)")

    def subscription_layer(self, sub: int) -> tuple[int, int, int] | None:
        """(current track, pending target: always -1, switches: always 0)"""
        s = self.subs.get(sub)
        return (s.track, -1, 0) if s is not None else None

    def set_temporal(self, sub: int, max_tid: int) -> None:
        raise NotImplementedError("the reference forwards every layer (its layer filter is LayerSub)")

    def set_svc(self, sub: int, max_sid: int, max_tid: int = -1) -> None:
        raise NotImplementedError("the reference forwards every layer (its layer filter is LayerSub)")

    def subscription_layers(self, sub: int) -> SubscriptionLayers | None:
        """(max_sid, max_tid, cur_sid, cur_tid, filtered): no caps, nothing filtered."""
        return (LAYER_ALL, LAYER_ALL, LAYER_ALL, LAYER_ALL, 0) if sub in self.subs else None

    def track_layers(self, track: int) -> TrackLayers | None:
        raise NotImplementedError("the reference does not read layer indices on the forwarding path")

    # ---- the per-packet path ----

    def poll(self, max_batches: int = 16) -> list[Event]:
        """Receives and forwards until the socket is empty (at most max_batches * batch datagrams)."""
        events: list[Event] = []
        for _ in range(max_batches):
            n = 0
            while n < self.batch:
                try:
                    data, addr = self.sock.recvfrom(2048, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    break
                n += 1
                self._handle(data, (addr[0], addr[1]), events)
            if n:
                self._counts["batches"] += 1
            if n < self.batch:
                break
        return events

    def serve(self, callback: Callable[[list[Event]], object], worker: int = 0) -> None:
        """poll() whenever the socket is readable, handing events to `callback`, until stop_serving(). The
        reference has no lock: drive it from this one thread only (there is no threaded reference); `worker`
        must be 0 (worker 0 does everything here)."""
        if worker != 0:
            raise ValueError("the reference serves on one thread: worker 0")
        self._running = True
        while self._running:
            readable, _, _ = select.select([self.sock], [], [], 0.2)
            if not readable:
                continue
            events = self.poll()
            if events:
                try:
                    callback(events)
                except BaseException:  # like the engine: the media loop outlives any handler bug
                    pass

    def stop_serving(self) -> None:
        self._running = False

    def _handle(self, data: bytes, addr: tuple[str, int], events: list[Event]) -> None:
        self._counts["rx_packets"] += 1
        self._counts["rx_bytes"] += len(data)
        owner = self._by_addr.get(addr, -1) if 1 <= len(data) < 2048 - 16 else -1
        lane = self.peers[owner].worker if owner >= 0 else 0
        if lane:
            self._pipe(0, lane)                                 # worker 0 owns the socket, hands it on
        self._lanes[lane][0] += 1
        if not data:
            self._drops["malformed"] += 1
            return
        if len(data) >= 2048 - 16:
            self._drops["too_big"] += 1
            return
        peer = self._by_addr.get(addr, -1)
        b0 = data[0]
        if b0 < 4:                                              # RFC 7983: STUN
            if len(data) < 20:
                self._drops["malformed"] += 1
            else:
                events.append((EV_STUN, peer, addr, data))
            return
        if peer < 0:
            self._drops["unknown_address"] += 1
            return
        if 20 <= b0 <= 63:                                      # DTLS
            events.append((EV_DTLS, peer, addr, data))
            return
        if not 128 <= b0 <= 191:
            self._drops["unclassified"] += 1
            return
        p = self.peers[peer]
        if p.rx is None or p.tx is None:
            self._drops["not_ready"] += 1
            return
        if len(data) < 12:
            self._drops["malformed"] += 1
            return
        if 192 <= data[1] <= 223:                               # RFC 5761: RTCP
            try:
                events.append((EV_RTCP, peer, addr, p.rx.unprotect_rtcp(data)))
            except pylibsrtp.Error:
                self._drops["srtcp_auth"] += 1
            return
        try:
            plain = p.rx.unprotect(data)
        except pylibsrtp.Error as e:
            self._drops["srtp_replay" if "replay" in str(e) else "srtp_auth"] += 1
            return
        p.rx_packets += 1
        self._forward(peer, addr, plain, events)

    def _forward(self, peer: int, addr: tuple[str, int], pkt: bytes, events: list[Event]) -> None:
        if len(pkt) > MAX_RTP:
            self._drops["too_big"] += 1
            return
        info = parse_rtp(pkt)
        if info is None:
            self._drops["malformed"] += 1
            return
        pp = self.peers[peer]
        if pp.twcc_id and pp.arrivals is not None:
            value = find_extension(pkt, pp.twcc_id)
            if value is not None and len(value) >= 2:
                pp.arrivals.push(struct.unpack_from("!H", value)[0], time.time_ns())
        ti = self._by_ssrc.get((peer, info[4]))
        if ti is None:
            self._drops["unknown_ssrc"] += 1
            events.append((EV_UNKNOWN_SSRC, peer, addr, pkt))
            return
        t = self.tracks[ti]
        now = time.time_ns()
        self._receive_stats(t, pkt, info, now)
        seq = info[2]
        t.ring[seq & t.mask] = pkt
        key = is_keyframe(t.codec, pkt[info[9]:info[9] + info[10]])
        if key and t.codec not in (CODEC_OPUS, CODEC_OTHER):
            t.keyframes += 1
            t.last_keyframe_ns = now
        abs_send = abs_send_time(now)
        owner = self.peers[peer].worker
        for lane in sorted({self.peers[self.subs[si].peer].worker for si in t.subs} - {owner}):
            self._pipe(owner, lane)                             # the decrypted packet, to that worker's subs
        for si in t.subs:
            s = self.subs[si]
            self._sending = self.peers[s.peer].worker
            if s.paused:
                s.paused_packets += 1
                continue
            sp = self.peers[s.peer]
            if sp.tx is None or sp.addr is None:
                self._drops["not_ready"] += 1
                continue
            if not s.started:
                if s.need_keyframe and not key:
                    self._drops["not_started"] += 1
                    continue
                s.started, s.need_keyframe = True, False
                s.seq_offset = (s.next_seq - seq) & 0xFFFF
                s.start_seq = s.max_in = seq
            elif _older(seq, s.start_seq):
                self._drops["not_started"] += 1
                continue
            if (seq - s.start_seq) & 0xFFFF > START_WINDOW:     # keep the start inside the half window
                s.start_seq = (seq - START_WINDOW) & 0xFFFF
            out = rewrite_rtp(pkt, s.ssrc, s.pt, s.seq_offset, s.ts_offset, s.ext_map, s.abs_send_out, abs_send,
                              s.twcc_out, sp.twcc_next)
            assert out is not None
            out_seq = (seq + s.seq_offset) & 0xFFFF
            if not _older(seq, s.max_in):
                s.max_in = seq
            data = self._send(sp, out, sp.next_twcc() if s.twcc_out else None)
            if data is None:
                continue
            if s.sent is not None:
                s.sent[out_seq % SENT_RING] = (out_seq, data)
            if not _older(out_seq, s.next_seq):
                s.next_seq = (out_seq + 1) & 0xFFFF
                s.last_out_ts = (info[3] + s.ts_offset) & 0xFFFFFFFF
            s.packets += 1
            s.octets += info[10]
            s.last_send_ns = now
        self._sending = 0

    def _send(self, sp: _Peer, plain: bytes, twcc_seq: int | None = None) -> bytes | None:
        """Protects and sends; the protected bytes, or None (a counted send_failed drop)."""
        assert sp.tx is not None
        try:
            data = sp.tx.protect(plain)
        except pylibsrtp.Error:
            self._drops["send_failed"] += 1
            return None
        if not self._send_protected(sp, data):
            return None
        if twcc_seq is not None:                                # the transport-cc send log
            if sp.sent_log is None:
                sp.sent_log = {}
            sp.sent_log[twcc_seq % SEND_LOG_SIZE] = (twcc_seq, time.time_ns() // 1000, len(data))
            sp.twcc_sent += 1
        return data

    def _send_protected(self, sp: _Peer, data: bytes) -> bool:
        assert sp.addr is not None
        try:
            self.sock.sendto(data, sp.addr)
        except OSError:
            self._drops["send_failed"] += 1
            return False
        sp.tx_packets += 1
        self._lanes[self._sending][1] += 1
        self._counts["forwarded_packets"] += 1
        self._counts["forwarded_bytes"] += len(data)
        return True

    def _receive_stats(self, t: _Track, pkt: bytes, info: RtpTuple, now_ns: int) -> None:
        seq, ts = info[2], info[3]
        if t.base_seq < 0:
            t.base_seq = t.max_seq = seq
        elif 0 < (seq - t.max_seq) & 0xFFFF < 0x8000:
            if seq < t.max_seq:
                t.cycles += 0x10000
            t.max_seq = seq
        t.received += 1
        t.octets += info[10]
        if t.clock_rate > 0 and ts != t.last_ts:                # RFC 3550 A.8
            transit = now_ns * t.clock_rate // 1_000_000_000 - ts
            if t.last_transit is not None:
                d = abs(transit - t.last_transit)
                if d < 0x7FFFFFFF:
                    t.jitter += (d - t.jitter) / 16
            t.last_transit = transit
        t.last_ts = ts
        level = find_extension(pkt, self.peers[t.peer].audio_level_id)
        if level:
            t.audio_level, t.voice = level[0] & 0x7F, level[0] >> 7
            t.loudness_sum += 127 - t.audio_level
            t.level_count += 1
            t.voice_count += t.voice

    # ---- RTCP, retransmission, stats ----

    def send_rtcp(self, peer: int, packet: bytes) -> bool:
        p = self._peer(peer)
        if p.tx is None or p.addr is None:
            return False
        if not 8 <= len(packet) <= MAX_RTP:
            raise ValueError("RTCP packet size out of range")
        try:
            self.sock.sendto(p.tx.protect_rtcp(packet), p.addr)
        except (pylibsrtp.Error, OSError):
            return False
        self._counts["rtcp_sent"] += 1
        return True

    def sender_reports(self, peer: int, ntp: int, subs: Iterable[tuple[int, int]]) -> int:
        p = self._peer(peer)
        if p.tx is None or p.addr is None:
            return 0
        reports: list[bytes] = []
        for si, rtp_ts in subs:
            s = self.subs.get(si)
            if s is None or s.peer != peer or not s.started:
                continue
            reports.append(struct.pack("!BBHIIIIII", 0x80, 200, 6, s.ssrc, (ntp >> 32) & 0xFFFFFFFF,
                                       ntp & 0xFFFFFFFF, (rtp_ts + s.ts_offset) & 0xFFFFFFFF,
                                       s.packets & 0xFFFFFFFF, s.octets & 0xFFFFFFFF))
        sent = 0
        for i in range(0, len(reports), SRS_PER_PACKET):
            chunk = reports[i:i + SRS_PER_PACKET]
            if self.send_rtcp(peer, b"".join(chunk)):
                sent += len(chunk)
        return sent

    def send_raw(self, peer: int, data: bytes) -> bool:
        p = self._peer(peer)
        if p.addr is None:
            return False
        try:
            self.sock.sendto(data, p.addr)
        except OSError:
            return False
        return True

    def retransmit(self, sub: int, seqs: Iterable[int]) -> int:
        """Serves a NACK (subscriber sequence numbers): with RTX, from the track's buffer, rewritten and sent as
        RTX (a new SRTP index); without RTX, the very bytes sent under each sequence number, never protected
        again (one SRTP index, other header bytes: a reused AES-GCM nonce / AES-CM keystream)."""
        s = self.subs.get(sub)
        if s is None or not s.started:
            return 0
        t = self.tracks[s.track]
        sp = self.peers[s.peer]
        if sp.tx is None or sp.addr is None:
            return 0
        sent = 0
        if s.rtx_pt < 0:
            for seq in seqs:
                out_seq = seq & 0xFFFF
                kept = (s.sent or {}).get(out_seq % SENT_RING)
                if kept is not None and kept[0] == out_seq and self._send_protected(sp, kept[1]):
                    s.rtx_packets += 1
                    sent += 1
            self._counts["rtx_packets"] += sent
            return sent
        abs_send = abs_send_time(time.time_ns())
        for seq in seqs:
            in_seq = (seq - s.seq_offset) & 0xFFFF
            pkt = t.ring.get(in_seq & t.mask)
            if pkt is None or struct.unpack_from("!H", pkt, 2)[0] != in_seq or _older(in_seq, s.start_seq):
                continue
            if _older(s.max_in, in_seq):
                continue                # not forwarded yet (it came before the start, or not at all): as the engine
            out = rewrite_rtp(pkt, s.ssrc, s.pt, s.seq_offset, s.ts_offset, s.ext_map, s.abs_send_out, abs_send,
                              s.twcc_out, sp.twcc_next)
            if out is None:
                continue
            out = wrap_rtx(out, s.rtx_ssrc, s.rtx_pt, s.rtx_seq)
            if out is None:
                continue
            s.rtx_seq = (s.rtx_seq + 1) & 0xFFFF
            if self._send(sp, out, sp.next_twcc() if s.twcc_out else None) is not None:
                s.rtx_packets += 1
                sent += 1
        self._counts["rtx_packets"] += sent
        return sent

    # ---- transport-wide congestion control ----

    def twcc_sent(self, peer: int, base_seq: int, count: int) -> list[tuple[int, int] | None]:
        """Per transport seq base_seq.. : (send µs, bytes on the wire), or None if not in the send log."""
        p = self._peer(peer)
        out: list[tuple[int, int] | None] = []
        for k in range(count):
            seq = (base_seq + k) & 0xFFFF
            entry = (p.sent_log or {}).get(seq % SEND_LOG_SIZE)
            ok = entry is not None and entry[0] == seq and (p.twcc_next - seq - 1) & 0xFFFF < SEND_LOG_SIZE
            out.append((entry[1], entry[2]) if ok and entry is not None else None)
        return out

    def twcc_state(self, peer: int) -> tuple[int, int, int]:
        p = self._peer(peer)
        return (p.twcc_next, p.twcc_sent, p.arrivals.overflow if p.arrivals is not None else 0)

    def send_padding(self, sub: int, count: int, size: int = 255) -> tuple[int, int, int] | None:
        """A probe: `count` padding-only packets on the subscription's RTX stream, each with the next
        transport seq (one-byte extension block); (first seq, last seq, bytes) or None."""
        s = self.subs.get(sub)
        if s is None or s.rtx_pt < 0 or not s.twcc_out:
            return None
        sp = self.peers[s.peer]
        if sp.tx is None or sp.addr is None:
            return None
        if not 1 <= size <= 255:
            raise ValueError("padding size must be 1..255")
        first, sent, total = sp.twcc_next, 0, 0
        for _ in range(count):
            seq = sp.twcc_next
            pkt = (struct.pack("!BBHII", 0xB0, s.rtx_pt, s.rtx_seq, s.last_out_ts, s.rtx_ssrc)
                   + struct.pack("!HHBHB", PROFILE_ONE_BYTE, 1, (s.twcc_out << 4) | 1, seq, 0)
                   + bytes(size - 1) + bytes([size]))
            data = self._send(sp, pkt, sp.next_twcc())
            if data is None:
                continue
            s.rtx_seq = (s.rtx_seq + 1) & 0xFFFF
            sent += 1
            total += len(data)
        self._counts["probe_packets"] += sent
        return (first, (sp.twcc_next - 1) & 0xFFFF, total) if sent else None

    def track_stats(self, track: int) -> TrackStats | None:
        """(received, octets, ext_highest_seq, base_seq, jitter, keyframes, last_keyframe_ns, audio_level, voice)"""
        t = self.tracks.get(track)
        if t is None:
            return None
        return (t.received, t.octets, t.cycles + t.max_seq, max(t.base_seq, 0), int(t.jitter), t.keyframes,
                t.last_keyframe_ns, t.audio_level, t.voice)

    def subscription_stats(self, sub: int) -> SubscriptionStats | None:
        """(packets, octets, last_out_ts, last_send_ns, started, seq_offset, ts_offset, rtx_packets)"""
        s = self.subs.get(sub)
        if s is None:
            return None
        return (s.packets, s.octets, s.last_out_ts, s.last_send_ns, s.started, s.seq_offset, s.ts_offset,
                s.rtx_packets)

    def counters(self) -> Counters:
        c = self._counts
        return Counters(
            rx_packets=c["rx_packets"], rx_bytes=c["rx_bytes"], forwarded_packets=c["forwarded_packets"],
            forwarded_bytes=c["forwarded_bytes"], rtx_packets=c["rtx_packets"], rtcp_sent=c["rtcp_sent"],
            batches=c["batches"], probe_packets=c["probe_packets"], layer_filtered=c["layer_filtered"],
            piped=sum(lane[2] for lane in self._lanes),
            buffer_bytes=(sum(t.mask + 1 for t in self.tracks.values()) + self._sent_rings() * SENT_RING) * BUFFER_SLOT,
            sent_rings=self._sent_rings(), sent_ring_evictions=self.sent_ring_evictions,
            drops=dict(self._drops),
        )

    def latency_histogram(self, reset: bool = False) -> list[int]:
        """The reference does not time its packets: all zero (the benchmark's TimedReferenceForwarder does)."""
        return [0] * HIST_BUCKETS
