"""One MLS group per cascaded meeting (sfu/cascade/handshakes.py): two nodes built by the product's factory under
uvicorn on loopback, with real enrolled keys and signed records; the meeting's home is eu-1-a, and eu-2-a dials it
by itself. The members are the browser client's own E2EE modules in Node.js (tests/node/cascade/members.mjs,
real WebSockets): one on the home, two on the far node, none of them publishing. Before this, each node ran its
own Delivery Service: the far members made a group of their own and the home's member never saw them.

- honest: all three end in one epoch with one roster and one safety code (the epoch authenticator), and each
  opens a frame the others sealed; the home's room lists the far members although they publish nothing; a far
  member leaving is removed by the normal commit rules;
- hostile far node: a commit it forges in its member's name that would add a ghost is refused by every member
  (roster, epoch and safety code unchanged); a handshake it sends in the name of the home's member, or an
  announcement posing as the home's participant, or a Delivery Service message it pushes at the home, is refused
  and counted and reaches nobody;
- the link closes mid-meeting: the home's member sees the far member leave and commits its removal; the far node
  finds the link gone, dials again, and its member rejoins the home's group (one epoch, one roster again).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import time
from typing import Any

import httpx
import pytest

from sfu.app.limits import SignallingLimits
from sfu.cascade.dial import send
from sfu.cascade.handshakes import CascadeHandshakes
from sfu.e2ee.messages import Commit
from tests.harness import RunningNode, wait_for
from tests.node.cascade.e2ee_members import Members
from tests.node.cascade.nodes import relayed_nodes

pytest.importorskip("native.engine")
pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for the headless members")]

NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"))
TENANT, ROOM = "eurocorp", "board"
KEY = (TENANT, ROOM)


@contextlib.asynccontextmanager
async def two_nodes():  # type: ignore[no-untyped-def]
    async with star(NODES) as (nodes, members):
        yield nodes["eu-1-a"], nodes["eu-2-a"], members


@contextlib.asynccontextmanager
async def star(spec: tuple[tuple[str, str], ...]):  # type: ignore[no-untyped-def]
    """Nodes of the EU regions, every meeting placed on eu-1-a (the home), and the headless members' process."""
    async with contextlib.AsyncExitStack() as stack:
        nodes = await relayed_nodes(stack, spec, home=lambda tenant, room: "eu-1-a")  # every meeting placed on eu-1-a
        members = await Members.start()
        try:
            yield nodes, members
        finally:
            await members.close()


async def _join(m: Members, rn: RunningNode, name: str) -> None:
    await m.join(name, rn.ws_url, rn.token(ROOM, participant=name, tenant=TENANT, name=name))


def _hs(rn: RunningNode) -> CascadeHandshakes:
    assert rn.handshakes is not None
    return rn.handshakes


def _inject(far: RunningNode, message: dict[str, Any]) -> None:
    """The far node, turned hostile, puts `message` on its lane to the home (sealed with the link's real keys)."""
    lane = _hs(far).lanes[("eu-1-a", (TENANT, ROOM))]
    lane.seal(message)
    lane.wire.wake.set()


def _blob(n: int) -> str:
    return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode()


def test_members_on_two_nodes_form_one_group_and_a_far_member_leaving_is_removed() -> None:
    async def run() -> None:
        async with two_nodes() as (home, far, m):
            await _join(m, home, "alice")
            await _join(m, far, "bob")
            await _join(m, far, "carol")
            state = await m.agreed({"alice", "bob", "carol"})
            epoch = state["alice"]["epoch"]
            # the far members are participants of the home's room although they publish nothing
            room = home.node.rooms[KEY]
            assert {p: room.participants[p].relayed_from for p in ("bob", "carol")} == {"bob": "eu-2-a",
                                                                                       "carol": "eu-2-a"}
            assert room.group.members == {"alice", "bob", "carol"}  # one Delivery Service: the home's
            assert far.node.rooms[KEY].group.epoch is None  # the far node orders nothing
            assert far.node.handshakes.messages[("mls_key_package", "forwarded")] >= 2
            assert await m.frames_open("alice", ["bob", "carol"]), "far members cannot open the home member's frames"
            assert await m.frames_open("bob", ["alice", "carol"]), "the home member cannot open a far member's frames"

            # a far member leaves: the others commit its removal by the normal rules
            await m.ask(op="leave", name="carol")
            state = await m.agreed({"alice", "bob"})
            assert state["alice"]["epoch"] > epoch
            assert "carol" not in home.node.rooms[KEY].participants
            assert home.node.rooms[KEY].group.members == {"alice", "bob"}

    asyncio.run(run())


def test_a_hostile_far_node_can_speak_only_for_its_own_members_and_cannot_forge_a_member_in(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        async with two_nodes() as (home, far, m):
            await _join(m, home, "alice")
            await _join(m, far, "bob")
            joined = (await m.agreed({"alice", "bob"}))["alice"]["epoch"]
            room = home.node.rooms[KEY]
            assert home.members is not None and home.relays is not None

            # a handshake in the name of the home's member, and a roster entry posing as her: refused, counted
            _inject(far, {"type": "mls", "from": "alice", "message": {"type": "mls_key_package", "data": _blob(300)}})
            assert await wait_for(lambda: _hs(home).counts["handshake_not_theirs"] == 1, 10)
            assert "alice" not in room.group.key_packages
            _inject(far, {"type": "member", "participant": "alice", "name": "mallory", "rejoin": True})
            assert await wait_for(lambda: home.members is not None
                                  and home.members.refused["relay_participant_clash"] == 1, 10)
            assert room.participants["alice"].relayed_from is None and room.participants["alice"].name == "alice"
            # a Delivery Service message pushed at the home: refused; the far node's link closes on the refusal,
            # it dials again, and bob rejoins the home's group
            first = far.relays.links["eu-1-a"] if far.relays is not None else None
            _inject(far, {"type": "mls_deliver", "to": "alice", "message": {"type": "mls_resync", "epoch": None}})
            assert await wait_for(lambda: home.relays is not None
                                  and home.relays.refused["relay_message_malformed"] >= 1, 10)
            assert await wait_for(lambda: far.relays is not None
                                  and far.relays.links.get("eu-1-a") not in (None, first), 20)
            state = await m.agreed({"alice", "bob"}, after=joined + 1)  # bob removed, then added again
            epoch, code = state["alice"]["epoch"], state["alice"]["safety"]
            assert room.group.members == {"alice", "bob"} and room.group.epoch == epoch

            # a commit it forges in bob's name at the room's epoch (near the size limits: ~227 Ki characters of commit
            # and of Welcome), "adding" a ghost with a Welcome: the home's
            # Delivery Service orders it (opaque to it), every member refuses it — the ghost is in no roster
            stats = home.node.handshakes.messages
            accepted = stats[("mls_commit", "accepted")]
            refused_before = state["alice"]["refused"]["refused_commits"]
            _hs(far).forward("bob", far.node.rooms[KEY], Commit(epoch, _blob(170_000), _blob(170_000), 0, ("ghost",), _blob(9_000)))
            assert await wait_for(lambda: stats[("mls_commit", "accepted")] == accepted + 1, 10), (
                dict(stats), room.group.epoch, room.group.members, epoch)
            assert await wait_for(lambda: room.group.epoch == epoch + 1, 10)

            async def refused() -> dict[str, dict[str, Any]]:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    s = await m.state()
                    if s["alice"]["refused"]["refused_commits"] > refused_before:
                        return s
                    await asyncio.sleep(0.2)
                raise AssertionError(s)

            after = await refused()  # (bob is told his "commit" won: he made none, and ignores it)
            for name in ("alice", "bob"):
                v = after[name]
                assert (v["epoch"], v["roster"], v["safety"]) == (epoch, ["alice", "bob"], code), v
            assert "ghost" not in room.participants and "ghost" not in far.node.rooms[KEY].participants
            # (what it costs: the honest members' next commit finds the room past their epoch — the stall every
            # lying node can cause, docs/e2ee.md "What a malicious node can and cannot do")

            # and it cannot flood the home with participants: at most MAX_MEMBERS per link (1 here: bob), counted
            monkeypatch.setattr("sfu.cascade.members.MAX_MEMBERS", 1)
            for i in range(3):
                _inject(far, {"type": "member", "participant": f"ghost-{i}", "name": "g", "rejoin": False})
            assert await wait_for(lambda: home.members is not None
                                  and home.members.refused["relay_too_many_members"] == 3, 10)
            assert not any(p.startswith("ghost") for p in room.participants)

            # nor flood the home's members in its own members' name: the home applies the handshake budget again
            _hs(home).limits = SignallingLimits(handshake_rate=1, handshake_burst=2500)
            room.participants["bob"].handshake_budget = None
            limited = home.node.handshakes.messages[("mls_epoch", "rate_limited")]
            for _ in range(4):  # 1 KiB each: two fit the burst
                _inject(far, {"type": "mls", "from": "bob", "message": {"type": "mls_epoch", "epoch": 0}})
            assert await wait_for(lambda: home.node.handshakes.messages[("mls_epoch", "rate_limited")] == limited + 2,
                                  10)

    asyncio.run(run())


def test_a_lane_post_sent_again_is_skipped_by_the_home_and_the_link_stays() -> None:
    """A post that timed out is retried as it was (sfu/cascade/stall.py): if the home applied it late, the retry
    is a replay there — skipped and counted, not applied twice, and no refusal that would close the link."""
    async def run() -> None:
        async with two_nodes() as (home, far, m):
            await _join(m, home, "alice")
            await _join(m, far, "bob")
            await m.agreed({"alice", "bob"})
            assert home.relays is not None and far.relays is not None
            link = far.relays.links["eu-1-a"]
            sealed = [_hs(far).wires["eu-1-a"].channel.seal({"type": "alive"})]
            async with httpx.AsyncClient(trust_env=False) as client:
                assert await send(far.relays, "eu-1-a", sealed, client, handshakes=True) == 1
                replayed = home.relays.refused["relay_message_replayed"]
                assert await send(far.relays, "eu-1-a", sealed, client, handshakes=True) == 0
            assert home.relays.refused["relay_message_replayed"] == replayed + 1
            await asyncio.sleep(1.0)  # (the lane's own posts go on under the same sequence)
            assert far.relays.links.get("eu-1-a") is link and not home.relays.closed_by_peer
            assert set(home.node.rooms[KEY].participants) == {"alice", "bob"}

    asyncio.run(run())


def test_a_link_that_closes_mid_meeting_removes_the_far_members_and_they_rejoin_on_the_next() -> None:
    async def run() -> None:
        async with two_nodes() as (home, far, m):
            await _join(m, home, "alice")
            await _join(m, far, "bob")
            state = await m.agreed({"alice", "bob"})
            epoch = state["alice"]["epoch"]
            assert home.relays is not None and far.relays is not None
            first = far.relays.links["eu-1-a"]

            home.relays.close("eu-2-a")  # the link drops on the home's side (the far node is not told)
            # the home's member sees bob leave and commits his removal: alone in the group
            gone = await m.agreed({"alice"})
            assert gone["alice"]["epoch"] > epoch
            # the far node finds the link gone (its lane is refused), dials again, and bob rejoins the home's group
            assert await wait_for(lambda: far.relays is not None and far.relays.links.get("eu-1-a") not in (None, first),
                                  20)
            state = await m.agreed({"alice", "bob"})
            assert state["bob"]["epoch"] > gone["alice"]["epoch"]
            assert await m.frames_open("alice", ["bob"]) and await m.frames_open("bob", ["alice"])
            assert home.node.rooms[KEY].group.members == {"alice", "bob"}

    asyncio.run(run())


def test_the_home_orders_the_meeting_when_none_of_its_participants_is_on_it() -> None:
    """The placement is sticky: a meeting's home may hold none of its participants (they all asked for the other
    region, or the home's left). The home accepts the far node's link for the meeting it is home of, opens the
    room for it and orders the group; a participant joining the home later joins that same group; the home's
    own participant leaving does not take the orderer away."""

    async def run() -> None:
        async with two_nodes() as (home, far, m):
            await _join(m, far, "bob")
            await _join(m, far, "carol")
            state = await m.agreed({"bob", "carol"})
            room = home.node.rooms[KEY]
            assert not any(p.relayed_from is None for p in room.participants.values())  # none of its own
            assert room.group.members == {"bob", "carol"} and far.node.rooms[KEY].group.epoch is None
            await _join(m, home, "alice")
            state = await m.agreed({"alice", "bob", "carol"}, after=state["bob"]["epoch"])
            await m.ask(op="leave", name="alice")
            state = await m.agreed({"bob", "carol"}, after=state["bob"]["epoch"])
            assert home.node.rooms[KEY].group.members == {"bob", "carol"}
            await m.ask(op="leave", name="carol")
            await m.agreed({"bob"}, after=state["bob"]["epoch"])
            await m.ask(op="leave", name="bob")
            # the far node's last participant gone: its link closes, and the home's room with it
            assert await wait_for(lambda: KEY not in home.node.rooms and KEY not in far.node.rooms, 15)

    asyncio.run(run())


def test_three_nodes_one_group_through_the_home() -> None:
    """A star of three: the home (eu-1-a) and two far nodes (eu-2-a, eu-2-b) that each dial it. Members on the
    two far nodes see each other through the home (its roster to each far node lists the other's participants),
    and all three are in one group; a member leaving one far node is committed away on all."""

    async def run() -> None:
        spec = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"), ("eu-2-b", "eu-2"))
        async with star(spec) as (nodes, m):
            home, far, other = nodes["eu-1-a"], nodes["eu-2-a"], nodes["eu-2-b"]
            await _join(m, home, "alice")
            await _join(m, far, "bob")
            await _join(m, other, "carol")
            await _join(m, other, "dave")
            state = await m.agreed({"alice", "bob", "carol", "dave"})
            assert far.node.rooms[KEY].participants["carol"].relayed_from == "eu-1-a"  # via the home
            assert other.node.rooms[KEY].participants["bob"].relayed_from == "eu-1-a"
            assert home.relays is not None and set(home.relays.links) == {"eu-2-a", "eu-2-b"}
            assert await m.frames_open("bob", ["carol", "dave", "alice"])
            await m.ask(op="leave", name="dave")
            await m.agreed({"alice", "bob", "carol"}, after=state["alice"]["epoch"])
            assert "dave" not in far.node.rooms[KEY].participants

    asyncio.run(run())


def test_the_home_dies_and_the_far_node_carries_the_group_on_as_the_new_home() -> None:
    """The home (eu-1-a, alice's node) stops; the meeting is re-placed on eu-2-a, as the control plane does when a
    participant names the home it lost. eu-2-a's lane to the home closes, it asks the registry again, finds itself
    the home and carries on the group its members are in (sfu/cascade/witness.py) instead of starting with none:
    bob and carol's commit removing alice's old leaf is the group's next epoch, alice rejoining there (a new
    participant, as a new join through the control plane is) is added, and all three end in one epoch, one roster,
    one safety code. Before, eu-2-a answered their commit `no_group` and let alice's `mls_create` win: bob and carol
    sat in the old epoch beside alice's one-member group."""

    async def run() -> None:
        placed = {"home": "eu-1-a"}
        async with contextlib.AsyncExitStack() as stack, contextlib.AsyncExitStack() as home_stack:
            nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: placed["home"],
                                        stacks={"eu-1-a": home_stack})
            home, far = nodes["eu-1-a"], nodes["eu-2-a"]
            m = await Members.start()
            try:
                await _join(m, home, "alice")
                await _join(m, far, "bob")
                await _join(m, far, "carol")
                state = await m.agreed({"alice", "bob", "carol"})
                before, code = state["bob"]["epoch"], state["bob"]["safety"]
                assert far.node.rooms[KEY].group.epoch is None  # a far node orders nothing...
                assert _hs(far).witnesses[KEY].group.epoch == before  # ...but saw where the group is

                placed["home"] = "eu-2-a"
                await home_stack.aclose()  # the home's node goes, alice's socket with it
                await m.join("alice", far.ws_url, far.token(ROOM, participant="alice-2", tenant=TENANT, name="alice"))
                state = await m.agreed({"alice", "bob", "carol"}, after=before)
                assert state["alice"]["participant"] == "alice-2" and state["bob"]["safety"] != code
                assert _hs(far).homes[KEY] == "eu-2-a" and _hs(far).counts["home_taken_over"] == 1
                group = far.node.rooms[KEY].group
                assert group.epoch == state["bob"]["epoch"] and group.members == {"alice-2", "bob", "carol"}
                for v in state.values():  # no member was told to drop its group, nor refused anything
                    assert v["refused"]["group_resets"] == 0 and v["refused"]["refused_commits"] == 0, v
                assert await m.frames_open("alice", ["bob", "carol"]) and await m.frames_open("bob", ["alice", "carol"])
            finally:
                await m.close()

    asyncio.run(run())


def test_a_registry_naming_the_far_node_takes_nothing_from_a_live_home() -> None:
    """The registry is not trusted (a forged placement in Redis): while its lane to the home is up, a far node
    does not ask it again, so an entry naming the far node as the home does not make it order the group — the
    home keeps ordering, a join is added there, and the far node carries nothing over. Only a lane that closed
    (the home gone, or the link dropped) makes it ask."""

    async def run() -> None:
        placed = {"home": "eu-1-a"}
        async with contextlib.AsyncExitStack() as stack:
            nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: placed["home"])
            home, far = nodes["eu-1-a"], nodes["eu-2-a"]
            m = await Members.start()
            try:
                await _join(m, home, "alice")
                await _join(m, far, "bob")
                state = await m.agreed({"alice", "bob"})
                placed["home"] = "eu-2-a"  # forged while the home lives
                await asyncio.sleep(3 * 2.0)  # longer than RESOLVE_AGAIN: the far node would have asked again
                await _join(m, far, "carol")
                state = await m.agreed({"alice", "bob", "carol"}, after=state["alice"]["epoch"])
                assert _hs(far).homes[KEY] == "eu-1-a" and not _hs(far).counts["home_taken_over"]
                assert far.node.rooms[KEY].group.epoch is None
                assert home.node.rooms[KEY].group.members == {"alice", "bob", "carol"}
                assert home.node.rooms[KEY].group.epoch == state["alice"]["epoch"]
            finally:
                await m.close()

    asyncio.run(run())
