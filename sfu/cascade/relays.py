"""A node's relay links, by the other node's id: the handshake's two ends (residency/relay.py) bound to this
node's engine and tables. Opening a link takes an engine peer index and sends media to the UDP address the
believed registry record names — never an address from the handshake message, so a peer cannot point the link
elsewhere. Every refusal is counted by code (`refused`) and costs no engine entry.

The node process builds one when it can verify other nodes (sfu/server.py, sfu/factory.py); the handshake
travels over HTTP between the nodes' signalling ports (sfu/cascade/routes.py answers, sfu/cascade/dial.py
asks). One link per pair of nodes, opened for one meeting (`rooms`); relayed publishers appear as participants
of that meeting's room on this node through `listeners`/`closed` (sfu/cascade/members.py).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from residency.errors import RelayRefused
from residency.relay import PendingOffer, RelayEndpoint, RelayHello, RelayKeys, RelayTrack
from sfu.cascade.link import CloseAsked, NeedApplied, RelayLink
from sfu.cascade.peers import Believed
from sfu.room import Room

if TYPE_CHECKING:
    from sfu.node import Node

log = logging.getLogger("castellan.cascade")


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
        self.rooms: dict[str, tuple[str, str]] = {}  # other node -> the (tenant, room) its link was opened for
        self._pending: dict[str, PendingOffer] = {}
        self.refused: Counter[str] = Counter()
        self.closed_by_peer: Counter[str] = Counter()  # links the other node closed with its sealed `close`
        # told of every relayed track that starts or stops: (from node, "track"/"untrack", what, engine index)
        self.listeners: list[Callable[[str, str, RelayTrack, int], None]] = []
        self.closed: list[Callable[[str], None]] = []  # told of every link that closes (its engine entries gone)
        # (tenant, room) -> this node is the meeting's home (the registry's placement; sfu/cascade/handshakes.py):
        # it accepts a link for it with no participant of its own and opens the room — its Delivery Service
        # orders the meeting's handshakes wherever the participants are
        self.homed: Callable[[str, str], bool] | None = None

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

    def accept(self, body: object) -> dict[str, Any]:
        """Answer another node's offer: the signed accept, and the link opened on this side."""
        try:
            hello = RelayHello.from_dict(body)
            b = self.believed()
            key = (hello.tenant, hello.room)
            rooms = set(self.node.rooms)
            if self.homed is not None and self.homed(*key):
                rooms.add(key)
            accept, keys = self.endpoint.accept(hello, keys=b.keys, nodes=b.nodes, allowed=self.allowed(hello.tenant),
                                                now=self.clock(), rooms=rooms)
            self._open(keys, b, key)
            if key not in self.node.rooms:  # the home, none of whose own participants is here (yet, or any more)
                self.node.rooms[key] = Room(tenant=hello.tenant, name=hello.room)
        except RelayRefused as e:
            self.refused[e.code] += 1
            raise
        return accept.to_dict()

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

    def deliver(self, sender: str, sealed: object) -> tuple[str, RelayTrack, int] | None:
        """One sealed message from node `sender`, opened with that link's keys (so only that node could have
        sealed it) and applied; RelayRefused (counted) for no link, a forgery, a replay or bad content. A track
        that starts or stops is returned (and told to `listeners`); a `need` changes what the link sends at the
        next pass (sfu/cascade/meeting.py) and returns None — the tracks it names that the link does not announce
        (another meeting's, a stale one) are left out and counted (`relay_need_unknown_track`); a `close` closes
        the link here at once (counted in `closed_by_peer`) and returns None."""
        try:
            link = self.links.get(sender)
            if link is None:
                raise RelayRefused("relay_no_link", f"no relay link with node {sender!r}")
            event = link.receive(sealed)
        except RelayRefused as e:
            self.refused[e.code] += 1
            raise
        if isinstance(event, NeedApplied):
            if event.unknown:
                self.refused["relay_need_unknown_track"] += event.unknown
            return None
        if isinstance(event, CloseAsked):  # only that node could seal it: its side is gone, this one goes too
            self.closed_by_peer[sender] += 1
            log.info("relay closed by %s", sender)
            self.close(sender)
            return None
        for listener in self.listeners:
            listener(sender, *event)
        return event

    def _open(self, keys: RelayKeys, b: Believed, room: tuple[str, str]) -> RelayLink:
        record = b.nodes[keys.peer]  # verify_hello found it there
        if keys.peer in self.links:
            self.close(keys.peer)  # a new handshake with the same node replaces the link (fresh keys)
        peer = self.node.peers.take()
        link = RelayLink.open(self.node.media_engine, peer, keys, (record.public_ip, record.udp_port),
                              self.node.track_ids, self.node.sub_ids)
        self.links[keys.peer] = link
        self.rooms[keys.peer] = room
        return link

    def close(self, node_id: str) -> None:
        """The link to `node_id` gone (that node died, or the meeting left it): every engine entry removed."""
        link = self.links.pop(node_id, None)
        self.rooms.pop(node_id, None)
        if link is not None:
            link.close()
            self.node.peers.give(link.peer)
            for listener in self.closed:
                listener(node_id)
