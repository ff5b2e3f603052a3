"""A relay link's `close` (sfu/cascade/link.py, relays.py, meeting.py): two nodes built by the factory under uvicorn
on loopback, enrolled keys, the real handshake. When the far node's last participant leaves, it closes its side
and says so on the sealed channel: the home closes its side at once (not when a later message of its own is
refused). A path attacker's `close` (made-up keys) is refused and the link stays; the genuine `close` replayed
against the next link (fresh keys) is refused too. A far node that stops, its participant still in the
meeting, closes its link on the way out and says so: the home closes its side on that `close`."""

from __future__ import annotations

import asyncio
import contextlib
import os

import httpx
import pytest

from residency.relay import RelayChannel
from sfu.cascade.routes import messages_path
from signalling.tokens.claims import JoinClaims
from tests.harness import wait_for
from tests.node.cascade.nodes import relayed_nodes

pytest.importorskip("native.engine")
pytestmark = pytest.mark.timeout(90)

NODES = (("eu-1-a", "eu-1"), ("eu-2-a", "eu-2"))
KEY = ("eurocorp", "board")


def test_the_far_node_closing_its_side_closes_the_homes_at_once_and_no_one_else_can() -> None:
    asyncio.run(_run())


async def _run() -> None:
    async with contextlib.AsyncExitStack() as stack, contextlib.AsyncExitStack() as far_stack:
        nodes = await relayed_nodes(stack, NODES, home=lambda tenant, room: "eu-1-a", stacks={"eu-2-a": far_stack})
        a, b = nodes["eu-1-a"], nodes["eu-2-a"]
        assert a.relays is not None and b.relays is not None
        claims = JoinClaims(tenant=KEY[0], room=KEY[1], participant="bob", region="eu-2", node="eu-2-a")
        bob = b.node.join(claims)
        assert await wait_for(lambda: "eu-2-a" in a.relays.links and "eu-1-a" in b.relays.links, 20), (
            dict(a.relays.refused), dict(b.relays.refused))
        link = a.relays.links["eu-2-a"]

        async with httpx.AsyncClient() as client:
            async def post(sealed: str) -> httpx.Response:
                return await client.post(a.http_url + messages_path("eu-2-a"), json={"messages": [sealed]})

            # a path attacker's close, in eu-2-a's name: refused, the link stays on both sides
            r = await post(RelayChannel(os.urandom(32), os.urandom(32)).seal({"type": "close"}))
            assert r.status_code == 403 and r.json()["error"] == "relay_message_forged"
            assert a.relays.links.get("eu-2-a") is link and "eu-1-a" in b.relays.links

            # what eu-2-a seals from now on, as a path attacker would capture it
            captured: list[str] = []
            far = b.relays.links["eu-1-a"]
            farewell = far.farewell
            far.farewell = lambda: (captured.append(farewell()), captured[-1])[1]  # type: ignore[method-assign]

            # bob leaves: eu-2-a closes its side and says so; the home closes its own on that message
            b.node.leave(bob)
            assert await wait_for(lambda: "eu-2-a" not in a.relays.links, 10), dict(a.relays.refused)
            assert a.relays.closed_by_peer["eu-2-a"] == 1 and len(captured) == 1
            assert not b.relays.links and not a.relays.refused["relay_no_link"]

            # bob back: a new link (fresh keys); the old close replayed at it is refused, the link stays
            b.node.join(claims)
            assert await wait_for(lambda: "eu-2-a" in a.relays.links and "eu-1-a" in b.relays.links, 20)
            again = a.relays.links["eu-2-a"]
            r = await post(captured[0])
            assert r.status_code == 403 and r.json()["error"] == "relay_message_forged"
            await asyncio.sleep(0.6)  # a cascade pass on each side
            assert a.relays.links.get("eu-2-a") is again and a.relays.closed_by_peer["eu-2-a"] == 1

        # eu-2-a stops with bob still in the meeting: it closes its link and says so on the way out; the home
        # closes its side on that `close`, not when its own next message is refused
        await far_stack.aclose()
        assert a.relays.closed_by_peer["eu-2-a"] == 2 and "eu-2-a" not in a.relays.links, dict(a.relays.refused)
        assert not a.relays.refused["relay_no_link"]
