"""A captured ICE check replayed from elsewhere must not take a participant's media path (issue 18).

Attacker: someone who can read a participant's packets (same Wi-Fi, a hop on the way) copies one of its valid
Binding requests — MESSAGE-INTEGRITY and all — and sends it to the node from an address of their own. Before,
the node moved the media there at once when the copy carried USE-CANDIDATE, and after 2 s of quiet otherwise:
the subscriber lost its media and the copier got the stream (encrypted, but a denial of service and a traffic
oracle). Now each participant's valid transaction ids are remembered for the consent window: a known one from
another address is a counted drop (`stun_replayed`), unanswered; a genuine move (NAT rebinding, ICE restart)
comes with a fresh transaction and still moves the media.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aioice import stun

from sfu.transport.connectivity import REBIND_AFTER
from sfu.transport.ice import IceCredentials, IceLite
from tests.harness import publisher_and_subscriber, running_node
from tests.support.stun import binding_request

pytestmark = pytest.mark.timeout(120)

A, B = ("127.0.0.1", 40001), ("127.0.0.1", 40002)


def lite() -> tuple[IceLite[str], IceCredentials[str]]:
    ice: IceLite[str] = IceLite(replay_window=30.0, max_remembered=8)
    return ice, ice.register("abcd", "p" * 24, "alice")


def test_a_valid_check_is_fresh_once_then_a_retransmission_from_its_address_or_a_replay_from_another() -> None:
    ice, _ = lite()
    check = binding_request("abcd", "p" * 24)
    first = ice.handle(check, A, now=100.0)
    assert first.fresh and first.owner == "alice" and first.nominated and first.response is not None
    again = ice.handle(check, A, now=100.5)           # RFC 8489 retransmission: answered the same, not fresh
    assert not again.fresh and again.owner == "alice" and again.drop_reason is None
    assert stun.parse_message(again.response).attributes["XOR-MAPPED-ADDRESS"] == A
    copied = ice.handle(check, B, now=101.0)          # the same transaction from elsewhere: a replay
    assert (copied.fresh, copied.owner, copied.response, copied.drop_reason) == (False, None, None, "stun_replayed")
    fresh_from_b = ice.handle(binding_request("abcd", "p" * 24), B, now=101.0)
    assert fresh_from_b.fresh and fresh_from_b.owner == "alice"


def test_transaction_ids_are_kept_for_the_window_and_bounded_in_number() -> None:
    ice, creds = lite()
    check = binding_request("abcd", "p" * 24)
    ice.handle(check, A, now=100.0)
    assert ice.handle(check, B, now=129.9).drop_reason == "stun_replayed"   # within the 30 s consent window
    for i in range(50):                               # a chatty client: memory stays bounded
        assert ice.handle(binding_request("abcd", "p" * 24), A, now=130.0 + i / 100).fresh
    assert len(creds.seen) == 8
    ice.handle(binding_request("abcd", "p" * 24), A, now=1000.0)
    assert len(creds.seen) == 1                       # the old ones expired


def test_a_check_that_fails_integrity_is_not_remembered() -> None:
    """Only authenticated requests are remembered: a stranger cannot fill the memory or pre-empt an id."""
    ice, creds = lite()
    forged = binding_request("abcd", "p" * 24, integrity_key="x" * 24)
    assert ice.handle(forged, B, now=1.0).drop_reason == "stun_integrity"
    assert not creds.seen


async def _recv(sock: socket.socket, timeout: float) -> bytes | None:
    try:
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 2048), timeout)
    except TimeoutError:
        return None


async def _rtp_count(sock: socket.socket, seconds: float) -> int:
    n = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        d = await _recv(sock, 0.2)
        if d and 128 <= d[0] <= 191:
            n += 1
    return n


def test_a_replayed_check_from_another_address_does_not_move_the_media_but_a_fresh_one_does() -> None:
    async def run() -> dict[str, Any]:
        async with running_node() as rn:
            node = rn.node
            captured: list[tuple[bytes, tuple[str, int]]] = []
            real_on_stun = node.connectivity.on_stun

            def tap(data: bytes, addr: tuple[str, int]) -> None:   # what the node's port received, as received
                captured.append((data, addr))
                real_on_stun(data, addr)

            node.connectivity.on_stun = tap  # type: ignore[method-assign]
            pub, sub = await publisher_and_subscriber(rn)
            p = node.by_id[sub.joined["participant"]]
            home = p.media_address
            # the subscriber bot's (aiortc's) own checks, USE-CANDIDATE ones and plain ones, from its address
            own = [(stun.parse_message(d), d) for d, a in captured if a == home]
            own = [(m, d) for m, d in own if m.attributes.get("USERNAME", "").startswith(p.ice_ufrag + ":")]
            nominating = [d for m, d in own if "USE-CANDIDATE" in m.attributes]
            plain = [d for m, d in own if "USE-CANDIDATE" not in m.attributes]
            assert own, "no Binding request of the subscriber was captured"
            attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            attacker.bind(("127.0.0.1", 0))
            attacker.setblocking(False)
            node_addr = ("127.0.0.1", node.config.udp_port)
            out: dict[str, Any] = {"home": home, "attacker": attacker.getsockname(), "kinds": (len(nominating), len(plain))}
            # 1. replay each captured check at once (USE-CANDIDATE used to move the path immediately)
            for d in nominating + plain:
                attacker.sendto(d, node_addr)
            out["answer"] = await _recv(attacker, 0.5)
            out["after_replay"] = p.media_address
            # 2. again once the home path has been quiet longer than REBIND_AFTER (it used to move then too)
            p.address_seen -= REBIND_AFTER + 1
            for d in nominating + plain:
                attacker.sendto(d, node_addr)
            await asyncio.sleep(0.3)
            out["after_quiet_replay"] = p.media_address
            out["attacker_rtp"] = await _rtp_count(attacker, 1.0)
            frames = sub.video()[0].frames
            await asyncio.sleep(1.0)
            out["sub_frames_meanwhile"] = sub.video()[0].frames - frames
            out["replayed"] = node.control_drops["stun_replayed"]
            # 3. a genuine move: a fresh check with the participant's credentials from the new address
            attacker.sendto(binding_request(p.ice_ufrag, p.ice_pwd), node_addr)
            out["fresh_answer"] = await _recv(attacker, 1.0)
            out["after_fresh"] = p.media_address
            out["moved_rtp"] = await _rtp_count(attacker, 1.0)
            attacker.close()
            await sub.close()
            await pub.close()
            return out

    out = asyncio.run(run())
    assert out["kinds"][0] >= 1, "the bot sent no nominating check to replay"
    assert out["after_replay"] == out["home"], "a replayed USE-CANDIDATE check moved the media"
    assert out["answer"] is None, "a replayed check was answered (a reflection to the copier)"
    assert out["after_quiet_replay"] == out["home"], "a replayed check moved the media after a quiet spell"
    assert out["attacker_rtp"] == 0
    assert out["sub_frames_meanwhile"] > 5, "the subscriber's video stopped"
    assert out["replayed"] >= 2 * sum(out["kinds"])
    ok = stun.parse_message(out["fresh_answer"])
    assert ok.message_class == stun.Class.RESPONSE
    assert out["after_fresh"] == out["attacker"] != out["home"]
    assert out["moved_rtp"] > 20, "media did not follow a fresh check to the new address"
