"""One relay link's engine side: the remote node is one engine peer, keyed by the relay handshake
(residency/relay.py). Sending, each relayed track is one engine subscription of that peer — so the engine's
fan-out, layer switch, NACK/RTX and PLI paths serve the link like any subscriber — announced on the sealed
control channel, and paused until the peer's `need` says a subscriber there takes it (then at the layer the plan,
sfu/allocation/relaying.py, gives it). Receiving, each announced track becomes an engine track published by the
peer, which the node's own subscribers then subscribe to; what they need goes back as this node's `need`.

Only what arrives sealed under this link's keys can add a track here, and only up to `max_tracks`; an SSRC
already in use on the link, an unknown codec or a message of any other kind is refused (RelayRefused), never a
crash. The link does not decide what to relay (that is the plan) nor who the participants are (the node).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from native.constants import CODEC_IDS
from native.interface import EngineControl
from residency.errors import RelayRefused
from residency.relay import RelayChannel, RelayKeys, RelayNeed, RelayTrack

LEVEL_ID = 1  # the audio-level extension's id on the link (kept, so the far node's speaker detection works)
PAYLOAD_TYPES = {"opus": 111, "vp8": 96, "vp9": 98, "h264": 102}  # the link's fixed payload types
CLOCK_RATES = {"opus": 48000}  # every other codec here is video: 90 kHz
MAX_TRACKS = 256  # copies one link may announce (each is an engine track on the receiving node)


class Pool(Protocol):
    """An engine table's free indexes (sfu/node.py IndexPool)."""

    def take(self) -> int: ...
    def give(self, i: int) -> None: ...


@dataclass(frozen=True)
class LocalTrack:
    """A track of this node that may be relayed: who publishes it and its engine track index per layer."""

    participant: str
    kind: str
    codec: str
    indexes: tuple[int, ...]  # engine track index of each layer (one without simulcast)
    level_id: int = 0  # the publisher's audio-level extension id (0: none)
    layers: int = 0  # layers the publisher sends (0: len(indexes)); more for a track relayed in from a third node

    @property
    def announced(self) -> int:
        return self.layers or len(self.indexes)


@dataclass
class Copy:
    """One announced track on the link: its engine subscription and SSRC, the layer it carries (or switches to at
    that layer's next keyframe), and whether it crosses (paused while no far subscriber needs it)."""

    sub: int
    ssrc: int
    layer: int  # rank
    index: int  # the engine track it carries (or switches to): the layer's, or the one standing in for it
    crossing: bool


@dataclass(frozen=True)
class NeedApplied:
    """A `need` from the peer was applied; `unknown` of the tracks it named are not announced on this link."""

    unknown: int


@dataclass(frozen=True)
class CloseAsked:
    """The peer closed its side of the link (its `close`, sealed under this link's keys)."""


@dataclass
class RelayLink:
    engine: EngineControl
    peer: int
    keys: RelayKeys
    tracks: Pool
    subs: Pool
    max_tracks: int = MAX_TRACKS
    channel: RelayChannel = field(init=False)
    sending: dict[str, Copy] = field(default_factory=dict)  # track id -> its copy on the link
    receiving: dict[int, tuple[int, RelayTrack]] = field(default_factory=dict)  # link ssrc -> (track index, what)
    needs: dict[str, int] = field(default_factory=dict)  # what the peer's subscribers need (its last `need`)
    asked: dict[str, int] | None = None  # what this node last told the peer its subscribers need
    _next_ssrc: int = 0x43430000

    def __post_init__(self) -> None:
        self.channel = self.keys.channel()

    @classmethod
    def open(cls, engine: EngineControl, peer: int, keys: RelayKeys, address: tuple[str, int], tracks: Pool,
             subs: Pool, max_tracks: int = MAX_TRACKS) -> RelayLink:
        """The peer in the engine, with the handshake's SRTP keys and the other node's UDP address."""
        engine.add_peer(peer)
        engine.set_peer_address(peer, *address)
        engine.set_peer_srtp(peer, keys.profile, keys.receive, keys.send)
        engine.set_peer_extensions(peer, audio_level_id=LEVEL_ID)
        return cls(engine, peer, keys, tracks, subs, max_tracks)

    # ---- sending: the plan's copies for this remote node ----

    def apply(self, copies: Mapping[str, int], local: Mapping[str, LocalTrack]) -> tuple[list[str], list[tuple[str, int]]]:
        """Announce every track of `local` on the link (the far node learns the track exists: its participants
        can subscribe) and make exactly `copies` (track id -> layer index) cross: a track not in it stays paused in
        the engine, one whose layer changes switches at that layer's next keyframe. Returns the sealed messages
        (what started and stopped) for the relay's signalling connection, and the copies that just began to
        cross or changed layer — each wants a keyframe now."""
        out: list[str] = []
        woken: list[tuple[str, int]] = []
        for track_id in sorted(set(self.sending) - set(local)):
            gone = self.sending.pop(track_id)
            self.engine.remove_subscription(gone.sub)
            self.subs.give(gone.sub)
            out.append(self.channel.seal({"type": "untrack", "ssrc": gone.ssrc}))
        for track_id in sorted(local):
            t = local[track_id]
            want = copies.get(track_id)
            if want is not None:
                want = min(max(want, 0), len(t.indexes) - 1)
            copy = self.sending.get(track_id)
            if copy is None:
                if len(self.sending) >= self.max_tracks or t.codec not in PAYLOAD_TYPES:
                    continue  # the far node would refuse it
                sub = self.subs.take()
                self._next_ssrc += 1
                copy = Copy(sub, self._next_ssrc, want or 0, t.indexes[want or 0], False)
                ext_map = bytes(t.level_id) + bytes([LEVEL_ID]) if t.level_id else b""
                self.engine.add_subscription(sub, copy.index, self.peer, copy.ssrc, PAYLOAD_TYPES[t.codec],
                                             ext_map=ext_map)
                self.engine.set_paused(sub, True)  # nothing crosses before a far subscriber needs it
                self.sending[track_id] = copy
                out.append(self.channel.seal(RelayTrack(track_id, t.participant, t.kind, t.codec, copy.ssrc,
                                                        tuple(range(min(t.announced, 3)))).to_message()))
            if want is None:
                if copy.crossing:
                    self.engine.set_paused(copy.sub, True)
                    copy.crossing = False
                continue
            if want != copy.layer or t.indexes[want] != copy.index:  # (or the layer itself was learned since)
                self.engine.switch_layer(copy.sub, t.indexes[want])  # at that layer's keyframe, seamlessly
                copy.layer, copy.index = want, t.indexes[want]
                woken.append((track_id, want))
            if not copy.crossing:
                self.engine.set_paused(copy.sub, False)  # video resumes at a keyframe
                copy.crossing = True
                if (track_id, want) not in woken:
                    woken.append((track_id, want))
        return out, woken

    def ask(self, needs: Mapping[str, int]) -> str | None:
        """The sealed `need` telling the peer what this node's subscribers take of its tracks, or None when that
        is what it was told last."""
        if needs == self.asked:
            return None
        self.asked = dict(needs)
        return self.channel.seal(RelayNeed(needs).to_message())

    def copy_of(self, ssrc: int) -> tuple[str, int, int] | None:
        """(track id, layer, engine subscription) of the copy the link sends with `ssrc`: where feedback from the
        peer (a PLI for that SSRC, a NACK of its packets) belongs — the publisher's track at the layer the copy
        carries or switches to, or this very subscription's retransmission buffer. None for an SSRC this link
        does not send (a stale or forged one)."""
        for track_id, copy in self.sending.items():
            if copy.ssrc == ssrc:
                return track_id, copy.layer, copy.sub
        return None

    # ---- receiving: what the peer announces ----

    def farewell(self) -> str:
        """The sealed `close`: this node is closing its side (the peer closes its own at once)."""
        return self.channel.seal({"type": "close"})

    def receive(self, sealed: object) -> tuple[str, RelayTrack, int] | NeedApplied | CloseAsked:
        """Apply one sealed message from the peer: ("track", what, engine track index) when a copy starts,
        ("untrack", what, index) when it stops; for a `need`, how many of the tracks it names this link does not
        announce (left out: the peer can ask only for this meeting's tracks that it was told of); CloseAsked for
        its `close` (the caller closes the link). RelayRefused for anything forged, replayed or malformed."""
        message: dict[str, Any] = self.channel.open(sealed)
        kind = message.get("type")
        if kind == "need":
            need = RelayNeed.from_message(message)
            self.needs = {t: x for t, x in need.tracks.items() if t in self.sending}
            return NeedApplied(len(need.tracks) - len(self.needs))
        if kind == "close":
            return CloseAsked()
        if kind == "untrack":
            ssrc = message.get("ssrc")
            if not isinstance(ssrc, int) or ssrc not in self.receiving:
                raise RelayRefused("relay_message_malformed", "untrack of an SSRC this link did not announce")
            index, what = self.receiving.pop(ssrc)
            self.engine.remove_track(index)
            self.tracks.give(index)
            return "untrack", what, index
        if kind != "track":
            raise RelayRefused("relay_message_malformed", f"unknown relay message type {kind!r}")
        what = RelayTrack.from_message(message)
        if what.ssrc in self.receiving:
            raise RelayRefused("relay_message_malformed", f"SSRC {what.ssrc} is already relayed on this link")
        if len(self.receiving) >= self.max_tracks:
            raise RelayRefused("relay_too_many_tracks", f"a relay link carries at most {self.max_tracks} tracks")
        codec = CODEC_IDS.get(what.codec)
        if codec is None or what.codec not in PAYLOAD_TYPES:
            raise RelayRefused("relay_message_malformed", f"codec {what.codec!r} is not relayed")
        index = self.tracks.take()
        self.engine.add_track(index, self.peer, what.ssrc, codec, CLOCK_RATES.get(what.codec, 90000))
        self.receiving[what.ssrc] = (index, what)
        return "track", what, index

    def close(self) -> None:
        """Every engine entry of the link removed (the peer node died, or the meeting left it)."""
        for copy in self.sending.values():
            self.engine.remove_subscription(copy.sub)
            self.subs.give(copy.sub)
        for index, _ in self.receiving.values():
            self.engine.remove_track(index)
            self.tracks.give(index)
        self.sending.clear()
        self.receiving.clear()
        self.needs.clear()
        self.engine.remove_peer(self.peer)
