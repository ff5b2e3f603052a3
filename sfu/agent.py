"""The node's presence in the registry: register at start, heartbeat its load, and stop taking rooms while the
registry is unreachable (a node nobody can see must not be joined behind the control plane's back).

Registry calls are synchronous (SQLite/Redis clients); they run in a worker thread so the event loop, which
also drives the media engine, never waits on the network.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from residency.enforcement import NodeGuard
from residency.model import Node as NodeRecord
from residency.registry import HEARTBEAT_INTERVAL
from sfu.node import Node

log = logging.getLogger("castellan.agent")


class NodeAgent:
    def __init__(self, node: Node, guard: NodeGuard, record: NodeRecord, capacity: int = 200) -> None:
        self.node = node
        self.guard = guard
        self.record = record
        self.capacity = capacity
        self.registered = False
        self._task: asyncio.Task[None] | None = None

    def load(self) -> float:
        return min(1.0, len(self.node.by_id) / max(1, self.capacity))

    async def start(self) -> None:
        await asyncio.to_thread(self.guard.register, self.record)
        self.registered = True
        self.node.registry_ok = True
        self._task = asyncio.create_task(self._beat())
        log.info("node %s registered in region %s", self.record.id, self.record.region)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            try:
                await asyncio.to_thread(self.guard.heartbeat, self.load(), self.node.draining)
                if not self.node.registry_ok:
                    log.info("registry reachable again: taking rooms")
                self.node.registry_ok = True
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - Redis down, or a refusal: stop taking rooms, keep media
                if self.node.registry_ok:
                    log.warning("registry unreachable (%s): refusing new participants, meetings continue", e)
                self.node.registry_ok = False

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.registered:
            try:
                await asyncio.to_thread(self.guard.registry.deregister_node, self.record.id)
            except Exception:  # noqa: BLE001
                pass


def admission(guard: NodeGuard | None, policy: Any = None, occupancy: Any = None) -> Any:
    """The node's `admit` hook: link/room policy, then residency's auditing guard, then occupancy."""

    def admit(claims: Any) -> None:
        if policy is not None:
            policy.check(claims)
        if guard is not None:
            guard.admit_claims(claims)
        if occupancy is not None:
            occupancy.joined(claims.tenant, claims.room, claims.participant)

    return admit
