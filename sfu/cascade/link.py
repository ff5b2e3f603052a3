"""One relay link's engine side: the remote node is one engine peer, keyed by the relay handshake
(residency/relay.py), and the link carries every meeting the two nodes share (one engine peer per remote node:
the engine knows a peer by its UDP address, and a node has one). Each message on it names its meeting; each
meeting's copies, announcements and needs are its own (`LinkMeeting`).

Sending, each layer of a relayed track is one engine subscription of that peer, on an SSRC of its own (layer r:
the announced SSRC + r) — so the engine's fan-out, NACK/RTX and PLI paths serve the link like any subscriber —
announced on the sealed control channel, and paused until the peer's `need` for that meeting says a subscriber
there takes that layer (the plan, sfu/allocation/relaying.py). Receiving, each announced layer becomes an engine
track published by the peer: together a simulcast track, whose layers the node's own subscribers of that meeting
are moved between by its allocation at keyframes; what they need goes back as this node's `need`.

A meeting is on the link once both sides said `open` for it (the handshake's meeting: from the start): a side
takes the peer's messages of a meeting it opened or admitted (`admitted`), and sends its own only once the peer
opened it too (`up`). A message naming a meeting this side did not admit is dropped and counted
(`Dropped("relay_meeting_unknown")`): it reaches no other meeting. Only what arrives sealed under this link's
keys can add a track here, and only up to `max_tracks` engine tracks (layers) for the whole link; an SSRC already
in use on the link, an unknown codec or a message of any other kind is refused (RelayRefused), never a crash. A
`need` naming a layer a track does not announce leaves that layer out (counted), and need changes beyond
`NEED_RATE` a second (a legitimate node sends at most one a pass) are dropped and counted
(`Dropped("relay_need_flood")`): what crosses, and the keyframe requests a layer starting to cross makes, change
no faster than that. A `levels` message (who of the participants the peer announces audio of spoke since its last
pass: sfu/cascade/levels.py) is passed on as `LevelsHeard`, past `LEVEL_RATE` a second dropped and counted
(`Dropped("relay_level_flood")`); whose they may be is the caller's check (sfu/cascade/members.py). The link does
not decide what to relay (that is the plan), who the participants are (the
node) nor which meetings may cross (the tenants' policies: sfu/cascade/relays.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from native.constants import CODEC_IDS
from native.interface import EngineControl
from residency.errors import RelayRefused
from residency.relay import (
    MAX_FIELD,
    MAX_LAYERS,
    MAX_LEVEL_SPEAKERS,
    MAX_LEVEL_VALUES,
    RelayChannel,
    RelayKeys,
    RelayLevels,
    RelayNeed,
    RelayTrack,
)
from sfu.ratelimit import TokenBucket

LEVEL_ID = 1  # the audio-level extension's id on the link (kept: the far node's subscribers get it)
PAYLOAD_TYPES = {"opus": 111, "vp8": 96, "vp9": 98, "h264": 102}  # the link's fixed payload types
CLOCK_RATES = {"opus": 48000}  # every other codec here is video: 90 kHz
MAX_TRACKS = 256  # layers one link may announce, all its meetings together (each is an engine track there)
MAX_MEETINGS = 64  # meetings one link may carry (each opened by a message the other side checks)
NEED_RATE, NEED_BURST = 4.0, 8.0  # need changes a meeting takes per second, and at once (a pass sends one: 2/s)
LEVEL_RATE, LEVEL_BURST = 4.0, 8.0  # levels messages a meeting takes per second, and at once (a pass sends one: 2/s)

Key = tuple[str, str]  # (tenant, room): a meeting


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
    """One layer of an announced track on the link: its engine subscription and SSRC, the engine track it carries
    (the layer's own, or the nearest learned one standing in until the layer is learned), and whether it crosses
    (paused while no far subscriber needs that layer)."""

    sub: int
    ssrc: int
    layer: int  # rank
    index: int  # the engine track it carries (or switches to at that track's next keyframe)
    crossing: bool


@dataclass
class Announced:
    """One announced track on the link: its SSRC (layer 0's; layer r's is ssrc + r) and a copy per layer."""

    ssrc: int
    copies: dict[int, Copy]  # rank -> copy

    @property
    def crossing(self) -> bool:
        return any(c.crossing for c in self.copies.values())

    @property
    def layers(self) -> frozenset[int]:
        """The layers crossing now."""
        return frozenset(r for r, c in self.copies.items() if c.crossing)


@dataclass
class LinkMeeting:
    """One meeting on the link: what this side sends of it and receives of it, and the needs each way."""

    key: Key
    opened: bool = False  # this side said `open` (or the handshake did): the peer's messages of it are taken
    heard: bool = False  # the peer said `open` (or the handshake did): this side may send its own
    sending: dict[str, Announced] = field(default_factory=dict)  # track id -> its copies on the link
    # link ssrc (layer 0's) -> (engine track index per layer, what)
    receiving: dict[int, tuple[tuple[int, ...], RelayTrack]] = field(default_factory=dict)
    needs: dict[str, frozenset[int]] = field(default_factory=dict)  # what the peer's subscribers need (its last `need`)
    asked: dict[str, frozenset[int]] | None = None  # what this node last told the peer its subscribers need
    need_bucket: TokenBucket = field(default_factory=lambda: TokenBucket(NEED_RATE, NEED_BURST))
    levels_sent: int = 0  # the last speaker-detection interval this side sent the peer levels of
    level_bucket: TokenBucket = field(default_factory=lambda: TokenBucket(LEVEL_RATE, LEVEL_BURST))

    @property
    def up(self) -> bool:
        return self.opened and self.heard


@dataclass(frozen=True)
class Relayed:
    """A track of meeting `key` started ("track") or stopped ("untrack") on the link: its engine index here per
    layer (by rank)."""

    key: Key
    event: str
    what: RelayTrack
    indexes: tuple[int, ...]

    @property
    def index(self) -> int:
        """Layer 0's engine track."""
        return self.indexes[0]


@dataclass(frozen=True)
class NeedApplied:
    """A `need` from the peer for meeting `key` was applied; `unknown` of the tracks it named are not announced
    in that meeting on this link (another meeting's, a stale one), `unknown_layers` of the layers it named for
    announced tracks are not layers they announce: left out."""

    key: Key
    unknown: int
    unknown_layers: int = 0


@dataclass(frozen=True)
class LevelsHeard:
    """The peer's speaker levels for meeting `key` (sfu/cascade/levels.py): whether each participant they name
    is one it announced audio of is for the caller to check (sfu/cascade/members.py)."""

    key: Key
    levels: Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class OpenAsked:
    """The peer opened meeting `key` on the link: this side admits it (its own checks) and answers `open`, or
    refuses it with `close` (sfu/cascade/relays.py). `answer`: this side had opened it already (it is up now)."""

    key: Key
    answer: bool


@dataclass(frozen=True)
class CloseAsked:
    """The peer closed meeting `key` on the link (or, `key` None, its whole side of the link)."""

    key: Key | None = None


@dataclass(frozen=True)
class Dropped:
    """A genuine message this side does not take (a meeting it did not admit): counted by `code`, nothing else."""

    code: str


Event = Relayed | NeedApplied | LevelsHeard | OpenAsked | CloseAsked | Dropped


def meeting_of(message: Mapping[str, Any]) -> Key:
    """The (tenant, room) a scoped message names, or RelayRefused("relay_message_malformed")."""
    tenant, room = message.get("tenant"), message.get("room")
    if not (isinstance(tenant, str) and isinstance(room, str) and 0 < len(tenant) <= MAX_FIELD
            and 0 < len(room) <= MAX_FIELD):
        raise RelayRefused("relay_message_malformed", "a relay message names its meeting: tenant and room")
    return tenant, room


def scoped(key: Key, message: Mapping[str, Any]) -> dict[str, Any]:
    return {**message, "tenant": key[0], "room": key[1]}


@dataclass
class RelayLink:
    engine: EngineControl
    peer: int
    keys: RelayKeys
    tracks: Pool
    subs: Pool
    max_tracks: int = MAX_TRACKS
    channel: RelayChannel = field(init=False)
    meetings: dict[Key, LinkMeeting] = field(default_factory=dict)
    _next_ssrc: int = 0x43430000

    def __post_init__(self) -> None:
        self.channel = self.keys.channel()

    @classmethod
    def open(cls, engine: EngineControl, peer: int, keys: RelayKeys, address: tuple[str, int], tracks: Pool,
             subs: Pool, max_tracks: int = MAX_TRACKS, meeting: Key | None = None) -> RelayLink:
        """The peer in the engine, with the handshake's SRTP keys and the other node's UDP address; `meeting`:
        the handshake's, on the link from the start (both sides checked it)."""
        engine.add_peer(peer)
        engine.set_peer_address(peer, *address)
        engine.set_peer_srtp(peer, keys.profile, keys.receive, keys.send)
        engine.set_peer_extensions(peer, audio_level_id=LEVEL_ID)
        link = cls(engine, peer, keys, tracks, subs, max_tracks)
        if meeting is not None:
            link.meetings[meeting] = LinkMeeting(meeting, opened=True, heard=True)
        return link

    # ---- which meetings

    def up(self, key: Key) -> LinkMeeting | None:
        """Meeting `key` when both sides opened it (this side may send of it), else None."""
        m = self.meetings.get(key)
        return m if m is not None and m.up else None

    def admitted(self, key: Key) -> bool:
        """This side takes the peer's messages of meeting `key` (it opened or admitted it)."""
        m = self.meetings.get(key)
        return m is not None and m.opened

    def opening(self, key: Key) -> str:
        """The sealed `open` of meeting `key` (this side checked it may cross); up once the peer opens it too."""
        m = self.meetings.setdefault(key, LinkMeeting(key))
        m.opened = True
        return self.channel.seal(scoped(key, {"type": "open"}))

    @property
    def sending(self) -> dict[str, Announced]:
        """Every meeting's announced tracks (track ids are unique on a node)."""
        return {t: c for m in self.meetings.values() for t, c in m.sending.items()}

    @property
    def receiving(self) -> dict[int, tuple[tuple[int, ...], RelayTrack]]:
        return {s: r for m in self.meetings.values() for s, r in m.receiving.items()}

    def _tracks(self) -> int:
        """Engine tracks the peer's announcements hold here: one per layer."""
        return sum(len(indexes) for m in self.meetings.values() for indexes, _ in m.receiving.values())

    def _ssrcs(self) -> set[int]:
        return {ssrc for m in self.meetings.values() for _, what in m.receiving.values() for ssrc in what.ssrcs}

    # ---- sending: the plan's copies for this remote node

    def apply(self, key: Key, copies: Mapping[str, Collection[int]],
              local: Mapping[str, LocalTrack]) -> tuple[list[str], list[tuple[str, int]]]:
        """Announce every track of `local` (meeting `key`'s, up on the link) on the link (the far node learns the
        track and its layers exist: its participants can subscribe) and make exactly `copies` (track id -> the
        layers) cross, each layer on its own SSRC: a layer not in it stays paused in the engine, and a layer's copy
        moves onto the layer's own engine track once the publisher's layer is learned (at its keyframe). Returns the
        sealed messages (what started and stopped) for the relay's signalling connection, and the copies that just
        began to cross or moved — each wants a keyframe now."""
        m = self.meetings.get(key)
        if m is None or not m.up:
            return [], []
        out: list[str] = []
        woken: list[tuple[str, int]] = []
        for track_id in sorted(set(m.sending) - set(local)):
            gone = m.sending.pop(track_id)
            for c in gone.copies.values():
                self.engine.remove_subscription(c.sub)
                self.subs.give(c.sub)
            out.append(self.channel.seal(scoped(key, {"type": "untrack", "ssrc": gone.ssrc})))
        sending = sum(len(a.copies) for x in self.meetings.values() for a in x.sending.values())
        for track_id in sorted(local):
            t = local[track_id]
            announced = m.sending.get(track_id)
            if announced is None:
                n = min(t.announced, MAX_LAYERS)
                if sending + n > self.max_tracks or t.codec not in PAYLOAD_TYPES:
                    continue  # the far node would refuse it
                base = self._next_ssrc + 1
                self._next_ssrc += n
                announced = Announced(base, {})
                ext_map = bytes(t.level_id) + bytes([LEVEL_ID]) if t.level_id else b""
                for rank in range(n):
                    index = t.indexes[min(rank, len(t.indexes) - 1)]
                    c = Copy(self.subs.take(), base + rank, rank, index, False)
                    self.engine.add_subscription(c.sub, index, self.peer, c.ssrc, PAYLOAD_TYPES[t.codec],
                                                 ext_map=ext_map)
                    self.engine.set_paused(c.sub, True)  # nothing crosses before a far subscriber needs it
                    announced.copies[rank] = c
                m.sending[track_id] = announced
                sending += n
                out.append(self.channel.seal(scoped(key, RelayTrack(
                    track_id, t.participant, t.kind, t.codec, base, tuple(range(n))).to_message())))
            want = copies.get(track_id, ())
            for rank, c in sorted(announced.copies.items()):
                if rank not in want:
                    if c.crossing:
                        self.engine.set_paused(c.sub, True)
                        c.crossing = False
                    continue
                index = t.indexes[min(rank, len(t.indexes) - 1)]
                if index != c.index:  # the layer itself was learned since: onto it, at its keyframe
                    self.engine.switch_layer(c.sub, index)
                    c.index = index
                    woken.append((track_id, rank))
                if not c.crossing:
                    self.engine.set_paused(c.sub, False)  # video resumes at a keyframe
                    c.crossing = True
                    if (track_id, rank) not in woken:
                        woken.append((track_id, rank))
        return out, woken

    def ask(self, key: Key, needs: Mapping[str, frozenset[int]]) -> str | None:
        """The sealed `need` telling the peer what this node's subscribers take of its tracks of meeting `key`,
        or None when that is what it was told last (or the meeting is not up)."""
        m = self.up(key)
        if m is None or needs == m.asked:
            return None
        m.asked = dict(needs)
        return self.channel.seal(scoped(key, RelayNeed(needs).to_message()))

    def tell_levels(self, key: Key, levels: Mapping[str, list[int]], upto: int) -> str | None:
        """The sealed speaker levels of meeting `key` for the peer (what this side's detection took, per interval,
        of participants whose audio it announces there: sfu/cascade/levels.py), the link's mark moved to `upto`;
        None when nobody spoke (or the meeting is not up). Past `MAX_LEVEL_SPEAKERS` the loudest are sent, each
        its last `MAX_LEVEL_VALUES` intervals."""
        m = self.up(key)
        if m is None:
            return None
        m.levels_sent = upto
        if not levels:
            return None
        loudest = sorted(levels, key=lambda p: (-max(levels[p]), p))[:MAX_LEVEL_SPEAKERS]
        told = RelayLevels({p: tuple(levels[p][-MAX_LEVEL_VALUES:]) for p in loudest})
        return self.channel.seal(scoped(key, told.to_message()))

    def copy_of(self, ssrc: int) -> tuple[Key, str, int, int] | None:
        """(meeting, track id, layer, engine subscription) of the copy the link sends with `ssrc`: where feedback
        from the peer (a PLI for that SSRC, a NACK of its packets) belongs — the publisher's track at the layer
        the copy carries, or this very subscription's retransmission buffer. None for an SSRC this link does not
        send (a stale or forged one)."""
        for m in self.meetings.values():
            for track_id, announced in m.sending.items():
                c = announced.copies.get(ssrc - announced.ssrc)
                if c is not None and c.ssrc == ssrc:
                    return m.key, track_id, c.layer, c.sub
        return None

    def farewell(self, key: Key | None = None) -> str:
        """The sealed `close` of meeting `key` on the link (its copies and announcements must be gone already),
        or with no meeting, of this node's side of the whole link: the peer closes its own at once."""
        return self.channel.seal({"type": "close"} if key is None else scoped(key, {"type": "close"}))

    # ---- receiving: what the peer sends

    def receive(self, sealed: object) -> Event:
        """Apply one sealed message from the peer: `Relayed` when a copy starts or stops, `NeedApplied` for a
        `need` (how many of the tracks it names this link does not announce in that meeting: left out — the
        peer can ask only for that meeting's tracks it was told of), `OpenAsked`/`CloseAsked` for the
        caller to apply, `Dropped` for a message of a meeting this side did not admit. RelayRefused for anything
        forged, replayed or malformed."""
        message: dict[str, Any] = self.channel.open(sealed)
        kind = message.get("type")
        if kind == "close" and "tenant" not in message and "room" not in message:
            return CloseAsked()
        if kind not in ("open", "close", "need", "levels", "track", "untrack"):
            raise RelayRefused("relay_message_malformed", f"unknown relay message type {kind!r}")
        key = meeting_of(message)
        m = self.meetings.get(key)
        if kind == "open":
            if m is None and len(self.meetings) >= MAX_MEETINGS:
                return Dropped("relay_too_many_meetings")
            answer = m is not None and m.opened
            m = self.meetings.setdefault(key, LinkMeeting(key))
            m.heard = True
            return OpenAsked(key, answer)
        if m is None or not m.opened:
            return Dropped("relay_meeting_unknown")
        if kind == "close":
            return CloseAsked(key)
        if kind == "need":
            need = RelayNeed.from_message(message)
            needs: dict[str, frozenset[int]] = {}
            unknown_layers = 0
            for t, layers in need.tracks.items():
                if t not in m.sending:
                    continue
                has = layers & m.sending[t].copies.keys()
                unknown_layers += len(layers) - len(has)
                if has:
                    needs[t] = frozenset(has)
            if needs != m.needs:
                if m.need_bucket.take(1.0) > 0:
                    return Dropped("relay_need_flood")  # the next change within the rate mends it
                m.needs = needs
            return NeedApplied(key, sum(1 for t in need.tracks if t not in m.sending), unknown_layers)
        if kind == "levels":
            levels = RelayLevels.from_message(message)
            if m.level_bucket.take(1.0) > 0:
                return Dropped("relay_level_flood")  # one taken per detection interval anyway: nothing is lost
            return LevelsHeard(key, levels.levels)
        if kind == "untrack":
            ssrc = message.get("ssrc")
            if not isinstance(ssrc, int) or ssrc not in m.receiving:
                raise RelayRefused("relay_message_malformed", "untrack of an SSRC this meeting's link did not announce")
            indexes, what = m.receiving.pop(ssrc)
            for index in indexes:
                self.engine.remove_track(index)
                self.tracks.give(index)
            return Relayed(key, "untrack", what, indexes)
        what = RelayTrack.from_message(message)
        if self._ssrcs() & set(what.ssrcs):
            raise RelayRefused("relay_message_malformed", f"SSRC {what.ssrc} (or a layer's) is already relayed "
                               "on this link")
        if self._tracks() + len(what.layers) > self.max_tracks:
            raise RelayRefused("relay_too_many_tracks", f"a relay link carries at most {self.max_tracks} layers")
        codec = CODEC_IDS.get(what.codec)
        if codec is None or what.codec not in PAYLOAD_TYPES:
            raise RelayRefused("relay_message_malformed", f"codec {what.codec!r} is not relayed")
        indexes = tuple(self.tracks.take() for _ in what.ssrcs)
        for index, ssrc in zip(indexes, what.ssrcs, strict=True):
            self.engine.add_track(index, self.peer, ssrc, codec, CLOCK_RATES.get(what.codec, 90000))
        m.receiving[what.ssrc] = (indexes, what)
        return Relayed(key, "track", what, indexes)

    # ---- closing

    def drop(self, key: Key) -> list[Relayed]:
        """Meeting `key` off the link: its engine entries removed; the tracks it received, now gone."""
        m = self.meetings.pop(key, None)
        if m is None:
            return []
        for announced in m.sending.values():
            for c in announced.copies.values():
                self.engine.remove_subscription(c.sub)
                self.subs.give(c.sub)
        gone = []
        for indexes, what in m.receiving.values():
            for index in indexes:
                self.engine.remove_track(index)
                self.tracks.give(index)
            gone.append(Relayed(key, "untrack", what, indexes))
        return gone

    def close(self) -> None:
        """Every engine entry of the link removed (the peer node died, or its last meeting left it)."""
        for key in list(self.meetings):
            self.drop(key)
        self.engine.remove_peer(self.peer)
