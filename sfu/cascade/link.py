"""One relay link's engine side: the remote node is one engine peer, keyed by the relay handshake
(residency/relay.py), and the link carries every meeting the two nodes share (one engine peer per remote node:
the engine knows a peer by its UDP address, and a node has one). Each message on it names its meeting; each
meeting's copies, announcements and needs are its own (`LinkMeeting`).

Sending, each relayed track is one engine subscription of that peer — so the engine's fan-out, layer switch,
NACK/RTX and PLI paths serve the link like any subscriber — announced on the sealed control channel, and paused
until the peer's `need` for that meeting says a subscriber there takes it (then at the layer the plan,
sfu/allocation/relaying.py, gives it). Receiving, each announced track becomes an engine track published by the
peer, which the node's own subscribers of that meeting then subscribe to; what they need goes back as this
node's `need`.

A meeting is on the link once both sides said `open` for it (the handshake's meeting: from the start): a side
takes the peer's messages of a meeting it opened or admitted (`admitted`), and sends its own only once the peer
opened it too (`up`). A message naming a meeting this side did not admit is dropped and counted
(`Dropped("relay_meeting_unknown")`): it reaches no other meeting. Only what arrives sealed under this link's
keys can add a track here, and only up to `max_tracks` for the whole link; an SSRC already in use on the link, an
unknown codec or a message of any other kind is refused (RelayRefused), never a crash. The link does not decide
what to relay (that is the plan), who the participants are (the node) nor which meetings may cross (the
tenants' policies: sfu/cascade/relays.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from native.constants import CODEC_IDS
from native.interface import EngineControl
from residency.errors import RelayRefused
from residency.relay import MAX_FIELD, RelayChannel, RelayKeys, RelayNeed, RelayTrack

LEVEL_ID = 1  # the audio-level extension's id on the link (kept, so the far node's speaker detection works)
PAYLOAD_TYPES = {"opus": 111, "vp8": 96, "vp9": 98, "h264": 102}  # the link's fixed payload types
CLOCK_RATES = {"opus": 48000}  # every other codec here is video: 90 kHz
MAX_TRACKS = 256  # copies one link may announce, all its meetings together (each is an engine track there)
MAX_MEETINGS = 64  # meetings one link may carry (each opened by a message the other side checks)

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
    """One announced track on the link: its engine subscription and SSRC, the layer it carries (or switches to at
    that layer's next keyframe), and whether it crosses (paused while no far subscriber needs it)."""

    sub: int
    ssrc: int
    layer: int  # rank
    index: int  # the engine track it carries (or switches to): the layer's, or the one standing in for it
    crossing: bool


@dataclass
class LinkMeeting:
    """One meeting on the link: what this side sends of it and receives of it, and the needs each way."""

    key: Key
    opened: bool = False  # this side said `open` (or the handshake did): the peer's messages of it are taken
    heard: bool = False  # the peer said `open` (or the handshake did): this side may send its own
    sending: dict[str, Copy] = field(default_factory=dict)  # track id -> its copy on the link
    receiving: dict[int, tuple[int, RelayTrack]] = field(default_factory=dict)  # link ssrc -> (track index, what)
    needs: dict[str, int] = field(default_factory=dict)  # what the peer's subscribers need (its last `need`)
    asked: dict[str, int] | None = None  # what this node last told the peer its subscribers need

    @property
    def up(self) -> bool:
        return self.opened and self.heard


@dataclass(frozen=True)
class Relayed:
    """A track of meeting `key` started ("track") or stopped ("untrack") on the link: its engine index here."""

    key: Key
    event: str
    what: RelayTrack
    index: int


@dataclass(frozen=True)
class NeedApplied:
    """A `need` from the peer for meeting `key` was applied; `unknown` of the tracks it named are not announced
    in that meeting on this link (another meeting's, a stale one): left out."""

    key: Key
    unknown: int


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


Event = Relayed | NeedApplied | OpenAsked | CloseAsked | Dropped


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
    def sending(self) -> dict[str, Copy]:
        """Every meeting's copies (track ids are unique on a node)."""
        return {t: c for m in self.meetings.values() for t, c in m.sending.items()}

    @property
    def receiving(self) -> dict[int, tuple[int, RelayTrack]]:
        return {s: r for m in self.meetings.values() for s, r in m.receiving.items()}

    def _tracks(self) -> int:
        return sum(len(m.receiving) for m in self.meetings.values())

    # ---- sending: the plan's copies for this remote node

    def apply(self, key: Key, copies: Mapping[str, int],
              local: Mapping[str, LocalTrack]) -> tuple[list[str], list[tuple[str, int]]]:
        """Announce every track of `local` (meeting `key`'s, up on the link) on the link (the far node learns the
        track exists: its participants can subscribe) and make exactly `copies` (track id -> layer index) cross: a
        track not in it stays paused in the engine, one whose layer changes switches at that layer's next
        keyframe. Returns the sealed messages (what started and stopped) for the relay's signalling connection,
        and the copies that just began to cross or changed layer — each wants a keyframe now."""
        m = self.meetings.get(key)
        if m is None or not m.up:
            return [], []
        out: list[str] = []
        woken: list[tuple[str, int]] = []
        for track_id in sorted(set(m.sending) - set(local)):
            gone = m.sending.pop(track_id)
            self.engine.remove_subscription(gone.sub)
            self.subs.give(gone.sub)
            out.append(self.channel.seal(scoped(key, {"type": "untrack", "ssrc": gone.ssrc})))
        sending = sum(len(x.sending) for x in self.meetings.values())
        for track_id in sorted(local):
            t = local[track_id]
            want = copies.get(track_id)
            if want is not None:
                want = min(max(want, 0), len(t.indexes) - 1)
            copy = m.sending.get(track_id)
            if copy is None:
                if sending >= self.max_tracks or t.codec not in PAYLOAD_TYPES:
                    continue  # the far node would refuse it
                sub = self.subs.take()
                self._next_ssrc += 1
                copy = Copy(sub, self._next_ssrc, want or 0, t.indexes[want or 0], False)
                ext_map = bytes(t.level_id) + bytes([LEVEL_ID]) if t.level_id else b""
                self.engine.add_subscription(sub, copy.index, self.peer, copy.ssrc, PAYLOAD_TYPES[t.codec],
                                             ext_map=ext_map)
                self.engine.set_paused(sub, True)  # nothing crosses before a far subscriber needs it
                m.sending[track_id] = copy
                sending += 1
                out.append(self.channel.seal(scoped(key, RelayTrack(
                    track_id, t.participant, t.kind, t.codec, copy.ssrc,
                    tuple(range(min(t.announced, 3)))).to_message())))
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

    def ask(self, key: Key, needs: Mapping[str, int]) -> str | None:
        """The sealed `need` telling the peer what this node's subscribers take of its tracks of meeting `key`,
        or None when that is what it was told last (or the meeting is not up)."""
        m = self.up(key)
        if m is None or needs == m.asked:
            return None
        m.asked = dict(needs)
        return self.channel.seal(scoped(key, RelayNeed(needs).to_message()))

    def copy_of(self, ssrc: int) -> tuple[Key, str, int, int] | None:
        """(meeting, track id, layer, engine subscription) of the copy the link sends with `ssrc`: where feedback
        from the peer (a PLI for that SSRC, a NACK of its packets) belongs — the publisher's track at the layer
        the copy carries or switches to, or this very subscription's retransmission buffer. None for an SSRC this
        link does not send (a stale or forged one)."""
        for m in self.meetings.values():
            for track_id, copy in m.sending.items():
                if copy.ssrc == ssrc:
                    return m.key, track_id, copy.layer, copy.sub
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
        if kind not in ("open", "close", "need", "track", "untrack"):
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
            m.needs = {t: x for t, x in need.tracks.items() if t in m.sending}
            return NeedApplied(key, len(need.tracks) - len(m.needs))
        if kind == "untrack":
            ssrc = message.get("ssrc")
            if not isinstance(ssrc, int) or ssrc not in m.receiving:
                raise RelayRefused("relay_message_malformed", "untrack of an SSRC this meeting's link did not announce")
            index, what = m.receiving.pop(ssrc)
            self.engine.remove_track(index)
            self.tracks.give(index)
            return Relayed(key, "untrack", what, index)
        what = RelayTrack.from_message(message)
        if any(what.ssrc in x.receiving for x in self.meetings.values()):
            raise RelayRefused("relay_message_malformed", f"SSRC {what.ssrc} is already relayed on this link")
        if self._tracks() >= self.max_tracks:
            raise RelayRefused("relay_too_many_tracks", f"a relay link carries at most {self.max_tracks} tracks")
        codec = CODEC_IDS.get(what.codec)
        if codec is None or what.codec not in PAYLOAD_TYPES:
            raise RelayRefused("relay_message_malformed", f"codec {what.codec!r} is not relayed")
        index = self.tracks.take()
        self.engine.add_track(index, self.peer, what.ssrc, codec, CLOCK_RATES.get(what.codec, 90000))
        m.receiving[what.ssrc] = (index, what)
        return Relayed(key, "track", what, index)

    # ---- closing

    def drop(self, key: Key) -> list[Relayed]:
        """Meeting `key` off the link: its engine entries removed; the tracks it received, now gone."""
        m = self.meetings.pop(key, None)
        if m is None:
            return []
        for copy in m.sending.values():
            self.engine.remove_subscription(copy.sub)
            self.subs.give(copy.sub)
        gone = []
        for index, what in m.receiving.values():
            self.engine.remove_track(index)
            self.tracks.give(index)
            gone.append(Relayed(key, "untrack", what, index))
        return gone

    def close(self) -> None:
        """Every engine entry of the link removed (the peer node died, or its last meeting left it)."""
        for key in list(self.meetings):
            self.drop(key)
        self.engine.remove_peer(self.peer)
