"""What everyone's recording indicator shows is the node's `state` (sfu/recording.py; docs/protocol.md, `recording`):
`off`, `starting` (recording is on, no recorder in yet), `live` (a recorder credential of THIS room is in and
receives the room's tracks), `refused` (the control plane placed no recorder in an allowed region: read from the
registry by the node's agent, with the reason for the host). Driven by what happens, never by a client: a forged
`recording` message is refused and changes nothing; a recorder credential of another room changes nothing here.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from recording.launch import REFUSALS, job_key
from residency.audit import AuditLog
from residency.enforcement import NodeGuard
from residency.model import Node as NodeRecord
from residency.registry import MemoryRegistry
from sfu.agent import NodeAgent
from sfu.recording import wants
from tests.harness import RunningNode, running_node
from tests.node.app.test_host_controls import _errors, _host, _until_pong
from tests.node.app.test_host_controls import _join as join

pytestmark = pytest.mark.timeout(60)

LINK = "L" * 43


async def _join(rn: RunningNode, name: str, *, policy: str, room: str = "room-1", host: bool = False,
                role: str = "participant") -> tuple[websockets.ClientConnection, dict[str, Any]]:
    ws, _, first = await join(rn, name, host=host, room=room, recording=policy, link=LINK, role=role)
    return ws, first


def _states(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["state"] for m in msgs if m["type"] == "recording"]


def _room_state(rn: RunningNode, room: str = "room-1") -> str:
    [r] = [r for r in rn.node.rooms.values() if r.name == room]
    return r.recording.state


def test_starting_until_this_rooms_recorder_is_in_then_live_and_back(tmp_path: Path) -> None:
    async def run() -> None:
        async with running_node() as rn:
            rn.node.host_controls.audit = AuditLog(tmp_path / "audit.db")
            host, joined = await _join(rn, "host", policy="allowed", host=True)
            bob, _ = await _join(rn, "bob", policy="allowed")
            assert joined["recording"]["state"] == "off"
            await _until_pong(bob, 0)
            await _host(host, "record_start", t=1)
            assert _states(await _until_pong(bob, 2)) == ["starting"]  # the host's Start is not "● REC" yet
            # a recorder credential of another room (same tenant, same link text) makes nothing live here
            other, _ = await _join(rn, "archive", policy="allowed", room="room-2", role="recorder")
            assert _states(await _until_pong(bob, 3)) == [] and _room_state(rn) == "starting"
            # this room's recorder: live (no track is published here, so it receives all there is)
            rec, _ = await _join(rn, "archive", policy="allowed", role="recorder")
            assert _states(await _until_pong(bob, 4)) == ["live"]
            await rec.send(json.dumps({"type": "leave"}))
            assert _states(await _until_pong(bob, 5)) == ["starting"]  # it left: recording is not live
            [first] = wants(list(rn.node.rooms.values()))
            await _host(host, "record_stop", t=6)
            assert _states(await _until_pong(bob, 7)) == ["off"]
            # a new start is a new session: the control plane makes it a new recording (docs/recording.md)
            await _host(host, "record_start", t=8)
            await _until_pong(bob, 9)
            [second] = wants(list(rn.node.rooms.values()))
            assert first["session"] and second["session"] and first["session"] != second["session"]
            await other.close()
    asyncio.run(run())


def test_a_forged_recording_message_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async def run() -> None:
        async with running_node() as rn:
            rn.node.host_controls.audit = AuditLog(tmp_path / "audit.db")
            host, _ = await _join(rn, "host", policy="allowed", host=True)
            mallory, _ = await _join(rn, "mallory", policy="allowed")
            await _host(host, "record_start", t=1)
            await _until_pong(mallory, 2)
            before = _room_state(rn)
            for forged in ({"type": "recording", "state": "live", "active": True, "recorders": ["mallory"]},
                           {"type": "recording_state", "state": "live"}):
                await mallory.send(json.dumps(forged))
                assert _errors(await _until_pong(mallory, 3)) == ["unknown_type"]
            # nor a host action of that name, even from the host
            assert _errors(await _host(host, "record_live", t=4)) != []
            assert _states(await _until_pong(host, 5)) == []  # nobody was told anything
            assert _room_state(rn) == before == "starting"
    asyncio.run(run())


def test_a_refusal_from_placement_reaches_everyone_with_its_reason_until_a_recorder_is_in(tmp_path: Path) -> None:
    async def run() -> None:
        async with running_node() as rn:
            registry = MemoryRegistry()
            guard = NodeGuard(rn.node.config.node_id, "eu-test", registry, AuditLog(tmp_path / "audit.db"))
            record = NodeRecord(id=rn.node.config.node_id, region="eu-test", public_ip="127.0.0.1", udp_port=0,
                                ws_url=rn.ws_url, http_url=rn.http_url)
            agent = NodeAgent(rn.node, guard, record)
            agent.loop = asyncio.get_running_loop()
            ann, joined = await _join(rn, "ann", policy="required")
            bob, _ = await _join(rn, "bob", policy="required")
            assert joined["recording"]["state"] == "starting"  # required: on from the first join
            message = "Recording cannot start: no recorder is available in a region this organisation allows."
            # the control plane's refusal for another room or tenant is not this room's
            registry.put_doc(REFUSALS, job_key("globex", "room-1"), {"tenant": "globex", "room": "room-1",
                                                                     "code": "x", "message": "not yours"})
            await asyncio.to_thread(agent.read_refusals, wants(list(rn.node.rooms.values())))
            assert _states(await _until_pong(ann, 1)) == []
            registry.put_doc(REFUSALS, job_key("acme", "room-1"), {
                "tenant": "acme", "room": "room-1", "code": "no_recorder_in_allowed_regions", "message": message})
            await asyncio.to_thread(agent.read_refusals, wants(list(rn.node.rooms.values())))
            [told] = [m for m in await _until_pong(ann, 2) if m["type"] == "recording"]
            assert told["state"] == "refused" and told["reason"] == "no_recorder_in_allowed_regions"
            assert told["message"] == message
            assert _states(await _until_pong(bob, 3)) == ["refused"]
            # read again at the next heartbeat: said once
            await asyncio.to_thread(agent.read_refusals, wants(list(rn.node.rooms.values())))
            assert _states(await _until_pong(ann, 4)) == []
            _, late = await _join(rn, "carol", policy="required")
            assert late["recording"]["state"] == "refused"  # a late joiner sees it too
            await _join(rn, "archive", policy="required", role="recorder")
            assert _states(await _until_pong(ann, 5)) == ["live"]
    asyncio.run(run())
