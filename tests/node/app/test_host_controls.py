"""Issue 16, host controls on the node (sfu/host.py): a host link's holder locks the meeting, asks a participant
to mute, removes one, ends it for all — each audited before it happens. The attacks: a participant without the
host claim tries every action; a removed participant tries to come back with its token and its resume secret; a
host tries to "unmute" someone; malformed host messages; an audit log that refuses the record."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
import websockets

from residency.audit import AuditLog
from tests.harness import RunningNode, running_node

pytestmark = pytest.mark.timeout(60)


def _token(rn: RunningNode, name: str, *, host: bool = False, room: str = "room-1", **claims: str) -> tuple[str, str]:
    """A fresh participant id for `name` and its token for this node (`claims`: recording, link, role, ...)."""
    pid = f"{name}-{secrets.token_hex(3)}"
    return pid, rn.issuer.mint(tenant="acme", room=room, participant=pid, region=rn.node.config.region,
                               node=rn.node.config.node_id, name=name, ttl=60, host=host, **claims)


async def _connect(rn: RunningNode, token: str) -> tuple[websockets.ClientConnection, dict[str, Any]]:
    ws = await websockets.connect(rn.ws_url)
    await ws.send(json.dumps({"type": "join", "token": token}))
    return ws, json.loads(await asyncio.wait_for(ws.recv(), 10))


async def _join(rn: RunningNode, name: str, *, host: bool = False, room: str = "room-1",
                **claims: str) -> tuple[websockets.ClientConnection, str, dict]:
    """Joined (asserted): the socket, the participant id and the `joined` message."""
    pid, token = _token(rn, name, host=host, room=room, **claims)
    ws, first = await _connect(rn, token)
    assert first["type"] == "joined", first
    return ws, pid, first


async def _until_pong(ws: websockets.ClientConnection, t: int) -> list[dict[str, Any]]:
    """Every message that arrives before the answer to a ping (or until the socket closes)."""
    out = []
    with contextlib.suppress(websockets.ConnectionClosed):  # closed: read what it carried before the close
        await ws.send(json.dumps({"type": "ping", "t": t}))
    try:
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg == {"type": "pong", "t": t}:
                return out
            out.append(msg)
    except websockets.ConnectionClosed:  # what came before the close is still returned
        return out


async def _presence_changes(ws: websockets.ClientConnection) -> list[dict[str, Any]]:
    """The changes of the next `presence` batch (it comes within the node's presence interval)."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] == "presence":
            return msg["changes"]


async def _host(ws: websockets.ClientConnection, action: str, participant: str | None = None, t: int = 0) -> list[dict]:
    msg: dict[str, Any] = {"type": "host", "action": action}
    if participant is not None:
        msg["participant"] = participant
    await ws.send(json.dumps(msg))
    return await _until_pong(ws, t)


def _errors(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["code"] for m in msgs if m["type"] == "error"]


def test_a_participant_without_the_host_claim_can_do_nothing(tmp_path: Path) -> None:
    async def run() -> None:
        async with running_node() as rn:
            rn.node.host_controls.audit = AuditLog(tmp_path / "audit.db")
            mallory, _, _ = await _join(rn, "mallory")
            alice, alice_id, _ = await _join(rn, "alice")
            await _until_pong(mallory, 0)
            for i, (action, target) in enumerate([("lock", None), ("mute", alice_id), ("remove", alice_id),
                                                  ("end", None), ("unlock", None)]):
                assert _errors(await _host(mallory, action, target, t=i + 1)) == ["forbidden"], action
            # alice heard nothing of it and is still in; the room is not locked; nothing was audited
            seen = await _until_pong(alice, 99)
            assert not [m for m in seen if m["type"] in ("host_request", "left", "meeting_locked")], seen
            assert alice_id in rn.node.by_id and not rn.node.rooms[("acme", "room-1")].locked
            assert AuditLog(tmp_path / "audit.db").tenant_records("acme") == []
            await mallory.close()
            await alice.close()

    asyncio.run(run())


def test_lock_refuses_new_joiners_but_not_hosts_and_unlock_lets_them_in(tmp_path: Path) -> None:
    async def run() -> None:
        async with running_node() as rn:
            rn.node.host_controls.audit = AuditLog(tmp_path / "audit.db")
            host, host_id, snap = await _join(rn, "hilda", host=True)
            assert snap["host"] is True and snap["locked"] is False
            bob, _, bob_snap = await _join(rn, "bob")
            assert bob_snap["host"] is False
            assert any(p["host"] for p in bob_snap["participants"]), "bob sees who hosts"
            await _until_pong(host, 0)
            await _host(host, "lock", t=1)
            assert {"type": "meeting_locked", "locked": True, "by": host_id} in await _until_pong(bob, 2)
            _, token = _token(rn, "carol")
            carol, refused = await _connect(rn, token)
            assert refused["type"] == "error" and refused["code"] == "meeting_locked", refused
            await carol.close()
            co_host, _, co_snap = await _join(rn, "second-host", host=True)  # a host link's holder still joins
            assert co_snap["locked"] is True
            await _host(host, "unlock", t=3)
            dave, _, _ = await _join(rn, "dave")  # a fresh token after the unlock
            kinds = [r.kind for r in AuditLog(tmp_path / "audit.db").tenant_records("acme")]
            assert kinds == ["host.lock", "host.unlock"], kinds
            for ws in (host, bob, co_host, dave):
                await ws.close()

    asyncio.run(run())


def test_mute_is_a_request_to_the_target_only_and_there_is_no_unmute(tmp_path: Path) -> None:
    async def run() -> None:
        async with running_node() as rn:
            rn.node.host_controls.audit = AuditLog(tmp_path / "audit.db")
            host, host_id, _ = await _join(rn, "hilda", host=True)
            bob, bob_id, _ = await _join(rn, "bob")
            carol, _, _ = await _join(rn, "carol")
            await _until_pong(host, 0)
            await _until_pong(bob, 0)
            await _until_pong(carol, 0)
            assert _errors(await _host(host, "mute", bob_id, t=1)) == []
            assert {"type": "host_request", "action": "mute", "from": host_id} in await _until_pong(bob, 2)
            assert not [m for m in await _until_pong(carol, 3) if m["type"] == "host_request"]
            # no such action as unmute; unknown and own targets; malformed messages: errors, never a crash
            assert _errors(await _host(host, "unmute", bob_id, t=4)) == ["bad_message"]
            assert _errors(await _host(host, "mute", "nobody", t=5)) == ["unknown_participant"]
            assert _errors(await _host(host, "remove", host_id, t=6)) == ["bad_message"]
            for i, bad in enumerate([{"type": "host"}, {"type": "host", "action": "mute"},
                                     {"type": "host", "action": "remove", "participant": 7},
                                     {"type": "host", "action": "mute", "participant": "x" * 200},
                                     {"type": "host", "action": ["end"]}]):
                await host.send(json.dumps(bad))
                assert _errors(await _until_pong(host, 10 + i)) == ["bad_message"], bad
            assert not [m for m in await _until_pong(bob, 30) if m["type"] == "host_request"]
            records = AuditLog(tmp_path / "audit.db").tenant_records("acme")
            assert [(r.kind, r.actor, r.data.get("participant")) for r in records] == [
                ("host.mute", f"host:{host_id}", bob_id)]
            for ws in (host, bob, carol):
                await ws.close()

    asyncio.run(run())


def test_remove_takes_the_participant_out_for_good_and_end_ends_it_for_all(tmp_path: Path) -> None:
    async def run() -> None:
        async with running_node() as rn:
            log = AuditLog(tmp_path / "audit.db")
            rn.node.host_controls.audit = log
            host, host_id, _ = await _join(rn, "hilda", host=True)
            bob_id, bob_token = _token(rn, "bob")
            bob, bob_snap = await _connect(rn, bob_token)
            carol, carol_id, _ = await _join(rn, "carol")
            await _until_pong(host, 0)
            await _until_pong(carol, 0)
            await _host(host, "remove", bob_id, t=1)
            assert {"type": "left", "reason": "removed_by_host"} in await _until_pong(bob, 2)
            # the others hear of it in the next presence batch (docs/protocol.md, protocol 2)
            assert {"type": "participant_left", "participant": bob_id, "reason": "removed_by_host"} in \
                await _presence_changes(carol)
            # the removed participant cannot come back with what it holds: its token (single use) or its session
            again, refused = await _connect(rn, bob_token)
            assert refused.get("code") == "token_replayed", refused
            await again.send(json.dumps({"type": "resume", "participant": bob_id, "secret": bob_snap["resume_secret"]}))
            assert json.loads(await asyncio.wait_for(again.recv(), 10)).get("code") == "resume_refused"
            await again.close()
            await _host(host, "end", t=4)
            assert {"type": "left", "reason": "ended_by_host"} in await _until_pong(carol, 5)
            assert ("acme", "room-1") not in rn.node.rooms
            records = log.tenant_records("acme")
            assert [(r.kind, r.data.get("participant")) for r in records] == [("host.remove", bob_id),
                                                                              ("host.end", None)]
            assert log.verify_stored("tenant:acme") == 2
            for ws in (host, bob, carol):
                await ws.close()

    asyncio.run(run())


class _RefusingLog:
    def append(self, *a: Any, **k: Any) -> object:
        raise OSError("disk full")


def test_an_action_the_audit_log_refuses_is_not_done() -> None:
    async def run() -> None:
        async with running_node() as rn:
            rn.node.host_controls.audit = _RefusingLog()
            host, _, _ = await _join(rn, "hilda", host=True)
            bob, bob_id, _ = await _join(rn, "bob")
            await _until_pong(host, 0)
            assert _errors(await _host(host, "remove", bob_id, t=1)) == ["audit_unavailable"]
            assert _errors(await _host(host, "lock", t=2)) == ["audit_unavailable"]
            assert bob_id in rn.node.by_id and not rn.node.rooms[("acme", "room-1")].locked
            await host.close()
            await bob.close()

    asyncio.run(run())
