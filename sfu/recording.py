"""Compliance recording on the node (docs/recording.md, "Required: no media before the recorder"): a room whose
policy is `required` forwards no media until its recorder is in; if the recorder leaves or dies, forwarding stops
again until a recorder is back.

What the node believes comes only from join credentials the control plane signed (`JoinClaims.recording`, the
meeting's effective policy, and `JoinClaims.recorder`, role `recorder`, which only the recorder endpoint issues): a
participant's display name or anything in its messages changes nothing. A room runs under the strictest policy any
of its credentials carried — a policy tightened mid-meeting tightens the room; nothing loosens it while it lasts.

A recorder counts once it is in the room, attached, and, when the room has an MLS group, a member of it (it holds
the keys, so the recording misses nothing) — in a meeting across nodes, of the group the home orders, on the home's
word (sfu/cascade/verdicts.py). While a room is held every subscription in it is paused in the engine —
created paused, in the same locked call, so not one packet slips out — and the packets its publishers send
meanwhile are counted as held (`held_packets`), never forwarded.

What everyone's indicator shows is the room's recording `state`, decided here from what actually happens and never
from a client's word: `off` (nobody records), `starting` (recording is on — `required`, or a host's `record_start`
— and no recorder is in yet), `live` (a counted recorder is in and receives the room's tracks), `refused` (the
control plane could place no recorder in a region the tenant allows: the node's agent reads the refusal from the
registry, `recording.launch.REFUSALS`). Each recording-on (a `record_start`, or a `required` room's first join)
is a `session`: a recorder that dies and is replaced within the session continues the same Recording (with a
gap); a new `record_start` after a `record_stop` is a new session, so a new Recording.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from recording.policy import RecordingPolicy, media_may_start

if TYPE_CHECKING:
    from sfu.node import Node
    from sfu.participant import Participant
    from sfu.room import Room
    from sfu.subscription import Subscription
    from sfu.track import Track

OFF, STARTING, LIVE, REFUSED = "off", "starting", "live", "refused"

_STRICTNESS = {RecordingPolicy.OFF: 0, RecordingPolicy.ALLOWED: 1, RecordingPolicy.REQUIRED: 2}


def stricter(current: RecordingPolicy, claimed: RecordingPolicy) -> RecordingPolicy:
    return claimed if _STRICTNESS[claimed] > _STRICTNESS[current] else current


@dataclass
class RoomRecording:
    """A room's recording state on this node."""

    policy: RecordingPolicy = RecordingPolicy.OFF
    held: bool = False
    started: bool = False  # under "allowed": a host started recording (sfu/host.py) and has not stopped it
    link: str = ""  # the meeting link its credentials named (the control plane asks recorders for it)
    session: str = ""  # this recording-on's id (a new one at each record_start; one per room under "required")
    state: str = OFF
    refusal: tuple[str, str] | None = None  # (code, message): no recorder could be placed for this session
    # engine track index -> packets it had received when the hold began (a track added later starts at 0)
    received_at_hold: dict[int, int] = field(default_factory=dict)
    # a cascaded meeting on a node that is not its home: the recorders the home says are in the group it orders
    # (sfu/cascade/verdicts.py; empty until it said so: held). None: this node's own group view decides
    home_verdict: frozenset[str] | None = None


def describe(room: Room) -> dict[str, Any]:
    """`recording` in `joined` and the `recording` message (docs/protocol.md). `active`: the meeting is being
    recorded, as everyone's indicator shows it — always under `required`, under `allowed` once a host started it."""
    rec = room.recording
    out: dict[str, Any] = {"policy": rec.policy.value, "held": rec.held, "active": is_on(room),
                           "recorders": recorders(room), "state": rec.state}
    if rec.state == REFUSED and rec.refusal is not None:
        out["reason"], out["message"] = rec.refusal
    return out


def is_on(room: Room) -> bool:
    """Recording is on: always under `required`, under `allowed` between a host's record_start and record_stop."""
    rec = room.recording
    return rec.policy is RecordingPolicy.REQUIRED or (rec.policy is RecordingPolicy.ALLOWED and rec.started)


def set_started(room: Room, started: bool) -> None:
    """A host's record_start / record_stop (sfu/host.py): each start is a new session, so a new Recording."""
    rec = room.recording
    rec.started = started
    rec.session = secrets.token_urlsafe(9) if started else ""
    rec.refusal = None
    rec.state = decide(room)


def decide(room: Room) -> str:
    """The room's recording state from the facts (module docstring): never from a client's message."""
    rec = room.recording
    if not is_on(room):
        return OFF
    counted = [room.participants[pid] for pid in recorders(room) if pid in room.participants]
    others = [t for t in room.tracks() if not t.owner.recorder]
    # a relayed recorder subscribes on its own node (what it takes from here crosses the link)
    if not rec.held and any(p.subscriptions or p.relayed_from is not None or not others for p in counted):
        return LIVE
    return REFUSED if rec.refusal is not None else STARTING


def wants(rooms: list[Room]) -> list[dict[str, str]]:
    """The rooms this node wants a recorder for (published with its heartbeat; the control plane launches and
    dismisses recorders from it: recording/launch.py): `required` ones while anyone is in them, `allowed` ones while
    a host's `record_start` is in force. A room where only recorders are left has ended (its recorder is
    dismissed); a room with no link (a token minted without one) cannot be recorded."""
    out = []
    for room in rooms:
        rec = room.recording
        if not rec.link or all(p.recorder for p in room.participants.values()):
            continue
        if is_on(room):
            out.append({"tenant": room.tenant, "room": room.name, "link": rec.link, "policy": rec.policy.value,
                        "session": rec.session})
    return out


def recorders(room: Room) -> list[str]:
    """The participants that count as the room's recorder: recorder credential, its signalling attached (a recorder
    that died stops counting at once, not after the resume grace), and in the MLS group if any. In a cascaded
    meeting, the recorder of another node counts too: marked only on its control-plane credential verified here
    (sfu/cascade/roles.py), attached while its node carries it (gone with its `left` or the link). Whether it is in
    the group is the home's to say (it orders it): on the home its own Delivery Service, on every other node the
    home's verdict over the link (`home_verdict`), so one recorder releases the `required` hold on every node, and
    none before it is in the group."""
    verdict = room.recording.home_verdict
    members = verdict if verdict is not None else room.group.members if room.group.epoch is not None else None
    return [p.id for p in room.participants.values()
            if p.recorder and (p.connected or p.relayed_from is not None) and (members is None or p.id in members)]


class MediaHold:
    """Holds back the media of rooms whose recorder is required and missing; counts what it held."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.held_before = 0  # packets held in holds that have ended (or of tracks removed while held)
        # a node that cascades: whose word says which recorders are in a room's group (`RoomRecording.home_verdict`,
        # sfu/cascade/handshakes.py); it calls `update` whenever that changes
        self.group_view: Callable[[Room], frozenset[str] | None] | None = None

    def engine_paused(self, sub: Subscription, paused: bool) -> bool:
        """What the engine is told for `sub`: paused by last-N (`paused`), held for the recorder, or held while
        the tenant's policy is unconfirmed (sfu/withdrawal.py)."""
        room = sub.subscriber.room
        return paused or room.recording.held or room.residency_held

    def repause(self, room: Room) -> None:
        """Tell the engine again what each subscription of `room` is (its residency hold changed)."""
        engine = self.node.media_engine
        for p in room.participants.values():
            for sub in p.subscriptions.values():
                engine.set_paused(sub.index, self.engine_paused(sub, sub.paused))
                if not self.engine_paused(sub, sub.paused):
                    self.node.keyframes.request(sub.track, sub.layer, force=True)

    def joined(self, p: Participant, policy: str, link: str = "") -> None:
        """A participant came in with a verified credential saying `policy` (for the meeting `link`)."""
        rec = p.room.recording
        rec.link = rec.link or link
        rec.policy = stricter(rec.policy, RecordingPolicy.parse(policy))
        if rec.policy is RecordingPolicy.REQUIRED and not rec.session:
            rec.session = secrets.token_urlsafe(9)  # "required": one session for as long as the room lasts
        self.update(p.room, newcomer=p)

    def update(self, room: Room, newcomer: Participant | None = None) -> None:
        """Re-decides after anything that may change it: a join, a leave, an MLS membership change, the home's
        verdict."""
        rec = room.recording
        if self.group_view is not None:
            rec.home_verdict = self.group_view(room)
        held = not media_may_start(rec.policy, bool(recorders(room)))
        if held == rec.held:
            self.refresh(room, exclude=newcomer)
            return
        engine = self.node.media_engine
        if held:
            rec.received_at_hold = {i: self._received(i) for i in self._indexes(room)}
        else:
            self.held_before += self._held_now(room)
            rec.received_at_hold = {}
        rec.held = held
        rec.state = decide(room)
        if rec.state == LIVE:
            rec.refusal = None
        for p in room.participants.values():
            for sub in p.subscriptions.values():
                engine.set_paused(sub.index, self.engine_paused(sub, sub.paused))
                if not held and not sub.paused:
                    self.node.keyframes.request(sub.track, sub.layer, force=True)
        room.broadcast({"type": "recording", **describe(room)}, exclude=newcomer)

    def refresh(self, room: Room, exclude: Participant | None = None) -> None:
        """Re-decides the state (a recorder subscribed, a track came or went) and tells everyone if it changed."""
        state = decide(room)
        if state == LIVE:
            room.recording.refusal = None  # a recorder that dies later is awaited again, until refused again
        if state != room.recording.state:
            room.recording.state = state
            room.broadcast({"type": "recording", **describe(room)}, exclude=exclude)

    def refused(self, refusals: dict[tuple[str, str], tuple[str, str]]) -> None:
        """The control plane's refusals for this node's rooms ((tenant, room) -> (code, message), from the
        registry; sfu/agent.py). A refusal marks a room that has no recorder yet; it lasts until a recorder is live
        or the session ends (the registry's refusal document comes and goes once a minute)."""
        for room in list(self.node.rooms.values()):
            got = refusals.get((room.tenant, room.name))
            rec = room.recording
            if got is None or rec.state not in (STARTING, REFUSED) or rec.refusal == got:
                continue
            rec.refusal = got
            self.refresh(room)

    def track_removed(self, track: Track) -> None:
        """Before the engine forgets a track of a held room: what it held so far stays counted."""
        rec = track.owner.room.recording
        if rec.held:
            for layer in track.layers:
                self.held_before += max(0, self._received(layer.index) - rec.received_at_hold.pop(layer.index, 0))

    def held_packets(self) -> int:
        """Packets publishers sent into held rooms, none of them forwarded (metrics, tests)."""
        return self.held_before + sum(self._held_now(r) for r in self.node.rooms.values() if r.recording.held)

    def _indexes(self, room: Room) -> list[int]:
        return [layer.index for t in room.tracks() for layer in t.layers]

    def _received(self, index: int) -> int:
        st = self.node.media_engine.track_stats(index)
        return st[0] if st is not None else 0

    def _held_now(self, room: Room) -> int:
        base = room.recording.received_at_hold
        return sum(max(0, self._received(i) - base.get(i, 0)) for i in self._indexes(room))
