"""Issue 12, the node as MLS Delivery Service (docs/e2ee.md), over a real node's WebSocket: it orders opaque
handshake blobs (one commit per epoch wins), routes Welcomes only to their joiners, keeps what a late member
needs, resets a group nobody is left in, and refuses malformed, oversized or flooding handshake messages with a
clear error while the session stays open. Participants here are plain WebSockets playing members: the node
never parses MLS, so random base64url is what it must treat exactly like a real blob."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import urllib.request
from typing import Any

import pytest
import websockets

from sfu.app.limits import MAX_MESSAGE, SignallingLimits
from sfu.e2ee.delivery import KEPT_COMMITS
from sfu.e2ee.messages import MAX_KEY_PACKAGE, MAX_WELCOME_PART
from tests.harness import RunningNode, running_node

pytestmark = pytest.mark.timeout(60)


def blob(n: int = 300) -> str:
    return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode()


class Member:
    def __init__(self, ws: websockets.ClientConnection, joined: dict[str, Any]) -> None:
        self.ws = ws
        self.joined = joined
        self.id: str = joined["participant"]
        self._t = 0

    async def send(self, **msg: Any) -> None:
        await self.ws.send(json.dumps(msg))

    async def drain(self) -> list[dict[str, Any]]:
        """Every message that arrives before the answer to a ping sent now (the node answers in order)."""
        self._t += 1
        await self.send(type="ping", t=self._t)
        out = []
        while True:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if m == {"type": "pong", "t": self._t}:
                return out
            out.append(m)

    async def mls(self) -> list[dict[str, Any]]:
        return [m for m in await self.drain() if m["type"].startswith("mls_") or m["type"] == "error"]


async def join(rn: RunningNode, name: str, room: str = "room-1") -> Member:
    ws = await websockets.connect(rn.ws_url, max_size=2 * MAX_MESSAGE)
    await ws.send(json.dumps({"type": "join", "token": rn.token(room=room, participant=name, name=name)}))
    joined = json.loads(await ws.recv())
    assert joined["type"] == "joined", joined
    return Member(ws, joined)


async def creator(rn: RunningNode, name: str = "alice") -> Member:
    a = await join(rn, name)
    assert a.joined["mls"] == {"epoch": None}
    await a.send(type="mls_create")
    assert await a.mls() == [{"type": "mls_created", "epoch": 0}]
    return a


async def add(committer: Member, epoch: int, joiner: Member, others: list[Member]) -> dict[str, Any]:
    """joiner's KeyPackage → committer's commit with a Welcome; returns what the joiner got."""
    await joiner.send(type="mls_key_package", data=blob())
    await committer.drain()
    welcome = blob(2000)
    await committer.send(type="mls_commit", epoch=epoch, commit=blob(), welcome=welcome, joiners=[joiner.id])
    assert await committer.mls() == [{"type": "mls_commit_accepted", "epoch": epoch}]
    got = await joiner.mls()
    assert [m["type"] for m in got] == ["mls_commit", "mls_welcome"], got
    assert got[1]["data"] == welcome
    for o in others:
        await o.drain()
    return got[1]


async def metrics(rn: RunningNode) -> str:
    def get() -> str:
        with urllib.request.urlopen(rn.http_url + "/metrics", timeout=5) as r:  # noqa: S310 - our node, loopback
            return r.read().decode()

    return await asyncio.to_thread(get)


def metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_first_create_wins_and_a_late_joiner_learns_the_epoch():
    async def run() -> None:
        async with running_node() as rn:
            a = await join(rn, "alice")
            b = await join(rn, "bob")
            assert a.joined["mls"] == b.joined["mls"] == {"epoch": None}
            await a.send(type="mls_create")
            await b.send(type="mls_create")  # the race both lose but one
            assert await a.mls() == [{"type": "mls_created", "epoch": 0}]
            assert await b.mls() == [{"type": "mls_commit_rejected", "epoch": 0, "reason": "group_exists"}]
            c = await join(rn, "carol")
            assert c.joined["mls"] == {"epoch": 0}

    asyncio.run(run())


def test_one_commit_per_epoch_wins_and_only_joiners_get_the_welcome():
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            b = await join(rn, "bob")
            await add(a, 0, b, [])
            c = await join(rn, "carol")
            kp = blob()
            await c.send(type="mls_key_package", data=kp)
            for m in (a, b):  # every member hears the request, with the sender the node knows
                assert await m.mls() == [{"type": "mls_join_request", "from": "carol", "data": kp}]
            # both members commit in epoch 1: a's arrives first and wins
            ca, cb, w = blob(), blob(), blob(900)
            await a.send(type="mls_commit", epoch=1, commit=ca, welcome=w, joiners=["carol"])
            assert await a.mls() == [{"type": "mls_commit_accepted", "epoch": 1}]
            await b.send(type="mls_commit", epoch=1, commit=cb, welcome=blob(900), joiners=["carol"])
            got_b = await b.mls()
            assert got_b == [{"type": "mls_commit", "from": "alice", "epoch": 1, "commit": ca},
                             {"type": "mls_commit_rejected", "epoch": 2, "reason": "stale_epoch"}]
            got_c = await c.mls()
            assert got_c == [{"type": "mls_commit", "from": "alice", "epoch": 1, "commit": ca},
                             {"type": "mls_welcome", "from": "alice", "epoch": 1, "data": w}]
            # nobody else saw the Welcome, nor the loser's commit
            assert await a.mls() == []
            # a stale commit from epoch 0 (a replay of an old one) is refused as stale too
            await b.send(type="mls_commit", epoch=0, commit=blob(), joiners=[])
            assert await b.mls() == [{"type": "mls_commit_rejected", "epoch": 2, "reason": "stale_epoch"}]
            assert await a.mls() == [] and await c.mls() == []
            text = await metrics(rn)
            assert metric(text, "castellan_mls_handshake_messages_total", type="mls_commit", verdict="accepted") == 2
            assert metric(text, "castellan_mls_handshake_messages_total", type="mls_commit",
                          verdict="stale_epoch") == 2
            assert metric(text, "castellan_mls_handshake_bytes_total", direction="out", type="all") > 0

    asyncio.run(run())


def test_a_participant_never_added_cannot_move_the_epoch():
    """A participant the node let in but no member added (someone with a join token and no link) sends commits
    at the current epoch: they are refused, so it cannot stall the group by winning every epoch with garbage."""
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            mallory = await join(rn, "mallory")
            await mallory.send(type="mls_commit", epoch=0, commit=blob(), joiners=[])
            assert await mallory.mls() == [{"type": "mls_commit_rejected", "epoch": 0, "reason": "not_member"}]
            assert await a.mls() == []
            await a.send(type="mls_commit", epoch=0, commit=blob(), joiners=[])
            assert await a.mls() == [{"type": "mls_commit_accepted", "epoch": 0}]

    asyncio.run(run())


def test_sync_sends_the_commits_missed_and_resync_when_they_are_gone():
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            b = await join(rn, "bob")
            await add(a, 0, b, [])
            commits = []
            for e in range(1, 4):
                commits.append(blob())
                await a.send(type="mls_commit", epoch=e, commit=commits[-1], joiners=[])
            await a.drain()
            await b.drain()
            await b.send(type="mls_sync", since=2)  # b is at epoch 2: it needs the commits made in 2 and 3
            got = await b.mls()
            assert [(m["epoch"], m["commit"]) for m in got] == [(2, commits[1]), (3, commits[2])]
            for e in range(4, 4 + KEPT_COMMITS):
                await a.send(type="mls_commit", epoch=e, commit=blob(), joiners=[])
            await a.drain()
            await b.drain()
            await b.send(type="mls_sync", since=2)
            assert await b.mls() == [{"type": "mls_resync", "epoch": 4 + KEPT_COMMITS}]
            await b.send(type="mls_sync", since=4 + KEPT_COMMITS - 1)  # still kept
            assert [m["epoch"] for m in await b.mls()] == [4 + KEPT_COMMITS - 1]

    asyncio.run(run())


def test_keypackages_are_kept_for_a_member_that_joins_later():
    """carol asked to join while bob was being added: bob, once welcomed, gets carol's request too (he may be
    the one who commits it if alice goes)."""
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            b = await join(rn, "bob")
            c = await join(rn, "carol")
            kb, kc = blob(), blob()
            await b.send(type="mls_key_package", data=kb)
            await c.send(type="mls_key_package", data=kc)
            await a.drain()
            await b.drain()
            await a.send(type="mls_commit", epoch=0, commit=blob(), welcome=blob(), joiners=["bob"])
            got = await b.mls()
            assert [m["type"] for m in got] == ["mls_commit", "mls_welcome", "mls_join_request"]
            assert got[2] == {"type": "mls_join_request", "from": "carol", "data": kc}
            # a departed participant's KeyPackage is forgotten
            await c.ws.close()
            rn.node.leave(rn.node.by_id["carol"])
            await b.send(type="mls_sync", since=1)
            assert [m["type"] for m in await b.mls()] == []

    asyncio.run(run())


def test_the_group_resets_when_its_last_member_leaves():
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            b = await join(rn, "bob")
            await b.send(type="mls_key_package", data=blob())
            await a.send(type="leave")
            while json.loads(await asyncio.wait_for(a.ws.recv(), 10))["type"] != "left":
                pass
            # bob was never added: nobody can add him now. The node says so: make a new group
            assert await b.mls() == [{"type": "mls_resync", "epoch": None}]
            await b.send(type="mls_create")
            assert await b.mls() == [{"type": "mls_created", "epoch": 0}]
            await b.send(type="leave")
            await asyncio.sleep(0.1)
            c = await join(rn, "carol")  # the room emptied: a new meeting, a new group
            assert c.joined["mls"] == {"epoch": None}

    asyncio.run(run())


def test_a_welcome_too_big_for_one_frame_goes_in_parts_to_the_joiners_only():
    """A 1,000-member Welcome is ~325 Ki characters of base64url: over the 256 KiB frame. The committer sends
    `welcome_parts` and the parts; the joiner receives each part with part/parts; parts of a lost commit are
    dropped."""
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            b = await join(rn, "bob")
            c = await join(rn, "carol")
            welcome = blob(244 * 1024)
            assert len(welcome) > MAX_MESSAGE
            parts = [welcome[i:i + MAX_WELCOME_PART] for i in range(0, len(welcome), MAX_WELCOME_PART)]
            await b.send(type="mls_key_package", data=blob())
            await a.drain()
            await c.drain()
            await a.send(type="mls_commit", epoch=0, commit=blob(), welcome_parts=len(parts), joiners=["bob"])
            for i, p in enumerate(parts):
                await a.send(type="mls_welcome_part", epoch=0, index=i, data=p)
            assert await a.mls() == [{"type": "mls_commit_accepted", "epoch": 0}]
            got = [m for m in await b.mls() if m["type"] == "mls_welcome"]
            assert [(m["part"], m["parts"]) for m in got] == [(i, len(parts)) for i in range(len(parts))]
            assert "".join(m["data"] for m in got) == welcome
            assert [m["type"] for m in await c.mls()] == ["mls_commit"]
            # a part for a commit that lost (or a repeat) goes nowhere
            await a.send(type="mls_welcome_part", epoch=0, index=0, data=parts[0])
            await a.send(type="mls_welcome_part", epoch=7, index=0, data=parts[0])
            assert await a.mls() == [] and await b.mls() == [] and await c.mls() == []
            assert metric(await metrics(rn), "castellan_mls_handshake_messages_total", type="mls_welcome_part",
                          verdict="orphan_part") == 2

    asyncio.run(run())


@pytest.mark.parametrize(("msg", "code"), [
    ({"type": "mls_key_package", "data": "not base64url!"}, "bad_message"),
    ({"type": "mls_key_package", "data": "QUJD="}, "bad_message"),  # padding is not base64url here
    ({"type": "mls_key_package", "data": 12}, "bad_message"),
    ({"type": "mls_key_package"}, "bad_message"),
    ({"type": "mls_key_package", "data": "A" * (MAX_KEY_PACKAGE + 4)}, "mls_too_large"),
    ({"type": "mls_commit", "epoch": True, "commit": "AAAA"}, "bad_message"),
    ({"type": "mls_commit", "epoch": -1, "commit": "AAAA"}, "bad_message"),
    ({"type": "mls_commit", "epoch": 2**53, "commit": "AAAA"}, "bad_message"),
    ({"type": "mls_commit", "epoch": 0.5, "commit": "AAAA"}, "bad_message"),
    ({"type": "mls_commit", "epoch": 0, "commit": "AAAA", "welcome": "AAAA"}, "bad_message"),  # no joiners
    ({"type": "mls_commit", "epoch": 0, "commit": "AAAA", "joiners": "bob"}, "bad_message"),
    ({"type": "mls_commit", "epoch": 0, "commit": "AAAA", "joiners": [{"id": "x"}]}, "bad_message"),
    ({"type": "mls_commit", "epoch": 0, "commit": "AAAA", "joiners": ["b"], "welcome_parts": 33}, "bad_message"),
    ({"type": "mls_welcome_part", "epoch": 0, "index": 32, "data": "AAAA"}, "bad_message"),
    ({"type": "mls_sync", "since": "0"}, "bad_message"),
    ({"type": "mls_key_package", "data": "AAAA", "proof": "not base64url!"}, "bad_message"),
    ({"type": "mls_key_package", "data": "AAAA", "proof": "A" * 68}, "mls_too_large"),
    ({"type": "mls_commit", "epoch": 0, "commit": "AAAA", "group_info": 7}, "bad_message"),
    ({"type": "mls_commit", "epoch": 0, "commit": "AAAA", "group_info": "A" * (16 * 1024 + 4)}, "mls_too_large"),
    ({"type": "mls_epoch"}, "bad_message"),
    ({"type": "mls_welcome", "data": "AAAA"}, "unknown_type"),  # node → client only
])
def test_malformed_handshake_messages_get_a_clear_error_and_the_session_goes_on(msg, code):
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            await a.send(**msg)
            got = await a.mls()
            assert [(m["type"], m["code"]) for m in got] == [("error", code)], got
            await a.send(type="mls_commit", epoch=0, commit=blob(), joiners=[])
            assert await a.mls() == [{"type": "mls_commit_accepted", "epoch": 0}]
            assert metric(await metrics(rn), "castellan_signalling_refusals_total", reason=code) == 1

    asyncio.run(run())


def test_a_handshake_flood_is_rate_limited_per_participant():
    async def run() -> None:
        limits = SignallingLimits()
        async with running_node() as rn:
            a = await creator(rn)
            flooder = await join(rn, "flooder")
            kp = "A" * MAX_KEY_PACKAGE
            # 3 MiB past the burst: a refill (512 KiB/s) cannot cover it even on a slow machine
            n = int(limits.handshake_burst // (MAX_KEY_PACKAGE + limits.handshake_message_cost)) + 200
            for _ in range(n):
                await flooder.send(type="mls_key_package", data=kp)
            got = await flooder.mls()
            refused = [m for m in got if m.get("code") == "rate_limited"]
            relayed = [m for m in await a.mls() if m["type"] == "mls_join_request"]
            assert refused and all(m["retry_after"] > 0 for m in refused)
            assert len(relayed) + len(refused) == n
            assert metric(await metrics(rn), "castellan_mls_handshake_messages_total", type="mls_key_package",
                          verdict="rate_limited") == len(refused)
            # the others' budgets are their own
            await a.send(type="mls_commit", epoch=0, commit=blob(), joiners=[])
            assert await a.mls() == [{"type": "mls_commit_accepted", "epoch": 0}]

    asyncio.run(run())


def test_a_resumed_member_catches_up_with_sync():
    """Bob's socket drops while Alice commits twice; he resumes (the snapshot carries the room's epoch) and his
    `mls_sync` brings exactly the commits he missed."""
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            b = await join(rn, "bob")
            await add(a, 0, b, [])
            secret = b.joined["resume_secret"]
            await b.ws.close()
            await asyncio.sleep(0.2)
            missed = [blob(), blob()]
            for e, c in zip((1, 2), missed, strict=True):
                await a.send(type="mls_commit", epoch=e, commit=c, joiners=[])
            assert [m["type"] for m in await a.mls()] == ["mls_commit_accepted"] * 2
            ws = await websockets.connect(rn.ws_url)
            await ws.send(json.dumps({"type": "resume", "participant": "bob", "secret": secret}))
            joined = json.loads(await ws.recv())
            assert joined["type"] == "joined" and joined["resumed"] and joined["mls"] == {"epoch": 3}
            b2 = Member(ws, joined)
            await b2.send(type="mls_sync", since=1)
            assert [(m["type"], m["epoch"], m["commit"]) for m in await b2.mls()] == [
                ("mls_commit", 1, missed[0]), ("mls_commit", 2, missed[1])]

    asyncio.run(run())


def test_joiners_ask_again_when_the_committer_leaves_before_the_last_part():
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            b = await join(rn, "bob")
            await add(a, 0, b, [])
            c = await join(rn, "carol")
            await c.send(type="mls_key_package", data=blob())
            await a.drain()
            await b.drain()
            await b.send(type="mls_commit", epoch=1, commit=blob(), welcome_parts=2, joiners=["carol"])
            await b.send(type="mls_welcome_part", epoch=1, index=0, data=blob())
            assert await b.mls() == [{"type": "mls_commit_accepted", "epoch": 1}]
            await b.send(type="leave")
            while json.loads(await asyncio.wait_for(b.ws.recv(), 10))["type"] != "left":
                pass
            got = await c.mls()
            assert [m["type"] for m in got] == ["mls_commit", "mls_welcome", "mls_resync"], got
            assert got[-1] == {"type": "mls_resync", "epoch": 2}

    asyncio.run(run())


async def _storm(rn: RunningNode, n: int) -> tuple[Member, Member, list[asyncio.Task[None]]]:
    """Alice (creator) and Bob (a member), then n joiners whose KeyPackages wait (reading their sockets)."""
    a = await creator(rn)
    b = await join(rn, "bob")
    await add(a, 0, b, [])
    readers = []
    for i in range(n):
        j = await join(rn, f"j{i}")
        await j.send(type="mls_key_package", data=blob(), proof=blob(32))

        async def read(ws: websockets.ClientConnection = j.ws) -> None:
            async for _ in ws:
                pass

        readers.append(asyncio.create_task(read()))
    return a, b, readers


async def _commits(a: Member, first: int, last: int) -> None:
    for e in range(first, last):
        await a.send(type="mls_commit", epoch=e, commit=blob(), joiners=[], group_info=f"gi{e + 1}")
    assert [m["type"] for m in await a.mls() if m["type"] != "mls_join_request"] == ["mls_commit_accepted"] * (last - first)


def test_a_sync_in_a_join_storm_fits_the_outbox_and_what_is_held_back_is_counted(monkeypatch):
    """A member's `mls_sync` in a join storm used to bring every waiting KeyPackage at once with the kept commits:
    past the outbox, the socket closed as too slow — and again after every resume. Scaled down here (outbox 40,
    16 replayed): 10 commits + 16 of the 40 waiting KeyPackages arrive, the socket stays, the rest are counted."""
    monkeypatch.setattr("sfu.participant.OUTBOX_SIZE", 40)
    monkeypatch.setattr("sfu.e2ee.delivery.MAX_REPLAYED_REQUESTS", 16)

    async def run() -> None:
        async with running_node() as rn:
            a, b, readers = await _storm(rn, 40)
            await b.drain()
            await _commits(a, 1, 11)
            await b.drain()
            await b.send(type="mls_sync", since=1)
            got = await b.mls()
            assert [m["type"] for m in got] == ["mls_commit"] * 10 + ["mls_join_request"] * 16
            assert [m["from"] for m in got[10:]] == [f"j{i}" for i in range(24, 40)]  # the newest
            assert all("proof" in m for m in got[10:])
            text = await metrics(rn)
            assert metric(text, "castellan_mls_handshake_messages_total", type="mls_join_request", verdict="held_back") == 24
            assert metric(text, "castellan_signalling_refusals_total", reason="too_slow") == 0
            for t in readers:
                t.cancel()

    asyncio.run(run())


def test_an_outbox_overflow_is_counted_and_the_member_recovers_from_the_newest_group_info(monkeypatch):
    """When a member's outbox does overflow, nothing is lost silently: its socket closes as too slow (counted),
    it resumes, and if the commits it missed are gone, `mls_resync` carries the newest GroupInfo a committer
    signed — the evidence the member checks before rejoining (docs/e2ee.md)."""
    monkeypatch.setattr("sfu.participant.OUTBOX_SIZE", 8)
    monkeypatch.setattr("sfu.e2ee.delivery.KEPT_COMMITS", 8)

    async def run() -> None:
        async with running_node() as rn:
            a, b, readers = await _storm(rn, 2)
            await b.drain()
            secret = b.joined["resume_secret"]
            for e in range(1, 11):  # Bob does not read while Alice commits ten times
                await _commits(a, e, e + 1)
            await b.send(type="mls_sync", since=3)  # the 8 kept commits and 2 KeyPackages: more than Bob's outbox holds
            with contextlib.suppress(websockets.ConnectionClosed):  # the node stops writing and closes it
                while True:
                    await asyncio.wait_for(b.ws.recv(), 10)
            assert metric(await metrics(rn), "castellan_signalling_refusals_total", reason="too_slow") == 1
            ws = await websockets.connect(rn.ws_url)
            await ws.send(json.dumps({"type": "resume", "participant": "bob", "secret": secret}))
            joined = json.loads(await ws.recv())
            assert joined["type"] == "joined" and joined["mls"] == {"epoch": 11}
            b2 = Member(ws, joined)
            await b2.send(type="mls_sync", since=1)
            assert [m for m in await b2.mls() if m["type"] == "mls_resync"] == [
                {"type": "mls_resync", "epoch": 11, "group_info": "gi11"}]
            for t in readers:
                t.cancel()

    asyncio.run(run())
