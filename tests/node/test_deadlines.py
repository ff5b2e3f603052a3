"""The node keeps its own deadlines when its event loop is busy (issue 14, sfu/deadlines.py, sfu/agent.py).

A join storm is work on the node's one event loop. The hostile version of a storm is a loop held outright: the
registration must not lapse (heartbeats have a thread and a clock of their own), and the per-second duties are
served in slices so no tick holds the loop for all participants at once, without skipping anyone's turn."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from residency.registry import DEFAULT_NODE_TTL, HEARTBEAT_INTERVAL, MemoryRegistry
from sfu.deadlines import Deadlines, Rounds, quantile
from tests.harness import registered_node

pytestmark = pytest.mark.timeout(60)


def test_rounds_visit_everyone_once_per_round_in_slices_and_a_late_round_skips_nobody() -> None:
    members = [f"p{i}" for i in range(45)]
    rounds = Rounds(lambda: list(members), 20)
    rounds.start()
    seen: list[str] = []
    slices = [rounds.slice() for _ in range(20)]
    for s in slices:
        seen += s
    assert sorted(seen) == sorted(members) and len(seen) == len(members), "one round: each member exactly once"
    assert max(len(s) for s in slices) == 3, "a slice is 1/20th of the round, rounded up"
    # a late loop: only 4 ticks of the next round ran before the round after it starts
    rounds.start()
    first = [m for _ in range(4) for m in rounds.slice()]
    members.append("newcomer")
    rounds.start()
    rest = rounds.slice()
    assert rest[: len(members) - 1 - len(first)] == [m for m in members[:-1] if m not in first], \
        "the late round's leftovers come first in the next tick"
    following = rest + [m for _ in range(19) for m in rounds.slice()]
    assert "newcomer" in following and following.count("p0") == 1


def test_a_duty_that_runs_late_counts_as_a_miss() -> None:
    d = Deadlines()
    assert d.ran("consent", 1.0, 0.5, now=10.0) == 0.0  # the first run has nothing to be late for
    d.ran("consent", 1.0, 0.5, now=11.2)
    assert d.misses["consent"] == 0
    assert d.ran("consent", 1.0, 0.5, now=13.0) == pytest.approx(0.8)
    assert d.misses["consent"] == 1
    for late in (0.001, 0.002, 0.5):
        d.lag_sample(late)
    assert d.lag_max == 0.5 and d.lag_quantile(0.5) == 0.002 and quantile([], 0.99) == 0.0


def test_a_held_event_loop_does_not_let_the_registration_lapse(tmp_path: Path) -> None:
    """The attacker (or a storm) holds the node's event loop longer than the registry's TTL. Heartbeats ran on the
    loop: the record expired and joins were refused `node_not_registered`. Now they run on their own thread."""
    registry = MemoryRegistry()
    built = registered_node(registry, tmp_path)

    async def run() -> tuple[bool, int]:
        agent = built.agent
        assert agent is not None
        await agent.start()
        try:
            before = built.node.deadlines.misses["heartbeat"]
            time.sleep(DEFAULT_NODE_TTL + HEARTBEAT_INTERVAL)  # the loop is held: nothing on it runs
            alive = registry.get_node("n1") is not None      # read before the loop gets a turn
            return alive, built.node.deadlines.misses["heartbeat"] - before
        finally:
            await agent.stop()

    alive, missed = asyncio.run(run())
    assert alive, "the registration lapsed while the event loop was held"
    print(f"heartbeat deadline misses while the loop was held: {missed}")
