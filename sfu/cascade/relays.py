"""A node's relay links, by the other node's id: the handshake's two ends (residency/relay.py) bound to this
node's engine and tables. Opening a link takes an engine peer index and sends media to the UDP address the
believed registry record names — never an address from the handshake message, so a peer cannot point the link
elsewhere. Every refusal is counted by code (`refused`) and costs no engine entry.

One link per pair of nodes, carrying every meeting the two share (docs/architecture.md "Cascading"): the
handshake opens it for one meeting; another is added with a sealed `open` (`carry`), which the other side checks
as the handshake would (`admit`: the tenant allows both nodes' regions, this node carries the meeting or is its
home) before it takes anything of it; either side takes a meeting off with `close` (`leave`). Relayed
publishers appear as participants of that meeting's room on this node through `listeners`/`closed`
(sfu/cascade/members.py).

A link closed here for any reason but the other side's own `close` or a handshake that replaces it — its last
meeting gone, a refused post, the node stopping — leaves the sealed `close` in `goodbyes`, which the cascade
posts (sfu/cascade/meeting.py), so the other side closes its own at once.

The node process builds one when it can verify other nodes (sfu/server.py, sfu/factory.py); the handshake
travels over HTTP between the nodes' signalling ports (sfu/cascade/routes.py answers, sfu/cascade/dial.py
asks).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from residency.errors import RelayRefused
from residency.relay import PendingOffer, RelayEndpoint, RelayHello, RelayKeys, RelayTrack
from sfu.cascade.link import CloseAsked, Dropped, Event, Key, LevelsHeard, NeedApplied, Relayed, RelayLink
from sfu.cascade.peers import Believed
from sfu.room import Room

if TYPE_CHECKING:
    from sfu.node import Node

log = logging.getLogger("castellan.cascade")

MAX_GOODBYES = 64  # sealed closes waiting to be posted (a node with more links than this is far beyond its goal)


@dataclass(frozen=True)
class RelaySetup:
    """What a node needs to relay (sfu/server.py builds it; sfu/factory.py binds it to the node)."""

    endpoint: RelayEndpoint
    believed: Callable[[], Believed]
    allowed: Callable[[str], frozenset[str]]
    # (tenant, room) -> the node the room is placed on (its home; the registry's placement), None when unplaced.
    # A node dials the home of each room it carries elsewhere (sfu/cascade/meeting.py); what a forged placement
    # could name is still only a node the handshake verifies (enrolled, signed record, allowed region).
    home: Callable[[str, str], str | None] | None = None


class Relays:
    def __init__(self, node: Node, endpoint: RelayEndpoint, believed: Callable[[], Believed],
                 allowed: Callable[[str], frozenset[str]], clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.endpoint = endpoint
        self.believed = believed
        self.allowed = allowed  # tenant -> its allowed regions (the registry's tenant view, as NodeGuard reads it)
        self.clock = clock
        self.links: dict[str, RelayLink] = {}
        self._pending: dict[str, PendingOffer] = {}
        self.refused: Counter[str] = Counter()
        self.closed_by_peer: Counter[str] = Counter()  # links the other node closed with its sealed `close`
        self.left_by_peer: Counter[str] = Counter()  # meetings the other node took off a link (`close` naming one)
        # sealed messages for each link's next post (an `open` answered, a `close` for a meeting refused)
        self.outbox: dict[str, list[str]] = {}
        # sealed `close`s of links closed here, for the cascade to post: (node, sealed)
        self.goodbyes: deque[tuple[str, str]] = deque(maxlen=MAX_GOODBYES)
        # told of every relayed track that starts or stops: (from node, meeting, "track"/"untrack", what, its
        # engine track per layer)
        self.listeners: list[Callable[[str, Key, str, RelayTrack, tuple[int, ...]], None]] = []
        # told of every meeting that leaves a link, alone or with the link (its engine entries gone): (node, meeting)
        self.closed: list[Callable[[str, Key], None]] = []
        # told of the speaker levels a node sends (sfu/cascade/levels.py): (from node, what it sent)
        self.levels: list[Callable[[str, LevelsHeard], None]] = []
        # (tenant, room) -> this node is the meeting's home (the registry's placement; sfu/cascade/handshakes.py):
        # it accepts a link for it with no participant of its own and opens the room — its Delivery Service
        # orders the meeting's handshakes wherever the participants are
        self.homed: Callable[[str, str], bool] | None = None
        # meeting -> held while its tenant's policy is unconfirmed (sfu/withdrawal.py): no copy crosses
        self.withheld: Callable[[Key], bool] | None = None

    @classmethod
    def for_node(cls, node: Node, setup: RelaySetup) -> Relays:
        return cls(node, setup.endpoint, setup.believed, setup.allowed)

    def cancel(self, to: str) -> None:
        """Forget the offer to `to` (its node did not answer)."""
        self._pending.pop(to, None)

    def offer(self, tenant: str, room: str, to: str) -> dict[str, Any]:
        """The signed offer to send to node `to` (its accept goes to `finish`)."""
        pending = self.endpoint.offer(tenant, room, to, self.clock())
        self._pending[to] = pending
        return pending.offer.to_dict()

    def _rooms(self, key: Key) -> set[Key]:
        rooms = set(self.node.rooms)
        if self.homed is not None and self.homed(*key):
            rooms.add(key)
        return rooms

    def accept(self, body: object) -> dict[str, Any]:
        """Answer another node's offer: the signed accept, and the link opened on this side."""
        try:
            hello = RelayHello.from_dict(body)
            if hello.sender in self._pending and self.endpoint.node < hello.sender:
                # both nodes dialled each other at once: the lower id's offer makes the link (the other side
                # finishes it), never two handshakes replacing each other's keys
                raise RelayRefused("relay_crossed", f"this node's own offer to {hello.sender!r} is under way")
            b = self.believed()
            key = (hello.tenant, hello.room)
            if self.withheld is not None and self.withheld(key):
                raise RelayRefused("relay_policy_unconfirmed",
                                   f"meeting {hello.room!r} is held here: its tenant's policy is not confirmed")
            accept, keys = self.endpoint.accept(hello, keys=b.keys, nodes=b.nodes, allowed=self.allowed(hello.tenant),
                                                now=self.clock(), rooms=self._rooms(key))
            self._pending.pop(hello.sender, None)  # (its finish, if any, finds nothing to finish: this link stands)
            self._open(keys, b, key)
            self._home_room(key)
        except RelayRefused as e:
            self.refused[e.code] += 1
            raise
        return accept.to_dict()

    def _home_room(self, key: Key) -> None:
        if key not in self.node.rooms:  # the home, none of whose own participants is here (yet, or any more)
            self.node.rooms[key] = Room(tenant=key[0], name=key[1])

    def finish(self, to: str, body: object) -> RelayLink:
        """The link to `to`, from its accept of the offer this node sent."""
        try:
            pending = self._pending.pop(to, None)
            if pending is None:
                raise RelayRefused("relay_unexpected", f"no relay offer to {to!r} is waiting for an answer")
            b = self.believed()
            keys = self.endpoint.finish(pending, RelayHello.from_dict(body), keys=b.keys, nodes=b.nodes,
                                        allowed=self.allowed(pending.offer.tenant), now=self.clock())
            return self._open(keys, b, (pending.offer.tenant, pending.offer.room))
        except RelayRefused as e:
            self.refused[e.code] += 1
            raise

    # ---- meetings on a link

    def may_cross(self, peer: str, key: Key) -> str | None:
        """None when meeting `key` may cross the link to `peer` — the tenant allows the peer's region (as the
        handshake proved it) and this node's own — else the refusal code. Read per meeting, from the registry's
        tenant view, as the handshake reads it."""
        link = self.links.get(peer)
        if link is None:
            return "relay_no_link"
        allowed = self.allowed(key[0])
        if link.keys.peer_region not in allowed or self.endpoint.region not in allowed:
            return "relay_region_not_allowed"
        if self.withheld is not None and self.withheld(key):
            return "relay_policy_unconfirmed"
        return None

    def carry(self, peer: str, key: Key) -> bool:
        """Add meeting `key` to the link to `peer` (its sealed `open` goes in the link's next post), once the
        tenant's policy allows both nodes' regions; False (counted) when it does not."""
        code = self.may_cross(peer, key)
        if code is not None:
            self.refused[code] += 1
            return False
        self.outbox.setdefault(peer, []).append(self.links[peer].opening(key))
        return True

    def admit(self, peer: str, key: Key) -> bool:
        """The peer opened meeting `key` on the link: checked as the handshake checks a meeting (the tenant allows
        both regions; this node carries the meeting or is its home), then answered with this node's `open`, or
        refused (counted) with `close` — nothing of the meeting is taken or sent before it is admitted."""
        link = self.links.get(peer)
        m = link.meetings.get(key) if link is not None else None
        if link is None or m is None:
            return False
        if m.opened:
            return True
        code = self.may_cross(peer, key)
        if code is None and key not in self._rooms(key):
            code = "relay_room_unknown"
        if code is not None:
            self.refused[code] += 1
            link.meetings.pop(key, None)
            self.outbox.setdefault(peer, []).append(link.farewell(key))
            log.info("relay meeting %s/%s from %s refused: %s", *key, peer, code)
            return False
        self.outbox.setdefault(peer, []).append(link.opening(key))
        self._home_room(key)
        return True

    def leave(self, peer: str, key: Key) -> None:
        """Meeting `key` off the link to `peer` (either side's `close`): its engine entries gone, its relayed
        participants told to leave; the link and its other meetings stay."""
        link = self.links.get(peer)
        if link is None or key not in link.meetings:
            return
        link.drop(key)
        for listener in self.closed:
            listener(peer, key)

    # ---- what the peer sends

    def deliver(self, sender: str, sealed: object) -> Event:
        """One sealed message from node `sender`, opened with that link's keys (so only that node could have
        sealed it) and applied; RelayRefused (counted) for no link, a forgery, a replay or bad content. A track
        that starts or stops is told to `listeners`; a `need` changes what the link sends at the next pass
        (sfu/cascade/meeting.py) — the tracks it names that the meeting does not announce on the link (another
        meeting's, a stale one) are left out and counted (`relay_need_unknown_track`), as are the layers it names
        that a track does not announce (`relay_need_unknown_layer`), and a need changing what crosses faster than a
        node's passes could is dropped (`relay_need_flood`, sfu/cascade/link.py NEED_RATE); a message of a meeting
        this node did not admit is counted (`relay_meeting_unknown`) and changes nothing; speaker levels go to `levels`
(more than LEVEL_RATE messages a second: `relay_level_flood`); a `close` of the link
        closes it here at once (counted in `closed_by_peer`), one of a meeting takes it off. An `open` is
        returned for the caller to `admit` (it may first have to learn whether this node is the meeting's home)."""
        try:
            link = self.links.get(sender)
            if link is None:
                raise RelayRefused("relay_no_link", f"no relay link with node {sender!r}")
            event = link.receive(sealed)
        except RelayRefused as e:
            self.refused[e.code] += 1
            raise
        if isinstance(event, Dropped):
            self.refused[event.code] += 1
        elif isinstance(event, NeedApplied):
            if event.unknown:
                self.refused["relay_need_unknown_track"] += event.unknown
            if event.unknown_layers:
                self.refused["relay_need_unknown_layer"] += event.unknown_layers
        elif isinstance(event, CloseAsked):  # only that node could seal it
            if event.key is None:  # its side is gone: this one goes too
                self.closed_by_peer[sender] += 1
                log.info("relay closed by %s", sender)
                self.close(sender, farewell=False)
            else:
                self.left_by_peer[sender] += 1
                self.leave(sender, event.key)
        elif isinstance(event, Relayed):
            for listener in self.listeners:
                listener(sender, event.key, event.event, event.what, event.indexes)
        elif isinstance(event, LevelsHeard):
            for heard in self.levels:
                heard(sender, event)
        return event

    # ---- links

    def _open(self, keys: RelayKeys, b: Believed, room: Key) -> RelayLink:
        record = b.nodes[keys.peer]  # verify_hello found it there
        if keys.peer in self.links:
            # a new handshake with the same node replaces the link (fresh keys): the other side made it, so it
            # holds the new link already and the old one's `close` would open under no key there
            self.close(keys.peer, farewell=False)
        peer = self.node.peers.take()
        link = RelayLink.open(self.node.media_engine, peer, keys, (record.public_ip, record.udp_port),
                              self.node.track_ids, self.node.sub_ids, meeting=room)
        self.links[keys.peer] = link
        return link

    def close(self, node_id: str, *, farewell: bool = True) -> None:
        """The link to `node_id` gone (its last meeting left it, a post was refused, this node stops, or the
        other node closed its side): every engine entry removed, every meeting's relayed participants gone. With
        `farewell`, the sealed `close` waits in `goodbyes` for the cascade to post."""
        link = self.links.pop(node_id, None)
        self.outbox.pop(node_id, None)
        if link is None:
            return
        if farewell:
            self.goodbyes.append((node_id, link.farewell()))
        meetings = list(link.meetings)
        link.close()
        self.node.peers.give(link.peer)
        for key in meetings:
            for listener in self.closed:
                listener(node_id, key)
