"""A node records, in the registry, the meetings it carries (docs/architecture.md "Cascading"): the control plane
then sends a hint-less joiner of that meeting to it (no new relay). The entry is written while one of its
participants is connected, dropped at the next heartbeat after the last one leaves and when the node stops, and
would otherwise expire with the node's record."""

from __future__ import annotations

import json
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection, connect

from residency.model import TenantView
from residency.registry import RedisRegistry
from signalling.tokens import KeyRing, TokenIssuer
from tests.control.live import serve
from tests.fixtures.redis import RedisServer
from tests.harness import registered_node
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def test_a_node_records_the_meetings_it_carries_and_drops_them_when_they_leave(
        tmp_path: Path, redis_server: RedisServer) -> None:
    # a long TTL: the entry can only go because the node drops it, not because it expired
    registry = RedisRegistry(redis_server.url, prefix=f"t-{uuid.uuid4().hex[:8]}", node_ttl=30.0)
    registry.put_tenant_view(TenantView("acme", "EU", frozenset({"eu-1"}), 1))
    keys = KeyRing()
    built = registered_node(registry, tmp_path, keys)
    issuer = TokenIssuer(keys)

    def carried(room: str) -> list[str]:
        return registry.meeting_nodes("acme", room)

    def join(sockets: ExitStack, url: str, participant: str) -> ClientConnection:
        ws = sockets.enter_context(connect(url.replace("http", "ws") + "/ws"))
        ws.send(json.dumps({"type": "join", "token": issuer.mint(
            tenant="acme", room="board", participant=participant, region="eu-1", node="n1")}))
        assert json.loads(ws.recv(10))["type"] == "joined"
        return ws

    with ExitStack() as sockets, serve(built.app) as url:
        alice = join(sockets, url, "alice")
        wait_until(lambda: carried("board") == ["n1"], 15, 0.1,
                   message="the node never recorded the meeting it carries")
        assert carried("other") == []
        alice.send(json.dumps({"type": "leave"}))
        alice.close()
        wait_until(lambda: carried("board") == [], 15, 0.1,
                   message="the node kept saying it carries a meeting its last participant left")
        join(sockets, url, "bob")
        wait_until(lambda: carried("board") == ["n1"], 15, 0.1, message="the meeting was not recorded again")
    # the node stopped (serve's exit) with bob still in: its entry is dropped at once, not a TTL later
    assert carried("board") == []
