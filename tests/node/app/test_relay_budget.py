"""Issue 18, item 4: chat (and mute) — what the node relays to the whole room — is rate-limited per
participant: a token bucket large enough for a full room's E2EE key rotation; beyond it each message is refused
with `rate_limited` and a `retry_after`, and nobody else receives it."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import websockets

from sfu.app.limits import MAX_CHAT, SignallingLimits
from tests.harness import running_node

pytestmark = pytest.mark.timeout(60)

FLOOD = 60


async def _join(rn, name: str) -> websockets.ClientConnection:
    ws = await websockets.connect(rn.ws_url)
    await ws.send(json.dumps({"type": "join", "token": rn.token(name=name)}))
    assert json.loads(await ws.recv())["type"] == "joined"
    return ws


async def _until_pong(ws: websockets.ClientConnection, t: int) -> list[dict]:
    """Sends a ping; returns every message that arrived before its pong."""
    await ws.send(json.dumps({"type": "ping", "t": t}))
    out = []
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg == {"type": "pong", "t": t}:
            return out
        out.append(msg)


def test_a_chat_flood_is_refused_with_rate_limited_and_not_relayed():
    async def run():
        async with running_node() as rn:
            flooder, other = await _join(rn, "flooder"), await _join(rn, "other")
            while json.loads(await asyncio.wait_for(flooder.recv(), 10))["type"] != "presence":
                pass  # the `presence` batch about the other
            for i in range(FLOOD):
                await flooder.send(json.dumps({"type": "chat", "data": f"{i:04d}" + "x" * (MAX_CHAT - 4)}))
            replies = await _until_pong(flooder, 1)
            relayed = [m for m in await _until_pong(other, 2) if m["type"] == "chat"]
            refused = [m for m in replies if m.get("code") == "rate_limited"]
            await asyncio.sleep(min(5.0, max((m["retry_after"] for m in refused), default=0.0)) + 0.1)
            await flooder.send(json.dumps({"type": "chat", "data": "after the wait"}))
            later = [m for m in await _until_pong(other, 3) if m["type"] == "chat"]
            await flooder.close()
            await other.close()
            metrics = await asyncio.to_thread(_get, rn.http_url + "/metrics")
            return replies, refused, relayed, later, metrics

    replies, refused, relayed, later, metrics = asyncio.run(run())
    limits = SignallingLimits()
    burst = int(limits.relay_burst // (MAX_CHAT + limits.relay_message_cost))
    print(f"{FLOOD} full-size chats: {len(relayed)} relayed, {len(refused)} refused (burst {burst})")
    assert refused, "a flood of chat went through unthrottled"
    assert len(replies) == len(refused), replies[:3]  # nothing else answered
    assert all(m["retry_after"] > 0 for m in refused)
    assert len(relayed) + len(refused) == FLOOD
    assert burst <= len(relayed) < FLOOD
    assert [m["data"][:4] for m in relayed] == [f"{i:04d}" for i in range(len(relayed))]  # the first ones, in order
    assert [m["data"] for m in later] == ["after the wait"]
    counted = [ln for ln in metrics.splitlines()
               if ln.startswith("castellan_signalling_refusals_total{") and 'reason="rate_limited"' in ln]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) == len(refused), counted


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - the test's own node on loopback
        return r.read().decode()
