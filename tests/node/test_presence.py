"""Presence in batches (protocol 2, sfu/presence.py): joins and leaves reach each participant as one `presence`
message per interval, not one frame per join — a burst of N joins used to cost N²/2 frames. The story: a room
fills in a burst and everyone learns who is there from a handful of frames; a join and leave of one participant
in one batch arrive in order and end with them gone; a newcomer whose snapshot was taken mid-batch still ends
with the room as it is; presence is never overtaken by another room message (chat, an MLS join request); and a
hostile participant who joins and leaves as fast as it can never makes a batch longer than PRESENCE_BATCH_MAX.
Then the same on a real node over real WebSockets.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import pytest
import websockets

from sfu import presence
from sfu.app.limits import SignallingLimits
from sfu.e2ee.delivery import Delivery
from sfu.participant import Participant
from sfu.presence import PRESENCE_BATCH_MAX, PRESENCE_INTERVAL
from sfu.room import Room
from tests.harness import running_node

pytestmark = pytest.mark.timeout(60)


def _member(room: Room, pid: str) -> Participant:
    p = Participant(id=pid, name=pid.title(), room=room, peer=len(room.participants), tenant=room.tenant)
    room.participants[pid] = p
    return p


def _join(room: Room, pid: str, now: float) -> Participant:
    p = _member(room, pid)
    room.announce(presence.joined(p.describe()), now)
    return p


def _leave(room: Room, pid: str, now: float, reason: str = "left") -> None:
    room.participants.pop(pid)
    room.announce(presence.left(pid, reason), now)


def _drain(p: Participant) -> list[dict[str, Any]]:
    out = []
    while not p.outbox.empty():
        out.append(p.outbox.get_nowait())
    return out


def _presence_frames(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in msgs if m["type"] in ("presence", "participant_joined", "participant_left")]


def _roster(snapshot: list[str], msgs: list[dict[str, Any]], me: str) -> set[str]:
    roster: dict[str, dict[str, Any]] = {pid: {"id": pid} for pid in snapshot}
    for m in _presence_frames(msgs):
        presence.apply(roster, m, me)
    return set(roster)


def test_a_burst_of_joins_reaches_each_participant_as_one_frame() -> None:
    room = Room("acme", "r")
    alice = _member(room, "alice")
    for i in range(40):
        _join(room, f"p{i}", now=i * 0.001)
    assert _drain(alice) == [], "a change went out before its interval"
    assert not room.presence.due(0.04)
    assert room.presence.due(0.001 + PRESENCE_INTERVAL)
    assert room.flush_presence()
    (frame,) = _drain(alice)
    assert frame["type"] == "presence"
    assert [c["participant"]["id"] for c in frame["changes"]] == [f"p{i}" for i in range(40)], "order lost"
    assert _roster([], [frame], "alice") == {f"p{i}" for i in range(40)}
    # a joiner gets one frame with only the joins after its own (its snapshot has the rest); the last none
    for i in range(40):
        got = _drain(room.participants[f"p{i}"])
        assert [c["participant"]["id"] for m in got for c in m["changes"]] == [f"p{j}" for j in range(i + 1, 40)]
        assert len(got) == (1 if i < 39 else 0)
    assert not room.flush_presence(), "an empty batch was sent"


def test_a_join_then_leave_in_one_batch_arrives_in_order_and_ends_with_them_gone() -> None:
    room = Room("acme", "r")
    alice = _member(room, "alice")
    _join(room, "bob", 0.0)
    _join(room, "x", 0.01)
    _leave(room, "x", 0.02, reason="signalling_lost")
    # and a replaced session: leave then join of the same id, which must end present with the new description
    _leave(room, "bob", 0.03, reason="replaced")
    room.participants["bob"] = Participant(id="bob", name="Bob again", room=room, peer=9, tenant="acme")
    room.announce(presence.joined(room.participants["bob"].describe()), 0.04)
    room.flush_presence()
    (frame,) = _drain(alice)
    assert [(c["type"], c["participant"] if isinstance(c["participant"], str) else c["participant"]["id"])
            for c in frame["changes"]] == [("participant_joined", "bob"), ("participant_joined", "x"),
                                           ("participant_left", "x"), ("participant_left", "bob"),
                                           ("participant_joined", "bob")]
    assert frame["changes"][2]["reason"] == "signalling_lost"
    roster: dict[str, dict[str, Any]] = {}
    presence.apply(roster, frame, "alice")
    assert roster == {"bob": {"id": "bob", "name": "Bob again", "host": False}}


def test_a_newcomer_whose_snapshot_was_taken_mid_batch_ends_with_the_room() -> None:
    """The batch a newcomer gets holds changes from before its snapshot: replayed in order they change nothing
    that is still true, and correct what changed after."""
    room = Room("acme", "r")
    _member(room, "alice")
    _join(room, "x", 0.0)
    _join(room, "y", 0.01)
    carol = _join(room, "carol", 0.02)
    snapshot = [pid for pid in room.participants if pid != "carol"]  # what `joined` listed: alice, x, y
    _leave(room, "x", 0.03)
    _join(room, "z", 0.04)
    room.flush_presence()
    assert _roster(snapshot, _drain(carol), "carol") == set(room.participants) - {"carol"} == {"alice", "y", "z"}


def test_no_room_message_overtakes_a_presence_change() -> None:
    room = Room("acme", "r")
    alice = _member(room, "alice")
    carol = _join(room, "carol", 0.0)
    room.broadcast({"type": "chat", "from": "carol", "data": "hi"}, exclude=carol)
    room.announce(presence.joined({"id": "dave", "name": "Dave", "host": False}), 0.01)
    room.participants["dave"] = dave = Participant(id="dave", name="Dave", room=room, peer=5, tenant="acme")
    room.deliver([Delivery({"type": "mls_join_request", "from": "dave", "data": "AAAA"}, exclude="dave")])
    assert [m["type"] for m in _drain(alice)] == ["presence", "chat", "presence", "mls_join_request"]
    assert _drain(dave) == [], "dave was told of his own join"


def test_a_participant_joining_and_leaving_as_fast_as_it_can_never_grows_a_batch_past_its_bound() -> None:
    room = Room("acme", "r")
    alice = _member(room, "alice")
    frames: list[dict[str, Any]] = []
    for i in range(1000):  # all within one interval: only the batch bound sends them
        _join(room, "mallory", i * 1e-6)
        assert len(room.presence.changes) < PRESENCE_BATCH_MAX
        _leave(room, "mallory", i * 1e-6)
        assert len(room.presence.changes) < PRESENCE_BATCH_MAX
        frames += _drain(alice)
    room.flush_presence()
    frames += _drain(alice)
    assert len(frames) == math.ceil(2000 / PRESENCE_BATCH_MAX), "one frame per full batch, no more"
    assert max(len(f["changes"]) for f in frames) == PRESENCE_BATCH_MAX
    assert max(len(json.dumps(f)) for f in frames) < 16 * 1024, "a batch outgrew a small frame"
    assert sum(len(f["changes"]) for f in frames) == 2000, "a change was lost"
    assert _roster([], frames, "alice") == set(), "mallory is still listed after leaving"


def test_malformed_presence_is_skipped_never_raised() -> None:
    roster: dict[str, dict[str, Any]] = {"a": {"id": "a"}}
    hostile: list[Any] = [None, 3, "x", {}, {"type": "participant_joined"}, {"type": "participant_joined",
                          "participant": {"id": 7}}, {"type": "participant_left", "participant": {"id": "a"}},
                          {"type": "mls_commit", "participant": "a"}, {"type": "participant_left", "participant": "me"}]
    assert presence.apply(roster, {"type": "presence", "changes": hostile}, "me") == 0
    assert presence.apply(roster, {"type": "presence", "changes": "not a list"}, "me") == 0
    assert roster == {"a": {"id": "a"}}


# ---------------------------------------------------------------- a real node


async def _connect(url: str, token: str) -> tuple[Any, dict[str, Any]]:
    ws = await websockets.connect(url)
    await ws.send(json.dumps({"type": "join", "token": token}))
    return ws, json.loads(await asyncio.wait_for(ws.recv(), 10))


async def _read_until(ws: Any, done: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not done(out):
            out.append(json.loads(await ws.recv()))
    return out


def test_a_node_tells_a_room_filling_in_a_burst_in_a_few_frames_in_order() -> None:
    joiners = 30

    async def run() -> None:
        async with running_node(SignallingLimits(pending_per_address=64)) as rn:  # all from one address
            first, snap = await _connect(rn.ws_url, rn.token(participant="first"))
            assert snap["protocol"] == 2
            start = time.monotonic()
            socks = await asyncio.gather(*(_connect(rn.ws_url, rn.token(participant=f"p{i}")) for i in range(joiners)))
            flicker, _ = await _connect(rn.ws_url, rn.token(participant="flicker"))  # joins and leaves at once
            await flicker.send(json.dumps({"type": "leave"}))
            want = {f"p{i}" for i in range(joiners)}

            def complete(msgs: list[dict[str, Any]]) -> bool:
                gone = any(c.get("type") == "participant_left" and c.get("participant") == "flicker"
                           for m in msgs if m["type"] == "presence" for c in m["changes"])
                return gone and _roster([], msgs, "first") == want

            msgs = await _read_until(first, complete)
            elapsed = time.monotonic() - start
            frames = _presence_frames(msgs)
            # at most one flush per interval while changes come (plus one per full batch): never one per join
            bound = math.ceil(elapsed / PRESENCE_INTERVAL) + 1 + math.ceil((joiners + 2) / PRESENCE_BATCH_MAX)
            print(f"{joiners + 2} changes in {len(frames)} presence frames over {elapsed:.2f} s (bound {bound})")
            assert len(frames) <= bound
            changes = [c for f in frames for c in f["changes"]]
            about_flicker = [c["type"] for c in changes if c["participant"] in ("flicker", {"id": "flicker",
                             "name": "flicker", "host": False})]
            assert about_flicker == ["participant_joined", "participant_left"], about_flicker
            # a late joiner's snapshot + what follows is the room too
            for ws, joined in socks:
                assert joined["type"] == "joined"
                await ws.close()
            await flicker.close()
            await first.close()

    asyncio.run(run())


def test_an_mls_join_request_never_reaches_a_member_before_the_join_it_follows() -> None:
    async def run() -> None:
        async with running_node() as rn:
            alice, _ = await _connect(rn.ws_url, rn.token(participant="alice"))
            await alice.send(json.dumps({"type": "mls_create"}))
            await _read_until(alice, lambda ms: any(m["type"] == "mls_created" for m in ms))
            carol, _ = await _connect(rn.ws_url, rn.token(participant="carol"))
            await carol.send(json.dumps({"type": "mls_key_package", "data": "AAAA"}))
            msgs = await _read_until(alice, lambda ms: any(m["type"] == "mls_join_request" for m in ms))
            kinds = [m["type"] for m in msgs]
            assert kinds.index("presence") < kinds.index("mls_join_request"), kinds
            assert _roster([], msgs[: kinds.index("mls_join_request")], "alice") == {"carol"}
            await alice.close()
            await carol.close()

    asyncio.run(run())
