"""RTCP packets an SFU reads and writes, as frozen dataclasses, with compound parse/serialize.

Covers RFC 3550 (SR, RR, SDES, BYE), RFC 4585 (generic NACK, PLI), RFC 5104 (FIR),
draft-alvestrand-rmcat-remb (REMB) and draft-holmer-rmcat-transport-wide-cc-extensions-01 (transport-cc
feedback). Anything else (APP, XR, other feedback) is kept byte-exact as `UnknownRtcp`.

`parse_compound` raises only `RtcpError` on malformed input; `serialize` raises `ValueError` for field values
that cannot be put on the wire.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from native.constants import SEND_LOG_SIZE

__all__ = [
    "Bye", "Fir", "Nack", "Pli", "ReceiverReport", "Remb", "ReportBlock", "RtcpError", "RtcpPacket", "Sdes",
    "SenderReport", "TransportCC", "UnknownRtcp", "is_rtcp", "ntp_now", "ntp_to_compact", "parse_compound",
    "serialize",
]

PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204
PT_RTPFB = 205
PT_PSFB = 206

FMT_NACK = 1
FMT_TWCC = 15
FMT_PLI = 1
FMT_FIR = 4
FMT_AFB = 15

SDES_CNAME = 1

NTP_UNIX_OFFSET = 2208988800      # seconds from 1900-01-01 to 1970-01-01
TWCC_DELTA_US = 250               # receive deltas are multiples of 250 µs
TWCC_REFERENCE_US = 64000         # reference time unit: 64 ms
# a transport-cc feedback may describe at most this many packets: the node's send log (native SEND_LOG_SIZE)
# matches no more, and 16 bytes of run-length chunks claiming 65535 cost ~30 ms of parsing and reading
MAX_TWCC_STATUS = SEND_LOG_SIZE


class RtcpError(ValueError):
    """The bytes are not well-formed RTCP; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int          # 8-bit fixed point, lost/expected * 256
    cumulative_lost: int        # signed 24-bit (clamped on serialize, as RFC 3550 A.3 does)
    highest_seq: int            # extended highest sequence number received
    jitter: int                 # RTP timestamp units
    lsr: int                    # middle 32 bits of the last SR's NTP time (ntp_to_compact)
    dlsr: int                   # delay since that SR, 1/65536 s


@dataclass(frozen=True)
class SenderReport:
    ssrc: int
    ntp: int                    # 64-bit NTP timestamp
    rtp_ts: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(frozen=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(frozen=True)
class Sdes:
    chunks: list[tuple[int, dict[int, bytes]]]     # (ssrc, {item type: value}); 1 = CNAME


@dataclass(frozen=True)
class Bye:
    ssrcs: list[int]
    reason: bytes = b""         # UTF-8 text on the wire; empty = none


@dataclass(frozen=True)
class Pli:
    sender_ssrc: int
    media_ssrc: int


@dataclass(frozen=True)
class Fir:
    sender_ssrc: int
    entries: list[tuple[int, int]]                  # (media ssrc, command sequence number 0..255)


@dataclass(frozen=True)
class Nack:
    sender_ssrc: int
    media_ssrc: int
    lost: list[int]             # sequence numbers, expanded from the PID/BLP pairs in wire order

    @classmethod
    def from_seqs(cls, sender_ssrc: int, media_ssrc: int, seqs: Iterable[int]) -> Nack:
        """A NACK for `seqs` (any order, duplicates allowed) whose `lost` is in canonical wire order:
        the order in which the minimal PID/BLP pairs produced by `serialize` expand again."""
        lost: list[int] = []
        for pid, blp in _nack_pairs(seqs):
            lost.append(pid)
            lost.extend((pid + 1 + i) & 0xFFFF for i in range(16) if blp >> i & 1)
        return cls(sender_ssrc, media_ssrc, lost)


@dataclass(frozen=True)
class Remb:
    sender_ssrc: int
    bitrate: int                # bits per second; serialize keeps 18 mantissa bits (rounding down)
    ssrcs: list[int]


@dataclass(frozen=True)
class TransportCC:
    sender_ssrc: int
    media_ssrc: int
    base_seq: int
    reference_time: int         # 24-bit, in 64 ms units (kept raw, unsigned)
    fb_count: int
    packets: list[tuple[int, bool, int | None]]    # (transport seq, received, receive delta µs or None)

    @classmethod
    def from_arrivals(cls, sender_ssrc: int, media_ssrc: int, base_seq: int,
                      arrivals_us: Sequence[int | None], fb_count: int) -> TransportCC:
        """Feedback for packets base_seq, base_seq+1, ... arriving at `arrivals_us` (µs on any monotonic
        clock; None = lost). Deltas are quantized to 250 µs without accumulating rounding error."""
        first = next((a for a in arrivals_us if a is not None), None)
        ref = 0 if first is None else first // TWCC_REFERENCE_US
        prev_ticks = ref * (TWCC_REFERENCE_US // TWCC_DELTA_US)
        packets: list[tuple[int, bool, int | None]] = []
        for i, a in enumerate(arrivals_us):
            seq = (base_seq + i) & 0xFFFF
            if a is None:
                packets.append((seq, False, None))
                continue
            ticks = (a + TWCC_DELTA_US // 2) // TWCC_DELTA_US
            packets.append((seq, True, (ticks - prev_ticks) * TWCC_DELTA_US))
            prev_ticks = ticks
        return cls(sender_ssrc, media_ssrc, base_seq & 0xFFFF, ref & 0xFFFFFF, fb_count & 0xFF, packets)


@dataclass(frozen=True)
class UnknownRtcp:
    pt: int
    fmt: int                    # the 5-bit count/format field
    body: bytes                 # everything after the 4-byte header, padding removed


RtcpPacket: TypeAlias = (SenderReport | ReceiverReport | Sdes | Bye | Pli | Fir | Nack | Remb | TransportCC
              | UnknownRtcp)


# ---------------- helpers ----------------

def ntp_now() -> int:
    """The current wall-clock time as a 64-bit NTP timestamp (32.32 fixed point seconds since 1900)."""
    ns = time.time_ns() + NTP_UNIX_OFFSET * 1_000_000_000
    secs, rem = divmod(ns, 1_000_000_000)
    return ((secs << 32) | ((rem << 32) // 1_000_000_000)) & 0xFFFFFFFFFFFFFFFF


def ntp_to_compact(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as carried in LSR (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: on a muxed port, RTCP has a second byte (M bit + PT) of 192..223."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def _nack_pairs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Minimal PID/BLP pairs covering `seqs`, in 16-bit wrap-aware order. The circle is cut after the
    largest gap between neighbours; when that gap is >= 17 (always, for fewer than 3855 seqs) no pair can
    straddle it, so greedy covering of the resulting line is optimal."""
    uniq = sorted({s & 0xFFFF for s in seqs})
    if not uniq:
        return []
    n = len(uniq)
    gaps = [((uniq[(i + 1) % n] - uniq[i]) & 0xFFFF) or 0x10000 for i in range(n)]
    start = (max(range(n), key=lambda i: gaps[i]) + 1) % n
    ordered = uniq[start:] + uniq[:start]
    pairs: list[tuple[int, int]] = []
    pid = -1
    blp = 0
    for s in ordered:
        d = (s - pid) & 0xFFFF if pid >= 0 else 0
        if pid >= 0 and 1 <= d <= 16:
            blp |= 1 << (d - 1)
            continue
        if pid >= 0:
            pairs.append((pid, blp))
        pid, blp = s, 0
    pairs.append((pid, blp))
    return pairs


def _u(value: int, bits: int, name: str) -> int:
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name}={value} does not fit in {bits} unsigned bits")
    return value


def _header(count: int, pt: int, body: bytes) -> bytes:
    """Common header + body, padded to 32 bits with RTCP padding (P bit) when the body needs it."""
    _u(count, 5, "count/fmt")
    pad = -len(body) % 4
    if pad:
        body = body + bytes(pad - 1) + bytes([pad])
    words = len(body) // 4
    _u(words, 16, "length")
    return struct.pack("!BBH", 0x80 | (0x20 if pad else 0) | count, pt, words) + body


# ---------------- serialize ----------------

def _report_blocks(reports: Sequence[ReportBlock]) -> bytes:
    out = bytearray()
    for r in reports:
        lost = max(-0x800000, min(0x7FFFFF, r.cumulative_lost)) & 0xFFFFFF
        out += struct.pack("!IB", _u(r.ssrc, 32, "ssrc"), _u(r.fraction_lost, 8, "fraction_lost"))
        out += lost.to_bytes(3, "big")
        out += struct.pack("!IIII", _u(r.highest_seq, 32, "highest_seq"), _u(r.jitter, 32, "jitter"),
                           _u(r.lsr, 32, "lsr"), _u(r.dlsr, 32, "dlsr"))
    return bytes(out)


def _twcc_chunks(symbols: list[int]) -> bytes:
    """Packet status chunks for `symbols` (0 not received, 1 small delta, 2 large delta): a run-length chunk
    where a run would fill a whole vector, else a 1-bit (14 symbols) or 2-bit (7 symbols) status vector."""
    out = bytearray()
    i = 0
    n = len(symbols)
    while i < n:
        run = 1
        while i + run < n and symbols[i + run] == symbols[i] and run < 0x1FFF:
            run += 1
        window = symbols[i:i + 14]
        one_bit = max(window) <= 1
        if run >= (14 if one_bit else 7) or run == n - i:
            out += struct.pack("!H", (symbols[i] << 13) | run)
            i += run
        elif one_bit:
            bits = 0
            for k in range(14):
                bits = (bits << 1) | (window[k] if k < len(window) else 0)
            out += struct.pack("!H", 0x8000 | bits)
            i += 14
        else:
            window = symbols[i:i + 7]
            bits = 0
            for k in range(7):
                bits = (bits << 2) | (window[k] if k < len(window) else 0)
            out += struct.pack("!H", 0xC000 | bits)
            i += 7
    return bytes(out)


def _twcc_body(p: TransportCC) -> bytes:
    symbols: list[int] = []
    deltas = bytearray()
    for i, (seq, received, delta_us) in enumerate(p.packets):
        if seq != (p.base_seq + i) & 0xFFFF:
            raise ValueError(f"transport-cc packet {i} has seq {seq}, expected base_seq + {i}")
        if not received:
            symbols.append(0)
            continue
        if delta_us is None:
            raise ValueError(f"transport-cc packet {seq} received without a delta")
        ticks = (delta_us + TWCC_DELTA_US // 2) // TWCC_DELTA_US
        if 0 <= ticks <= 0xFF:
            symbols.append(1)
            deltas.append(ticks)
        elif -0x8000 <= ticks <= 0x7FFF:
            symbols.append(2)
            deltas += struct.pack("!h", ticks)
        else:
            raise ValueError(f"transport-cc delta {delta_us} µs does not fit in 16 bits of 250 µs")
    head = struct.pack("!IIHH", _u(p.sender_ssrc, 32, "sender_ssrc"), _u(p.media_ssrc, 32, "media_ssrc"),
                       _u(p.base_seq, 16, "base_seq"), _u(len(p.packets), 16, "packet status count"))
    head += _u(p.reference_time, 24, "reference_time").to_bytes(3, "big") + bytes([_u(p.fb_count, 8, "fb_count")])
    return head + _twcc_chunks(symbols) + bytes(deltas)


def _serialize_one(p: RtcpPacket) -> bytes:
    if isinstance(p, SenderReport):
        _u(len(p.reports), 5, "report count")
        body = struct.pack("!IQIII", _u(p.ssrc, 32, "ssrc"), _u(p.ntp, 64, "ntp"), _u(p.rtp_ts, 32, "rtp_ts"),
                           _u(p.packet_count, 32, "packet_count"), _u(p.octet_count, 32, "octet_count"))
        return _header(len(p.reports), PT_SR, body + _report_blocks(p.reports))
    if isinstance(p, ReceiverReport):
        _u(len(p.reports), 5, "report count")
        return _header(len(p.reports), PT_RR, struct.pack("!I", _u(p.ssrc, 32, "ssrc")) + _report_blocks(p.reports))
    if isinstance(p, Sdes):
        out = bytearray()
        for ssrc, items in p.chunks:
            chunk = bytearray(struct.pack("!I", _u(ssrc, 32, "ssrc")))
            for kind, value in items.items():
                if not 1 <= kind <= 255:
                    raise ValueError(f"SDES item type {kind} out of range 1..255")
                chunk += bytes([kind, _u(len(value), 8, "SDES item length")]) + value
            chunk += bytes(4 - len(chunk) % 4)        # the null item, then zeros to the boundary
            out += chunk
        return _header(_u(len(p.chunks), 5, "chunk count"), PT_SDES, bytes(out))
    if isinstance(p, Bye):
        body = b"".join(struct.pack("!I", _u(s, 32, "ssrc")) for s in p.ssrcs)
        if p.reason:
            body += bytes([_u(len(p.reason), 8, "reason length")]) + p.reason
            body += bytes(-len(body) % 4)
        return _header(_u(len(p.ssrcs), 5, "ssrc count"), PT_BYE, body)
    if isinstance(p, Pli):
        return _header(FMT_PLI, PT_PSFB, struct.pack("!II", _u(p.sender_ssrc, 32, "sender_ssrc"),
                                                     _u(p.media_ssrc, 32, "media_ssrc")))
    if isinstance(p, Fir):
        body = struct.pack("!II", _u(p.sender_ssrc, 32, "sender_ssrc"), 0)
        for ssrc, seq in p.entries:
            body += struct.pack("!IB3x", _u(ssrc, 32, "ssrc"), _u(seq, 8, "FIR seq"))
        return _header(FMT_FIR, PT_PSFB, body)
    if isinstance(p, Nack):
        body = struct.pack("!II", _u(p.sender_ssrc, 32, "sender_ssrc"), _u(p.media_ssrc, 32, "media_ssrc"))
        body += b"".join(struct.pack("!HH", pid, blp) for pid, blp in _nack_pairs(p.lost))
        return _header(FMT_NACK, PT_RTPFB, body)
    if isinstance(p, Remb):
        mantissa, exp = _u(p.bitrate, 81, "bitrate"), 0
        while mantissa >= 1 << 18:
            mantissa >>= 1
            exp += 1
        if exp > 63:
            raise ValueError(f"REMB bitrate {p.bitrate} too large")
        body = struct.pack("!II4sBBH", _u(p.sender_ssrc, 32, "sender_ssrc"), 0, b"REMB",
                           _u(len(p.ssrcs), 8, "ssrc count"), (exp << 2) | (mantissa >> 16), mantissa & 0xFFFF)
        body += b"".join(struct.pack("!I", _u(s, 32, "ssrc")) for s in p.ssrcs)
        return _header(FMT_AFB, PT_PSFB, body)
    if isinstance(p, TransportCC):
        return _header(FMT_TWCC, PT_RTPFB, _twcc_body(p))
    if isinstance(p, UnknownRtcp):
        return _header(p.fmt, _u(p.pt, 8, "pt"), p.body)
    raise TypeError(f"not an RTCP packet: {p!r}")


def serialize(packets: Iterable[RtcpPacket]) -> bytes:
    """One compound RTCP packet (the caller decides the order; RFC 3550 wants SR/RR first)."""
    return b"".join(_serialize_one(p) for p in packets)


# ---------------- parse ----------------

def _parse_report_blocks(body: bytes, off: int, count: int) -> list[ReportBlock]:
    if off + 24 * count > len(body):
        raise RtcpError(f"{count} report blocks do not fit in {len(body)} bytes")
    out = []
    for i in range(count):
        o = off + 24 * i
        ssrc, fraction = struct.unpack_from("!IB", body, o)
        lost = int.from_bytes(body[o + 5:o + 8], "big")
        if lost & 0x800000:
            lost -= 0x1000000
        highest, jitter, lsr, dlsr = struct.unpack_from("!IIII", body, o + 8)
        out.append(ReportBlock(ssrc, fraction, lost, highest, jitter, lsr, dlsr))
    return out


def _parse_sdes(count: int, body: bytes) -> Sdes:
    chunks: list[tuple[int, dict[int, bytes]]] = []
    off = 0
    for _ in range(count):
        if off + 4 > len(body):
            raise RtcpError("SDES chunk truncated")
        (ssrc,) = struct.unpack_from("!I", body, off)
        off += 4
        items: dict[int, bytes] = {}
        while True:
            if off >= len(body):
                raise RtcpError("SDES chunk not terminated")
            kind = body[off]
            if kind == 0:
                off += 1
                off += -off % 4                          # chunks restart on a 32-bit boundary
                if off > len(body):
                    raise RtcpError("SDES chunk padding truncated")
                break
            if off + 2 > len(body) or off + 2 + body[off + 1] > len(body):
                raise RtcpError("SDES item truncated")
            length = body[off + 1]
            items[kind] = body[off + 2:off + 2 + length]
            off += 2 + length
        chunks.append((ssrc, items))
    return Sdes(chunks)


def _parse_bye(count: int, body: bytes) -> Bye:
    if 4 * count > len(body):
        raise RtcpError("BYE SSRC list truncated")
    ssrcs = list(struct.unpack_from(f"!{count}I", body, 0))
    reason = b""
    off = 4 * count
    if off < len(body):
        length = body[off]
        if off + 1 + length > len(body):
            raise RtcpError("BYE reason truncated")
        reason = body[off + 1:off + 1 + length]
    return Bye(ssrcs, reason)


def _parse_twcc(body: bytes) -> TransportCC:
    if len(body) < 16:
        raise RtcpError("transport-cc feedback truncated")
    sender, media, base, count = struct.unpack_from("!IIHH", body, 0)
    if count > MAX_TWCC_STATUS:
        raise RtcpError(f"transport-cc reports {count} packets, more than the {MAX_TWCC_STATUS} the node can match")
    ref = int.from_bytes(body[12:15], "big")
    fb_count = body[15]
    symbols: list[int] = []
    off = 16
    while len(symbols) < count:
        if off + 2 > len(body):
            raise RtcpError("transport-cc status chunks truncated")
        (chunk,) = struct.unpack_from("!H", body, off)
        off += 2
        if not chunk & 0x8000:                                   # run length: S(2) | run(13)
            symbols.extend([(chunk >> 13) & 3] * (chunk & 0x1FFF))
        elif not chunk & 0x4000:                                 # 14 one-bit symbols
            symbols.extend((chunk >> (13 - k)) & 1 for k in range(14))
        else:                                                    # 7 two-bit symbols
            symbols.extend((chunk >> (12 - 2 * k)) & 3 for k in range(7))
    packets: list[tuple[int, bool, int | None]] = []
    for i, sym in enumerate(symbols[:count]):
        seq = (base + i) & 0xFFFF
        if sym == 0:
            packets.append((seq, False, None))
        elif sym == 1:
            if off + 1 > len(body):
                raise RtcpError("transport-cc receive deltas truncated")
            packets.append((seq, True, body[off] * TWCC_DELTA_US))
            off += 1
        elif sym == 2:
            if off + 2 > len(body):
                raise RtcpError("transport-cc receive deltas truncated")
            packets.append((seq, True, struct.unpack_from("!h", body, off)[0] * TWCC_DELTA_US))
            off += 2
        else:
            raise RtcpError("transport-cc reserved status symbol 3")
    if len(body) - off > 3:
        raise RtcpError(f"transport-cc has {len(body) - off} unexplained trailing bytes")
    return TransportCC(sender, media, base, ref, fb_count, packets)


def _parse_one(count: int, pt: int, body: bytes) -> RtcpPacket:
    if pt == PT_SR:
        if len(body) < 24:
            raise RtcpError("SR truncated")
        ssrc, ntp, rtp_ts, packets, octets = struct.unpack_from("!IQIII", body, 0)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, _parse_report_blocks(body, 24, count))
    if pt == PT_RR:
        if len(body) < 4:
            raise RtcpError("RR truncated")
        return ReceiverReport(struct.unpack_from("!I", body, 0)[0], _parse_report_blocks(body, 4, count))
    if pt == PT_SDES:
        return _parse_sdes(count, body)
    if pt == PT_BYE:
        return _parse_bye(count, body)
    if pt == PT_RTPFB and count in (FMT_NACK, FMT_TWCC):
        if count == FMT_TWCC:
            return _parse_twcc(body)
        if len(body) < 8 or len(body) % 4:
            raise RtcpError("NACK truncated")
        sender, media = struct.unpack_from("!II", body, 0)
        lost: list[int] = []
        for o in range(8, len(body), 4):
            pid, blp = struct.unpack_from("!HH", body, o)
            lost.append(pid)
            lost.extend((pid + 1 + i) & 0xFFFF for i in range(16) if blp >> i & 1)
        return Nack(sender, media, lost)
    if pt == PT_PSFB and count == FMT_PLI:
        if len(body) < 8:
            raise RtcpError("PLI truncated")
        return Pli(*struct.unpack_from("!II", body, 0))
    if pt == PT_PSFB and count == FMT_FIR:
        if len(body) < 8 or (len(body) - 8) % 8:
            raise RtcpError("FIR entries truncated")
        entries = [struct.unpack_from("!IB", body, o) for o in range(8, len(body), 8)]
        return Fir(struct.unpack_from("!I", body, 0)[0], [(s, q) for s, q in entries])
    if pt == PT_PSFB and count == FMT_AFB and body[8:12] == b"REMB":
        if len(body) < 16:
            raise RtcpError("REMB truncated")
        sender = struct.unpack_from("!I", body, 0)[0]
        n, b1, low = struct.unpack_from("!BBH", body, 12)
        if 16 + 4 * n > len(body):
            raise RtcpError("REMB SSRC list truncated")
        bitrate = (((b1 & 3) << 16) | low) << (b1 >> 2)
        return Remb(sender, bitrate, list(struct.unpack_from(f"!{n}I", body, 16)))
    return UnknownRtcp(pt, count, body)


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Every packet of a compound (or reduced-size, RFC 5506) RTCP packet, in order."""
    data = bytes(data)
    if not data:
        raise RtcpError("empty RTCP packet")
    out: list[RtcpPacket] = []
    off = 0
    while off < len(data):
        if off + 4 > len(data):
            raise RtcpError(f"header truncated at byte {off}")
        b0, pt, words = struct.unpack_from("!BBH", data, off)
        if b0 >> 6 != 2:
            raise RtcpError(f"bad version {b0 >> 6} at byte {off}")
        end = off + 4 * (words + 1)
        if end > len(data):
            raise RtcpError(f"length {words} overflows the datagram at byte {off}")
        body = data[off + 4:end]
        if b0 & 0x20:
            pad = data[end - 1]
            if pad == 0 or pad > len(body):
                raise RtcpError(f"bad padding count {pad} at byte {off}")
            body = body[:-pad]
        out.append(_parse_one(b0 & 0x1F, pt, body))
        off = end
    return out
