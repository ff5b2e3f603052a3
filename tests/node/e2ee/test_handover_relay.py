"""Issue 15, the recorder's handover through a real node (docs/recording.md "Handing the link secret to the
recorder"): a member's `mls_handover` reaches the recorder it names and nobody else; a recorder's attested
KeyPackage reaches the members with its attestation as sent. Hostile members try to use the relay for anything
else — a handover to a member, to themselves, to someone absent, from a non-member, oversized, a flood — and each is
dropped and counted, or refused with a clear error, while the session goes on. The blobs are random base64url:
the node never opens them."""

from __future__ import annotations

import asyncio

import pytest

from sfu.app.limits import SignallingLimits
from sfu.e2ee.messages import MAX_ATTESTATION, MAX_HANDOVER
from tests.harness import running_node
from tests.node.e2ee.test_delivery import add, blob, creator, join, metric, metrics

pytestmark = pytest.mark.timeout(60)


def handovers(got: list[dict[str, object]]) -> list[dict[str, object]]:
    return [m for m in got if m["type"] == "mls_handover"]


def test_a_handover_reaches_the_recorder_it_names_and_nobody_else():
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            b = await join(rn, "bob")
            await add(a, 0, b, [])
            rec = await join(rn, "rec-1")
            await a.drain()
            await b.drain()
            kp, attestation = blob(), blob(64)
            await rec.send(type="mls_key_package", data=kp, attestation=attestation)
            for m in (a, b):
                got = [x for x in await m.mls() if x["type"] == "mls_join_request"]
                assert got == [{"type": "mls_join_request", "from": "rec-1", "data": kp, "attestation": attestation}]
            sealed = blob(200)
            await a.send(type="mls_handover", to="rec-1", data=sealed)
            assert await rec.mls() == [{"type": "mls_handover", "from": "alice", "data": sealed}]
            assert handovers(await b.drain()) == [] and handovers(await a.drain()) == []
            assert metric(await metrics(rn), "castellan_mls_handshake_messages_total", type="mls_handover",
                          verdict="accepted") == 1

    asyncio.run(run())


def test_a_handover_to_anyone_but_a_waiting_joiner_or_from_a_non_member_is_dropped_and_counted():
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            b = await join(rn, "bob")
            await add(a, 0, b, [])
            rec = await join(rn, "rec-1")
            await rec.send(type="mls_key_package", data=blob(), attestation=blob(64))
            mallory = await join(rn, "mallory")  # present, never added: not a member
            await mallory.send(type="mls_key_package", data=blob())
            for m in (a, b, rec, mallory):
                await m.drain()
            await a.send(type="mls_handover", to="bob", data=blob(200))  # a member: nothing waits for it
            await a.send(type="mls_handover", to="alice", data=blob(200))  # itself
            await a.send(type="mls_handover", to="ghost", data=blob(200))  # nobody present
            await mallory.send(type="mls_handover", to="rec-1", data=blob(200))  # a non-member to the recorder
            for m in (a, b, rec, mallory):
                got = await m.mls()
                assert handovers(got) == [] and [x for x in got if x["type"] == "error"] == [], got
            text = await metrics(rn)
            assert metric(text, "castellan_mls_handshake_messages_total", type="mls_handover", verdict="no_joiner") == 3
            assert metric(text, "castellan_mls_handshake_messages_total", type="mls_handover", verdict="not_member") == 1
            # the relay still works for the one it is for
            await a.send(type="mls_handover", to="rec-1", data="AAAA")
            assert await rec.mls() == [{"type": "mls_handover", "from": "alice", "data": "AAAA"}]

    asyncio.run(run())


@pytest.mark.parametrize("msg,code", [
    ({"type": "mls_handover", "to": "rec-1", "data": "A" * (MAX_HANDOVER + 4)}, "mls_too_large"),
    ({"type": "mls_handover", "to": "rec-1", "data": "not base64url!"}, "bad_message"),
    ({"type": "mls_handover", "to": "rec-1"}, "bad_message"),
    ({"type": "mls_handover", "to": "", "data": "AAAA"}, "bad_message"),
    ({"type": "mls_handover", "to": ["rec-1"], "data": "AAAA"}, "bad_message"),
    ({"type": "mls_handover", "to": "r" * 129, "data": "AAAA"}, "bad_message"),
    ({"type": "mls_key_package", "data": "AAAA", "attestation": "A" * (MAX_ATTESTATION + 4)}, "mls_too_large"),
    ({"type": "mls_key_package", "data": "AAAA", "attestation": 7}, "bad_message"),
])
def test_a_malformed_or_oversized_handover_gets_a_clear_error_and_reaches_nobody(msg, code):
    async def run() -> None:
        async with running_node() as rn:
            a = await creator(rn)
            rec = await join(rn, "rec-1")
            await rec.send(type="mls_key_package", data=blob(), attestation=blob(64))
            await a.drain()
            await a.send(**msg)
            got = await a.mls()
            assert [(m["type"], m["code"]) for m in got] == [("error", code)], got
            assert handovers(await rec.drain()) == []
            assert metric(await metrics(rn), "castellan_signalling_refusals_total", reason=code) == 1

    asyncio.run(run())


def test_a_handover_flood_is_rate_limited_and_counted():
    async def run() -> None:
        # a small budget, so the refusals (each an error message) stay well within the sender's outbox
        limits = SignallingLimits(handshake_rate=8 * 1024, handshake_burst=64 * 1024)
        async with running_node(limits=limits) as rn:
            a = await creator(rn)
            rec = await join(rn, "rec-1")
            await rec.send(type="mls_key_package", data=blob(), attestation=blob(64))
            await a.drain()
            data = "A" * MAX_HANDOVER
            # 300 past the burst: the refill (4 a second) cannot cover it even on a slow machine
            n = int(limits.handshake_burst // (MAX_HANDOVER + limits.handshake_message_cost)) + 300
            for _ in range(n):
                await a.send(type="mls_handover", to="rec-1", data=data)
            refused = [m for m in await a.mls() if m.get("code") == "rate_limited"]
            relayed = handovers(await rec.drain())
            assert refused and all(m["retry_after"] > 0 for m in refused)
            assert len(relayed) + len(refused) == n
            assert metric(await metrics(rn), "castellan_mls_handshake_messages_total", type="mls_handover",
                          verdict="rate_limited") == len(refused)

    asyncio.run(run())
