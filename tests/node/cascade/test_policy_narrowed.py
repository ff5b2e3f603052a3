"""A policy narrowed while a cascaded meeting runs (sfu/withdrawal.py): "board" is homed on eu-1-a (Alice
publishes there), Bob watches it on eu-2-a over the relay link. The tenant's admin then allows eu-1 only.

The hostile case first: eu-2-a does nothing about it (a node that ignores the policy, or whose watch is stuck).
The home's own watch takes the meeting off its link to eu-2-a — it does not rely on the other node withdrawing —
and nothing of the meeting crosses to eu-2-a again: Bob's decoded frames stop, and the cascade does not put the
meeting back on the link (the tenant's regions are read again at every `open`). Then eu-2-a's watch runs too: it
withdraws the meeting, and Bob is told `left` {reason: region_withdrawn}.

Two nodes built by the product's factory under uvicorn on loopback, the real handshake (tests/node/cascade/
nodes.py); the watches read a tenant view the test changes, as the registry would serve it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from loadtests import media
from loadtests.bots.netbot import short_gop_video
from loadtests.bots.peer import Bot
from residency.model import TenantView
from sfu.withdrawal import PolicyWatch
from tests.harness import RunningNode, wait_for
from tests.node.cascade.nodes import EU, relayed_nodes

pytest.importorskip("native.engine")
pytestmark = pytest.mark.timeout(120)

NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"))
BOARD = ("eurocorp", "board")


def test_a_narrowed_policy_takes_the_meeting_off_the_link_to_the_removed_region() -> None:
    asyncio.run(_run())


def test_an_unconfirmed_policy_holds_the_relay_and_a_confirmed_one_brings_it_back() -> None:
    asyncio.run(_run_unconfirmed())


def _frames(bot: Bot) -> int:
    return max((r.frames for r in bot.video()), default=0)


async def _join(rn: RunningNode, who: str, bots: list[Bot]) -> Bot:
    bot = Bot(rn.ws_url, rn.token(BOARD[1], participant=who, tenant=BOARD[0], name=who), who)
    bots.append(bot)
    await bot.connect()
    return bot


async def _run() -> None:
    policy = {"regions": EU, "version": 1}

    def view(tenant: str) -> TenantView:
        return TenantView(tenant, "EU", frozenset(policy["regions"]), int(policy["version"]))  # type: ignore[arg-type]

    def allowed(tenant: str) -> frozenset[str]:
        return view(tenant).allowed_regions

    bots: list[Bot] = []
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: "eu-1-a", allowed=allowed)
        a, b = nodes["eu-1-a"], nodes["eu-2-a"]
        assert a.relays is not None and b.relays is not None
        home = PolicyWatch(a.node, view, relays=a.relays)
        try:
            alice = await _join(a, "alice", bots)
            await alice.publish(video=str(short_gop_video(gop=8, fps=15, bitrate=200_000)),
                                audio=str(media.audio_file()))
            bob = await _join(b, "bob", bots)
            assert await wait_for(lambda: _frames(bob) > 20, 40), bob.video()
            home.check()
            home.read()
            home.check()
            assert "eu-2-a" in a.relays.links and BOARD in a.relays.links["eu-2-a"].meetings  # allowed: untouched

            policy.update(regions=frozenset({"eu-1"}), version=2)  # the admin allows Frankfurt only
            home.read()
            home.check()
            assert home.counts["relay_pruned"] == 1 and home.counts["withdrawn"] == 0
            link = a.relays.links.get("eu-2-a")
            assert link is None or BOARD not in link.meetings
            await asyncio.sleep(1.0)  # what was in flight arrives
            stopped = _frames(bob)
            await asyncio.sleep(3.0)  # six cascade passes, past its RETRY: nothing of the meeting crosses again
            assert _frames(bob) == stopped, bob.video()
            link = a.relays.links.get("eu-2-a")
            assert link is None or BOARD not in link.meetings
            assert set(a.node.rooms[BOARD].participants) == {"alice"}  # Bob's relayed presence went with the link

            # eu-2-a's own watch: the meeting is withdrawn there, Bob is told to join again through the control plane
            far = PolicyWatch(b.node, view, relays=b.relays)
            far.check()
            far.read()
            far.check()
            assert far.counts["withdrawn"] == 1 and BOARD not in b.node.rooms
            assert await wait_for(lambda: any(m.get("type") == "left" for m in bob.messages), 5), bob.messages
            left = next(m for m in bob.messages if m.get("type") == "left")
            assert left["reason"] == "region_withdrawn"
        finally:
            for bot in bots:
                with contextlib.suppress(Exception):
                    await bot.close()


async def _run_unconfirmed() -> None:
    """The home cannot read the tenant's policy (the registry is down for it, or lies): once its lease runs out
    the meeting is taken off the link and a new `open` of it is refused (`relay_policy_unconfirmed`) — nothing
    crosses — yet nobody is sent away; when a read confirms the policy, the far node's cascade puts it back and
    Bob decodes again."""
    down = {"on": False}

    def view(tenant: str) -> TenantView:
        if down["on"]:
            raise ConnectionError("registry unreachable")
        return TenantView(tenant, "EU", EU, 1)

    bots: list[Bot] = []
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: "eu-1-a")
        a, b = nodes["eu-1-a"], nodes["eu-2-a"]
        assert a.relays is not None and b.relays is not None
        home = PolicyWatch(a.node, view, relays=a.relays)
        home.leases.lease = 0.5  # the test's lease: the same rule, shorter
        try:
            alice = await _join(a, "alice", bots)
            await alice.publish(video=str(short_gop_video(gop=8, fps=15, bitrate=200_000)))
            bob = await _join(b, "bob", bots)
            assert await wait_for(lambda: _frames(bob) > 20, 40), bob.video()
            home.check()
            down["on"] = True
            await asyncio.sleep(0.6)
            home.read()
            home.check()
            assert home.counts["held"] == 1 and a.node.rooms[BOARD].residency_held
            await asyncio.sleep(1.0)
            stopped = _frames(bob)
            await asyncio.sleep(3.0)  # the far node tries to put it back after RETRY: refused, nothing crosses
            home.check()
            assert _frames(bob) == stopped, bob.video()
            assert a.relays.refused["relay_policy_unconfirmed"] >= 1, dict(a.relays.refused)
            assert "alice" in a.node.by_id and "bob" in b.node.by_id and home.counts["withdrawn"] == 0

            down["on"] = False
            home.read()
            home.check()
            assert home.counts["released"] == 1 and not a.node.rooms[BOARD].residency_held
            assert await wait_for(lambda: _frames(bob) > stopped + 20, 30), bob.video()
        finally:
            for bot in bots:
                with contextlib.suppress(Exception):
                    await bot.close()
