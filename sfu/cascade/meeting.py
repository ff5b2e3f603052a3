"""Keeping a cascaded meeting's relays in step (issue 14), twice a second: a node that carries a room placed on
another node (its *home*, the registry's placement) dials the home (a star on the home node: k nodes, k−1
links); over each link it sends one copy of every track its participants publish (and, on the home, of what
other links bring in, so every node of the star sees every publisher), announcing what starts and stops on the
sealed channel; a link whose room has no participant of this node left is emptied and closed.

The first plan relays each track at its highest layer to every linked node whatever its subscribers take
(`sfu/allocation/relaying.py` can narrow that once the far node reports its needs). Dialling a node that
refuses or does not answer is retried after `RETRY` seconds; every failure is counted by code in the
`Relays.refused` counter the handshake already keeps, and logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from residency.errors import RelayRefused
from sfu.cascade.dial import dial, send
from sfu.cascade.feedback import RelayFeedback
from sfu.cascade.link import LocalTrack
from sfu.negotiation import sdp

if TYPE_CHECKING:
    from sfu.cascade.handshakes import CascadeHandshakes
    from sfu.cascade.relays import Relays
    from sfu.node import Node
    from sfu.room import Room

log = logging.getLogger("castellan.cascade")

INTERVAL = 0.5  # seconds between passes (a new participant's tracks reach the other node within this)
RETRY = 2.0  # seconds before dialling a node that refused or did not answer again


def local_tracks(room: Room, to: str) -> dict[str, LocalTrack]:
    """What this node may relay to node `to` for `room`: its participants' tracks, and tracks relayed in from
    nodes other than `to` (never back where they came from). Layers by rank, lowest first."""
    out: dict[str, LocalTrack] = {}
    for p in room.participants.values():
        if p.relayed_from == to:
            continue
        level = LEVEL_RELAYED if p.relayed_from is not None else p.ext_ids.get(sdp.URI_AUDIO_LEVEL, 0)
        for t in p.published.values():
            layers = sorted(t.layers, key=lambda layer: layer.rank)
            out[t.id] = LocalTrack(participant=p.id, kind=t.kind, codec=t.codec,
                                   indexes=tuple(layer.index for layer in layers),
                                   level_id=level if t.kind == "audio" else 0)
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
        self._retry_at: dict[str, float] = {}

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
            if home is None or home == me or self.relays.rooms.get(home) == key:
                continue
            if self.clock() < self._retry_at.get(home, 0.0) or home in self.relays.links:
                continue  # one link per pair of nodes (another meeting holds it) or a recent failure
            try:
                await dial(self.relays, key[0], key[1], home, client)
                log.info("relay open room=%s/%s to=%s", key[0], key[1], home)
            except RelayRefused as e:
                self._retry_at[home] = self.clock() + RETRY
                log.warning("relay to %s for %s/%s refused: %s", home, key[0], key[1], e.message)

    async def _sync(self, peer: str, client: httpx.AsyncClient) -> None:
        link = self.relays.links.get(peer)
        key = self.relays.rooms.get(peer)
        if link is None or key is None:
            return
        room = self.node.rooms.get(key)
        if not self._has_local(room) and not self._ordering(room):
            sealed = link.apply(set(), {})  # tell the other node everything stopped, then close
            await self._send(peer, sealed, client)
            if self.handshakes is not None:
                await self.handshakes.farewell(peer)  # and that its participants left
            self.relays.close(peer)
            return
        assert room is not None
        local = local_tracks(room, peer)
        copies = {(track_id, len(t.indexes) - 1) for track_id, t in local.items()}
        started = copies - set(link.sending)
        sealed = link.apply(copies, local)
        await self._send(peer, sealed, client)
        if self.feedback is not None:
            for track_id, layer in sorted(started & set(link.sending)):
                self.feedback.request(peer, track_id, layer, force=True)  # the far node's viewers need one now

    async def _send(self, peer: str, sealed: list[str], client: httpx.AsyncClient) -> None:
        if not sealed:
            return
        try:
            await send(self.relays, peer, sealed, client)
        except RelayRefused as e:  # the other node is gone or dropped the link: start again with a new one
            self.relays.refused[e.code] += 1
            log.warning("relay messages to %s refused: %s; closing the link", peer, e.message)
            self.relays.close(peer)
