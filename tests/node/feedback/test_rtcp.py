"""RTCP as the SFU meets it: what a browser sends parses to the right values, everything round trips, and
no datagram, however mangled, makes the parser raise anything but RtcpError.

The Chrome-like packets below are assembled byte by byte from the RFC/draft layouts (not with `serialize`),
so they check the parser independently; the hypothesis round trips then pin `serialize` to it.
"""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.feedback.rtcp import (
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    RtcpError,
    RtcpPacket,
    Sdes,
    SenderReport,
    TransportCC,
    UnknownRtcp,
    is_rtcp,
    ntp_now,
    ntp_to_compact,
    parse_compound,
    serialize,
)

ROUND_TRIPS = settings(max_examples=200, deadline=None)
FUZZ = settings(max_examples=300, deadline=None)

CNAME = b"Zk3vX9qLmP0aB7cD"            # 16 bytes, like Chrome's random CNAMEs


# ---------------- a browser's compound packets, by hand ----------------

def hdr(b0: int, pt: int, total_len: int) -> bytes:
    return struct.pack("!BBH", b0, pt, total_len // 4 - 1)


def sdes_cname(ssrc: int) -> bytes:
    chunk = struct.pack("!I", ssrc) + bytes([1, len(CNAME)]) + CNAME + b"\x00\x00"   # END + pad to 24
    return hdr(0x81, 202, 4 + len(chunk)) + chunk


def test_receiver_report_with_sdes() -> None:
    block = struct.pack("!IB", 0x12345678, 0x0A) + b"\xff\xff\xfe" + struct.pack("!IIII", 0x00010203, 0x20,
                                                                                   0xAABBCCDD, 0x00010000)
    data = hdr(0x81, 201, 32) + struct.pack("!I", 1) + block + sdes_cname(1)
    assert parse_compound(data) == [
        ReceiverReport(1, [ReportBlock(0x12345678, 10, -2, 0x00010203, 32, 0xAABBCCDD, 0x10000)]),
        Sdes([(1, {1: CNAME})]),
    ]


def test_sender_report_with_sdes() -> None:
    ntp = 0xE9A1B2C3_80000000
    data = hdr(0x80, 200, 28) + struct.pack("!IQIII", 0xCAFE, ntp, 123456, 500, 250000) + sdes_cname(0xCAFE)
    sr, sdes = parse_compound(data)
    assert sr == SenderReport(0xCAFE, ntp, 123456, 500, 250000, [])
    assert sdes == Sdes([(0xCAFE, {1: CNAME})])
    assert serialize([sr, sdes]) == data


def twcc_mixed() -> tuple[bytes, TransportCC]:
    """transport-cc feedback with a run-length chunk, a 1-bit vector and a 2-bit vector, and RTCP padding."""
    chunks = struct.pack("!HHH",
                         0x2004,                  # run length: 4 x "received, small delta"
                         0x8000 | 0b10100000000001,  # 1-bit vector of 14: received at 0, 2 and 13
                         0xC000 | 0b10000000000000)  # 2-bit vector of 7: large delta, then not received
    deltas = bytes([4, 0, 1, 255]) + bytes([8, 16, 2]) + struct.pack("!h", -4)
    body = struct.pack("!IIHH", 0x1, 0xABCD, 256, 20) + bytes([0x12, 0x34, 0x56, 5]) + chunks + deltas
    data = hdr(0xAF, 205, 4 + len(body) + 1) + body + b"\x01"        # P bit, one byte of padding
    packets: list[tuple[int, bool, int | None]] = [
        (256, True, 1000), (257, True, 0), (258, True, 250), (259, True, 63750),
        (260, True, 2000), (261, False, None), (262, True, 4000),
        *[(s, False, None) for s in range(263, 273)],
        (273, True, 500), (274, True, -1000), (275, False, None),
    ]
    return data, TransportCC(0x1, 0xABCD, 256, 0x123456, 5, packets)


def test_chrome_feedback_compound() -> None:
    pli = hdr(0x81, 206, 12) + struct.pack("!II", 1, 0xABCD)
    nack = hdr(0x81, 205, 20) + struct.pack("!IIHHHH", 1, 0xABCD, 100, 0b101, 0xFFFF, 0b1)
    remb = hdr(0x8F, 206, 24) + struct.pack("!II4sBBH", 1, 0, b"REMB", 1, (3 << 2) | 2, 0xDC6C) + struct.pack(
        "!I", 0xABCD)
    twcc, expected_twcc = twcc_mixed()
    rr = hdr(0x80, 201, 8) + struct.pack("!I", 1)
    assert parse_compound(rr + sdes_cname(1) + pli + nack + remb + twcc) == [
        ReceiverReport(1, []),
        Sdes([(1, {1: CNAME})]),
        Pli(1, 0xABCD),
        Nack(1, 0xABCD, [100, 101, 103, 0xFFFF, 0]),
        Remb(1, 1_500_000, [0xABCD]),
        expected_twcc,
    ]


def test_fir_and_bye_and_unknown() -> None:
    fir = hdr(0x84, 206, 20) + struct.pack("!IIIB3x", 1, 0, 0xABCD, 7)
    bye = hdr(0x81, 203, 16) + struct.pack("!I", 0xABCD) + b"\x05leave\x00\x00"
    app = hdr(0x82, 204, 16) + struct.pack("!I", 9) + b"name" + b"data"
    assert parse_compound(fir + bye + app) == [
        Fir(1, [(0xABCD, 7)]), Bye([0xABCD], b"leave"), UnknownRtcp(204, 2, struct.pack("!I", 9) + b"namedata"),
    ]
    assert serialize(parse_compound(fir + bye + app)) == fir + bye + app


# ---------------- building ----------------

def test_nack_packs_minimal_pairs_across_the_wrap() -> None:
    nack = Nack.from_seqs(1, 2, [20, 0, 65535, 1, 65534, 0])
    assert nack.lost == [65534, 65535, 0, 1, 20]
    assert serialize([nack])[12:] == struct.pack("!HHHH", 65534, 0b111, 20, 0)


@ROUND_TRIPS
@given(st.integers(0, 0xFFFF), st.lists(st.integers(0, 3000), max_size=200))
def test_nack_pairs_are_as_few_as_possible(base: int, offsets: list[int]) -> None:
    nack = Nack.from_seqs(1, 2, [(base + o) & 0xFFFF for o in offsets])
    assert sorted(nack.lost) == sorted({(base + o) & 0xFFFF for o in offsets})
    # greedy on the unwrapped offsets is optimal for interval covering; each pair covers 17 numbers
    pairs, start = 0, None
    for o in sorted(set(offsets)):
        if start is None or o - start > 16:
            pairs, start = pairs + 1, o
    assert len(serialize([nack])) == 12 + 4 * pairs


def test_remb_keeps_18_mantissa_bits() -> None:
    (remb,) = parse_compound(serialize([Remb(1, 1_234_567_891, [5, 6])]))
    assert isinstance(remb, Remb)
    assert remb.bitrate <= 1_234_567_891 < remb.bitrate * (1 + 2 ** -17)
    assert remb.ssrcs == [5, 6]


def test_twcc_from_arrivals_quantizes_without_drift() -> None:
    fb = TransportCC.from_arrivals(1, 2, 65534, [1_000_000, None, 1_000_250, 1_000_100, 1_100_000], fb_count=3)
    assert fb.reference_time == 1_000_000 // 64_000
    assert fb.packets == [(65534, True, 40_000), (65535, False, None), (0, True, 250), (1, True, -250),
                          (2, True, 100_000)]
    assert parse_compound(serialize([fb])) == [fb]


def test_twcc_long_runs_use_run_length_chunks() -> None:
    fb = TransportCC(1, 2, 0, 0, 0, [(s, True, 250) for s in range(1000)] + [(s, False, None) for s in range(1000, 3000)])
    data = serialize([fb])
    assert len(data) == 4 + 16 + 2 * 2 + 1000
    assert parse_compound(data) == [fb]


def test_serialize_refuses_unrepresentable_values() -> None:
    for bad in (Pli(-1, 0), ReceiverReport(1, [ReportBlock(1, 256, 0, 0, 0, 0, 0)]), Fir(1, [(1, 256)]),
                TransportCC(1, 2, 10, 0, 0, [(11, True, 0)]), TransportCC(1, 2, 0, 0, 0, [(0, True, 10**8)]),
                Sdes([(1, {0: b"x"})]), Bye([1], b"x" * 256), SenderReport(1, 0, 0, 0, 0, [ReportBlock(0, 0, 0, 0, 0, 0, 0)] * 32)):
        with pytest.raises(ValueError):
            serialize([bad])


def test_cumulative_lost_is_clamped_to_24_signed_bits() -> None:
    blocks = [ReportBlock(1, 0, 10**9, 0, 0, 0, 0), ReportBlock(2, 0, -(10**9), 0, 0, 0, 0)]
    (rr,) = parse_compound(serialize([ReceiverReport(1, blocks)]))
    assert isinstance(rr, ReceiverReport)
    assert [b.cumulative_lost for b in rr.reports] == [0x7FFFFF, -0x800000]


# ---------------- helpers ----------------

def test_ntp_and_compact() -> None:
    ntp = ntp_now()
    assert abs((ntp >> 32) + (ntp & 0xFFFFFFFF) / 2**32 - 2208988800 - time.time()) < 1.0
    assert ntp_to_compact(0x0123456789ABCDEF) == 0x456789AB


def test_is_rtcp_demux() -> None:
    assert is_rtcp(bytes([0x80, 200])) and is_rtcp(bytes([0x81, 223]))
    assert not is_rtcp(bytes([0x80, 0x60])) and not is_rtcp(bytes([0x80, 0xE0])) and not is_rtcp(b"\x80")


# ---------------- round trips of every type ----------------

u32 = st.integers(0, 0xFFFFFFFF)
report_blocks = st.builds(ReportBlock, u32, st.integers(0, 255), st.integers(-0x800000, 0x7FFFFF), u32, u32, u32, u32)
unknown = st.one_of(
    st.builds(UnknownRtcp, st.sampled_from([192, 195, 204, 207, 210, 223]), st.integers(0, 31), st.binary(max_size=40)),
    st.builds(UnknownRtcp, st.just(205), st.integers(2, 14), st.binary(max_size=40)),
    st.builds(UnknownRtcp, st.just(206), st.sampled_from([2, 3, 5, 6, 7, 14]), st.binary(max_size=40)),
)


@st.composite
def twcc(draw: st.DrawFn) -> TransportCC:
    base = draw(st.integers(0, 0xFFFF))
    packets: list[tuple[int, bool, int | None]] = []
    for _ in range(draw(st.integers(0, 6))):                 # runs, so every kind of chunk shows up
        kind = draw(st.sampled_from(["lost", "small", "large", "mixed"]))
        for _ in range(draw(st.integers(1, 40))):
            seq = (base + len(packets)) & 0xFFFF
            k = kind if kind != "mixed" else draw(st.sampled_from(["lost", "small", "large"]))
            if k == "lost":
                packets.append((seq, False, None))
            elif k == "small":
                packets.append((seq, True, 250 * draw(st.integers(0, 255))))
            else:
                packets.append((seq, True, 250 * draw(st.integers(-0x8000, 0x7FFF))))
    return TransportCC(draw(u32), draw(u32), base, draw(st.integers(0, 0xFFFFFF)), draw(st.integers(0, 255)), packets)


packets_strategy: st.SearchStrategy[RtcpPacket] = st.one_of(
    st.builds(SenderReport, u32, st.integers(0, 2**64 - 1), u32, u32, u32, st.lists(report_blocks, max_size=31)),
    st.builds(ReceiverReport, u32, st.lists(report_blocks, max_size=4)),
    st.builds(Sdes, st.lists(st.tuples(u32, st.dictionaries(st.integers(1, 255), st.binary(max_size=255), max_size=4)),
                             max_size=5)),
    st.builds(Bye, st.lists(u32, max_size=31), st.binary(max_size=255)),
    st.builds(Pli, u32, u32),
    st.builds(Fir, u32, st.lists(st.tuples(u32, st.integers(0, 255)), max_size=5)),
    st.builds(Nack.from_seqs, u32, u32, st.lists(st.integers(0, 0xFFFF), max_size=60)),
    st.builds(lambda s, m, e, ssrcs: Remb(s, m << e, ssrcs), u32, st.integers(0, 2**18 - 1), st.integers(0, 63),
              st.lists(u32, max_size=8)),
    twcc(),
    unknown,
)


@ROUND_TRIPS
@given(st.lists(packets_strategy, min_size=1, max_size=4))
def test_every_type_round_trips(packets: list[RtcpPacket]) -> None:
    data = serialize(packets)
    assert len(data) % 4 == 0
    assert parse_compound(data) == packets


# ---------------- malformed input ----------------

@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"\x80\xc9\x00", "truncated"),
    (b"\x40\xc9\x00\x01\x00\x00\x00\x01", "version"),
    (b"\x80\xc9\x00\x02\x00\x00\x00\x01", "overflows"),
    (b"\xa0\xc9\x00\x01\x00\x00\x00\x00", "padding"),                 # padding count 0
    (b"\xa0\xc9\x00\x01\x00\x00\x00\x09", "padding"),                 # more padding than body
    (b"\x81\xc9\x00\x01\x00\x00\x00\x01", "report blocks"),          # RC=1 without the block
    (b"\x80\xc8\x00\x01\x00\x00\x00\x01", "SR truncated"),
    (b"\x81\xca\x00\x02\x00\x00\x00\x01\x01\x09abc", "SDES item"),
    (b"\x8f\xcd\x00\x05" + struct.pack("!IIHH", 1, 2, 0, 1) + b"\x00\x00\x00\x00" + b"\x60\x01\x00\x00", "reserved"),
    (b"\x8f\xcd\x00\x04" + struct.pack("!IIHH", 1, 2, 0, 5) + b"\x00\x00\x00\x00", "chunks truncated"),
    (b"\x84\xce\x00\x03" + struct.pack("!III", 1, 0, 5), "FIR"),
])
def test_malformed_packets_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(RtcpError, match=reason):
        parse_compound(data)


@FUZZ
@given(st.binary(max_size=120))
def test_arbitrary_bytes_raise_only_rtcp_error(data: bytes) -> None:
    try:
        parse_compound(data)
    except RtcpError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.lists(packets_strategy, min_size=1, max_size=3), st.data())
def test_damaged_packets_raise_only_rtcp_error(packets: list[RtcpPacket], data: st.DataObject) -> None:
    wire = bytearray(serialize(packets))
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        i = data.draw(st.integers(0, len(wire) - 1), label="at")
        edit = data.draw(st.sampled_from(["flip", "cut", "set"]), label="edit")
        if edit == "flip":
            wire[i] ^= data.draw(st.integers(1, 255), label="xor")
        elif edit == "set":
            wire[i] = data.draw(st.sampled_from([0, 1, 3, 0x1F, 0x80, 0xFF]), label="value")
        else:
            del wire[i:]
        if not wire:
            break
    try:
        parse_compound(bytes(wire))
    except RtcpError:
        pass


def test_transport_cc_claiming_more_packets_than_the_send_log_is_refused() -> None:
    """Found by fuzzing (tests/fuzz/twcc): nine 2-byte run-length chunks claim 65535 packets, and a 40-byte
    packet from a subscriber cost the node ~30 ms of parsing and reading, 16 bits of count at a time. The node can
    match at most its send log (SEND_LOG_SIZE) of packets to feedback, so more is malformed."""
    from native.constants import SEND_LOG_SIZE

    def feedback(count: int) -> bytes:
        chunks = b"".join(struct.pack("!H", min(0x1FFF, count - k)) for k in range(0, count, 0x1FFF))
        body = struct.pack("!IIHH", 1, 2, 0, count) + bytes(4) + chunks
        body += bytes(-len(body) % 4)
        return hdr(0x8F, 205, 4 + len(body)) + body

    assert len(feedback(65535)) == 40
    with pytest.raises(RtcpError, match="65535 packets"):
        parse_compound(feedback(65535))
    (fb,) = parse_compound(feedback(SEND_LOG_SIZE))
    assert isinstance(fb, TransportCC) and len(fb.packets) == SEND_LOG_SIZE and not any(r for _, r, _ in fb.packets)
