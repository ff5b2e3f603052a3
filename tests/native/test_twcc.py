"""Transport-wide congestion control in the engine.

Receive side: the engine logs (transport seq, arrival) of what a publisher peer sends, in a bounded log that
Python drains; the native log and `native.reference.ArrivalLog` agree on any sequence of pushes and drains, and
the feedback built from either is the same and says exactly what arrived (16-bit wrap, reordering, losses,
big gaps, late packets, long pauses).

Send side: every packet the node sends to a subscriber that negotiated transport-cc (media, RTX, padding
probes) carries the peer's next transport seq, the publisher's own number never leaks through, and the send
log returns each packet's size and send time; the rewrite with the extension agrees with the reference, and
the engine and the ReferenceForwarder behave the same on loopback.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native import reference as ref
from sfu.congestion.twcc import MAX_GAP, FeedbackBuilder, FeedbackReader
from sfu.feedback import rtcp

engine = pytest.importorskip("native.engine")

from tests.native.loopback import wire_clients  # noqa: E402
from tests.native.test_reference_equivalence import ext_maps, rtp_packets  # noqa: E402

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------- the rewrite with the node's transport seq ----------------

@FAST
@given(rtp_packets(), ext_maps, st.integers(0, 20) | st.integers(0, 255), st.integers(0, 0xFFFF),
       st.integers(0, 0xFFFFFFFF))
def test_rewrite_with_transport_seq_agrees(pkt: bytes, ext_map: bytes, twcc_out: int, twcc_seq: int,
                                           abs_send: int) -> None:
    args = (pkt, 0xB, 100, 7, 9, ext_map, 3, abs_send, twcc_out, twcc_seq)
    assert engine.py_rewrite_rtp(*args) == ref.rewrite_rtp(*args)


@FAST
@given(rtp_packets(damage=False), ext_maps, st.integers(1, 14), st.integers(0, 0xFFFF))
def test_the_transport_seq_is_always_found_and_the_payload_kept(pkt: bytes, ext_map: bytes, twcc_out: int,
                                                               twcc_seq: int) -> None:
    out = ref.rewrite_rtp(pkt, 0xB, 100, 0, 0, ext_map, 0, 0, twcc_out, twcc_seq)
    src = ref.parse_rtp(pkt)
    if src is None:
        assert out is None
        return
    assert out is not None
    assert ref.find_extension(out, twcc_out) == struct.pack("!H", twcc_seq)
    got = ref.parse_rtp(out)
    assert got is not None and out[got[9]:] == pkt[src[9]:]


# ---------------- the arrival log and the feedback built from it ----------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(0, 0xFFFF), st.integers(0, 2**50)),
        st.tuples(st.just("burst"), st.integers(0, 0xFFFF), st.integers(1, 1500)),
        st.just(("drain",)),
    ),
    max_size=40,
)


@FAST
@given(ops)
def test_native_arrival_log_agrees_with_the_reference(script: list[tuple]) -> None:
    native, reference = engine.ArrivalLogHook(), ref.ArrivalLog(engine.ARRIVAL_LOG_SIZE)
    for op in script:
        if op[0] == "push":
            native.push(op[1], op[2])
            reference.push(op[1], op[2])
        elif op[0] == "burst":                    # consecutive seqs, 1 ms apart: may overflow the log
            for i in range(op[2]):
                native.push((op[1] + i) & 0xFFFF, 10**15 + i * 10**6)
                reference.push(op[1] + i, 10**15 + i * 10**6)
        else:
            assert native.drain() == reference.drain()
    assert native.drain() == reference.drain()
    assert native.overflow == reference.overflow


@st.composite
def arrival_scripts(draw: st.DrawFn) -> list[list[tuple[int, int]]]:
    """Drains of a publisher's arrivals: consecutive transport seqs from anywhere (so they wrap), some lost,
    some late, now and then a gap of hundreds of numbers or a pause of seconds; arrival µs on a wall clock."""
    seq = start = draw(st.integers(0, 0xFFFF))
    t = draw(st.integers(10**15, 2 * 10**15))
    drains: list[list[tuple[int, int]]] = []
    for _ in range(draw(st.integers(1, 6))):
        batch: list[tuple[int, int]] = []
        for _ in range(draw(st.integers(0, 80))):
            event = draw(st.sampled_from(["ok"] * 12 + ["lost", "swap", "gap", "pause", "dup"]))
            if event == "lost":
                seq += 1
                continue
            if event == "gap" and seq - start < 20_000:     # keeps a script inside one 16-bit window
                seq += draw(st.integers(2, MAX_GAP + 100))
            t += draw(st.integers(0, 30_000)) + (draw(st.integers(9, 20)) * 10**6 if event == "pause" else 0)
            batch.append((seq & 0xFFFF, t))
            if event == "swap" and len(batch) >= 2:
                batch[-1], batch[-2] = batch[-2], batch[-1]
            if event == "dup":
                batch.append((seq & 0xFFFF, t + 5))
            seq += 1
        drains.append(batch)
    return drains


def _check_feedback(drains: list[list[tuple[int, int]]], packets: list[list[rtcp.TransportCC]]) -> None:
    """Every arrival is reported once at the time it arrived (to 250 µs), every report is an arrival or a
    loss between arrivals, and the feedback count runs on."""
    first: dict[int, int] = {}
    for batch in drains:
        for seq, t in batch:
            first.setdefault(seq, t)          # scripts stay inside one 16-bit window: seq16 is unambiguous
    reader = FeedbackReader()
    seen: dict[int, int | None] = {}
    counts = []
    ref_offset: int | None = None
    for fbs in packets:
        for fb in fbs:
            wire = rtcp.parse_compound(rtcp.serialize([fb]))
            assert wire == [fb]
            assert len(rtcp.serialize([fb])) <= 1400
            counts.append(fb.fb_count)
            for _ext, seq16, arrival in reader.read(fb):
                if arrival is None:
                    assert seq16 not in first, f"{seq16} arrived but was reported lost"
                    seen.setdefault(seq16, None)
                    continue
                # the reader's clock is the reference time's: 64 ms units of the 24-bit field, wrapped
                if ref_offset is None:
                    ref_offset = first[seq16] - arrival
                assert abs(arrival + ref_offset - first[seq16]) <= 250, (seq16, arrival + ref_offset, first[seq16])
                seen[seq16] = arrival
    assert {s for s, a in seen.items() if a is not None} == set(first), "an arrival was never reported"
    assert counts == [i & 0xFF for i in range(len(counts))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrival_scripts())
def test_feedback_from_native_and_reference_logs_is_identical_and_right(drains: list[list[tuple[int, int]]]) -> None:
    native, reference = engine.ArrivalLogHook(), ref.ArrivalLog(engine.ARRIVAL_LOG_SIZE)
    b_native, b_ref = FeedbackBuilder(sender_ssrc=1), FeedbackBuilder(sender_ssrc=1)
    out_native: list[list[rtcp.TransportCC]] = []
    out_ref: list[list[rtcp.TransportCC]] = []
    for batch in drains:
        for seq, t in batch:
            native.push(seq, t * 1000)
            reference.push(seq, t * 1000)
        b_native.add(native.drain())
        b_ref.add(reference.drain())
        out_native.append(b_native.build(media_ssrc=7))
        out_ref.append(b_ref.build(media_ssrc=7))
    assert out_native == out_ref
    _check_feedback(drains, out_native)


def test_feedback_reports_losses_wraps_and_a_late_packet_again() -> None:
    b = FeedbackBuilder(sender_ssrc=9)
    t0 = 5_000_000_000
    b.add([(0xFFFE, t0), (0xFFFF, t0 + 1000), (2, t0 + 3000)])          # 0 and 1 lost, across the wrap
    (fb,) = b.build(media_ssrc=3)
    assert fb.base_seq == 0xFFFE and fb.fb_count == 0
    assert [(s, r) for s, r, _ in fb.packets] == [(0xFFFE, True), (0xFFFF, True), (0, False), (1, False), (2, True)]
    assert [d for _, _, d in fb.packets if d is not None][1:] == [1000, 2000]
    b.add([(1, t0 + 9000), (3, t0 + 9500)])                                # 1 was late: reported again from it
    (fb2,) = b.build(media_ssrc=3)
    assert fb2.base_seq == 1 and fb2.fb_count == 1
    assert [(s, r) for s, r, _ in fb2.packets] == [(1, True), (2, True), (3, True)]
    assert b.build(media_ssrc=3) == []                                     # nothing new: nothing sent


def test_a_big_gap_or_a_long_pause_starts_a_new_feedback_packet() -> None:
    b = FeedbackBuilder(sender_ssrc=9)
    t0 = 7_000_000_000
    b.add([(10, t0), (11, t0 + 500), (11 + MAX_GAP + 50, t0 + 1000), (12 + MAX_GAP + 50, t0 + 10_000_000)])
    fbs = b.build(media_ssrc=3)
    assert [(f.base_seq, len(f.packets)) for f in fbs] == [(10, 2), (11 + MAX_GAP + 50, 1), (12 + MAX_GAP + 50, 1)]
    assert [f.fb_count for f in fbs] == [0, 1, 2]


# ---------------- the engine, end to end on loopback ----------------

PUB, SUB = 0, 1
PUB_TWCC, SUB_TWCC, SUB_ABS = 5, 3, 2


def rtp(ssrc: int, seq: int, ts: int, payload: bytes, twcc: int | None = None, pt: int = 96) -> bytes:
    ext = b""
    if twcc is not None:
        ext = struct.pack("!HH", 0xBEDE, 1) + bytes([(PUB_TWCC << 4) | 1]) + struct.pack("!H", twcc) + b"\x00"
    return struct.pack("!BBHII", 0x90 if ext else 0x80, pt, seq, ts, ssrc) + ext + payload


class Rig:
    def __init__(self, kind: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.eng: Any = (engine.Engine(self.sock.fileno(), max_peers=4, max_tracks=4, max_subs=4) if kind == "native"
                         else ref.ReferenceForwarder(self.sock))
        c = wire_clients(self.eng, PUB, SUB)
        self.pub, self.sub, self.up, self.down = c.pub, c.sub, c.up, c.down
        self.eng.set_peer_extensions(PUB, twcc_id=PUB_TWCC)

    def close(self) -> None:
        for s in (self.sock, self.pub, self.sub):
            s.close()

    def send(self, pkt: bytes) -> None:
        self.pub.sendto(self.up.protect(pkt), self.sock.getsockname())

    def pump(self) -> None:
        time.sleep(0.003)
        self.eng.poll()

    def received(self) -> list[tuple[bytes, int]]:
        out = []
        self.sub.settimeout(0.05)
        for _ in range(1000):
            try:
                data = self.sub.recv(2048)
            except TimeoutError:
                break
            out.append((self.down.unprotect(data), len(data)))
        return out


@pytest.fixture(params=["native", "reference"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    r = Rig(request.param)
    yield r
    r.close()


def test_publisher_arrivals_are_logged_and_drained_once(rig: Rig) -> None:
    rig.eng.add_track(0, PUB, 0x1111, engine.CODEC_OPUS, 48000)
    before = time.time_ns() // 1000
    seqs = [65534, 65535, 0, 2, 1, 3]                  # wraps, one reordered
    for i, s in enumerate(seqs):
        rig.send(rtp(0x1111, i, 960 * i, b"opus", twcc=s, pt=111))
    rig.send(rtp(0x2222, 1, 1, b"unknown ssrc", twcc=4))  # transport-wide: counted before any SSRC lookup
    rig.send(rtp(0x1111, 50, 0, b"no transport seq", pt=111))
    rig.pump()
    after = time.time_ns() // 1000
    got = rig.eng.twcc_arrivals(PUB)
    assert [s for s, _ in got] == seqs + [4]
    assert all(before <= t <= after for _, t in got)
    assert [t for _, t in got] == sorted(t for _, t in got)
    assert rig.eng.twcc_arrivals(PUB) == []
    assert rig.eng.twcc_arrivals(SUB) == []            # no transport-cc from that peer


def test_subscriber_packets_carry_the_nodes_transport_seq_and_are_logged(rig: Rig) -> None:
    rig.eng.add_track(0, PUB, 0x1111, engine.CODEC_VP8, 90000)
    ext_map = bytes([0] * 16)                         # the publisher's own transport seq (id 5) is not forwarded
    rig.eng.add_subscription(0, 0, SUB, 0xAAAA, 100, rtx_ssrc=0xAAAB, rtx_pt=101, ext_map=ext_map,
                             twcc_out=SUB_TWCC, initial_seq=100)
    key = bytes([0x10, 0x9C, 0x01, 0x2A]) + bytes(40)  # S=1, PID 0, P=0: a keyframe start
    t0 = time.time_ns() // 1000
    for i in range(5):
        rig.send(rtp(0x1111, 1000 + i, 3000 * i, key if i == 0 else bytes([0x10, 0x9D]) + bytes(60), twcc=900 + i))
    rig.pump()
    media = rig.received()
    assert rig.eng.retransmit(0, [101, 103]) == 2       # RTX: new transport seqs too
    rtx = rig.received()
    probe = rig.eng.send_padding(0, 3, 200)
    padding = rig.received()
    t1 = time.time_ns() // 1000
    got = media + rtx + padding
    assert len(media) == 5 and len(rtx) == 2 and len(padding) == 3
    transport = [struct.unpack("!H", ref.find_extension(p, SUB_TWCC) or b"")[0] for p, _ in got]
    assert transport == list(range(10))
    assert all(ref.find_extension(p, PUB_TWCC) is None for p, _ in got)
    assert probe == (7, 9, sum(n for _, n in padding))
    for p, _ in padding:                                # padding only, on the RTX stream
        info = ref.parse_rtp(p)
        assert info is not None and info[4] == 0xAAAB and info[0] == 101 and info[10] == 0 and info[11] == 200
    log = rig.eng.twcc_sent(SUB, 0, 12)
    assert [entry[1] for entry in log[:10]] == [n for _, n in got]      # sizes on the wire (SRTP)
    assert all(t0 <= entry[0] <= t1 for entry in log[:10])
    assert log[10:] == [None, None]                                    # never sent
    assert rig.eng.twcc_state(SUB)[:2] == (10, 10)


def test_without_transport_cc_nothing_is_stamped_or_probed(rig: Rig) -> None:
    rig.eng.add_track(0, PUB, 0x1111, engine.CODEC_OPUS, 48000)
    rig.eng.add_subscription(0, 0, SUB, 0xBBBB, 111, rtx_ssrc=0xBBBC, rtx_pt=101)
    rig.send(rtp(0x1111, 1, 960, b"opus", twcc=1, pt=111))
    rig.pump()
    ((pkt, _),) = rig.received()
    assert ref.parse_rtp(pkt)[6] == -1                  # no extension block at all
    assert rig.eng.send_padding(0, 3) is None
    assert rig.eng.twcc_sent(SUB, 0, 2) == [None, None]
    with pytest.raises(ValueError):
        rig.eng.add_subscription(1, 0, SUB, 0xCCCC, 111, twcc_out=15)
