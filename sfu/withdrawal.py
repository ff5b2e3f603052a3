"""A running meeting leaves a region its tenant no longer allows (docs/residency.md, "A policy narrowed
mid-meeting"): the node's watch on the policies of the tenants it hosts, and what it does when one ends.

The heartbeat thread (sfu/agent.py) reads each hosted tenant's view once per heartbeat — one registry read per
tenant, nothing per packet or participant — and hands the reads to the event loop; the loop judges every lease
once a second (residency/lease.py: a stuck registry client cannot delay the judgement) and acts:

  NARROWED     the meeting is withdrawn from this node: a signed `residency.withdrawn` audit record, its copies
               on every relay link closed (the other node is told with the link's sealed `close`), and each
               participant told `left` {reason: `region_withdrawn`} and closed with 4010: the client joins again
               through the control plane, which re-places the room in a region the policy allows.
  UNCONFIRMED  the media is held (nothing forwarded, nothing relayed) until a trustworthy read confirms the
               policy again: a registry that is down or lying cannot keep the meeting here past the bound, and
               cannot end a meeting the policy still allows either.
  ALLOWED      relay copies to a node whose region the policy no longer allows are closed (that node may be the
               one that should have withdrawn; this side does not rely on it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.audit import AuditValue
from residency.enforcement import AuditSink
from residency.identity import b64, key_id
from residency.lease import POLICY_CHECK, PolicyLeases, Verdict, withdrawal_payload
from residency.model import TenantView
from sfu.room import Room

if TYPE_CHECKING:
    from sfu.cascade.relays import Relays
    from sfu.node import Node

log = logging.getLogger("castellan.withdrawal")

Key = tuple[str, str]
WITHDRAWN = "region_withdrawn"  # the `left` reason (and close 4010) that sends a client back to the control plane


class PolicyWatch:
    def __init__(self, node: Node, read: Callable[[str], TenantView | None], audit: AuditSink | None = None,
                 key: Ed25519PrivateKey | None = None, relays: Relays | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.node = node
        self.read_view = read  # tenant -> its view in the registry (raises or None when it cannot say)
        self.audit = audit
        self.key = key  # the node's enrolled key: it signs every withdrawal it records
        self.relays = relays
        self.clock = clock
        self.wall = wall
        self.leases = PolicyLeases(node.config.region)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.counts: Counter[str] = Counter()  # withdrawn, held, released, relay_pruned (metrics, tests)
        self.held: set[Key] = set()
        if relays is not None:
            relays.withheld = lambda key: key in self.held

    # ---- the heartbeat thread

    def read(self) -> None:
        """One read per hosted tenant (the heartbeat thread); the results go to the event loop."""
        tenants = sorted({key[0] for key in list(self.node.rooms)})
        views: dict[str, TenantView | None] = {}
        for tenant in tenants:
            try:
                views[tenant] = self.read_view(tenant)
            except Exception as e:  # noqa: BLE001 - down, or a malformed record: no renewal, no guess
                log.warning("policy of tenant %s unreadable (%s): its lease is not renewed", tenant, e)
                views[tenant] = None
        now = self.clock()
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.observed, views, now)
        else:
            self.observed(views, now)

    # ---- the event loop

    def observed(self, views: dict[str, TenantView | None], now: float) -> None:
        for tenant, view in views.items():
            self.leases.observe(tenant, view, now)

    async def run(self) -> None:
        self.loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(POLICY_CHECK)
            try:
                self.check()
            except Exception:  # noqa: BLE001 - one bad pass must not end the watch
                log.exception("policy check failed")

    def check(self, now: float | None = None) -> None:
        """Judge every hosted tenant's lease and act on it."""
        now = self.clock() if now is None else now
        hosted: dict[str, list[Room]] = {}
        for room in list(self.node.rooms.values()):
            hosted.setdefault(room.tenant, []).append(room)
        for tenant, rooms in hosted.items():
            self.leases.hosting(tenant, now)
            judged = self.leases.judge(tenant, now)
            for room in rooms:
                if judged.verdict is Verdict.NARROWED:
                    self.withdraw(room, judged.version)
                else:
                    self._hold(room, judged.verdict is Verdict.UNCONFIRMED, judged.age)
            if judged.verdict is Verdict.ALLOWED:
                self._prune_links(tenant)
        for tenant in self.leases.tenants() - {room.tenant for room in self.node.rooms.values()}:
            self.leases.forget(tenant)
        self.held &= set(self.node.rooms)

    def withdraw(self, room: Room, version: int) -> None:
        """The policy (version `version`) no longer allows this node's region: the meeting leaves the node."""
        local = [p for p in room.participants.values() if p.relayed_from is None]
        links = self._links_of(room.key)
        try:
            self._record(room, version, len(local), links)
        except Exception:  # noqa: BLE001 - the meeting leaves all the same: the record is the evidence, not the gate
            log.exception("withdrawal of %s/%s not recorded", room.tenant, room.name)
        for peer in links:
            self._off_link(peer, room.key)
        self.node.end_room(room.tenant, room.name, reason=WITHDRAWN)
        if not any(p.relayed_from is None for p in room.participants.values()):
            self.node.rooms.pop(room.key, None)  # a home with relayed participants only: their links are closed
        self.held.discard(room.key)
        self.counts["withdrawn"] += 1
        log.warning("meeting %s/%s withdrawn: policy v%d no longer allows region %s (%d participants moved, %d "
                    "relay copies closed)", room.tenant, room.name, version, self.node.config.region, len(local),
                    len(links))

    def _record(self, room: Room, version: int, participants: int, links: list[str]) -> None:
        if self.audit is None:
            return
        data: dict[str, AuditValue] = {
            "room": room.name, "node": self.node.config.node_id, "region": self.node.config.region,
            "policy_version": version, "participants": participants, "relays_closed": sorted(links),
            "at_ms": int(self.wall() * 1000), "reason": WITHDRAWN}
        if self.key is not None:
            data["key_id"] = key_id(self.key.public_key())
            data["signature"] = b64(self.key.sign(withdrawal_payload(room.tenant, data)))
        self.audit.append("residency.withdrawn", actor=f"node:{self.node.config.node_id}", tenant=room.tenant,
                          data=data)

    def _hold(self, room: Room, hold: bool, age: float) -> None:
        if hold:  # every pass: a link the other node opened meanwhile does not carry it either
            for peer in self._links_of(room.key):
                self._off_link(peer, room.key)
        if hold == (room.key in self.held):
            return
        if hold:
            self.held.add(room.key)
            self.counts["held"] += 1
            log.warning("meeting %s/%s held: policy not confirmed for %.0f s (registry unreachable or untrusted)",
                        room.tenant, room.name, age)
        else:
            self.held.discard(room.key)
            self.counts["released"] += 1
            log.info("meeting %s/%s released: policy confirmed again", room.tenant, room.name)
        room.residency_held = hold
        self.node.recording.repause(room)

    def _links_of(self, key: Key) -> list[str]:
        if self.relays is None:
            return []
        return sorted(peer for peer, link in self.relays.links.items() if key in link.meetings)

    def _off_link(self, peer: str, key: Key) -> None:
        """The meeting's copies on the link to `peer` closed here, and that node told with the link's `close`."""
        if self.relays is None:
            return
        link = self.relays.links.get(peer)
        if link is None or key not in link.meetings:
            return
        self.relays.leave(peer, key)  # its copies gone first: the `close` says they are
        self.relays.outbox.setdefault(peer, []).append(link.farewell(key))

    def _prune_links(self, tenant: str) -> None:
        """Relay copies of `tenant`'s meetings to nodes in regions its policy (as last read) no longer allows."""
        if self.relays is None:
            return
        for peer, link in list(self.relays.links.items()):
            if self.leases.allows(tenant, link.keys.peer_region) is not False:
                continue
            for key in [k for k in link.meetings if k[0] == tenant]:
                self._off_link(peer, key)
                self.counts["relay_pruned"] += 1
                log.warning("meeting %s/%s taken off the link to %s: region %s no longer allowed", *key, peer,
                            link.keys.peer_region)
