"""sfu/receipts.py on a real node (native engine, loopback) with real bots: the receipts count what the engine
forwarded, are signed by the node key (verifying as enrolled for its region), come early, then at the end of the
meeting as `final`; a control plane that is down delays them, never loses or reorders them."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency import receipts as rc
from residency.identity import enrolled_key, public_text
from sfu.receipts import ReceiptLedger
from tests.harness import publisher_and_subscriber, running_node
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(90)


def test_a_meeting_gets_signed_receipts_that_count_what_the_engine_forwarded() -> None:
    asyncio.run(_meeting_receipts())


async def _meeting_receipts() -> None:
    key = Ed25519PrivateKey.generate()
    sent: list[dict[str, object]] = []
    up = {"control_plane": False}  # down at first: receipts wait

    def send(doc: dict[str, object]) -> bool:
        if up["control_plane"]:
            sent.append(doc)
        return up["control_plane"]

    async with running_node() as rn:
        region = rn.node.config.region
        ledger = ReceiptLedger(rn.node, key, region, lambda: "EU", send, first_after=0.5, interval=2.0)
        task = asyncio.create_task(ledger.run(period=0.2))
        try:
            pub, sub = await publisher_and_subscriber(rn)
            assert await wait_for(lambda: len(ledger.pending) >= 2, 15), "no interim receipts"
            up["control_plane"] = True
            assert await wait_for(lambda: len(sent) >= 2 and not ledger.pending, 10)
            forwarded = rn.node.stats()["engine"]
            rn.node.end_room("acme", "room-1")  # the meeting ends (as when its link is revoked with end-meeting)
            await pub.close()
            await sub.close()
            assert await wait_for(lambda: sent and sent[-1]["kind"] == "final", 20), "no final receipt"
        finally:
            task.cancel()
    keys = {enrolled_key(region, public_text(key), actor="test", at=0).key_id:
            enrolled_key(region, public_text(key), actor="test", at=0)}
    receipts = [rc.parse(d) for d in sent]
    for r in receipts:
        rc.verify(r, keys, {region: "EU"})  # raises if not
    assert [r.seq for r in receipts] == list(range(1, len(receipts) + 1))
    assert [r.kind for r in receipts[:-1]] == ["interim"] * (len(receipts) - 1)
    final = receipts[-1]
    assert final.meeting == "room-1" and final.tenant == "acme" and final.node == rn.node.config.node_id
    assert final.participants == 2 and final.relays == ()
    assert final.first_packet <= final.last_packet
    packets = [r.packets for r in receipts]
    assert packets == sorted(packets) and packets[0] > 0  # cumulative
    # never more than the engine forwarded in all (the engine's own counter, read before the meeting ended)
    assert 0 < receipts[-2].packets <= forwarded["forwarded_packets"]
    with pytest.raises(rc.ReceiptRejected):  # another region's claim does not verify with this key
        rc.verify(rc.Receipt(**{**final.__dict__, "region": "us-1"}), keys, {region: "EU", "us-1": "US"})


def test_a_long_meeting_keeps_counters_only_for_the_subscriptions_it_has_now() -> None:
    """Issue 18: the ledger kept every subscription's last counters until the meeting ended, so a meeting with
    churn grew by one entry per subscription that ever existed. Before the fix: 2 entries left behind per
    subscriber that came and went (video + audio); after: only the staying subscriber's."""
    asyncio.run(_churning_meeting())


async def _churning_meeting() -> None:
    from loadtests.bots.peer import Bot

    async with running_node() as rn:
        ledger = ReceiptLedger(rn.node, Ed25519PrivateKey.generate(), rn.node.config.region, lambda: "EU",
                               lambda doc: True, first_after=3600.0, interval=3600.0)
        pub, sub = await publisher_and_subscriber(rn)
        try:
            for n in range(3):
                bot = Bot(rn.ws_url, rn.token(name=f"churn-{n}"), f"churn-{n}")
                await bot.connect()
                await bot.negotiate()
                assert await wait_for(lambda: bool(bot.video()) and bot.video()[0].frames > 2, 15), "no media"  # noqa: B023
                ledger.sample()
                await bot.send({"type": "leave"})
                pid = bot.joined["participant"]
                assert await wait_for(lambda: pid not in rn.node.by_id, 10), "the churner did not leave"  # noqa: B023
                await bot.close()
            ledger.sample()
            (meeting,) = ledger.meetings.values()
            now = {(p.id, mid, s.index) for p in rn.node.by_id.values() for mid, s in p.subscriptions.items()}
            assert now and set(meeting.last) == now, f"counters kept for subscriptions gone: {set(meeting.last) - now}"
            assert meeting.participants >= {p.id for p in rn.node.by_id.values()}
            assert len(meeting.participants) == 5 and meeting.packets > 0
        finally:
            await pub.close()
            await sub.close()
