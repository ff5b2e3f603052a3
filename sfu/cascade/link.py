"""One relay link's engine side: the remote node is one engine peer, keyed by the relay handshake
(residency/relay.py). Sending, each relayed copy (track, layer) is one engine subscription of that peer —
so the engine's fan-out, layer filter, NACK/RTX and PLI paths serve the link like any subscriber — announced
on the sealed control channel. Receiving, each announced copy becomes an engine track published by the peer,
which the node's own subscribers then subscribe to.

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
from residency.relay import RelayChannel, RelayKeys, RelayTrack

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


@dataclass
class RelayLink:
    engine: EngineControl
    peer: int
    keys: RelayKeys
    tracks: Pool
    subs: Pool
    max_tracks: int = MAX_TRACKS
    channel: RelayChannel = field(init=False)
    sending: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)  # copy -> (sub index, ssrc)
    receiving: dict[int, tuple[int, RelayTrack]] = field(default_factory=dict)  # link ssrc -> (track index, what)
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

    def apply(self, copies: set[tuple[str, int]], local: Mapping[str, LocalTrack]) -> list[str]:
        """Make the engine send exactly `copies` ((track id, layer)) to the peer; returns the sealed messages
        announcing what started and stopped, to send on the relay's signalling connection."""
        out: list[str] = []
        for copy in sorted(set(self.sending) - copies):
            sub, ssrc = self.sending.pop(copy)
            self.engine.remove_subscription(sub)
            self.subs.give(sub)
            out.append(self.channel.seal({"type": "untrack", "ssrc": ssrc}))
        for track_id, layer in sorted(copies - set(self.sending)):
            t = local.get(track_id)
            if t is None or not 0 <= layer < len(t.indexes) or t.codec not in PAYLOAD_TYPES:
                continue  # the plan lags a track that just left: nothing to send
            sub = self.subs.take()
            self._next_ssrc += 1
            ssrc = self._next_ssrc
            ext_map = bytes(t.level_id) + bytes([LEVEL_ID]) if t.level_id else b""
            self.engine.add_subscription(sub, t.indexes[layer], self.peer, ssrc, PAYLOAD_TYPES[t.codec],
                                         ext_map=ext_map)
            self.sending[(track_id, layer)] = (sub, ssrc)
            out.append(self.channel.seal(RelayTrack(track_id, t.participant, t.kind, t.codec, ssrc,
                                                    (layer,)).to_message()))
        return out

    def copy_of(self, ssrc: int) -> tuple[str, int, int] | None:
        """(track id, layer, engine subscription) of the copy the link sends with `ssrc`: where feedback from the
        peer (a PLI for that SSRC, a NACK of its packets) belongs — the publisher's track, or this very
        subscription's retransmission buffer. None for an SSRC this link does not send (a stale or forged one)."""
        for (track_id, layer), (sub, sent_ssrc) in self.sending.items():
            if sent_ssrc == ssrc:
                return track_id, layer, sub
        return None

    # ---- receiving: what the peer announces ----

    def receive(self, sealed: object) -> tuple[str, RelayTrack, int]:
        """Apply one sealed message from the peer: ("track", what, engine track index) when a copy starts,
        ("untrack", what, index) when it stops. RelayRefused for anything forged, replayed or malformed."""
        message: dict[str, Any] = self.channel.open(sealed)
        kind = message.get("type")
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
        for sub, _ in self.sending.values():
            self.engine.remove_subscription(sub)
            self.subs.give(sub)
        for index, _ in self.receiving.values():
            self.engine.remove_track(index)
            self.tracks.give(index)
        self.sending.clear()
        self.receiving.clear()
        self.engine.remove_peer(self.peer)
