"""A soak participant: one person in the meeting across all the sessions they have during the run.

Each session is a `SoakBot` (the aiortc bot of loadtests/bots, publishing looped pre-encoded VP8+Opus and decoding
everything it receives) joined through the control plane exactly as the browser client joins: POST /v1/join with
the link and password, then the node named in the answer with the short-lived token. When a node refuses with
`node_draining` or `node_full`, the participant asks the control plane again (join.js does the same).

What a session received is folded into the participant's totals when it ends, so frames and RTP losses add up over
leaves, re-joins, the publisher restart and the move off a drained node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import websockets
from aiortc import RTCRtpSender
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import RtpPacket

from loadtests.bots.loss import inject_loss
from loadtests.bots.netbot import NetBot, join
from loadtests.soak.media import LoopedTrack, clip

log = logging.getLogger("castellan.soak")

RETRYABLE = ("node_draining", "node_full")


class CountingNacks(NackGenerator):
    """aiortc's NACK bookkeeping for one video receiver, counting what it does: sequence numbers found missing
    (`gaps`) and those that arrived afterwards, retransmitted (`repaired`). aiortc's inbound-rtp statistics
    cannot tell this: they count retransmissions on the RTX stream, never against the hole they fill."""

    def __init__(self) -> None:
        super().__init__()
        self.gaps = 0
        self.repaired = 0

    def add(self, packet: RtpPacket) -> bool:
        before = len(self.missing)
        late = packet.sequence_number in self.missing
        missed = super().add(packet)
        if late:
            self.repaired += 1
        elif missed:
            self.gaps += len(self.missing) - before
        return missed


class SoakBot(NetBot):
    """A NetBot that publishes looped media (`LoopedTrack`) so it can publish for an hour."""

    def __init__(self, url: str, token: str, name: str) -> None:
        super().__init__(url, token, name, read_numbers=False)
        self.recycle = True  # a browser's m-lines: the staying bots' offers must not grow with every publisher
        self.looped: list[LoopedTrack] = []
        self.loss_task: asyncio.Task[None] | None = None
        self.nacks: list[CountingNacks] = []
        self.pc_down_at: float | None = None  # when its peer connection failed or closed on its own
        self.closing = False

        @self.pc.on("track")
        def _count_nacks(track: Any) -> None:
            for tr in self.pc.getTransceivers():
                receiver = tr.receiver
                if receiver.track is track and track.kind == "video":
                    counting = CountingNacks()
                    receiver._RTCRtpReceiver__nack_generator = counting  # type: ignore[attr-defined]
                    self.nacks.append(counting)

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            # a bot never restarts ICE: a transport that fails is this session's end of media, so say when and why
            state = self.pc.connectionState
            if state in ("failed", "closed") and self.pc_down_at is None and not self.closing:
                self.pc_down_at = time.monotonic()
                ice = self.pc.iceConnectionState
                dtls = {tr.receiver.transport.state for tr in self.pc.getTransceivers()
                        if tr.receiver.transport is not None}
                log.warning("%s: peer connection %s (ICE %s, DTLS %s) while in the meeting", self.name, state, ice,
                            sorted(dtls))

    def nack_generator(self) -> CountingNacks:
        counting = CountingNacks()
        self.nacks.append(counting)
        return counting

    async def publish_looped(self, audio: bool = True) -> None:
        video = LoopedTrack(clip("video"))
        tr = self.pc.addTransceiver(video, direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        tr.setCodecPreferences([c for c in caps if c.mimeType in ("video/VP8", "video/rtx")])
        self.looped.append(video)
        if audio:
            sound = LoopedTrack(clip("audio"))
            self.pc.addTransceiver(sound, direction="sendonly")
            self.looped.append(sound)
        await self.negotiate()

    def drain_received(self) -> bool:
        return any(m.get("type") == "drain" for m in self.messages)

    def remote_video_tracks(self) -> set[str]:
        """Video tracks of the others, as announced by the node (joined snapshot + track_published)."""
        me = self.joined.get("participant")
        return {tid for tid, t in self.tracks.items() if t.get("kind") == "video" and t.get("participant") != me}

    def frames_by_track(self) -> dict[str, int]:
        return {r.track_id: r.frames for r in self.video()}

    async def rtp_counts(self) -> Rtp:
        """This session's inbound RTP: video holes and their repair (from `CountingNacks`), packets per stream
        from aiortc's per-SSRC statistics (its getStats() reports one stream per receiver: the RTX stream hides
        the media stream), datagrams dropped by the injected loss."""
        out = Rtp(dropped=self.injected_drops())
        out.video_gaps = sum(n.gaps for n in self.nacks)
        out.video_repaired = sum(n.repaired for n in self.nacks)
        for tr in self.pc.getTransceivers():
            receiver = tr.receiver
            streams = getattr(receiver, "_RTCRtpReceiver__remote_streams", {})
            rtx = set(getattr(receiver, "_RTCRtpReceiver__rtx_ssrc", {}))
            kind = getattr(receiver, "_RTCRtpReceiver__kind", tr.kind)
            for ssrc, stream in list(streams.items()):
                if kind == "video":
                    if ssrc in rtx:
                        out.video_rtx += int(stream.packets_received)
                    else:
                        out.video_rx += int(stream.packets_received)
                else:
                    out.audio_rx += int(stream.packets_received)
                    out.audio_lost += max(0, int(stream.packets_lost))
        return out

    def injected_drops(self) -> int:
        for tr in self.pc.getTransceivers():
            with contextlib.suppress(Exception):
                return int(getattr(tr.receiver.transport.transport._connection, "_castellan_dropped", 0))
        return 0

    async def close(self) -> None:
        self.closing = True
        for t in self.looped:
            t.stop()
        await super().close()


@dataclass
class Rtp:
    """Inbound RTP. Video: media packets received, holes found (sequence numbers missing), holes repaired by a
    retransmission (NACK/RTX), retransmissions received. Audio (never retransmitted: Opus conceals): received
    and lost. Datagrams the injected loss dropped before aiortc saw them."""

    video_rx: int = 0
    video_gaps: int = 0
    video_repaired: int = 0
    video_rtx: int = 0
    audio_rx: int = 0
    audio_lost: int = 0
    dropped: int = 0

    def __add__(self, o: Rtp) -> Rtp:
        return Rtp(self.video_rx + o.video_rx, self.video_gaps + o.video_gaps, self.video_repaired + o.video_repaired,
                   self.video_rtx + o.video_rtx, self.audio_rx + o.audio_rx, self.audio_lost + o.audio_lost,
                   self.dropped + o.dropped)

    @staticmethod
    def share(lost: int, received: int) -> float:
        return 100.0 * lost / (received + lost) if received + lost else 0.0

    @property
    def video_lost(self) -> int:
        """Video packets never repaired."""
        return max(0, self.video_gaps - self.video_repaired)

    @property
    def video_residual(self) -> float:
        return self.share(self.video_lost, self.video_rx)

    @property
    def audio_residual(self) -> float:
        return self.share(self.audio_lost, self.audio_rx)

    @property
    def injected(self) -> float:
        """Share of all inbound RTP the injection dropped (%)."""
        return self.share(self.dropped, self.video_rx + self.video_rtx + self.audio_rx)


@dataclass
class Session:
    node: str
    participant_id: str
    joined_at: float
    left_at: float | None = None
    how: str = ""  # why it ended: left, crashed, moved (drain), end


@dataclass
class StaleToken:
    age: float
    code: str


@dataclass
class Participant:
    name: str
    role: str  # "pub" | "sub"
    cp_url: str
    link: dict[str, str]
    loss: float = 0.0  # share of incoming RTP this participant drops (injected loss)
    audio: bool = True
    bot: SoakBot | None = None
    node: str = ""
    ws_url: str = ""
    token: str = ""
    token_at: float = 0.0
    sessions: list[Session] = field(default_factory=list)
    frames_done: int = 0  # video frames decoded by ended sessions
    rtp_done: Rtp = field(default_factory=Rtp)  # what ended sessions received
    joins: int = 0  # successful POST /v1/join answers
    asks: int = 0  # POST /v1/join requests, all answers
    refusals: dict[str, int] = field(default_factory=dict)  # node/control-plane refusals by code
    stale_tokens: list[StaleToken] = field(default_factory=list)

    # -- joining ---------------------------------------------------------------------------------------------
    async def enter(self, timeout: float = 60.0) -> SoakBot:
        """Join through the control plane, retrying retryable refusals; publish (pub) and inject loss if asked."""
        end = time.monotonic() + timeout
        while True:
            self.asks += 1
            try:
                status, body, _ = await join(self.cp_url, self.link["link"], self.name, self.link["password"])
            except Exception as e:  # noqa: BLE001 - e.g. connection refused: ask again, like a client
                status, body = 0, {"error": type(e).__name__}
            if status == 200:
                self.joins += 1
                bot = SoakBot(body["ws_url"], body["token"], self.name)
                try:
                    await bot.connect()
                except RuntimeError as e:  # the node answered `error` to `join`
                    code = _refusal_code(e)
                    self.refusals[code] = self.refusals.get(code, 0) + 1
                    await bot.close()
                    if code not in RETRYABLE:
                        raise
                except (OSError, websockets.WebSocketException) as e:  # the node went away: ask again
                    code = f"unreachable ({type(e).__name__})"
                    self.refusals[code] = self.refusals.get(code, 0) + 1
                    await bot.close()
                else:
                    self.token, self.token_at, self.ws_url = body["token"], time.monotonic(), body["ws_url"]
                    self.node = body["node"]
                    break
            else:
                code = str(body.get("error", status))
                self.refusals[code] = self.refusals.get(code, 0) + 1
            if time.monotonic() > end:
                raise RuntimeError(f"{self.name}: could not join within {timeout:g} s; refusals {self.refusals}")
            await asyncio.sleep(0.5)
        self.sessions.append(Session(self.node, str(bot.joined.get("participant", "")), time.monotonic()))
        if self.role == "pub":
            await bot.publish_looped(audio=self.audio)
        if self.loss > 0:
            bot.loss_task = asyncio.create_task(self._inject_when_ready(bot))
        return bot

    async def join(self, timeout: float = 60.0) -> None:
        self.bot = await self.enter(timeout)

    async def _inject_when_ready(self, bot: SoakBot) -> None:
        for _ in range(600):
            for tr in bot.pc.getTransceivers():
                with contextlib.suppress(Exception):
                    if tr.receiver.transport.transport._connection is not None:
                        inject_loss(bot.pc, self.loss, seed=hash(self.name) & 0xFFFF)
                        return
            await asyncio.sleep(0.1)

    # -- leaving ---------------------------------------------------------------------------------------------
    async def _fold(self, bot: SoakBot, how: str) -> None:
        bot.closing = True  # from here on its peer connection is expected to close
        self.rtp_done = self.rtp_done + await bot.rtp_counts()
        self.frames_done += bot.video_frames()
        for s in reversed(self.sessions):
            if s.left_at is None:
                s.left_at, s.how = time.monotonic(), how
                break

    async def _close(self, bot: SoakBot) -> None:
        if bot.loss_task is not None:
            bot.loss_task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bot.close(), 10)

    async def leave(self, how: str = "left") -> None:
        """Says goodbye (`leave`), then closes."""
        bot, self.bot = self.bot, None
        if bot is None:
            return
        await self._fold(bot, how)
        with contextlib.suppress(Exception):
            await bot.send({"type": "leave"})
            await asyncio.sleep(0.2)
        await self._close(bot)

    async def crash(self) -> None:
        """Goes away without a goodbye, as a restarting app or a killed tab does."""
        bot, self.bot = self.bot, None
        if bot is None:
            return
        await self._fold(bot, "crashed")
        await self._close(bot)

    async def move(self, timeout: float = 120.0) -> float:
        """The node said `drain`: ask the control plane for a new placement, join there, then leave the old node
        (make before break). Returns the seconds it took to be in on the new node."""
        start = time.monotonic()
        old = self.bot
        new = await self.enter(timeout)
        self.bot = new
        if old is not None:
            await self._fold(old, "moved")
            with contextlib.suppress(Exception):
                await old.send({"type": "leave"})
            await self._close(old)
        return time.monotonic() - start

    # -- tokens ----------------------------------------------------------------------------------------------
    async def present_stale_token(self, older_than: float) -> StaleToken | None:
        """Presents this participant's last join token again, to the node it was issued for, once it is older
        than `older_than` seconds: a node must refuse it (`token_expired`). None when it is not old enough yet."""
        age = time.monotonic() - self.token_at
        if not self.token or age < older_than:
            return None
        try:
            async with websockets.connect(self.ws_url, open_timeout=5, close_timeout=2) as ws:
                await ws.send(json.dumps({"type": "join", "token": self.token}))
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
            code = str(msg.get("code") or msg.get("type"))
        except Exception as e:  # noqa: BLE001 - node gone: nothing to present the token to
            code = f"unreachable ({type(e).__name__})"
        result = StaleToken(age, code)
        self.stale_tokens.append(result)
        return result

    # -- what it received --------------------------------------------------------------------------------------
    def frames(self) -> int:
        return self.frames_done + (self.bot.video_frames() if self.bot else 0)

    def seconds_in(self) -> float:
        """Time spent in the meeting over all sessions."""
        now = time.monotonic()
        return sum((s.left_at or now) - s.joined_at for s in self.sessions)

    async def rtp(self) -> Rtp:
        """Inbound RTP over every session so far."""
        return self.rtp_done + (await self.bot.rtp_counts() if self.bot is not None else Rtp())


def _refusal_code(e: Exception) -> str:
    text = str(e)
    for code in ("node_draining", "node_full", "token_expired", "token_replayed", "wrong_region"):
        if code in text:
            return code
    return text[:60]
