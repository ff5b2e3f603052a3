"""The recorder of a cascaded meeting attached to another node than the member who adds it (issue 15 across a
cascade, sfu/cascade/roles.py; docs/recording.md "Handing the link secret to the recorder"). Nodes built by the
product's factory under uvicorn on loopback, one control plane's keys, real relay links; the members and the
recorder page are the browser client's own E2EE modules in Node.js (tests/node/cascade/members.mjs), the
recorder attested by the tenant's recorder key as the pool does.

- honest: the recorder sits on a far node; the only member that can add it is on the home. The far node presents
  the recorder's join credential with its `member`; the home verifies it and marks it `recorder: true`, and relays
  it on to a second far node, which verifies it too. The home's member hands the recorder the link's secrets and
  its Welcome adds it: one epoch, one roster, one safety code, and the recorder opens the members' frames. Before,
  the home's member refused the attested KeyPackage ("from a participant the node does not mark as the recorder").
- hostile far node: it announces participants as the recorder with no credential, a forged or altered one, one of
  another role, participant, meeting or node, or one that expired — none is marked (on the node or in any member's
  client), each is counted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import shutil
import time
from typing import Any

import pytest

from signalling.tokens import KeyRing, TokenIssuer
from tests.harness import RunningNode, wait_for
from tests.node.cascade.e2ee_members import Members
from tests.node.cascade.nodes import relayed_nodes
from tests.node.cascade.test_e2ee_cascade import _blob, _hs, star

pytest.importorskip("native.engine")
pytestmark = [pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for the headless members")]

TENANT, ROOM = "eurocorp", "board"
KEY = (TENANT, ROOM)
CLAIMS = {"tenant": TENANT, "room": ROOM, "recording": "allowed"}
THREE = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"), ("eu-2-b", "eu-2"))  # the home and two far nodes


def _token(rn: RunningNode, participant: str, role: str = "participant", room: str = ROOM,
           issuer: TokenIssuer | None = None, node: str | None = None, now: float | None = None,
           recording: str = "allowed") -> str:
    return (issuer or rn.issuer).mint(tenant=TENANT, room=room, participant=participant, region=rn.node.config.region,
                                      node=node or rn.node.config.node_id, name=participant, recording=recording,
                                      role=role, now=now)


async def _member(m: Members, rn: RunningNode, name: str, recording: str = "allowed", recorder_key: bool = True) -> None:
    """A member; `recorder_key=False`: its link names no recorder key, so it hands nothing over to a recorder."""
    await m.join(name, rn.ws_url, _token(rn, name, recording=recording),
                 credential={**CLAIMS, "recording": recording} if recorder_key else None)


async def _recorder(m: Members, rn: RunningNode, name: str, recording: str = "allowed") -> None:
    await m.join(name, rn.ws_url, _token(rn, name, role="recorder", recording=recording),
                 credential={**CLAIMS, "recording": recording}, recorder=name)


def _held(*nodes: RunningNode) -> list[bool]:
    """Each node's `required` hold of the meeting (a node it left is not listed)."""
    return [rn.node.rooms[KEY].recording.held for rn in nodes if KEY in rn.node.rooms]


def test_a_recorder_on_a_far_node_is_marked_across_the_links_and_added_by_a_member_on_the_home() -> None:
    async def run() -> None:
        async with star(THREE) as (nodes, m):
            home, far, other = nodes["eu-1-a"], nodes["eu-2-a"], nodes["eu-2-b"]
            await _member(m, home, "alice")
            await m.agreed({"alice"})
            await _recorder(m, far, "rec-1")
            await _member(m, other, "carol")
            state = await m.agreed({"alice", "carol", "rec-1"})
            # the mark crossed both links, each time on the credential verified there
            for rn in (home, other):
                rec = rn.node.rooms[KEY].participants["rec-1"]
                assert rec.relayed_from is not None and rec.recorder, rn.node.config.node_id
                assert rn.members is not None and not any(k.startswith("relay_recorder") for k in rn.members.refused)
            assert state["alice"]["recorders"] == ["rec-1"] and state["carol"]["recorders"] == ["rec-1"]
            # alice (on the home) handed it over and added it: the recorder never held the link
            assert state["alice"]["refused"]["handovers_sent"] == 1, state["alice"]["log"]
            assert state["alice"]["refused"]["refused_key_packages"] == 0, state["alice"]["last_refusal"]
            assert await m.frames_open("alice", ["rec-1", "carol"]), "the recorder cannot open the home member's frames"
            assert await m.frames_open("carol", ["rec-1"])

    asyncio.run(run())


def test_a_required_meeting_waits_on_every_node_until_the_far_recorder_is_in_the_group() -> None:
    """`required` across a cascade: the control plane launches one recorder per meeting, attached to one node. Every
    node holds the meeting's media until that recorder is marked there on its verified credential *and* is in the
    group the home orders — the home from its own Delivery Service, every other node on the home's verdict over
    the link (`recorders`) — and holds it again when it leaves (fail closed). The members here first hold no
    recorder key (their link names none), so nobody adds the recorder: it is in the meeting, marked on all three
    nodes, and out of the group. Before the home's verdict, the recorder's own node and the other far node counted
    it on its mark alone and forwarded media the recorder could not decrypt; then a member who holds the key comes
    and adds it, and every node releases."""
    async def run() -> None:
        async with star(THREE) as (nodes, m):
            home, far, other = nodes["eu-1-a"], nodes["eu-2-a"], nodes["eu-2-b"]
            held = functools.partial(_held, home, far, other)

            await _member(m, home, "alice", "required", recorder_key=False)
            await _member(m, other, "carol", "required", recorder_key=False)
            await m.agreed({"alice", "carol"})
            await _member(m, far, "bob", "required", recorder_key=False)
            await m.agreed({"alice", "bob", "carol"})
            assert held() == [True, True, True], "no recorder yet: every node holds the media"
            await _recorder(m, far, "rec-1", "required")

            async def refused_by_all() -> bool:
                seen = await m.state()
                return all(seen[n]["refused"]["refused_key_packages"] >= 1 for n in ("alice", "bob", "carol"))

            # its attested KeyPackage reached every member through the home, and each refused it (no recorder key)
            deadline = time.monotonic() + 20
            while not await refused_by_all():
                assert time.monotonic() < deadline, (await m.state())["alice"]["log"]
                await asyncio.sleep(0.2)
            for rn in (home, other):
                assert rn.node.rooms[KEY].participants["rec-1"].recorder, rn.node.config.node_id
            assert "rec-1" not in home.node.rooms[KEY].group.members
            assert held() == [True, True, True], f"released before the recorder is in the group: {held()}"
            # a member whose link names the recorder key comes; once it is a member it adds the recorder
            await _member(m, home, "dave", "required")
            await m.agreed({"alice", "bob", "carol", "dave", "rec-1"})
            assert await wait_for(lambda: held() == [False, False, False], 20), f"still held: {held()}"
            for rn in (home, other):
                assert rn.node.rooms[KEY].recording.state == "live", rn.node.config.node_id
            await m.ask(op="leave", name="rec-1")
            # the recorder gone: held again everywhere
            assert await wait_for(lambda: held() == [True, True, True], 20), f"not held again: {held()}"

    asyncio.run(run())


def _seal(rn: RunningNode, peer: str, message: dict[str, Any]) -> None:
    """`rn` puts `message` on its lane of the meeting to `peer`, sealed with the link's real keys."""
    lane = _hs(rn).lanes[(peer, KEY)]
    lane.seal(message)
    lane.wire.wake.set()


def test_the_recorder_out_of_the_group_holds_every_node_and_only_the_home_says_who_is_in() -> None:
    """The home's verdict, attacked and withdrawn. A verdict naming a participant whose credential did not verify
    on the receiving node marks nothing there; the recorder dropping out of the group while it stays in the room
    (it asks to join again with a new KeyPackage: the home no longer counts it) holds media again on every node,
    not only on the home; and a far node that sends the home a verdict of its own is refused — only the home may
    say who is in the group it orders (and far nodes share no lane)."""
    async def run() -> None:
        async with star(THREE) as (nodes, m):
            home, far, other = nodes["eu-1-a"], nodes["eu-2-a"], nodes["eu-2-b"]
            held = functools.partial(_held, home, far, other)

            await _member(m, home, "alice", "required")
            await _member(m, other, "carol", "required")
            await _member(m, far, "bob", "required")
            await m.agreed({"alice", "bob", "carol"})
            # the far node announces a "recorder" with no credential: marked nowhere; a verdict naming it (a home's
            # word, here sealed on the home's own lane to the other node) releases nothing there
            _seal(far, "eu-1-a", {"type": "member", "participant": "m-none", "name": "Recorder", "rejoin": False,
                                  "recorder": True})
            room = other.node.rooms[KEY]
            assert await wait_for(lambda: "m-none" in room.participants, 10)
            _seal(home, "eu-2-b", {"type": "recorders", "in": ["m-none"], "epoch": home.node.rooms[KEY].group.epoch})
            assert await wait_for(lambda: _hs(other).verdicts.get(("eu-1-a", KEY)) == {"m-none"}, 10)
            assert not room.participants["m-none"].recorder and held() == [True, True, True]
            # the real recorder, added by a member: released everywhere
            await _recorder(m, far, "rec-1", "required")
            await m.agreed({"alice", "bob", "carol", "rec-1"})
            assert await wait_for(lambda: held() == [False, False, False], 20), f"still held: {held()}"
            # it asks to join again (a recorder that lost its MLS state does): out of the group the home orders, so
            # out on every node's count, though still in the room on all three
            _seal(far, "eu-1-a", {"type": "mls", "from": "rec-1",
                                  "message": {"type": "mls_key_package", "data": _blob(300), "attestation": _blob(64)}})
            assert await wait_for(lambda: held() == [True, True, True], 20), f"not held again: {held()}"
            assert all("rec-1" in rn.node.rooms[KEY].participants for rn in (home, far, other))
            assert _hs(far).verdicts[("eu-1-a", KEY)] == frozenset() == _hs(other).verdicts[("eu-1-a", KEY)]
            # a far node turned hostile says the recorder is in: the home refuses it (not a far node's to say)
            refused = home.relays.refused if home.relays is not None else None
            assert refused is not None
            before = refused["relay_message_malformed"]
            _seal(far, "eu-1-a", {"type": "recorders", "in": ["rec-1"], "epoch": 0})
            assert await wait_for(lambda: refused["relay_message_malformed"] == before + 1, 10)
            assert home.node.rooms[KEY].recording.held and other.node.rooms[KEY].recording.held

    asyncio.run(run())


def _forged(token: str, **changes: Any) -> str:
    """`token` with its payload changed and its signature kept: what an altered credential looks like."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{head}.{raw}.{sig}"


def test_a_hostile_far_node_cannot_mark_a_participant_the_recorder_without_its_real_credential() -> None:
    async def run() -> None:
        async with contextlib.AsyncExitStack() as stack:
            nodes = await relayed_nodes(stack, (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2")),
                                        home=lambda tenant, room: "eu-1-a")
            home, far = nodes["eu-1-a"], nodes["eu-2-a"]
            m = await Members.start()
            stack.push_async_callback(m.close)
            await _member(m, home, "alice")
            await _member(m, far, "bob")
            await m.agreed({"alice", "bob"})
            assert home.members is not None
            refused = home.members.refused
            other_cp = TokenIssuer(KeyRing())  # a control plane the nodes do not trust
            real = _token(far, "rec-1", role="recorder")  # a genuine recorder credential, for rec-1 only
            presented = {
                "m-none": None,  # "recorder" on its word alone
                "m-forged": _token(far, "m-forged", role="recorder", issuer=other_cp),
                "m-altered": _forged(real, sub="m-altered"),
                "m-role": _token(far, "m-role"),  # a genuine participant credential
                "m-other": real,  # rec-1's credential presented for another participant
                "m-room": _token(far, "m-room", role="recorder", room="other-room"),
                "m-aud": _token(far, "m-aud", role="recorder", node="eu-1-a"),  # issued for the home, not the far node
                "m-expired": _token(far, "m-expired", role="recorder", now=time.time() - 3600),
                "m-junk": "not a token",
            }
            lane = _hs(far).lanes[("eu-1-a", KEY)]
            for pid, credential in presented.items():
                msg: dict[str, Any] = {"type": "member", "participant": pid, "name": "Recorder", "rejoin": False,
                                       "recorder": True}
                if credential is not None:
                    msg["credential"] = credential
                lane.seal(msg)
            lane.wire.wake.set()
            room = home.node.rooms[KEY]
            assert await wait_for(lambda: all(p in room.participants for p in presented), 10), list(room.participants)
            assert not any(room.participants[p].recorder for p in presented)
            assert {k: v for k, v in refused.items() if k.startswith("relay_recorder")} == {
                "relay_recorder_no_credential": 1, "relay_recorder_unknown_key": 1, "relay_recorder_bad_signature": 1,
                "relay_recorder_not_recorder": 1, "relay_recorder_wrong_participant": 1,
                "relay_recorder_wrong_meeting": 1, "relay_recorder_wrong_audience": 1, "relay_recorder_expired": 1,
                "relay_recorder_malformed": 1}, dict(refused)
            # the home's member sees them all as ordinary participants: none is someone it would hand anything over to
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                seen = (await m.state())["alice"]
                if set(presented) <= set(seen["present"]):
                    break
                await asyncio.sleep(0.2)
            assert set(presented) <= set(seen["present"]) and seen["recorders"] == [], seen
            # and the genuine credential still marks its own holder
            lane.seal({"type": "member", "participant": "rec-1", "name": "Recorder", "rejoin": False,
                       "credential": real})
            lane.wire.wake.set()
            assert await wait_for(lambda: "rec-1" in room.participants, 10)
            assert room.participants["rec-1"].recorder

    asyncio.run(run())
