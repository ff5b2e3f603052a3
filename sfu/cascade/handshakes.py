"""One MLS group per cascaded meeting (issues 12 and 14): the meeting's home node (the registry's placement) runs
the only Delivery Service that orders its handshakes; every other node of the star carries its own participants'
handshakes to the home and the home's answers back, on the relay link's second sealed lane
(`RelayKeys.channel(LANE)`: the link's keys, its own nonces and sequence; docs/protocol.md "Node ↔ node relay").
One link carries every meeting two nodes share: the lane (`Wire`) is the link's, each meeting on it is a `Lane`,
every message but `alive` names its meeting, and the roles below are per meeting (a node may be one meeting's
home and another's far node on the same link). A meeting's lane is used once both sides opened it on the link.

- **Far node** (any node of the meeting but its home): a local participant's `mls_*` message, checked for shape, size and rate
  where the participant is attached (sfu/app/signalling.py), goes to the home as `mls` {from, message}; while no
  link to the home is open (being dialled, or closed) it waits, bounded (`MAX_WAITING`: the oldest are dropped and
  counted). `mls_deliver` {message, to | exclude} from the home reaches this node's own participants only, and
  only the Delivery Service's message types.
- **Home**: `mls` from a far node is ordered by the room's `GroupLog` as if its sender were attached here — only
  for a participant that very node announced: a far node speaks for its own members, never for the home's or
  another node's. What the Delivery Service sends to a participant of another node, or to everyone, goes on that
  node's lane (`Room.remote`).
- **Both ways**, `member` {participant, name, rejoin, credential?} and `unmember` {participant}: who is in the
  meeting on the sender's side (the home: its own participants and every other node's; a far node: its own), so
  every member's presence — which its MLS client compares with the roster (signalling/client/e2ee/group.js) —
  lists everyone, publishing or not (sfu/cascade/members.py). A recorder's `member` carries its join credential,
  on which alone the receiver marks it the recorder (sfu/cascade/roles.py). The roster goes before any handshake on the same lane, so no
  handshake overtakes the join it is about.
- **Home → far**, `recorders` {in, epoch}: the recorders the home counts in the group it orders, whenever that
  changes; a far node's `required` hold goes by it (sfu/cascade/verdicts.py). From a far node it is refused.

A link that closes: the home counts the far node's members as left (its members commit their removal by the
normal rules); the far node's participants see the home's leave and, once a new link is up, are announced with
`rejoin`: the home sends each one `mls_resync` with the newest GroupInfo, on which its client rejoins (or asks
for the commits it missed, which remove it, and then rejoins). Nothing here parses MLS; a lying node can stall
the meeting, never add a member (the link proof and PSK, docs/e2ee.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

import httpx

from residency.errors import RelayRefused
from residency.relay import RelayChannel
from sfu.app.limits import SignallingLimits
from sfu.cascade import verdicts
from sfu.cascade.dial import PeerRefused, PeerSlow, send
from sfu.cascade.link import Key, RelayLink, meeting_of, scoped
from sfu.cascade.routes import MAX_HANDSHAKE, MAX_HANDSHAKES, MAX_HANDSHAKES_BODY, REPLAYED
from sfu.cascade.stall import Stall
from sfu.cascade.witness import Witness
from sfu.e2ee import messages as handshake
from sfu.e2ee.delivery import Delivery
from sfu.e2ee.messages import MAX_ID, Commit, Handshake, HandshakeError, WelcomePart
from sfu.ratelimit import TokenBucket
from sfu.recording import recorders

if TYPE_CHECKING:
    from sfu.cascade.members import RelayedMembers
    from sfu.node import Node
    from sfu.participant import Participant
    from sfu.room import Room

log = logging.getLogger("castellan.cascade")

LANE = 1
INTERVAL = 0.25  # seconds between roster passes (a join is announced at once when a handshake follows it)
MAX_WAITING = 256  # handshakes of one room waiting for a link to its home
MAX_WAITING_CHARS = 4 * 1024 * 1024
MAX_NAME = 256
# an idle lane says `alive` this often: a link the other side closed (its node restarted, or it dropped the
# link) is found by the refusal and dialled again, so its members regroup without waiting for their next message
KEEPALIVE = 2.0
SLOW_RETRY = 0.5  # seconds before a post the peer did not answer in time is retried
# a far node with no open lane to the home it knows asks the registry again this often: the home may have died and
# the meeting been re-placed (perhaps here). Never while the lane is up: a registry entry alone (Redis is not
# trusted) does not take a live home's group away from it
RESOLVE_AGAIN = 2.0
# what a home may send a far node's participants: the Delivery Service's own messages (docs/protocol.md)
SERVER_TYPES = frozenset({"mls_created", "mls_join_request", "mls_commit", "mls_commit_accepted",
                          "mls_commit_rejected", "mls_welcome", "mls_resync", "mls_handover"})

FAREWELL_WAIT = 2.0  # seconds a meeting's last roster may take to post before its `close` goes anyway


@dataclass
class Wire:
    """One link's handshake lane: its channel and its posts, shared by every meeting on the link."""

    peer: str
    link: RelayLink
    channel: RelayChannel
    outbox: deque[str] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    sent_at: float = field(default_factory=time.monotonic)  # the last post
    posting: bool = False  # a batch is on its way (its sequence numbers come before what waits)
    stall: Stall = field(default_factory=Stall)  # its posts going unanswered: since when


@dataclass
class Lane:
    """One meeting on a link's handshake lane: every message it seals names the meeting."""

    wire: Wire
    key: Key  # the meeting
    home: bool  # this node is the meeting's home (else the peer is)
    announced: dict[str, str] = field(default_factory=dict)  # participants told to the peer: id -> name
    heard: set[str] = field(default_factory=set)  # participants the peer announced (its own, on the home)
    ready: bool = False  # a far node's lane: the home's whole roster came (`ready`); the home's: always
    started: bool = False  # the home's lane: its first roster and `ready` are sent
    told: frozenset[str] | None = None  # the home's lane: the recorders its last `recorders` verdict named

    @property
    def peer(self) -> str:
        return self.wire.peer

    @property
    def link(self) -> RelayLink:
        return self.wire.link

    def seal(self, message: dict[str, Any]) -> None:
        self.wire.outbox.append(self.wire.channel.seal(scoped(self.key, message)))


@dataclass
class Waiting:
    messages: deque[tuple[str, Handshake]] = field(default_factory=deque)
    chars: int = 0


class CascadeHandshakes:
    def __init__(self, node: Node, members: RelayedMembers, home: Callable[[str, str], str | None],
                 limits: SignallingLimits | None = None) -> None:
        self.node = node
        # a far node applies the handshake budget to its participants; the home applies it again to what comes
        # over the link in their name, so a far node that lies about its own cannot flood the home's members
        self.limits = limits or SignallingLimits()
        self.members = members
        self.relays = members.relays
        self.home = home  # the registry's placement (blocking: called off the event loop)
        self.me = node.config.node_id
        self.homes: dict[Key, str | None] = {}
        self.wires: dict[str, Wire] = {}  # other node -> its link's handshake lane
        self.lanes: dict[tuple[str, Key], Lane] = {}  # (other node, meeting) -> that meeting on the lane
        self.waiting: dict[Key, Waiting] = {}
        self.rejoin: dict[Key, set[str]] = {}  # this node's participants to announce with `rejoin`
        # on the home: far members whose link closed -> the room's epoch then. One announced again (`rejoin`) while
        # the epoch has not moved is still in the MLS group (nobody committed since): counted a member again
        self.away: dict[Key, dict[str, int]] = {}
        # on a far node: what it saw of the home's group, to carry it on if the meeting is re-placed here
        self.witnesses: dict[Key, Witness] = {}
        # on a far node: (home, meeting) -> the recorders the home last said are in the group (sfu/cascade/verdicts.py)
        self.verdicts: dict[tuple[str, Key], frozenset[str]] = {}
        self._asked: dict[Key, float] = {}  # when the registry was last asked for each meeting's home
        self.counts: Counter[str] = Counter()  # what was dropped or refused on the lane, by reason
        self.client: httpx.AsyncClient | None = None
        self._resolving: set[Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.relays.closed.insert(0, self.on_link_closed)  # before RelayedMembers drops its members
        node.recording.group_view = self.group_view  # the `required` hold goes by the home's word on the group

    def group_view(self, room: Room) -> frozenset[str] | None:
        """Which recorders are in `room`'s group as this node may tell: None — its own Delivery Service (it is the
        home); else the home's last verdict on the lane (sfu/cascade/verdicts.py), empty until there is one."""
        home = self.homes.get(room.key)
        return verdicts.view(self.me, room.key in self.homes, home, self.verdicts.get((home or "", room.key)))

    def homed(self, tenant: str, room: str) -> bool:
        """This node is the meeting's home (`Relays.homed`): as the registry said when last asked."""
        return self.homes.get((tenant, room)) == self.me

    async def known_home(self, key: Key) -> None:
        if key not in self.homes:
            await self._resolved(key)

    # ---- the node's side: a local participant's handshake

    def forward(self, sender: str, room: Room, m: Handshake) -> bool:
        """Called for every checked, paid-for handshake of a local participant: True when it is the home's to
        order (sent, or waiting for the link); False when this node orders it itself (it is the home)."""
        key = room.key
        if key in self.homes:
            home = self.homes[key]
            if home is None or home == self.me:
                return False
            lane = self.lanes.get((home, key))
            if isinstance(m, Commit | WelcomePart) and (lane is None or not lane.ready):
                # no link to the home, or a new one whose roster has not come yet: what this member would commit
                # now rests on a view the outage made (the home's members "left"); answered as a commit with no
                # group to go to, never kept for later
                self.node.handshakes.count(handshake.to_message(m)["type"], "no_link", handshake.size(m))
                if isinstance(m, Commit):
                    room.deliver([Delivery({"type": "mls_commit_rejected", "epoch": None, "reason": "no_group"},
                                           to=sender)])
                return True
            self._wait(key, sender, m)
            self._flush_waiting(key)
            return True
        self._wait(key, sender, m)  # the placement is not known yet: nobody orders it before it is
        self._resolve(key)
        return True

    def _wait(self, key: Key, sender: str, m: Handshake) -> None:
        w = self.waiting.setdefault(key, Waiting())
        w.messages.append((sender, m))
        w.chars += handshake.size(m)
        while len(w.messages) > MAX_WAITING or w.chars > MAX_WAITING_CHARS:
            lost, old = w.messages.popleft()
            w.chars -= handshake.size(old)
            self.counts["handshake_waiting_dropped"] += 1
            self.rejoin.setdefault(key, set()).add(lost)  # what it sent is gone: it starts again with the home

    def _resolve(self, key: Key) -> None:
        if key in self._resolving:
            return
        self._resolving.add(key)
        self._asked[key] = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._resolved(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolved(self, key: Key) -> None:
        try:
            home = await asyncio.to_thread(self.home, *key)
        except Exception:  # noqa: BLE001 - the registry is unreachable: the next pass asks again
            log.warning("no placement for %s/%s yet", *key)
            return
        finally:
            self._resolving.discard(key)
        self.homes[key] = home
        if home is None or home == self.me:  # ours to order: what waited is ordered now, in order
            w = self.waiting.pop(key, None)
            room = self.node.rooms.get(key)
            again = self._succeed(room) if room is not None else []
            for sender, m in [*again, *(w.messages if w is not None else ())]:
                p = room.participants.get(sender) if room is not None else None
                if room is not None and p is not None and p.relayed_from is None and not p.left:
                    self.order(room, sender, m)
        else:
            self._outage_commits(key)
            self._flush_waiting(key)
        room = self.node.rooms.get(key)
        if room is not None:
            self.node.recording.update(room)  # whose word counts for the `required` hold is known now

    def _succeed(self, room: Room) -> list[tuple[str, Handshake]]:
        """The meeting is placed here now, and this node was a far node of it (its home died, or was re-placed):
        its Delivery Service carries on the group its participants are in (sfu/cascade/witness.py) rather than
        starting with none; returns what they sent the old home unanswered, to order again."""
        seen = self.witnesses.pop(room.key, None)
        if seen is None:
            return []
        local = [p.id for p in room.participants.values() if p.relayed_from is None and not p.left]
        again = seen.hand_over(room.group, local)
        if seen.group.epoch is not None:
            self.rejoin.pop(room.key, None)  # they are members of the group ordered here: nothing to rejoin
            self.counts["home_taken_over"] += 1
            log.info("home of %s/%s now: carrying on its group at epoch %s, %d member(s) here", *room.key,
                     room.group.epoch, len(room.group.members))
        return again

    def _outage_commits(self, key: Key) -> None:
        """Commits that waited while this node had no lane to the meeting's home (it asked the registry again)
        rest on the view the outage made (the home's members "left"): as while the lane is down, each is answered
        `no_group` and dropped, never carried to a home that may still order the group (only a home that is this
        node now orders them, `_succeed`)."""
        w = self.waiting.get(key)
        room = self.node.rooms.get(key)
        if w is None or room is None:
            return
        kept: deque[tuple[str, Handshake]] = deque()
        for sender, m in w.messages:
            if not isinstance(m, Commit | WelcomePart):
                kept.append((sender, m))
                continue
            w.chars -= handshake.size(m)
            self.node.handshakes.count(handshake.to_message(m)["type"], "no_link", handshake.size(m))
            if isinstance(m, Commit):
                room.deliver([Delivery({"type": "mls_commit_rejected", "epoch": None, "reason": "no_group"},
                                       to=sender)])
        w.messages = kept

    def _flush_waiting(self, key: Key) -> None:
        lane = self._lane(self.homes.get(key) or "", key)
        w = self.waiting.get(key)
        room = self.node.rooms.get(key)
        if lane is None or lane.home or w is None or room is None or not self._up(lane):
            return
        self._roster(lane)
        while w.messages:
            sender, m = w.messages.popleft()
            p = room.participants.get(sender)
            if p is None or p.relayed_from is not None or p.left:
                continue  # it left meanwhile (and was announced as gone)
            message = handshake.to_message(m)
            lane.seal({"type": "mls", "from": sender, "message": message})
            self.witnesses.setdefault(key, Witness()).sent(sender, m)
            self.node.handshakes.count(message["type"], "forwarded", handshake.size(m))
        w.chars = 0
        del self.waiting[key]
        lane.wire.wake.set()

    # ---- the home's Delivery Service

    def order(self, room: Room, sender: str, m: Handshake) -> None:
        """What sfu/app/signalling.py does with a local member's handshake, for one attached anywhere."""
        stats = self.node.handshakes
        outcome = room.group.handle(sender, m, list(room.participants))
        self.node.recording.update(room)
        kind = handshake.to_message(m)["type"]
        stats.count(kind, outcome.verdict, handshake.size(m))
        if outcome.held_back:
            stats.messages[("mls_join_request", "held_back")] += outcome.held_back
        stats.bytes_out += room.deliver(outcome.deliveries)

    def _remote(self, room: Room, deliveries: list[Delivery]) -> None:
        """`Room.remote` on the home: each delivery for a far node's participant, or for everyone, on that lane."""
        for (peer, key), lane in list(self.lanes.items()):
            if not lane.home or key != room.key or not self._up(lane):
                continue
            self._roster(lane)
            for d in deliveries:
                if d.to is not None:
                    target = room.participants.get(d.to)
                    if target is None or target.relayed_from != peer:
                        continue
                    msg: dict[str, Any] = {"type": "mls_deliver", "to": d.to, "message": d.message}
                else:
                    msg = {"type": "mls_deliver", "exclude": d.exclude, "message": d.message}
                lane.seal(msg)
            lane.wire.wake.set()

    # ---- the lane

    def _up(self, lane: Lane) -> bool:
        """The lane's link is the current one and both sides opened its meeting: this node may send of it."""
        link = self.relays.links.get(lane.peer)
        return link is lane.link and link.up(lane.key) is not None

    def _wire(self, peer: str) -> Wire | None:
        """The handshake lane of the link to `peer`, made when the link is new; None without a link."""
        link = self.relays.links.get(peer)
        if link is None:
            return None
        wire = self.wires.get(peer)
        if wire is not None and wire.link is link:
            return wire
        if wire is not None:
            self._drop_wire(wire)
        wire = self.wires[peer] = Wire(peer, link, link.keys.channel(LANE, MAX_HANDSHAKE))
        if self.client is not None:
            wire.task = asyncio.get_running_loop().create_task(self._pump(wire))
        return wire

    def _drop_wire(self, wire: Wire) -> None:
        if wire.task is not None:
            wire.task.cancel()
        if self.wires.get(wire.peer) is wire:
            del self.wires[wire.peer]

    def _lane(self, peer: str, key: Key) -> Lane | None:
        """Meeting `key` on the lane of the link to `peer`, made when first needed; None without a link that
        admitted the meeting, or before its home is known."""
        link = self.relays.links.get(peer)
        if link is None or not link.admitted(key) or key not in self.homes:
            return None
        lane = self.lanes.get((peer, key))
        if lane is not None and lane.link is link:
            return lane
        if lane is not None:
            self._closed(lane)
        home = self.homes[key]
        if home != self.me and home != peer:
            self.counts["handshake_lane_not_home"] += 1  # a meeting neither to nor from its home: no lane
            return None
        wire = self._wire(peer)
        assert wire is not None
        lane = self.lanes[(peer, key)] = Lane(wire, key, home == self.me, ready=home == self.me)
        self._hook(lane)
        self._roster(lane)
        return lane

    def _hook(self, lane: Lane) -> None:
        room = self.node.rooms.get(lane.key)
        if lane.home and room is not None and room.remote is None:
            room.remote = functools.partial(self._remote, room)

    def _roster(self, lane: Lane) -> None:
        """Tell the peer who joined and left since the last time: on the home every participant not of the
        peer's node, on a far node its own participants; nothing before both sides opened the meeting. The home's
        first roster ends with `ready`: the far node's members commit on a true view only."""
        if not self._up(lane):
            return
        room = self.node.rooms.get(lane.key)
        peer = lane.peer
        want: dict[str, Participant] = {}
        for p in room.participants.values() if room is not None else ():
            if p.left or (p.relayed_from is not None and (not lane.home or p.relayed_from == peer)):
                continue
            want[p.id] = p
        for pid in [x for x in lane.announced if x not in want]:
            del lane.announced[pid]
            lane.seal({"type": "unmember", "participant": pid})
        rejoin = self.rejoin.get(lane.key, set())
        for pid, p in want.items():
            if pid not in lane.announced:
                lane.announced[pid] = p.name
                msg: dict[str, Any] = {"type": "member", "participant": pid, "name": p.name, "rejoin": pid in rejoin}
                if p.recorder and p.credential:  # the peer marks it the recorder only if this verifies there
                    msg["credential"] = p.credential
                lane.seal(msg)
                rejoin.discard(pid)
        if lane.home and not lane.started:
            lane.started = True
            lane.seal({"type": "ready"})
        if lane.home and room is not None:  # which recorders are in the group: only the home may say (it orders it)
            counted = frozenset(recorders(room))
            if counted != lane.told:
                lane.told = counted
                lane.seal(verdicts.verdict(counted, room.group.epoch))
        if lane.wire.outbox:
            lane.wire.wake.set()

    async def _pump(self, wire: Wire) -> None:
        """Posts the lane's messages in order, batched; a refused or failed post closes the link (both sides
        then start again with a new one, as for the track announcements) — with its sealed `close`, unless the
        other node said it has no link (or did not answer). A post the peer did not answer in time is retried
        while the link may wait on it (sfu/cascade/stall.py), then closes it too."""
        assert self.client is not None
        peer = wire.peer
        while True:
            await wire.wake.wait()
            wire.wake.clear()
            while wire.outbox:
                batch: list[str] = []
                size = 0
                while wire.outbox and len(batch) < MAX_HANDSHAKES and (
                        not batch or size + len(wire.outbox[0]) < MAX_HANDSHAKES_BODY // 2):
                    batch.append(wire.outbox.popleft())
                    size += len(batch[-1])
                wire.sent_at = time.monotonic()
                wire.posting = True
                try:
                    await send(self.relays, peer, batch, self.client, handshakes=True)
                    wire.stall.answered()
                except PeerSlow as e:  # perhaps only slow (sfu/cascade/stall.py): the batch again, first
                    self.relays.refused[e.code] += 1
                    if self.relays.links.get(peer) is wire.link and wire.stall.waits(
                            time.monotonic(), len(batch) + len(wire.outbox),
                            size + sum(len(x) for x in wire.outbox)):
                        wire.outbox.extendleft(reversed(batch))
                        log.warning("handshakes to %s: %s; retried", peer, e.message)
                        await asyncio.sleep(SLOW_RETRY)
                        continue
                    log.warning("handshakes to %s: %s; closing the link", peer, e.message)
                    if self.relays.links.get(peer) is wire.link:
                        self.relays.close(peer, farewell=False)
                    return
                except RelayRefused as e:
                    self.relays.refused[e.code] += 1
                    log.warning("handshakes to %s refused: %s; closing the link", peer, e.message)
                    if self.relays.links.get(peer) is wire.link:
                        gone = not isinstance(e, PeerRefused) or e.peer_code == "relay_no_link"
                        self.relays.close(peer, farewell=not gone)
                    return
                finally:
                    wire.posting = False

    async def farewell(self, peer: str, key: Key) -> None:
        """Before this node takes meeting `key` off its link to `peer`: the participants it announced leave the
        peer's view (posted, in order, before the caller's `close`)."""
        lane = self.lanes.get((peer, key))
        if lane is None or self.client is None or not self._up(lane):
            return
        self._roster(lane)
        wire = lane.wire
        if wire.task is None or wire.task.done():
            return
        wire.wake.set()
        for _ in range(int(FAREWELL_WAIT / 0.02)):  # the pump posts it (one poster: the sequence stays in order)
            if not wire.outbox and not wire.posting:
                return
            await asyncio.sleep(0.02)

    def on_link_closed(self, peer: str, key: Key) -> None:
        lane = self.lanes.pop((peer, key), None)
        if lane is not None:
            self._closed(lane)
        wire = self.wires.get(peer)
        if wire is not None and self.relays.links.get(peer) is not wire.link:
            self._drop_wire(wire)  # the whole link closed

    def _closed(self, lane: Lane) -> None:
        if self.lanes.get((lane.peer, lane.key)) is lane:
            del self.lanes[(lane.peer, lane.key)]
        room = self.node.rooms.get(lane.key)
        if room is None:
            return
        if not lane.home:  # our participants were in the home's group: they start again with the next link
            mine = {p.id for p in room.participants.values() if p.relayed_from is None}
            self.rejoin.setdefault(lane.key, set()).update(set(lane.announced) & mine)
            # the home may be gone (the room re-placed, perhaps here): ask the registry again at the next step
            if self.homes.get(lane.key) == lane.peer:
                del self.homes[lane.key]
            # its word on the group went with the lane (and the home counts our members as left): held again
            self.verdicts.pop((lane.peer, lane.key), None)
            self.node.recording.update(room)
        elif not room.participants and self.node.rooms.get(lane.key) is room:
            del self.node.rooms[lane.key]  # opened for the link (`Relays.accept`), and nobody came over it
        elif room.group.epoch is not None:
            away = self.away.setdefault(lane.key, {})
            for pid in lane.heard & room.group.members:
                away[pid] = room.group.epoch

    # ---- what a peer sends

    async def receive(self, sender: str, sealed: list[Any]) -> tuple[int, str | None]:
        """Opens and applies `sender`'s lane messages in order: (how many applied, the refusal code or None). A
        message of a meeting the link does not carry (or whose lane this node has not: neither side is its home)
        is dropped and counted (`relay_meeting_unknown`, `relay_not_home`): it reaches no other meeting."""
        wire = self._wire(sender)
        if wire is None:
            self.relays.refused["relay_no_link"] += 1
            return 0, "relay_no_link"
        applied = 0
        for one in sealed:
            try:
                msg = wire.channel.open(one)
                if msg.get("type") != "alive":
                    key = meeting_of(msg)
                    if key not in self.homes and self.relays.links.get(sender) is wire.link \
                            and wire.link.admitted(key):
                        await self._resolved(key)  # the placement: one registry read
                    lane = self._lane(sender, key)
                    if lane is not None:
                        self._apply(sender, lane, msg)
                    else:
                        code = "relay_meeting_unknown" if not wire.link.admitted(key) else "relay_not_home"
                        self.relays.refused[code] += 1
            except RelayRefused as e:
                self.relays.refused[e.code] += 1
                if e.code == REPLAYED:  # seen already (a retried post): skipped
                    continue
                return applied, e.code
            applied += 1
        return applied, None

    def _apply(self, sender: str, lane: Lane, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "ready" and not lane.home:
            lane.ready = True
            return
        room = self.node.rooms.get(lane.key)
        if room is None:
            raise RelayRefused("relay_room_unknown", "the meeting is gone from this node")
        if kind == "member":
            pid, name, credential = msg.get("participant"), msg.get("name"), msg.get("credential")
            if not _id(pid) or not isinstance(name, str) or len(name) > MAX_NAME:
                raise RelayRefused("relay_message_malformed", "member: participant id and name")
            if credential is None and msg.get("recorder") is not None:
                self.members.refused["relay_recorder_no_credential"] += 1  # its word alone marks nobody
            # a far node presents only credentials issued to itself; the home relays every other node's
            p = self.members.add_member(sender, lane.key, pid, name, credential,
                                        issued_for=sender if lane.home else None)
            if p is not None and lane.home:
                lane.heard.add(pid)
                if msg.get("rejoin") is True:
                    self._rejoined(room, pid)
        elif kind == "unmember":
            pid = msg.get("participant")
            if not _id(pid):
                raise RelayRefused("relay_message_malformed", "unmember: a participant id")
            lane.heard.discard(pid)
            self.members.remove_member(sender, lane.key, pid)
        elif kind == "mls" and lane.home:
            pid, inner = msg.get("from"), msg.get("message")
            p = room.participants.get(pid) if isinstance(pid, str) else None
            if (p is None or p.relayed_from != sender
                    or pid not in self.members.announced.get((sender, lane.key), set())):
                self.counts["handshake_not_theirs"] += 1  # a far node speaks for its own members only
                return
            if not isinstance(inner, dict) or not isinstance(inner.get("type"), str):
                raise RelayRefused("relay_message_malformed", "mls: a handshake message")
            try:
                m = handshake.parse(inner)
            except HandshakeError as e:
                self.node.handshakes.count(inner["type"] if e.code != "unknown_type" else "mls_unknown", e.code, 0)
                return
            lim = self.limits
            if p.handshake_budget is None:
                p.handshake_budget = TokenBucket(lim.handshake_rate, lim.handshake_burst)
            if p.handshake_budget.take(handshake.size(m) + lim.handshake_message_cost) > 0:
                self.node.handshakes.count(inner["type"], "rate_limited", handshake.size(m))
                return  # dropped: an honest far node never sends this much (it applies the same budget)
            self.order(room, pid, m)
        elif kind == "mls_deliver" and not lane.home:
            inner = msg.get("message")
            to, exclude = msg.get("to"), msg.get("exclude")
            if (not isinstance(inner, dict) or inner.get("type") not in SERVER_TYPES
                    or not (to is None or _id(to)) or not (exclude is None or _id(exclude))):
                raise RelayRefused("relay_message_malformed", "mls_deliver: a Delivery Service message")
            if to is not None:
                p = room.participants.get(to)
                if p is None or p.relayed_from is not None:
                    self.counts["handshake_not_ours"] += 1  # only this node's own participants are reached here
                    return
            self.witnesses.setdefault(lane.key, Witness()).delivered(inner, to)
            self.node.handshakes.bytes_out += room.deliver([Delivery(inner, to=to, exclude=exclude)])
        elif kind == "recorders" and not lane.home:  # the home's verdict; sent to the home, it is refused below
            said, epoch = verdicts.heard(msg)
            if said != self.verdicts.get((sender, lane.key)):
                log.info("home %s: recorders in the group of %s/%s at epoch %s: %s", sender, *lane.key, epoch,
                         sorted(said))
            self.verdicts[(sender, lane.key)] = said
            self.node.recording.update(room)
        else:
            raise RelayRefused("relay_message_malformed", f"{kind!r} is not a message this side of the lane takes")

    def _rejoined(self, room: Room, pid: str) -> None:
        """A far member is back after its link closed: still a member if no commit came since (it missed
        nothing); else it gets `mls_resync` with the newest GroupInfo, the evidence its client rejoins on
        (docs/e2ee.md) — or asks for the commits, which remove it, and then rejoins."""
        group = room.group
        was = self.away.get(room.key, {}).pop(pid, None)
        if group.epoch is None or pid in group.members or pid in group.key_packages:
            return
        if was is not None and was == group.epoch:
            group.members.add(pid)
            return
        room.deliver([group.resync(pid)])

    # ---- every INTERVAL

    async def run(self) -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            self.client = client
            try:
                while True:
                    try:
                        self.step()
                    except Exception:  # noqa: BLE001 - one bad pass must not end the meeting's handshakes
                        log.exception("handshake pass failed")
                    await asyncio.sleep(INTERVAL)
            finally:
                for wire in list(self.wires.values()):
                    if wire.task is not None:
                        wire.task.cancel()
                for task in list(self._tasks):
                    task.cancel()
                self.client = None

    def step(self) -> None:
        for key in list(self.node.rooms):
            if key not in self.homes:
                self._resolve(key)
        for key in [k for k in self.homes if k not in self.node.rooms and k not in self.waiting]:
            del self.homes[key]
        for key in [k for k in self.rejoin if k not in self.node.rooms]:
            del self.rejoin[key]
        for key in [k for k in self.away if k not in self.node.rooms]:
            del self.away[key]
        for key in [k for k in self.witnesses if k not in self.node.rooms]:
            del self.witnesses[key]
        for at in [x for x in self.verdicts if x[1] not in self.node.rooms]:
            del self.verdicts[at]
        for key in [k for k in self.members.roles.kept if k not in self.node.rooms]:
            self.members.roles.forget(key)
        for key in [k for k in self._asked if k not in self.homes and k not in self._resolving]:
            del self._asked[key]
        for key, seen in self.witnesses.items():
            seen.forget(self.node.rooms[key].participants)
        now = time.monotonic()
        for key, home in list(self.homes.items()):  # a home whose lane is gone may be gone: ask again
            if home is None or home == self.me or key not in self.node.rooms:
                continue
            lane = self.lanes.get((home, key))
            if (lane is None or not self._up(lane)) and now - self._asked.get(key, 0.0) >= RESOLVE_AGAIN:
                self._resolve(key)
        for peer, link in list(self.relays.links.items()):
            wire = self._wire(peer)
            if wire is None:
                continue
            if wire.task is None and self.client is not None:
                wire.task = asyncio.get_running_loop().create_task(self._pump(wire))
            for key in list(link.meetings):
                lane = self._lane(peer, key)
                if lane is not None:
                    self._hook(lane)
                    self._roster(lane)
            if not wire.outbox and time.monotonic() - wire.sent_at > KEEPALIVE:
                wire.outbox.append(wire.channel.seal({"type": "alive"}))
                wire.wake.set()
        for key in list(self.waiting):
            self._flush_waiting(key)


def _id(v: object) -> TypeGuard[str]:
    return isinstance(v, str) and 0 < len(v) <= MAX_ID

