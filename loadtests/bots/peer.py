"""A participant bot built on aiortc: joins a node over its WebSocket, publishes pre-encoded media (no
encoding per run), subscribes to every track in the room and decodes what it receives with av (aiortc's
receiver). It speaks docs/protocol.md exactly as the browser client does.

ICE is restricted to loopback so test traffic never leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import aioice.stun
import websockets
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import RtpPacket

from loadtests.bots.recycling import rebind, recyclable
from loadtests.media import read_frame_number
from sfu import presence

log = logging.getLogger("castellan.bot")


def _loopback_only(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    return ["127.0.0.1"]


aioice.ice.get_host_addresses = _loopback_only  # the network rule: bots only ever use loopback

_register_rtp_receiver = RTCDtlsTransport._register_rtp_receiver


def _register_with_rtx(self: RTCDtlsTransport, receiver: Any, parameters: Any) -> None:
    """Routes a receiver's RTX SSRCs (the answer's `a=ssrc-group:FID`) to it, as browsers do. aiortc registers
    only the media SSRCs and routes anything else by payload type, which is ambiguous as soon as two video
    m-lines share the RTX payload type: it then dropped every retransmission, and NACK repaired nothing for a
    bot receiving more than one video (found by the soak, issue 18)."""
    _register_rtp_receiver(self, receiver, parameters)
    if any(encoding.ssrc for encoding in parameters.encodings):
        receiver._castellan_announced = True  # its stream's SSRC came in an answer (see _route_announced)
    for encoding in parameters.encodings:
        if encoding.rtx is not None:
            self._rtp_router.ssrc_table[encoding.rtx.ssrc] = receiver


RTCDtlsTransport._register_rtp_receiver = _register_with_rtx  # type: ignore[method-assign]

CONSENT_TIMEOUT = 30.0  # RFC 7675 §5.1: consent expires 30 s after the last authenticated response
CONSENT_CHECK_RETRANSMISSIONS = 2  # each check waits 0.5 + 1 + 2 s for its answer, as a STUN transaction does


async def _query_consent_rfc7675(self: aioice.ice.Connection) -> None:
    """Consent freshness as browsers do it (RFC 7675): a check every 4-6 s, each a STUN transaction with its
    retransmissions, and consent lost only when no check was answered for CONSENT_TIMEOUT seconds.

    aioice instead gives each check one send and 0.5 s, and closes after six such misses in a row: a bots'
    process whose event loop runs late by half a second six times in 30 s (ten aiortc participants on a shared
    2-core machine, beside the nodes they test) dropped its own peer connections although the node answered
    every check within 0.33 s (captured on loopback during the soak, issue 18). The node's side of consent is
    unchanged and still tested: it pauses media to a peer whose checks stop."""
    assert self.remote_password is not None
    key = self.remote_password.encode("utf8")
    last_answer = time.monotonic()
    pending: set[asyncio.Task[None]] = set()

    async def check(pair: Any) -> None:
        nonlocal last_answer
        request = self.build_request(pair, nominate=False)
        with contextlib.suppress(aioice.stun.TransactionError, ConnectionError, OSError):
            await pair.protocol.request(request, pair.remote_addr, integrity_key=key,
                                        retransmissions=CONSENT_CHECK_RETRANSMISSIONS)
            last_answer = time.monotonic()

    try:
        while True:
            await asyncio.sleep(aioice.ice.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
            if time.monotonic() - last_answer > CONSENT_TIMEOUT:
                log.info("consent to send expired: no check answered for %.0f s", time.monotonic() - last_answer)
                self._query_consent_task = None
                await self.close()
                return
            for pair in list(self._nominated.values()):
                task = asyncio.create_task(check(pair))
                pending.add(task)
                task.add_done_callback(pending.discard)
    finally:
        for task in pending:
            task.cancel()


aioice.ice.Connection.query_consent = _query_consent_rfc7675  # type: ignore[method-assign]

_route_rtp = RtpRouter.route_rtp


def _route_announced(self: RtpRouter, packet: RtpPacket) -> Any:
    """Never hands a stream whose SSRC is not (or no longer) registered to a receiver that has SSRCs announced
    of its own: it is never that receiver's stream.

    aiortc routes an RTP packet of an unknown SSRC to the one receiver registered for its payload type, and
    keeps routing that SSRC there. The node announces every stream it sends in its answer (`a=ssrc`) and starts
    sending a new subscription as soon as it answered, so a new track's first packets can beat the bot's
    setRemoteDescription: its m-line is not registered yet, and when the bot had one video receiver started (the
    track it replaces, or another participant's), that receiver got them. Its decoder got the wrong stream, and
    its NACK bookkeeping, which follows sequence numbers whatever the SSRC, took the jump to the other stream's
    numbers for a hole: 128 'lost' packets (aiortc's RTP_HISTORY_SIZE) each time, never repaired (the soak,
    after its publisher restart and its drain). The same happens while a bot closes: aiortc stops its
    transceivers one by one, and the streams of those stopped first went to the last one still registered.
    Such a packet is dropped instead, as a browser cannot demux it by payload type either (every video m-line
    has the same ones); once the answer is applied, a new SSRC routes to its own receiver."""
    if packet.ssrc not in self.ssrc_table:
        owners = self.payload_type_table.get(packet.payload_type, set())
        if len(owners) == 1 and getattr(next(iter(owners)), "_castellan_announced", False):
            return None
    return _route_rtp(self, packet)


RtpRouter.route_rtp = _route_announced  # type: ignore[method-assign]


@dataclass
class ReceivedTrack:
    track_id: str
    kind: str
    frames: int = 0
    numbers: list[int] = field(default_factory=list)
    errors: int = 0


class Bot:
    def __init__(self, url: str, token: str, name: str = "bot", read_numbers: bool = True) -> None:
        self.url = url
        self.token = token
        self.name = name
        self.read_numbers = read_numbers
        # No STUN server: the node is ICE-lite with host candidates, and the network rule allows loopback only
        # (aiortc's default, stun.l.google.com, is a lookup leaving the test's networks). One transport for every
        # m-line, as browsers bundle: with aiortc's default policy (balanced), a second video m-line created
        # before the first answer stays on the video transport the answer's BUNDLE closes, and its stream,
        # never registered, was either dropped or handed to the first video receiver (a capture bot saw Alice's
        # video only, or both mixed in one decoder).
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.ws: Any = None
        self.joined: dict[str, Any] = {}
        self.tracks: dict[str, dict[str, Any]] = {}  # remote track id -> description
        self.participants: dict[str, dict[str, Any]] = {}  # the others in the room: snapshot + presence batches
        self.mid_to_track: dict[str, str] = {}
        self.received: dict[str, ReceivedTrack] = {}
        self.messages: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self._answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self._negotiating = asyncio.Lock()
        self._renegotiate = asyncio.Event()
        self.players: list[MediaPlayer] = []
        self.drop_incoming: float = 0.0  # fraction of incoming media datagrams to drop (loss injection)
        self.recycle = False  # reuse inactive receive m-lines for new tracks, as browsers do (recycling.py)
        self.recycled = 0

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.create_task(self._consume(track)))

    # ------------------------------------------------------------------ signalling

    async def connect(self) -> dict[str, Any]:
        self.ws = await websockets.connect(self.url, max_size=2**20)
        await self.ws.send(json.dumps({"type": "join", "token": self.token}))
        msg = json.loads(await self.ws.recv())
        if msg.get("type") != "joined":
            raise RuntimeError(f"join refused: {msg}")
        self.joined = msg
        self.participants = {p["id"]: p for p in msg.get("participants", [])}
        for t in msg["tracks"]:
            self.tracks[t["id"]] = t
        self._tasks.append(asyncio.create_task(self._reader()))
        self._tasks.append(asyncio.create_task(self._negotiator()))
        self._tasks.append(asyncio.create_task(self._renack()))
        return msg

    async def _reader(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                msg = json.loads(raw)
                self.messages.append(msg)
                kind = msg.get("type")
                if kind == "answer":
                    await self._answers.put(msg)
                elif kind in ("presence", "participant_joined", "participant_left"):
                    presence.apply(self.participants, msg, self.joined.get("participant"))
                elif kind == "track_published":
                    self.tracks[msg["track"]["id"]] = msg["track"]
                    self._renegotiate.set()
                elif kind == "track_unpublished":
                    self.tracks.pop(msg["track"], None)
                    self._renegotiate.set()
                elif kind == "error":
                    self.errors.append(msg)
                    await self._answers.put(msg)

    async def publish(self, video: str | None = None, audio: str | None = None) -> None:
        """Publishes pre-encoded files (passed through to RTP packetization, never re-encoded). The video codec
        offered is the file's, so the node can only pick what the packets really are."""
        if video:
            player = MediaPlayer(video, decode=False)
            self.players.append(player)
            assert player.video is not None, f"{video} has no video stream"
            tr = self.pc.addTransceiver(player.video, direction="sendonly")
            codec = "video/H264" if video.endswith((".ts", ".h264")) else "video/VP8"
            caps = RTCRtpSender.getCapabilities("video").codecs
            tr.setCodecPreferences([c for c in caps if c.mimeType in (codec, "video/rtx")])
        if audio:
            player = MediaPlayer(audio, decode=False)
            self.players.append(player)
            assert player.audio is not None, f"{audio} has no audio stream"
            self.pc.addTransceiver(player.audio, direction="sendonly")
        await self.negotiate()

    async def negotiate(self) -> None:
        async with self._negotiating:
            subscribed = set(self.mid_to_track.values())
            reused: set[Any] = set()
            for tid, t in self.tracks.items():
                if tid not in subscribed:
                    tr = (recyclable(self.pc.getTransceivers(), t["kind"], set(self.tracks), reused)
                          if self.recycle else None)
                    if tr is not None:
                        reused.add(tr)
                        tr.direction = "recvonly"
                    else:
                        tr = self.pc.addTransceiver(t["kind"], direction="recvonly")
                    tr._castellan_track = tid  # type: ignore[attr-defined]
            for tr in self.pc.getTransceivers():
                gone = getattr(tr, "_castellan_track", None)
                if gone is not None and gone not in self.tracks and tr.direction != "inactive":
                    tr.direction = "inactive"
            offer = await self.pc.createOffer()
            await self.pc.setLocalDescription(offer)
            mapping: dict[str, str] = {}
            for tr in self.pc.getTransceivers():
                mapped = getattr(tr, "_castellan_track", None)
                if mapped is not None and mapped in self.tracks and tr.mid is not None:
                    mapping[tr.mid] = mapped
            self.mid_to_track = mapping
            sdp = self.shape_offer(self.pc.localDescription.sdp)
            await self.ws.send(json.dumps({"type": "offer", "sdp": sdp, "subscriptions": mapping}))
            msg = await asyncio.wait_for(self._answers.get(), 10)
            if msg.get("type") != "answer":
                raise RuntimeError(f"offer refused: {msg}")
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=self.shape_answer(msg["sdp"]), type="answer"))
            for tr in reused:
                if rebind(tr, msg["sdp"], self.nack_generator):
                    self.recycled += 1

    def nack_generator(self) -> Any:
        """A recycled video receiver's NACK bookkeeping (subclasses count with their own)."""
        return NackGenerator()

    def shape_offer(self, sdp: str) -> str:
        """The offer as sent; subclasses imitate other browsers' offers here."""
        return sdp

    def shape_answer(self, sdp: str) -> str:
        """The answer as applied; subclasses put a network in between here (a NAT's address for the node's)."""
        return sdp

    async def _negotiator(self) -> None:
        while True:
            await self._renegotiate.wait()
            await asyncio.sleep(0.05)  # coalesce bursts of track announcements
            self._renegotiate.clear()
            try:
                await self.negotiate()
            except Exception:  # noqa: BLE001
                log.exception("%s: renegotiation failed", self.name)

    # ------------------------------------------------------------------ media

    async def _renack(self, interval: float = 0.1, tries: int = 10) -> None:
        """Asks again for packets still missing, every `interval`, up to `tries` times each — as browsers do
        (libwebrtc repeats a NACK every RTT). aiortc sends a NACK only when a new gap appears, so a lost
        retransmission would otherwise stay lost until the next loss, and its jitter buffer, which hands out one
        frame per arriving packet, never catches up with the frames held behind the hole."""
        asked: dict[int, int] = {}
        while True:
            await asyncio.sleep(interval)
            for tr in self.pc.getTransceivers():
                receiver = tr.receiver
                gen = getattr(receiver, "_RTCRtpReceiver__nack_generator", None)
                if gen is None or not gen.missing:
                    continue
                rtx = getattr(receiver, "_RTCRtpReceiver__rtx_ssrc", {})
                ssrcs = [s for s in getattr(receiver, "_RTCRtpReceiver__active_ssrc", {}) if s not in rtx]
                lost = sorted(seq for seq in gen.missing if asked.get(seq, 0) < tries)
                if not ssrcs or not lost:
                    continue
                for seq in lost:
                    asked[seq] = asked.get(seq, 0) + 1
                with contextlib.suppress(Exception):
                    await receiver._send_rtcp_nack(ssrcs[0], lost)
            if len(asked) > 4096:
                asked.clear()

    async def _consume(self, track: Any) -> None:
        mid = next((tr.mid for tr in self.pc.getTransceivers() if tr.receiver.track is track), None)
        tid = self.mid_to_track.get(mid or "", f"mid:{mid}")
        rec = self.received.setdefault(tid, ReceivedTrack(tid, track.kind))
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if self.recycle and self.mid_to_track.get(mid or "", tid) != tid:  # the m-line now carries another track
                tid = self.mid_to_track[mid or ""]
                rec = self.received.setdefault(tid, ReceivedTrack(tid, track.kind))
            rec.frames += 1
            if track.kind == "video" and self.read_numbers:
                try:
                    rec.numbers.append(read_frame_number(frame.to_ndarray(format="rgb24")))
                except Exception:  # noqa: BLE001
                    rec.errors += 1

    def video(self) -> list[ReceivedTrack]:
        return [r for r in self.received.values() if r.kind == "video"]

    def audio(self) -> list[ReceivedTrack]:
        return [r for r in self.received.values() if r.kind == "audio"]

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for player in self.players:
            for tr in (player.audio, player.video):
                if tr is not None:
                    tr.stop()
        with contextlib.suppress(Exception):
            await self.ws.close()
        await self.pc.close()
