"""Compliance recording under "allowed": a host starts and stops the recording and everyone's indicator changes
(sfu/host.py, sfu/recording.py; docs/protocol.md, "Host controls"). Each change is audited before it happens. The
attacks: a participant without the host claim; a host of a meeting whose signed policy is `off` (recording
forbidden) or `required` (it runs for the whole meeting: nobody stops it); an audit log that refuses the record."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from residency.audit import AuditLog
from tests.harness import RunningNode, running_node
from tests.node.app.test_host_controls import _errors, _host, _join, _until_pong

pytestmark = pytest.mark.timeout(60)


def _recording(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in msgs if m["type"] == "recording"]


def _audited(log: AuditLog) -> list[str]:
    return [r.kind for r in log.tenant_records("acme") if r.kind.startswith("host.record")]


def test_the_host_starts_and_stops_recording_and_everyone_sees_it_audited(tmp_path: Path) -> None:
    async def run() -> None:
        async with running_node() as rn:
            log = rn.node.host_controls.audit = AuditLog(tmp_path / "audit.db")
            host, host_id, joined = await _join(rn, "host", recording="allowed", host=True)
            bob, _, _ = await _join(rn, "bob", recording="allowed")
            assert joined["recording"]["active"] is False and joined["recording"]["held"] is False
            await _until_pong(bob, 0)
            # Bob has no host claim: refused, nothing changes, nothing audited
            assert _errors(await _host(bob, "record_start", t=1)) == ["forbidden"]
            assert _audited(log) == []
            await _host(host, "record_start", t=2)
            [seen] = _recording(await _until_pong(bob, 3))
            assert seen["active"] is True and seen["by"] == host_id and seen["policy"] == "allowed"
            carol, _, late = await _join(rn, "carol", recording="allowed")
            assert late["recording"]["active"] is True  # a late joiner's indicator is on too
            await _host(host, "record_stop", t=4)
            [stopped] = _recording(await _until_pong(bob, 5))
            assert stopped["active"] is False
            assert _audited(log) == ["host.record_start", "host.record_stop"]
            for ws in (host, bob, carol):
                await ws.close()

    asyncio.run(run())


def test_no_host_starts_recording_where_it_is_off_or_stops_it_where_it_is_required(tmp_path: Path) -> None:
    async def run() -> None:
        async with running_node() as rn:
            log = rn.node.host_controls.audit = AuditLog(tmp_path / "audit.db")
            off_host, _, _ = await _join(rn, "host", recording="off", host=True, room="quiet")
            assert _errors(await _host(off_host, "record_start", t=1)) == ["recording_not_allowed"]
            req_host, _, joined = await _join(rn, "host2", recording="required", host=True, room="board")
            assert joined["recording"]["active"] is True
            assert _errors(await _host(req_host, "record_stop", t=2)) == ["recording_not_allowed"]
            assert _audited(log) == []
            for ws in (off_host, req_host):
                await ws.close()

    asyncio.run(run())


def test_a_host_action_the_audit_log_cannot_take_changes_nothing(tmp_path: Path) -> None:
    class Refusing:
        def append(self, *a: Any, **k: Any) -> None:
            raise OSError("disk full")

    async def run() -> None:
        async with running_node() as rn:
            rn.node.host_controls.audit = Refusing()  # type: ignore[assignment]
            host, _, _ = await _join(rn, "host", recording="allowed", host=True)
            assert _errors(await _host(host, "record_start", t=1)) == ["audit_unavailable"]
            room = next(iter(rn.node.rooms.values()))
            assert room.recording.started is False
            await host.close()

    asyncio.run(run())


def test_the_rooms_the_node_wants_recorded_follow_record_start_stop_required_and_the_meetings_end() -> None:
    """What the node's agent publishes for the control plane's recorder launcher (sfu/recording.py `wants`): an
    `allowed` room only between the host's record_start and record_stop, a `required` room while anyone is in
    it, with the meeting link its credentials named; a room without a link cannot be recorded."""
    from sfu.recording import wants

    def wanted(rn: RunningNode) -> list[tuple[str, str, str]]:
        return sorted((w["room"], w["link"], w["policy"]) for w in wants(list(rn.node.rooms.values())))

    async def mint_join(rn: RunningNode, name: str, room: str, policy: str, link: str, host: bool = False,
                        role: str = "participant") -> websockets.ClientConnection:
        ws, _, _ = await _join(rn, name, room=room, host=host, recording=policy, link=link, role=role)
        return ws

    async def run() -> None:
        async with running_node() as rn:
            host = await mint_join(rn, "host", "r-allowed", "allowed", "L" * 43, host=True)
            bob = await mint_join(rn, "bob", "r-allowed", "allowed", "L" * 43)
            await mint_join(rn, "x", "r-nolink", "required", "")
            assert wanted(rn) == []
            await _host(host, "record_start", t=1)
            await _until_pong(bob, 2)
            assert wanted(rn) == [("r-allowed", "L" * 43, "allowed")]
            req = await mint_join(rn, "ann", "r-required", "required", "R" * 43)
            assert wanted(rn) == [("r-allowed", "L" * 43, "allowed"), ("r-required", "R" * 43, "required")]
            await _host(host, "record_stop", t=3)
            await _until_pong(bob, 4)
            assert wanted(rn) == [("r-required", "R" * 43, "required")]
            # its recorder joins; then everyone else leaves: a room of recorders only has ended
            rec = await mint_join(rn, "archive", "r-required", "required", "R" * 43, role="recorder")
            assert wanted(rn) == [("r-required", "R" * 43, "required")]
            await req.send(json.dumps({"type": "leave"}))
            await _until_pong(rec, 5)
            left = [p.recorder for r in rn.node.rooms.values() if r.name == "r-required" for p in r.participants.values()]
            assert left == [True], left  # the recorder alone
            assert wanted(rn) == []

    asyncio.run(run())
