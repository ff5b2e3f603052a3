"""The node's WebSocket signalling (docs/protocol.md) through its public face: the node's Starlette app
(create_node_app) driven over ASGI like a browser session - connect, text messages, disconnect - on a real node
with the native engine and a real token verifier. Every message gets an answer or a clear protocol error;
`internal_error` (an exception the handlers did not expect) is a finding, reported with its traceback.
After the session every engine index it took is free again.

Input: a flags byte (bit 0: the fuzzer writes the first message too; otherwise the session starts with a
valid join), then messages separated by 0x1E (UTF-8; invalid bytes become U+FFFD)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sfu.app.signalling import NodeSignalling, create_node_app
from signalling.tokens import KeyRing, TokenIssuer, TokenVerifier
from signalling.tokens.verifying import ReplayCache
from tests.fuzz._node import REGION, FuzzNode

NODE = FuzzNode()
KEYS = KeyRing()
ISSUER = TokenIssuer(KEYS)
VERIFIER = TokenVerifier(KEYS.jwks, NODE.node.config.node_id)
SIGNALLING = NodeSignalling(NODE.node, VERIFIER)
APP = create_node_app(SIGNALLING)
LOOP = asyncio.new_event_loop()
MAX_MESSAGES = 16


class _Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


FAILURES = _Failures()
logging.getLogger("castellan.signalling").addHandler(FAILURES)
logging.getLogger("castellan.signalling").propagate = False


def join_message() -> str:
    token = ISSUER.mint(tenant="t", room="r", participant="ws-user", region=REGION, node=NODE.node.config.node_id)
    return json.dumps({"type": "join", "token": token})


async def _session(messages: list[str]) -> list[dict[str, Any]]:
    incoming: list[MutableMapping[str, Any]] = [{"type": "websocket.connect"}]
    incoming += [{"type": "websocket.receive", "text": m} for m in messages]
    incoming.append({"type": "websocket.disconnect", "code": 1000})
    sent: list[dict[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        await asyncio.sleep(0)  # let the session's writer task run between messages
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "websocket.send":
            sent.append(json.loads(message["text"]))

    scope = {"type": "websocket", "path": "/ws", "raw_path": b"/ws", "root_path": "", "scheme": "ws",
             "query_string": b"", "headers": [(b"host", b"node.test")], "client": ("192.0.2.9", 50000),
             "server": ("node.test", 443), "subprotocols": [], "asgi": {"version": "3.0"}}
    app: Callable[..., Awaitable[None]] = APP
    await app(scope, receive, send)
    for _ in range(3):
        await asyncio.sleep(0)  # the cancelled writer finishes
    return sent


def check(data: bytes) -> None:
    if not data:
        return
    messages = [m.decode("utf-8", "replace") for m in data[1:].split(b"\x1e")][:MAX_MESSAGES]
    if not data[0] & 1:
        messages.insert(0, join_message())
    VERIFIER.replay = ReplayCache()
    FAILURES.records.clear()
    node = NODE.node
    try:
        sent = LOOP.run_until_complete(_session(messages))
    finally:
        for p in [p for p in node.by_id.values() if p is not NODE.publisher]:
            node.leave(p)
        NODE.drain_outboxes()
    if FAILURES.records:
        r = FAILURES.records[0]
        if r.exc_info and r.exc_info[1] is not None:
            raise r.exc_info[1]  # what the handler did not expect, with its traceback
        raise AssertionError(f"the node logged a failure: {r.getMessage()}")
    bad = [m for m in sent if m.get("code") == "internal_error"]
    if bad:
        raise AssertionError(f"internal_error sent: {bad}")
    if NODE.usage() != NODE.baseline:
        raise AssertionError(f"engine indexes leaked: free {NODE.usage()} after, {NODE.baseline} before")


if __name__ == "__main__":
    from tests.fuzz.runner import main

    main("node_ws")
