"""The node's presence in the registry: register at start, heartbeat its load, and stop taking rooms while the
registry is unreachable (a node nobody can see must not be joined behind the control plane's back).

Registry calls are synchronous (SQLite/Redis clients). Heartbeats run on a thread of their own, on a clock of
their own: the event loop never waits on the network, and a busy event loop (a join storm) never delays a
heartbeat past the registration's TTL.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from recording.launch import REFUSALS, WANTS, job_key
from residency.enforcement import NodeGuard
from residency.model import Node as NodeRecord
from residency.model import Placement
from residency.registry import HEARTBEAT_INTERVAL
from sfu.deadlines import HEARTBEAT_SLACK
from sfu.node import Node
from sfu.recording import wants as recording_wants
from sfu.withdrawal import PolicyWatch

log = logging.getLogger("castellan.agent")


class NodeAgent:
    def __init__(self, node: Node, guard: NodeGuard, record: NodeRecord, capacity: int = 200) -> None:
        self.node = node
        self.guard = guard
        self.record = record
        self.capacity = capacity
        self.registered = False
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._beating = threading.Lock()
        self._carried: set[tuple[str, str]] = set()  # meetings this node last recorded itself as carrying
        self.loop: asyncio.AbstractEventLoop | None = None  # the node's event loop (set at start)
        # reads the hosted tenants' policies once per heartbeat (sfu/withdrawal.py); None: nobody watches
        self.watch: PolicyWatch | None = None

    def load(self) -> float:
        return min(1.0, len(self.node.by_id) / max(1, self.capacity))

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.guard.register, self.record)
        self.registered = True
        self.node.registry_ok = True
        self._stopping.clear()
        self._thread = threading.Thread(target=self._beat, name="castellan-heartbeat", daemon=True)
        self._thread.start()
        log.info("node %s registered in region %s", self.record.id, self.record.region)

    def _beat(self) -> None:
        """The periodic heartbeat, on its own thread: a join storm that keeps the event loop busy cannot make
        the registration expire (issue 14: four expiries in 80 s with 400 joins when it ran on the loop)."""
        while not self._stopping.wait(HEARTBEAT_INTERVAL):
            try:
                self._beat_now()
                if not self.node.registry_ok:
                    log.info("registry reachable again: taking rooms")
                self.node.registry_ok = True
            except Exception as e:  # noqa: BLE001 - Redis down, or a refusal: stop taking rooms, keep media
                if self.node.registry_ok:
                    log.warning("registry unreachable (%s): refusing new participants, meetings continue", e)
                self.node.registry_ok = False

    async def announce(self) -> None:
        """Heartbeat now rather than at the next interval. A node that starts draining calls this before it
        tells its participants to ask the control plane again: the control plane must already know the node
        drains, or it sends them straight back here (up to a heartbeat interval of `node_draining` refusals)."""
        if not self.registered:
            return
        try:
            await asyncio.to_thread(self._beat_now)
        except Exception as e:  # noqa: BLE001 - the periodic heartbeat will try again
            log.warning("registry unreachable (%s): the next heartbeat will say so", e)

    def _beat_now(self) -> None:
        """One heartbeat. Heartbeats never overlap and each reads the node's state when its turn comes: one that
        started before a drain cannot land after the drain's announcement and write `draining: false` again."""
        with self._beating:
            # list() copies the table in one step under the GIL: the loop may add a room meanwhile
            live = list(self.node.rooms.values())
            rooms = [(r.tenant, r.name) for r in live]
            self._beat_once(self.load(), self.node.draining, rooms)
            if self.watch is not None:
                self.watch.read()
            # a meeting counts as carried while one of its participants is connected here (relayed ones are not:
            # this node's link for them closes when its own last participant leaves)
            self._note_meetings({(r.tenant, r.name) for r in live
                                 if any(p.relayed_from is None for p in list(r.participants.values()))})
            wanted = recording_wants(live)
            self._publish_wants(wanted)
            self.read_refusals(wanted)
            self.node.deadlines.ran("heartbeat", HEARTBEAT_INTERVAL, HEARTBEAT_SLACK)

    def _beat_once(self, load: float, draining: bool, rooms: list[tuple[str, str]]) -> None:
        # placements first: after a registry restart this node becomes placeable again only once the
        # meetings it hosts are claimed, so no join can split one of them onto another node meanwhile
        self._restore_placements(rooms)
        self.guard.heartbeat(load, draining)

    def _note_meetings(self, carried: set[tuple[str, str]]) -> None:
        """The registry's nodes of each meeting (docs/architecture.md, "Cascading"): this node's entry is written
        again for each meeting it carries, with its record's TTL, so a hint-less join of the meeting may come here
        (no new relay); a meeting it left loses the entry now, and a dead node's entries expire with its record."""
        registry = self.guard.registry
        for tenant, room in sorted(carried):
            registry.note_meeting_node(tenant, room, self.record.id, registry.node_ttl)
        for tenant, room in sorted(self._carried - carried):
            registry.drop_meeting_node(tenant, room, self.record.id)
        self._carried = carried

    def _publish_wants(self, wants: list[dict[str, str]]) -> None:
        """The rooms that want a recorder (sfu/recording.py `wants`), for the control plane's launcher; gone with
        the node (the same TTL as its record), so a dead node's meetings get their recorders dismissed."""
        doc = {"node": self.record.id, "region": self.record.region, "rooms": wants}
        self.guard.registry.put_doc(WANTS, self.record.id, doc, ttl=self.guard.registry.node_ttl)

    def read_refusals(self, wanted: list[dict[str, str]]) -> None:
        """The control plane's refusals (no recorder in an allowed region) for the rooms this node wants recorded,
        handed to the event loop: the room's state becomes `refused` and every participant is told."""
        registry = self.guard.registry
        found: dict[tuple[str, str], tuple[str, str]] = {}
        for w in wanted:
            doc = registry.get_doc(REFUSALS, job_key(w["tenant"], w["room"]))
            if doc is not None and isinstance(doc.get("code"), str) and isinstance(doc.get("message"), str):
                found[(w["tenant"], w["room"])] = (str(doc["code"])[:64], str(doc["message"])[:400])
        if found and self.loop is not None:
            self.loop.call_soon_threadsafe(self.node.recording.refused, found)

    def _restore_placements(self, rooms: list[tuple[str, str]]) -> None:
        """After the registry lost its data (a Redis restart), the meetings running here claim their placement
        again, so new participants of those meetings are sent here rather than splitting the meeting."""
        registry = self.guard.registry
        for tenant, room in rooms:
            if registry.get_placement(tenant, room) is not None:
                continue
            placement = Placement(tenant=tenant, room=room, region=self.record.region, node=self.record.id,
                                  decided_at=time.time(), reason="restored by the node hosting the meeting")
            stored = registry.claim_placement(placement)
            if stored.node == self.record.id:
                self.guard.audit.append("placement.restored", actor=self.guard.actor, tenant=tenant,
                                        data={"room": room, "region": self.record.region, "node": self.record.id})
                log.info("placement of %s/%s restored in the registry", tenant, room)

    async def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10.0)
            self._thread = None
        if self.registered:
            try:
                await asyncio.to_thread(self._note_meetings, set())
                await asyncio.to_thread(self.guard.registry.deregister_node, self.record.id)
            except Exception:  # noqa: BLE001
                pass

