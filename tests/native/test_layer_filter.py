"""VP8 temporal layers and VP9 SVC: the descriptors are parsed alike natively and in `native.reference`, a
subscription's layer filter makes the same decisions on any packet stream, and the filter does what a receiver
needs — no sequence gaps, continuous VP8 picture ids, the marker on the last forwarded spatial layer, NACKs
mapped to the packet that was really sent — on a real engine over loopback UDP and SRTP."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native import reference as ref
from tests.native.loopback import wire_clients

engine = pytest.importorskip("native.engine")

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
L1T3 = [0, 2, 1, 2]


# ---------------- builders ----------------

def rtp(seq: int, ts: int, payload: bytes, marker: bool = False, ssrc: int = 1111, pt: int = 96) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def vp8_desc(start: bool, pid: int, tl0: int, tid: int, y: bool, part: int = 0) -> bytes:
    # X=1 S PID | I=1 L=1 T=1 | M=1 15-bit picture id | TL0PICIDX | TID Y
    return bytes([0x80 | (0x10 if start else 0) | part, 0xE0, 0x80 | (pid >> 8) & 0x7F, pid & 0xFF, tl0 & 0xFF,
                  tid << 6 | int(y) << 5])


def vp8_frame(pid: int, tl0: int, tid: int, y: bool, key: bool, packets: int = 2) -> list[bytes]:
    """The payloads of one VP8 frame: the first carries S=1 and the VP8 header (P=0 on a keyframe)."""
    out = []
    for i in range(packets):
        body = bytes([0x10 if key else 0x11, 0x02, 0x00]) + bytes(30) if i == 0 else bytes(33)
        out.append(vp8_desc(i == 0, pid, tl0, tid, y) + body)
    return out


def vp9_desc(pid: int, tid: int, u: bool, sid: int, d: bool, tl0: int, b: bool, e: bool, inter: bool,
             ss_layers: int = 0) -> bytes:
    # I=1 P L=1 F=0 B E V Z=0 | M=1 15-bit picture id | TID U SID D | TL0PICIDX | SS (N_S, Y=1: sizes)
    b0 = 0x80 | (0x40 if inter else 0) | 0x20 | (0x08 if b else 0) | (0x04 if e else 0) | (0x02 if ss_layers else 0)
    out = bytes([b0, 0x80 | (pid >> 8) & 0x7F, pid & 0xFF, tid << 5 | int(u) << 4 | sid << 1 | int(d), tl0 & 0xFF])
    if ss_layers:
        out += bytes([(ss_layers - 1) << 5 | 0x10])
        for s in range(ss_layers):
            out += struct.pack("!HH", 320 << s, 180 << s)
    return out


def vp9_picture(pid: int, tl0: int, tid: int, key: bool, sids: int = 3, packets: int = 2) -> list[tuple[bytes, bool, int]]:
    """(payload, marker, sid) per packet of one L{sids}T3 picture; the marker on the picture's last packet."""
    out = []
    for sid in range(sids):
        for i in range(packets):
            desc = vp9_desc(pid, tid, tid > 0 or key, sid, sid > 0 and key, tl0, b=i == 0, e=i == packets - 1,
                            inter=not key, ss_layers=sids if key and sid == 0 and i == 0 else 0)
            out.append((desc + bytes(40), sid == sids - 1 and i == packets - 1, sid))
    return out


# ---------------- descriptors: native == reference ----------------

@st.composite
def vp8_descriptors(draw: st.DrawFn) -> bytes:
    b0 = draw(st.integers(0, 255))
    if not draw(st.integers(0, 3)):
        return bytes([b0]) + draw(st.binary(max_size=6))
    x = draw(st.integers(0, 255))
    out = bytes([b0 | 0x80, x])
    if x & 0x80:
        out += bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255))])
    out += draw(st.binary(min_size=0, max_size=4))
    return out[:draw(st.integers(0, len(out)))] if draw(st.integers(0, 4)) == 0 else out


@st.composite
def vp9_descriptors(draw: st.DrawFn) -> bytes:
    b0 = draw(st.integers(0, 255))
    out = bytes([b0])
    if b0 & 0x80:
        out += bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255))])
    if b0 & 0x20:
        out += bytes([draw(st.integers(0, 255)), draw(st.integers(0, 255))])
    if b0 & 0x10 and b0 & 0x40:
        out += bytes(draw(st.lists(st.integers(0, 255), max_size=4)))
    if b0 & 0x02:
        ss = draw(st.integers(0, 255))
        out += bytes([ss]) + draw(st.binary(max_size=24))
    out += draw(st.binary(max_size=8))
    return out[:draw(st.integers(0, len(out)))] if draw(st.integers(0, 4)) == 0 else out


@FAST
@given(vp8_descriptors() | st.binary(max_size=12))
def test_vp8_descriptor_parse_agrees(payload: bytes) -> None:
    assert engine.py_parse_vp8(payload) == ref.parse_vp8(payload)
    for key in (False, True):
        assert engine.py_layer_info(ref.CODEC_VP8, payload, key) == ref.layer_info(ref.CODEC_VP8, payload, key)


@FAST
@given(vp9_descriptors() | st.binary(max_size=40))
def test_vp9_descriptor_parse_agrees(payload: bytes) -> None:
    assert engine.py_parse_vp9(payload) == ref.parse_vp9(payload)
    for key in (False, True):
        assert engine.py_layer_info(ref.CODEC_VP9, payload, key) == ref.layer_info(ref.CODEC_VP9, payload, key)


def test_descriptor_fields() -> None:
    assert ref.parse_vp8(vp8_desc(True, 0x1234, 7, 2, True)) == (1, 0, 0x1234, 1, 7, 2, 1, -1, 6)
    assert ref.parse_vp8(bytes([0x10, 0x00])) == (1, 0, -1, -1, -1, -1, -1, -1, 1)
    d = ref.parse_vp9(vp9_desc(300, 2, True, 1, True, 9, b=True, e=False, inter=True, ss_layers=3))
    assert d is not None and d[1:] == (300, 1, 2, 1, 1, 1, 9, 3, 6 + 12)
    # flexible mode, P=1: P_DIFFs chained by N; a fourth one is malformed
    assert ref.parse_vp9(bytes([0x40 | 0x10, 0x03, 0x03, 0x02])) == (0x50, -1, -1, -1, -1, -1, -1, -1, 0, 4)
    assert ref.parse_vp9(bytes([0x40 | 0x10, 0x03, 0x03, 0x03, 0x02])) is None
    for payload in (vp8_desc(True, 5, 1, 1, False), bytes([0x50, 0x03, 0x02])):
        assert engine.py_parse_vp8(payload) == ref.parse_vp8(payload)
        assert engine.py_parse_vp9(payload) == ref.parse_vp9(payload)


# ---------------- the filter on random streams: native == reference ----------------

@st.composite
def streams(draw: st.DrawFn, codec: int) -> tuple[list[bytes], list[tuple[int, int] | None], list[int]]:
    seq = draw(st.integers(0, 0xFFFF))
    pid = draw(st.integers(0, 0x7FFF))
    tl0 = draw(st.integers(0, 255))
    packets: list[bytes] = []
    for f in range(draw(st.integers(1, 14))):
        tid = draw(st.sampled_from(L1T3 + [0, 1, 2, 3]))
        key = f == 0 or draw(st.integers(0, 12)) == 0
        if key:
            tid = 0
        if tid == 0:
            tl0 += 1
        ts = 3000 * f
        if codec == ref.CODEC_VP8:
            bodies = vp8_frame(pid, tl0, tid, draw(st.booleans()), key, draw(st.integers(1, 3)))
            items = [(b, i == len(bodies) - 1) for i, b in enumerate(bodies)]
        else:
            sids = draw(st.integers(1, 3))
            items = [(b, m) for b, m, _ in vp9_picture(pid, tl0, tid, key, sids, draw(st.integers(1, 2)))]
            if draw(st.integers(0, 5)) == 0:       # U bit off on this picture
                items = [(bytes([b[0], b[1], b[2], b[3] & ~0x10]) + b[4:], m) for b, m in items]
        for body, marker in items:
            if draw(st.integers(0, 20)) == 0:
                body = draw(st.binary(max_size=6))   # a broken descriptor now and then
            packets.append(rtp(seq, ts, body, marker))
            seq += 1
        pid = (pid + 1) & 0x7FFF
    # loss and reordering, as the network does it
    out = [p for p in packets if draw(st.integers(0, 15)) != 0] or packets[:1]
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(out) - 1))
        j = min(len(out) - 1, i + draw(st.integers(1, 4)))
        out[i], out[j] = out[j], out[i]
    caps = [draw(st.none() | st.tuples(st.integers(-1, 3), st.integers(-1, 3))) if draw(st.integers(0, 6)) == 0
            else None for _ in out]
    if draw(st.booleans()):
        caps[0] = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))    # capped from the start, usually
    nacks = draw(st.lists(st.integers(990, 1000 + len(out) + 4) | st.integers(0, 0xFFFF), max_size=12))
    return out, caps, nacks


@FAST
@given(streams(ref.CODEC_VP8))
def test_vp8_filter_agrees(stream) -> None:
    packets, caps, nacks = stream
    assert engine.py_filter_stream(ref.CODEC_VP8, packets, caps, nacks) == \
        ref.filter_stream(ref.CODEC_VP8, packets, caps, nacks)


@FAST
@given(streams(ref.CODEC_VP9))
def test_vp9_filter_agrees(stream) -> None:
    packets, caps, nacks = stream
    assert engine.py_filter_stream(ref.CODEC_VP9, packets, caps, nacks) == \
        ref.filter_stream(ref.CODEC_VP9, packets, caps, nacks)


def test_the_offset_history_is_bounded_and_old_nacks_are_ignored() -> None:
    # 200 dropped runs: the history keeps the last 64 changes; a NACK older than that maps to nothing
    packets, pid, seq = [], 0, 0
    for f in range(400):
        tid = 0 if f % 2 == 0 else 1
        for body in vp8_frame(pid, f // 2, tid, False, key=f == 0, packets=1):
            packets.append(rtp(seq, 3000 * f, body, True))
            seq += 1
        pid += 1
    for impl in (engine.py_filter_stream, ref.filter_stream):
        outs, mapped = impl(ref.CODEC_VP8, packets, [(0, 0)], [1000, 1199, 1137, 1136])
        sent = [o for o in outs if isinstance(o, bytes)]
        assert len(sent) == 200
        assert mapped == [-1, 398, 274, -1], mapped


# ---------------- what the filter means (reference and native, in-order streams) ----------------

def seqs_of(packets: list[bytes]) -> list[int]:
    return [struct.unpack_from("!H", p, 2)[0] for p in packets]


def vp8_pids(packets: list[bytes]) -> list[int]:
    return [((p[14] & 0x7F) << 8) | p[15] for p in packets]


@pytest.mark.parametrize("impl", [engine.py_filter_stream, ref.filter_stream])
@pytest.mark.parametrize("max_tid", [0, 1])
def test_vp8_temporal_filter_leaves_no_gaps(impl, max_tid: int) -> None:
    packets, tids, seq, tl0 = [], [], 60000, 0      # wraps the 16-bit space on the way
    for f in range(40):
        tid = L1T3[f % 4]
        tl0 += tid == 0
        for i, body in enumerate(vp8_frame(0x7FF0 + f, tl0, tid, tid > 0, key=f == 0)):
            packets.append(rtp(seq, 3000 * f, body, i == 1))
            tids.append(tid)
            seq += 1
    outs, mapped = impl(ref.CODEC_VP8, packets, [(-1, max_tid)], [1000, 1001, 1002, 1003])
    sent = [o for o in outs if isinstance(o, bytes)]
    assert [t for o, t in zip(outs, tids, strict=True) if isinstance(o, bytes)] == [t for t in tids if t <= max_tid]
    assert seqs_of(sent) == list(range(1000, 1000 + len(sent)))
    pids = vp8_pids(sent)[::2]
    assert pids == [(0x7FF0 + i) & 0x7FFF for i in range(len(pids))]      # one id per forwarded frame, wrapping
    assert [p[16] for p in sent][::2] == [1 + (i if max_tid == 0 else i // 2) for i in range(len(pids))]
    # NACKed subscriber seqs map back to the input packets that were sent as them
    first_kept = [i for i, o in enumerate(outs) if isinstance(o, bytes)]
    assert mapped == [(60000 + first_kept[k]) & 0xFFFF for k in range(4)]


@pytest.mark.parametrize("impl", [engine.py_filter_stream, ref.filter_stream])
def test_vp8_raising_waits_for_layer_sync_frames(impl) -> None:
    # cap 0 for 8 frames, then "all": TL1 joins at its next Y frame, TL2 at its next Y frame after that
    packets, tids, ys = [], [], [False, False, True, False, False, True, False, True] * 3
    for f in range(24):
        tid = L1T3[f % 4]
        for body in vp8_frame(500 + f, f // 4, tid, ys[f] and tid > 0, key=f == 0, packets=1):
            packets.append(rtp(10 + f, 3000 * f, body, True))
            tids.append(tid)
    caps: list[tuple[int, int] | None] = [(-1, 0)] + [None] * 7 + [(-1, -1)]
    outs, _ = impl(ref.CODEC_VP8, packets, caps, [])
    got = [t for o, t in zip(outs, tids, strict=True) if isinstance(o, bytes)]
    # frames 0..7: TL0 only; from 8: 0, 2 (no Y: dropped), 1 (Y: TL1 joins), 2 (no Y), 0, 2 (Y: TL2 joins)...
    assert got == [0, 0] + [0, 1] + [0, 2, 1, 2] * 3
    assert seqs_of([o for o in outs if isinstance(o, bytes)]) == list(range(1000, 1000 + len(got)))


@pytest.mark.parametrize("impl", [engine.py_filter_stream, ref.filter_stream])
def test_vp9_spatial_cap_moves_the_marker_and_waits_for_a_keyframe_to_go_up(impl) -> None:
    packets, sids, seq = [], [], 0
    for pic in range(12):
        for body, marker, sid in vp9_picture(200 + pic, pic, 0, key=pic in (0, 8)):
            packets.append(rtp(seq, 3000 * pic, body, marker))
            sids.append(sid)
            seq += 1
    per_pic = 6
    caps: list[tuple[int, int] | None] = [None] * len(packets)
    caps[0] = (1, -1)                    # start at SID <= 1
    caps[4 * per_pic + 3] = (-1, -1)     # raise mid-picture 4: waits for the keyframe at picture 8
    outs, _ = impl(ref.CODEC_VP9, packets, caps, [])
    sent = [(o, s) for o, s in zip(outs, sids, strict=True) if isinstance(o, bytes)]
    before = [s for o, s in sent[:8 * 4]]
    assert before == [0, 0, 1, 1] * 8
    assert [s for o, s in sent[8 * 4:]] == [0, 0, 1, 1, 2, 2] * 4
    markers = [o[1] >> 7 for o, _ in sent]
    assert markers[:8 * 4] == [0, 0, 0, 1] * 8      # the SID 1 frame's last packet now ends the picture
    assert markers[8 * 4:] == [0, 0, 0, 0, 0, 1] * 4
    assert seqs_of([o for o, _ in sent]) == list(range(1000, 1000 + len(sent)))


# ---------------- a real engine over loopback UDP + SRTP ----------------

PUB, SUBP = 0, 1
TRACK, SUB = 0, 0


class Rig:
    def __init__(self, codec: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.eng = engine.Engine(self.sock.fileno(), max_peers=4, max_tracks=4, max_subs=4)
        c = wire_clients(self.eng, PUB, SUBP)
        self.pub, self.sub, self.up, self.down = c.pub, c.sub, c.up, c.down
        self.down_key = c.down_key
        self.eng.add_track(TRACK, PUB, 1111, codec, 90000)
        self.eng.add_subscription(SUB, TRACK, SUBP, 5555, 100, initial_seq=500)

    def receive(self, timeout: float = 0.5, fresh: bool = False) -> list[bytes]:
        """What the subscriber got; `fresh`: through a new SRTP context, as a retransmission (same seq) would
        fail the replay check of the first one."""
        session = ref.srtp_session(1, self.down_key, outbound=False) if fresh else self.down
        out: list[bytes] = []
        self.sub.setblocking(False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                out.append(session.unprotect(self.sub.recv(2048)))
            except BlockingIOError:
                if out:
                    break
                time.sleep(0.002)
        return out

    def send(self, packets: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for i in range(0, len(packets), 16):           # in small bursts: the socket buffers never overflow
            for pkt in packets[i:i + 16]:
                self.pub.sendto(self.up.protect(pkt), self.sock.getsockname())
            time.sleep(0.003)
            for _ in range(20):
                self.eng.poll()
                got = self.receive(0.02)
                out += got
                if not got:
                    break
        return out


def test_engine_forwards_only_tl0_of_an_l1t3_vp8_stream_without_gaps_and_serves_nacks() -> None:
    rig = Rig(engine.CODEC_VP8)
    rig.eng.set_temporal(SUB, 0)
    packets, tids, tl0 = [], [], 40
    for f in range(32):
        tid = L1T3[f % 4]
        tl0 += tid == 0
        for i, body in enumerate(vp8_frame(9000 + f, tl0, tid, tid > 0, key=f == 0)):
            packets.append(rtp(65500 + 2 * f + i, 3000 * f, body, i == 1))
            tids.append(tid)
    got = rig.send(packets)
    assert len(got) == 16, len(got)                       # 8 TL0 frames x 2 packets
    assert {struct.unpack_from("!I", p, 8)[0] for p in got} == {5555}
    assert seqs_of(got) == list(range(500, 516))
    assert vp8_pids(got)[::2] == list(range(9000, 9008))
    assert [p[17] >> 6 for p in got] == [0] * 16          # TID 0 only
    assert [p[16] for p in got][::2] == list(range(41, 49))
    c = rig.eng.counters()
    assert c["layer_filtered"] == 48 and c["drops"]["not_started"] == 0
    assert rig.eng.subscription_layers(SUB) == (7, 0, 7, 0, 48)
    assert rig.eng.track_layers(TRACK)[:3] == (0, 2, 0)
    # a NACK for subscriber seq 508 (frame 16's first packet, input seq 65500 + 32) retransmits exactly it
    assert rig.eng.retransmit(SUB, [508, 530]) == 1
    assert rig.receive(fresh=True) == [got[8]]
    # then every layer again: TL1 joins at its Y frame, TL2 at the next Y frame; still no gaps
    rig.eng.set_temporal(SUB, -1)
    more = []
    for f in range(32, 40):
        tid = L1T3[f % 4]
        tl0 += tid == 0
        for i, body in enumerate(vp8_frame(9000 + f, tl0, tid, tid > 0, key=False)):
            more.append(rtp(65500 + 2 * f + i, 3000 * f, body, i == 1))
    later = rig.send(more)
    assert [p[17] >> 6 for p in later][::2] == [0, 1, 2, 0, 2, 1, 2]
    assert seqs_of(later) == list(range(516, 516 + len(later)))
    assert vp8_pids(later)[::2] == list(range(9008, 9015))


def test_engine_forwards_two_of_three_vp9_spatial_layers_with_the_marker_moved() -> None:
    rig = Rig(engine.CODEC_VP9)
    rig.eng.set_svc(SUB, 1, -1)
    packets, seq = [], 100
    for pic in range(10):
        for body, marker, _sid in vp9_picture(700 + pic, pic, L1T3[pic % 4], key=pic == 0):
            packets.append(rtp(seq, 3000 * pic, body, marker))
            seq += 1
    got = rig.send(packets)
    assert len(got) == 40
    sids = [(p[15] >> 1) & 7 for p in got]
    assert sids == [0, 0, 1, 1] * 10
    assert [p[1] >> 7 for p in got] == [0, 0, 0, 1] * 10
    assert seqs_of(got) == list(range(500, 540))
    sid_max, tid_max, ss, octets = rig.eng.track_layers(TRACK)
    assert (sid_max, tid_max, ss) == (2, 2, 3) and all(octets[:3]) and not any(octets[3:])
    assert rig.eng.counters()["layer_filtered"] == 20
    # NACK 503: the first picture's last SID 1 packet (input seq 103), marker included
    assert rig.eng.retransmit(SUB, [503]) == 1
    assert rig.receive(fresh=True) == [got[3]]
    # then a temporal cap too: TID <= 0 from the next picture on
    rig.eng.set_svc(SUB, 1, 0)
    more = []
    for pic in range(10, 18):
        for body, marker, _sid in vp9_picture(700 + pic, pic, L1T3[pic % 4], key=False):
            more.append(rtp(seq, 3000 * pic, body, marker))
            seq += 1
    later = rig.send(more)
    assert [(p[15] >> 5) for p in later] == [0] * 8
    assert seqs_of(later) == list(range(540, 548))


@pytest.mark.parametrize("impl", [engine.py_filter_stream, ref.filter_stream])
def test_the_offset_history_trails_the_stream_around_the_sequence_space(impl) -> None:
    # frames 900 sequence numbers apart (packets lost on the way): twice around the 16-bit space, TL1 dropped
    packets = []
    for f in range(150):
        for body in vp8_frame(f, f // 2, f % 2, False, key=f == 0, packets=1):
            packets.append(rtp(f * 900, 3000 * f, body, True))
    outs, mapped = impl(ref.CODEC_VP8, packets, [(-1, 0)], [3054, 3055, 48590])
    sent = [o for o in outs if isinstance(o, bytes)]
    # forwarded frame i is input 1800 i, out 1000 + 1799 i: each dropped frame takes one seq off, loss stays
    assert seqs_of(sent) == [(1000 + 1799 * i) & 0xFFFF for i in range(75)]
    assert vp8_pids(sent) == list(range(75))
    # the newest forwarded packet (and a lost input next to it) map back; one from before the window does not
    assert mapped == [(148 * 900) & 0xFFFF, (148 * 900 + 1) & 0xFFFF, -1]
