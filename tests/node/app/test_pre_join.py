"""Issue 18, item 3: sockets that have not joined are capped per client address and in total, and closed when
they do not join in time; each refusal is an `error` with a code, then a close code (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from sfu.app.limits import CLOSE_JOIN_TIMEOUT, CLOSE_TRY_AGAIN, SignallingLimits
from sfu.app.pending import address_key
from tests.harness import running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(60)


async def _open(url: str, host: str) -> websockets.ClientConnection:
    return await websockets.connect(url, local_addr=(host, 0))  # every 127.x.y.z address is this machine


async def _refusal(ws: websockets.ClientConnection) -> tuple[str, int | None, str | None]:
    """The error the node sent, then the close code and reason."""
    err = json.loads(await asyncio.wait_for(ws.recv(), 5))
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    return err["code"], ws.close_code, ws.close_reason


def test_sockets_waiting_to_join_are_capped_per_address_and_in_total():
    async def run():
        limits = SignallingLimits(pending_per_address=3, pending_total=5)
        async with running_node(limits=limits) as rn:
            pending = rn.signalling.pending
            held = [await _open(rn.ws_url, "127.0.0.2") for _ in range(3)]
            await wait_for(lambda: pending.total == 3, 5)
            fourth = await _open(rn.ws_url, "127.0.0.2")
            per_address = await _refusal(fourth)
            held += [await _open(rn.ws_url, "127.0.0.3") for _ in range(2)]  # another address still gets in
            await wait_for(lambda: pending.total == 5, 5)
            in_total = await _refusal(await _open(rn.ws_url, "127.0.0.4"))
            # joining frees the slot: the first address may open another socket
            await held[0].send(json.dumps({"type": "join", "token": rn.token()}))
            joined = json.loads(await held[0].recv())
            await wait_for(lambda: pending.total == 4, 5)
            again = await _open(rn.ws_url, "127.0.0.2")
            await again.send(json.dumps({"type": "ping"}))
            not_joined = json.loads(await asyncio.wait_for(again.recv(), 5))
            for ws in [*held, again]:
                await ws.close()
            released = await wait_for(lambda: pending.total == 0 and not pending.by_address, 5)
            return per_address, in_total, joined, not_joined, released, dict(rn.signalling.refusals)

    per_address, in_total, joined, not_joined, released, refusals = asyncio.run(run())
    assert per_address == ("too_many_connections", CLOSE_TRY_AGAIN, "too_many_connections")
    assert in_total == ("node_busy", CLOSE_TRY_AGAIN, "node_busy")
    assert joined["type"] == "joined"
    assert not_joined["code"] == "not_joined"  # admitted: the cap counts sockets waiting, not sockets ever opened
    assert released, "closed sockets kept their pre-join slots"
    assert refusals["too_many_connections"] == 1 and refusals["node_busy"] == 1


def test_a_socket_that_does_not_join_in_time_is_closed():
    async def run():
        async with running_node(limits=SignallingLimits(join_timeout=1.0)) as rn:
            silent = await websockets.connect(rn.ws_url)
            retrying = await websockets.connect(rn.ws_url)
            codes = []
            for _ in range(3):  # refused joins do not extend the deadline
                await retrying.send(json.dumps({"type": "join", "token": "not.a.token"}))
                codes.append(json.loads(await asyncio.wait_for(retrying.recv(), 5))["code"])
            out = [await _refusal(silent), await _refusal(retrying)]
            released = await wait_for(lambda: rn.signalling.pending.total == 0, 5)
            # a socket that joins in time stays open past the deadline
            async with websockets.connect(rn.ws_url) as ws:
                await ws.send(json.dumps({"type": "join", "token": rn.token()}))
                assert json.loads(await ws.recv())["type"] == "joined"
                await asyncio.sleep(1.5)
                await ws.send(json.dumps({"type": "ping", "t": 7}))
                pong = json.loads(await asyncio.wait_for(ws.recv(), 5))
            return codes, out, released, pong

    codes, out, released, pong = asyncio.run(run())
    assert all(c.startswith("token_") for c in codes), codes
    assert out == [("join_timeout", CLOSE_JOIN_TIMEOUT, "join_timeout")] * 2
    assert released
    assert pong == {"type": "pong", "t": 7}


def test_the_per_address_unit_is_an_ipv4_address_or_an_ipv6_64():
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key(None) == "unknown"


def test_behind_a_trusted_proxy_the_cap_is_per_forwarded_client_and_cannot_be_spoofed_directly():
    """Issue 13: browsers reach the node through the deployment's proxy, so every socket comes from the proxy's
    address. The per-address cap applies to the client the trusted proxy names in X-Forwarded-For; a client
    connecting directly cannot escape its own cap by writing the header."""

    async def open_as(url: str, host: str, forwarded: str) -> websockets.ClientConnection:
        return await websockets.connect(url, local_addr=(host, 0), additional_headers={"X-Forwarded-For": forwarded})

    async def run():
        limits = SignallingLimits(pending_per_address=2, pending_total=50)
        async with running_node(limits=limits, trusted_proxies=("127.0.0.2/32",)) as rn:
            pending = rn.signalling.pending
            proxy, direct = "127.0.0.2", "127.0.0.3"
            held = [await open_as(rn.ws_url, proxy, f"198.51.100.{i}") for i in range(6)]  # six clients
            held.append(await open_as(rn.ws_url, proxy, "203.0.113.9, 198.51.100.0"))  # the proxy appended .0
            await wait_for(lambda: pending.total == 7, 5)
            same_client = await _refusal(await open_as(rn.ws_url, proxy, "198.51.100.0"))
            held += [await open_as(rn.ws_url, direct, f"192.0.2.{i}") for i in range(2)]
            await wait_for(lambda: pending.total == 9, 5)
            spoofer = await _refusal(await open_as(rn.ws_url, direct, "192.0.2.77"))
            by_address = dict(pending.by_address)
            for ws in held:
                await ws.close()
            return same_client, spoofer, by_address

    same_client, spoofer, by_address = asyncio.run(run())
    assert same_client[0] == "too_many_connections", "the forwarded client's third socket must be refused"
    assert spoofer[0] == "too_many_connections", "a direct client's own X-Forwarded-For must not count"
    assert by_address["198.51.100.0"] == 2 and by_address["127.0.0.3"] == 2, by_address
    assert "127.0.0.2" not in by_address, "the proxy's own address is not a client"
