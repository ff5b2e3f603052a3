"""Other nodes' participants as participants of this node's room (issue 14): each participant another node
announces as a member on the link's handshake lane (`add_member`, sfu/cascade/handshakes.py — published or not,
so every MLS client's presence lists the whole meeting), and each track it announces on the relay link becomes a
`Track` of a relayed `Participant` of that meeting's room here — so the
`joined` snapshot, `track_published`, subscriptions (sfu/negotiation/offer.py), speaker detection and last-N
treat it like a local one — its loudness the levels its node sends (`on_levels`, sfu/cascade/levels.py), taken
only for a participant that node announced audio of. The relayed participant has no socket and no transport: its tracks are engine tracks
the link's peer publishes (sfu/cascade/link.py), its `peer` is the link's. It goes when the other node says
it left (`remove_member`), when its last track is untracked (one never announced as a member), or when the
meeting leaves the link (`Relays.leave`, `Relays.close`) — on the meeting's home that is a leave for the Delivery
Service; `Node.leave` never removes it.

A relay link carries each meeting the two nodes share once both checked it (the handshake, or `open`: enrolled
key, signed record, the tenant's allowed regions), and every message names its meeting: a node adds members only
to the room of the meeting the message names, only of a meeting on the link, and at most the link's track cap;
each (node, meeting) has its own members, so one meeting's announcements never touch another's room.
An announcement that would pose as a participant of this node or reuse a track id of the room is refused and
counted (`refused`), never a crash; the engine track the link added for it then carries nothing to anyone.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING

from residency.relay import RelayTrack
from sfu import presence
from sfu.cascade.link import CLOCK_RATES, LEVEL_ID, PAYLOAD_TYPES
from sfu.cascade.roles import RecorderRoles
from sfu.negotiation import sdp
from sfu.participant import MediaState, Participant, SignallingState
from sfu.track import Layer, Track

if TYPE_CHECKING:
    from sfu.cascade.link import Key, LevelsHeard
    from sfu.cascade.relays import Relays
    from sfu.node import Node
    from sfu.room import Room

log = logging.getLogger("castellan.cascade")

RELAY_RIDS = ("q", "h", "f")  # a relayed layer's RID here, by rank (sfu/allocation/layers.py RID_RANKS)
MAX_MEMBERS = 2048  # participants one link may announce (a meeting's goal is 1,000): each is a Participant here


def _negotiated(what: RelayTrack) -> sdp.Negotiated:
    """What the link carries for one relayed track: its fixed payload type, and the audio level at LEVEL_ID (kept
    on the link, so subscriptions here map it to each subscriber's id like a local publisher's)."""
    clock = CLOCK_RATES.get(what.codec, 90000)
    codec = sdp.Codec(pt=PAYLOAD_TYPES[what.codec], name=what.codec, clock_rate=clock,
                      channels=2 if what.codec == "opus" else 1)
    extensions = {LEVEL_ID: sdp.URI_AUDIO_LEVEL} if what.kind == "audio" else {}
    return sdp.Negotiated(mid=what.track, kind=what.kind, codec=codec, rtx_pt=None, extensions=extensions)


class RelayedMembers:
    def __init__(self, node: Node, relays: Relays, roles: RecorderRoles | None = None) -> None:
        self.node = node
        self.relays = relays
        self.roles = roles or RecorderRoles(None)  # who may be marked the recorder (sfu/cascade/roles.py)
        # (other node, meeting) -> participant id -> relayed participant
        self.by_link: dict[tuple[str, Key], dict[str, Participant]] = {}
        # (other node, meeting) -> the participants it announced as members (`member`, sfu/cascade/handshakes.py):
        # present here whether they publish or not, until it says they left (`unmember`) or the meeting leaves the link
        self.announced: dict[tuple[str, Key], set[str]] = {}
        self.refused: Counter[str] = Counter()
        relays.listeners.append(self.on_relayed)
        relays.closed.append(self.on_link_closed)
        relays.levels.append(self.on_levels)

    def on_relayed(self, sender: str, key: Key, event: str, what: RelayTrack, indexes: tuple[int, ...]) -> None:
        """A relayed track of meeting `key` started ("track", its engine index here per layer) or stopped
        ("untrack") on `sender`'s link."""
        if event == "track":
            self._add(sender, key, what, indexes)
        else:
            self._remove_track(sender, key, what.participant, what.track)

    def on_link_closed(self, sender: str, key: Key) -> None:
        """Meeting `key` left `sender`'s link (its engine tracks with it): its relayed participants leave the room."""
        self.announced.pop((sender, key), None)
        for p in list(self.by_link.pop((sender, key), {}).values()):
            for track in list(p.published.values()):
                self._drop_track(p, track)
            self._drop_participant(p, "relay_closed")

    def on_levels(self, sender: str, heard: LevelsHeard) -> None:
        """`sender`'s speaker levels for meeting `heard.key`: queued for this room's detection
        (sfu/cascade/levels.py) for each participant `sender` announced an audio track of in that meeting; a value
        for anyone else — this node's participant, another node's, one without audio — is refused and counted
        (`relay_level_not_owned`), as are values past the backlog (`relay_level_overflow`)."""
        room = self._room(sender, heard.key)
        members = self.by_link.get((sender, heard.key), {})
        for pid, values in heard.levels.items():
            p = members.get(pid)
            if room is None or p is None or not any(t.kind == "audio" for t in p.published.values()):
                self.refused["relay_level_not_owned"] += 1
                continue
            dropped = room.far_levels.offer(pid, values)
            if dropped:
                self.refused["relay_level_overflow"] += dropped

    def add_member(self, sender: str, key: Key, participant: str, name: str, credential: str | None = None,
                   issued_for: str | None = None) -> Participant | None:
        """`sender` says `participant` is in meeting `key` on its side (published or not): a participant of that
        room here. None (counted) when the id is this node's own participant's or another link's, or the room is
        gone. With `credential` (its join token, issued for `issued_for`; None: any node) it is marked the
        meeting's recorder if that verifies (sfu/cascade/roles.py); else it is an ordinary participant, counted."""
        room = self._room(sender, key)
        link = self.relays.links.get(sender)
        if room is None or link is None:
            self.refused["relay_room_gone"] += 1
            return None
        members = self.by_link.get((sender, key), {})
        p = members.get(participant)
        if p is None:
            if participant in room.participants:
                self.refused["relay_participant_clash"] += 1
                return None
            if sum(len(x) for (n, _), x in self.by_link.items() if n == sender) >= MAX_MEMBERS:
                self.refused["relay_too_many_members"] += 1
                return None
            recorder = False
            if credential is not None:
                why = self.roles.refusal(key, participant, credential, issued_for)
                recorder = why is None
                if why is not None:
                    self.refused[f"relay_recorder_{why}"] += 1
                    log.warning("%s's recorder credential for %s in %s/%s refused: %s", sender, participant, *key, why)
            p = self._new(sender, key, room, link.peer, participant, name,
                          credential if recorder and credential is not None else "")
        self.announced.setdefault((sender, key), set()).add(participant)
        return p

    def remove_member(self, sender: str, key: Key, participant: str) -> None:
        """`sender` says `participant` left meeting `key` on its side: it leaves the room here, with whatever it
        published."""
        if participant not in self.announced.get((sender, key), set()):
            return
        self.announced[(sender, key)].discard(participant)
        p = self.by_link.get((sender, key), {}).pop(participant, None)
        if p is None:
            return
        for track in list(p.published.values()):
            self._drop_track(p, track)
        self._drop_participant(p, "left")

    # ---- what changes in the room

    def _room(self, sender: str, key: Key) -> Room | None:
        link = self.relays.links.get(sender)
        return self.node.rooms.get(key) if link is not None and link.admitted(key) else None

    def _add(self, sender: str, key: Key, what: RelayTrack, indexes: tuple[int, ...]) -> None:
        room = self._room(sender, key)
        link = self.relays.links.get(sender)
        if room is None or link is None:
            self.refused["relay_room_gone"] += 1
            return
        if any(t.id == what.track for t in room.tracks()):
            self.refused["relay_track_clash"] += 1
            return
        members = self.by_link.setdefault((sender, key), {})
        p = members.get(what.participant)
        if p is None:
            if what.participant in room.participants:  # a local participant (or another node's) by that id
                self.refused["relay_participant_clash"] += 1
                return
            p = self._new(sender, key, room, link.peer, what.participant, what.participant)
        # each announced layer is an engine track of its own: a simulcast track here, whose subscribers the node's
        # allocation moves between the layers that cross (sfu/allocation/selection.py), as a local publisher's
        rids = {RELAY_RIDS[rank]: rank for rank in what.layers} if len(what.layers) > 1 else {}
        layers = [Layer(rid=RELAY_RIDS[rank] if rids else "", rank=rank, ssrc=ssrc, index=index)
                  for rank, ssrc, index in zip(what.layers, what.ssrcs, indexes, strict=True)]
        track = Track(id=what.track, owner=p, index=indexes[0], kind=what.kind, mid=what.track, ssrc=what.ssrc,
                      codec=what.codec, clock_rate=CLOCK_RATES.get(what.codec, 90000), negotiated=_negotiated(what),
                      stream_id=p.id, layers=layers, rid_ranks=rids, active_rids=dict.fromkeys(rids, True))
        p.published[track.mid] = track
        for layer in layers:
            self.node.tracks_by_ssrc[(link.peer, layer.ssrc)] = track
        room.broadcast({"type": "track_published", "track": track.describe()})

    def _new(self, sender: str, key: Key, room: Room, peer: int, participant: str, name: str,
             credential: str = "") -> Participant:
        # a recorder only on a credential verified here (`add_member`), never on the other node's word
        p = Participant(id=participant, name=name, room=room, peer=peer, tenant=room.tenant,
                        signalling=SignallingState.DETACHED, media=MediaState.READY, relayed_from=sender,
                        recorder=bool(credential), credential=credential)
        self.by_link.setdefault((sender, key), {})[p.id] = p
        room.participants[p.id] = p
        room.speakers.join(p.id)
        room.announce(presence.joined(p.describe()), time.monotonic())  # sent before its track_published
        log.info("relayed participant room=%s/%s participant=%s from=%s", room.tenant, room.name, p.id, sender,
                 extra={"tenant": room.tenant, "room": room.name, "participant": p.id})
        if p.recorder:
            self.node.recording.update(room)  # the meeting's recorder, verified: a `required` hold here may end
        return p

    def _remove_track(self, sender: str, key: Key, participant: str, track_id: str) -> None:
        p = self.by_link.get((sender, key), {}).get(participant)
        track = p.published.get(track_id) if p is not None else None
        if p is None or track is None:
            return  # an announcement refused above: nothing of it here
        self._drop_track(p, track)
        if not p.published and participant not in self.announced.get((sender, key), set()):  # a member stays
            del self.by_link[(sender, key)][participant]
            self._drop_participant(p, "relay_untracked")

    def _drop_track(self, p: Participant, track: Track) -> None:
        # the link already removed the engine track (and with it the engine subscriptions): the node's tables go
        for sub in list(track.subscriptions.values()):
            self.node.publications.remove_subscription(sub)
        for layer in track.layers:
            self.node.tracks_by_ssrc.pop((p.peer, layer.ssrc), None)
        p.published.pop(track.mid, None)
        if track.kind == "audio":
            p.room.far_levels.forget(p.id)  # its levels came for that audio
        p.room.broadcast({"type": "track_unpublished", "track": track.id})

    def _drop_participant(self, p: Participant, reason: str) -> None:
        room = p.room
        if room.participants.get(p.id) is p:
            del room.participants[p.id]
        room.speakers.leave(p.id)
        room.far_levels.forget(p.id)
        p.mark_left()
        room.announce(presence.left(p.id, reason), time.monotonic())
        room.flush_presence()  # a relay's members come and go rarely: the far participants learn it at once
        # on the meeting's home, a far member leaving is a leave for its Delivery Service (elsewhere it holds nothing)
        self.node.handshakes.bytes_out += room.deliver(room.group.left(p.id, list(room.participants)))
        if not room.participants and self.node.rooms.get(room.key) is room:
            del self.node.rooms[room.key]
            self.roles.forget(room.key)
        elif p.recorder:
            self.node.recording.update(room)  # the recorder gone: a `required` meeting is held again (fail closed)
