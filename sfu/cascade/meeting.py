"""Keeping a cascaded meeting's relays in step (issue 14), twice a second: a node that carries a room placed on
another node (its *home*, the registry's placement) dials the home (a star on the home node: k nodes, k−1
links); over each link it announces every track its participants publish (and, on the home, what other links
bring in, so every node of the star sees every publisher — never back where it came from), announcing what
starts and stops on the sealed channel. One link per pair of nodes carries every meeting they share: a meeting
whose home already has a link with this node is added to it (`Relays.carry`, a sealed `open` the home checks)
rather than dialled; a meeting with no participant of this node left is emptied and taken off (`close` naming it),
and a link with no meeting left is closed (`close`). A link closed for any other reason (a refused post, this
node stopping: `stop`) still sends its `close` (`Relays.goodbyes`), so the other node closes its side at once.

What crosses is what the far node needs: each pass a node tells each link's peer what its own subscribers (and,
on the home, the nodes further on) take of that peer's tracks (`need`: the set of layers, sfu/allocation/
relaying.py `need_of`), and sends each layer the peer needs once, each on its own SSRC (`plan`); the rest stays
paused in the engine. Each pass also tells each peer who of the participants whose audio it announces there spoke
since the last (`levels`, sfu/cascade/levels.py), so every node's speaker detection — and last-N — runs on the
same levels whether or not its subscribers take that audio. A layer that starts crossing asks the publisher for a keyframe of it at once (forced at
most once per layer per `KEYFRAME_REQUEST_INTERVAL`, sfu/cascade/feedback.py), so the far node's subscribers do
not wait for the next periodic one. Dialling a node that refuses or does not answer, or adding a meeting the
other node refused, is retried after `RETRY` seconds; every failure is counted by code in the `Relays.refused` counter the handshake
already keeps, and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import httpx

from residency.errors import RelayRefused
from sfu.allocation import relaying
from sfu.cascade.dial import PeerRefused, PeerSlow, dial, post_goodbye, send
from sfu.cascade.feedback import RelayFeedback
from sfu.cascade.link import Key, LocalTrack, RelayLink
from sfu.cascade.stall import Stall
from sfu.negotiation import sdp

if TYPE_CHECKING:
    from sfu.cascade.handshakes import CascadeHandshakes
    from sfu.cascade.relays import Relays
    from sfu.node import Node
    from sfu.room import Room

log = logging.getLogger("castellan.cascade")

INTERVAL = 0.5  # seconds between passes (a new participant's tracks reach the other node within this)
RETRY = 2.0  # seconds before dialling a node that refused or did not answer again


def local_tracks(room: Room, to: str, origin: Mapping[str, int] | None = None) -> dict[str, LocalTrack]:
    """What this node may relay to node `to` for `room`: its participants' tracks, and tracks relayed in from
    nodes other than `to` (never back where they came from). An engine index per rank the publisher offered, lowest
    first (`relaying.by_rank`: a simulcast layer not learned yet is carried by the nearest learned one); `origin`
    is how many layers each relayed-in track's publisher sends (what its announcement said), announced onward."""
    out: dict[str, LocalTrack] = {}
    origin = origin or {}
    for p in room.participants.values():
        if p.relayed_from == to:
            continue
        level = LEVEL_RELAYED if p.relayed_from is not None else p.ext_ids.get(sdp.URI_AUDIO_LEVEL, 0)
        for t in p.published.values():
            if not t.layers:
                continue
            indexes = relaying.by_rank(len(t.rid_ranks), {layer.rank: layer.index for layer in t.layers})
            out[t.id] = LocalTrack(participant=p.id, kind=t.kind, codec=t.codec, indexes=indexes,
                                   level_id=level if t.kind == "audio" else 0, layers=origin.get(t.id, 0))
    return out


LEVEL_RELAYED = 1  # the audio-level id on a link (sfu/cascade/link.py LEVEL_ID): what a relayed track carries


class Cascade:
    def __init__(self, node: Node, relays: Relays, home: Callable[[str, str], str | None] | None,
                 feedback: RelayFeedback | None = None, clock: Callable[[], float] = time.monotonic,
                 handshakes: CascadeHandshakes | None = None) -> None:
        self.node = node
        self.handshakes = handshakes
        self.relays = relays
        self.feedback = feedback
        self.home = home
        self.clock = clock
        self._retry_at: dict[str | tuple[str, Key], float] = {}  # a node to dial, or a meeting to add to its link
        self._stalls: dict[str, tuple[RelayLink | None, Stall]] = {}  # a link whose posts go unanswered: its wait
        relays.closed.append(self._left)

    def _left(self, peer: str, key: Key) -> None:
        if peer in self.relays.links:  # a meeting taken off a link that stays (the other node may have refused it)
            self._retry_at[(peer, key)] = self.clock() + RETRY

    async def run(self) -> None:
        async with httpx.AsyncClient(trust_env=False) as client:
            while True:
                try:
                    await self.step(client)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one bad pass must not end relaying
                    log.exception("cascade pass failed")
                await asyncio.sleep(INTERVAL)

    async def step(self, client: httpx.AsyncClient) -> None:
        await self._dial_homes(client)
        for peer in list(self.relays.links):
            await self._sync(peer, client)
        await self._goodbyes(client)

    async def stop(self) -> None:
        """This node stops: every link closed, each with its sealed `close` posted (best effort, briefly), so the
        other nodes close their sides at once rather than when their next message is refused."""
        for peer in list(self.relays.links):
            self.relays.close(peer)
        async with httpx.AsyncClient(trust_env=False) as client:
            await self._goodbyes(client)

    async def _goodbyes(self, client: httpx.AsyncClient) -> None:
        while self.relays.goodbyes:
            peer, sealed = self.relays.goodbyes.popleft()
            if peer in self.relays.links:
                continue  # a new link with that node meanwhile: the old close would open under no key there
            try:
                await post_goodbye(self.relays, peer, sealed, client)
            except RelayRefused as e:  # that node closed its side already, or is gone
                self.relays.refused[f"relay_goodbye_{e.code}"] += 1

    @staticmethod
    def _has_local(room: Room | None) -> bool:
        return room is not None and any(p.relayed_from is None for p in room.participants.values())

    def _ordering(self, room: Room | None) -> bool:
        """This node is the home of a meeting it carries: it keeps its links, participants of its own or not (the
        room goes when the last one of another node leaves, or with the last link) — its Delivery Service orders the meeting's handshakes
        (sfu/cascade/handshakes.py)."""
        return (room is not None and self.handshakes is not None
                and self.handshakes.homes.get(room.key) == self.node.config.node_id)

    async def _dial_homes(self, client: httpx.AsyncClient) -> None:
        if self.home is None:  # this node only answers relays (tests; a node without a registry)
            return
        me = self.node.config.node_id
        for key, room in list(self.node.rooms.items()):
            if not self._has_local(room):
                continue
            home = await asyncio.to_thread(self.home, *key)  # the registry: off the event loop
            if home is None or home == me:
                continue
            link = self.relays.links.get(home)
            if link is not None:  # one link per pair of nodes: the meeting is added to it
                if key not in link.meetings and self.clock() >= self._retry_at.get((home, key), 0.0):
                    if self.relays.carry(home, key):
                        log.info("relay meeting open room=%s/%s to=%s", key[0], key[1], home)
                    else:
                        self._retry_at[(home, key)] = self.clock() + RETRY
                continue
            if self.clock() < self._retry_at.get(home, 0.0):
                continue  # a recent failure
            try:
                await dial(self.relays, key[0], key[1], home, client)
                log.info("relay open room=%s/%s to=%s", key[0], key[1], home)
            except RelayRefused as e:
                self._retry_at[home] = self.clock() + RETRY
                log.warning("relay to %s for %s/%s refused: %s", home, key[0], key[1], e.message)

    async def _sync(self, peer: str, client: httpx.AsyncClient) -> None:
        link = self.relays.links.get(peer)
        if link is None:
            return
        if not link.meetings:  # (the other node took its last meeting off rather than closing the link)
            self.relays.close(peer)
            return
        outbox = self.relays.outbox.setdefault(peer, [])
        ending: list[Key] = []
        for key, m in list(link.meetings.items()):
            if not m.opened:
                continue  # the other node's `open`, not answered yet
            room = self.node.rooms.get(key)
            if not self._has_local(room) and not self._ordering(room):
                ending.append(key)
                continue
            if not m.up:
                continue  # this node's `open`, not answered yet
            assert room is not None
            origin = {what.track: len(what.layers) for other in self.relays.links.values()
                      for _, what in (other.meetings[key].receiving.values() if key in other.meetings else ())}
            local = local_tracks(room, peer, origin)
            counts = {track_id: len(t.indexes) for track_id, t in local.items()}
            copies = relaying.for_node(relaying.plan(
                (relaying.RemoteNeed(peer, t, x) for t, x in m.needs.items()), counts, {peer}), peer)
            sealed, woken = link.apply(key, copies, local)
            outbox += sealed
            need = link.ask(key, self._needs(room, peer))
            if need is not None:
                outbox.append(need)
            # who speaks, for the peer's detection (sfu/cascade/levels.py): of the audio announced to it and not
            # crossing (a copy that crosses carries its level itself)
            voices = {t.participant for track_id, t in local.items()
                      if t.kind == "audio" and track_id in m.sending and not m.sending[track_id].crossing}
            told = link.tell_levels(key, *room.levels.since(m.levels_sent, voices))
            if told is not None:
                outbox.append(told)
            if self.feedback is not None:
                for track_id, layer in woken:
                    self.feedback.request(peer, key, track_id, layer, force=True)  # the far viewers need one now
            self._relay_ranks(room)
        for key in ending:  # tell the other node everything of the meeting stopped, then that it left
            if link.meetings[key].up:
                outbox += link.apply(key, {}, {})[0]
        if ending:
            await self._flush(peer, client)
            if self.handshakes is not None:
                for key in ending:
                    await self.handshakes.farewell(peer, key)  # and that its participants left
            if self.relays.links.get(peer) is not link:
                return
            if all(k in ending for k, m in link.meetings.items() if m.opened):  # the last: the whole link closes (its `close` says so)
                self.relays.close(peer)
                for key in ending:
                    self._refresh_ranks(key)
                return
            for key in ending:
                outbox = self.relays.outbox.setdefault(peer, [])
                outbox.append(link.farewell(key))
                self.relays.leave(peer, key)
                self._refresh_ranks(key)
        await self._flush(peer, client)

    def _refresh_ranks(self, key: Key) -> None:
        room = self.node.rooms.get(key)
        if room is not None:
            self._relay_ranks(room)

    def _needs(self, room: Room, peer: str) -> dict[str, frozenset[int]]:
        """What this node takes of the tracks `peer` announces in `room`'s meeting: for each, the layers its own
        subscribers need (not paused by last-N: the layer each is on or switching to, and those its allocation may
        move it to: `relaying.need_of`) and those a node further on asked for through this one."""
        m = self.relays.links[peer].meetings[room.key]
        out: dict[str, frozenset[int]] = {}
        for _, what in m.receiving.values():
            p = room.participants.get(what.participant)
            track = p.published.get(what.track) if p is not None and p.relayed_from == peer else None
            if track is None:
                continue
            n = len(what.layers)
            wanted: set[int] = set()
            for sub in track.subscriptions.values():
                wanted |= relaying.need_of(track.kind, n, sub.viewport_height, sub.paused,
                                           sub.layer.rank if sub.layer is not None else None,
                                           sub.target.rank if sub.target is not None else None)
            for node_id, other in self.relays.links.items():
                theirs = other.meetings.get(room.key)
                if node_id != peer and theirs is not None and what.track in theirs.sending:
                    wanted |= theirs.needs.get(what.track, frozenset())
            layers = frozenset(x for x in wanted if 0 <= x < n)
            if layers:
                out[what.track] = layers
        return out

    def _relay_ranks(self, room: Room) -> None:
        """Each local simulcast track's layers crossing some link: the publisher keeps sending them
        (sfu/allocation/selection.py switches off only the layers nobody takes)."""
        links = [m for m in (link.meetings.get(room.key) for link in self.relays.links.values()) if m is not None]
        for p in room.participants.values():
            if p.relayed_from is not None:
                continue
            for t in p.published.values():
                t.relay_ranks = frozenset(r for m in links if t.id in m.sending for r in m.sending[t.id].layers)

    def _stall(self, peer: str, link: RelayLink | None) -> Stall:
        """The wait of the link to `peer` on its answers (a new link starts none)."""
        held = self._stalls.get(peer)
        if held is None or held[0] is not link:
            held = self._stalls[peer] = (link, Stall())
        return held[1]

    async def _flush(self, peer: str, client: httpx.AsyncClient) -> None:
        """Post what waits for the link to `peer`, in the order it was sealed (the channel's sequence)."""
        sealed = self.relays.outbox.get(peer)
        if not sealed:
            return
        self.relays.outbox[peer] = []
        link = self.relays.links.get(peer)
        try:
            await send(self.relays, peer, sealed, client)
            self._stalls.pop(peer, None)
        except PeerSlow as e:  # perhaps only slow: the link and every far subscription stay while it may wait
            self.relays.refused[e.code] += 1
            stall = self._stall(peer, link)
            if self.relays.links.get(peer) is link and stall.waits(self.clock(), len(sealed)
                                                                   + len(self.relays.outbox.get(peer, []))):
                self.relays.outbox[peer] = sealed + self.relays.outbox.get(peer, [])  # in order, before what came
                log.warning("relay messages to %s: %s; retried (waiting %.1f s)", peer, e.message,
                            self.clock() - (stall.since or 0.0))
                return
            self._stalls.pop(peer, None)
            log.warning("relay messages to %s: %s; closing the link", peer, e.message)
            if self.relays.links.get(peer) is link:
                self.relays.close(peer, farewell=False)
        except RelayRefused as e:  # the other node is gone or dropped the link: start again with a new one
            self._stalls.pop(peer, None)
            self.relays.refused[e.code] += 1
            log.warning("relay messages to %s refused: %s; closing the link", peer, e.message)
            # its `close` goes too, unless that node said it has no link (or could not be reached)
            gone = not isinstance(e, PeerRefused) or e.peer_code == "relay_no_link"
            self.relays.close(peer, farewell=not gone)
