"""The media engine's whole per-packet path on a real loopback socket: recvmmsg, classification by first byte
(RFC 7983: STUN / DTLS / RTP / RTCP), SRTP/SRTCP unprotect with libsrtp, RTP parsing, the VP8 layer filter,
rewrite, SRTP protect and sendmmsg to a subscriber - the native Engine against native.reference's
ReferenceForwarder, each with its own publisher and subscriber sockets (the same keys).
Both must hand Python the same events, count the same, and deliver the same packets (abs-send-time values
aside: each stamps its own clock); what the subscriber can decrypt, and what not (a duplicate forwarded twice is a replay to its SRTP).

Input: records [flags][length][bytes], at most 8 datagrams, sent by the publisher. flags & 3: 0 raw (the
fuzzer's own STUN / DTLS / garbage), 1 SRTP-protected RTP, 2 SRTCP-protected RTCP (the harness encrypts, the
fuzzer cannot); flags & 4 puts the video track's SSRC in the RTP header so the packet reaches the forwarding
path. Then a retransmission request for the subscriber seqs the stream used."""

from __future__ import annotations

import socket
import struct
from typing import Any

import pylibsrtp

from native import engine
from native import reference as ref

PUB, SUB = 0, 1
VIDEO, AUDIO = 0, 1
VIDEO_SSRC, AUDIO_SSRC = 0x1111, 0x2222
VIDEO_MAP = bytes([0, 0, 0, 2, 5])
AUDIO_MAP = bytes([0, 1, 0, 2])
MAX_DATAGRAMS = 8
KEYS = ((bytes(range(30)), bytes(range(1, 31))), (bytes(range(2, 32)), bytes(range(3, 33))))  # (rx, tx) per peer


class Side:
    """One forwarder (native or reference) wired to its own publisher and subscriber."""

    def __init__(self, kind: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.fwd: Any = (engine.Engine(self.sock.fileno(), max_peers=4, max_tracks=4, max_subs=4, measure_latency=False)
                         if kind == "native" else ref.ReferenceForwarder(self.sock))
        # fixed keys, the same on both sides: an event hands Python the datagram as received (ciphertext)
        self.pub, self.sub = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
        for peer, s, (rx, tx) in ((PUB, self.pub, KEYS[0]), (SUB, self.sub, KEYS[1])):
            s.bind(("127.0.0.1", 0))
            self.fwd.add_peer(peer)
            self.fwd.set_peer_address(peer, "127.0.0.1", s.getsockname()[1])
            self.fwd.set_peer_srtp(peer, 1, rx, tx)
        self.up = ref.srtp_session(1, KEYS[0][0], outbound=True)
        self.down = ref.srtp_session(1, KEYS[1][1], outbound=False)
        self.sub.setblocking(False)
        f = self.fwd
        f.set_peer_extensions(PUB, abs_send_id=3, audio_level_id=1, twcc_id=4)
        f.add_track(VIDEO, PUB, VIDEO_SSRC, engine.CODEC_VP8, 90000)
        f.add_track(AUDIO, PUB, AUDIO_SSRC, engine.CODEC_OPUS, 48000)
        f.add_subscription(VIDEO, VIDEO, SUB, 0xAAAA, 100, rtx_ssrc=0xAAAB, rtx_pt=101, ext_map=VIDEO_MAP,
                           abs_send_out=2, initial_seq=500, ts_offset=1000)
        f.add_subscription(AUDIO, AUDIO, SUB, 0xBBBB, 111, ext_map=AUDIO_MAP, abs_send_out=2)

    def close(self) -> None:
        for s in (self.sock, self.pub, self.sub):
            s.close()

    def send(self, kind: int, data: bytes) -> None:
        try:
            if kind == 1:
                data = self.up.protect(data)
            elif kind == 2:
                data = self.up.protect_rtcp(data)
        except Exception:  # noqa: BLE001 - libsrtp refuses to protect what is not RTP / RTCP: sent as is
            pass
        self.pub.sendto(data, self.sock.getsockname())

    def received(self) -> list[bytes]:
        out: list[bytes] = []
        while True:
            try:
                data, addr = self.sub.recvfrom(4096)
            except BlockingIOError:
                return out
            if addr != self.sock.getsockname():
                continue  # a stray datagram on loopback (another test's, to a reused port): not ours
            rtcp = len(data) > 1 and 192 <= data[1] <= 223
            try:
                plain = self.down.unprotect_rtcp(data) if rtcp else self.down.unprotect(data)
            except pylibsrtp.Error as e:
                # a duplicate the publisher sent is forwarded again, and the subscriber's SRTP refuses the
                # replay, as a browser's would: both sides must agree on that too
                out.append(f"undecryptable: {e}".encode())
                continue
            out.append(plain if rtcp else _without_abs_send(plain))


def _without_abs_send(pkt: bytes) -> bytes:
    """The packet with every abs-send-time value (subscriber id 2, 3 bytes) zeroed: each side stamps its clock."""
    info = ref.parse_rtp(pkt)
    if info is None or info[6] < 0:
        return pkt
    out = bytearray(pkt)
    for eid, off, length in ref._elements(pkt, info[6], info[7], info[7] + info[8]):
        if eid == 2 and length == 3:
            out[off:off + 3] = bytes(3)
    return bytes(out)


def _records(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    i = 0
    while i + 2 <= len(data) and len(out) < MAX_DATAGRAMS:
        flags, n = data[i], data[i + 1]
        payload = data[i + 2:i + 2 + n]
        i += 2 + n
        if flags & 4 and len(payload) >= 12:
            payload = payload[:8] + struct.pack("!I", VIDEO_SSRC) + payload[12:]
        if payload:
            out.append((flags & 3, payload))
    return out


def _run(side: Side, records: list[tuple[int, bytes]]) -> dict[str, Any]:
    events = []
    for kind, payload in records:
        side.send(kind, payload)
        events += side.fwd.poll()
    rtx = side.fwd.retransmit(VIDEO, list(range(500, 510)))
    counters = dict(side.fwd.counters())
    # what reached the forwarder's port from elsewhere (other tests on loopback reuse ports) is not the input's:
    # counted by each side only if it happened to it
    counters.pop("rx_packets")
    counters.pop("rx_bytes")
    counters["drops"] = {k: v for k, v in counters["drops"].items() if k != "unknown_address"}
    return {
        "events": [(k, peer, payload) for k, peer, _, payload in events],
        "rtx": rtx,
        "counters": {k: v for k, v in counters.items() if k != "latency"},
        "subscriber": side.received(),
        # as tests/native/test_engine_forwarding.py: jitter and times depend on each side's clock
        "video": side.fwd.track_stats(VIDEO)[:4] + side.fwd.track_stats(VIDEO)[5:6],
        "subs": [side.fwd.subscription_stats(s)[:3] + side.fwd.subscription_stats(s)[4:] for s in (VIDEO, AUDIO)],
    }


def check(data: bytes) -> None:
    records = _records(data)
    if not records:
        return
    results = {}
    for kind in ("native", "reference"):
        side = Side(kind)
        try:
            results[kind] = _run(side, records)
        finally:
            side.close()
    native, reference = results["native"], results["reference"]
    for key in native:
        if native[key] != reference[key]:
            raise AssertionError(f"{key}: engine {native[key]!r} != reference {reference[key]!r}")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("engine_path")
