"""Light bench peers: the real media-side protocol on one plain UDP socket each, without aiortc.

ICE as the controlling agent (STUN Binding with USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT; consent
refreshed every few seconds), DTLS as the client (sfu.transport.dtls.DtlsSession, server=False, own certificate), SRTP
with the native engine's libsrtp (native.engine.SrtpSession). The publisher replays pre-packetized media in
real time and answers PLI/FIR with its next keyframe; subscribers never decrypt: they count packets and check
sequence continuity per SSRC (the RTP header is clear), and send a receiver report every second like a browser.

Many peers share one asyncio loop; each socket is drained with non-blocking recvfrom in batches. A peer waits for
its STUN answer and its DTLS handshake on an event its socket's reader sets (and the DTLS retransmission timer),
not by polling: a storm of hundreds of handshakes must not wake the loop hundreds of times per 10 ms. Peers given a
`MediaDrain` leave the loop's reader once connected and are read together every `DRAIN_PERIOD` instead of one
wake-up per datagram: hundreds of receive-only peers then cost the harness a loop turn per period, not per packet,
so a join storm measures the node, not the harness starving itself.
Nothing here is tied to one SFU: signalling lives in the Target adapters (loadtests/bench/target.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aioice import stun

from loadtests.bench import sdp as bsdp
from loadtests.bench.media import FPS, BenchMedia
from loadtests.bots.rcvbuf import grow
from native.engine import SrtpSession
from sfu.feedback import rtcp
from sfu.transport.dtls import Certificate, DtlsSession, SrtpKeys

RECV_BATCH = 256
SO_TIMESTAMPNS = 35  # Linux: each datagram's kernel receive time as ancillary data (the socket module lacks the name)
RECEIVE_BUFFER = 1 << 20  # asked per peer socket (the kernel grants twice that): seconds of a viewer's media
DRAIN_PERIOD = 0.05  # a MediaDrain reads its peers' sockets this often
STUN_RETRY = 0.2  # a binding request unanswered this long is sent again
CONSENT_INTERVAL = 5.0
RR_INTERVAL = 1.0
SR_INTERVAL = 1.0


class PeerError(Exception):
    pass


def abs_send_time(t: float) -> int:
    return int(t * (1 << 18)) & 0xFFFFFF


class BenchPeer:
    """One participant's media transport."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # as root past net.core.rmem_max (SO_RCVBUFFORCE): a stalled harness loop must not overflow it
        self.rcvbuf = grow(self.sock, RECEIVE_BUFFER)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.ufrag = secrets.token_hex(4)
        self.pwd = secrets.token_hex(16)
        self.certificate = Certificate()
        self.certificate.context()  # its DTLS context made now too, not during the join (~1-2 ms of the loop each)
        self.cname = "bench-" + secrets.token_hex(4)
        self.tie_breaker = secrets.randbits(63)
        self.remote: bsdp.Transport | None = None
        self.addr: tuple[str, int] | None = None
        self.dtls: DtlsSession | None = None
        self.keys: SrtpKeys | None = None
        self.tx: SrtpSession | None = None
        self.stun_ok = False
        self.stun_sent = 0
        self.stun_responses = 0
        self.rtcp_in = 0
        self.other = 0
        self.closed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._reading = False
        self._progress: asyncio.Event | None = None  # set by the reader: a STUN answer, a DTLS step
        self.drain: MediaDrain | None = None  # read with others once connected (receive-only peers)
        # with stamp_arrivals(): the kernel's receive time (wall clock) of the datagram being handled, so what a peer
        # times does not include how late its loop got to the socket
        self.arrival: float | None = None
        self._stamped = False
        self.marks: dict[str, float] = {}  # when each step of the join ended (loop time): where a slow join waited

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint

    def mlines(self) -> list[bsdp.MLine]:
        raise NotImplementedError

    def offer(self) -> str:
        return bsdp.offer(self.ufrag, self.pwd, self.fingerprint, self.mlines(), self.cname)

    # ---------------------------------------------------------------- ICE + DTLS

    def _binding_request(self) -> bytes:
        assert self.remote is not None
        msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        msg.attributes["USERNAME"] = f"{self.remote.ufrag}:{self.ufrag}"
        msg.attributes["PRIORITY"] = 0x6E7F1EFF
        msg.attributes["ICE-CONTROLLING"] = self.tie_breaker
        msg.attributes["USE-CANDIDATE"] = None
        msg.add_message_integrity(self.remote.pwd.encode())
        msg.add_fingerprint()
        return bytes(msg)

    def _send(self, data: bytes) -> None:
        assert self.addr is not None
        try:
            self.sock.sendto(data, self.addr)
        except (BlockingIOError, InterruptedError):
            pass

    def _stun(self) -> None:
        self.stun_sent += 1
        self._send(self._binding_request())

    async def connect(self, remote: bsdp.Transport, timeout: float = 15.0) -> None:
        """ICE (we nominate), then the DTLS handshake as client; SRTP keys when it completes."""
        self.remote = remote
        self.addr = (remote.host, remote.port)
        loop = asyncio.get_running_loop()
        progress = self._progress = asyncio.Event()
        if not self._reading:
            loop.add_reader(self.sock.fileno(), self._on_readable)
            self._reading = True
        deadline = loop.time() + timeout
        tries = 0
        while not self.stun_ok:
            if loop.time() > deadline or tries > 100:
                raise PeerError(f"{self.name}: no STUN response from {self.addr}")
            progress.clear()
            self._stun()
            tries += 1
            await _wait(progress, min(STUN_RETRY, max(0.0, deadline - loop.time())))
        self.marks["ice"] = loop.time()
        # consent checks from now on, as a browser's ICE agent does during DTLS too: a handshake slowed by a loaded
        # machine must not let the node's consent (30 s from the first check) expire before media starts
        self._tasks.append(asyncio.create_task(self._consent()))
        self.dtls = DtlsSession(self.certificate, remote.fingerprints, self._send, server=False)
        self.dtls.start()
        while self.keys is None:
            if self.dtls.state == "failed":
                raise PeerError(f"{self.name}: {self.dtls.error}")
            if loop.time() > deadline:
                raise PeerError(f"{self.name}: DTLS handshake timed out")
            t = self.dtls.timeout()
            if t is not None and t <= 0:
                self.dtls.handle_timeout()
                continue
            progress.clear()  # nothing runs between this and the wait: a record read from now on sets it
            await _wait(progress, min(1.0 if t is None else t, max(0.0, deadline - loop.time())))
        self.marks["dtls"] = loop.time()
        self.tx = SrtpSession(self.keys.profile, self.keys.tx_key, True)
        if self.drain is not None:
            loop.remove_reader(self.sock.fileno())
            self._reading = False
            self.drain.add(self)
        self.on_connected()

    def on_connected(self) -> None:
        pass

    async def _consent(self) -> None:
        # RFC 7675 consent freshness, as a browser does (every ~5 s); bounded by close()
        while not self.closed:
            await asyncio.sleep(CONSENT_INTERVAL)
            self._stun()

    def stamp_arrivals(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._stamped = True

    def _on_readable(self) -> bool:
        """Reads up to RECV_BATCH datagrams; True once the socket is empty."""
        recv, recvmsg = self.sock.recvfrom, self.sock.recvmsg
        for _ in range(RECV_BATCH):
            try:
                if self._stamped:
                    data, ancillary, _flags, _addr = recvmsg(2048, 64)
                    self.arrival = next((sec + nsec / 1e9 for _level, kind, raw in ancillary
                                         if kind == SO_TIMESTAMPNS for sec, nsec in [struct.unpack("qq", raw[:16])]),
                                        None)
                else:
                    data, _addr = recv(2048)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return True
            if not data:
                continue
            b0 = data[0]
            if b0 >= 128:
                self.on_media(data)
            elif b0 < 4:
                self._on_stun(data)
            elif 20 <= b0 <= 63:
                if self.dtls is not None:
                    keys = self.dtls.feed(data)
                    if keys is not None:
                        self.keys = keys
                    if self._progress is not None:
                        self._progress.set()
            else:
                self.other += 1
        return False

    def _on_stun(self, data: bytes) -> None:
        try:
            msg = stun.parse_message(data)
        except Exception:  # noqa: BLE001
            self.other += 1
            return
        if msg.message_class == stun.Class.RESPONSE and msg.message_method == stun.Method.BINDING:
            assert self.remote is not None
            if msg.check_message_integrity(self.remote.pwd.encode()):
                self.stun_ok = True
                self.stun_responses += 1
                if self._progress is not None:
                    self._progress.set()

    def on_media(self, data: bytes) -> None:
        pass

    def send_rtcp(self, packets: list) -> None:
        if self.tx is not None:
            self._send(self.tx.protect_rtcp(rtcp.serialize(packets)))

    def close(self) -> None:
        self.closed = True
        for t in self._tasks:
            t.cancel()
        if self.drain is not None:
            self.drain.discard(self)
        if self._reading:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self._reading = False
        if self.dtls is not None:
            self.dtls.close()
        self.sock.close()


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Until `event` is set or `timeout` seconds pass, whichever is first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


class MediaDrain:
    """Reads many connected peers' sockets together, every `period` seconds, from one task: one loop turn per
    period for all of them instead of one per datagram each (a receive-only peer needs no faster answer: its
    consent checks and receiver reports are seconds apart). Each socket's kernel buffer holds what arrives
    in between (1 MB; a period of a light subscriber's media is a few kB)."""

    def __init__(self, period: float = DRAIN_PERIOD) -> None:
        self.period = period
        self.peers: dict[int, BenchPeer] = {}
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, peer: BenchPeer) -> None:
        self.peers[id(peer)] = peer
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, peer: BenchPeer) -> None:
        self.peers.pop(id(peer), None)

    async def _run(self) -> None:
        while self.peers:
            await asyncio.sleep(self.period)
            self.rounds += 1
            for peer in list(self.peers.values()):
                if not peer.closed:
                    peer._on_readable()
        self._task = None

    def close(self) -> None:
        self.peers.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None


# ---------------------------------------------------------------- publisher


def _video_header(seq: int, ts: int, ssrc: int, marker: bool, ast: int, rid: bytes = b"") -> bytes:
    # one-byte extension block: abs-send-time (id 2, 3 bytes) -> exactly one word; a simulcast layer also
    # carries MID and RID (as a browser does until the SFU has seen them), padded to a word
    body = bytes([(bsdp.EXT_ABS_SEND_TIME << 4) | 2]) + ast.to_bytes(3, "big")
    if rid:
        body += bytes([(bsdp.EXT_MID << 4)]) + b"1" + bytes([(bsdp.EXT_RID << 4) | (len(rid) - 1)]) + rid
        body += b"\0" * (-len(body) % 4)
    ext = struct.pack("!HH", 0xBEDE, len(body) // 4) + body
    return struct.pack("!BBHII", 0x90, (0x80 if marker else 0) | bsdp.VP8_PT, seq, ts, ssrc) + ext


def _audio_header(seq: int, ts: int, ssrc: int, ast: int, level: int) -> bytes:
    # abs-send-time (4 bytes) + audio level with the voice bit (2 bytes) + 2 bytes padding -> two words
    ext = (
        struct.pack("!HH", 0xBEDE, 2)
        + bytes([(bsdp.EXT_ABS_SEND_TIME << 4) | 2])
        + ast.to_bytes(3, "big")
        + bytes([(bsdp.EXT_AUDIO_LEVEL << 4), 0x80 | level, 0, 0])
    )
    return struct.pack("!BBHII", 0x90, bsdp.OPUS_PT, seq, ts, ssrc) + ext  # X: extension present


def plaintext_packets(media: BenchMedia) -> list[bytes]:
    """One pass of the media as the publisher sends it (before SRTP), in time order: the floor's packets."""
    out: list[tuple[float, bytes]] = []
    seq_v = seq_a = 0
    for i, f in enumerate(media.video):
        for j, p in enumerate(f.payloads):
            out.append((i / FPS, _video_header(seq_v, i * 3000, 1, j == len(f.payloads) - 1, 0) + p))
            seq_v += 1
    for i, p in enumerate(media.audio):
        out.append((i * 0.02, _audio_header(seq_a, i * 960, 2, 0, 30) + p))
        seq_a += 1
    out.sort(key=lambda x: x[0])
    return [p for _, p in out]


class Publisher(BenchPeer):
    """Sends VP8 + Opus in real time (30 fps, 20 ms audio), looping the pre-packetized media."""

    def __init__(self, name: str, media: BenchMedia, pacing_bps: float = 0.0) -> None:
        super().__init__(name)
        self.media = media
        self.pacing_bps = pacing_bps
        self.video_ssrc = secrets.randbits(32) or 1
        self.video_rtx_ssrc = secrets.randbits(32) or 2
        self.audio_ssrc = secrets.randbits(32) or 3
        # (SSRC, RID, media) per video encoding: one without simulcast (SimulcastPublisher has three)
        self.encodings: list[tuple[int, bytes, BenchMedia]] = [(self.video_ssrc, b"", media)]
        self.jump_to_keyframe = True  # answer PLI with the next keyframe (False: wait for the natural one)
        self.acked: set[int] = set()  # SSRCs the SFU has reported on: MID/RID no longer needed (as libwebrtc)
        self.rx: SrtpSession | None = None
        self.sent_video = self.sent_audio = self.sent_bytes = 0
        self.plis = 0
        self._want_keyframe = False
        self._keyframes = media.keyframes
        # RFC 6464 level (0..127, -dBov) of the audio packet sent at this loop time: a script of who speaks
        self.level_at: Callable[[float], int] = lambda _now: 30

    def mlines(self) -> list[bsdp.MLine]:
        return [
            bsdp.MLine("audio", "0", "sendonly", self.audio_ssrc),
            bsdp.MLine("video", "1", "sendonly", self.video_ssrc, self.video_rtx_ssrc),
        ]

    def on_connected(self) -> None:
        assert self.keys is not None
        self.rx = SrtpSession(self.keys.profile, self.keys.rx_key, False)

    def start_media(self) -> None:
        """Starts the real-time replay (the bench joins every subscriber first, so joins never compete with
        forwarding; the node's PLI on each new subscription then gets the first frames' keyframe)."""
        if self.keys is not None and not any(getattr(t, "_media", False) for t in self._tasks):
            task = asyncio.create_task(self._run())
            task._media = True  # type: ignore[attr-defined]
            self._tasks.append(task)

    def stop_media(self) -> None:
        """Stops the replay (the connection stays): what it sent is final, for a count of where it went."""
        for task in self._tasks:
            if getattr(task, "_media", False):
                task.cancel()

    def on_media(self, data: bytes) -> None:
        if len(data) < 8 or not 192 <= data[1] <= 223 or self.rx is None:
            return
        self.rtcp_in += 1
        try:
            plain = self.rx.unprotect_rtcp(data)
        except ValueError:
            return
        off = 0
        while off + 4 <= len(plain):
            fmt, pt = plain[off] & 0x1F, plain[off + 1]
            if pt == 206 and fmt in (1, 4):  # PLI / FIR
                self.plis += 1
                self._want_keyframe = True
            elif pt in (200, 201):  # SR / RR: report blocks acknowledge our SSRCs
                first = off + (28 if pt == 200 else 8)
                for b in range(fmt):
                    at = first + 24 * b
                    if at + 4 <= len(plain):
                        self.acked.add(int.from_bytes(plain[at : at + 4], "big"))
            off += 4 * (int.from_bytes(plain[off + 2 : off + 4], "big") + 1)

    async def _run(self) -> None:
        """Frames enter a pacer (like libwebrtc's: audio first and unpaced, video at `pacing_bps` on a 5 ms
        tick, so a 50-packet keyframe leaves over ~150 ms instead of in one burst); pacing_bps=0 sends each frame
        as one burst."""
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.02
        vi = ai = 0  # frames / audio packets scheduled so far (timeline)
        pos = 0  # position in the media's video frames
        seqs = [secrets.randbits(15) for _ in self.encodings]
        seq_a = secrets.randbits(15)
        ts_v0 = secrets.randbits(31)
        ts_a0 = secrets.randbits(31)
        last_sr = 0.0
        nv, na = len(self.media.video), len(self.media.audio)
        queue: list[tuple[int, int, bool, bytes]] = []  # (encoding, ts, marker, payload) waiting for the pacer
        budget = 0.0
        last_tick = t0
        tick = 0.005
        while not self.closed:
            now = loop.time()
            assert self.tx is not None
            ast = abs_send_time(time.time())
            while t0 + ai * 0.02 <= now:  # audio: immediately, never paced
                payload = self.media.audio[ai % na]
                pkt = self.tx.protect(
                    _audio_header(seq_a, (ts_a0 + ai * 960) & 0xFFFFFFFF, self.audio_ssrc, ast, self.level_at(now))
                    + payload
                )
                seq_a = (seq_a + 1) & 0xFFFF
                self._send(pkt)
                self.sent_audio += 1
                self.sent_bytes += len(pkt)
                ai += 1
            while t0 + vi / FPS <= now:  # video frames enter the pacer queue
                if self._want_keyframe:
                    self._want_keyframe = False
                    if self.jump_to_keyframe:
                        pos = next((k for k in self._keyframes if k >= pos), self._keyframes[0])
                ts = (ts_v0 + vi * 3000) & 0xFFFFFFFF
                for e, (_ssrc, _rid, emedia) in enumerate(self.encodings):
                    frame = emedia.video[pos % nv]
                    last = len(frame.payloads) - 1
                    queue.extend((e, ts, j == last, payload) for j, payload in enumerate(frame.payloads))
                pos = (pos + 1) % nv
                vi += 1
            if self.pacing_bps:
                budget = min(budget + (now - last_tick) * self.pacing_bps / 8, self.pacing_bps / 8 * 0.04)
            last_tick = now
            sent = 0
            while queue and (not self.pacing_bps or budget > 0 or sent == 0 and budget > -1500):
                e, ts, marker, payload = queue.pop(0)
                ssrc, rid, _media = self.encodings[e]
                pkt = self.tx.protect(
                    _video_header(seqs[e], ts, ssrc, marker, ast, b"" if ssrc in self.acked else rid) + payload
                )
                seqs[e] = (seqs[e] + 1) & 0xFFFF
                self._send(pkt)
                self.sent_video += 1
                self.sent_bytes += len(pkt)
                budget -= len(pkt)
                sent += 1
            if now - last_sr >= SR_INTERVAL:
                last_sr = now
                ntp = rtcp.ntp_now()
                self.send_rtcp(
                    [
                        rtcp.SenderReport(
                            ssrc=self.video_ssrc,
                            ntp=ntp,
                            rtp_ts=(ts_v0 + int((now - t0) * 90000)) & 0xFFFFFFFF,
                            packet_count=self.sent_video & 0xFFFFFFFF,
                            octet_count=0,
                            reports=[],
                        ),
                        rtcp.SenderReport(
                            ssrc=self.audio_ssrc,
                            ntp=ntp,
                            rtp_ts=(ts_a0 + int((now - t0) * 48000)) & 0xFFFFFFFF,
                            packet_count=self.sent_audio & 0xFFFFFFFF,
                            octet_count=0,
                            reports=[],
                        ),
                    ]
                )
            due = min(t0 + ai * 0.02, t0 + vi / FPS)
            if queue and self.pacing_bps:
                due = min(due, now + tick)
            await asyncio.sleep(max(0.0, due - loop.time()))


# ---------------------------------------------------------------- subscribers


@dataclass
class StreamStats:
    """One SSRC as a subscriber sees it: extended highest sequence number and counts."""

    first: int
    max_ext: int
    received: int = 1
    reordered: int = 0
    duplicates: int = 0
    marks: list[tuple[int, int]] = field(default_factory=list)  # (received, max_ext) snapshots


class Subscriber(BenchPeer):
    """Receives one audio and one video track; never decrypts (the RTP header is clear)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.streams: dict[int, StreamStats] = {}
        self.rr_ssrc = secrets.randbits(32) or 5
        self.media_packets = 0
        self.kinds: dict[int, str] = {}  # ssrc -> "audio" | "video", from the answer
        self.remb_bps: int | None = None  # a receiver estimate to report (a bot "on a slow link"), or none

    def mlines(self) -> list[bsdp.MLine]:
        return [bsdp.MLine("audio", "0", "recvonly"), bsdp.MLine("video", "1", "recvonly")]

    def on_connected(self) -> None:
        self._tasks.append(asyncio.create_task(self._reports()))

    def on_media(self, data: bytes) -> None:
        if len(data) < 12:
            self.other += 1
            return
        if 192 <= data[1] <= 223:
            self.rtcp_in += 1
            return
        self.media_packets += 1
        ssrc = int.from_bytes(data[8:12], "big")
        seq = (data[2] << 8) | data[3]
        st = self.streams.get(ssrc)
        if st is None:
            self.streams[ssrc] = StreamStats(seq, seq)
            return
        st.received += 1
        delta = (seq - st.max_ext) & 0xFFFF
        if delta == 0:
            st.duplicates += 1
        elif delta < 0x8000:
            st.max_ext += delta
        else:
            st.reordered += 1

    def mark(self) -> None:
        for st in self.streams.values():
            st.marks.append((st.received, st.max_ext))

    def window(self, ssrcs: set[int] | None = None) -> tuple[int, int]:
        """(expected, received) between the last two marks, over `ssrcs` (all when None)."""
        expected = received = 0
        for ssrc, st in self.streams.items():
            if (ssrcs is not None and ssrc not in ssrcs) or len(st.marks) < 2:
                continue
            (r0, m0), (r1, m1) = st.marks[-2], st.marks[-1]
            expected += m1 - m0
            received += r1 - r0
        return expected, received

    async def _reports(self) -> None:
        while not self.closed:
            await asyncio.sleep(RR_INTERVAL)
            blocks = [
                rtcp.ReportBlock(
                    ssrc=ssrc,
                    fraction_lost=0,
                    cumulative_lost=0,
                    highest_seq=st.max_ext & 0xFFFFFFFF,
                    jitter=0,
                    lsr=0,
                    dlsr=0,
                )
                for ssrc, st in list(self.streams.items())[:4]
            ]
            packets: list = [rtcp.ReceiverReport(ssrc=self.rr_ssrc, reports=blocks)]
            if self.remb_bps is not None:
                video = [s for s, k in self.kinds.items() if k == "video"]
                packets.append(rtcp.Remb(sender_ssrc=self.rr_ssrc, bitrate=self.remb_bps, ssrcs=video))
            self.send_rtcp(packets)


class SimulcastPublisher(Publisher):
    """A browser-like simulcast sender: one video m-line with RIDs (lowest first), each encoding its own SSRC
    carrying MID + RID; all encodings show the same frame at the same RTP timestamp. Keyframe requests are
    counted but answered by the encodings' regular keyframes (short GOP), so every layer's frame numbers run
    on without jumps — what a switch-continuity test needs."""

    def __init__(self, name: str, layers: list[BenchMedia], rids: tuple[str, ...] = ("q", "h", "f"),
                 pacing_bps: float = 0.0) -> None:
        if len(layers) != len(rids) or len({len(m.video) for m in layers}) != 1:
            raise ValueError("one media per RID, all with the same number of frames")
        super().__init__(name, layers[0], pacing_bps)
        self.rids = rids
        self.encodings = [(secrets.randbits(32) or 10 + i, rid.encode(), m) for i, (rid, m) in enumerate(zip(rids, layers, strict=True))]
        self.jump_to_keyframe = False

    def mlines(self) -> list[bsdp.MLine]:
        return [
            bsdp.MLine("audio", "0", "sendonly", self.audio_ssrc),
            bsdp.MLine("video", "1", "sendonly", rids=self.rids),
        ]
