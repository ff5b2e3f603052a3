"""The node's registry heartbeats never overlap, so the last state written is the node's latest.

A drain announces `draining` at once (`NodeAgent.announce`) before it sends `drain`. A periodic heartbeat that
had already started, with `draining: false` read before the SIGTERM, must not land after the announcement and
undo it: the control plane would place the drain's participants back on this node (`node_draining`)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from residency.model import Node as NodeRecord
from residency.registry import MemoryRegistry
from tests.harness import registered_node

pytestmark = pytest.mark.timeout(60)


class SlowRegistry(MemoryRegistry):
    """A registry whose heartbeats, once `hold` is set, wait for `release` (a slow Redis round trip)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.held = threading.Event()
        self.release = threading.Event()
        self.written: list[bool] = []

    def update_node(self, node: NodeRecord) -> bool:  # a heartbeat: the node's whole signed record
        if self.hold and not self.held.is_set():
            self.held.set()
            self.release.wait(10)
        self.written.append(node.draining)
        return super().update_node(node)


def test_a_heartbeat_in_flight_does_not_undo_the_drain_announcement(tmp_path: Path) -> None:
    async def run() -> tuple[bool, list[bool]]:
        registry = SlowRegistry()
        built = registered_node(registry, tmp_path)
        agent = built.agent
        assert agent is not None
        await agent.start()
        try:
            registry.hold = True  # the next periodic heartbeat (draining: false) stalls in the registry call
            assert await asyncio.to_thread(registry.held.wait, 10), "no periodic heartbeat"
            built.node.draining = True  # SIGTERM
            announcing = asyncio.create_task(agent.announce())
            await asyncio.sleep(0.3)
            registry.release.set()  # the stalled heartbeat completes
            await asyncio.wait_for(announcing, 10)
            for _ in range(100):  # both heartbeats written (the stalled one may still be finishing)
                if len(registry.written) >= 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)
            node = registry.get_node("n1")
            assert node is not None
            return node.draining, registry.written
        finally:
            await agent.stop()

    draining, written = asyncio.run(run())
    assert draining, f"the registry says the draining node is not draining (heartbeats written: {written})"
