"""A tenant admin narrows the allowed regions while a meeting runs (sfu/withdrawal.py): the node whose region is
no longer allowed withdraws the meeting within the published bound — each participant gets `left`
{reason: region_withdrawn} and close 4010 (the client joins again through the control plane), the node records a
`residency.withdrawn` audit record signed with its enrolled key — and a registry that goes away or lies neither
keeps the meeting forwarded past the bound nor ends a meeting the policy still allows.

A real node (build_node: its agent's heartbeat thread, its watch on the event loop) under uvicorn on 127.0.0.1,
with the in-memory registry; the participants are WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.audit import AuditLog, chain_of
from residency.identity import NodeSigner, unb64
from residency.lease import POLICY_BOUND, withdrawal_payload
from residency.model import Node as NodeRecord
from residency.model import Region, TenantView
from residency.registry import MemoryRegistry
from sfu.config import NodeConfig
from sfu.factory import BuiltNode, build_node
from signalling.tokens import KeyRing, TokenIssuer, TokenVerifier
from tests.control.live import serve
from tests.support.ports import UDP, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(90)


class Flaky(MemoryRegistry):
    """The registry as the node reads it: `down` makes tenant-view reads fail (Redis unreachable), `stale` makes
    them answer with an older version than the node already read (a replayed record)."""

    down = False
    stale: TenantView | None = None

    def get_tenant_view(self, tenant_id: str) -> TenantView | None:
        if self.down:
            raise ConnectionError("registry unreachable")
        return self.stale if self.stale is not None else super().get_tenant_view(tenant_id)


@dataclass
class Stack:
    registry: Flaky
    built: BuiltNode
    audit: AuditLog
    key: Ed25519PrivateKey
    issuer: TokenIssuer
    url: str

    def token(self, participant: str, room: str = "board") -> str:
        return self.issuer.mint(tenant="acme", room=room, participant=participant, region="eu-2", node="par")

    def narrow(self, version: int, *regions: str) -> None:
        self.registry.put_tenant_view(TenantView("acme", "EU", frozenset(regions), version))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    registry = Flaky()
    for rid, where in (("eu-1", "Frankfurt, DE"), ("eu-2", "Paris, FR")):
        registry.put_region(Region(rid, "EU", where, rid))
    registry.put_tenant_view(TenantView("acme", "EU", frozenset({"eu-1", "eu-2"}), 1))
    keys = KeyRing()
    port, udp = free_port(), free_port(kind=UDP)
    key = Ed25519PrivateKey.generate()
    audit = AuditLog(tmp_path / "node-audit.db")
    record = NodeRecord(id="par", region="eu-2", public_ip="127.0.0.1", udp_port=udp,
                        ws_url=f"ws://127.0.0.1:{port}/ws", http_url=f"http://127.0.0.1:{port}")
    built = build_node(NodeConfig(node_id="par", region="eu-2", host="127.0.0.1", udp_port=udp),
                       TokenVerifier(keys.jwks, "par"), registry=registry, audit=audit, record=record,
                       signer=NodeSigner(key))
    with serve(built.app, port=port) as url:
        wait_until(lambda: built.agent is not None and built.agent.registered, 10, 0.05)
        yield Stack(registry, built, audit, key, TokenIssuer(keys), url.replace("http", "ws") + "/ws")


async def _join(stack: Stack, participant: str) -> websockets.ClientConnection:
    ws = await websockets.connect(stack.url)
    await ws.send(json.dumps({"type": "join", "token": stack.token(participant)}))
    while json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] != "joined":
        pass
    return ws


async def _until_left(ws: websockets.ClientConnection, timeout: float) -> tuple[dict[str, object], int | None]:
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "left":
                try:
                    await ws.recv()
                except websockets.ConnectionClosed as e:
                    return msg, e.rcvd.code if e.rcvd is not None else None
                raise AssertionError("the socket stayed open after `left`")


def test_a_narrowing_withdraws_the_meeting_within_the_bound_signed_and_told(stack: Stack) -> None:
    async def run() -> tuple[list[tuple[dict[str, object], int | None]], float]:
        a, b = await _join(stack, "a"), await _join(stack, "b")
        stack.narrow(2, "eu-1")  # the admin allows Frankfurt only: this node (Paris) must let the meeting go
        t0 = time.monotonic()
        got = [await _until_left(ws, POLICY_BOUND) for ws in (a, b)]
        return got, time.monotonic() - t0

    got, took = asyncio.run(run())
    print(f"withdrawn {took:.1f} s after the registry held the narrowed policy (bound {POLICY_BOUND:.0f} s)")
    for msg, code in got:
        assert msg["reason"] == "region_withdrawn" and code == 4010
    assert ("acme", "board") not in stack.built.node.rooms and not stack.built.node.by_id
    [record] = [r for r in stack.audit.records(chain_of("acme")) if r.kind == "residency.withdrawn"]
    data = dict(record.data)
    assert data["policy_version"] == 2 and data["participants"] == 2 and data["region"] == "eu-2"
    stack.key.public_key().verify(unb64(str(data["signature"])), withdrawal_payload("acme", data))
    forged = {**data, "participants": 0}
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidSignature: the record cannot be edited
        stack.key.public_key().verify(unb64(str(data["signature"])), withdrawal_payload("acme", forged))


def test_an_unreachable_registry_holds_the_media_after_the_lease_and_ends_no_meeting(stack: Stack) -> None:
    assert stack.built.watch is not None
    stack.built.watch.leases.lease = 2.0  # the test's lease: the same rule, shorter

    async def run() -> tuple[bool, bool, bool]:
        ws = await _join(stack, "a")
        stack.registry.down = True
        room = stack.built.node.rooms[("acme", "board")]
        await asyncio.to_thread(wait_until, lambda: room.residency_held, 10, 0.1)
        held = room.residency_held
        stack.registry.down = False
        await asyncio.to_thread(wait_until, lambda: not room.residency_held, 10, 0.1)
        still_in = "a" in stack.built.node.by_id
        try:
            await asyncio.wait_for(ws.recv(), 0.5)
            told = True
        except TimeoutError:
            told = False
        return held, still_in, told

    held, still_in, told = asyncio.run(run())
    assert held and still_in and not told  # held while unconfirmed, released after; nobody was sent away
    scraped = httpx.get(stack.url.replace("ws", "http", 1).removesuffix("/ws") + "/metrics", timeout=5).text
    assert 'castellan_node_policy_reads_untrusted_total{node="par",reason="unreadable",region="eu-2"}' in scraped
    assert 'castellan_node_policy_held_meetings{node="par",region="eu-2"} 0.0' in scraped
    assert stack.built.watch.counts["withdrawn"] == 0 and stack.built.watch.counts["released"] == 1


def test_a_registry_replaying_an_older_policy_cannot_keep_the_meeting_forwarded(stack: Stack) -> None:
    """The node read version 2; the registry then answers with version 1 only (a replayed record, e.g. a stale
    replica): nothing renews the lease, so the media is held once it runs out — and the meeting is not ended."""
    watch = stack.built.watch
    assert watch is not None
    watch.leases.lease = 2.0  # the test's lease: the same rule, shorter

    async def run() -> tuple[bool, bool]:
        await _join(stack, "a")
        stack.narrow(2, "eu-1", "eu-2")  # a new version, Paris still allowed
        await asyncio.to_thread(wait_until, lambda: watch.leases.judge("acme", time.monotonic()).version == 2, 10,
                                0.1)
        stack.registry.stale = TenantView("acme", "EU", frozenset({"eu-1", "eu-2"}), 1)
        room = stack.built.node.rooms[("acme", "board")]
        await asyncio.to_thread(wait_until, lambda: room.residency_held, 10, 0.1)
        return room.residency_held, "a" in stack.built.node.by_id

    held, still_in = asyncio.run(run())
    assert held and still_in and watch.leases.untrusted.get("rollback", 0) >= 1
